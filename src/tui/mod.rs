//! The terminal front-end: the setup wizard, the guided rollback and the live monitor.
//!
//! [`app::App`] holds the state and turns messages ([`messages`]) into state changes; [`view`] draws it;
//! [`keys`] maps keys to actions; [`worker`] and [`live`] run the engine and the file followers
//! on tokio blocking tasks that report through a channel; [`runtime`] owns the terminal and the
//! loop. Nothing here re-implements a step: the wizard drives `engine::apply` and
//! `engine::rollback`, the panes use the monitor's follower and classifier.

pub mod app;
pub mod frames;
pub mod keys;
pub mod live;
pub mod messages;
pub mod pane;
pub mod runtime;
pub mod setup;
pub mod theme;
pub mod view;
pub mod worker;

pub use runtime::{monitor, wizard};
