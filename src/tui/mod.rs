//! The terminal front-end: the setup wizard, the guided rollback and the live monitor.
//!
//! [`app::App`] holds the state and turns messages ([`messages`]) into state changes; a key or
//! the mouse becomes an [`keymap::Action`] through [`keymap`] (the bindings as data: key,
//! meaning, action) and the app applies it; [`view`] draws the state and only reads it;
//! [`worker`] and [`live`] run the engine and the file followers on tokio blocking tasks that
//! report through a channel; [`runtime`] owns the terminal and the loop. Nothing here
//! re-implements a step: the wizard drives `engine::apply` and `engine::rollback`, the panes
//! use the monitor's follower and classifier, the first-run form edits a
//! [`crate::site_setup::SiteDraft`] that the core finds and writes.
//!
//! **One way only.** Each module sits in a layer and uses only modules of lower layers (checked
//! by `tests/tui_layers.rs`):
//!
//! | layer | modules | what |
//! |---|---|---|
//! | 0 | `paste` | what a paste may put into a one-line input |
//! | 1 | `screen`, `theme`, `frames`, `pane`, `setup` | small facts and state pieces |
//! | 2 | `layout`, `live` | where things go; following the files |
//! | 3 | `keymap`, `messages` | keys and mouse → actions; what flows in and out |
//! | 4 | `app`, `worker` | the state and its updates; the background work |
//! | 5 | `view` | drawing: reads the app, the layout and the key texts |
//! | 6 | `runtime` | the terminal and the loop |
//!
//! So the keys never reach into the view, the app never calls the keys' handler or the view,
//! and the view never imports what handles keys.

pub mod app;
pub mod frames;
pub mod keymap;
pub mod layout;
pub mod live;
pub mod messages;
pub mod pane;
pub mod paste;
pub mod runtime;
pub mod screen;
pub mod setup;
pub mod theme;
pub mod view;
pub mod worker;

pub use runtime::{monitor, wizard};
