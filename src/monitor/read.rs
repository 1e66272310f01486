//! Reading a whole message file into a node's state, fast and in constant memory.
//!
//! The file is read in blocks of whole lines. Parsing and classifying a line (the expensive,
//! pure part) happens on worker threads, a block each; the state is then changed line by line,
//! in file order, on the calling thread, which also feeds the splitter the lines that are not
//! one whole message. The result is exactly that of reading the lines one after another; small
//! files are read that way, on the calling thread alone.

use super::classify::{Event, classify};
use super::parse::{self, Splitter};
use super::state::NodeState;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Bytes per block: small enough to stay in a core's cache between the read and the parse.
const BLOCK: usize = 1 << 20;
/// Below this size, threads cost more than they save.
const PARALLEL_FROM: u64 = 8 << 20;
/// Worker threads; the calling thread applies while they parse, and a reader thread reads.
const WORKERS: usize = 2;

/// A line, pre-classified by a worker. `start..end` is its text in the block.
enum Item {
    /// One whole message: its stamp, its role column where it names one, its event.
    Message {
        start: usize,
        end: usize,
        stamp: (u64, u64),
        role: Option<&'static str>,
        event: Event,
    },
    /// Anything else: the splitter decides (continuations, several messages on one line).
    Raw { start: usize, end: usize },
}

/// A block of whole lines: the buffer and how much of it is lines, with an empty list for its
/// items. Both are reused from block to block: allocating and zeroing them each time costs more
/// than parsing (page faults).
struct Block {
    seq: u64,
    buf: Vec<u8>,
    len: usize,
    items: Vec<Item>,
}

/// Buffers handed back for reuse.
type Spare = (Vec<u8>, Vec<Item>);

/// A block and its lines, pre-classified.
struct Parsed {
    block: Block,
    utf8: bool,
    items: Vec<Item>,
}

fn parse_block(mut block: Block, message_file: &str) -> Parsed {
    let mut items = std::mem::take(&mut block.items);
    items.clear();
    let bytes = &block.buf[..block.len];
    // Checked once for the block; '\n' is ASCII, so slicing at it keeps characters whole.
    let text = std::str::from_utf8(bytes).ok();
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', bytes) {
        let (s, e) = (start, nl);
        start = nl + 1;
        // Valid UTF-8 (the usual case) is borrowed as is; anything else is read lossily.
        let line = match text {
            Some(t) => std::borrow::Cow::Borrowed(&t[s..e]),
            None => String::from_utf8_lossy(&bytes[s..e]),
        };
        items.push(match parse::simple(&line) {
            Some((stamp, role, body)) => Item::Message {
                start: s,
                end: e,
                stamp,
                // The state reads only these two role columns.
                role: match role {
                    "MASTER" => Some("MASTER"),
                    "CLIENT" => Some("CLIENT"),
                    _ => None,
                },
                event: classify(body, message_file),
            },
            None => Item::Raw { start: s, end: e },
        });
    }
    Parsed {
        utf8: text.is_some(),
        block,
        items,
    }
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
    fn apply(&mut self, mut p: Parsed) -> Spare {
        let bytes = &p.block.buf[..p.block.len];
        for item in p.items.drain(..) {
            self.line_no += 1;
            let (s, e) = match item {
                // Most lines are one whole message, applied as classified. While the splitter
                // holds a message, the line goes to it instead (it may complete that message).
                Item::Message {
                    stamp, role, event, ..
                } if !self.splitter.holding() => {
                    self.state
                        .apply_event(self.line_no, Some(stamp), role, event);
                    continue;
                }
                Item::Message { start, end, .. } | Item::Raw { start, end } => (start, end),
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
        self.consumed += p.block.len as u64;
        (p.block.buf, p.items)
    }
}

/// Reads `f` into blocks of whole lines, reusing the buffers `spare` hands back, and passes
/// each to `send` until it says stop. An unfinished last line is never sent.
fn read_blocks(
    f: &mut std::fs::File,
    spare: &mut dyn FnMut() -> Spare,
    send: &mut dyn FnMut(Block) -> bool,
) -> std::io::Result<()> {
    let mut carry: Vec<u8> = Vec::new();
    let mut seq = 0;
    loop {
        let (mut buf, items) = spare();
        if buf.len() < BLOCK.max(carry.len() * 2) {
            buf.resize(BLOCK.max(carry.len() * 2), 0);
        }
        buf[..carry.len()].copy_from_slice(&carry);
        let mut filled = carry.len();
        let n = loop {
            match f.read(&mut buf[filled..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            return Ok(());
        }
        filled += n;
        carry.clear();
        match memchr::memrchr(b'\n', &buf[..filled]) {
            Some(last) => {
                carry.extend_from_slice(&buf[last + 1..filled]);
                let block = Block {
                    seq,
                    buf,
                    len: last + 1,
                    items,
                };
                seq += 1;
                if !send(block) {
                    return Ok(());
                }
            }
            // No line end yet (a line longer than the buffer): keep it all and read on.
            None => carry.extend_from_slice(&buf[..filled]),
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
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    let mut app = Applier {
        state: NodeState::with_role(role),
        splitter: Splitter::default(),
        line_no: 0,
        consumed: 0,
        message_file,
    };
    if size < PARALLEL_FROM {
        let spare = std::cell::RefCell::new((Vec::new(), Vec::new()));
        read_blocks(&mut f, &mut || spare.take(), &mut |b| {
            *spare.borrow_mut() = app.apply(parse_block(b, message_file));
            true
        })?;
    } else {
        read_parallel(&mut f, &mut app)?;
    }
    // A partial last line (no newline yet) is left for the follower, which will see it whole.
    if let Some(m) = app.splitter.flush() {
        app.state.apply(&m, message_file);
    }
    Ok((app.state, app.consumed))
}

fn read_parallel(f: &mut std::fs::File, app: &mut Applier) -> std::io::Result<()> {
    let message_file = app.message_file;
    let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Spare>();
    let (done_tx, done_rx) = sync_channel::<Parsed>(2 * WORKERS);
    std::thread::scope(|scope| {
        let mut to_workers: Vec<SyncSender<Block>> = Vec::new();
        for _ in 0..WORKERS {
            let (tx, rx): (SyncSender<Block>, Receiver<Block>) = sync_channel(2);
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
    use std::io::Write;

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
        // The reference: one line after another, as simply as it can be written.
        let bytes = std::fs::read(&path).unwrap();
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
}
