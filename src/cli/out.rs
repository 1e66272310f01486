//! Where the headless commands write: every line of stdout and stderr goes through here.
//!
//! Two things are decided in this one place. A reader that goes away (`tt-ha status | head`, a
//! closed pipe) is not an error of the command: Rust ignores SIGPIPE, so a write to a closed pipe
//! returns `EPIPE`, on which `println!` panics. Here a failed write marks the stream closed and
//! later writes to it are dropped, so the command carries on and exits with its own code; `apply`
//! and `rollback` are never interrupted midway by their output (see `run_cmd`). And no raw
//! control byte reaches a terminal: text goes through [`crate::display::text`], JSON through
//! [`crate::display::json_safe`] (still valid JSON, the same value).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// One of the two output streams.
#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

impl Stream {
    fn closed(self) -> &'static AtomicBool {
        match self {
            Stream::Out => &STDOUT_CLOSED,
            Stream::Err => &STDERR_CLOSED,
        }
    }

    fn write(self, text: &str) -> io::Result<()> {
        match self {
            Stream::Out => {
                let mut out = io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()
            }
            Stream::Err => {
                let mut err = io::stderr().lock();
                err.write_all(text.as_bytes())?;
                err.flush()
            }
        }
    }
}

/// Writes `text` (already safe for a terminal) unless the stream is closed; a failure closes it.
fn emit(stream: Stream, text: &str) {
    if stream.closed().load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = stream.write(text) {
        stream.closed().store(true, Ordering::Relaxed);
        // A reader that left is normal; any other failure (a full disk behind a redirection) is
        // worth one line where it can still be read.
        if matches!(stream, Stream::Out) && e.kind() != io::ErrorKind::BrokenPipe {
            emit(
                Stream::Err,
                &format!("tt-ha: cannot write to standard output ({e}); output stops here\n"),
            );
        }
    }
}

/// Prints free text to stdout, escaped for a terminal (the caller adds newlines).
pub fn print(text: &str) {
    emit(Stream::Out, &crate::display::text(text));
}

/// Prints JSON lines already made safe for a terminal (each line by `display::json_safe`, as
/// [`json_line`] does, or all printable ASCII): written as they are, not scanned a second time.
pub fn print_json_lines(text: &str) {
    emit(Stream::Out, text);
}

/// Prints free text to stderr, escaped for a terminal (the caller adds newlines).
pub fn eprint(text: &str) {
    emit(Stream::Err, &crate::display::text(text));
}

/// Prints `value` as one line of JSON, safe for a terminal.
pub fn json_line(value: &impl serde::Serialize) -> serde_json::Result<()> {
    let text = crate::display::json_safe(serde_json::to_string(value)?);
    emit(Stream::Out, &(text + "\n"));
    Ok(())
}

/// Prints `value` as indented JSON, safe for a terminal.
pub fn json_pretty(value: &impl serde::Serialize) -> serde_json::Result<()> {
    let text = crate::display::json_safe(serde_json::to_string_pretty(value)?);
    emit(Stream::Out, &(text + "\n"));
    Ok(())
}

/// True once a write to stdout has failed (its reader went away): a command that only prints
/// (`monitor`) can stop.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// `println!` for the commands: formats, escapes, never panics.
macro_rules! outln {
    () => {
        $crate::cli::out::print("\n")
    };
    ($($arg:tt)*) => {
        $crate::cli::out::print(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for the commands.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::print(&format!($($arg)*))
    };
}

/// `eprintln!` for the commands.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::out::eprint(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` for the commands (prompts).
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::cli::out::eprint(&format!($($arg)*))
    };
}

pub(crate) use {err, errln, out, outln};
