//! Record-level proof that a replicant holds its master's data: `tt-ha verify`.
//!
//! The message files prove that replication runs; they do not prove that the replicant's
//! records equal the master's. This module compares them the way TapeTrack's own
//! synchronisation program reads records: it reads each record of a source (the master, or an
//! export described by a definition file) in order and establishes its fields; on the first
//! record and whenever the Customer/Media scope changes, it loads all Volumes of that scope
//! from the other side into a cache; it compares; at the end it gives statistics. It never
//! writes to either server.
//!
//! - [`record`]: a Volume, its scope and compared fields.
//! - [`ttfs`]: the server's client protocol (read-only requests).
//! - [`definition`]: the definition-file subset (`.ttidef`), parsed with errors naming the line.
//! - [`defsource`]: records from a definition file's data (a file, or a command's output).
//! - [`cache`]: the scope cache and the revisit bookkeeping that keeps extras exact.
//! - [`compare`]: the run: source, cache, differences, statistics, progress, interruption.
//! - [`stats`]: what a run found, in numbers.
//! - [`live`]: whether replication runs between the pair, and the re-check of a difference
//!   once the replicant has caught up.
//! - [`wake`]: reads that wake to look at the stop flag and at a silent server.

pub mod cache;
pub mod compare;
pub mod definition;
pub mod defsource;
pub mod live;
pub mod record;
pub mod session;
pub mod stats;
pub mod ttfs;
pub mod wake;

pub use compare::{Options, Outcome, Progress, ScopeLoader, Source};
pub use record::{Record, Scope};
pub use stats::{Difference, DifferenceKind, FieldDiff, Stats};

/// Why a compare could not be made: what failed, and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct VerifyError(pub String);

impl VerifyError {
    /// An error from its text.
    pub fn new(text: impl Into<String>) -> VerifyError {
        VerifyError(text.into())
    }
}
