//! tt-ha: enable, roll back and monitor a TapeTrack Framework Server High Availability replicant.
//!
//! The library is the engine; it never touches the terminal. The front-ends, the CLI (`cli`)
//! and the terminal app (`tui`), live in their own modules and render what it returns; what
//! they need found or written (the first run's discovery and `tt-ha.toml`: `site_setup`) is
//! a core function they call. The TUI imports one way — keys become actions the app applies,
//! the view only reads the app — as the layer table in `tui`'s documentation says.
//!
//! Where a newcomer finds things:
//! - **A step of the procedure**: `steps/<step>.rs` (`steps::master_regions` for
//!   `master.regions`): its definition and why, its plan, its run, the check after it, and the
//!   rollback actions that undo it. The order is `procedure::STEPS`; the runner is `engine`.
//! - **The node interface**: `node` — `NodeAccess` is every effect on a node (files, service,
//!   processes, ports, locks, backup); `LocalNode` is this machine; `node::Pair` the two nodes a
//!   run acts on. Nothing outside the node implementations touches a node directly
//!   (`tests/node_rule.rs` reads the source to check).
//! - **The front-ends**: `cli` (commands, `--json`) and `tui` (the wizard and the monitor);
//!   both drive `engine`, `plan` and `monitor` and render their typed results.

pub mod agent;
pub mod atomic;
pub mod backup;
pub mod cli;
pub mod config;
pub mod dbconfig;
pub mod dbhead;
pub mod dbhome;
pub mod demo;
pub mod display;
pub mod engine;
pub mod fsinfo;
pub mod identity;
pub mod journal;
pub mod monitor;
pub mod node;
pub mod nodeview;
pub mod openfiles;
pub mod pathjson;
pub mod plan;
pub mod preflight;
pub mod probe;
pub mod procedure;
pub mod quarantine;
pub mod runlock;
pub mod runs;
pub mod service;
pub mod site_setup;
pub mod startup;
pub mod steps;
pub mod textdiff;
pub mod tui;
pub mod verify;
