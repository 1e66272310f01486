//! Replication is live: whether it runs between the pair (what the monitor knows from both
//! message files), the master's log position when the compare first read, and the re-check of
//! each difference once the replicant has applied that position (or after a bounded wait), so
//! that a pair under write load shows no false difference.

use super::VerifyError;
use super::compare::Outcome;
use super::record::Record;
use super::record::Scope;
use super::stats::{Difference, DifferenceKind};
use super::ttfs::Client;
use crate::config::SiteConfig;
use crate::monitor::{self, Lsn, Verdict, seekfile::Saved};
use crate::node::{NodeAccess, Role};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What the message files say of the pair, now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    /// True when replication runs between the two (the monitor's verdict is functional).
    pub running: bool,
    /// One line for people: `replication is running between M and R` or why it is not.
    pub line: String,
    /// The last log position the master sent, when its file shows one.
    pub master_lsn: Option<Lsn>,
    /// The last log position the replicant applied, when its file shows one.
    pub replicant_lsn: Option<Lsn>,
}

/// The pair's message files, read on from where the previous look left them.
pub struct Watch<'a> {
    cfg: &'a SiteConfig,
    nodes: Option<[Box<dyn NodeAccess>; 2]>,
    saved: [Option<Saved>; 2],
    /// When each file was last written, on this machine's clock.
    written: [Option<f64>; 2],
    /// Each node's server, looked at as `check` does: a server seen down, suspended or started
    /// after its file's last write makes replication not run, whatever the files say.
    servers: [monitor::procwatch::ProcessWatch; 2],
    why_not: Option<String>,
}

impl<'a> Watch<'a> {
    /// Reaches both nodes (over ssh for a remote one); a node that cannot be reached makes
    /// every look say why.
    pub fn new(cfg: &'a SiteConfig) -> Watch<'a> {
        let (nodes, why_not) = match monitor::site_nodes(cfg) {
            Ok(n) => (Some(n), None),
            Err(e) => (
                None,
                Some(format!("cannot reach a node to read its message file: {e}")),
            ),
        };
        Watch {
            cfg,
            nodes,
            saved: [None, None],
            written: [None, None],
            servers: Default::default(),
            why_not,
        }
    }

    /// Looks at both message files now.
    pub fn look(&mut self) -> Replication {
        let unknown = |why: String| Replication {
            running: false,
            line: format!("whether replication runs is unknown: {why}"),
            master_lsn: None,
            replicant_lsn: None,
        };
        let Some(nodes) = &self.nodes else {
            return unknown(self.why_not.clone().unwrap_or_default());
        };
        let now = monitor::clock::now_secs();
        for role in [Role::Master, Role::Replicant] {
            match nodes[role].read_messages(self.saved[role].as_ref()) {
                Ok((s, o)) => {
                    self.saved[role] = Some(s);
                    self.written[role as usize] = o.written_here(now);
                }
                Err(e) => {
                    return unknown(format!(
                        "cannot read {}'s message file: {e}",
                        nodes[role].config().name
                    ));
                }
            }
        }
        let (Some(ms), Some(rs)) = (&self.saved[Role::Master], &self.saved[Role::Replicant]) else {
            return unknown("no message file read".into());
        };
        let mut m = ms.state(&self.cfg.master.message_file);
        let mut r = rs.state(&self.cfg.replicant().message_file);
        let (me, re) = monitor::pair::expected(&*nodes[Role::Master], &*nodes[Role::Replicant]);
        (m.expected, r.expected) = (Some(me), Some(re));
        (m.heard_at, r.heard_at) = (self.written[0], self.written[1]);
        let hints = [&m, &r].map(|s| s.pid.unwrap_or(0));
        let seen = [0, 1].map(|i| self.servers[i].look(&*nodes[i], hints[i]));
        let v = monitor::dashboard::pair_verdict(
            monitor::combined(&m, &r, Some(now), self.cfg.procedure.stall_limit_secs()),
            &seen,
            &[None, None],
            [&m, &r],
            now,
        );
        let v = monitor::databases::with_clash(
            v,
            monitor::databases::homes_clash(&*nodes[Role::Master], &*nodes[Role::Replicant])
                .as_deref(),
        );
        let (mn, rn) = (&self.cfg.master.name, &self.cfg.replicant().name);
        let running = v == Verdict::Functional;
        Replication {
            running,
            line: if running {
                format!("replication is running between {mn} and {rn}")
            } else {
                format!(
                    "replication is not running between {mn} and {rn} ({}): the compare shows what each holds now",
                    v.describe()
                )
            },
            master_lsn: m.last_lsn_sent,
            replicant_lsn: r.last_lsn_applied,
        }
    }
}

/// How the re-check of differences waits.
#[derive(Debug, Clone, Copy)]
pub struct Settle {
    /// The longest wait for the replicant to catch up before differences are reported.
    pub timeout: Duration,
    /// Between two looks.
    pub interval: Duration,
}

impl Default for Settle {
    fn default() -> Settle {
        Settle {
            timeout: Duration::from_secs(30),
            interval: Duration::from_millis(300),
        }
    }
}

/// Reads each kept difference again from both servers (`GET`), after the replicant has
/// applied the master's log position at the first read (`first`) or, without positions, until
/// the differences go or `settle.timeout` passes; when replication does not run, once at
/// once. A difference that went is counted as settled; one that changed is reported as it is
/// now.
pub fn recheck(
    outcome: &mut Outcome,
    master: &mut Client,
    replicant: &mut Client,
    watch: &mut Watch<'_>,
    first: &Replication,
    settle: Settle,
    stop: &AtomicBool,
) -> Result<(), VerifyError> {
    if outcome.differences.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + settle.timeout;
    let mut running = first.running;
    outcome.stats.recheck = if running { "timed_out" } else { "not_running" };
    if let (true, Some(target)) = (running, first.master_lsn) {
        // The replicant first applies what the master had when the compare began.
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            let now = watch.look();
            running = now.running;
            if !running {
                outcome.stats.recheck = "not_running";
                break;
            }
            if now.replicant_lsn.is_some_and(|l| l >= target) {
                outcome.stats.recheck = "caught_up";
                break;
            }
            std::thread::sleep(settle.interval);
        }
    }
    outcome.stats.rechecked = outcome.differences.len() as u64;
    loop {
        read_again(outcome, master, replicant)?;
        outcome.stats.check_accounted()?;
        if outcome.differences.is_empty() && outcome.stats.recheck == "timed_out" {
            outcome.stats.recheck = "caught_up";
        }
        if outcome.differences.is_empty()
            || !running
            || Instant::now() >= deadline
            || stop.load(Ordering::Relaxed)
        {
            return Ok(());
        }
        std::thread::sleep(settle.interval);
        running = watch.look().running;
    }
}

/// Counts a difference that went on a re-read. One the master's stream read (differing or
/// missing) is now equal when the master still holds it (one it no longer holds is counted
/// `gone` by the caller, settled or not). An extra is neither: the master's stream never read it where the replicant holds it
/// (it moved between scopes during the compare, and may well have been counted equal where
/// it was before), so it is settled but adds nothing, and `equal` never exceeds the records
/// read.
fn settled(stats: &mut super::stats::Stats, was: &DifferenceKind, on_master: bool) {
    stats.settled += 1;
    if on_master && !matches!(was, DifferenceKind::Extra) {
        stats.equal += 1;
    }
}

/// One re-read of every kept difference: the scopes they are in, whole, from both servers
/// (a request per scope and side, not per Volume), then each Volume compared again.
fn read_again(
    outcome: &mut Outcome,
    master: &mut Client,
    replicant: &mut Client,
) -> Result<(), VerifyError> {
    let mut scopes: BTreeSet<Scope> = BTreeSet::new();
    for d in &outcome.differences {
        scopes.insert(d.scope.clone());
        scopes.extend(d.replicant_scope.clone());
    }
    let mut mine: HashMap<String, Record> = HashMap::new();
    let mut theirs: HashMap<String, Record> = HashMap::new();
    for scope in &scopes {
        mine.extend(
            master
                .scope(scope)?
                .into_iter()
                .map(|r| (r.volume.clone(), r)),
        );
        theirs.extend(
            replicant
                .scope(scope)?
                .into_iter()
                .map(|r| (r.volume.clone(), r)),
        );
    }
    let mut still = Vec::with_capacity(outcome.differences.len());
    let stats = &mut outcome.stats;
    for d in std::mem::take(&mut outcome.differences) {
        stats.count(&d.kind, -1);
        let (m, r) = (mine.get(&d.volume), theirs.get(&d.volume));
        // Each record the master's stream read stays accounted for exactly once: equal or
        // still a difference while the master holds the Volume where it was read again, and
        // `gone` once it no longer does (moved away or deleted during the compare; a copy the
        // replicant still holds there is then an extra, as any other).
        let read_by_master = !matches!(d.kind, DifferenceKind::Extra);
        if read_by_master && m.is_none() {
            stats.gone += 1;
        }
        match Difference::between(m, r) {
            None => settled(stats, &d.kind, m.is_some()),
            Some(now) => {
                stats.count(&now.kind, 1);
                // An extra (never read by the master's stream there) that the master now
                // holds: a difference only the re-read found.
                if !read_by_master && !matches!(now.kind, DifferenceKind::Extra) {
                    stats.found_on_reread += 1;
                }
                still.push(now);
            }
        }
    }
    super::compare::pair_moved(&mut still, stats);
    outcome.differences = still;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::stats::Stats;

    /// A Volume moved between scopes during a compare: read equal where it was, then seen as
    /// an extra where it went. When the re-read settles the extra, `equal` does not grow past
    /// the records read (the adversary saw equal 3,045 of 3,033 read, and EQUAL).
    #[test]
    fn a_settled_extra_is_no_second_equal() {
        let mut s = Stats {
            records_read: 2,
            equal: 1,
            missing: 1,
            extra: 1,
            ..Stats::default()
        };
        s.count(&DifferenceKind::Missing, -1);
        settled(&mut s, &DifferenceKind::Missing, true);
        s.count(&DifferenceKind::Extra, -1);
        settled(&mut s, &DifferenceKind::Extra, true);
        assert_eq!((s.equal, s.settled, s.missing, s.extra), (2, 2, 0, 0));
        assert!(s.equal <= s.records_read);
        s.check_accounted()
            .expect("every record read is accounted for");
        // Gone from both: settled, no record to call equal.
        let mut gone = Stats {
            records_read: 1,
            differing: 1,
            ..Stats::default()
        };
        gone.count(&DifferenceKind::Differs(Vec::new()), -1);
        gone.gone += 1;
        settled(&mut gone, &DifferenceKind::Missing, false);
        assert_eq!((gone.equal, gone.settled, gone.gone), (0, 1, 1));
        gone.check_accounted()
            .expect("a record gone from both is accounted for");
    }
}
