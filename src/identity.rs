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

/// Where a folder lies, in two ways that each name it whatever its spelling, each entry
/// prefixed by its machine so that folders of two machines never compare equal: by identity
/// (device and inode of the folder and of each folder above it) and by place (where it lies
/// within its file system, from the mount table, and each place above it). Identity alone
/// misses a bind mount: the folder a bind mount shows has the identity of a folder elsewhere,
/// but the folders above it are the mount point's, so a home bind-mounted from a folder inside
/// the other home did not read as inside it. Its place does.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lineage {
    /// Whether the folder itself exists (a run folder is made by the first run). A folder
    /// that does not exist has the identities of the folders above it only.
    pub exists: bool,
    /// `machine/(device, inode)` of the folder (when it exists) and of each folder above it.
    pub ids: Vec<String>,
    /// `machine/place:MAJOR:MINOR:PATH` of the folder and of each folder above it, the folder
    /// first (Linux; empty elsewhere or when the mount table cannot be read).
    pub places: Vec<String>,
}

impl Lineage {
    /// The lineage of `path` on the machine called `machine` (this one). A path that does not
    /// exist is placed by the nearest folder above it that does (`..` in the rest is taken
    /// as written); an empty lineage when no part of it can be read.
    pub fn of(path: &Path, machine: &str) -> Lineage {
        let mut rest = Vec::new();
        let mut at = path;
        let (real, exists) = loop {
            if let Ok(real) = at.canonicalize() {
                break (real, rest.is_empty());
            }
            let (Some(parent), Some(last)) = (at.parent(), at.components().next_back()) else {
                return Lineage::default();
            };
            rest.push(last.as_os_str().to_os_string());
            at = parent;
        };
        // `..` below a folder that does not exist yet is taken as written: place the path it
        // spells, whose missing part then has none.
        if rest.iter().any(|n| n == "..") {
            let mut spelled = real;
            for name in rest.iter().rev() {
                if name == ".." {
                    spelled.pop();
                } else if name != "." {
                    spelled.push(name);
                }
            }
            return Lineage::of(&spelled, machine);
        }
        let ids = real
            .ancestors()
            .filter_map(folder_id)
            .map(|id| format!("{machine}/{id:?}"))
            .collect();
        let mut places = Vec::new();
        if let Some((device, mut inside)) = place(&real) {
            for name in rest.iter().rev().filter(|n| *n != ".") {
                inside.push(name);
            }
            places = inside
                .ancestors()
                .map(|p| format!("{machine}/place:{device}:{}", p.display()))
                .collect();
        }
        Lineage {
            exists,
            ids,
            places,
        }
    }

    /// Whether this folder is `outer` or lies inside it (by identity or by place). Never for
    /// an `outer` that does not exist or cannot be read.
    pub fn within(&self, outer: &Lineage) -> bool {
        if !outer.exists {
            return false;
        }
        outer.ids.first().is_some_and(|o| self.ids.contains(o))
            || outer
                .places
                .first()
                .is_some_and(|o| self.places.contains(o))
    }
}

/// Where `real` (a resolved folder) lies within its file system: the mount's device
/// (`MAJOR:MINOR`) and the path from that file system's root, from `/proc/self/mountinfo`
/// (the mount found by `statx`'s mount id, else by the longest mount point above `real`).
#[cfg(target_os = "linux")]
fn place(real: &Path) -> Option<(String, PathBuf)> {
    let table = std::fs::read("/proc/self/mountinfo").ok()?;
    let mount_id = rustix::fs::statx(
        rustix::fs::CWD,
        real,
        rustix::fs::AtFlags::empty(),
        rustix::fs::StatxFlags::MNT_ID,
    )
    .ok()
    .filter(|s| s.stx_mask & rustix::fs::StatxFlags::MNT_ID.bits() != 0)
    .map(|s| s.stx_mnt_id);
    let mut best: Option<(usize, String, PathBuf, PathBuf)> = None;
    for line in table.split(|b| *b == b'\n') {
        let mut fields = line.split(|b| *b == b' ');
        let (Some(id), Some(_parent), Some(device), Some(root), Some(point)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        let point = unescape_mount_field(point);
        let Ok(below) = real.strip_prefix(&point) else {
            continue;
        };
        let depth = point.components().count();
        let exact = mount_id.is_some_and(|m| std::str::from_utf8(id).ok() == Some(&m.to_string()));
        let better = match (&best, mount_id) {
            (_, Some(_)) => exact,
            // Later lines are mounted later: at one mount point, the last one is seen.
            (Some((d, ..)), None) => depth >= *d,
            (None, None) => true,
        };
        if better {
            let root = unescape_mount_field(root);
            best = Some((
                depth,
                String::from_utf8_lossy(device).into_owned(),
                root.join(below),
                point,
            ));
        }
    }
    best.map(|(_, device, inside, _)| (device, inside))
}

#[cfg(not(target_os = "linux"))]
fn place(_real: &Path) -> Option<(String, PathBuf)> {
    None
}

/// A path field of the mount table: space, tab, newline and backslash are written as `\NNN`
/// (octal).
#[cfg(target_os = "linux")]
fn unescape_mount_field(field: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (field[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// The folders of one node, each placed by [`Lineage`]: its home, its run folder and its
/// backup folder (when it has one).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeFolders {
    /// The home (the server's database folder).
    pub home: Lineage,
    /// The run folder (journal, quarantine, lock).
    pub run: Lineage,
    /// The backup folder.
    pub backup: Option<Lineage>,
}

impl NodeFolders {
    /// The folders of `node`, as this machine (called `machine`) sees them.
    pub fn of(node: &Node, machine: &str) -> NodeFolders {
        NodeFolders {
            home: Lineage::of(&node.home, machine),
            run: Lineage::of(&node.run_dir(), machine),
            backup: node.backup_dir.as_ref().map(|b| Lineage::of(b, machine)),
        }
    }
}

/// Why the two nodes' homes cannot be told apart, if they cannot: one folder (reached by
/// any spelling or link), or one inside the other. The home part of [`folders_clash`], and
/// what the live views check too: both nodes' message files, servers and databases are then
/// one node's, and no verdict of the pair means anything.
pub fn homes_clash(
    (master, m): (&Node, &NodeFolders),
    (replicant, r): (&Node, &NodeFolders),
) -> Option<String> {
    let both = format!(
        "{} ({}) and {} ({})",
        master.name,
        crate::display::path(&master.home),
        replicant.name,
        crate::display::path(&replicant.home)
    );
    if m.home.within(&r.home) && r.home.within(&m.home) {
        Some(format!(
            "{both} are the same folder: each node needs its own home. Check `home` of both nodes in tt-ha.toml"
        ))
    } else if r.home.within(&m.home) {
        Some(format!(
            "{both}: the replicant's home is inside the master's. Check `home` of both nodes in tt-ha.toml"
        ))
    } else if m.home.within(&r.home) {
        Some(format!(
            "{both}: the master's home is inside the replicant's, whose contents are moved away. Check `home` of both nodes in tt-ha.toml"
        ))
    } else {
        None
    }
}

/// Every reason the folders of the two nodes cannot be used: two homes that are one folder
/// or nested (pruning the outer one would move the inner home), and a run or backup folder in
/// a home, either node's (the replicant's home is emptied into quarantine, a run's journal and
/// lock with it; a master's home is backed up and restored whole). Each names the nodes, the
/// folders and the keys to change. Empty when they are apart, or cannot be read (the home
/// rows of preflight say why). Folders of two machines never clash.
pub fn folders_clash(
    (master, m): (&Node, &NodeFolders),
    (replicant, r): (&Node, &NodeFolders),
) -> Vec<String> {
    let mut out: Vec<String> = homes_clash((master, m), (replicant, r))
        .into_iter()
        .collect();
    for (owner, folders) in [(master, m), (replicant, r)] {
        let mut own = vec![("run folder", "run_dir", &folders.run, owner.run_dir())];
        if let (Some(lineage), Some(path)) = (&folders.backup, &owner.backup_dir) {
            own.push(("backup folder", "backup_dir", lineage, path.clone()));
        }
        for (what, key, lineage, path) in own {
            for (home_owner, home) in [(master, &m.home), (replicant, &r.home)] {
                let whose = if home_owner.name == owner.name {
                    "its own home".to_string()
                } else {
                    format!("{}'s home", home_owner.name)
                };
                // A home inside a run folder (a `run_dir` set to a folder holding the
                // master's home, or the replicant's run folder made a link to the master's
                // `var`): what is moved into that folder or purged from it can be the home's
                // files. (A backup folder only gains new folders: a home in it is left be.)
                if key == "run_dir" && home.within(lineage) && !lineage.within(home) {
                    out.push(format!(
                        "{}'s home {} is inside {}'s {what} {}: a run folder's quarantine and attempt folders are moved into and purged, so that home's files could be moved or removed with them. Set `{key}` of {} in tt-ha.toml to a folder that holds neither home",
                        home_owner.name,
                        crate::display::path(&home_owner.home),
                        owner.name,
                        crate::display::path(&path),
                        owner.name
                    ));
                    continue;
                }
                if !lineage.within(home) {
                    continue;
                }
                out.push(format!(
                    "{}'s {what} {} is {whose} {} or inside it: a home holds the server's files only (the replicant's is emptied into quarantine, the master's is backed up and restored whole), so this folder would be moved or copied with it. Set `{key}` of {} in tt-ha.toml to a folder outside both homes",
                    owner.name,
                    crate::display::path(&path),
                    crate::display::path(&home_owner.home),
                    owner.name
                ));
            }
        }
    }
    out
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
    out.extend(nodes.folders_clash());
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
    let path = run_folder.join(RUN_HOMES_FILE);
    // Never waits on a FIFO put in its place; a record of two homes is small. Only a record
    // that is not there goes unchecked: one that cannot be read proves nothing.
    let read = crate::fsinfo::read_bounded(&path, 1 << 20, "a record of homes");
    if read
        .as_ref()
        .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    {
        return None;
    }
    let Some(then) = read
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Vec<RecordedHome>>(&bytes).ok())
    else {
        return Some(format!(
            "{} is unreadable: cannot prove the homes are the ones this run started on. Restore it, or roll the run back with the configuration it started with",
            crate::display::path(&path)
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

    /// [`folders_clash`] of two nodes on this machine, in one string.
    fn clash(m: &Node, r: &Node) -> String {
        folders_clash(
            (m, &NodeFolders::of(m, "here")),
            (r, &NodeFolders::of(r, "here")),
        )
        .join("; ")
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
            let why = clash(&m, &r);
            assert!(why.contains("same folder"), "{}: {why}", s.display());
        }
        assert_eq!(clash(&m, &node("r", "127.0.0.1", &b)), "");
        // One home inside the other, either way round.
        let inner = a.join("sub");
        std::fs::create_dir_all(&inner).unwrap();
        let why = clash(&m, &node("r", "127.0.0.1", &inner));
        assert!(why.contains("inside the master's"), "{why}");
        let why = clash(&node("m", "127.0.0.1", &inner), &m);
        assert!(why.contains("inside the replicant's"), "{why}");
        // Folders of two machines never clash.
        let r = node("r", "127.0.0.1", &a);
        let apart = folders_clash(
            (&m, &NodeFolders::of(&m, "one")),
            (&r, &NodeFolders::of(&r, "two")),
        );
        assert!(apart.is_empty(), "{apart:?}");
    }

    /// A run or backup folder in either home, by any spelling, existing or not yet made, is
    /// refused naming its node, the folder and the key; one beside the homes is not.
    #[test]
    fn a_run_or_backup_folder_in_a_home_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let mh = t.path().join("m/var/db");
        let rh = t.path().join("r/var/db");
        std::fs::create_dir_all(&mh).unwrap();
        std::fs::create_dir_all(&rh).unwrap();
        let link = t.path().join("link-to-r");
        std::os::unix::fs::symlink(&rh, &link).unwrap();
        let cases: [(bool, &str, PathBuf, &str); 8] = [
            (true, "run_dir", rh.clone(), "m's run folder"),
            (true, "run_dir", rh.join("./"), "m's run folder"),
            (true, "run_dir", link.join("tt-ha"), "m's run folder"),
            (
                true,
                "backup_dir",
                rh.join("not-yet/made"),
                "m's backup folder",
            ),
            (
                true,
                "backup_dir",
                mh.join("../db/backup"),
                "m's backup folder",
            ),
            (true, "run_dir", mh.clone(), "m's run folder"),
            (false, "run_dir", rh.join("run"), "r's run folder"),
            (
                false,
                "run_dir",
                t.path().join("m/var/db/x/../y"),
                "r's run folder",
            ),
        ];
        // `..` under a folder not made yet is taken as written: this one is beside the home.
        let mut m = node("m", "127.0.0.1", &mh);
        m.run_dir = Some(rh.join("missing/../../tt-ha"));
        assert_eq!(clash(&m, &node("r", "127.0.0.1", &rh)), "");
        for (on_master, key, folder, says) in cases {
            let mut m = node("m", "127.0.0.1", &mh);
            let mut r = node("r", "127.0.0.1", &rh);
            let n = if on_master { &mut m } else { &mut r };
            match key {
                "run_dir" => n.run_dir = Some(folder.clone()),
                _ => n.backup_dir = Some(folder.clone()),
            }
            let why = clash(&m, &r);
            assert!(
                why.contains(says) && why.contains(&format!("`{key}`")),
                "{}: {why}",
                folder.display()
            );
        }
        // Beside the homes (the default run folder, `<home>/../tt-ha`), and a backup folder
        // above both: fine.
        let mut m = node("m", "127.0.0.1", &mh);
        m.backup_dir = Some(t.path().to_path_buf());
        let r = node("r", "127.0.0.1", &rh);
        assert_eq!(clash(&m, &r), "");
    }

    #[test]
    fn mount_table_fields_are_unescaped_byte_for_byte() {
        use std::os::unix::ffi::OsStrExt;
        let p = unescape_mount_field(br"/a\040b\011c\012d\134e\0f\999g\");
        assert_eq!(p.as_os_str().as_bytes(), b"/a b\tc\nd\\e\\0f\\999g\\");
        let p = unescape_mount_field(br"/\377");
        assert_eq!(p.as_os_str().as_bytes(), b"/\xff");
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
