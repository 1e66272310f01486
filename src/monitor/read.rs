//! Reading a whole message file into a node's state, fast and in constant memory.
//!
//! The file is read in blocks of whole lines. Parsing and classifying a line (the expensive,
//! pure part) happens on worker threads, a block each; the state is then changed line by line,
//! in file order, on the calling thread, which also feeds the splitter the lines that are not
//! one whole message. The result is exactly that of reading the lines one after another; small
//! files are read that way, on the calling thread alone.
//!
//! Memory is bounded whatever the file holds: a line is kept up to the line cap
//! ([`LINE_MAX`]) and the rest of it counted, and a block holds at most [`BLOCK_LINES`] lines.

use super::classify::{Event, Heads, classify, frequent_at};
use super::line::{LINE_MAX, floor_str};
use super::parse::{self, Splitter, Stamp};
use super::state::NodeState;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Bytes per block: small enough to stay in a core's cache between the read and the parse,
/// large enough that handing blocks between threads costs little, and filled by real lines
/// (about 120 bytes) before [`BLOCK_LINES`] of them, so a block ends at the last line end read
/// and only an unfinished line is carried to the next one.
const BLOCK: usize = 512 << 10;
/// Lines per block at most: a block of empty lines would otherwise be half a million items.
const BLOCK_LINES: usize = 8192;
/// The least a read asks for while lines are short.
const MIN_READ: usize = 4096;
/// Below this size, threads cost more than they save.
const PARALLEL_FROM: u64 = 8 << 20;
/// Worker threads; the calling thread applies while they parse, and a reader thread reads.
const WORKERS: usize = 2;
// A block's line offsets are kept in 32 bits ([`Item`]): a block, with the unfinished line
// carried into it, stays far below 4 GiB.
const _: () = assert!(BLOCK + LINE_MAX < u32::MAX as usize);

/// A line, pre-classified by a worker. `start..end` is its kept text in the block (a block is
/// far below 4 GiB: offsets fit in 32 bits). Kept small: a block's items are written on one
/// core and read on another, and their bytes are most of what crosses between them.
enum Item {
    /// One whole message: its stamp, its role column where it names one, its event.
    Message {
        start: u32,
        end: u32,
        stamp: Stamp,
        role: RoleColumn,
        event: Event,
    },
    /// Anything else: the splitter decides (continuations, several messages on one line).
    Raw { start: u32, end: u32 },
}

/// The role columns the state reads ([`NodeState::note_event`]), in one byte.
#[derive(Clone, Copy)]
enum RoleColumn {
    Master,
    Client,
    Other,
}

impl RoleColumn {
    fn of(role: &str) -> RoleColumn {
        match NodeState::role_column(role) {
            Some("MASTER") => RoleColumn::Master,
            Some(_) => RoleColumn::Client,
            None => RoleColumn::Other,
        }
    }

    fn text(self) -> Option<&'static str> {
        match self {
            RoleColumn::Master => Some("MASTER"),
            RoleColumn::Client => Some("CLIENT"),
            RoleColumn::Other => None,
        }
    }
}

/// The buffers of a block, handed back for reuse: allocating and zeroing them for each block
/// costs more than parsing (page faults).
#[derive(Default)]
struct Buffers {
    /// The bytes read.
    buf: Vec<u8>,
    /// The block's lines, pre-classified.
    items: Vec<Item>,
    /// (item index, bytes dropped) for the lines longer than the line cap.
    cuts: Vec<(usize, u64)>,
}

/// A block of whole lines: `len` bytes of `bufs.buf`; its first line also lost `first_cut`
/// bytes that were never held (a line longer than a read).
struct Block {
    seq: u64,
    bufs: Buffers,
    len: usize,
    first_cut: u64,
}

/// A block and its lines, pre-classified.
struct Parsed {
    block: Block,
    utf8: bool,
}

fn parse_block(mut block: Block, message_file: &str) -> Parsed {
    let Buffers { buf, items, cuts } = &mut block.bufs;
    items.clear();
    cuts.clear();
    let bytes = &buf[..block.len];
    // Checked once for the block; '\n' is ASCII, so slicing at it keeps characters whole.
    // (`simdutf8`'s check: the same answer as the standard library's in a fraction of its
    // instructions, on text that is nearly all ASCII.)
    let text = simdutf8::basic::from_utf8(bytes).ok();
    let mut prefixes = parse::PrefixCache::default();
    let mut heads = Heads::default();
    let mut s = 0;
    while s < bytes.len() {
        // The frequent lines, read where they lie: the prefix from what changed since the line
        // before, the body by its fixed bytes, and the line's end found on the way (no
        // separate search for it, no second look at the bytes).
        if let Some(text) = text
            && (s > 0 || block.first_cut == 0)
            && let Some(item) = fast_line(text, s, &prefixes, &heads)
        {
            s = item.1 + 1;
            items.push(item.0);
            continue;
        }
        // Every block ends with a line end.
        let nl = s + memchr::memchr(b'\n', &bytes[s..]).unwrap_or(bytes.len() - s);
        general_line(
            bytes,
            (s, nl),
            text,
            block.first_cut,
            (&mut prefixes, &mut heads),
            (items, cuts),
            message_file,
        );
        s = nl + 1;
    }
    Parsed {
        utf8: text.is_some(),
        block,
    }
}

/// A frequent line at `bytes[s..]` recognised by [`frequent_at`] after a prefix the cache
/// knows: its item and the index of its `\n`. `None` leaves the line to [`general_line`].
#[inline(always)]
fn fast_line(
    text: &str,
    s: usize,
    prefixes: &parse::PrefixCache,
    heads: &Heads,
) -> Option<(Item, usize)> {
    let bytes = text.as_bytes();
    let (stamp, (rs, re), body) = prefixes.known_at(&bytes[s..])?;
    let (event, nl) = frequent_at(bytes, s + body, heads)?;
    // A line longer than the cap is cut before it is read: the general path does that.
    if nl - s > LINE_MAX {
        return None;
    }
    let item = Item::Message {
        start: s as u32,
        end: nl as u32,
        stamp,
        role: RoleColumn::of(text.get(s + rs..s + re)?),
        event,
    };
    Some((item, nl))
}

/// Any line (`bytes[s..nl]`, without its `\n`), read as a line on its own: the text (borrowed
/// where the block is valid UTF-8, cut at the line cap), the prefix, the event; the cache of
/// per-record heads learns from it.
fn general_line(
    bytes: &[u8],
    (s, nl): (usize, usize),
    text: Option<&str>,
    block_cut: u64,
    (prefixes, heads): (&mut parse::PrefixCache, &mut Heads),
    (items, cuts): (&mut Vec<Item>, &mut Vec<(usize, u64)>),
    message_file: &str,
) {
    // Valid UTF-8 (the usual case) is borrowed as is, cut at the line cap on a character
    // boundary; anything else is read lossily.
    let (line, e) = match text {
        Some(t) => {
            let kept = floor_str(&t[s..nl], LINE_MAX);
            (std::borrow::Cow::Borrowed(kept), s + kept.len())
        }
        None => {
            let e = nl.min(s + LINE_MAX);
            (String::from_utf8_lossy(&bytes[s..e]), e)
        }
    };
    let first_cut = if items.is_empty() { block_cut } else { 0 };
    let cut = (nl - e) as u64 + first_cut;
    if cut > 0 {
        cuts.push((items.len(), cut));
    }
    let (start, end) = (s as u32, e as u32);
    items.push(match prefixes.simple(&line) {
        Some((stamp, role, body)) => {
            let event = classify(body, message_file);
            if matches!(
                event,
                Event::LogSent { .. } | Event::LogReceived { .. } | Event::Message { .. }
            ) {
                heads.learn(body);
            }
            Item::Message {
                start,
                end,
                stamp,
                role: RoleColumn::of(role),
                event,
            }
        }
        None => Item::Raw { start, end },
    });
}

/// Applies a parsed block to the state, line by line, in order.
struct Applier<'a> {
    state: NodeState,
    splitter: Splitter,
    line_no: usize,
    consumed: u64,
    message_file: &'a str,
}

impl Applier<'_> {
    fn apply(&mut self, mut p: Parsed) -> Buffers {
        let Buffers { buf, items, cuts } = &mut p.block.bufs;
        let bytes = &buf[..p.block.len];
        let mut cuts = cuts.iter().peekable();
        // Items are applied where they lie (by reference) and dropped together: moving each
        // out of the block and through the state cost more than applying it.
        for (i, item) in items.iter().enumerate() {
            self.line_no += 1;
            if let Some((_, cut)) = cuts.next_if(|(at, _)| *at == i) {
                self.state.note_cut(self.line_no, *cut);
            }
            let (s, e) = match *item {
                // Most lines are one whole message, applied as classified. While the splitter
                // holds a message, the line goes to it instead (it may complete that message).
                Item::Message {
                    stamp,
                    role,
                    ref event,
                    ..
                } if !self.splitter.holding() => {
                    self.state
                        .note_event(self.line_no, Some(stamp), role.text(), event);
                    continue;
                }
                Item::Message { start, end, .. } | Item::Raw { start, end } => {
                    (start as usize, end as usize)
                }
            };
            let text = if p.utf8 {
                std::borrow::Cow::Borrowed(std::str::from_utf8(&bytes[s..e]).unwrap_or_default())
            } else {
                String::from_utf8_lossy(&bytes[s..e])
            };
            for m in self.splitter.push(self.line_no, &text) {
                self.state.apply(&m, self.message_file);
            }
        }
        items.clear();
        self.consumed += p.block.len as u64 + p.block.first_cut;
        std::mem::take(&mut p.block.bufs)
    }
}

/// Where a block read into `b` ends: after its [`BLOCK_LINES`]th line, or after its last whole
/// line; `None` when `b` holds no line end.
fn block_end(b: &[u8]) -> Option<usize> {
    // Counting line ends is one SIMD pass; walking them one by one (a call per line) cost as
    // much as a tenth of the parse. The walk is left for the rare block of very short lines.
    let within_cap = memchr::memchr_iter(b'\n', b).count() <= BLOCK_LINES;
    if within_cap {
        return memchr::memrchr(b'\n', b).map(|p| p + 1);
    }
    memchr::memchr_iter(b'\n', b)
        .nth(BLOCK_LINES - 1)
        .map(|p| p + 1)
}

/// `f.read` into `buf`, again when interrupted.
fn read_some(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match f.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Reads `f` into blocks of whole lines, reusing the buffers `spare` hands back, and passes
/// each to `send` until it says stop. An unfinished last line is never sent. A line longer than
/// the line cap keeps its start: the rest is counted (the block's `first_cut`), never held.
fn read_blocks(
    f: &mut std::fs::File,
    block_size: usize,
    spare: &mut dyn FnMut() -> Buffers,
    send: &mut dyn FnMut(Block) -> bool,
) -> std::io::Result<()> {
    // Bytes read but not sent: the start of an unfinished line (at most LINE_MAX bytes), or
    // whole lines beyond a block's BLOCK_LINES; and the bytes dropped from that line.
    let mut carry: Vec<u8> = Vec::new();
    let mut carry_cut: u64 = 0;
    let mut seq = 0;
    let mut unsent: Option<Buffers> = None;
    // How much a read asks for: a block's worth, less while lines are so short that a block
    // fills with BLOCK_LINES of them first (so the carry stays small).
    let mut want = block_size;
    loop {
        let mut bufs = unsent.take().unwrap_or_else(&mut *spare);
        let need = carry.len() + want;
        if bufs.buf.len() < need {
            bufs.buf.resize(need, 0);
        }
        bufs.buf[..carry.len()].copy_from_slice(&carry);
        let mut filled = carry.len();
        carry.clear();
        // Whole lines already at hand are sent first: the carry never grows by reading.
        if memchr::memchr(b'\n', &bufs.buf[..filled]).is_none() {
            let n = read_some(f, &mut bufs.buf[filled..filled + want])?;
            if n == 0 {
                return Ok(());
            }
            filled += n;
        }
        match block_end(&bufs.buf[..filled]) {
            Some(end) => {
                want = if filled - end > end {
                    end.max(MIN_READ)
                } else {
                    (want * 2).min(block_size)
                };
                carry.extend_from_slice(&bufs.buf[end..filled]);
                let block = Block {
                    seq,
                    bufs,
                    len: end,
                    first_cut: std::mem::take(&mut carry_cut),
                };
                seq += 1;
                if !send(block) {
                    return Ok(());
                }
            }
            None => {
                // No line end yet: keep the line's start, count the rest, read on.
                let keep = filled.min(LINE_MAX);
                carry_cut += (filled - keep) as u64;
                carry.extend_from_slice(&bufs.buf[..keep]);
                unsent = Some(bufs);
            }
        }
    }
}

/// Reads the whole file at `path` (whole lines only) into a state for `role`; returns the
/// state and the bytes consumed, so a follower can continue exactly there.
pub fn read_file(
    path: &Path,
    role: Option<&str>,
    message_file: &str,
) -> std::io::Result<(NodeState, u64)> {
    read_file_keeping(path, role, message_file, true)
}

/// [`read_file`] for a reader that shows no dashboard (`tt-ha classify`): the same state but
/// for the dashboard's record (timeline, activity per second), which is not kept. That record
/// cost a tenth of the work of applying each line.
pub fn read_file_without_dashboard(
    path: &Path,
    role: Option<&str>,
    message_file: &str,
) -> std::io::Result<(NodeState, u64)> {
    read_file_keeping(path, role, message_file, false)
}

fn read_file_keeping(
    path: &Path,
    role: Option<&str>,
    message_file: &str,
    dashboard: bool,
) -> std::io::Result<(NodeState, u64)> {
    let mut f = crate::atomic::open_read(path)?;
    let mut from = Progress::new(role);
    from.state.keep_dashboard(dashboard);
    let read = read_on(&mut f, from, message_file)?;
    Ok((read.finished_state(message_file), read.consumed))
}

/// How far a file has been read: the state, the message the splitter still holds (it may get
/// continuation lines), the lines and bytes consumed (whole lines only). Reading on from a
/// `Progress` over what was appended gives exactly the state a read of the whole file gives.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// The state of the messages completed so far.
    #[serde(with = "super::state::saved")]
    pub state: NodeState,
    /// The message that may still get continuation lines.
    pub splitter: Splitter,
    /// Physical lines consumed.
    pub line_no: usize,
    /// Bytes consumed (whole lines only): where reading goes on.
    pub consumed: u64,
}

impl Progress {
    /// Nothing read yet, for a node whose role is known beforehand (or not).
    pub fn new(role: Option<&str>) -> Progress {
        Progress {
            state: NodeState::with_role(role),
            splitter: Splitter::default(),
            line_no: 0,
            consumed: 0,
        }
    }

    /// Why this cannot be the reading of `consumed` bytes of a message file (a seek file edited
    /// by hand, or damaged): a line holds at least its newline, and every message counted
    /// (5.3–6.1 may write several on one line) holds at least a byte. `None` when it can be.
    /// (Counts past these bounds would also overflow as the read goes on.)
    pub fn implausible(&self) -> Option<String> {
        let (lines, bytes) = (self.line_no as u64, self.consumed);
        let s = &self.state;
        let benign = s.benign.values().fold(0u64, |a, n| a.saturating_add(*n));
        [
            ("lines", lines),
            ("messages", s.messages),
            ("restarts", s.restarts),
            ("errors", s.errors_total),
            ("connection failures", s.connection_failures),
            ("failed elections", s.failed_elections),
            ("benign messages", benign),
            ("bytes cut", s.truncated_bytes),
        ]
        .into_iter()
        .find(|(_, n)| *n > bytes)
        .map(|(what, n)| format!("{n} {what} in {bytes} bytes"))
        .or_else(|| {
            (s.truncated_lines > lines)
                .then(|| format!("{} cut lines in {lines} lines", s.truncated_lines))
        })
    }

    /// The state with the held message applied: what a whole read of the file says now.
    pub fn finished_state(&self, message_file: &str) -> NodeState {
        let mut state = self.state.clone();
        if let Some(m) = self.splitter.clone().flush() {
            state.apply(&m, message_file);
        }
        state
    }
}

/// Reads the open file `f` on from `from.consumed` to its end (whole lines only) and returns
/// how far it got. The caller makes sure the file is the one `from` was read from, unchanged up
/// to there.
pub fn read_on(
    f: &mut std::fs::File,
    from: Progress,
    message_file: &str,
) -> std::io::Result<Progress> {
    let size = f.metadata()?.len();
    let parallel = size.saturating_sub(from.consumed) >= PARALLEL_FROM;
    read_on_sized(f, from, message_file, BLOCK, parallel)
}

/// [`read_on`] with blocks of about `block_size` bytes, threaded or not: the tests read with
/// tiny blocks so that lines and the literals the parser looks for are cut at block edges.
fn read_on_sized(
    f: &mut std::fs::File,
    from: Progress,
    message_file: &str,
    block_size: usize,
    parallel: bool,
) -> std::io::Result<Progress> {
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(from.consumed))?;
    let mut app = Applier {
        state: from.state,
        splitter: from.splitter,
        line_no: from.line_no,
        consumed: from.consumed,
        message_file,
    };
    if !parallel {
        let spare = std::cell::RefCell::new(Buffers::default());
        read_blocks(f, block_size, &mut || spare.take(), &mut |b| {
            *spare.borrow_mut() = app.apply(parse_block(b, message_file));
            true
        })?;
    } else {
        read_parallel(f, &mut app, block_size)?;
    }
    // A partial last line (no newline yet) is left for the next read, which will see it whole.
    Ok(Progress {
        state: app.state,
        splitter: app.splitter,
        line_no: app.line_no,
        consumed: app.consumed,
    })
}

fn read_parallel(
    f: &mut std::fs::File,
    app: &mut Applier,
    block_size: usize,
) -> std::io::Result<()> {
    let message_file = app.message_file;
    let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Buffers>();
    let (done_tx, done_rx) = sync_channel::<Parsed>(WORKERS);
    std::thread::scope(|scope| {
        let mut to_workers: Vec<SyncSender<Block>> = Vec::new();
        for _ in 0..WORKERS {
            let (tx, rx): (SyncSender<Block>, Receiver<Block>) = sync_channel(1);
            to_workers.push(tx);
            let done = done_tx.clone();
            scope.spawn(move || {
                for b in rx {
                    if done.send(parse_block(b, message_file)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let reader = scope.spawn(move || {
            let mut next = 0;
            read_blocks(
                f,
                block_size,
                &mut || spare_rx.try_recv().unwrap_or_default(),
                &mut |b| {
                    next += 1;
                    to_workers[next % WORKERS].send(b).is_ok()
                },
            )
        });
        // Blocks come back in any order; they are applied in file order.
        let mut waiting: BTreeMap<u64, Parsed> = BTreeMap::new();
        let mut expect = 0;
        for p in done_rx {
            waiting.insert(p.block.seq, p);
            while let Some(p) = waiting.remove(&expect) {
                let _ = spare_tx.send(app.apply(p));
                expect += 1;
            }
        }
        reader.join().expect("the reader thread does not panic")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;
    use std::io::Write;

    /// A line longer than the cap, inside a block or longer than any read, keeps its start and
    /// counts the rest; the bytes consumed still end exactly after the last whole line.
    #[test]
    fn long_lines_are_cut_and_counted_in_both_readers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        for size in [3 * LINE_MAX, 3 * BLOCK + 17, PARALLEL_FROM as usize + BLOCK] {
            let mut bytes = b"[1:1][7/8] CLIENT: Start-up is done [1][28]\n".to_vec();
            bytes.extend(std::iter::repeat_n(b'x', size));
            bytes.extend_from_slice(
                "\u{e9}\n[1:2][7/8] CLIENT: BDB1234 after\nunfinished".as_bytes(),
            );
            std::fs::write(&p, &bytes).unwrap();
            let (s, consumed) = read_file(&p, None, "$DB_Msg.txt").unwrap();
            assert_eq!(
                consumed,
                bytes.len() as u64 - "unfinished".len() as u64,
                "{size}"
            );
            assert_eq!(s.truncated_lines, 1, "{size}");
            assert_eq!(s.first_truncated_line, Some(2), "{size}");
            assert_eq!(s.truncated_bytes, (size + 2 - LINE_MAX) as u64, "{size}");
            assert!(s.startup_done, "{size}");
            assert_eq!(s.errors.last().map(|e| e.0), Some(3), "{size}");
        }
    }

    /// A line that the fast path would read as a frequent one (a known prefix, a chatty body),
    /// but longer than the line cap by its microseconds, is cut at the cap first, as a line-by-
    /// line read cuts it: its kept start is no message of its own.
    #[test]
    fn a_frequent_line_longer_than_the_cap_is_cut_first() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        let mut bytes = b"[1795321836:1][1/2] CLIENT: rep_apply: Set apply_th 1\n".to_vec();
        bytes.extend_from_slice(b"[1795321836:");
        bytes.extend(std::iter::repeat_n(b'7', LINE_MAX + 10));
        bytes.extend_from_slice(b"][1/2] CLIENT: rep_apply: Set apply_th 2\n");
        std::fs::write(&p, &bytes).unwrap();
        let mut f = std::fs::File::open(&p).unwrap();
        let read = read_on_sized(&mut f, Progress::new(None), "$DB_Msg.txt", BLOCK, false)
            .unwrap()
            .finished_state("$DB_Msg.txt");
        // What a line-by-line read of the kept start gives (the reference reads lines whole).
        let first = b"[1795321836:1][1/2] CLIENT: rep_apply: Set apply_th 1\n".len();
        let mut kept = bytes[..first + LINE_MAX].to_vec();
        kept.push(b'\n');
        let (mut state, _) = line_by_line(&kept);
        state.note_cut(
            2,
            10 + b"][1/2] CLIENT: rep_apply: Set apply_th 2".len() as u64 + 12,
        );
        assert_eq!(read.truncated_lines, 1);
        assert_eq!(read.last_stamp, Some(1795321836.000001));
        assert_eq!(format!("{read:?}"), format!("{state:?}"));
    }

    /// A read without the dashboard's record (`tt-ha classify`) gives the same state in every
    /// other field, threaded or not, and keeps no record; with it, the record is kept.
    #[test]
    fn a_read_without_the_dashboard_differs_only_by_it() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("$DB_Msg.txt");
        for copies in [1, 200] {
            let run = std::fs::read(fixtures.join("5.3-f-replicant.txt")).unwrap();
            std::fs::write(&path, run.repeat(copies)).unwrap();
            let (mut with, a) = read_file(&path, None, "$DB_Msg.txt").unwrap();
            let (mut without, b) = read_file_without_dashboard(&path, None, "$DB_Msg.txt").unwrap();
            assert_eq!(a, b);
            let none = crate::monitor::dashboard::Dash::default();
            assert_ne!(
                with.dash.timeline, none.timeline,
                "the full read keeps the timeline"
            );
            assert_eq!(without.dash.timeline, none.timeline, "{copies}");
            assert_eq!(without.dash.activity, none.activity, "{copies}");
            assert_eq!(
                serde_json::to_string(&without).unwrap(),
                serde_json::to_string(&with).unwrap()
            );
            with.dash = Default::default();
            without.dash = Default::default();
            without.keep_dashboard(true);
            assert_eq!(format!("{without:?}"), format!("{with:?}"), "{copies}");
        }
    }

    /// The threaded reader gives exactly the state the line-by-line reader gives, on a file of
    /// real runs large enough to be read in parallel, with the awkward cases mixed in: two
    /// messages on one line, continuation lines, invalid UTF-8, CRLF, and an unfinished last
    /// line.
    #[test]
    fn parallel_and_sequential_reads_agree() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("$DB_Msg.txt");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut written = 0u64;
        let runs = [
            "5.3-a-replicant.txt",
            "6.1-a-replicant.txt",
            "5.3-d-replicant.txt",
        ];
        let mut k = 0;
        while written < PARALLEL_FROM + (3 << 20) {
            let bytes = std::fs::read(fixtures.join(runs[k % runs.len()])).unwrap();
            out.write_all(&bytes).unwrap();
            // Awkward lines between the runs (the invalid bytes come before a continuation).
            out.write_all(b"[1795321836:1][1/2] CLIENT: Start-up is done [1][28][1795321836:2][1/2] CLIENT: EOF on connection to site 10.0.0.1:5100\r\n").unwrap();
            out.write_all(b"[1795321836:3][1/2] CLIENT: `No such file or directory' (2) on connection to site\n10.0.0.1:5100\n").unwrap();
            // Order matters here: an error held by the splitter (for a continuation that does
            // not come), then another error.
            out.write_all(b"[1795321836:3][1/2] CLIENT: `BDB1234 first error\n")
                .unwrap();
            out.write_all(b"[1795321836:3][1/2] CLIENT: BDB5678 second error\n")
                .unwrap();
            out.write_all(
                b"[1795321836:4][1/2] CLIENT: bad \xff\xfe bytes\nand its continuation\n",
            )
            .unwrap();
            written += bytes.len() as u64 + 240;
            k += 1;
        }
        out.write_all(b"[1795321836:5][1/2] CLIENT: unfinished")
            .unwrap();
        out.flush().unwrap();
        drop(out);
        let (par, par_bytes) = read_file(&path, None, "$DB_Msg.txt").unwrap();
        let (state, consumed) = line_by_line(&std::fs::read(&path).unwrap());
        assert_eq!(par_bytes, consumed);
        assert_eq!(
            par_bytes,
            std::fs::metadata(&path).unwrap().len()
                - b"[1795321836:5][1/2] CLIENT: unfinished".len() as u64
        );
        assert_eq!(format!("{par:?}"), format!("{state:?}"));
        assert!(par.messages > 100_000, "{}", par.messages);
        let errors: Vec<&str> = par.errors.iter().map(|(_, t)| t.as_str()).collect();
        assert!(
            errors.ends_with(&["BDB1234 first error", "BDB5678 second error"]),
            "{errors:?}"
        );
    }

    /// The reference: one line after another, as simply as it can be written. Returns the state
    /// and the bytes of whole lines.
    fn line_by_line(bytes: &[u8]) -> (NodeState, u64) {
        let mut state = NodeState::with_role(None);
        let mut splitter = Splitter::default();
        let mut consumed = 0u64;
        for (i, raw) in bytes.split_inclusive(|&c| c == b'\n').enumerate() {
            let Some(raw) = raw.strip_suffix(b"\n") else {
                break;
            };
            consumed += raw.len() as u64 + 1;
            let text = String::from_utf8_lossy(raw);
            match parse::simple(&text) {
                Some((stamp, role, body)) if !splitter.holding() => {
                    state.apply_parts(i + 1, Some(stamp), Some(role), body, "$DB_Msg.txt");
                }
                _ => {
                    for m in splitter.push(i + 1, &text) {
                        state.apply(&m, "$DB_Msg.txt");
                    }
                }
            }
        }
        if let Some(m) = splitter.flush() {
            state.apply(&m, "$DB_Msg.txt");
        }
        (state, consumed)
    }

    /// Pieces the arbitrary files of the property below are made of: real lines of every kind
    /// the block parser tells apart by a literal, those literals alone (so that a block edge or a
    /// random byte can fall inside one), and awkward bytes.
    const PIECES: &[&[u8]] = &[
        b"[1795321836:1][1/2] CLIENT: ",
        b"[1795321836:2][1/2] MASTER: ",
        b"[1795321836:2][3/2] TapeTrack: ",
        b"m rep_send_message: msgv = 7 logv 19 gen = 1 eid -1, type log, LSN [1][28] \n",
        b"m rep_send_message: msgv = 7 logv 19 gen = 1 eid 0, type log, LSN [1][28]  nobuf resend\n",
        b"r rep_process_message: msgv = 7 logv 19 gen = 1 eid 0, type log, LSN [1][3304]  resend\n",
        b"r rep_process_message: msgv = 7 logv 19 gen = 1 eid 0, type page, LSN [1][28]  resend\n",
        b"FILEDONE: have 3 pages. Need 6.\n",
        b"PAGE: Received page 3 from file 1\n",
        b"rep_apply: Set apply_th 1\n",
        b"Returning ISPERM [1][4096], cmp = 1\n",
        b"Start-up is done [1][28]\n",
        b"Update setup for 3 files.\n",
        b"Next file 1: pgsize 4096, maxpg 5\n",
        b"NEXTFILE: LOG_REQ from LSN [1][28] to [1][4096]\n",
        b"EID 1 is assigned for site 10.0.0.1:5100\n",
        b"`Connection refused' (111) on connection to site 10.0.0.1:5100\n",
        b"BDB1234 an error\n",
        // Lines the fast path reads by fixed bytes, and lines that begin like them but are
        // not what they seem (a second message, a `/`, an `=` that makes a per-record line of
        // it, a number too long, a head with a `/`, a kind the fast path leaves alone).
        b"m rep_send_message: msgv = 7 logv 19 gen = 1 eid 0, type dupmaster, LSN [1][28] \n",
        b"m rep_send_message: msgv = 7 logv 19 gen = 1 eid 0, type page, LSN [1][28] \n",
        b"m rep_send_message: msgv = 7 logv 19 gen = 1 eid 0 1, type log, LSN [1][28] \n",
        b"m rep_send_message: msgv = 7 logv 19 gen = 1 eid 0, type lo/g, LSN [1][28] \n",
        b"m rep_send_message: msgv = 7 logv 19 gen = 1 eid 0, type log, LSN [1][28] a/b\n",
        b"/var/db rep_process_message: msgv = 7 logv 19 gen = 1 eid 0, type log, LSN [1][9] \n",
        b"r rep_process_message: msgv = 7 logv 19 gen = 2 eid 0, type log_more, LSN [1][123456789] resend \r\n",
        b"rep_apply: Set apply_th 1 [1795321836:7][1/2] CLIENT: Start-up is done [1][28]\n",
        b"FILEDONE: have 1 pages. Need 6. x rep_send_message: msgv = 7 logv 1 gen = 1 eid -1, type log, LSN [1][2]\n",
        b"FILEDONE: have 12345678901234567890 pages. Need 6.\n",
        b"FILEDONE: have 1 pages. Need 99999999999999999999.\n",
        b"PAGE: Received page \n",
        b"PAGE: Received page 3 from file 1 rep_send_message: msgv = 1 logv 1 gen = 1 eid 0, type log, LSN [1][2]\n",
        b"Returning ISPERM [1][4096] rep_send_message: msgv = 1 logv 1 gen = 1 eid 0, type log, LSN [1][2]\n",
        b"Returning ISPERM [1][40/96], cmp = 1\n",
        b"_message: msgv ",
        b", type log, LSN [",
        b"FILEDONE: have ",
        b"PAGE: Received page ",
        b"Returning ISPERM [",
        b"rep_send_message: msgv = ",
        b"type log, LSN [",
        b"FILEDONE: have ",
        b"Start-up is done [",
        b"[1795321836:",
        b"][1/2] ",
        b"\r\n",
        b"\n",
        b"\0",
        b"\xff\xfe",
        "\u{e9}\u{2028}".as_bytes(),
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(320))]
        /// The block reader, threaded or not and with blocks of any size (lines and the literals
        /// the parser looks for cut at block edges), gives exactly the state and the bytes
        /// consumed that a line-by-line read gives, on arbitrary files made of real lines, their
        /// literals, and arbitrary bytes.
        #[test]
        fn block_reads_agree_with_a_line_by_line_read(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    // A prefix then a piece: runs of lines with the same prefix, which the
                    // block parser reads from the line before's (its fast path).
                    4 => (0..3usize, 0..PIECES.len()).prop_map(|(p, i)| {
                        [PIECES[p], PIECES[i]].concat()
                    }),
                    3 => (0..PIECES.len()).prop_map(|i| PIECES[i].to_vec()),
                    1 => proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
                ],
                0..120,
            ),
            block in 1usize..700,
            parallel in proptest::prelude::any::<bool>(),
        ) {
            let bytes = parts.concat();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("$DB_Msg.txt");
            std::fs::write(&path, &bytes).unwrap();
            let mut f = std::fs::File::open(&path).unwrap();
            let read = read_on_sized(&mut f, Progress::new(None), "$DB_Msg.txt", block, parallel)
                .unwrap();
            let (state, consumed) = line_by_line(&bytes);
            proptest::prop_assert_eq!(read.consumed, consumed);
            proptest::prop_assert_eq!(
                format!("{:?}", read.finished_state("$DB_Msg.txt")),
                format!("{state:?}")
            );
        }
    }
}
