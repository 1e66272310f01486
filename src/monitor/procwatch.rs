//! Watching a node's server process for a live view that has no node watch of its own
//! (`monitor --json`, the plain text monitor): what [`super::dashboard::ProcessSeen`] needs,
//! cheaply. A server found once is re-checked alone (one process read); a node without one has
//! its process table scanned at most every [`SCAN_EVERY`]. A killed server leaves no last
//! words in its message file: only this tells it is gone.

use super::dashboard::ProcessSeen;
use crate::node::NodeAccess;
use crate::probe::FoundProcess;
use std::time::{Duration, Instant};

/// How often a node without a known server has its whole process table scanned.
const SCAN_EVERY: Duration = Duration::from_secs(10);
/// How often a known server is re-checked (one process read).
const RECHECK_EVERY: Duration = Duration::from_secs(2);

/// What one live view knows of one node's server between its looks.
#[derive(Debug, Default)]
pub struct ProcessWatch {
    found: Option<FoundProcess>,
    checked: Option<Instant>,
    scanned: Option<Instant>,
}

impl ProcessWatch {
    /// What is seen of `node`'s server now, looking again only when due. `reachable` false
    /// (a remote node its follower cannot reach): unseen, nothing is assumed.
    pub fn look(&mut self, node: &dyn NodeAccess, reachable: bool) -> ProcessSeen {
        if !reachable {
            *self = ProcessWatch::default();
            return ProcessSeen::Unseen;
        }
        if self.checked.is_none_or(|t| t.elapsed() >= RECHECK_EVERY) {
            self.checked = Some(Instant::now());
            self.refresh(node);
        }
        if self.scanned.is_none() && self.found.is_none() {
            return ProcessSeen::Unseen;
        }
        ProcessSeen::from_look(true, self.found.clone())
    }

    /// The known server if still running; else a scan when due or when the known one went.
    /// A node that did not answer (a remote node's lost connection) tells nothing: what was
    /// known is dropped and the server is unseen until the node answers again (a failed
    /// question is not "no server running").
    fn refresh(&mut self, node: &dyn NodeAccess) {
        let lost = match &self.found {
            Some(p) => match node.still_server_asked(p.pid) {
                Ok(Some(now)) => {
                    self.found = Some(now);
                    return;
                }
                Ok(None) => true,
                Err(_) => return self.forget(),
            },
            None => false,
        };
        self.found = None;
        if lost || self.scanned.is_none_or(|t| t.elapsed() >= SCAN_EVERY) {
            match node.server_processes_asked() {
                Ok(found) => {
                    self.scanned = Some(Instant::now());
                    self.found = found.into_iter().next();
                }
                Err(_) => self.forget(),
            }
        }
    }

    /// Knows nothing, as before the first look (but keeps when it last asked, so a node that
    /// does not answer is not asked at every frame).
    fn forget(&mut self) {
        self.found = None;
        self.scanned = None;
    }
}
