//! Reads that never block for good: each waits at most a fifth of a second at a time for data,
//! then looks at the stop flag (Ctrl-C, SIGTERM, the app's Esc) and at how long the other end
//! has been silent. A server that stops answering, or a command that sleeps, can then neither
//! hang `verify` nor make it ignore a stop.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long one wait for data lasts before the flag is looked at again.
const TICK: Duration = Duration::from_millis(200);

/// What ends a read that waits: a stop, or (for a server) silence this long.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Set to stop: a waiting read ends with [`stopped`].
    pub stop: Arc<AtomicBool>,
    /// The longest silence of the other end; `None`: no limit (a command may be slow).
    pub silence: Option<Duration>,
}

impl Limits {
    /// True once a stop was asked for.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// The error a read ends with on a stop (never `Interrupted`: `read_until` would retry it).
pub fn stopped() -> io::Error {
    io::Error::other("stopped (Ctrl-C, SIGTERM or the app's stop)")
}

/// True when `e` is the error of a stop.
pub fn is_stop(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Other && e.to_string() == stopped().to_string()
}

/// A reader whose every read wakes to look at its [`Limits`].
pub struct Woken<R> {
    inner: R,
    limits: Limits,
    /// True when `inner` ends its own reads after [`TICK`] (a socket's read timeout): then
    /// no `poll` is needed before each read, one system call less per read.
    ticks: bool,
}

impl<R> Woken<R> {
    /// `inner`, read under `limits`.
    pub fn new(inner: R, limits: Limits) -> Woken<R> {
        Woken {
            inner,
            limits,
            ticks: false,
        }
    }
}

impl Woken<std::net::TcpStream> {
    /// A socket read under `limits`: its own read timeout is set to [`TICK`].
    pub fn socket(inner: std::net::TcpStream, limits: Limits) -> io::Result<Self> {
        inner.set_read_timeout(Some(TICK))?;
        Ok(Woken {
            inner,
            limits,
            ticks: true,
        })
    }
}

impl<R: Read + AsFd> Read for Woken<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let waited = Instant::now();
        loop {
            if self.limits.stopped() {
                return Err(stopped());
            }
            if self.ticks {
                match self.inner.read(buf) {
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    other => return other,
                }
            } else if ready(&self.inner)? {
                return self.inner.read(buf);
            }
            if self.limits.silence.is_some_and(|s| waited.elapsed() >= s) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no answer for {} s", waited.elapsed().as_secs()),
                ));
            }
        }
    }
}

/// Whether `fd` has data (or its end, or an error) to read, waiting up to [`TICK`].
fn ready(fd: &impl AsFd) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    let tick = Timespec {
        tv_sec: 0,
        tv_nsec: TICK.as_nanos() as i64,
    };
    match poll(&mut fds, Some(&tick)) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
