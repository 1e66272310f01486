//! tt-ha: enable, roll back and monitor a TapeTrack Framework Server High Availability replicant.
//!
//! The library is the engine; it never touches the terminal. The front-ends, the CLI (`cli`)
//! and the terminal app (`tui`), render what it returns.

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
pub mod startup;
pub mod textdiff;
pub mod tui;
