//! A Berkeley DB home (TapeTrack's `var/db`): what each entry is, whether the folder really is a
//! home, and which entries each procedure step moves into quarantine.
//!
//! Nothing here changes the file system. Symbolic links are listed as links and never followed.

use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Paths in messages are shown escaped: they may hold any bytes.
use crate::display::path as shown;

/// What an entry of a home is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileClass {
    /// `DB_CONFIG`.
    DbConfig,
    /// A region file, `__db.001` … (also `_db.*`, as the vendor page shows it).
    Region,
    /// A replication file, `__db.rep.*` (also `db.rep.*`).
    Replication,
    /// A transaction log, `log.0000000001`.
    Log,
    /// A database file (`*.db`).
    Database,
    /// The server's message file (`$DB_Msg.txt`).
    MessageFile,
    /// A folder.
    Folder,
    /// Anything else.
    Other,
}

impl FileClass {
    /// Short label for listings.
    pub fn label(self) -> &'static str {
        match self {
            FileClass::DbConfig => "DB_CONFIG",
            FileClass::Region => "region",
            FileClass::Replication => "replication",
            FileClass::Log => "log",
            FileClass::Database => "database",
            FileClass::MessageFile => "message file",
            FileClass::Folder => "folder",
            FileClass::Other => "other",
        }
    }
}

/// The kind of file-system object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// Regular file.
    File,
    /// Folder (its size is the total of what it holds).
    Dir,
    /// Symbolic link (moved as a link, never followed).
    Symlink,
    /// Socket, device, …
    Special,
}

impl EntryKind {
    /// The kind in words, for messages.
    pub fn words(self) -> &'static str {
        match self {
            EntryKind::File => "a file",
            EntryKind::Dir => "a folder",
            EntryKind::Symlink => "a symbolic link",
            EntryKind::Special => "a socket or device",
        }
    }
}

/// One entry directly inside the home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The file name, lossily as text (U+FFFD for bytes that are not UTF-8). Never a key for
    /// moves or classification: those use the exact name in `path`; show it with
    /// [`crate::display::file_name`].
    pub name: String,
    /// Full path, exact.
    #[serde(with = "crate::pathjson")]
    pub path: PathBuf,
    /// File, folder, link.
    pub kind: EntryKind,
    /// What it is for Berkeley DB.
    pub class: FileClass,
    /// Size in bytes (folders: total of their contents; links: the link itself).
    pub bytes: u64,
}

impl Entry {
    /// The entry's exact name in its node's spelling (a Windows node's path, read on a Unix
    /// controller, is split at its `\\`).
    fn exact_name(&self) -> Vec<u8> {
        crate::node::path::exact_file_name(&self.path)
    }

    /// True when the entry's exact name is a region name ([`is_region_name`]).
    fn has_region_name(&self) -> bool {
        region_name_bytes(&self.exact_name())
    }

    /// True when Berkeley DB makes a file of its own under this entry's name when it opens the
    /// environment ([`made_at_open`]). On a Windows node names compare without case: its
    /// `__DB.002` is the file Berkeley DB opens as `__db.002`.
    fn named_as_made_at_open(&self) -> bool {
        let mut name = self.exact_name();
        if crate::node::path::spelled_os(&self.path) == crate::node::NodeOs::Windows {
            name.make_ascii_lowercase();
        }
        made_at_open(name)
    }
}

/// Why a folder is refused as a database home.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// Missing or not a folder.
    #[error(
        "{}: {why}. Check `home` in tt-ha.toml: it must be the server's var/db folder",
        shown(.path)
    )]
    NotAFolder {
        /// The configured path.
        path: PathBuf,
        /// What was found.
        why: String,
    },
    /// A folder that must never be treated as a home.
    #[error(
        "{} is {what}, not a Berkeley DB home: tt-ha refuses to plan moves there. Point `home` at the server's var/db folder",
        shown(.path)
    )]
    Forbidden {
        /// The resolved path.
        path: PathBuf,
        /// `the root folder`, `a user's home folder` …
        what: &'static str,
    },
    /// No DB_CONFIG.
    #[error(
        "{} does not look like a Berkeley DB home: it has no DB_CONFIG. Point `home` at the server's var/db folder (the one holding DB_CONFIG and the __db.* files)",
        shown(.path)
    )]
    NoDbConfig {
        /// The home.
        path: PathBuf,
    },
    /// DB_CONFIG is a link.
    #[error(
        "{} is a symbolic link (to {}): tt-ha never follows links out of the home. Replace it with the real file and run again",
        shown(.path),
        shown(.target)
    )]
    DbConfigIsLink {
        /// DB_CONFIG's path.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// The folder could not be read.
    #[error(
        "{}: cannot read: {source}. Run tt-ha as a user that may read the database folder (on Windows, as Administrator)",
        shown(.path)
    )]
    Unreadable {
        /// What could not be read.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A remote node's agent refused, or could not be asked (the message says which node and
    /// what to do).
    #[error("{0}")]
    Remote(String),
}

/// A database home and its entries, sorted by name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Home {
    /// The path as configured.
    #[serde(with = "crate::pathjson")]
    pub configured: PathBuf,
    /// The resolved path (links in the path itself resolved).
    #[serde(with = "crate::pathjson")]
    pub path: PathBuf,
    /// Entries sorted by name.
    pub entries: Vec<Entry>,
}

fn name_is_dbconfig(name: &OsStr) -> bool {
    if cfg!(windows) {
        name.eq_ignore_ascii_case("DB_CONFIG")
    } else {
        name == "DB_CONFIG"
    }
}

/// True for names the master's `regions` step moves: `__db.*`, plus the vendor page's `_db.*` and
/// `db.rep.*` renderings of the same names. Decided on the name's exact bytes.
pub fn is_region_name(name: impl AsRef<OsStr>) -> bool {
    region_name_bytes(name.as_ref().as_encoded_bytes())
}

/// [`is_region_name`] on a name's exact bytes (a remote node's name, split from its path).
fn region_name_bytes(b: &[u8]) -> bool {
    b.starts_with(b"__db.") || b.starts_with(b"_db.") || b.starts_with(b"db.rep.")
}

/// True for names Berkeley DB deletes when it recovers the environment (as the server's start
/// does, and a restart after a rollback): every name that begins `__db`, except the replication
/// files (`__db.rep…`), the register file (`__db.register…`) and queue extents (`__dbq.…`).
/// Measured with `db5.3_recover` on this machine (`__db.fake`, `__dbfake`, `__db` and
/// `__db.0001` went; `__db.reppg.db`, `__db.registerx` and `__dbq.x.1` stayed). Exact bytes.
pub fn recovery_removes(name: impl AsRef<OsStr>) -> bool {
    removed_at_recovery(name.as_ref().as_encoded_bytes())
}

/// True for names Berkeley DB makes its own files under when it opens an environment: region
/// files (`__db.` and digits), replication files (`__db.rep.…`) and the register
/// (`__db.register`). Exact bytes, as Berkeley DB writes them (lower case).
pub fn made_at_open(name: impl AsRef<[u8]>) -> bool {
    match name.as_ref().strip_prefix(b"__db.") {
        Some(rest) => {
            (!rest.is_empty() && rest.iter().all(u8::is_ascii_digit))
                || rest.starts_with(b"rep.")
                || rest == b"register"
        }
        None => false,
    }
}

/// Why `node`'s server must not be started on its home (at `home`) while `blockers` are there
/// ([`Home::start_blockers`]), with what to do; `None` when nothing is in the way.
pub fn start_refusal(node: &str, home: &Path, blockers: &[&Entry]) -> Option<String> {
    if blockers.is_empty() {
        return None;
    }
    let names: Vec<String> = blockers
        .iter()
        .map(|e| format!("{} ({})", shown(&e.path), e.kind.words()))
        .collect();
    Some(format!(
        "{node}'s home holds {}, under a name Berkeley DB makes its own file under when the server starts: the start would fail (`Is a directory`, DB_RUNRECOVERY). Nothing was started. Move it out of {} (it is not a Berkeley DB file), then run the same command again",
        names.join(", "),
        shown(home)
    ))
}

/// [`recovery_removes`] on a name's exact bytes (a remote node's name, split from its path).
pub fn removed_at_recovery(b: &[u8]) -> bool {
    b.starts_with(b"__db")
        && !b.starts_with(b"__db.rep")
        && !b.starts_with(b"__db.register")
        && !b.starts_with(b"__dbq.")
}

/// Classifies an entry by its exact name and kind (never by a lossy copy of the name: a name
/// that is not UTF-8 is not the message file just because it looks like it once decoded).
pub fn classify(name: impl AsRef<OsStr>, kind: EntryKind, message_file: &str) -> FileClass {
    let name = name.as_ref();
    let b = name.as_encoded_bytes();
    if kind == EntryKind::Dir {
        return FileClass::Folder;
    }
    if name_is_dbconfig(name) {
        return FileClass::DbConfig;
    }
    if b.starts_with(b"__db.rep.") || b.starts_with(b"db.rep.") {
        return FileClass::Replication;
    }
    if is_region_name(name) {
        return FileClass::Region;
    }
    if name == OsStr::new(message_file) {
        return FileClass::MessageFile;
    }
    if let Some(num) = b.strip_prefix(b"log.")
        && num.len() == 10
        && num.iter().all(u8::is_ascii_digit)
    {
        return FileClass::Log;
    }
    if b.ends_with(b".db") {
        return FileClass::Database;
    }
    FileClass::Other
}

/// What is wrong with using `path` (already resolved) as a home, if anything.
fn forbidden(path: &Path) -> Option<&'static str> {
    if path.parent().is_none() {
        return Some("the root of a drive or of the file system");
    }
    let homes = ["HOME", "USERPROFILE"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .filter_map(|p| p.canonicalize().ok());
    for home in homes {
        if path == home {
            return Some("a user's home folder");
        }
    }
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().to_lowercase());
    let grand = path.parent().and_then(|p| p.parent());
    if grand.is_some_and(|g| g.parent().is_none())
        && matches!(parent.as_deref(), Some("home" | "users"))
    {
        return Some("a user's home folder");
    }
    if path == Path::new("/root") {
        return Some("a user's home folder");
    }
    None
}

/// Total size of a folder's contents, without following links.
fn tree_bytes(dir: &Path) -> Result<u64, HomeError> {
    let unreadable = |source| HomeError::Unreadable {
        path: dir.to_path_buf(),
        source,
    };
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let meta = std::fs::symlink_metadata(entry.path()).map_err(unreadable)?;
        total += if meta.is_dir() {
            tree_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// The checks on the folder itself: it exists, is a folder, resolves, and is not forbidden.
fn resolve(configured: &Path) -> Result<PathBuf, HomeError> {
    let meta = std::fs::metadata(configured).map_err(|e| HomeError::NotAFolder {
        path: configured.to_path_buf(),
        why: match e.kind() {
            std::io::ErrorKind::NotFound => "no such folder".to_string(),
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (run tt-ha as a user that may read it)".to_string()
            }
            _ => e.to_string(),
        },
    })?;
    if !meta.is_dir() {
        return Err(HomeError::NotAFolder {
            path: configured.to_path_buf(),
            why: "this is a file, not a folder".to_string(),
        });
    }
    let path = configured
        .canonicalize()
        .map_err(|source| HomeError::Unreadable {
            path: configured.to_path_buf(),
            source,
        })?;
    if let Some(what) = forbidden(&path) {
        return Err(HomeError::Forbidden { path, what });
    }
    Ok(path)
}

/// Lists the resolved home `path`: each entry's kind and size (one `stat` each, relative to
/// the open folder: no walk of the whole path per entry), and whether DB_CONFIG is there.
fn list(configured: &Path, path: PathBuf, message_file: &str) -> Result<Home, HomeError> {
    list_with_ids(configured, path, message_file).map(|(home, _)| home)
}

/// [`list`], and the device and inode of each entry from the same `stat` (Unix).
fn list_with_ids(
    configured: &Path,
    path: PathBuf,
    message_file: &str,
) -> Result<(Home, Vec<(u64, u64)>), HomeError> {
    let unreadable = |source| HomeError::Unreadable {
        path: path.clone(),
        source,
    };
    let mut ids = Vec::new();
    let mut entries = Vec::new();
    let mut has_config = false;
    let items = std::fs::read_dir(&path)
        .map_err(unreadable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    let metas = stat_all(&items);
    for (item, meta) in items.into_iter().zip(metas) {
        let p = item.path();
        let meta = meta.map_err(|source| HomeError::Unreadable {
            path: p.clone(),
            source,
        })?;
        #[cfg(unix)]
        ids.push({
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        });
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else {
            EntryKind::Special
        };
        let os_name = item.file_name();
        if name_is_dbconfig(&os_name) {
            if kind == EntryKind::Symlink {
                return Err(HomeError::DbConfigIsLink {
                    target: std::fs::read_link(&p).unwrap_or_default(),
                    path: p,
                });
            }
            has_config = kind == EntryKind::File;
        }
        let name = os_name.to_string_lossy().into_owned();
        let bytes = if kind == EntryKind::Dir {
            tree_bytes(&p)?
        } else {
            meta.len()
        };
        entries.push(Entry {
            class: classify(&os_name, kind, message_file),
            name,
            path: p,
            kind,
            bytes,
        });
    }
    if !has_config {
        return Err(HomeError::NoDbConfig { path });
    }
    // By name. Every path is the home joined with one name, so comparing the paths' bytes
    // orders by name, without taking each path apart into components (which `file_name` does:
    // 100,000 entries sorted that way cost a tenth of a second).
    entries.sort_by(|a, b| a.path.as_os_str().cmp(b.path.as_os_str()));
    let home = Home {
        configured: configured.to_path_buf(),
        path,
        entries,
    };
    Ok((home, ids))
}

/// Below this many entries one thread stats them all: a second costs more than it saves.
const PARALLEL_STAT_FROM: usize = 4096;

/// Each entry's `lstat` (never following a link; relative to the open folder), in order. A
/// large folder's entries are statted by two threads at once, each half its own: on a cold
/// cache every `stat` waits on an inode read, and two requests under way keep the disk busy
/// while the other waits (the anchor, `mv`, makes no `stat` at all).
fn stat_all(items: &[std::fs::DirEntry]) -> Vec<std::io::Result<std::fs::Metadata>> {
    let stat = |part: &[std::fs::DirEntry]| part.iter().map(|i| i.metadata()).collect::<Vec<_>>();
    if items.len() < PARALLEL_STAT_FROM {
        return stat(items);
    }
    let (first, second) = items.split_at(items.len() / 2);
    std::thread::scope(|scope| {
        let later = scope.spawn(|| stat(second));
        let mut metas = stat(first);
        match later.join() {
            Ok(rest) => metas.extend(rest),
            // A panic in `stat` is not expected; this thread then stats the half itself.
            Err(_) => metas.extend(stat(second)),
        }
        metas
    })
}

/// What says a folder's names have not changed: its identity and its modification and change
/// times, to the nanosecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    id: (u64, u64),
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// True when both times lie more than `margin` before `t`: a change made after `t` then
    /// shows as a different time, whatever the file system's clock granularity.
    fn settled_before(&self, t: std::time::SystemTime, margin: std::time::Duration) -> bool {
        let Some(limit) = t
            .checked_sub(margin)
            .and_then(|l| l.duration_since(std::time::UNIX_EPOCH).ok())
        else {
            return false;
        };
        let before = |(s, ns): (i64, i64)| {
            s >= 0 && std::time::Duration::new(s as u64, ns.clamp(0, 999_999_999) as u32) < limit
        };
        before(self.mtime) && before(self.ctime)
    }
}

/// How far in the past a folder's times must be for its listing to be reused. On a local file
/// system this kernel stamps the times from its own clock, in ticks of at most 10 ms: 100 ms is
/// ample. Elsewhere (a network share stamps with the server's clock, which may be off and
/// coarse; FAT keeps 2 s) three seconds, and a folder changed that recently is listed afresh.
fn racy_margin(path: &Path) -> std::time::Duration {
    #[cfg(target_os = "linux")]
    {
        // ext2/3/4, XFS, Btrfs, tmpfs, overlayfs, F2FS, ZFS, bcachefs.
        const LOCAL: [u64; 8] = [
            0xEF53,
            0x5846_5342,
            0x9123_683E,
            0x0102_1994,
            0x794C_7630,
            0xF2F5_2010,
            0x2FC1_2FC1,
            0xCA45_1A4E,
        ];
        if rustix::fs::statfs(path).is_ok_and(|f| LOCAL.contains(&(f.f_type as u64))) {
            return std::time::Duration::from_millis(100);
        }
    }
    let _ = path;
    std::time::Duration::from_secs(3)
}

/// Listings kept: a run looks at two homes.
const MAX_KEPT: usize = 4;

/// Device and inode pairs, shared.
pub type Identities = std::sync::Arc<std::collections::HashSet<(u64, u64)>>;

/// One kept listing.
struct Listing {
    stamp: Stamp,
    message_file: String,
    home: Home,
    /// Device and inode of the home and of each entry, from the listing's own `stat`s.
    ids: Identities,
}

/// What this process's kept listing of the resolved home `path` says of its identities, when
/// the folder provably has not changed since it was listed (the rule of
/// [`Home::open_reused`]): the device and inode of the home and of each entry directly in it
/// (from the listing's own `stat`s, never a listing's `d_ino`), and its subfolders, whose
/// contents the caller must look at itself. None when there is no such listing.
pub fn kept_identities(path: &Path) -> Option<(Identities, Vec<PathBuf>)> {
    let now = stamp(path)?;
    let kept = LISTINGS.lock().unwrap_or_else(|e| e.into_inner());
    let l = kept
        .iter()
        .find(|l| l.stamp == now && l.home.path == path)?;
    let subfolders = l
        .home
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Dir)
        .map(|e| e.path.clone())
        .collect();
    Some((l.ids.clone(), subfolders))
}

/// This process's kept listings (see [`Home::open_reused`]).
static LISTINGS: std::sync::Mutex<Vec<Listing>> = std::sync::Mutex::new(Vec::new());

#[cfg(unix)]
fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        id: (m.dev(), m.ino()),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

/// No reuse where the folder's change time is not at hand.
#[cfg(not(unix))]
fn stamp(_path: &Path) -> Option<Stamp> {
    None
}

impl Home {
    /// Reads and checks a home: refuses `/`, drive roots, users' home folders and folders without
    /// DB_CONFIG. `message_file` is the node's message file name.
    pub fn open(configured: &Path, message_file: &str) -> Result<Home, HomeError> {
        let path = resolve(configured)?;
        list(configured, path, message_file)
    }

    /// [`Home::open`], reusing this process's last listing of the same folder when the folder
    /// provably has not changed since: same device, inode, modification and change times, and
    /// those times were already in the past when it was listed (a change in the same tick of
    /// the file system's clock could otherwise hide behind an unchanged time, as git's "racy
    /// clean" entries can; how far in the past is [`racy_margin`]). A folder's times change whenever a name in it is added, removed or
    /// renamed, so the names and kinds are current; sizes may be older (a file grown in place),
    /// which only what is shown uses. An `apply` lists a home of 100,000 files once instead of
    /// three times (the plan before the run, the preflight step's plan, the step that moves).
    pub fn open_reused(configured: &Path, message_file: &str) -> Result<Home, HomeError> {
        let path = resolve(configured)?;
        let Some(now) = stamp(&path) else {
            return list(configured, path, message_file);
        };
        let mut kept = LISTINGS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = kept
            .iter()
            .find(|l| l.stamp == now && l.message_file == message_file && l.home.path == path)
        {
            let mut home = l.home.clone();
            home.configured = configured.to_path_buf();
            return Ok(home);
        }
        let listed_at = std::time::SystemTime::now();
        let (home, ids) = list_with_ids(configured, path, message_file)?;
        kept.retain(|l| l.home.path != home.path || l.message_file != message_file);
        if now.settled_before(listed_at, racy_margin(&home.path)) {
            if kept.len() >= MAX_KEPT {
                kept.remove(0);
            }
            let mut ids: std::collections::HashSet<(u64, u64)> = ids.into_iter().collect();
            ids.insert(now.id);
            kept.push(Listing {
                stamp: now,
                message_file: message_file.to_string(),
                home: home.clone(),
                ids: std::sync::Arc::new(ids),
            });
        }
        Ok(home)
    }
    /// What the master's `regions` step moves: exactly the non-folder entries named `__db.*`,
    /// `_db.*` or `db.rep.*`. Databases, logs, DB_CONFIG and the message file never.
    pub fn master_region_moves(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.kind != EntryKind::Dir && e.has_region_name())
            .collect()
    }

    /// Entries that are not regular files under a name Berkeley DB makes its own file under
    /// when the server opens the environment ([`made_at_open`]). A folder there fails the start
    /// (`__db.002: Is a directory`, then `DB_RUNRECOVERY`, seen with Berkeley DB 5.3), after the
    /// start was asked for; a link or device would be opened in the file's place.
    pub fn start_blockers(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.kind != EntryKind::File && e.named_as_made_at_open())
            .collect()
    }

    /// Why `node`'s server must not be started on this home as it is ([`Home::start_blockers`]),
    /// with what to do; `None` when nothing is in the way.
    pub fn start_refusal(&self, node: &str) -> Option<String> {
        start_refusal(node, &self.path, &self.start_blockers())
    }

    /// What the replicant's `prune` step moves: everything except DB_CONFIG.
    pub fn replicant_prune_moves(&self) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.class != FileClass::DbConfig)
            .collect()
    }

    /// What the procedure moves out of the home of a node in `role`: the master's region files
    /// ([`Home::master_region_moves`]), everything of the replicant's but DB_CONFIG
    /// ([`Home::replicant_prune_moves`]).
    pub fn moves_for(&self, role: crate::dbconfig::Role) -> Vec<&Entry> {
        match role {
            crate::dbconfig::Role::Master => self.master_region_moves(),
            crate::dbconfig::Role::Replicant => self.replicant_prune_moves(),
        }
    }

    /// Total bytes of the given entries.
    pub fn total(entries: &[&Entry]) -> u64 {
        entries.iter().map(|e| e.bytes).sum()
    }

    /// Bytes of the databases and logs (what a backup copies).
    pub fn data_bytes(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| matches!(e.class, FileClass::Database | FileClass::Log))
            .map(|e| e.bytes)
            .sum()
    }
}

/// `1.5 MiB`-style sizes for people.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn names_berkeley_db_makes_at_open() {
        for name in [
            "__db.001",
            "__db.1",
            "__db.0042",
            "__db.rep.egen",
            "__db.rep.system",
            "__db.register",
        ] {
            assert!(made_at_open(name), "{name}");
        }
        for name in [
            "__db.",
            "__db.fake",
            "__db.00a",
            "__db.registerx",
            "__dbq.x.1",
            "_db.001",
            "db.rep.egen",
            "x__db.001",
            "__DB.001",
        ] {
            assert!(!made_at_open(name), "{name}");
        }
    }

    /// A remote Windows node's listing, read on this (Unix) controller: its names are split at
    /// `\\` (this machine's `Path` takes the whole text for one name, and `master.regions`
    /// then moved no region file of a Windows master), and compare without case.
    #[cfg(unix)]
    #[test]
    fn a_windows_nodes_entries_are_judged_by_their_own_names() {
        let entry = |name: &str, kind: EntryKind| Entry {
            name: name.to_string(),
            path: PathBuf::from(format!(r"C:\TapeTrack\var\db\{name}")),
            kind,
            class: classify(name, kind, "$DB_Msg.txt"),
            bytes: 1,
        };
        let home = Home {
            configured: PathBuf::from(r"C:\TapeTrack\var\db"),
            path: PathBuf::from(r"C:\TapeTrack\var\db"),
            entries: vec![
                entry("DB_CONFIG", EntryKind::File),
                entry("__DB.002", EntryKind::Dir),
                entry("__db.001", EntryKind::File),
                entry("__db.rep.egen", EntryKind::File),
                entry("customers.db", EntryKind::File),
                entry("x__db.003", EntryKind::File),
            ],
        };
        let names = |v: Vec<&Entry>| v.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(home.master_region_moves()),
            ["__db.001", "__db.rep.egen"]
        );
        assert_eq!(names(home.start_blockers()), ["__DB.002"]);
    }

    #[cfg(unix)]
    #[test]
    fn only_what_is_not_a_file_under_such_a_name_blocks_a_start() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("DB_CONFIG"), b"").unwrap();
        fs::write(d.path().join("__db.001"), b"").unwrap();
        fs::create_dir(d.path().join("__db.002")).unwrap();
        fs::create_dir(d.path().join("__db.fake")).unwrap();
        std::os::unix::fs::symlink("/nowhere", d.path().join("__db.rep.gen")).unwrap();
        let home = Home::open(d.path(), "$DB_Msg.txt").unwrap();
        let names: Vec<_> = home
            .start_blockers()
            .iter()
            .map(|e| e.path.file_name().unwrap().to_os_string())
            .collect();
        assert_eq!(names, ["__db.002", "__db.rep.gen"]);
        let why = home.start_refusal("ttmaster").unwrap();
        assert!(
            why.starts_with("ttmaster's home holds ")
                && why.contains("__db.002 (a folder)")
                && why.contains("__db.rep.gen (a symbolic link)"),
            "{why}"
        );
    }

    #[test]
    fn classifies_names() {
        let c = |n| classify(n, EntryKind::File, "$DB_Msg.txt");
        assert_eq!(c("DB_CONFIG"), FileClass::DbConfig);
        assert_eq!(c("__db.001"), FileClass::Region);
        assert_eq!(c("_db.002"), FileClass::Region);
        assert_eq!(c("__db.rep.gen"), FileClass::Replication);
        assert_eq!(c("db.rep.egen"), FileClass::Replication);
        assert_eq!(c("log.0000000001"), FileClass::Log);
        assert_eq!(c("log.1"), FileClass::Other);
        assert_eq!(c("volumes.db"), FileClass::Database);
        assert_eq!(c("$DB_Msg.txt"), FileClass::MessageFile);
        assert_eq!(
            c("db_config"),
            if cfg!(windows) {
                FileClass::DbConfig
            } else {
                FileClass::Other
            }
        );
        assert_eq!(c("x__db.001"), FileClass::Other);
        assert_eq!(classify("__db.001", EntryKind::Dir, ""), FileClass::Folder);
    }

    #[test]
    fn forbidden_paths() {
        assert!(forbidden(Path::new("/")).is_some());
        assert!(forbidden(Path::new("/home/alice")).is_some());
        assert!(forbidden(Path::new("/root")).is_some());
        assert!(forbidden(Path::new("/home/alice/var/db")).is_none());
        assert!(forbidden(Path::new("/srv/tapetrack/var/db")).is_none());
    }

    fn home_with(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for n in names {
            fs::write(dir.path().join(n), n.as_bytes()).unwrap();
        }
        dir
    }

    #[test]
    fn master_plan_moves_only_region_names() {
        let dir = home_with(&[
            "DB_CONFIG",
            "__db.001",
            "__db.002",
            "__db.rep.gen",
            "__db.rep.egen",
            "_db.003",
            "db.rep.system",
            "log.0000000001",
            "volumes.db",
            "$DB_Msg.txt",
            "notes.txt",
            "__db",
            "db.repx",
            "x__db.001",
        ]);
        let home = Home::open(dir.path(), "$DB_Msg.txt").unwrap();
        let moved: Vec<&str> = home
            .master_region_moves()
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(
            moved,
            vec![
                "__db.001",
                "__db.002",
                "__db.rep.egen",
                "__db.rep.gen",
                "_db.003",
                "db.rep.system"
            ]
        );
    }

    #[test]
    fn replicant_plan_moves_all_but_db_config_sorted_with_sizes() {
        let dir = home_with(&["DB_CONFIG", "zeta", "__db.001", "log.0000000001"]);
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/inner"), b"12345").unwrap();
        let home = Home::open(dir.path(), "$DB_Msg.txt").unwrap();
        let moves = home.replicant_prune_moves();
        let names: Vec<&str> = moves.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["__db.001", "log.0000000001", "sub", "zeta"]);
        assert_eq!(moves[2].bytes, 5);
        assert_eq!(moves[2].class, FileClass::Folder);
        assert_eq!(Home::total(&moves), 8 + 14 + 5 + 4);
    }

    #[cfg(unix)]
    /// A folder large enough to be statted by two threads is listed exactly as one `lstat`
    /// per entry says: every entry's kind and size its own (the halves never swapped or
    /// shifted), and each entry's id its own.
    #[test]
    fn a_large_folder_lists_each_entry_with_its_own_stat() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("DB_CONFIG"), b"set_cachesize 0 1 1\n").unwrap();
        let n = super::PARALLEL_STAT_FROM + 777;
        for i in 0..n {
            // Sizes that differ entry by entry, and a link and a folder among them.
            let p = dir.path().join(format!("f{i:05}"));
            match i % 1000 {
                500 => std::os::unix::fs::symlink("nowhere", &p).unwrap(),
                900 => {
                    std::fs::create_dir(&p).unwrap();
                    std::fs::write(p.join("x"), vec![0u8; i % 97]).unwrap();
                }
                _ => std::fs::write(&p, vec![b'x'; i % 313]).unwrap(),
            }
        }
        let home = Home::open(dir.path(), "$DB_Msg.txt").unwrap();
        assert_eq!(home.entries.len(), n + 1);
        for e in &home.entries {
            let meta = std::fs::symlink_metadata(&e.path).unwrap();
            let kind = if meta.file_type().is_symlink() {
                EntryKind::Symlink
            } else if meta.is_dir() {
                EntryKind::Dir
            } else {
                EntryKind::File
            };
            assert_eq!(e.kind, kind, "{}", e.name);
            let bytes = if meta.is_dir() {
                std::fs::symlink_metadata(e.path.join("x")).unwrap().len()
            } else {
                meta.len()
            };
            assert_eq!(e.bytes, bytes, "{}", e.name);
        }
    }

    #[test]
    fn symlinks_are_listed_not_followed() {
        let outside = home_with(&["big"]);
        fs::write(outside.path().join("big"), vec![0u8; 10_000]).unwrap();
        let dir = home_with(&["DB_CONFIG"]);
        std::os::unix::fs::symlink(outside.path(), dir.path().join("__db.link")).unwrap();
        let home = Home::open(dir.path(), "$DB_Msg.txt").unwrap();
        let e = &home.master_region_moves()[0];
        assert_eq!(e.kind, EntryKind::Symlink);
        assert!(e.bytes < 10_000, "link size, not target size");
    }

    #[cfg(unix)]
    #[test]
    fn db_config_symlink_is_refused() {
        let outside = home_with(&["DB_CONFIG"]);
        let dir = home_with(&[]);
        std::os::unix::fs::symlink(
            outside.path().join("DB_CONFIG"),
            dir.path().join("DB_CONFIG"),
        )
        .unwrap();
        let err = Home::open(dir.path(), "$DB_Msg.txt").unwrap_err();
        assert!(matches!(err, HomeError::DbConfigIsLink { .. }), "{err}");
    }

    #[test]
    fn refuses_without_db_config_or_not_a_folder() {
        let dir = home_with(&["__db.001"]);
        let err = Home::open(dir.path(), "$DB_Msg.txt").unwrap_err();
        assert!(err.to_string().contains("has no DB_CONFIG"), "{err}");
        let err = Home::open(&dir.path().join("__db.001"), "$DB_Msg.txt").unwrap_err();
        assert!(err.to_string().contains("not a folder"), "{err}");
        let err = Home::open(&dir.path().join("missing"), "$DB_Msg.txt").unwrap_err();
        assert!(err.to_string().contains("no such folder"), "{err}");
        assert!(matches!(
            Home::open(Path::new("/"), "x"),
            Err(HomeError::Forbidden { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn odd_names_are_classified_and_planned() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let dir = home_with(&[
            "DB_CONFIG",
            "line\nbreak",
            " leading space",
            "__db.001 ",
            "-rf",
            "DB_CONFIG.bak",
            ".hidden",
        ]);
        fs::write(dir.path().join(OsStr::from_bytes(b"__db.\xff\xfe")), b"x").unwrap();
        fs::write(dir.path().join(OsStr::from_bytes(b"latin1-\xe9.db")), b"x").unwrap();
        let home = Home::open(dir.path(), "$DB_Msg.txt").unwrap();
        let regions: Vec<&str> = home
            .master_region_moves()
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(regions, vec!["__db.001 ", "__db.\u{FFFD}\u{FFFD}"]);
        assert!(
            home.master_region_moves()[1]
                .path
                .as_os_str()
                .as_bytes()
                .ends_with(b"__db.\xff\xfe"),
            "the real name is kept for the move"
        );
        assert_eq!(
            home.replicant_prune_moves().len(),
            8,
            "all but DB_CONFIG, DB_CONFIG.bak included"
        );
        let class = |n: &str| home.entries.iter().find(|e| e.name == n).unwrap().class;
        assert_eq!(class("DB_CONFIG.bak"), FileClass::Other);
        assert_eq!(class("latin1-\u{FFFD}.db"), FileClass::Database);
    }

    /// What the backup copies: databases and logs, nothing else. The preflight's disk-space
    /// check for the backup rests on this number, so it must never come out as 0 (or as the
    /// whole folder) on a used home.
    #[test]
    fn data_bytes_counts_exactly_the_databases_and_logs() {
        let dir = home_with(&["DB_CONFIG", "notes.txt"]);
        let sized = [
            ("volumes.db", 3000),
            ("customers.db", 1000),
            ("log.0000000001", 2000),
            ("log.0000000002", 500),
            ("__db.001", 4096),
            ("__db.rep.gen", 300),
            ("$DB_Msg.txt", 777),
        ];
        for (name, len) in sized {
            fs::write(dir.path().join(name), vec![7u8; len]).unwrap();
        }
        fs::create_dir(dir.path().join("old.db")).unwrap();
        fs::write(dir.path().join("old.db/inner.db"), vec![1u8; 9000]).unwrap();
        let home = Home::open(dir.path(), "$DB_Msg.txt").unwrap();
        assert_eq!(home.data_bytes(), 3000 + 1000 + 2000 + 500);
        let empty = home_with(&["DB_CONFIG"]);
        assert_eq!(
            Home::open(empty.path(), "$DB_Msg.txt")
                .unwrap()
                .data_bytes(),
            0
        );
    }

    #[cfg(unix)]
    #[test]
    fn names_are_classified_by_their_bytes_not_a_lossy_copy() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let dir = home_with(&["DB_CONFIG", "msg-\u{FFFD}.txt"]);
        fs::write(dir.path().join(OsStr::from_bytes(b"msg-\xff.txt")), b"x").unwrap();
        fs::write(dir.path().join(OsStr::from_bytes(b"__db.rep.\xff")), b"x").unwrap();
        let home = Home::open(dir.path(), "msg-\u{FFFD}.txt").unwrap();
        let class = |n: &[u8]| {
            home.entries
                .iter()
                .find(|e| e.path.file_name().unwrap().as_bytes() == n)
                .unwrap()
                .class
        };
        assert_eq!(class("msg-\u{FFFD}.txt".as_bytes()), FileClass::MessageFile);
        assert_eq!(
            class(b"msg-\xff.txt"),
            FileClass::Other,
            "not the message file"
        );
        assert_eq!(class(b"__db.rep.\xff"), FileClass::Replication);
    }

    #[cfg(unix)]
    #[test]
    fn errors_show_paths_escaped() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let home = dir
            .path()
            .join(OsStr::from_bytes(b"db-\x1b]0;pwned\x07-\xff"));
        fs::create_dir(&home).unwrap();
        let err = Home::open(&home, "$DB_Msg.txt").unwrap_err().to_string();
        assert!(err.contains("db-\\x1b]0;pwned\\x07-\\xff"), "{err}");
        assert!(!err.chars().any(|c| c.is_control()), "{err:?}");
        let err = Home::open(&home.join("missing\n"), "$DB_Msg.txt")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing\\x0a"), "{err:?}");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    /// A home whose folder was last changed long enough ago to be reused.
    fn settled_home() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("db");
        fs::create_dir_all(&home).unwrap();
        fs::write(home.join("DB_CONFIG"), b"").unwrap();
        fs::write(home.join("log.0000000001"), b"12345").unwrap();
        std::thread::sleep(std::time::Duration::from_secs(4));
        (t, home)
    }

    fn bytes_of(h: &Home, name: &str) -> Option<u64> {
        h.entries.iter().find(|e| e.name == name).map(|e| e.bytes)
    }

    #[test]
    fn a_reused_listing_is_only_reused_while_the_folder_is_unchanged() {
        let (_t, home) = settled_home();
        let first = Home::open_reused(&home, "$DB_Msg.txt").unwrap();
        assert_eq!(bytes_of(&first, "log.0000000001"), Some(5));
        // Grown in place: the folder's times do not change, so the listing is reused (its
        // sizes are only shown) ...
        fs::write(home.join("log.0000000001"), b"1234567890").unwrap();
        let again = Home::open_reused(&home, "$DB_Msg.txt").unwrap();
        assert_eq!(bytes_of(&again, "log.0000000001"), Some(5), "not reused");
        assert_eq!(
            bytes_of(&Home::open(&home, "").unwrap(), "log.0000000001"),
            Some(10)
        );
        // ... but a name added, removed or renamed changes them: listed afresh.
        fs::write(home.join("__db.001"), b"r").unwrap();
        let after = Home::open_reused(&home, "$DB_Msg.txt").unwrap();
        assert!(
            after.entries.iter().any(|e| e.name == "__db.001"),
            "{after:?}"
        );
        assert_eq!(bytes_of(&after, "log.0000000001"), Some(10));
        fs::rename(home.join("__db.001"), home.join("__db.002")).unwrap();
        let renamed = Home::open_reused(&home, "$DB_Msg.txt").unwrap();
        let names: Vec<&str> = renamed.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["DB_CONFIG", "__db.002", "log.0000000001"]);
    }

    #[test]
    fn a_listing_made_just_after_a_change_is_not_kept() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("db");
        fs::create_dir_all(&home).unwrap();
        fs::write(home.join("DB_CONFIG"), b"").unwrap();
        fs::write(home.join("volumes.db"), b"1").unwrap();
        // Listed in the same instant the folder changed: a change in the same clock tick could
        // leave its times as they are, so this listing must not be trusted later.
        let first = Home::open_reused(&home, "").unwrap();
        assert_eq!(bytes_of(&first, "volumes.db"), Some(1));
        fs::write(home.join("volumes.db"), b"12").unwrap();
        let again = Home::open_reused(&home, "").unwrap();
        assert_eq!(bytes_of(&again, "volumes.db"), Some(2));
    }

    #[test]
    fn kept_identities_follow_the_folder() {
        use std::os::unix::fs::MetadataExt;
        let (_t, home) = settled_home();
        let path = home.canonicalize().unwrap();
        Home::open_reused(&home, "$DB_Msg.txt").unwrap();
        let (ids, subs) = kept_identities(&path).expect("kept");
        let m = fs::symlink_metadata(home.join("log.0000000001")).unwrap();
        assert!(ids.contains(&(m.dev(), m.ino())));
        assert!(subs.is_empty());
        fs::write(home.join("new"), b"").unwrap();
        assert!(
            kept_identities(&path).is_none(),
            "a changed folder's identities were kept"
        );
    }
}
