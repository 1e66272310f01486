//! Where the lines of the server process writing a message file now begin: what `verify`
//! reads a replicant's start-up proof from (earlier processes' lines prove nothing for the
//! running one). The local implementation of
//! [`NodeAccess::running_process_start`](crate::node::NodeAccess::running_process_start).

/// Bytes read back per step while looking for the running process's first line.
const BACK_BLOCK: u64 = 1 << 20;
/// Bytes of a line's start kept to read its prefix (`msgpfx: [secs:usecs][pid/tid] `).
const PREFIX_BYTES: usize = 256;

/// The pid in a line's prefix, when the line starts with one.
fn line_pid(start: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(&start[..start.len().min(PREFIX_BYTES)]);
    let text = text.split('\n').next().unwrap_or_default();
    super::parse::stamp_of(text).map(|s| s.pid)
}

/// Where the lines of the server process writing `path` now begin: the start of the line after
/// the last line another process wrote (0 when one process wrote it all). Another process's
/// lines between two runs of the running one's (a utility that opened the environment) do not
/// count, as the state does not count them ([`super::state::NodeState`] takes the proof up
/// again): the start is then after the line before the earlier run. Read back from the end
/// a block at a time, keeping only a line's first bytes: memory stays bounded on any file, and
/// the time is that of the running process's lines. The state read from there on is the state
/// a whole read gives after its last restart by pid; restarts without a new pid (the same
/// process reopening its environment) are found by the state itself, as in a whole read.
pub fn running_process_start(path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = crate::atomic::open_read(path)?;
    let mut end = f.metadata()?.len();
    let mut current: Option<u64> = None;
    // Another process's run of lines met reading back, and where the running one begins if
    // that run is not between two of the running one's.
    let mut other: Option<(u64, u64)> = None;
    // What the blocks after the one being scanned hold: their first bytes (the rest of a line
    // that begins at this block's end) and their first newline (where that line ends).
    let mut later_head: Vec<u8> = Vec::new();
    let mut later_first_nl: Option<u64> = None;
    let mut buf = vec![0u8; BACK_BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BACK_BLOCK);
        let block = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(block)?;
        let block = &*block;
        // The newline ending the line being looked at (absolute offset).
        let mut line_nl = later_first_nl;
        // Line starts in this block, last first: after each newline, and the file's start.
        let starts = memchr::memrchr_iter(b'\n', block)
            .map(Some)
            .chain((start == 0).then_some(None));
        for nl in starts {
            let at = nl.map_or(0, |n| n + 1);
            let mut head = block[at..block.len().min(at + PREFIX_BYTES)].to_vec();
            if head.len() < PREFIX_BYTES && line_nl.is_none_or(|e| e >= end) {
                head.extend_from_slice(&later_head);
            }
            match (line_pid(&head), current, other) {
                (Some(pid), None, _) => current = Some(pid),
                // The running process again, before another's run: that run was between two
                // of its own, and the search goes on.
                (Some(pid), Some(c), Some(_)) if pid == c => other = None,
                // Another process's line: the running one begins after it, unless the line
                // before this run is the running process's own.
                (Some(pid), Some(c), None) if pid != c => {
                    other = Some((pid, line_nl.map_or(end, |e| e + 1)));
                }
                // A third process before the other's run: the running one began after that run.
                (Some(pid), Some(_), Some((o, after))) if pid != o => return Ok(after),
                _ => {}
            }
            line_nl = nl.map(|n| start + n as u64);
        }
        if let Some(first) = memchr::memchr(b'\n', block) {
            later_first_nl = Some(start + first as u64);
        }
        let mut head = block[..block.len().min(PREFIX_BYTES)].to_vec();
        if head.len() < PREFIX_BYTES {
            head.extend_from_slice(&later_head);
            head.truncate(PREFIX_BYTES);
        }
        later_head = head;
        end = start;
    }
    // Another process's run begins the file: the running one began after it.
    Ok(other.map_or(0, |(_, after)| after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/bdb")
                .join(name),
        )
        .unwrap()
    }

    /// `text` with the writing pid `from` replaced by `to` in every prefix.
    fn repid(text: &[u8], from: &str, to: &str) -> Vec<u8> {
        String::from_utf8_lossy(text)
            .replace(&format!("][{from}/"), &format!("][{to}/"))
            .into_bytes()
    }

    /// The reference: a forward read, line by line, as the state counts processes: a line of
    /// another pid begins a process (its start: after the line before it with a prefix), and
    /// a line of the process before that one takes it up again.
    fn forward_start(bytes: &[u8]) -> u64 {
        // (pid, start) of the running process and of the one before it.
        let (mut cur, mut prior) = (None::<(u64, u64)>, None::<(u64, u64)>);
        let (mut at, mut after_prefixed) = (0u64, 0u64);
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(line);
            at += line.len() as u64;
            let Some(pid) = crate::monitor::parse::stamp_of(&text).map(|s| s.pid) else {
                continue;
            };
            match cur {
                None => cur = Some((pid, 0)),
                Some((c, _)) if c == pid => {}
                Some(_) if prior.is_some_and(|(p, _)| p == pid) => {
                    std::mem::swap(&mut cur, &mut prior);
                }
                Some(_) => {
                    prior = cur;
                    cur = Some((pid, after_prefixed));
                }
            }
            after_prefixed = at;
        }
        cur.map_or(0, |(_, s)| s)
    }

    /// Another process's lines between two runs of the running process's do not begin it
    /// again; a third process's do. Every arrangement of three pids over six runs (some with a
    /// run longer than a block) agrees with the forward reference.
    #[test]
    fn a_process_between_two_runs_of_the_running_one_is_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("$DB_Msg.txt");
        let run = |pid: u64, lines: usize| {
            (0..lines)
                .map(|i| format!("[1:{i}][{pid}/1] CLIENT: line {i}\nno prefix\n"))
                .collect::<String>()
        };
        // Every arrangement with short runs; one in 16 again with one long run, so that runs
        // straddle the 1 MiB blocks.
        let cases = (0..3u64.pow(6)).map(|n| (n, None)).chain(
            (0..3u64.pow(6))
                .step_by(16)
                .map(|n| (n, Some(n as usize % 6))),
        );
        for (n, long) in cases {
            let pids: Vec<u64> = (0..6).map(|k| 1 + n / 3u64.pow(k) % 3).collect();
            let mut bytes = String::new();
            for (i, p) in pids.iter().enumerate() {
                let lines = if long == Some(i) { 40_000 } else { 3 };
                bytes.push_str(&run(*p, lines));
            }
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(
                running_process_start(&path).unwrap(),
                forward_start(bytes.as_bytes()),
                "{pids:?}"
            );
        }
        // Explicitly: 1, 2, 1 runs from the start; 3, 1, 2, 1 from the 1 after the 3.
        let b = format!("{}{}{}", run(1, 2), run(2, 1), run(1, 1));
        std::fs::write(&path, &b).unwrap();
        assert_eq!(running_process_start(&path).unwrap(), 0);
        let head = run(3, 2);
        let b = format!("{head}{}{}{}", run(1, 2), run(2, 1), run(1, 1));
        std::fs::write(&path, &b).unwrap();
        // (After the 3's last line with a prefix: its continuation is the 1's first line.)
        let after = head.len() - "no prefix\n".len();
        assert_eq!(running_process_start(&path).unwrap(), after as u64);
    }

    /// Reading back from the end finds exactly where the running process's lines begin, on files
    /// of several blocks, with the change of process anywhere around a block boundary, lines
    /// longer than a block, lines without a prefix, and an unfinished last line.
    #[test]
    fn the_running_process_start_is_found_reading_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("$DB_Msg.txt");
        let old = fixture("5.3-d-replicant.txt");
        let new = repid(&fixture("6.1-a-replicant.txt"), "6605", "7777");
        let long = |pid: &str, n: usize| {
            let mut l = format!("[1:1][{pid}/9] CLIENT: long ").into_bytes();
            l.extend(std::iter::repeat_n(b'y', n));
            l.push(b'\n');
            l
        };
        for pad in [0usize, 1, 17, 200, 255, 256, 4000] {
            for tail in [
                &b""[..],
                b"a continuation line\n",
                b"[2:2][7777/1] CLIENT: unfinished",
            ] {
                // The change of process near the first block boundary from the end.
                let mut bytes = old.clone();
                bytes.extend(long("4242", 3 << 20));
                let boundary = (BACK_BLOCK as usize).saturating_sub(pad);
                let mut newer = b"no prefix here\n".to_vec();
                newer.extend_from_slice(&new);
                newer.extend(long("7777", 70_000));
                newer.extend_from_slice(tail);
                let fill = boundary.saturating_sub(newer.len() % BACK_BLOCK as usize);
                bytes.extend(long("4242", fill));
                bytes.extend_from_slice(&newer);
                std::fs::write(&path, &bytes).unwrap();
                let want = forward_start(&bytes);
                assert!(want > old.len() as u64, "{pad}");
                assert_eq!(running_process_start(&path).unwrap(), want, "pad {pad}");
            }
        }
        // One process wrote it all: from the start. An empty file: 0.
        std::fs::write(&path, &new).unwrap();
        assert_eq!(running_process_start(&path).unwrap(), 0);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(running_process_start(&path).unwrap(), 0);
    }
}
