//! The replication monitor: read the two `$DB_Msg.txt` files Berkeley DB writes, understand them
//! and say what is happening. Pure except for reading files (`classify_file`).

pub mod classify;
pub mod follow;
pub mod parse;
pub mod state;
pub mod wake;

pub use classify::{Event, Lsn};
pub use state::{Lag, NodeState, Verdict, combined, lag, single};

use std::io::{BufRead, BufReader};
use std::path::Path;

/// Reads a whole message file and returns the node's final state (streaming: constant memory).
pub fn classify_file(
    path: &Path,
    role: Option<&str>,
    message_file: &str,
) -> std::io::Result<NodeState> {
    classify_file_counted(path, role, message_file).map(|(s, _)| s)
}

/// Like [`classify_file`], also returning how many bytes were consumed (whole lines only), so a
/// follower can continue exactly there.
pub fn classify_file_counted(
    path: &Path,
    role: Option<&str>,
    message_file: &str,
) -> std::io::Result<(NodeState, u64)> {
    let f = std::fs::File::open(path)?;
    let mut reader = BufReader::with_capacity(1 << 20, f);
    let mut state = NodeState::with_role(role);
    let mut splitter = parse::Splitter::default();
    let mut buf = Vec::with_capacity(256);
    let mut line_no = 0;
    let mut consumed = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            // A partial last line is left for the follower, which will see it whole.
            break;
        }
        consumed += n as u64;
        line_no += 1;
        buf.pop();
        // Valid UTF-8 (the usual case) is borrowed as is; anything else is read lossily.
        let text = match std::str::from_utf8(&buf) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(&buf),
        };
        // Most lines are one whole message: classify them in place. The splitter (which owns
        // what it holds) takes the rest, and first hands back what it was waiting on.
        match parse::simple(&text) {
            Some((stamp, role, body)) if !splitter.holding() => {
                state.apply_parts(line_no, Some(stamp), Some(role), body, message_file);
            }
            _ => {
                for m in splitter.push(line_no, &text) {
                    state.apply(&m, message_file);
                }
            }
        }
    }
    if let Some(m) = splitter.flush() {
        state.apply(&m, message_file);
    }
    Ok((state, consumed))
}
