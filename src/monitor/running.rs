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
/// the last line another process wrote (0 when one process wrote it all). Read back from the end
/// a block at a time, keeping only a line's first bytes: memory stays bounded on any file, and
/// the time is that of the running process's lines. The state read from there on is the state
/// a whole read gives after its last restart by pid; restarts without a new pid (the same
/// process reopening its environment) are found by the state itself, as in a whole read.
pub fn running_process_start(path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = crate::atomic::open_read(path)?;
    let mut end = f.metadata()?.len();
    let mut current: Option<u64> = None;
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
            match (line_pid(&head), current) {
                (Some(pid), None) => current = Some(pid),
                (Some(pid), Some(c)) if pid != c => {
                    // Another process's line: the running one begins after it.
                    return Ok(line_nl.map_or(end, |e| e + 1));
                }
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
    Ok(0)
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

    /// The reference: a forward read, line by line, of where the last pid's run of lines begins.
    fn forward_start(bytes: &[u8]) -> u64 {
        let mut lines: Vec<(u64, Option<u64>)> = Vec::new();
        let mut at = 0u64;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(line);
            lines.push((at, crate::monitor::parse::stamp_of(&text).map(|s| s.pid)));
            at += line.len() as u64;
        }
        let last = lines.iter().rev().find_map(|(_, p)| *p);
        let mut start = 0;
        for (i, (_, pid)) in lines.iter().enumerate() {
            if pid.is_some() && *pid != last {
                start = lines.get(i + 1).map_or(at, |(o, _)| *o);
            }
        }
        start
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
