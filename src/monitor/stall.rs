//! A replicant that applies nothing while its master sends on: the one rule for the pair's
//! `stalled` verdict after start-up (the initial copy has its own, in
//! [`super::state::combined`]).
//!
//! Seen after a link cut and mend and with a frozen replicant server: Berkeley DB's own
//! connection stays up (no EOF: a cut cable or a stopped process sends no FIN), the master
//! broadcasts every record as before, the replicant's file is silent, and nothing in either
//! file says anything is wrong. Only both files together tell it: the master has shipped
//! records past what the replicant applied, and the replicant has applied nothing since.
//!
//! Times are the files' stamps (epoch seconds, each host's clock) against `now`, so the hosts'
//! clocks are taken to agree within a few seconds (NTP), as for the lag in seconds. Stamps that
//! are no epoch time (Berkeley DB 5.3 on Windows stamps seconds since boot) judge nothing.

use super::classify::Lsn;
use super::state::{NodeState, Verdict, lsn_distance};

/// Seconds a replicant may apply nothing while the master has records it has not applied,
/// before the pair is `stalled`. Chosen from real runs: a busy pair applies a record within
/// 0.05 s of its broadcast (the `a` and `f` runs of `../shared/bdb`, 5.3, 6.1 and 6.2; the
/// recorded demo run under 5 writes a second: 0.4 s at most), Berkeley DB asks again for a
/// missing record within 1.28 s (`rep_set_request`'s default maximum), and the monitor's
/// activity is kept per whole second: 10 s is far above all of these and far below the
/// repmgr's 30 s reconnect, after which a cut link's stall lasted about 50 s.
pub const APPLY_STALL_SECS: f64 = 10.0;

/// The master "sends on" while its newest broadcast is at most this old: a master idle for
/// longer makes an idle pair, never a stalled one, whatever its file left unconfirmed (a file
/// read long after its last lines, a record the replicant's file never names). A replicant
/// stuck behind a master that wrote once and went idle reads `stalled` for this long, and then
/// shows its lag (`check`'s lag thresholds still judge it).
pub const MASTER_SENDING_SECS: f64 = 300.0;

/// A stamp below this is no epoch time (seconds since boot): no stall is judged on it.
const EPOCH_FLOOR: f64 = 1e9;

/// What to check, said with every stall.
pub const STALL_CHECK: &str = "check the network between the two nodes' replication ports (a cut or congested link), and that the replicant's server runs and is not hung";

/// Whether the error `text` is the master's outgoing queue overflowing (`queue limit
/// exceeded`, and the replicant's `incoming queue limit exceeded` of 6.0+): records dropped for a
/// replicant that does not take them (a cut or congested link, a frozen server), which it asks
/// for again once it can. While the replicant is behind, [`apply_stall`] says so; once it
/// applies again the overflow is over, so it is no error verdict for the rest of the master's
/// life (after a real link cut and mend the pair read `error: … queue limit exceeded` for ever
/// while it replicated again).
pub fn is_congestion(text: &str) -> bool {
    text.starts_with("queue limit exceeded") || text.starts_with("incoming queue limit exceeded")
}

/// A replicant that applied nothing for [`APPLY_STALL_SECS`] or more while the master had
/// sent it records past what it applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyStall {
    /// Seconds since the later of: the replicant's last apply, the master's first record past
    /// it.
    pub secs: f64,
    /// What the replicant applied last.
    pub applied: Lsn,
    /// The master's newest broadcast.
    pub master: Lsn,
    /// Bytes between them (log files counted at 10 MiB).
    pub behind_bytes: i64,
}

impl ApplyStall {
    /// The pair's verdict for it.
    pub fn verdict(&self) -> Verdict {
        Verdict::ApplyStalled {
            node: "replicant".into(),
            secs: self.secs,
            behind_bytes: self.behind_bytes,
            applied_lsn: self.applied,
            master_lsn: self.master,
            check: STALL_CHECK.into(),
        }
    }
}

/// The stall of the replicant `r` behind the master `m` at `now` (epoch seconds), if it
/// applies nothing while the master sends on. An idle pair (the master sent nothing past what
/// the replicant applied, or nothing for [`MASTER_SENDING_SECS`]) and a busy pair whose
/// replicant applies are never stalled; a stall ends with the replicant's next apply.
pub fn apply_stall(m: &NodeState, r: &NodeState, now: Option<f64>) -> Option<ApplyStall> {
    let now = now?;
    // Before start-up is done the initial copy's own stall rule speaks.
    if !r.startup_done || m.shut_down || r.shut_down {
        return None;
    }
    let (applied, master) = (r.last_lsn_applied?, m.last_lsn_sent?);
    if applied >= master {
        return None;
    }
    let newest_sent = m.dash.activity.seconds().next_back()?.sec as f64;
    if now - newest_sent > MASTER_SENDING_SECS {
        return None;
    }
    let behind_since = m.dash.activity.first_past(applied)? as f64;
    // When the replicant reached what it applied; not kept (older than the activity's
    // window): long ago, so the master's first record past it dates the stall.
    let since = match r.dash.activity.first_reaching(applied) {
        Some(reached) => behind_since.max(reached as f64),
        None => behind_since,
    };
    let secs = now - since;
    (since >= EPOCH_FLOOR && secs >= APPLY_STALL_SECS).then(|| ApplyStall {
        secs,
        applied,
        master,
        behind_bytes: lsn_distance(applied, master).max(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lsn(offset: u64) -> Lsn {
        Lsn { file: 1, offset }
    }

    /// A replicated pair: the master shipped 100..=`sent` one a second from `t0`, the
    /// replicant applied up to `applied` at the same seconds.
    fn pair(t0: u64, sent: u64, applied: u64) -> (NodeState, NodeState) {
        let (mut m, mut r) = (NodeState::default(), NodeState::default());
        for o in 100..=sent {
            m.dash.activity.note(t0 + o - 100, lsn(o));
        }
        for o in 100..=applied {
            r.dash.activity.note(t0 + o - 100, lsn(o));
        }
        m.last_lsn_sent = Some(lsn(sent));
        r.last_lsn_applied = Some(lsn(applied));
        r.startup_done = true;
        (m, r)
    }

    #[test]
    fn stalled_only_while_records_wait_and_nothing_is_applied() {
        let t0 = 1_795_000_000;
        // Sent 100..=130 over 30 s, applied up to 110 (second 10): behind since second 11.
        let (m, r) = pair(t0, 130, 110);
        let at = |dt: u64| apply_stall(&m, &r, Some((t0 + dt) as f64));
        assert!(at(20).is_none(), "9 s is within the bound");
        let s = at(21).expect("10 s without an apply while records wait");
        assert_eq!((s.secs, s.behind_bytes), (10.0, 20));
        assert_eq!(s.verdict().name(), "stalled");
        // Sent once and idle since: an idle master makes no stall, past its window.
        assert!(at(30 + MASTER_SENDING_SECS as u64).is_some());
        assert!(at(31 + MASTER_SENDING_SECS as u64).is_none());
        // Idle and equal: never, however long.
        let (m, r) = pair(t0, 110, 110);
        assert!(apply_stall(&m, &r, Some((t0 + 100_000) as f64)).is_none());
        // Applying right behind a busy master: not stalled.
        let (m, r) = pair(t0, 130, 129);
        assert!(apply_stall(&m, &r, Some((t0 + 31) as f64)).is_none());
        // No epoch stamps, no clock, or no start-up: nothing judged.
        let (m, r) = pair(1000, 130, 110);
        assert!(apply_stall(&m, &r, Some(1e6)).is_none());
        let (m, mut r) = pair(t0, 130, 110);
        assert!(apply_stall(&m, &r, None).is_none());
        r.startup_done = false;
        assert!(apply_stall(&m, &r, Some((t0 + 100) as f64)).is_none());
    }
}
