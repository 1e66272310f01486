//! Whether the replicant's home still holds the master's databases, for the live views
//! (`monitor --json`, the plain text monitor, the monitor screen) as for `check`: a replicant
//! whose databases were moved or deleted while its server runs goes on replicating into files
//! no longer in its folder, its message file reads as functional, and its next start loses
//! them. `check` said so (CRITICAL); `monitor --json` said `functional` beside it.
//!
//! The comparison itself is [`super::pair::replicant_lacks`]; this module says when its answer
//! stands for the pair's verdict ([`with_lacks`], the one rule), and, for a live view, which
//! comparisons count ([`Judge`]): a database the master made a moment ago is not on the
//! replicant until replication brings it, and a comparison begun during the initial copy finds
//! the replicant's home half made. So a live view names only a database lacking in two
//! comparisons in a row, both begun while the pair read functional.

use super::Verdict;

/// One comparison of both homes' databases (see [`super::pair::replicant_lacks`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Compare {
    /// Counts the comparisons of one watch: a later one has a greater number.
    pub seq: u64,
    /// The master's databases (one name each) the replicant's home does not hold.
    pub lacks: Vec<String>,
    /// Why the homes could not be compared (the replicant's home could not be listed as this
    /// user): [`not_checked`]'s note. Such a comparison says nothing of the databases.
    pub unchecked: Option<String>,
    /// Why the two homes cannot be told apart, when they cannot ([`homes_clash`]): the pair's
    /// verdict is then [`Verdict::HomesClash`] ([`with_clash`]).
    pub clash: Option<String>,
}

/// Why the homes of `master` and `replicant` cannot be told apart, as their nodes see them
/// now (each home followed to where it leads): one folder, or one inside the other
/// ([`crate::identity::homes_clash`]). `None` when they are apart or cannot be placed.
pub fn homes_clash(
    master: &dyn crate::node::NodeAccess,
    replicant: &dyn crate::node::NodeAccess,
) -> Option<String> {
    crate::identity::homes_clash(
        (master.config(), &master.folders()),
        (replicant.config(), &replicant.folders()),
    )
}

/// The pair's verdict once whether its homes can be told apart is known (`clash`: why not):
/// [`Verdict::HomesClash`] over any verdict of the files, the servers or the databases (a
/// replicant's home linked to the master's read "the replicant is down: its server process is
/// not running", and a file holding both roles' lines could read functional); a node that
/// cannot be reached stays so.
pub fn with_clash(v: Verdict, clash: Option<&str>) -> Verdict {
    match (v, clash) {
        (v @ Verdict::NodeUnreachable { .. }, _) | (v, None) => v,
        (_, Some(why)) => Verdict::HomesClash {
            why: why.to_string(),
        },
    }
}

/// The note a view gives when the replicant's home could not be compared (`e`: why), the same
/// words in `check`, `monitor --json` and the plain monitor: the verdict then rests on the
/// message files alone, and the operator must know it (a replicant's home is often readable
/// only by the server's group).
pub fn not_checked(e: &std::io::Error) -> String {
    let advice = if e.kind() == std::io::ErrorKind::PermissionDenied {
        ". Run tt-ha as a user in the server's group (or one that may read its home)"
    } else {
        ""
    };
    format!(
        "whether the replicant's home holds the master's databases was not checked: {e}{advice}"
    )
}

/// The pair's verdict once what the replicant's home lacks is known: functional by the
/// message files, and lacking databases (`lacks` not empty), it is
/// [`Verdict::DatabasesMissing`] naming them and the replicant's `home`; otherwise `v` as it
/// is (a pair not yet functional is copying, or is told by its own verdict).
pub fn with_lacks(v: Verdict, lacks: &[String], home: &str) -> Verdict {
    if v == Verdict::Functional && !lacks.is_empty() {
        Verdict::DatabasesMissing {
            home: home.to_string(),
            lacks: lacks.to_vec(),
        }
    } else {
        v
    }
}

/// One comparison of both homes ([`look`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Looked {
    /// The master's databases the replicant's home does not hold.
    pub lacks: Vec<String>,
    /// The replicant's files this user could not read: matched by name only.
    pub unread: Vec<String>,
    /// The master's files named as databases that this user could not read: taken for
    /// databases by their names ([`super::pair::unread_databases`]).
    pub master_unread: Vec<String>,
}

/// Both homes' databases compared now ([`super::pair::replicant_lacks`]), the one look of
/// `check` and the live views. The master is asked first: a database it has is then on the
/// replicant too, unless replication is behind (which [`Judge`] allows for). An error: a
/// home could not be listed (named in it), and nothing was compared.
pub fn look(
    master: &dyn crate::node::NodeAccess,
    replicant: &dyn crate::node::NodeAccess,
) -> std::io::Result<Looked> {
    // Named: the note says which folder this user could not list. A master's home that
    // cannot be listed leaves the comparison unmade too (it read as a master with no
    // databases, so a replicant lacking one was OK, with no note).
    let list = |node: &dyn crate::node::NodeAccess| {
        node.database_ids().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot list the {}'s home {}: {e}",
                    node.role().as_str(),
                    crate::display::path(&node.config().home)
                ),
            )
        })
    };
    let m = list(master)?;
    let held = list(replicant)?;
    Ok(Looked {
        lacks: super::pair::replicant_lacks(
            &m,
            &held,
            replicant.os() == crate::node::NodeOs::Windows,
        ),
        unread: held
            .iter()
            .filter(|(_, id)| id.as_str() == super::progress::UNREAD_ID)
            .map(|(n, _)| n.clone())
            .collect(),
        master_unread: super::pair::unread_databases(&m).cloned().collect(),
    })
}

/// A live view's judge of the comparisons it is given: it keeps the two newest begun after the
/// pair last turned functional, and names what both lack.
#[derive(Debug, Default, Clone)]
pub struct Judge {
    /// The newest comparison seen, whatever the verdict then.
    newest: u64,
    /// While the pair reads functional: the newest comparison seen when it turned so. Only
    /// the ones after the next count: the next one was running then, begun before.
    fence: Option<u64>,
    /// The two newest comparisons that count, older first.
    counted: Vec<Compare>,
    /// Whether the last verdict judged rested on two comparisons that count.
    judged: bool,
}

/// The note of a live view whose functional pair has not had its databases judged yet (the
/// first seconds after it turned functional, or after a comparison could not be made).
pub const NOT_YET_COMPARED: &str = "not compared yet: both homes' databases are compared every 5 s (the first four 1 s apart), and a database is named once two comparisons in a row lack it";

impl Judge {
    /// Whether the verdict last judged rested on two comparisons that count: while it did
    /// not, a `functional` says nothing of the databases yet.
    pub fn judged(&self) -> bool {
        self.judged
    }

    /// The pair's verdict `v` judged with `compare`, the watch's newest comparison (`None`:
    /// none fresh, so nothing is said of the databases), for the replicant's `home`.
    pub fn judge(&mut self, v: Verdict, compare: Option<&Compare>, home: &str) -> Verdict {
        self.judged = false;
        let v = with_clash(v, compare.and_then(|c| c.clash.as_deref()));
        let newest = compare.map_or(self.newest, |c| c.seq.max(self.newest));
        // A comparison that could not be made says nothing of the databases: as none fresh.
        let compare = compare.filter(|c| c.unchecked.is_none());
        if v != Verdict::Functional {
            self.fence = None;
            self.counted.clear();
            self.newest = newest;
            return v;
        }
        let fence = *self.fence.get_or_insert(self.newest);
        self.newest = newest;
        let Some(c) = compare else {
            return v;
        };
        if c.seq > fence + 1 && self.counted.last().is_none_or(|last| last.seq < c.seq) {
            self.counted.push(c.clone());
            if self.counted.len() > 2 {
                self.counted.remove(0);
            }
        }
        // Only the newest comparison stands for now (one that is not fresh is not given).
        let [older, latest] = match self.counted.as_slice() {
            [older, latest] if latest.seq == c.seq => [older, latest],
            _ => return v,
        };
        self.judged = true;
        let both: Vec<String> = latest
            .lacks
            .iter()
            .filter(|n| older.lacks.contains(n))
            .cloned()
            .collect();
        with_lacks(v, &both, home)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(seq: u64, lacks: &[&str]) -> Compare {
        Compare {
            seq,
            lacks: lacks.iter().map(|s| s.to_string()).collect(),
            unchecked: None,
            clash: None,
        }
    }

    fn missing(v: &Verdict) -> Vec<String> {
        match v {
            Verdict::DatabasesMissing { lacks, .. } => lacks.clone(),
            _ => Vec::new(),
        }
    }

    /// A database lacking in two comparisons in a row, both begun while the pair read
    /// functional, is named; one lacking once (a database the master just made) is not; the
    /// comparison running when the pair turned functional (begun during the copy, when the
    /// replicant's home was half made) does not count; a pair that is not functional keeps
    /// its own verdict; no fresh comparison says nothing.
    #[test]
    fn only_a_database_lacking_twice_while_functional_is_named() {
        let f = Verdict::Functional;
        let mut j = Judge::default();
        // During the copy: the replicant lacks everything, and that is no news.
        let syncing = Verdict::Connecting;
        assert_eq!(
            j.judge(syncing.clone(), Some(&c(1, &["a.db", "b.db"])), "h"),
            syncing
        );
        // Turned functional; comparison 1 (and 2, already running then) began before.
        assert_eq!(j.judge(f.clone(), Some(&c(1, &["a.db", "b.db"])), "h"), f);
        assert_eq!(j.judge(f.clone(), Some(&c(2, &["a.db", "b.db"])), "h"), f);
        assert_eq!(j.judge(f.clone(), Some(&c(3, &["b.db"])), "h"), f);
        assert!(!j.judged(), "one comparison that counts is no judgement");
        // Lacking in 3 and 4: named, with the home.
        let v = j.judge(f.clone(), Some(&c(4, &["b.db", "c.db"])), "h");
        assert_eq!(missing(&v), ["b.db"]);
        assert!(
            v.describe()
                .contains("h lacks 1 of the master's databases (b.db)")
        );
        // The same comparison again: the same answer; no fresh one: nothing said.
        assert_eq!(
            missing(&j.judge(f.clone(), Some(&c(4, &["b.db", "c.db"])), "h")),
            ["b.db"]
        );
        assert_eq!(j.judge(f.clone(), None, "h"), f);
        // Put back: the next comparison lacks nothing.
        assert!(!j.judged(), "no fresh comparison: nothing judged");
        assert_eq!(j.judge(f.clone(), Some(&c(5, &[])), "h"), f);
        assert!(j.judged());
        // A pair that stops being functional keeps its own verdict, and starts afresh.
        let down = Verdict::MasterDown;
        assert_eq!(j.judge(down.clone(), Some(&c(6, &["a.db"])), "h"), down);
        assert_eq!(j.judge(f.clone(), Some(&c(6, &["a.db"])), "h"), f);
        assert_eq!(j.judge(f.clone(), Some(&c(7, &["a.db"])), "h"), f);
        assert_eq!(j.judge(f.clone(), Some(&c(8, &["a.db"])), "h"), f);
        assert_eq!(
            missing(&j.judge(f.clone(), Some(&c(9, &["a.db"])), "h")),
            ["a.db"]
        );
    }

    /// A comparison that could not be made (the replicant's home unlistable) neither names a
    /// database nor clears one named, nor counts towards the two in a row.
    #[test]
    fn a_comparison_not_made_says_nothing_of_the_databases() {
        let f = Verdict::Functional;
        let mut j = Judge::default();
        let not_made = |seq| Compare {
            seq,
            lacks: Vec::new(),
            unchecked: Some(not_checked(&std::io::Error::from(
                std::io::ErrorKind::PermissionDenied,
            ))),
            clash: None,
        };
        // Functional from the first look (fence 0): 2 and 3 count.
        for seq in 1..=2 {
            assert_eq!(j.judge(f.clone(), Some(&c(seq, &["a.db"])), "h"), f);
        }
        assert_eq!(
            missing(&j.judge(f.clone(), Some(&c(3, &["a.db"])), "h")),
            ["a.db"]
        );
        // Not made: nothing said (not `a.db` again, nor a clean pair).
        assert_eq!(j.judge(f.clone(), Some(&not_made(4)), "h"), f);
        // The next one made counts on from the last made: 3 and 5 lack `a.db` in a row.
        assert_eq!(
            missing(&j.judge(f.clone(), Some(&c(5, &["a.db"])), "h")),
            ["a.db"]
        );
        assert!(
            not_made(7)
                .unchecked
                .unwrap()
                .contains("in the server's group")
        );
        // Another cause (a node out of reach) gets no advice about groups.
        let other = not_checked(&std::io::Error::other("the link to rep was cut"));
        assert!(other.ends_with("the link to rep was cut"), "{other}");
    }

    /// The one rule `check` and the live views share: only a functional pair lacking
    /// something turns `databases-missing`.
    #[test]
    fn only_a_functional_pair_that_lacks_a_database_is_databases_missing() {
        let lacks = ["v.db".to_string()];
        assert_eq!(
            with_lacks(Verdict::Functional, &lacks, "/h").name(),
            "databases-missing"
        );
        assert_eq!(
            with_lacks(Verdict::Functional, &[], "/h"),
            Verdict::Functional
        );
        assert_eq!(
            with_lacks(Verdict::Connecting, &lacks, "/h"),
            Verdict::Connecting
        );
    }
}
