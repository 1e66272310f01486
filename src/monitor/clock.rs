//! Whether a node's message stamps can be set against this machine's clock. The stall rule
//! ([`super::stall`]) and the lag in seconds take the nodes' clocks to agree within a few
//! seconds (NTP). A node whose clock is off this machine's, or whose newest stamp is later
//! than its file was last written (stamps of another clock), is said, never judged on: a
//! master stamped an hour ahead made every stall read as not yet begun, and `check` said OK.
//!
//! Not caught: stamps *behind* their file's clock. A file also gets lines without a stamp
//! (`TapeTrack: BDB0196 …`, blank lines, in `../shared/bdb`), written any time after the last
//! stamped one, so a file written later than its newest stamp proves nothing.

/// This machine's clock now, in seconds since the epoch (0 before 1970): the one reading of it
/// the monitor, `check`, `verify` and the screen set the nodes' stamps and silences against.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds a node's clock, or its stamps, may be off before they are doubted: far above the
/// drift NTP allows and a second's stamp resolution, far below the stall rule's minutes.
pub const CLOCK_TOLERANCE_SECS: f64 = 30.0;

/// A stamp below this is no epoch time (Berkeley DB 5.3 on Windows stamps seconds since boot).
const EPOCH_FLOOR: f64 = 1e9;

/// Why the `role`'s stamps cannot be set against this machine's clock (`here_now`, epoch
/// seconds): its clock (`node_now`, read by the node) is off this machine's, or its newest
/// stamp (`last_stamp`) is later than its file was last written (`modified`, by its clock)
/// or than its clock says it is now.
/// `None` when nothing says so (or the node does not tell).
pub fn doubt(
    role: &str,
    last_stamp: Option<f64>,
    modified: Option<f64>,
    node_now: Option<f64>,
    here_now: f64,
) -> Option<String> {
    if let Some(off) = node_now.map(|n| n - here_now)
        && off.abs() > CLOCK_TOLERANCE_SECS
    {
        return Some(format!(
            "the {role}'s clock is {:.0} s {} this machine's",
            off.abs(),
            if off > 0.0 { "ahead of" } else { "behind" }
        ));
    }
    if let (Some(stamp), Some(written)) = (last_stamp, modified)
        && stamp >= EPOCH_FLOOR
        && stamp - written > CLOCK_TOLERANCE_SECS
    {
        return Some(format!(
            "the {role}'s newest message is stamped {:.0} s after its message file was last written: its stamps are not of its clock",
            stamp - written
        ));
    }
    // Stamped in the node's future: whatever the file's date (dated ahead too, it hid the
    // stamps: a file stamped and dated an hour ahead read OK).
    if let (Some(stamp), Some(clock)) = (last_stamp, node_now)
        && clock >= EPOCH_FLOOR
        && stamp - clock > CLOCK_TOLERANCE_SECS
    {
        return Some(format!(
            "the {role}'s newest message is stamped {:.0} s after the node's clock now: its stamps are not of that clock",
            stamp - clock
        ));
    }
    None
}

/// Why the followed nodes' stamps cannot be set against this machine's clock: for each node
/// (master first), its newest stamp later than when its newest line arrived here (its
/// [`super::NodeState::heard_at`]: got while followed, or its file's last write) by more than
/// [`CLOCK_TOLERANCE_SECS`]. The live views' reading of [`doubt`]: they have no node clock to
/// read, but a line cannot be written after it arrived.
pub fn stamp_doubts(states: [&super::NodeState; 2]) -> Vec<String> {
    ["master", "replicant"]
        .into_iter()
        .zip(states)
        .filter_map(|(role, s)| doubt(role, s.last_stamp, s.heard_at, None, 0.0))
        .collect()
}

/// The pair's verdict once doubts of the stamps are known (`doubts`, from [`doubt`]): a verdict
/// that says replication runs or is on its way (`functional`, `syncing`, `connecting`) rests on
/// the stamps (a stall is timed by them), so with a doubt it is [`Verdict::ClockDoubt`], as
/// `check` then says UNKNOWN; a verdict of a failure stands.
pub fn with_doubts(v: super::Verdict, doubts: Vec<String>) -> super::Verdict {
    use super::Verdict;
    match v {
        Verdict::Functional | Verdict::Syncing { .. } | Verdict::Connecting
            if !doubts.is_empty() =>
        {
            Verdict::ClockDoubt {
                doubts,
                by_files: v.describe(),
            }
        }
        v => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_795_000_000.0;

    #[test]
    fn agreeing_clocks_and_stamps_raise_no_doubt() {
        assert_eq!(
            doubt(
                "master",
                Some(NOW - 5.0),
                Some(NOW - 5.0),
                Some(NOW + 1.0),
                NOW
            ),
            None
        );
        // An old stamp in a file written since (a line without a stamp) proves nothing.
        assert_eq!(
            doubt("master", Some(NOW - 3600.0), Some(NOW), Some(NOW), NOW),
            None
        );
        // Seconds since boot (5.3 on Windows) are no epoch time.
        assert_eq!(doubt("master", Some(5000.0), Some(NOW), None, NOW), None);
        // A node that does not tell.
        assert_eq!(doubt("master", None, None, None, NOW), None);
    }

    #[test]
    fn a_clock_off_or_stamps_ahead_of_their_file_are_said() {
        let d = doubt("master", Some(NOW), Some(NOW), Some(NOW + 3600.0), NOW).unwrap();
        assert!(d.contains("master's clock is 3600 s ahead of"), "{d}");
        let d = doubt("replicant", Some(NOW), Some(NOW), Some(NOW - 45.0), NOW).unwrap();
        assert!(d.contains("replicant's clock is 45 s behind"), "{d}");
        let d = doubt(
            "master",
            Some(NOW + 3600.0),
            Some(NOW - 5.0),
            Some(NOW),
            NOW,
        )
        .unwrap();
        assert!(d.contains("stamped 3605 s after"), "{d}");
        // Stamped and dated an hour ahead: the date hides nothing.
        let d = doubt(
            "master",
            Some(NOW + 3600.0),
            Some(NOW + 3600.0),
            Some(NOW),
            NOW,
        )
        .unwrap();
        assert!(
            d.contains("stamped 3600 s after the node's clock now"),
            "{d}"
        );
        // A node that does not tell its clock: the live views time the lines on arrival.
        assert_eq!(
            doubt("master", Some(NOW + 3600.0), Some(NOW + 3600.0), None, NOW),
            None
        );
        // Dated ahead alone (touched) says nothing of the stamps.
        assert_eq!(
            doubt(
                "master",
                Some(NOW - 5.0),
                Some(NOW + 3600.0),
                Some(NOW),
                NOW
            ),
            None
        );
    }

    /// Only a verdict that says replication runs or is coming rests on the stamps.
    #[test]
    fn a_doubt_turns_only_a_verdict_that_rests_on_the_stamps() {
        use crate::monitor::Verdict;
        let d = || vec!["the master's newest message is stamped 3600 s after".to_string()];
        let v = with_doubts(Verdict::Functional, d());
        assert_eq!(v.name(), "clock-doubt");
        assert!(
            v.describe()
                .contains("By the files: replication functional"),
            "{}",
            v.describe()
        );
        assert_eq!(
            with_doubts(Verdict::Functional, vec![]),
            Verdict::Functional
        );
        assert_eq!(with_doubts(Verdict::MasterDown, d()), Verdict::MasterDown);
    }
}
