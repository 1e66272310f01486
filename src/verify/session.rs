//! One `verify` from start to end, as the front-ends ask for it: which sides, the replication
//! line, the compare, the re-check of differences. The CLI and the terminal app render the
//! [`Report`] it returns.

use super::VerifyError;
use super::compare::{self, Options, Outcome, Progress, ScopeLoader, Source};
use super::defsource::{DefinitionSide, DefinitionSource};
use super::live::{self, Replication, Settle, Watch};
use super::record::ScopeFilter;
use super::ttfs::{Client, ReadAhead, ServerSide};
use super::wake::Limits;
use crate::config::{Node, SiteConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What to compare.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The site (needed for a side read from a server, and for the replication line).
    pub site: Option<SiteConfig>,
    /// `--scope`.
    pub scope: Option<ScopeFilter>,
    /// The master's side from a definition file instead of its server.
    pub source: Option<PathBuf>,
    /// The replicant's side from a definition file instead of its server.
    pub against: Option<PathBuf>,
    /// The re-check's wait.
    pub settle: Settle,
    /// Differences kept with details.
    pub keep: usize,
    /// The longest a server may stay silent during an answer (`None`: [`IO_TIMEOUT`]).
    pub io_timeout: Option<std::time::Duration>,
}

/// How long a server may stay silent during an answer by default.
pub const IO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What a verify found, for the front-ends to render.
#[derive(Debug, Clone)]
pub struct Report {
    /// Whether replication runs between the pair (when both sides are the site's servers).
    pub replication: Option<Replication>,
    /// The master's side, in words.
    pub master: String,
    /// The replicant's side, in words.
    pub replicant: String,
    /// The compare's outcome (after the re-check).
    pub outcome: Outcome,
}

impl Report {
    /// Warnings to show with the statistics.
    pub fn warnings(&self) -> Vec<String> {
        let stats = &self.outcome.stats;
        let mut w: Vec<String> = stats
            .order_warning()
            .into_iter()
            .chain(stats.repeat_warning())
            .chain(stats.repeat_other_warning())
            .chain(stats.gone_warning())
            .collect();
        if self.outcome.not_kept > 0 {
            w.push(format!(
                "{} further differences were counted but not kept (nor read again): compare a scope at a time with --scope to see them",
                self.outcome.not_kept
            ));
        }
        w
    }

    /// `verify`'s exit code: 0 equal, 1 differences remain, 2 interrupted (could not finish).
    pub fn exit_code(&self) -> u8 {
        if self.outcome.interrupted {
            2
        } else if self.outcome.stats.all_equal() {
            0
        } else {
            1
        }
    }
}

fn describe_server(n: &Node) -> String {
    format!("{} ({}:{})", n.name, n.address, n.client_port.0)
}

fn site(req: &Request) -> Result<&SiteConfig, VerifyError> {
    req.site.as_ref().ok_or_else(|| {
        VerifyError::new(
            "reading a server needs the site config (tt-ha.toml, or --config PATH); or compare two exports with --source DEF --against DEF",
        )
    })
}

/// The two sides a compare reads from servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Master,
    Replicant,
}

impl Side {
    fn role(self) -> &'static str {
        match self {
            Side::Master => "master",
            Side::Replicant => "replicant",
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Master => Side::Replicant,
            Side::Replicant => Side::Master,
        }
    }

    fn node(self, site: &SiteConfig) -> &Node {
        match self {
            Side::Master => &site.master,
            Side::Replicant => site.replicant(),
        }
    }
}

/// Which server each side is, as its first connection answered. `verify` opens several
/// connections to each side (the list of scopes, the stream, the read-ahead, the re-check);
/// every one asks the role (`PING`) and, when both sides are servers, the `IDENTITY`, and must
/// reach the server the side's first connection reached, never the other side's. An address
/// that reaches another server per connection (a relay or balancer that switches, a name that
/// resolves round-robin) would otherwise pass a check made once and compare one server with
/// itself: always EQUAL, proving nothing.
struct Pins {
    /// Whether both sides are servers (identities matter only then).
    both: bool,
    /// Each side's identity once its first connection answered (`Some(None)`: a server
    /// without `IDENTITY`), master first.
    ids: [Option<Option<String>>; 2],
}

impl Pins {
    fn new(req: &Request) -> Pins {
        Pins {
            both: req.source.is_none() && req.against.is_none(),
            ids: [None, None],
        }
    }

    fn slot(side: Side) -> usize {
        match side {
            Side::Master => 0,
            Side::Replicant => 1,
        }
    }

    /// A connection to `side`'s server, refused when it answers as the other role, as another
    /// server than the side's first connection, or as the other side's server.
    fn connect(
        &mut self,
        site: &SiteConfig,
        side: Side,
        limits: &Limits,
    ) -> Result<Client, VerifyError> {
        let (role, other) = (side.role(), side.other().role());
        let n = side.node(site);
        let mut client = Client::connect(&n.name, &n.address, n.client_port.0, limits)?;
        let answered = client.ping()?;
        if answered == other {
            return Err(VerifyError::new(format!(
                "{role} {} answers as a {other}: `verify` would compare the wrong server; check the {role}'s address and client_port in tt-ha.toml",
                describe_server(n)
            )));
        }
        if !self.both {
            return Ok(client);
        }
        let id = client.identity()?;
        let (mine, theirs) = (Self::slot(side), Self::slot(side.other()));
        if let (Some(a), Some(Some(b))) = (&id, &self.ids[theirs])
            && a == b
        {
            let (m, r) = (
                describe_server(&site.master),
                describe_server(site.replicant()),
            );
            return Err(VerifyError::new(format!(
                "the master {m} and the replicant {r} are one server (both answer with its identity {a}: another of its addresses, a relay or a forwarded port): a compare of a server with itself proves nothing; check the replicant's address and client_port in tt-ha.toml"
            )));
        }
        match &self.ids[mine] {
            None => self.ids[mine] = Some(id),
            Some(first) if *first != id => {
                let say = |i: &Option<String>| i.as_deref().unwrap_or("none").to_string();
                return Err(VerifyError::new(format!(
                    "{role} {} answered as another server on a later connection (identity {}, first {}): that address reaches a different server per connection (a relay, balancer or round-robin name), so `verify` cannot know what it compares and stops; give the {role}'s own address and client_port in tt-ha.toml",
                    describe_server(n),
                    say(&id),
                    say(first)
                )));
            }
            Some(_) => {}
        }
        Ok(client)
    }
}

/// The servers a compare reads are the site's master and replicant, not one server twice nor
/// the two swapped: each answers `PING` with its role, and one that answers as the other's role
/// (a replicant's `client_port` that reaches the master; a master's that reaches a replicant)
/// is refused, as are two sides that reach one server: one address and port, or one server's
/// `IDENTITY` through two routes (another of its addresses, a relay, a forwarded port). A
/// compare of one server with itself is always EQUAL, and says nothing. `standalone` is
/// either's (a pair rolled back, a replicant served on its own: the compare then shows what
/// each holds). The answers pin each side for the compare's later connections ([`Pins`]).
fn check_servers(req: &Request, limits: &Limits) -> Result<Pins, VerifyError> {
    let site = site(req)?;
    let mut pins = Pins::new(req);
    if req.source.is_none() {
        pins.connect(site, Side::Master, limits)?;
    }
    if req.against.is_none() {
        pins.connect(site, Side::Replicant, limits)?;
    }
    let (m, r) = (&site.master, site.replicant());
    if pins.both && same_server(m, r) {
        return Err(VerifyError::new(format!(
            "the master {} and the replicant {} are one server (the same address and port): a compare of a server with itself proves nothing; check the client_port of both in tt-ha.toml",
            describe_server(m),
            describe_server(r)
        )));
    }
    Ok(pins)
}

/// Whether `a` and `b` are reached at one socket address (by name or by any address it
/// resolves to).
fn same_server(a: &Node, b: &Node) -> bool {
    use std::net::ToSocketAddrs;
    let addrs = |n: &Node| -> Vec<std::net::SocketAddr> {
        (n.address.as_str(), n.client_port.0)
            .to_socket_addrs()
            .map(Iterator::collect)
            .unwrap_or_default()
    };
    (a.address == b.address && a.client_port.0 == b.client_port.0)
        || addrs(a).iter().any(|x| addrs(b).contains(x))
}

/// Runs one verify. `progress` is called now and then during the compare; `stop` ends it
/// cleanly. Never writes to either side.
pub fn run(
    req: &Request,
    progress: &mut dyn FnMut(&Progress),
    stop: &AtomicBool,
) -> Result<Report, VerifyError> {
    let limits = Limits {
        stop: Arc::new(AtomicBool::new(false)),
        silence: Some(req.io_timeout.unwrap_or(IO_TIMEOUT)),
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Every read waits on `limits.stop`: this mirrors the caller's flag into it, so
        // that a stop ends a read blocked on a silent server or command within a tick.
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if stop.load(Ordering::Relaxed) {
                    limits.stop.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
        let out = run_within(req, progress, stop, &limits);
        done.store(true, Ordering::Relaxed);
        out
    })
}

fn run_within(
    req: &Request,
    progress: &mut dyn FnMut(&Progress),
    stop: &AtomicBool,
    limits: &Limits,
) -> Result<Report, VerifyError> {
    let mut pins = if req.source.is_none() || req.against.is_none() {
        check_servers(req, limits)?
    } else {
        Pins::new(req)
    };
    let live_pair = req.source.is_none() && req.against.is_none();
    let mut watch = live_pair.then(|| site(req).map(Watch::new)).transpose()?;
    // The master's log position when the compare first reads.
    let first = watch.as_mut().map(Watch::look);
    let mut opts = Options {
        keep: if req.keep == 0 {
            Options::default().keep
        } else {
            req.keep
        },
        filter: req.scope.clone(),
        ..Options::default()
    };

    // The master's scopes, in order, when it is the source: the ETA counts them, and the
    // replicant's side reads them ahead.
    let mut master_conn = match &req.source {
        Some(_) => None,
        None => Some(pins.connect(site(req)?, Side::Master, limits)?),
    };
    let order: Option<Vec<super::record::Scope>> = match master_conn.as_mut() {
        Some(c) => Some(
            c.scopes(req.scope.as_ref())?
                .into_iter()
                .filter(|s| req.scope.as_ref().is_none_or(|f| s.within(f)))
                .collect(),
        ),
        None => None,
    };
    opts.total_scopes = order.as_ref().map(|o| o.len() as u64);

    let (mut other, replicant): (Box<dyn ScopeLoader>, String) = match &req.against {
        Some(def) => (
            Box::new(DefinitionSide::read(
                super::definition::load(def).map_err(|e| VerifyError::new(e.to_string()))?,
                limits,
            )?),
            format!("the records of {}", crate::display::path(def)),
        ),
        None => {
            let n = site(req)?.replicant();
            let side: Box<dyn ScopeLoader> = match order {
                Some(order) => Box::new(ReadAhead::start(
                    &mut || pins.connect(site(req)?, Side::Replicant, limits),
                    order,
                    req.scope.clone(),
                    limits,
                )?),
                None => Box::new(ServerSide {
                    client: pins.connect(site(req)?, Side::Replicant, limits)?,
                    filter: req.scope.clone(),
                }),
            };
            (side, describe_server(n))
        }
    };

    let mut master_client = None;
    let (mut outcome, master) = match (&req.source, master_conn.as_mut()) {
        (Some(def), _) => {
            let d = super::definition::load(def).map_err(|e| VerifyError::new(e.to_string()))?;
            let mut src = DefinitionSource::open(d, limits)?;
            let o = compare::run(&mut src, other.as_mut(), &opts, progress, stop)?;
            (o, format!("the records of {}", crate::display::path(def)))
        }
        (None, Some(client)) => {
            let n = &site(req)?.master;
            let mut stream = client.stream(req.scope.as_ref())?;
            let o = compare::run(
                &mut stream as &mut dyn Source,
                other.as_mut(),
                &opts,
                progress,
                stop,
            )?;
            master_client = Some(pins.connect(site(req)?, Side::Master, limits)?);
            (o, describe_server(n))
        }
        (None, None) => unreachable!("a master connection whenever the master is the source"),
    };
    drop(other);
    nothing_read(&outcome, req.scope.as_ref(), &master)?;

    if let (Some(watch), Some(first), Some(mut m), false) = (
        watch.as_mut(),
        first.as_ref(),
        master_client,
        outcome.interrupted,
    ) {
        let mut r = pins.connect(site(req)?, Side::Replicant, limits)?;
        live::recheck(&mut outcome, &mut m, &mut r, watch, first, req.settle, stop)?;
    }
    Ok(Report {
        replication: first,
        master,
        replicant,
        outcome,
    })
}

/// Reading nothing proves nothing: a compare whose source held no record (in the scope asked,
/// or at all while the other side holds none either) is an error, never EQUAL.
fn nothing_read(
    outcome: &Outcome,
    scope: Option<&ScopeFilter>,
    master: &str,
) -> Result<(), VerifyError> {
    let s = &outcome.stats;
    if outcome.interrupted || s.records_read > 0 {
        return Ok(());
    }
    let theirs = if s.extra > 0 {
        format!(" (the replicant's side holds {} there)", s.extra)
    } else {
        String::new()
    };
    match scope {
        Some(f) => Err(VerifyError::new(format!(
            "{master} holds no Volume in scope {}{theirs}: nothing to compare; check the spelling of --scope (the master's scopes: its SCOPES answer, or the CUSTOMER and MEDIA columns of the export)",
            crate::display::text(&f.request())
        ))),
        None if s.extra == 0 => Err(VerifyError::new(format!(
            "{master} and the replicant's side hold no Volume at all: nothing to compare; check that these are the right servers or files"
        ))),
        None => Ok(()),
    }
}
