//! A node's state, saved whole and read back (`tt-ha check`'s seek file), so that reading on
//! from a saved state gives exactly what a read of the whole file gives.
//!
//! The state's own `Serialize` is its documented JSON view, which leaves out what only the
//! state machine needs; this mirror keeps every field. It is a serde "remote" definition: a field
//! added to [`NodeState`] or [`Init`] and not here does not compile, so nothing is silently lost.
//! Floats are kept as their bits (JSON numbers would lose NaN and infinities). The site config's
//! expectations (`expected`) are not saved: the caller sets them from tt-ha.toml each time.

use super::{Init, NodeState};
use crate::monitor::classify::Lsn;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Writes `state` whole (use as `#[serde(with = "…::saved")]`).
pub fn serialize<S: Serializer>(state: &NodeState, s: S) -> Result<S::Ok, S::Error> {
    NodeStateDef::serialize(state, s)
}

/// Reads a state written by [`serialize`].
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NodeState, D::Error> {
    NodeStateDef::deserialize(d)
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Lsn")]
struct LsnDef {
    file: u64,
    offset: u64,
}

/// `Option<Lsn>` through [`LsnDef`].
mod opt_lsn {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct W(#[serde(with = "LsnDef")] Lsn);

    pub fn serialize<S: Serializer>(v: &Option<Lsn>, s: S) -> Result<S::Ok, S::Error> {
        v.map(W).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Lsn>, D::Error> {
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

/// `Option<f64>` as its bits: exact, NaN and infinities included.
mod opt_f64 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(f64::to_bits).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(f64::from_bits))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Init", deny_unknown_fields)]
struct InitDef {
    seen: bool,
    phase: String,
    files_total: Option<u64>,
    files_done: Option<u64>,
    pages_done: Option<u64>,
    pages_total: Option<u64>,
    #[serde(with = "opt_f64")]
    percent: Option<f64>,
    #[serde(with = "opt_f64")]
    rate: Option<f64>,
    #[serde(with = "opt_f64")]
    eta_secs: Option<f64>,
    bytes_done: Option<u64>,
    bytes_total: Option<u64>,
    #[serde(with = "opt_f64")]
    estimated_at: Option<f64>,
    model: crate::monitor::progress::CopyModel,
    #[serde(with = "opt_f64")]
    progress_at: Option<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "NodeState", deny_unknown_fields)]
struct NodeStateDef {
    // A seek file is saved after a read of a file that was there.
    #[serde(skip)]
    file_missing: bool,
    role: Option<crate::dbconfig::Role>,
    local_site: Option<String>,
    peers: BTreeMap<String, bool>,
    connected: bool,
    startup_done: bool,
    #[serde(with = "InitDef")]
    init: Init,
    #[serde(with = "opt_lsn")]
    last_lsn_sent: Option<Lsn>,
    #[serde(with = "opt_lsn")]
    last_lsn_applied: Option<Lsn>,
    connection_failures: u64,
    last_failure: Option<(String, String, i64)>,
    last_target: Option<String>,
    failed_elections: u64,
    lost: Option<String>,
    shut_down: bool,
    // Added after the first seek files: one written before reads as not stopping.
    #[serde(default)]
    stopping: bool,
    /// Added 2026-11-25: a seek file written before has none.
    #[serde(default)]
    apply_failed: Option<(usize, String)>,
    errors: Vec<(usize, String)>,
    benign: BTreeMap<String, u64>,
    messages: u64,
    #[serde(with = "opt_f64")]
    last_stamp: Option<f64>,
    sent_after_connect: bool,
    low_verbosity: bool,
    pid: Option<u64>,
    restarts: u64,
    master_site: Option<String>,
    errors_total: u64,
    truncated_lines: u64,
    truncated_bytes: u64,
    first_truncated_line: Option<usize>,
    #[serde(skip)]
    expected: Option<crate::monitor::pair::Expected>,
    verbose_seen: bool,
    /// Added after the first seek files: absent in theirs.
    #[serde(default, with = "opt_lsn")]
    caught_up_to: Option<Lsn>,
    active: bool,
    eid_site: BTreeMap<u32, String>,
    ever_connected: bool,
    #[serde(default)]
    dash: crate::monitor::dashboard::Dash,
    #[serde(skip)]
    no_dashboard: bool,
    /// Added 2026-11-24: a seek file written before has none.
    #[serde(default, with = "opt_prior")]
    prior: Option<Box<NodeState>>,
    #[serde(default)]
    worked: bool,
    /// Added 2026-11-24 (a stamp is finite: a parsed one).
    #[serde(default)]
    collided: Option<(String, Option<f64>)>,
    #[serde(default)]
    lost_in_collision: bool,
    // When a line arrived is this process's observation (a follower's), not the file's.
    #[serde(skip)]
    heard_at: Option<f64>,
}

/// The process before the running one ([`NodeState`]'s `prior`), saved whole as well: a check
/// that read on without it took another program's line for a restart, for good.
mod opt_prior {
    use super::*;

    #[derive(Serialize)]
    struct Ref<'a>(#[serde(serialize_with = "state")] &'a NodeState);

    fn state<S: Serializer>(v: &&NodeState, s: S) -> Result<S::Ok, S::Error> {
        NodeStateDef::serialize(v, s)
    }

    #[derive(Deserialize)]
    struct Own(#[serde(with = "NodeStateDef")] NodeState);

    pub fn serialize<S: Serializer>(v: &Option<Box<NodeState>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_deref().map(Ref).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Box<NodeState>>, D::Error> {
        Ok(Option::<Own>::deserialize(d)?.map(|o| Box::new(o.0)))
    }
}
