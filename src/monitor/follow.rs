//! Following a message file by name, like `tail -F`: waits for a file that does not exist yet,
//! starts from the last lines without reading a large file whole, notices truncation (restart
//! from 0) and replacement or rotation (a new file identity), buffers partial lines and reads
//! invalid UTF-8 lossily. Survives the folder being deleted and recreated. Polling only for now
//! (interval configurable, default 250 ms): it works on every file system, network shares
//! included.
//!
//! Memory is bounded whatever the file holds: a line is kept up to the line cap
//! ([`LINE_MAX`](super::line::LINE_MAX)) and the rest counted (the partial line too), and one
//! poll reads at most [`POLL_BYTES`] or [`POLL_LINES`] lines; [`Follower::behind`] then says
//! that more is waiting, so the caller polls again at once.

use super::line::{Line, push_capped};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Bytes one poll reads at most.
pub const POLL_BYTES: u64 = 4 << 20;
/// Lines one poll returns at most.
pub const POLL_LINES: usize = 16_384;
/// Bytes read at a time.
const CHUNK: u64 = 256 << 10;
/// Bytes read at a time while following a growing file (appends are a few lines): the buffer is
/// kept between polls, so a poll allocates nothing before its read.
const APPEND_CHUNK: usize = 64 << 10;

/// How far [`Follower::read_new`] reads.
#[derive(Clone, Copy)]
enum Upto {
    /// To the size the open file has now (looked up first).
    Stat,
    /// To the end, found by a short read: no lookup between an append and its delivery.
    End,
}

/// Identity of a file: device and inode on Unix (size-independent), so a replacement is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
}

fn identity(meta: &std::fs::Metadata) -> Identity {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
    #[cfg(not(unix))]
    {
        // Windows: creation time stands in for the file index until it is exposed in std.
        let created = meta
            .created()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        Identity {
            dev: 0,
            ino: created,
        }
    }
}

/// What happened to the followed file since the last poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The file appeared (or reappeared).
    Opened,
    /// It shrank: read again from the start.
    Truncated,
    /// A different file now has the name (rotation or replacement): read it from the start.
    Replaced,
    /// It is gone (and is waited for).
    Missing,
}

/// A followed file.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: Option<(File, Identity)>,
    offset: u64,
    partial: Vec<u8>,
    partial_cut: u64,
    behind: bool,
    tail_lines: usize,
    first_open: bool,
    line_no: usize,
    last_path_check: Option<std::time::Instant>,
    /// The read buffer of [`Upto::End`] reads, kept between polls.
    buf: Vec<u8>,
}

/// Where the first read starts when opening a large file: the last `tail_lines` lines, found by
/// reading backwards in blocks (bounded work, whatever the file's size): no further back than
/// [`POLL_BYTES`]. Lines that long are not all shown: the start is then just after the first
/// line end in that reach, or the end of the file when there is none.
fn tail_offset(f: &mut File, len: u64, tail_lines: usize) -> std::io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    let mut pos = len;
    let mut newlines = 0;
    let mut earliest = None;
    let mut buf = vec![0u8; BLOCK as usize];
    while pos > 0 {
        if len - pos >= POLL_BYTES {
            return Ok(earliest.unwrap_or(len));
        }
        let start = pos.saturating_sub(BLOCK);
        let n = (pos - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        for i in (0..n).rev() {
            if buf[i] == b'\n' && start + i as u64 + 1 != len {
                newlines += 1;
                earliest = Some(start + i as u64 + 1);
                if newlines == tail_lines {
                    return Ok(start + i as u64 + 1);
                }
            }
        }
        pos = start;
    }
    Ok(0)
}

/// Reads from byte `at`: one `pread` on Unix (no seek before each read on the path from an
/// append to its delivery), a seek and a read elsewhere.
fn read_at(f: &mut File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(f, buf, at)
    }
    #[cfg(not(unix))]
    {
        f.seek(SeekFrom::Start(at))?;
        f.read(buf)
    }
}

impl Follower {
    /// Follows `path`, starting from its last `tail_lines` lines (0 = from the start).
    pub fn new(path: PathBuf, tail_lines: usize) -> Follower {
        Follower {
            path,
            file: None,
            offset: 0,
            partial: Vec::new(),
            partial_cut: 0,
            behind: false,
            tail_lines,
            first_open: true,
            line_no: 0,
            last_path_check: None,
            buf: Vec::new(),
        }
    }

    /// Follows `path` from byte `offset` of the file as it is now (after reading the start
    /// elsewhere, e.g. to build the state), with line numbers continuing after `lines`.
    pub fn from_offset(path: PathBuf, offset: u64, lines: usize) -> Follower {
        let mut f = Follower::new(path, 0);
        if let Ok(file) = File::open(&f.path)
            && let Ok(meta) = file.metadata()
        {
            f.file = Some((file, identity(&meta)));
            f.offset = offset;
            f.line_no = lines;
            f.first_open = false;
        }
        f
    }

    /// The followed path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Whether the last poll stopped before the end of the file (it reads at most
    /// [`POLL_BYTES`] or [`POLL_LINES`]): poll again without waiting.
    pub fn behind(&self) -> bool {
        self.behind
    }

    /// Reads what is new: complete lines (lossy UTF-8, without `\n`) with running line numbers
    /// (counted from where following began), and what happened to the file. Lines are cut at the
    /// line cap as [`poll_lines`](Self::poll_lines) says.
    pub fn poll(&mut self) -> (Vec<(usize, String)>, Vec<Notice>) {
        let (lines, notices) = self.poll_lines();
        (lines.into_iter().map(|l| (l.no, l.text)).collect(), notices)
    }

    /// Like [`poll`](Self::poll), each line with how many of its bytes past the line cap were
    /// not kept.
    pub fn poll_lines(&mut self) -> (Vec<Line>, Vec<Notice>) {
        let mut notices = Vec::new();
        // While the open file grows, read it at once and look the name up again only every
        // 250 ms (a replacement is still noticed within that); the lookup is most of the cost
        // of a poll at thousands of lines per second. The read goes straight on from the
        // offset: bytes there mean the file grew, so its size is not looked up first (one
        // system call fewer between an append and its delivery). Nothing there (or a
        // shrunken file) is looked at the full way below.
        if self.file.is_some()
            && self
                .last_path_check
                .is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(250))
        {
            let before = (self.offset, self.partial.len(), self.partial_cut);
            let lines = self.read_new(Upto::End, &mut notices);
            if !lines.is_empty() || (self.offset, self.partial.len(), self.partial_cut) != before {
                return (lines, notices);
            }
        }
        self.last_path_check = Some(std::time::Instant::now());
        let meta = std::fs::metadata(&self.path);
        let Ok(meta) = meta else {
            if self.file.take().is_some() {
                notices.push(Notice::Missing);
            }
            return (Vec::new(), notices);
        };
        let id = identity(&meta);
        match &self.file {
            Some((_, old)) if *old != id => {
                notices.push(Notice::Replaced);
                self.file = None;
            }
            _ => {}
        }
        if self.file.is_none() {
            let Ok(mut f) = File::open(&self.path) else {
                return (Vec::new(), notices);
            };
            let len = meta.len();
            self.offset = if self.first_open && self.tail_lines > 0 {
                tail_offset(&mut f, len, self.tail_lines).unwrap_or(0)
            } else {
                0
            };
            self.first_open = false;
            self.partial.clear();
            self.partial_cut = 0;
            if !notices.contains(&Notice::Replaced) {
                notices.push(Notice::Opened);
            }
            self.file = Some((f, id));
        }
        let lines = self.read_new(Upto::Stat, &mut notices);
        (lines, notices)
    }

    /// Reads complete new lines from the open file (restarting from 0 if it shrank), at most
    /// [`POLL_BYTES`] and [`POLL_LINES`] of them; each line kept up to the line cap.
    fn read_new(&mut self, upto: Upto, notices: &mut Vec<Notice>) -> Vec<Line> {
        self.behind = false;
        let Some((f, _)) = self.file.as_mut() else {
            return Vec::new();
        };
        let len = match upto {
            Upto::Stat => f.metadata().map(|m| m.len()).unwrap_or(0),
            Upto::End => u64::MAX,
        };
        if len < self.offset {
            notices.push(Notice::Truncated);
            self.offset = 0;
            self.partial.clear();
            self.partial_cut = 0;
        }
        let mut lines = Vec::new();
        if len <= self.offset {
            return lines;
        }
        let mut buf = match upto {
            Upto::End => {
                let mut buf = std::mem::take(&mut self.buf);
                buf.resize(APPEND_CHUNK, 0);
                buf
            }
            _ => vec![0u8; (len - self.offset).min(CHUNK) as usize],
        };
        let mut read = 0;
        while self.offset < len {
            if read >= POLL_BYTES {
                self.behind = true;
                break;
            }
            let want = (len - self.offset).min(buf.len() as u64) as usize;
            let n = match read_at(f, &mut buf[..want], self.offset) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            read += n as u64;
            let mut start = 0;
            for i in memchr::memchr_iter(b'\n', &buf[..n]) {
                self.partial_cut += push_capped(&mut self.partial, &buf[start..i]);
                self.line_no += 1;
                lines.push(Line {
                    no: self.line_no,
                    text: String::from_utf8_lossy(&self.partial).into_owned(),
                    cut: std::mem::take(&mut self.partial_cut),
                });
                self.partial.clear();
                start = i + 1;
                if lines.len() >= POLL_LINES {
                    // The rest of this read is read again by the next poll.
                    self.offset += start as u64;
                    self.behind = true;
                    break;
                }
            }
            if self.behind {
                break;
            }
            self.offset += n as u64;
            self.partial_cut += push_capped(&mut self.partial, &buf[start..n]);
            // Reading to the end: a short read is the end as it is now (a further read would
            // return nothing, one more system call before the lines are delivered).
            if matches!(upto, Upto::End) && n < want {
                break;
            }
        }
        if matches!(upto, Upto::End) {
            self.buf = buf;
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn texts(v: Vec<(usize, String)>) -> Vec<String> {
        v.into_iter().map(|(_, t)| t).collect()
    }

    #[test]
    fn waits_for_late_creation_and_buffers_partial_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        let mut f = Follower::new(p.clone(), 10);
        assert_eq!(f.poll(), (vec![], vec![]));
        std::fs::write(&p, b"one\ntw").unwrap();
        let (l, n) = f.poll();
        assert_eq!(
            (texts(l), n),
            (vec!["one".to_string()], vec![Notice::Opened])
        );
        let mut h = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        h.write_all(b"o\r\n\xff\xfe bad\n").unwrap();
        assert_eq!(
            texts(f.poll().0),
            vec!["two\r".to_string(), "\u{FFFD}\u{FFFD} bad".to_string()]
        );
    }

    #[test]
    fn truncation_replacement_and_folder_recreation() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("var/db");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("$DB_Msg.txt");
        std::fs::write(&p, b"a\nb\n").unwrap();
        let mut f = Follower::new(p.clone(), 0);
        assert_eq!(texts(f.poll().0), vec!["a", "b"]);
        std::fs::write(&p, b"c\n").unwrap();
        let (l, n) = f.poll();
        assert_eq!(
            (texts(l), n),
            (vec!["c".to_string()], vec![Notice::Truncated])
        );
        let tmp = dir.join("new");
        std::fs::write(&tmp, b"d\ne\n").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let (l, n) = f.poll();
        assert_eq!(
            (texts(l), n),
            (
                vec!["d".to_string(), "e".to_string()],
                vec![Notice::Replaced]
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(f.poll().1, vec![Notice::Missing]);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&p, b"f\n").unwrap();
        let (l, n) = f.poll();
        assert_eq!((texts(l), n), (vec!["f".to_string()], vec![Notice::Opened]));
    }

    #[test]
    fn a_line_longer_than_the_cap_keeps_its_start_and_counts_the_rest() {
        use crate::monitor::line::LINE_MAX;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        let mut f = Follower::new(p.clone(), 0);
        let mut h = std::fs::File::create(&p).unwrap();
        // 9 MiB without a newline, written in pieces between polls: the partial line never
        // holds more than the cap.
        for _ in 0..9 {
            h.write_all(&vec![b'x'; 1 << 20]).unwrap();
            loop {
                let (lines, _) = f.poll_lines();
                assert!(lines.is_empty());
                assert!(
                    f.partial.capacity() <= 2 * LINE_MAX,
                    "{}",
                    f.partial.capacity()
                );
                if !f.behind() {
                    break;
                }
            }
        }
        h.write_all(b"\nnext\n").unwrap();
        let (lines, _) = f.poll_lines();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text.len(), LINE_MAX);
        assert_eq!(lines[0].cut, (9 << 20) - LINE_MAX as u64);
        assert_eq!((lines[1].text.as_str(), lines[1].cut), ("next", 0));
    }

    #[test]
    fn one_poll_reads_a_bounded_amount_and_says_more_is_waiting() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        std::fs::write(&p, "\n".repeat(3 * POLL_LINES + 5)).unwrap();
        let mut f = Follower::new(p.clone(), 0);
        let mut total = 0;
        let mut polls = 0;
        loop {
            let (lines, _) = f.poll_lines();
            assert!(lines.len() <= POLL_LINES);
            total += lines.len();
            polls += 1;
            if !f.behind() {
                break;
            }
        }
        assert_eq!((total, polls), (3 * POLL_LINES + 5, 4));
        std::fs::write(&p, vec![b'y'; 3 * POLL_BYTES as usize]).unwrap();
        let mut f = Follower::new(p, 0);
        let _ = f.poll_lines();
        assert!(f.behind(), "stopped after {POLL_BYTES} bytes");
        assert!(f.offset <= POLL_BYTES + CHUNK);
    }

    #[test]
    fn a_large_file_is_opened_at_its_last_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.txt");
        let mut h = std::fs::File::create(&p).unwrap();
        for i in 0..200_000 {
            writeln!(h, "line {i}").unwrap();
        }
        let mut f = Follower::new(p, 3);
        assert_eq!(
            texts(f.poll().0),
            vec!["line 199997", "line 199998", "line 199999"]
        );
    }
}
