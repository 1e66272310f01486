//! Whose replication the message files prove (design invariant 8): the replicant's master must
//! be this pair's master and the master's replicant this pair's replicant.
//!
//! Each file names its own site (`EID 0 is assigned for site H:P`, the first line of a process)
//! and its partner's (the replicant: `Updating gen … from master EID` with that EID's site; the
//! master: the sites it has a connection with). Sites are compared as repmgr prints them: the
//! host exactly as DB_CONFIG writes it (case and a trailing dot aside) and the replication port.
//! The site config adds the configured address and port, and the addresses a configured host
//! name resolves to.

use super::state::NodeState;

use std::net::{IpAddr, ToSocketAddrs};

/// A replication site: a port and the host spellings that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteId {
    /// `host:port` as configured (or as the file printed it), for messages.
    pub shown: String,
    port: u16,
    hosts: Vec<String>,
}

/// A host as compared: without IPv6 brackets or a trailing dot, lower case.
fn norm_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// `host:port` as repmgr prints a site (the port after the last ':').
fn split_site(site: &str) -> Option<(&str, u16)> {
    let (host, port) = site.rsplit_once(':')?;
    Some((host, port.parse().ok()?))
}

impl SiteId {
    /// `host` at `port`.
    pub fn new(host: &str, port: u16) -> SiteId {
        SiteId {
            shown: format!("{host}:{port}"),
            port,
            hosts: vec![norm_host(host)],
        }
    }

    /// A site as a message file prints it (`host:port`), if it is one.
    pub fn parse(site: &str) -> Option<SiteId> {
        let (host, port) = split_site(site)?;
        Some(SiteId {
            shown: site.to_string(),
            ..SiteId::new(host, port)
        })
    }

    /// Also named `host` (an address the configured name resolves to).
    pub fn alias(&mut self, host: &str) {
        let h = norm_host(host);
        if !self.hosts.contains(&h) {
            self.hosts.push(h);
        }
    }

    /// Whether `site` (`host:port` as a message file prints it) is this site.
    pub fn matches(&self, site: &str) -> bool {
        split_site(site).is_some_and(|(h, p)| p == self.port && self.hosts.contains(&norm_host(h)))
    }
}

/// What a node's file must show to prove this pair's replication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The node's own site (its configured address and replication port).
    pub local: SiteId,
    /// Its partner's.
    pub partner: SiteId,
}

/// Both nodes' expectations: (the master's, the replicant's). The replication port is the one
/// `plan` uses (tt-ha.toml, else the node's DB_CONFIG — read through the node, wherever it
/// is — else 5100).
pub fn expected(
    master: &dyn crate::node::NodeAccess,
    replicant: &dyn crate::node::NodeAccess,
) -> (Expected, Expected) {
    let m = site_of(master);
    let r = site_of(replicant);
    (
        Expected {
            local: m.clone(),
            partner: r.clone(),
        },
        Expected {
            local: r,
            partner: m,
        },
    )
}

fn site_of(access: &dyn crate::node::NodeAccess) -> SiteId {
    let node = access.config();
    let port = crate::nodeview::NodeView::of(access).repl_port;
    let mut site = SiteId::new(&node.address, port);
    if node.address.parse::<IpAddr>().is_err()
        && let Ok(addrs) = (node.address.as_str(), port).to_socket_addrs()
    {
        // A host name: DB_CONFIG may write it or one of its addresses.
        for a in addrs {
            site.alias(&a.ip().to_string());
        }
    }
    site
}

/// How far the files prove that they are this pair's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pair {
    /// Each file's partner is this pair's other node.
    Proven,
    /// Nothing to compare with (one file, no site config): not checked.
    Unchecked,
    /// Not connected to a partner (yet); nothing contradicts the pair.
    Unproven,
    /// The files show another partner or another server: why, and what to check.
    Mismatch(String),
}

impl Pair {
    /// Whether this allows a single file's `functional` (its half of the proof).
    pub fn allows_functional(&self) -> bool {
        matches!(self, Pair::Proven | Pair::Unchecked)
    }

    /// The word for `--json` (`proven`, `unchecked`, `unproven`, `mismatch`).
    pub fn name(&self) -> &'static str {
        match self {
            Pair::Proven => "proven",
            Pair::Unchecked => "unchecked",
            Pair::Unproven => "unproven",
            Pair::Mismatch(_) => "mismatch",
        }
    }
}

/// Who a node is, and by what authority.
struct Identity {
    site: SiteId,
    by: String,
}

/// `role`'s identities: its configured site, and the site its own file names.
fn identities(role: &str, configured: Option<&SiteId>, own: Option<&str>) -> Vec<Identity> {
    let mut v: Vec<Identity> = configured
        .map(|s| Identity {
            site: s.clone(),
            by: "tt-ha.toml".into(),
        })
        .into_iter()
        .collect();
    if let Some(site) = own.and_then(SiteId::parse) {
        v.push(Identity {
            site,
            by: format!("the {role}'s own message file"),
        });
    }
    v
}

/// A file's own site (`EID 0`) against the configured one: a file of another server is not
/// this node's, whatever it proves.
fn own_site(n: Option<&NodeState>, role: &str) -> Option<Pair> {
    let n = n?;
    let (cfg, own) = (&n.expected.as_ref()?.local, n.local_site.as_deref()?);
    (!cfg.matches(own)).then(|| {
        Pair::Mismatch(format!(
            "the {role}'s message file is written by the site {own} (its `EID 0` line), but tt-ha.toml names the {role} {}: the file belongs to another server; check the {role}'s `home`, `message_file`, `address` and `replication_port` in tt-ha.toml",
            cfg.shown
        ))
    })
}

/// One direction of the pair: `who`'s partner `candidates` against the partner's identities.
fn link(who: &str, candidates: &[&str], partner: &str, ids: &[Identity], fix: &str) -> Pair {
    if ids.is_empty() {
        return Pair::Unchecked;
    }
    if candidates.is_empty() {
        return Pair::Unproven;
    }
    if candidates
        .iter()
        .any(|c| ids.iter().all(|id| id.site.matches(c)))
    {
        return Pair::Proven;
    }
    let wanted = ids
        .iter()
        .find(|id| !candidates.iter().any(|c| id.site.matches(c)))
        .unwrap_or(&ids[0]);
    Pair::Mismatch(format!(
        "the {who}'s {partner} is {}, but this pair's {partner} is {} (by {}): these files are not the replication of this pair; {fix}",
        candidates.join(", "),
        wanted.site.shown,
        wanted.by,
    ))
}

/// Whether the master file `m` and the replicant file `r` (either may be absent) are this
/// pair's: by their own sites and, where the states carry the site config's expectations, by
/// the configured addresses and replication ports.
pub fn check(m: Option<&NodeState>, r: Option<&NodeState>) -> Pair {
    fn expected(n: Option<&NodeState>) -> Option<&Expected> {
        n.and_then(|n| n.expected.as_ref())
    }
    let master_cfg = expected(m)
        .map(|e| &e.local)
        .or(expected(r).map(|e| &e.partner));
    let replicant_cfg = expected(r)
        .map(|e| &e.local)
        .or(expected(m).map(|e| &e.partner));
    if let Some(p) = own_site(m, "master").or_else(|| own_site(r, "replicant")) {
        return p;
    }
    let master_ids = identities(
        "master",
        master_cfg,
        m.and_then(|m| m.local_site.as_deref()),
    );
    let replicant_ids = identities(
        "replicant",
        replicant_cfg,
        r.and_then(|r| r.local_site.as_deref()),
    );
    let mut links = Vec::new();
    if let Some(r) = r {
        // Its master, once known; until then the sites it is connected to.
        let candidates: Vec<&str> = match &r.master_site {
            Some(s) => vec![s.as_str()],
            None => connected(r),
        };
        links.push(link(
            "replicant",
            &candidates,
            "master",
            &master_ids,
            "the replicant's DB_CONFIG must name the master's address and replication port as its remote site (`tt-ha plan` shows the edit), and tt-ha.toml the master's message file",
        ));
    }
    if let Some(m) = m {
        links.push(link(
            "master",
            &connected(m),
            "replicant",
            &replicant_ids,
            "the master's DB_CONFIG must name the replicant's address and replication port as its remote site, and tt-ha.toml the replicant's message file",
        ));
    }
    links
        .iter()
        .find(|p| matches!(p, Pair::Mismatch(_)))
        .or_else(|| links.iter().find(|p| **p == Pair::Unproven))
        .or_else(|| links.iter().find(|p| **p == Pair::Unchecked))
        .cloned()
        .unwrap_or(Pair::Proven)
}

/// The sites `n` has a connection with now.
fn connected(n: &NodeState) -> Vec<&str> {
    n.peers
        .iter()
        .filter(|(_, c)| **c)
        .map(|(s, _)| s.as_str())
        .collect()
}

/// The master's databases that the replicant's home does not hold, by name. A database and
/// its replica share their Berkeley DB file id (`database_ids`), so they are matched by it,
/// whatever they are named: a copy of a database kept in the master's home (`media.db.bak`)
/// has the id of the one it copies and asks for nothing more (by name it read as missing, a
/// false CRITICAL). A replicant whose start-up is done holds every database of the master;
/// one whose files were moved or deleted while its server runs goes on replicating into files
/// no longer in its folder, its message file reads as functional, and a restart loses them
/// (`check` said OK). Empty when the master lists none (databases kept elsewhere,
/// `set_data_dir`).
///
/// The id must be held under one of the names the master gives it: the server opens its
/// databases by name, so one renamed inside the replicant's home (`media.db.aside`) is as
/// lost to its next start as one moved out (by id alone it read as held: OK).
/// `fold_case`: names are compared without case (a Windows replicant, whose server opens
/// `MEDIA.DB` for `media.db`).
///
/// A replicant's file whose id could not be read ([`super::progress::UNREAD_ID`]: this user
/// may not read it) holds whatever the master has under its name: it is there, by name (so
/// a database moved away is still told). A master's file not read is not known to be a
/// database by its bytes: one named as a database (`*.db`) is taken for one and asks for a
/// file of its name on the replicant (a master's databases at mode 0640 asked for nothing,
/// and a replicant lacking one read OK to such a user); any other asks for nothing.
pub fn replicant_lacks(
    master: &std::collections::BTreeMap<String, String>,
    replicant: &std::collections::BTreeMap<String, String>,
    fold_case: bool,
) -> Vec<String> {
    use std::collections::{BTreeMap, HashSet};
    let fold = |n: &str| {
        if fold_case {
            n.to_lowercase()
        } else {
            n.to_string()
        }
    };
    use super::progress::UNREAD_ID;
    let held: HashSet<(String, &str)> = replicant
        .iter()
        .map(|(n, id)| (fold(n), id.as_str()))
        .collect();
    let has = |name: &str, id: &str| {
        let name = fold(name);
        held.contains(&(name.clone(), id)) || held.contains(&(name, UNREAD_ID))
    };
    let mut names_of: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
    for (name, id) in master.iter().filter(|(_, id)| id.as_str() != UNREAD_ID) {
        names_of.entry(id).or_default().push(name);
    }
    let mut lacks: Vec<String> = names_of
        .iter()
        .filter(|(id, names)| !names.iter().any(|n| has(n, id)))
        .map(|(_, names)| names[0].clone())
        .collect();
    let held_names: HashSet<String> = replicant.keys().map(|n| fold(n)).collect();
    lacks.extend(
        unread_databases(master)
            .filter(|n| !held_names.contains(&fold(n)))
            .cloned(),
    );
    lacks.sort();
    lacks.dedup();
    lacks
}

/// The names in `ids` ([`super::progress::database_ids`]) whose files this user could not
/// read and that are named as databases (`*.db`): taken for databases, by name.
pub fn unread_databases(
    ids: &std::collections::BTreeMap<String, String>,
) -> impl Iterator<Item = &String> {
    ids.iter()
        .filter(|(n, id)| {
            id.as_str() == super::progress::UNREAD_ID
                && crate::dbhome::classify(n.as_str(), crate::dbhome::EntryKind::File, "")
                    == crate::dbhome::FileClass::Database
        })
        .map(|(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database is held when its id is under one of the names the master gives it: a copy
    /// kept in the master's home asks for nothing more, one renamed in the replicant's home is
    /// lacking, and a name differing in case is held on a replicant that folds case.
    #[test]
    fn a_database_is_held_by_id_under_one_of_its_names() {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(n, i)| (n.to_string(), i.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let master = map(&[
            ("media.db", "X"),
            ("media.db.bak", "X"),
            ("volumes.db", "Y"),
        ]);
        let lacks = |r: &[(&str, &str)], fold| replicant_lacks(&master, &map(r), fold);
        assert!(lacks(&[("media.db", "X"), ("volumes.db", "Y")], false).is_empty());
        assert_eq!(lacks(&[("media.db", "X")], false), ["volumes.db"]);
        assert_eq!(
            lacks(&[("media.db", "X"), ("volumes.db.aside", "Y")], false),
            ["volumes.db"]
        );
        assert_eq!(
            lacks(&[("media.db", "X"), ("VOLUMES.DB", "Y")], false),
            ["volumes.db"]
        );
        assert!(lacks(&[("media.db", "X"), ("VOLUMES.DB", "Y")], true).is_empty());
        // Another database's id under the name is not it.
        assert_eq!(
            lacks(&[("media.db", "X"), ("volumes.db", "Z")], false),
            ["volumes.db"]
        );
        // A replicant's file this user cannot read is there by its name: it holds the
        // master's database of that name, and its absence is still told.
        assert!(lacks(&[("media.db", ""), ("volumes.db", "")], false).is_empty());
        assert_eq!(lacks(&[("media.db", "")], false), ["volumes.db"]);
        // A master's file not read is not known to be a database by its bytes: one named as a
        // database is taken for one and asks for its name (any id, or unread) on the
        // replicant (a master's databases at 0640 asked for nothing: OK with one missing);
        // any other asks for nothing.
        let mut unread_master = master.clone();
        unread_master.insert("secret.db".into(), "".into());
        unread_master.insert("notes.txt".into(), "".into());
        let with = |r: &[(&str, &str)], fold| replicant_lacks(&unread_master, &map(r), fold);
        assert_eq!(
            with(&[("media.db", "X"), ("volumes.db", "Y")], false),
            ["secret.db"]
        );
        for held in [("secret.db", "Q"), ("secret.db", "")] {
            assert!(with(&[("media.db", "X"), ("volumes.db", "Y"), held], false).is_empty());
        }
        assert!(
            with(
                &[("media.db", "X"), ("volumes.db", "Y"), ("SECRET.DB", "Q")],
                true
            )
            .is_empty()
        );
        assert_eq!(
            with(&[("media.db", "X")], false),
            ["secret.db", "volumes.db"]
        );
    }

    #[test]
    fn sites_match_as_repmgr_prints_them() {
        let mut s = SiteId::new("10.0.0.1", 5100);
        assert!(s.matches("10.0.0.1:5100"));
        assert!(!s.matches("10.0.0.1:5101"));
        assert!(!s.matches("10.0.0.10:5100"));
        assert!(!s.matches("garbage"));
        assert!(!s.matches("10.0.0.1:99999"));
        s.alias("TTMaster.example.");
        assert!(s.matches("ttmaster.example:5100"));
        let v6 = SiteId::new("[::1]", 5100);
        assert!(v6.matches("::1:5100"));
        assert!(SiteId::new("Host", 1).matches("host.:1"));
    }
}
