//! tt-ha: enable, roll back and monitor a TapeTrack Framework Server High Availability replicant.
//!
//! The library is the engine; it never touches the terminal. The front-ends, the CLI (`cli`)
//! and the terminal app (`tui`), live in their own modules and render what it returns; what
//! they need found or written (the first run's discovery and `tt-ha.toml`: `site_setup`) is
//! a core function they call. The TUI imports one way — keys become actions the app applies,
//! the view only reads the app — as the layer table in `tui`'s documentation says.

pub mod agent;
pub mod atomic;
pub mod backup;
pub mod cli;
pub mod config;
pub mod dbconfig;
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
pub mod textdiff;
pub mod tui;
