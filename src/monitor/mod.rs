//! The replication monitor: read the two `$DB_Msg.txt` files Berkeley DB writes, understand them
//! and say what is happening. Pure except for reading files (`classify_file`).

pub mod classify;
pub mod clock;
pub mod dashboard;
pub mod databases;
pub mod feed;
pub mod follow;
pub mod line;
pub mod pair;
pub mod parse;
pub mod procwatch;
pub mod progress;
pub mod read;
pub mod running;
pub mod seekfile;
pub mod source;
pub mod stall;
pub mod state;
pub mod wake;

pub use classify::{Event, Lsn};
pub use pair::{Expected, Pair};
pub use state::{Lag, NodeState, Verdict, combined, lag, single};

use std::path::Path;

/// The site's two nodes, master first, as the monitor's front-ends (`monitor`, `check`, the
/// TUI's live panes) reach them: every read of a message file, a home's sizes or a server
/// process goes through them. The one place those front-ends get their nodes: a node with
/// `ssh` is reached through its agent (an error, before anything is read, when it cannot be).
pub fn site_nodes(
    cfg: &crate::config::SiteConfig,
) -> Result<[Box<dyn crate::node::NodeAccess>; 2], crate::node::remote::RemoteError> {
    let [m, r] = reach_each(cfg);
    Ok([m?, r?])
}

/// How long after a failed attempt the monitor's front-ends (`monitor`, the TUI's live panes)
/// ask again for a node that could not be reached when they started.
pub const RETRY_UNREACHABLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Both nodes, each reached on its own (master first): one that cannot be reached does not
/// keep the other from being followed. See [`site_nodes`].
pub fn reach_each(
    cfg: &crate::config::SiteConfig,
) -> [Result<Box<dyn crate::node::NodeAccess>, crate::node::remote::RemoteError>; 2] {
    use crate::node::Role;
    [Role::Master, Role::Replicant].map(|r| crate::node::remote::reach(cfg, r))
}

/// Both nodes, asking again for one that could not be reached until it answers (a node
/// reached is kept, not reached again): the one loop of the live front-ends (`monitor`, the
/// TUI's panes), so a host that comes back is followed without a restart. After each round
/// that left a node out, `failed_round` is told why each one is (`None`: reached) and given
/// the nodes reached (for a [`Glimpse`] of them); it says whether to go on (it waits
/// [`RETRY_UNREACHABLE`] meanwhile, as its front-end can: watching its reader or its screen).
/// `None` when it stopped.
pub fn reach_both<E>(
    cfg: &crate::config::SiteConfig,
    mut failed_round: impl FnMut(
        &[Option<String>; 2],
        [Option<&dyn crate::node::NodeAccess>; 2],
    ) -> Result<bool, E>,
) -> Result<Option<[Box<dyn crate::node::NodeAccess>; 2]>, E> {
    use crate::node::Role;
    let mut nodes: [Option<Box<dyn crate::node::NodeAccess>>; 2] = [None, None];
    loop {
        let mut why: [Option<String>; 2] = [None, None];
        for (i, role) in [Role::Master, Role::Replicant].into_iter().enumerate() {
            if nodes[i].is_none() {
                match crate::node::remote::reach(cfg, role) {
                    Ok(n) => nodes[i] = Some(n),
                    Err(e) => why[i] = Some(e.to_string()),
                }
            }
        }
        nodes = match nodes {
            [Some(m), Some(r)] => return Ok(Some([m, r])),
            not_yet => not_yet,
        };
        let reached = [0, 1].map(|i| nodes[i].as_deref());
        if !failed_round(&why, reached)? {
            return Ok(None);
        }
    }
}

/// What the live front-ends show of the nodes they reached while the other is still out of
/// reach ([`reach_both`]'s rounds): each reached node's state read from its message file (on
/// from where the last round ended) and its server process. A healthy master read as "no
/// messages", its server "unseen", while only the replicant was out of reach.
#[derive(Default)]
pub struct Glimpse {
    saved: [Option<seekfile::Saved>; 2],
    watch: [procwatch::ProcessWatch; 2],
}

impl Glimpse {
    /// The states and server processes of `reached` (master first); a node not reached has an
    /// empty state and its server unseen. A message file that cannot be read is missing.
    pub fn look(
        &mut self,
        reached: [Option<&dyn crate::node::NodeAccess>; 2],
    ) -> ([NodeState; 2], [dashboard::ProcessSeen; 2]) {
        let mut states = ["master", "replicant"].map(|r| NodeState::with_role(Some(r)));
        let mut seen = [0, 1].map(|_| dashboard::ProcessSeen::Unseen);
        for (i, node) in reached.into_iter().enumerate() {
            let Some(node) = node else { continue };
            match node.read_messages(self.saved[i].as_ref()) {
                Ok((saved, _)) => {
                    states[i] = saved.state(&node.config().message_file);
                    self.saved[i] = Some(saved);
                }
                Err(_) => states[i].file_missing = true,
            }
            let hint = states[i].pid.unwrap_or(0);
            seen[i] = self.watch[i].look(node, hint);
        }
        (states, seen)
    }
}

/// Reads a whole message file and returns the node's final state (streaming: constant memory).
pub fn classify_file(
    path: &Path,
    role: Option<&str>,
    message_file: &str,
) -> std::io::Result<NodeState> {
    classify_file_counted(path, role, message_file).map(|(s, _)| s)
}

/// [`classify_file`] without the dashboard's record (timeline, activity per second), for a
/// reader that shows none (`tt-ha classify`): the rest of the state is the same, in less work.
pub fn classify_file_summary(
    path: &Path,
    role: Option<&str>,
    message_file: &str,
) -> std::io::Result<NodeState> {
    read::read_file_without_dashboard(path, role, message_file).map(|(s, _)| s)
}

/// Like [`classify_file`], also returning how many bytes were consumed (whole lines only), so a
/// follower can continue exactly there. See [`read`] for how a large file is read quickly.
pub fn classify_file_counted(
    path: &Path,
    role: Option<&str>,
    message_file: &str,
) -> std::io::Result<(NodeState, u64)> {
    read::read_file(path, role, message_file)
}
