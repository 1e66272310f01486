//! Following a message file by name, like `tail -F`, in two halves so that a node on another
//! machine can serve the first: [`LocalSource`] (the node's side) waits for a file that does
//! not exist yet, starts from the last lines without reading a large file whole, notices
//! truncation (restart from 0) and replacement or rotation (a new file identity), survives the
//! folder being deleted and recreated, and hands out byte chunks with their offsets and file
//! notices ([`super::source`]); [`Follower`] (the consumer's side, the same for every source)
//! buffers partial lines, reads invalid UTF-8 lossily and numbers the lines. When to look
//! again is [`super::wake`]'s business.
//!
//! Memory is bounded whatever the file holds: a line is kept up to the line cap
//! ([`LINE_MAX`](super::line::LINE_MAX)) and the rest counted (the partial line too), and one
//! poll reads at most [`POLL_BYTES`] or [`POLL_LINES`] lines; [`Follower::behind`] then says
//! that more is waiting, so the caller polls again at once.

use super::line::{Line, cap, push_capped};
use super::source::{MessageSource, Piece, Start, WakeOn};
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Notice {
    /// The file appeared (or reappeared).
    Opened,
    /// It shrank: read again from the start.
    Truncated,
    /// A different file now has the name (rotation or replacement): read it from the start.
    Replaced,
    /// It is gone, or its name gives no file that can be read (a FIFO, a folder, no
    /// permission), and it is waited for. Said once until a file is open again.
    Missing,
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

/// A message file of this machine, followed by name like `tail -F`: the node-side half of
/// following (the [`MessageSource`] of a [`crate::node::LocalNode`], and what `tt-ha agent`
/// serves for a remote one). It reads bytes and notices what happened to the file; the lines
/// are the consumer's ([`Follower`]).
#[derive(Debug)]
pub struct LocalSource {
    path: PathBuf,
    file: Option<(File, Identity)>,
    offset: u64,
    tail_lines: usize,
    first_open: bool,
    last_path_check: Option<std::time::Instant>,
    /// Notices of this round not handed out yet (at most two: replaced, then truncated or
    /// missing).
    pending: Vec<Notice>,
    round: Round,
    /// `Missing` was said and no file was open since: it is not said again each round.
    said_missing: bool,
}

/// Where a [`LocalSource`] is in one round of reads (from the first `next` to its `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Between rounds: the next call starts one.
    Idle,
    /// Reading a growing file on from the offset to a short read (the name was looked up
    /// less than 250 ms ago); `got`: bytes were read in this round.
    Fast { got: bool },
    /// Reading to `len`, the size the open file had when the round looked.
    Stat { len: u64 },
    /// The round has given everything: the next call says so (`None`).
    Done,
}

impl LocalSource {
    /// Follows `path` from `start`.
    pub fn open(path: PathBuf, start: Start) -> LocalSource {
        let mut s = LocalSource {
            path,
            file: None,
            offset: 0,
            tail_lines: 0,
            first_open: true,
            last_path_check: None,
            pending: Vec::new(),
            round: Round::Idle,
            said_missing: false,
        };
        match start {
            Start::Beginning => {}
            Start::Tail(n) => s.tail_lines = n,
            Start::Offset(offset) => {
                if let Ok(file) = crate::atomic::open_read(&s.path)
                    && let Ok(meta) = file.metadata()
                {
                    s.file = Some((file, identity(&meta)));
                    s.offset = offset;
                    s.first_open = false;
                }
            }
        }
        s
    }

    /// The followed path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Looks the name up: a missing, replaced, reopened or truncated file is noticed (the
    /// notices queued), and the round reads on to the open file's size.
    fn check_path(&mut self) {
        self.last_path_check = Some(std::time::Instant::now());
        self.round = Round::Done;
        let Ok(meta) = std::fs::metadata(&self.path) else {
            // Gone since it was open, or not there when following began: said once.
            let was_open = self.file.take().is_some();
            if was_open || (self.first_open && !self.said_missing) {
                self.pending.push(Notice::Missing);
                self.said_missing = true;
            }
            return;
        };
        let id = identity(&meta);
        if let Some((_, old)) = &self.file
            && *old != id
        {
            self.pending.push(Notice::Replaced);
            self.file = None;
        }
        if self.file.is_none() {
            let Ok(mut f) = crate::atomic::open_read(&self.path) else {
                // A name that gives nothing to read (a FIFO or a folder put in the file's
                // place, no permission) is a missing file to whoever follows it: what was
                // read before is not what the name holds now.
                if !self.said_missing {
                    self.pending.push(Notice::Missing);
                    self.said_missing = true;
                }
                return;
            };
            self.said_missing = false;
            self.offset = if self.first_open && self.tail_lines > 0 {
                tail_offset(&mut f, meta.len(), self.tail_lines).unwrap_or(0)
            } else {
                0
            };
            self.first_open = false;
            if !self.pending.contains(&Notice::Replaced) {
                self.pending.push(Notice::Opened);
            }
            self.file = Some((f, id));
        }
        let Some((f, _)) = &self.file else { return };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            self.pending.push(Notice::Truncated);
            self.offset = 0;
        }
        self.round = Round::Stat { len };
    }

    /// Reads up to `want` bytes at the offset into `buf`; the count (0 at the end or on an
    /// error: the next round looks again).
    fn read_chunk(&mut self, buf: &mut Vec<u8>, want: usize) -> usize {
        let Some((f, _)) = self.file.as_mut() else {
            return 0;
        };
        buf.resize(want, 0);
        let n = read_at(f, buf, self.offset).unwrap_or(0);
        buf.truncate(n);
        n
    }
}

impl MessageSource for LocalSource {
    fn next(&mut self, buf: &mut Vec<u8>) -> Option<Piece> {
        loop {
            if !self.pending.is_empty() {
                return Some(Piece::Notice(self.pending.remove(0)));
            }
            match self.round {
                Round::Idle => {
                    // While the open file grows, read it at once and look the name up again
                    // only every 250 ms (a replacement is still noticed within that); the
                    // lookup is most of the cost of a poll at thousands of lines per second.
                    // The read goes straight on from the offset: bytes there mean the file
                    // grew, so its size is not looked up first (one system call fewer between
                    // an append and its delivery).
                    if self.file.is_some()
                        && self
                            .last_path_check
                            .is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(250))
                    {
                        self.round = Round::Fast { got: false };
                    } else {
                        self.check_path();
                    }
                }
                Round::Fast { got } => {
                    let at = self.offset;
                    let n = self.read_chunk(buf, APPEND_CHUNK);
                    if n == 0 {
                        if got {
                            self.round = Round::Done;
                        } else {
                            // Nothing there (or a shrunken file): looked at the full way.
                            self.check_path();
                        }
                        continue;
                    }
                    self.offset += n as u64;
                    // A short read is the end as it is now: a further read would return
                    // nothing, one more system call before the lines are delivered.
                    self.round = if n < APPEND_CHUNK {
                        Round::Done
                    } else {
                        Round::Fast { got: true }
                    };
                    return Some(Piece::Bytes { offset: at });
                }
                Round::Stat { len } => {
                    if self.offset >= len {
                        self.round = Round::Done;
                        continue;
                    }
                    let at = self.offset;
                    let want = (len - at).min(CHUNK) as usize;
                    let n = self.read_chunk(buf, want);
                    if n == 0 {
                        self.round = Round::Done;
                        continue;
                    }
                    self.offset += n as u64;
                    return Some(Piece::Bytes { offset: at });
                }
                Round::Done => {
                    self.round = Round::Idle;
                    return None;
                }
            }
        }
    }

    fn wake_on(&self) -> WakeOn {
        WakeOn::LocalFile(self.path.clone())
    }

    fn describe(&self) -> String {
        crate::display::path(&self.path).to_string()
    }
}

/// A followed file: the lines of a [`MessageSource`], whoever serves it.
pub struct Follower {
    source: Box<dyn MessageSource>,
    /// Where the bytes consumed so far end in the file.
    offset: u64,
    partial: Vec<u8>,
    partial_cut: u64,
    behind: bool,
    line_no: usize,
    /// The source's last chunk, kept between polls (a poll allocates nothing before its
    /// read); `rest..` of it is not consumed yet when a poll stopped at [`POLL_LINES`].
    buf: Vec<u8>,
    rest: usize,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("source", &self.source.describe())
            .field("offset", &self.offset)
            .field("line_no", &self.line_no)
            .finish()
    }
}

impl Follower {
    /// Follows the local file `path`, starting from its last `tail_lines` lines (0 = from the
    /// start).
    pub fn new(path: PathBuf, tail_lines: usize) -> Follower {
        let start = match tail_lines {
            0 => Start::Beginning,
            n => Start::Tail(n),
        };
        Follower::from_source(Box::new(LocalSource::open(path, start)), 0)
    }

    /// Follows the local file `path` from byte `offset` of the file as it is now (after
    /// reading the start elsewhere, e.g. to build the state), with line numbers continuing
    /// after `lines`.
    pub fn from_offset(path: PathBuf, offset: u64, lines: usize) -> Follower {
        Follower::from_source(
            Box::new(LocalSource::open(path, Start::Offset(offset))),
            lines,
        )
    }

    /// Follows what `source` serves (from a node: [`crate::node::NodeAccess::follow_messages`]),
    /// with line numbers continuing after `lines`.
    pub fn from_source(source: Box<dyn MessageSource>, lines: usize) -> Follower {
        Follower {
            source,
            offset: 0,
            partial: Vec::new(),
            partial_cut: 0,
            behind: false,
            line_no: lines,
            buf: Vec::new(),
            rest: 0,
        }
    }

    /// The followed file, as its node names it.
    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// How to wait for news of the followed file.
    pub fn wake_on(&self) -> WakeOn {
        self.source.wake_on()
    }

    /// Whether the file's node answers now (a remote node may be unreachable: its lines
    /// resume from where they stopped when it is back).
    pub fn reach(&self) -> super::source::Reach {
        self.source.reach()
    }

    /// Where in the file what was read so far ends (the lines returned and the unfinished
    /// last line held): a reader that must see everything written up to a size reads until
    /// here.
    pub fn offset(&self) -> u64 {
        self.offset
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
    /// not kept. At most [`POLL_BYTES`] and [`POLL_LINES`] lines are read; each line is kept up
    /// to the line cap.
    pub fn poll_lines(&mut self) -> (Vec<Line>, Vec<Notice>) {
        self.behind = false;
        let mut lines = Vec::new();
        let mut notices = Vec::new();
        // The rest of a chunk a poll stopped in.
        if self.rest < self.buf.len() {
            self.split(self.rest, &mut lines);
            if self.behind {
                return (lines, notices);
            }
        }
        let mut read = 0;
        loop {
            if read >= POLL_BYTES {
                self.behind = true;
                break;
            }
            match self.source.next(&mut self.buf) {
                None => break,
                Some(Piece::Notice(n)) => {
                    // A new file, or this one from its start: what was held of a line is not
                    // the start of the next one.
                    if n != Notice::Missing {
                        self.partial.clear();
                        self.partial_cut = 0;
                    }
                    notices.push(n);
                }
                Some(Piece::Bytes { offset }) => {
                    self.offset = offset;
                    read += self.buf.len() as u64;
                    self.split(0, &mut lines);
                    if self.behind {
                        break;
                    }
                }
            }
        }
        (lines, notices)
    }

    /// Turns `buf[from..]` into complete lines (the unfinished end held as the partial line),
    /// stopping at [`POLL_LINES`] lines with the rest kept for the next poll.
    fn split(&mut self, from: usize, lines: &mut Vec<Line>) {
        let buf = std::mem::take(&mut self.buf);
        let mut start = from;
        self.rest = buf.len();
        for i in memchr::memchr_iter(b'\n', &buf[from..]).map(|i| i + from) {
            self.line_no += 1;
            let (text, cut) = if self.partial.is_empty() {
                // A whole line in this chunk (nearly always): made from the chunk, not copied
                // into the partial line first.
                let (kept, cut) = cap(&buf[start..i]);
                let cut = cut + std::mem::take(&mut self.partial_cut);
                (lossy(kept), cut)
            } else {
                self.partial_cut += push_capped(&mut self.partial, &buf[start..i]);
                let text = lossy(&self.partial);
                self.partial.clear();
                (text, std::mem::take(&mut self.partial_cut))
            };
            lines.push(Line {
                no: self.line_no,
                text,
                cut,
            });
            start = i + 1;
            if lines.len() >= POLL_LINES {
                // The rest of this chunk is read by the next poll.
                self.behind = true;
                self.rest = start;
                break;
            }
        }
        if !self.behind {
            self.partial_cut += push_capped(&mut self.partial, &buf[start..]);
        }
        self.offset += (self.rest - from) as u64;
        self.buf = buf;
    }
}

/// `bytes` as text, invalid UTF-8 replaced: valid text (nearly every line) is checked by the
/// standard check's fast path and copied, not walked chunk by chunk as the lossy conversion
/// walks it (about 900 instructions a line).
fn lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
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
        // Not there when following begins: said once, then waited for.
        assert_eq!(f.poll(), (vec![], vec![Notice::Missing]));
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

    /// A FIFO or a folder put in the file's place is a file gone to whoever follows it, said
    /// once (it was said nothing: the old file's state stood); a file back is read afresh.
    #[test]
    fn a_name_that_gives_nothing_to_read_is_missing_once() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        for what in ["fifo", "folder"] {
            std::fs::write(&p, b"a\n").unwrap();
            let mut f = Follower::new(p.clone(), 0);
            assert_eq!(texts(f.poll().0), vec!["a"]);
            std::fs::remove_file(&p).unwrap();
            if what == "fifo" {
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &p,
                    rustix::fs::FileType::Fifo,
                    rustix::fs::Mode::from_raw_mode(0o600),
                    0,
                )
                .unwrap();
            } else {
                std::fs::create_dir(&p).unwrap();
            }
            assert_eq!(
                f.poll().1,
                vec![Notice::Replaced, Notice::Missing],
                "{what}"
            );
            assert_eq!(f.poll().1, vec![], "{what}: said again");
            if what == "fifo" {
                std::fs::remove_file(&p).unwrap();
            } else {
                std::fs::remove_dir(&p).unwrap();
            }
            std::fs::write(&p, b"b\n").unwrap();
            let (l, n) = f.poll();
            assert_eq!((texts(l), n), (vec!["b".to_string()], vec![Notice::Opened]));
            std::fs::remove_file(&p).unwrap();
            assert_eq!(f.poll().1, vec![Notice::Missing], "{what}");
            std::fs::remove_file(&p).ok();
        }
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

    /// A line longer than the cap that arrives whole in one read (made from the chunk, not
    /// through the partial line) is cut and counted the same way, and the lines around it and
    /// an empty line are whole.
    #[test]
    fn a_long_line_read_whole_is_cut_as_a_partial_one_is() {
        use crate::monitor::line::LINE_MAX;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        let mut f = Follower::new(p.clone(), 0);
        let mut bytes = b"before\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'y', LINE_MAX + 10));
        bytes.extend_from_slice(b"\n\nafter \xff\n");
        std::fs::write(&p, &bytes).unwrap();
        let mut lines = Vec::new();
        loop {
            lines.extend(f.poll_lines().0);
            if !f.behind() {
                break;
            }
        }
        let got: Vec<(usize, u64)> = lines.iter().map(|l| (l.text.len(), l.cut)).collect();
        assert_eq!(got, [(6, 0), (LINE_MAX, 10), (0, 0), (9, 0)]);
        assert_eq!(lines[3].text, "after \u{fffd}");
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
