//! "A node is the node the config names" (design invariant 9): two nodes never share a home
//! folder, and a node tt-ha acts on here really is on this machine.
//!
//! Both rules compare what the operating system says, never strings: homes by the device and
//! inode of the resolved folder (so a trailing `/`, `var/../var/db` or a symbolic link to the
//! other home are the same folder), and a node's address against the addresses this machine's
//! interfaces carry. Preflight shows the outcome as rows; the engine asks again before every
//! destructive step, because a configuration can be edited (or a link re-pointed) between the
//! two.

use crate::config::Node;
use crate::node::{NodeAccess, Pair};
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// What identifies a folder: device and inode where the system has them.
#[cfg(unix)]
type FolderId = (u64, u64);
/// What identifies a folder: its resolved path elsewhere (no inode in std there).
#[cfg(not(unix))]
type FolderId = PathBuf;

/// The identity of a folder (after resolving links), or `None` when it cannot be read.
#[cfg(unix)]
fn folder_id(path: &Path) -> Option<FolderId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn folder_id(path: &Path) -> Option<FolderId> {
    path.canonicalize().ok()
}

/// The folder and each of its ancestors, resolved, by identity, in words (`dev:ino`), each
/// prefixed by `machine` so that folders of two machines never compare equal.
pub fn lineage_ids(path: &Path, machine: &str) -> Vec<String> {
    lineage(path)
        .iter()
        .map(|id| format!("{machine}/{id:?}"))
        .collect()
}

/// The folder and each of its ancestors, resolved, by identity.
fn lineage(path: &Path) -> Vec<FolderId> {
    let Ok(real) = path.canonicalize() else {
        return Vec::new();
    };
    real.ancestors().filter_map(folder_id).collect()
}

/// Why two homes cannot be a master's and its replicant's: the same folder, or one inside the
/// other (pruning the outer one would move the inner home). `None` when they are apart or
/// cannot be read (the home rows of preflight say why). Both on this machine.
pub fn homes_clash(master: &Node, replicant: &Node) -> Option<String> {
    lineages_clash(
        (master, &lineage_ids(&master.home, "")),
        (replicant, &lineage_ids(&replicant.home, "")),
    )
}

/// [`homes_clash`] for homes given by their lineages ([`lineage_ids`], as each node's machine
/// reports them: identities of two machines never compare equal).
pub fn lineages_clash(
    (master, m): (&Node, &[String]),
    (replicant, r): (&Node, &[String]),
) -> Option<String> {
    let (Some(mid), Some(rid)) = (m.first(), r.first()) else {
        return None;
    };
    let both = format!(
        "{} ({}) and {} ({})",
        master.name,
        crate::display::path(&master.home),
        replicant.name,
        crate::display::path(&replicant.home)
    );
    if mid == rid {
        Some(format!(
            "{both} are the same folder: each node needs its own home. Check `home` of both nodes in tt-ha.toml"
        ))
    } else if r.contains(mid) {
        Some(format!(
            "{both}: the replicant's home is inside the master's. Check `home` of both nodes in tt-ha.toml"
        ))
    } else if m.contains(rid) {
        Some(format!(
            "{both}: the master's home is inside the replicant's, whose contents are moved away. Check `home` of both nodes in tt-ha.toml"
        ))
    } else {
        None
    }
}

/// The IP addresses of this machine's interfaces.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|v| v.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// The IPv4 addresses a node's `address` stands for (itself, or what a name resolves to).
pub(crate) fn ipv4_of(address: &str) -> Vec<Ipv4Addr> {
    if let Ok(ip) = address.parse::<Ipv4Addr>() {
        return vec![ip];
    }
    (address, 0)
        .to_socket_addrs()
        .map(|it| {
            it.filter_map(|a| match a.ip() {
                IpAddr::V4(v) => Some(v),
                IpAddr::V6(_) => None,
            })
            .collect()
        })
        .unwrap_or_default()
}

/// Is `node` on this machine? `Ok(how)` says why it is; `Err(why)` says why not and what to do.
/// Its address must be one of this machine's; a loopback address counts only when the peer's
/// is loopback too (a pair on one machine, as in the sandbox): a loopback master cannot be
/// reached by a replicant elsewhere, and a loopback address proves nothing about which
/// machine a node is.
pub fn on_this_machine(node: &Node, peer: &Node) -> Result<String, String> {
    on_machine_with(node, peer, &local_addresses())
}

fn on_machine_with(node: &Node, peer: &Node, local: &[IpAddr]) -> Result<String, String> {
    let mine = ipv4_of(&node.address);
    if mine.is_empty() {
        return Err(format!(
            "{}'s address {} is not an IPv4 address and does not resolve to one: set `address` of {} in tt-ha.toml to the IPv4 address its DB_CONFIG uses",
            node.name, node.address, node.name
        ));
    }
    if mine.iter().any(|ip| ip.is_loopback()) {
        let peer_loopback = ipv4_of(&peer.address).iter().any(|ip| ip.is_loopback());
        return if peer_loopback {
            Ok(format!(
                "{} (loopback; both nodes are on this machine)",
                node.address
            ))
        } else {
            Err(format!(
                "{}'s address {} is a loopback address but {}'s ({}) is not: a replicant on another machine could never reach it, and it does not say which machine {} is. Set `address` of {} to its real IPv4 address",
                node.name, node.address, peer.name, peer.address, node.name, node.name
            ))
        };
    }
    if let Some(ip) = mine.iter().find(|ip| local.contains(&IpAddr::V4(**ip))) {
        return Ok(format!("{ip} is an address of this machine"));
    }
    let here: Vec<String> = local
        .iter()
        .filter(|ip| ip.is_ipv4())
        .map(|ip| ip.to_string())
        .collect();
    Err(format!(
        "{} is not on this machine: its address {} is not one of this machine's ({}). a node without `ssh` is the machine tt-ha runs on, so its folders and server here would be another node's. If {} is another server, give it `ssh = \"user@host\"` in tt-ha.toml (tt-ha reaches it through its agent there); else correct its `address`",
        node.name,
        node.address,
        if here.is_empty() {
            "none found".to_string()
        } else {
            here.join(", ")
        },
        node.name
    ))
}

/// Every reason the configured nodes are not two distinct nodes on this machine, each naming
/// the node(s) and the fix. Empty when tt-ha may act on them.
pub fn refusals(nodes: &Pair) -> Vec<String> {
    let (m, r) = (nodes.master(), nodes.replicant());
    let mut out = Vec::new();
    if let Some(why) = nodes.homes_clash() {
        out.push(why);
    }
    for (n, peer) in [(m, r), (r, m)] {
        if let Err(why) = n.address_check(peer.config()) {
            out.push(why);
        }
    }
    out
}

/// The file in a run's folder that records which folders the run's homes were when it started.
pub const RUN_HOMES_FILE: &str = "homes.json";

/// One home as a run saw it when it started.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct RecordedHome {
    name: String,
    path: PathBuf,
    id: Option<String>,
}

fn recorded(n: &dyn NodeAccess) -> RecordedHome {
    RecordedHome {
        name: n.config().name.clone(),
        path: n.config().home.clone(),
        id: n.home_lineage().into_iter().next(),
    }
}

/// Whether two recorded identities are one folder. A run recorded by an earlier tt-ha holds the
/// folder's `(device, inode)` without the machine: it is compared with the machine removed.
fn same_id(then: &Option<String>, now: &Option<String>) -> bool {
    match (then, now) {
        (Some(a), Some(b)) => {
            a == b || (!a.contains('/') && b.rsplit_once('/').is_some_and(|(_, id)| id == a))
        }
        _ => false,
    }
}

/// Records, in a new run's folder and before the run's first record, which folders its two
/// homes are (by identity), so that every later step of the run, in this invocation or a
/// resumed one, can refuse a configuration re-pointed at another folder meanwhile.
pub fn record_run_homes(run_folder: &Path, nodes: &Pair) -> std::io::Result<()> {
    let path = run_folder.join(RUN_HOMES_FILE);
    if path.exists() {
        return Ok(());
    }
    let homes = [recorded(nodes.master()), recorded(nodes.replicant())];
    let bytes = serde_json::to_vec_pretty(&homes).map_err(std::io::Error::other)?;
    crate::atomic::write_new(&path, &bytes)
}

/// Why the configured homes are not the folders the run started on, if they are not. A run
/// whose folder has no record (made by an older tt-ha) is not checked.
pub fn run_homes_changed(run_folder: &Path, nodes: &Pair) -> Option<String> {
    let bytes = std::fs::read(run_folder.join(RUN_HOMES_FILE)).ok()?;
    let Ok(then) = serde_json::from_slice::<Vec<RecordedHome>>(&bytes) else {
        return Some(format!(
            "{} is unreadable: cannot prove the homes are the ones this run started on. Restore it, or roll the run back with the configuration it started with",
            crate::display::path(&run_folder.join(RUN_HOMES_FILE))
        ));
    };
    let now = [recorded(nodes.master()), recorded(nodes.replicant())];
    let changed: Vec<String> = then
        .iter()
        .zip(now.iter())
        .filter(|(a, b)| !same_id(&a.id, &b.id))
        .map(|(a, b)| {
            format!(
                "{}'s home was {} when this run started and is now {} (another folder)",
                b.name,
                crate::display::path(&a.path),
                crate::display::path(&b.path)
            )
        })
        .collect();
    (!changed.is_empty()).then(|| {
        format!(
            "{}. This run stopped and changed the first; put tt-ha.toml back as it was when the run started, then run the same command again",
            changed.join("; ")
        )
    })
}

/// The resolved form of a home as configured: links and `..` resolved once, so that the run
/// folder beside it (and everything journaled) names the real folder. Unchanged when it does
/// not exist (preflight says so).
pub fn resolve_home(home: &Path) -> PathBuf {
    home.canonicalize().unwrap_or_else(|_| home.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, address: &str, home: &Path) -> Node {
        let text = format!(
            "name = {name:?}\naddress = {address:?}\nhome = {:?}\nservice = {{ kind = \"commands\", start = [\"true\"], stop = [\"true\"], status = [\"true\"] }}\n",
            home.display().to_string()
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn same_folder_by_any_spelling_and_nesting() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("var/db");
        let b = t.path().join("other/db");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&a, &link).unwrap();
        let m = node("m", "127.0.0.1", &a);
        let spellings = [
            a.clone(),
            PathBuf::from(format!("{}/", a.display())),
            t.path().join("var/../var/db"),
            t.path().join("var/./db"),
            link.clone(),
            link.join("."),
        ];
        for s in spellings {
            let r = node("r", "127.0.0.1", &s);
            let why = homes_clash(&m, &r).unwrap_or_else(|| panic!("{} passed", s.display()));
            assert!(why.contains("same folder"), "{why}");
        }
        assert_eq!(homes_clash(&m, &node("r", "127.0.0.1", &b)), None);
        // One home inside the other, either way round.
        let inner = a.join("sub");
        std::fs::create_dir_all(&inner).unwrap();
        let why = homes_clash(&m, &node("r", "127.0.0.1", &inner)).unwrap();
        assert!(why.contains("inside the master's"), "{why}");
        let why = homes_clash(&node("m", "127.0.0.1", &inner), &m).unwrap();
        assert!(why.contains("inside the replicant's"), "{why}");
    }

    #[test]
    fn a_node_must_be_on_this_machine() {
        let p = Path::new("/nonexistent");
        let here: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "10.1.2.3".parse().unwrap()];
        let lo = node("a", "127.0.0.1", p);
        let lo2 = node("b", "127.0.0.2", p);
        let real = node("c", "10.1.2.3", p);
        let away = node("d", "10.9.9.9", p);
        // A pair on loopback: both fine.
        assert!(on_machine_with(&lo, &lo2, &here).is_ok());
        // Loopback beside a real address: refused, naming both.
        let e = on_machine_with(&lo, &real, &here).unwrap_err();
        assert!(e.contains("loopback") && e.contains("10.1.2.3"), "{e}");
        // An address of this machine: fine; another machine's: refused, naming ours.
        assert!(on_machine_with(&real, &away, &here).is_ok());
        let e = on_machine_with(&away, &real, &here).unwrap_err();
        assert!(
            e.contains("not on this machine") && e.contains("10.1.2.3"),
            "{e}"
        );
        // Nothing IPv4 at all.
        let e = on_machine_with(&node("e", "no-such-host.invalid", p), &real, &here).unwrap_err();
        assert!(e.contains("does not resolve"), "{e}");
        // This machine's real interfaces include loopback.
        assert!(local_addresses().iter().any(|ip| ip.is_loopback()));
    }
}
