//! The server's client protocol, read-only: what `verify` asks a TapeTrack Framework Server
//! (here its stand-in, ttfs-sim) on its client port. A line per request; `VOLUMES` and
//! `STREAM` answer with a line `SCOPE KEY VALUE` per Volume and a last line `END N`; any
//! answer may be a single `ERR …` line. Nothing here sends a write.

use super::VerifyError;
use super::record::{Record, Scope, ScopeFilter};
use super::wake::{Limits, Woken};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The longest answer line read (a longer one is an error, never unbounded memory).
const LINE_MAX: u64 = 1 << 20;

/// How long a connection may take to open (at most: less when the silence limit is less).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection to a server's client port.
pub struct Client {
    reader: BufReader<Woken<TcpStream>>,
    writer: TcpStream,
    /// `NAME (ADDRESS:PORT)`, for messages.
    who: String,
    /// The last request sent, for messages.
    request: String,
    /// Answer lines read for it so far, for messages.
    answer_line: u64,
}

impl Client {
    /// Connects to `address:port` of node `name`; its reads end on a stop or a silence of
    /// `limits`.
    pub fn connect(
        name: &str,
        address: &str,
        port: u16,
        limits: &Limits,
    ) -> Result<Client, VerifyError> {
        let who = format!("{name} ({address}:{port})");
        let fail = |e: std::io::Error| {
            VerifyError::new(format!(
                "cannot reach the client port of {who}: {e}. Is its server running and the port open from this machine? (tt-ha.toml: address, client_port)"
            ))
        };
        let addr = (address, port)
            .to_socket_addrs()
            .map_err(fail)?
            .next()
            .ok_or_else(|| fail(std::io::Error::other("the address resolves to nothing")))?;
        let wait = limits
            .silence
            .map_or(CONNECT_TIMEOUT, |s| s.min(CONNECT_TIMEOUT));
        let stream = TcpStream::connect_timeout(&addr, wait).map_err(fail)?;
        let _ = stream.set_nodelay(true);
        // A write to a server that reads nothing ends too (requests are one short line).
        let _ = stream.set_write_timeout(Some(wait));
        let writer = stream.try_clone().map_err(fail)?;
        Ok(Client {
            reader: BufReader::with_capacity(
                256 * 1024,
                Woken::socket(stream, limits.clone()).map_err(fail)?,
            ),
            writer,
            who,
            request: String::new(),
            answer_line: 0,
        })
    }

    /// The node, for messages.
    pub fn who(&self) -> &str {
        &self.who
    }

    fn send(&mut self, request: &str) -> Result<(), VerifyError> {
        self.request = request.to_string();
        self.answer_line = 0;
        writeln!(self.writer, "{request}")
            .map_err(|e| VerifyError::new(format!("{}: sending {request:?} failed: {e}", self.who)))
    }

    /// The next answer line, without its line end.
    fn line(&mut self) -> Result<String, VerifyError> {
        let mut buf = Vec::new();
        let n = (&mut self.reader)
            .take(LINE_MAX)
            .read_until(b'\n', &mut buf)
            .map_err(|e| self.read_failed(e))?;
        if n == 0 {
            return Err(VerifyError::new(format!(
                "{}: the server closed the connection mid-answer (did it stop?)",
                self.who
            )));
        }
        if buf.last() != Some(&b'\n') {
            return Err(VerifyError::new(format!(
                "{}: an answer line longer than {LINE_MAX} bytes: this is not a TapeTrack client port",
                self.who
            )));
        }
        buf.pop();
        self.answer_line += 1;
        // Exact bytes or nothing: a lossy decoding would make two different values (or Volume
        // ids, or scopes) the same text and the compare a false EQUAL.
        String::from_utf8(buf).map_err(|e| {
            VerifyError::new(format!(
                "{}: line {} of its answer to {:?} is not valid UTF-8 ({}): `verify` compares exact text and cannot carry these bytes, so it refuses the compare rather than guess; fix the Volume on the server (or compare that scope by hand)",
                self.who,
                self.answer_line,
                self.request,
                crate::display::escape_bytes(e.as_bytes())
            ))
        })
    }

    fn read_failed(&self, e: std::io::Error) -> VerifyError {
        if super::wake::is_stop(&e) {
            return VerifyError::new(format!("{}: {e}", self.who));
        }
        if e.kind() == std::io::ErrorKind::TimedOut {
            return VerifyError::new(format!(
                "{}: {e} to {:?}: is that port the server's client port (not its replication port), and is the server running and not hung? Check address and client_port in tt-ha.toml (--io-timeout-secs sets this limit)",
                self.who, self.request
            ));
        }
        VerifyError::new(format!(
            "{}: reading its answer to {:?} failed: {e}",
            self.who, self.request
        ))
    }

    /// `PING`: the server's role (`master`, `replicant` or `standalone`).
    pub fn ping(&mut self) -> Result<String, VerifyError> {
        self.send("PING")?;
        let line = self.line()?;
        line.strip_prefix("OK ")
            .map(str::to_string)
            .ok_or_else(|| self.refused("PING", &line))
    }

    /// `IDENTITY`: a token the server drew when it started, the same through every route to
    /// it; `None` from a server without the command (an older ttfs-sim answers `ERR usage`).
    pub fn identity(&mut self) -> Result<Option<String>, VerifyError> {
        self.send("IDENTITY")?;
        let line = self.line()?;
        Ok(line
            .strip_prefix("OK ")
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_string))
    }

    fn refused(&self, request: &str, line: &str) -> VerifyError {
        VerifyError::new(format!(
            "{}: {request} was answered {:?}; this server cannot serve `verify` (a ttfs-sim older than the VOLUMES and STREAM commands?)",
            self.who,
            crate::display::text(line)
        ))
    }

    /// `GET volume KEY`: the Volume as the server holds it now, `None` when it has none.
    pub fn get(&mut self, volume: &str) -> Result<Option<Record>, VerifyError> {
        self.send(&format!("GET volume {volume}"))?;
        let line = self.line()?;
        if line == "ERR not found" {
            return Ok(None);
        }
        let value = line
            .strip_prefix("OK ")
            .or_else(|| (line == "OK").then_some(""))
            .ok_or_else(|| self.refused("GET", &line))?;
        let fields = Record::fields_of_value(value);
        let find = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map_or("", |(_, v)| v.as_str())
                .to_string()
        };
        let scope = Scope {
            customer: find("customer"),
            media: find("media"),
        };
        Ok(Some(Record::from_value(
            scope,
            volume.to_string(),
            value.to_string(),
        )))
    }

    /// `VOLUMES CUSTOMER/MEDIA`: every Volume of one scope.
    pub fn scope(&mut self, scope: &Scope) -> Result<Vec<Record>, VerifyError> {
        let mut stream = self.start(&format!("VOLUMES {scope}"))?;
        let mut out = Vec::new();
        while let Some(r) = stream.next_record()? {
            out.push(r);
        }
        Ok(out)
    }

    /// Starts reading every Volume (`STREAM`), or those of `filter` (`VOLUMES …`), in
    /// customer/media/volume order.
    pub fn stream(&mut self, filter: Option<&ScopeFilter>) -> Result<Stream<'_>, VerifyError> {
        match filter {
            Some(f) => self.start(&format!("VOLUMES {}", f.request())),
            None => self.start("STREAM"),
        }
    }

    /// `SCOPES`: every scope the server holds a Volume in (of `filter`'s customer, if given).
    pub fn scopes(&mut self, filter: Option<&ScopeFilter>) -> Result<Vec<Scope>, VerifyError> {
        let request = match filter {
            Some(f) => format!("SCOPES {}", f.customer),
            None => "SCOPES".to_string(),
        };
        self.send(&request)?;
        let mut out = Vec::new();
        loop {
            let line = self.line()?;
            if let Some(n) = line.strip_prefix("END ") {
                if n.trim().parse::<usize>().ok() != Some(out.len()) {
                    return Err(VerifyError::new(format!(
                        "{}: {request} ended with {line:?} after {} scopes: the answer is incomplete; run verify again",
                        self.who,
                        out.len()
                    )));
                }
                return Ok(out);
            }
            if line.starts_with("ERR ") || !line.contains('/') {
                return Err(self.refused(&request, &line));
            }
            out.push(Scope::parse(&line));
        }
    }

    /// `COUNT volume`: how many Volumes the server holds.
    pub fn count(&mut self) -> Result<u64, VerifyError> {
        self.send("COUNT volume")?;
        let line = self.line()?;
        line.strip_prefix("OK ")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| self.refused("COUNT volume", &line))
    }

    fn start(&mut self, request: &str) -> Result<Stream<'_>, VerifyError> {
        self.send(request)?;
        Ok(Stream {
            client: self,
            request: request.to_string(),
            read: 0,
            done: false,
        })
    }
}

/// The Volumes of one `VOLUMES` or `STREAM` answer, read as they arrive.
pub struct Stream<'a> {
    client: &'a mut Client,
    request: String,
    read: u64,
    done: bool,
}

impl Stream<'_> {
    /// The next Volume, `None` after the last (its count checked against `END N`).
    pub fn next_record(&mut self) -> Result<Option<Record>, VerifyError> {
        if self.done {
            return Ok(None);
        }
        let line = self.client.line()?;
        if let Some(n) = line.strip_prefix("END ") {
            self.done = true;
            return match n.trim().parse::<u64>() {
                Ok(n) if n == self.read => Ok(None),
                _ => Err(VerifyError::new(format!(
                    "{}: {} ended with {line:?} after {} Volumes: the answer is incomplete; run verify again",
                    self.client.who, self.request, self.read
                ))),
            };
        }
        if let Some(e) = line.strip_prefix("ERR ") {
            self.done = true;
            return Err(VerifyError::new(format!(
                "{}: {} failed after {} Volumes: {}",
                self.client.who,
                self.request,
                self.read,
                crate::display::text(e)
            )));
        }
        let mut parts = line.splitn(3, ' ');
        let (Some(scope), Some(volume)) = (parts.next(), parts.next()) else {
            return Err(self.client.refused(&self.request, &line));
        };
        if !scope.contains('/') {
            return Err(self.client.refused(&self.request, &line));
        }
        self.read += 1;
        Ok(Some(Record::from_value(
            Scope::parse(scope),
            volume.to_string(),
            parts.next().unwrap_or("").to_string(),
        )))
    }
}

impl super::compare::Source for Stream<'_> {
    fn next_record(&mut self) -> Result<Option<Record>, VerifyError> {
        Stream::next_record(self)
    }
}

/// A server as the other side of a compare: a scope at a time, over its own connection.
pub struct ServerSide {
    /// The connection.
    pub client: Client,
    /// `--scope`, so that only its scopes are listed.
    pub filter: Option<ScopeFilter>,
}

impl super::compare::ScopeLoader for ServerSide {
    fn load(&mut self, scope: &Scope) -> Result<Vec<Record>, VerifyError> {
        self.client.scope(scope)
    }

    fn scopes(&mut self) -> Result<Vec<Scope>, VerifyError> {
        self.client.scopes(self.filter.as_ref())
    }
}

/// The next scopes' Volumes, read ahead.
type Ahead = Result<(Scope, Vec<Record>), VerifyError>;

/// A server as the other side of a compare whose source comes in a known scope order (the
/// master's `SCOPES`): a thread on its own connection reads the scopes ahead, in that order,
/// while the source is read, so that the two servers work at once. A scope asked for out of
/// that order is read directly, as [`ServerSide`] does.
pub struct ReadAhead {
    ahead: std::sync::mpsc::Receiver<Ahead>,
    next: Option<(Scope, Vec<Record>)>,
    direct: ServerSide,
    limits: Limits,
}

impl ReadAhead {
    /// Starts reading `order` ahead from the server `connect` opens a connection to (twice:
    /// the read-ahead and the direct reads).
    pub fn start(
        connect: &mut dyn FnMut() -> Result<Client, VerifyError>,
        order: Vec<Scope>,
        filter: Option<ScopeFilter>,
        limits: &Limits,
    ) -> Result<ReadAhead, VerifyError> {
        let mut reader = connect()?;
        let direct = ServerSide {
            client: connect()?,
            filter,
        };
        // A few scopes ahead at most: bounded memory, whatever the source's pace.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Ahead>(2);
        std::thread::spawn(move || {
            for scope in order {
                let read = reader.scope(&scope).map(|r| (scope, r));
                let failed = read.is_err();
                // The receiver is gone when the compare ended (or was interrupted): stop.
                if tx.send(read).is_err() || failed {
                    return;
                }
            }
        });
        Ok(ReadAhead {
            ahead: rx,
            next: None,
            direct,
            limits: limits.clone(),
        })
    }
}

impl super::compare::ScopeLoader for ReadAhead {
    fn load(&mut self, scope: &Scope) -> Result<Vec<Record>, VerifyError> {
        loop {
            if self.next.is_none() {
                // The reading thread's own reads end on a stop or silence; this wait too.
                match self.ahead.recv_timeout(Duration::from_millis(200)) {
                    Ok(read) => self.next = Some(read?),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if self.limits.stopped() {
                            return Err(VerifyError::new(super::wake::stopped().to_string()));
                        }
                        continue;
                    }
                    Err(_) => break,
                }
            }
            let Some((next, _)) = &self.next else { break };
            if next == scope {
                return Ok(self.next.take().map(|(_, r)| r).unwrap_or_default());
            }
            if next > scope {
                break;
            }
            // A scope the source no longer has (removed since it was listed): never asked for.
            self.next = None;
        }
        self.direct.load(scope)
    }

    fn scopes(&mut self) -> Result<Vec<Scope>, VerifyError> {
        self.direct.scopes()
    }
}
