//! The replication monitor: read the two `$DB_Msg.txt` files Berkeley DB writes, understand them
//! and say what is happening. Pure except for reading files (`classify_file`).

pub mod classify;
pub mod dashboard;
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
