//! Which processes on this machine hold a database home: the proof that a node's server is
//! stopped that does not depend on tt-ha.toml (design invariant 9).
//!
//! A Berkeley DB server keeps its environment's files open (the region files are mapped, the
//! databases and logs are open descriptors) and usually runs with its home as working folder.
//! So "no process has any file of the home open" is the one condition under which moving the
//! home's files cannot pull them from under a live environment, whatever the service manager
//! or a process name says. A process of the same program serving another home does not count.
//!
//! Linux answers from `/proc/PID/{cwd,fd,maps}`: every open descriptor, every mapped file and
//! the working folder, each compared by device and inode with the home and the entries in it
//! (not by path string, so bind mounts, symbolic links and `..` spellings cannot hide a
//! holder), and by resolved path below the home (for files created after the home was read).
//! Windows answers the same question with the Restart Manager (`RmStartSession`,
//! `RmRegisterResources` with the home's files, `RmGetList`); that is not built here because it
//! cannot be compiled and tested on this project's machines, so on other systems the check
//! reports itself unavailable and preflight says so.

use std::path::{Path, PathBuf};

/// A process that has a file of the home open (or works inside it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Program name (`/proc/PID/comm`).
    pub program: String,
    /// One file of the home it holds, and how (`open`, `mapped`, `working folder`).
    pub file: PathBuf,
    /// How it holds it.
    pub how: &'static str,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "process {} ({}) has {} {}",
            self.pid,
            self.program,
            match self.how {
                "working folder" => "its working folder in",
                "mapped" => "mapped",
                _ => "open",
            },
            crate::display::path(&self.file)
        )
    }
}

/// A [`Holder`] as an agent's answer carries it (its `how` as owned text).
#[derive(serde::Deserialize)]
struct HolderWire {
    pid: u32,
    program: String,
    file: PathBuf,
    how: String,
}

impl<'de> serde::Deserialize<'de> for Holder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Holder, D::Error> {
        HolderWire::deserialize(d).map(Holder::from)
    }
}

impl From<HolderWire> for Holder {
    /// `how` becomes one of the words this module writes (anything else reads as `open`, the
    /// plainest claim that the file is held).
    fn from(w: HolderWire) -> Holder {
        let how = match w.how.as_str() {
            "mapped" => "mapped",
            "working folder" => "working folder",
            _ => "open",
        };
        Holder {
            pid: w.pid,
            program: w.program,
            file: w.file,
            how,
        }
    }
}

/// What the scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holders {
    /// Processes holding the home, one entry per process (the first file found).
    pub holders: Vec<Holder>,
    /// Processes whose descriptors could not be read (not permitted), by pid and program.
    pub uninspected: Vec<(u32, String)>,
}

/// Why the scan could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// This operating system has no implementation here.
    #[error(
        "which processes hold the home's files cannot be checked on this system by this build (on Windows the Restart Manager answers it; not built here)"
    )]
    Unavailable,
    /// The home could not be read.
    #[error("{path}: {why}")]
    Home {
        /// The home.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A remote node's agent refused, or could not be asked (the message says which node and
    /// what to do).
    #[error("{0}")]
    Remote(String),
}

/// The processes on this machine (other than this one) that hold `home` or a file in it.
#[cfg(target_os = "linux")]
pub fn holders(home: &Path) -> Result<Holders, ScanError> {
    linux::holders(home, None)
}

/// Which of `pids` hold `home`: the same answer as [`holders`] for those processes only, at a
/// fraction of the cost (a live view asks every few seconds).
#[cfg(target_os = "linux")]
pub fn holders_among(home: &Path, pids: &[u32]) -> Result<Holders, ScanError> {
    linux::holders(home, Some(pids))
}

/// Like [`holders`], for a step about to move the home's files: a process whose only hold is
/// descriptors open READ-ONLY on the message file `message_file` is no holder. Such a reader
/// (`tt-ha monitor`, `tt-ha follow`, a node agent's follower, `tail -F`) follows the file by
/// name and reopens it when it is replaced: moving the file pulls nothing from under it. A
/// writer of it, a mapping, a working folder in the home or any other file of the home (a
/// database, a log, a region) still holds it.
#[cfg(target_os = "linux")]
pub fn holders_but_readers(home: &Path, message_file: &Path) -> Result<Holders, ScanError> {
    linux::holders_excluding(home, None, Some(message_file))
}

/// Like [`holders`] (unavailable on this system).
#[cfg(not(target_os = "linux"))]
pub fn holders_but_readers(_home: &Path, _message_file: &Path) -> Result<Holders, ScanError> {
    Err(ScanError::Unavailable)
}

/// The processes on this machine that hold `home` (unavailable on this system).
#[cfg(not(target_os = "linux"))]
pub fn holders(_home: &Path) -> Result<Holders, ScanError> {
    Err(ScanError::Unavailable)
}

/// Which of `pids` hold `home` (unavailable on this system).
#[cfg(not(target_os = "linux"))]
pub fn holders_among(_home: &Path, _pids: &[u32]) -> Result<Holders, ScanError> {
    Err(ScanError::Unavailable)
}

/// True when this build can tell which processes hold a home.
pub fn available() -> bool {
    cfg!(target_os = "linux")
}

#[cfg(target_os = "linux")]
mod linux {
    //! Each open descriptor, mapping and working folder is judged by its own `stat` (a few per
    //! process), not against a set of every file of the home (one `stat` per file, 100,000 on a
    //! large home, paid by every check). An open file is in the home when:
    //!
    //! 1. the kernel's name for it is below the home's resolved path; or
    //! 2. it is the home or a folder below it, by device and inode; or
    //! 3. the folder the kernel's name puts it in is the home or a folder below it, by device and
    //!    inode (a bind mount or another mount namespace spells the home differently; the
    //!    folder is looked up both as this process sees it and as the holder sees it,
    //!    through `/proc/PID/root`); or
    //! 4. it has more than one name (`st_nlink` > 1) and one of them is in the home: a hard link
    //!    from outside. Only then, or when the folder cannot be looked up at all, is the whole
    //!    home's set of device and inode pairs made (once per scan, lazily), as it always was.
    //!
    //! Inodes always come from `stat`, never from a folder listing's `d_ino`: on overlayfs the
    //! two can differ, and this check must not miss a holder.

    use super::{Holder, Holders, ScanError};
    use std::cell::OnceCell;
    use std::collections::{HashMap, HashSet};
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    /// Device and inode.
    type Id = (u64, u64);

    /// Whose view of the file system a path is looked up in: `None` for this process's, else
    /// the holder's pid (through `/proc/PID/root`).
    type View = Option<u32>;

    /// Device and inode of the home and of everything below it (bounded: a home is a flat folder,
    /// but a stray subfolder must not make the scan unbounded). `dirs_only` stats only folders
    /// (the listing's file type says which entries are; an unknown type is stat-ed).
    fn identities(root: &Path, dirs_only: bool) -> HashSet<Id> {
        let mut ids = HashSet::new();
        if let Ok(meta) = std::fs::metadata(root) {
            ids.insert((meta.dev(), meta.ino()));
        }
        let mut stack = vec![(root.to_path_buf(), 0u32)];
        let mut budget = 200_000usize;
        while let Some((dir, depth)) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for item in rd.flatten() {
                if budget == 0 {
                    return ids;
                }
                budget -= 1;
                if dirs_only && item.file_type().is_ok_and(|t| !t.is_dir()) {
                    continue;
                }
                let Ok(m) = item.metadata() else { continue };
                ids.insert((m.dev(), m.ino()));
                if m.is_dir() && depth < 8 {
                    stack.push((item.path(), depth + 1));
                }
            }
        }
        ids
    }

    /// Device and inode of the home and of every folder below it. This process's listing of
    /// the home, when it provably still holds ([`crate::dbhome::kept_identities`]: the folder's
    /// names unchanged since), says which entries are folders from its own `stat`s, so only
    /// those are walked: a home of 100,000 files is not read again by each check (an `apply`
    /// makes three). Otherwise the whole home is listed.
    fn dirs_of(root: &Path) -> HashSet<Id> {
        let Some((_, subfolders)) = crate::dbhome::kept_identities(root) else {
            return identities(root, true);
        };
        let mut ids = HashSet::new();
        if let Ok(meta) = std::fs::metadata(root) {
            ids.insert((meta.dev(), meta.ino()));
        }
        for d in subfolders {
            ids.extend(identities(&d, true));
        }
        ids
    }

    /// What one `stat` told.
    #[derive(Clone, Copy)]
    struct Stat {
        id: Id,
        nlink: u64,
        dir: bool,
    }

    fn stat(p: &Path) -> Option<Stat> {
        let m = std::fs::metadata(p).ok()?;
        Some(Stat {
            id: (m.dev(), m.ino()),
            nlink: m.nlink(),
            dir: m.is_dir(),
        })
    }

    /// The home as a scan sees it.
    pub(super) struct HomeIds {
        /// The resolved path.
        root: PathBuf,
        /// The home and every folder below it.
        dirs: HashSet<Id>,
        /// Every entry below the home, made only when a hard link or an unreachable name
        /// needs it.
        all: OnceCell<HashSet<Id>>,
        /// `stat` of paths, by (whose view: `None` for this process's, else the pid) and path.
        seen: std::cell::RefCell<HashMap<(View, PathBuf), Option<Stat>>>,
        /// This process's root folder and mount namespace, to tell whose view differs.
        my_view: (Option<Id>, Option<PathBuf>),
    }

    impl HomeIds {
        fn new(home: &Path) -> Result<HomeIds, ScanError> {
            let err = |e: std::io::Error| ScanError::Home {
                path: home.to_path_buf(),
                why: e.to_string(),
            };
            let root = home.canonicalize().map_err(err)?;
            std::fs::metadata(&root).map_err(err)?;
            Ok(HomeIds {
                dirs: dirs_of(&root),
                root,
                all: OnceCell::new(),
                seen: Default::default(),
                my_view: view_of("self"),
            })
        }

        /// Is `id` an entry of the home (the full set, made on first need)? This process's
        /// listing of the home, when it provably still holds (see
        /// [`crate::dbhome::Home::open_reused`]), gives the entries directly in it from its own
        /// `stat`s; only subfolders are walked again.
        fn is_entry(&self, id: Id) -> bool {
            self.all
                .get_or_init(|| match crate::dbhome::kept_identities(&self.root) {
                    Some((top, subfolders)) => {
                        let mut all: HashSet<Id> = top.iter().copied().collect();
                        for d in subfolders {
                            all.extend(identities(&d, false));
                        }
                        all
                    }
                    None => identities(&self.root, false),
                })
                .contains(&id)
        }

        /// `stat` of `path` as the process `view` sees it (cached for the scan).
        fn stat_in(&self, view: Option<u32>, path: &Path) -> Option<Stat> {
            let key = (view, path.to_path_buf());
            if let Some(s) = self.seen.borrow().get(&key) {
                return *s;
            }
            let s = match view {
                None => stat(path),
                Some(pid) => {
                    let rel = path.strip_prefix("/").unwrap_or(path);
                    stat(
                        &Path::new("/proc")
                            .join(pid.to_string())
                            .join("root")
                            .join(rel),
                    )
                }
            };
            self.seen.borrow_mut().insert(key, s);
            s
        }

        /// The views in which to look `pid`'s names up: this process's, and the holder's own
        /// when its root folder or mount namespace differs.
        fn views(&self, pid: u32) -> Vec<Option<u32>> {
            if view_of(&pid.to_string()) == self.my_view {
                vec![None]
            } else {
                vec![None, Some(pid)]
            }
        }

        /// Is the open file named `name` by the kernel, whose own `stat` is `file` (when known,
        /// and `hint` the device and inode another source gave), in the home?
        fn holds(
            &self,
            views: &[Option<u32>],
            name: &Path,
            file: Option<Stat>,
            hint: Option<Id>,
        ) -> bool {
            if name == self.root || name.starts_with(&self.root) {
                return true;
            }
            if let Some(f) = file.filter(|f| f.dir) {
                // A folder is in the home only as the home or one of its folders.
                return self.dirs.contains(&f.id);
            }
            if !name.is_absolute() {
                // A pipe, socket or anonymous inode: not a file of any folder.
                return false;
            }
            let mut reached = false;
            if let Some(parent) = name.parent() {
                for v in views {
                    if let Some(p) = self.stat_in(*v, parent) {
                        reached = true;
                        if self.dirs.contains(&p.id) {
                            return true;
                        }
                    }
                }
            }
            let linked = file.is_some_and(|f| f.nlink > 1 && !f.dir);
            if linked || !reached {
                // A hard link from outside the home, or a name that cannot be looked up: only
                // the home's full set of entries can tell.
                let ids = file.map(|f| f.id).into_iter().chain(hint);
                return ids.into_iter().any(|id| self.is_entry(id));
            }
            false
        }
    }

    /// A process's root folder and mount namespace (`who` is a pid or `self`).
    fn view_of(who: &str) -> (Option<Id>, Option<PathBuf>) {
        let base = Path::new("/proc").join(who);
        (
            stat(&base.join("root")).map(|s| s.id),
            std::fs::read_link(base.join("ns/mnt")).ok(),
        )
    }

    /// The descriptor or working folder `link` (a `/proc/PID/…` magic link), if it is in the home.
    fn held(home: &HomeIds, views: &[Option<u32>], link: &Path) -> Option<PathBuf> {
        let target = std::fs::read_link(link).ok()?;
        // `stat` through the magic link reaches the open file itself, wherever it is named.
        let file = if target == home.root || target.starts_with(&home.root) {
            None
        } else {
            Some(stat(link)?)
        };
        home.holds(views, &target, file, None).then_some(target)
    }

    /// `major:minor` of a `/proc/PID/maps` line's device column, as `st_dev`.
    fn dev_of(field: &str) -> Option<u64> {
        let (maj, min) = field.split_once(':')?;
        let maj = u64::from_str_radix(maj, 16).ok()?;
        let min = u64::from_str_radix(min, 16).ok()?;
        Some(rustix::fs::makedev(maj as u32, min as u32))
    }

    /// The first mapped file of `pid` that is in the home.
    fn mapped(home: &HomeIds, views: &[Option<u32>], pid: u32) -> Option<PathBuf> {
        let maps = std::fs::read(format!("/proc/{pid}/maps")).ok()?;
        let mut judged = HashSet::new();
        for line in maps.split(|b| *b == b'\n') {
            let line = String::from_utf8_lossy(line);
            let mut f = line.split_ascii_whitespace();
            let (_, _, _, dev, ino) = (f.next(), f.next(), f.next(), f.next()?, f.next()?);
            let ino: u64 = ino.parse().ok()?;
            if ino == 0 {
                continue;
            }
            let path: Vec<&str> = f.collect();
            let path = PathBuf::from(path.join(" "));
            let hint = dev_of(dev).map(|d| (d, ino));
            // A library is mapped many times over: judge each (name, file) once.
            if !judged.insert((path.clone(), hint)) {
                continue;
            }
            let file = views.iter().find_map(|v| home.stat_in(*v, &path));
            if home.holds(views, &path, file, hint) {
                return Some(path);
            }
        }
        None
    }

    fn program(pid: u32) -> String {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|s| s.trim_end().to_string())
            .unwrap_or_else(|_| "?".to_string())
    }

    /// Every process of the machine.
    fn all_pids() -> Result<Vec<u32>, ScanError> {
        let procs = std::fs::read_dir("/proc").map_err(|_| ScanError::Home {
            path: PathBuf::from("/proc"),
            why: "cannot list the processes of this machine".into(),
        })?;
        Ok(procs
            .flatten()
            .filter_map(|p| p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
            .collect())
    }

    pub(super) fn holders(home: &Path, among: Option<&[u32]>) -> Result<Holders, ScanError> {
        holders_excluding(home, among, None)
    }

    /// Whether descriptor `fd` (a `/proc/PID/fd/N` link) is open read-only on `readable`
    /// (same file by device and inode): its `fdinfo` flags have access mode `O_RDONLY`.
    fn read_only_on(fd: &Path, readable: Option<Id>) -> bool {
        let Some(want) = readable else {
            return false;
        };
        if stat(fd).map(|s| s.id) != Some(want) {
            return false;
        }
        let info = fd
            .to_str()
            .map(|p| p.replacen("/fd/", "/fdinfo/", 1))
            .and_then(|p| std::fs::read_to_string(p).ok());
        let flags = info.as_deref().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        });
        // O_ACCMODE is 3 and O_RDONLY 0 on Linux; unknown flags count as a writer.
        flags.is_some_and(|f| f & 3 == 0)
    }

    /// [`holders`], where a descriptor open read-only on `readable` does not hold the home.
    pub(super) fn holders_excluding(
        home: &Path,
        among: Option<&[u32]>,
        readable: Option<&Path>,
    ) -> Result<Holders, ScanError> {
        let ids = HomeIds::new(home)?;
        let readable = readable.and_then(stat).map(|s| s.id);
        let me = std::process::id();
        let mut out = Holders::default();
        let pids = match among {
            Some(p) => p.to_vec(),
            None => all_pids()?,
        };
        for pid in pids {
            if pid == me {
                continue;
            }
            let base = PathBuf::from(format!("/proc/{pid}"));
            let views = ids.views(pid);
            let found = held(&ids, &views, &base.join("cwd"))
                .map(|f| (f, "working folder"))
                .or_else(|| match std::fs::read_dir(base.join("fd")) {
                    Ok(fds) => fds
                        .flatten()
                        .filter(|fd| !read_only_on(&fd.path(), readable))
                        .find_map(|fd| held(&ids, &views, &fd.path()))
                        .map(|f| (f, "open")),
                    Err(e) => {
                        // Gone meanwhile is not a holder; not permitted is said.
                        if e.kind() == std::io::ErrorKind::PermissionDenied {
                            out.uninspected.push((pid, program(pid)));
                        }
                        None
                    }
                })
                .or_else(|| mapped(&ids, &views, pid).map(|f| (f, "mapped")));
            if let Some((file, how)) = found {
                out.holders.push(Holder {
                    pid,
                    program: program(pid),
                    file,
                    how,
                });
            }
        }
        out.holders.sort_by_key(|h| h.pid);
        Ok(out)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait_for(home: &Path, pid: u32, present: bool) -> Holders {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let h = holders(home).unwrap();
            if h.holders.iter().any(|x| x.pid == pid) == present || Instant::now() > deadline {
                return h;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn holding_volumes_db(dir: &Path) -> std::process::Child {
        hold_open(&dir.join("volumes.db"), "30")
    }

    #[test]
    fn an_open_file_a_working_folder_and_another_home() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("var/db");
        let other = t.path().join("other/db");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(home.join("volumes.db"), b"x").unwrap();
        std::fs::write(other.join("volumes.db"), b"x").unwrap();

        // A process holding a file of the OTHER home is not a holder of this one.
        let mut o = holding_volumes_db(&other);
        // One that has a file of this home open (its working folder elsewhere).
        let mut f = holding_volumes_db(&home);
        let h = wait_for(&home, f.id(), true);
        let mine = h.holders.iter().find(|x| x.pid == f.id()).unwrap();
        assert_eq!(mine.how, "open");
        assert!(mine.file.ends_with("volumes.db"), "{mine:?}");
        assert!(
            !h.holders.iter().any(|x| x.pid == o.id()),
            "a process of the other home counted: {h:?}"
        );
        f.kill().unwrap();
        f.wait().unwrap();
        assert!(
            !wait_for(&home, f.id(), false)
                .holders
                .iter()
                .any(|x| x.pid == f.id())
        );

        // A process working inside the home, reached through a symbolic link and `..`.
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&home, &link).unwrap();
        let mut c = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(&home)
            .spawn()
            .unwrap();
        for spelled in [link.clone(), t.path().join("var/../var/db/")] {
            let h = wait_for(&spelled, c.id(), true);
            assert_eq!(
                h.holders.iter().find(|x| x.pid == c.id()).map(|x| x.how),
                Some("working folder"),
                "{}",
                crate::display::path(&spelled)
            );
        }
        c.kill().unwrap();
        c.wait().unwrap();
        o.kill().unwrap();
        o.wait().unwrap();
    }

    #[test]
    fn a_mapped_file_counts() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("db");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join("__db.001"), vec![0u8; 8192]).unwrap();
        let mut p = super::map_only(&home.join("__db.001"));
        let h = holders(&home).unwrap();
        let x = h.holders.iter().find(|x| x.pid == p.id()).unwrap();
        assert_eq!(x.how, "mapped", "{h:?}");
        p.kill().unwrap();
        p.wait().unwrap();
    }
}

/// Spellings of a home that its entries' own names do not show: each rule of the scan has a case
/// here that fails when the rule is taken out.
#[cfg(all(test, target_os = "linux"))]
mod spellings {
    use super::*;

    /// A process with `file` open by the shell redirection `redir` (`<`, `>>`, `<>`) on fd 3.
    fn open_with(file: &Path, redir: &str) -> std::process::Child {
        super::ready(
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "exec 3{redir}\"$0\"; cd /; echo ok; exec sleep 300"
                ))
                .arg(file),
        )
    }

    #[test]
    fn a_read_only_reader_of_the_message_file_is_no_holder_a_writer_is() {
        let t = tempfile::tempdir().unwrap();
        let home = home_with_file(t.path());
        let msg = home.join("$DB_Msg.txt");
        std::fs::write(&msg, "x\n").unwrap();
        let among = |pid: u32| {
            super::holders_but_readers(&home, &msg)
                .unwrap()
                .holders
                .iter()
                .any(|h| h.pid == pid)
        };
        let reader = open_with(&msg, "<");
        let all = super::holders(&home).unwrap();
        assert!(
            all.holders.iter().any(|h| h.pid == reader.id()),
            "the plain check sees the reader"
        );
        assert!(
            !among(reader.id()),
            "a read-only follower of the message file holds nothing"
        );
        for redir in [">>", "<>"] {
            let writer = open_with(&msg, redir);
            assert!(
                among(writer.id()),
                "{redir}: a writer of the message file holds the home"
            );
            stop(writer);
        }
        // Read-only on another file of the home (a database) still holds it.
        let db = std::fs::read_dir(&home)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p != &msg && p.is_file())
            .unwrap();
        let db_reader = open_with(&db, "<");
        assert!(
            among(db_reader.id()),
            "a reader of a database holds the home"
        );
        stop(db_reader);
        // A mapping of the message file holds it too.
        let mapper = super::map_only(&msg);
        assert!(
            among(mapper.id()),
            "a mapping of the message file holds the home"
        );
        stop(mapper);
        stop(reader);
    }

    fn home_with_file(t: &Path) -> PathBuf {
        let home = t.join("var/db");
        std::fs::create_dir_all(home.join("sub")).unwrap();
        std::fs::write(home.join("volumes.db"), b"x").unwrap();
        std::fs::write(home.join("sub/inner.db"), b"x").unwrap();
        home
    }

    fn holder_of(home: &Path, pid: u32) -> Option<Holder> {
        holders(home)
            .unwrap()
            .holders
            .into_iter()
            .find(|h| h.pid == pid)
    }

    fn stop(mut c: std::process::Child) {
        c.kill().unwrap();
        c.wait().unwrap();
    }

    #[test]
    fn a_hard_link_from_outside_the_home_is_a_holder() {
        let t = tempfile::tempdir().unwrap();
        let home = home_with_file(t.path());
        std::fs::create_dir_all(t.path().join("elsewhere")).unwrap();
        let link = t.path().join("elsewhere/volumes-link.db");
        std::fs::hard_link(home.join("volumes.db"), &link).unwrap();
        // A file with two names, neither in the home, is not a holder.
        std::fs::write(t.path().join("elsewhere/a"), b"y").unwrap();
        std::fs::hard_link(t.path().join("elsewhere/a"), t.path().join("elsewhere/b")).unwrap();
        let other = hold_open(&t.path().join("elsewhere/a"), "30.61");
        let c = hold_open(&link, "30.62");
        let h = holder_of(&home, c.id()).expect("the hard link's holder is found");
        assert_eq!(h.how, "open");
        assert_eq!(h.file, link.canonicalize().unwrap());
        assert!(holder_of(&home, other.id()).is_none());
        stop(c);
        stop(other);
    }

    #[test]
    fn a_hard_link_made_after_the_home_was_listed_is_a_holder() {
        let t = tempfile::tempdir().unwrap();
        let home = home_with_file(t.path());
        std::fs::write(home.join("DB_CONFIG"), b"").unwrap();
        let outside = t.path().join("outside.db");
        std::fs::write(&outside, b"z").unwrap();
        std::fs::hard_link(&outside, t.path().join("second-name")).unwrap();
        let c = hold_open(&outside, "30.65");
        // Listed and kept for reuse (the folder settled), then a name added to the home: the
        // kept identities must not be used for the changed folder.
        std::thread::sleep(std::time::Duration::from_secs(4));
        crate::dbhome::Home::open_reused(&home, "").unwrap();
        assert!(holder_of(&home, c.id()).is_none());
        std::fs::hard_link(&outside, home.join("linked-in.db")).unwrap();
        assert_eq!(holder_of(&home, c.id()).map(|h| h.how), Some("open"));
        stop(c);
    }

    #[test]
    fn a_mapping_through_a_hard_link_from_outside_is_a_holder() {
        let t = tempfile::tempdir().unwrap();
        let home = home_with_file(t.path());
        std::fs::write(home.join("__db.001"), vec![0u8; 8192]).unwrap();
        let link = t.path().join("region-link");
        std::fs::hard_link(home.join("__db.001"), &link).unwrap();
        let p = map_only(&link);
        let h = holder_of(&home, p.id()).expect("the mapping's holder is found");
        assert_eq!(h.how, "mapped");
        stop(p);
    }

    #[test]
    fn a_symbolic_link_spelling_is_a_holder() {
        let t = tempfile::tempdir().unwrap();
        let home = home_with_file(t.path());
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&home, &link).unwrap();
        let c = hold_open(&link.join("sub/inner.db"), "30.63");
        // Asked through the link too: the scan resolves the home it is given.
        for asked in [&home, &link] {
            let h = holders(asked).unwrap();
            assert!(h.holders.iter().any(|x| x.pid == c.id()), "{h:?}");
        }
        stop(c);
    }

    /// Runs `script` (sh) as root in a mount namespace of its own when it may: a bind mount of
    /// the home. None (said loudly) where this machine does not allow it.
    fn bind_mounted(
        home: &Path,
        at: &Path,
        file: &str,
        own_namespace: bool,
    ) -> Option<std::process::Child> {
        std::fs::create_dir_all(at).unwrap();
        let script = "mount --bind \"$0\" \"$1\" || exit 1; exec 3<\"$1/$2\"; cd /; echo ok; exec sleep 30.64";
        let mut cmd = if own_namespace {
            let mut c = std::process::Command::new("unshare");
            c.args(["-m", "--propagation", "private", "sh", "-c"]);
            c
        } else {
            let mut c = std::process::Command::new("sh");
            c.arg("-c");
            c
        };
        let mut c = cmd
            .arg(script)
            .arg(home)
            .arg(at)
            .arg(file)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(
            &mut std::io::BufReader::new(c.stdout.as_mut().unwrap()),
            &mut line,
        );
        if line.trim() != "ok" {
            let _ = c.wait();
            eprintln!(
                "SKIPPED (loudly): cannot bind-mount here (not root, or no mount namespaces): the bind-mount case of openfiles is not checked on this machine"
            );
            return None;
        }
        Some(c)
    }

    /// How a process holding `home/sub/inner.db` through a bind mount of the home (under
    /// `dir`) is found, if it is; `None` when this machine cannot bind-mount (said by
    /// [`bind_mounted`]).
    fn holder_through_a_bind_mount(dir: &Path, home: &Path) -> Option<Option<&'static str>> {
        let at = dir.join("bound");
        let c = bind_mounted(home, &at, "sub/inner.db", false)?;
        let h = holder_of(home, c.id());
        stop(c);
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&at)
            .status();
        Some(h.map(|h| h.how))
    }

    #[test]
    fn a_bind_mount_spelling_is_a_holder() {
        let t = tempfile::tempdir().unwrap();
        let home = home_with_file(t.path());
        let Some(how) = holder_through_a_bind_mount(t.path(), &home) else {
            return;
        };
        assert_eq!(how, Some("open"));
    }

    #[test]
    fn a_bind_mount_spelling_is_a_holder_when_the_home_listing_is_reused() {
        let t = tempfile::tempdir().unwrap();
        let home = home_with_file(t.path());
        std::fs::write(home.join("DB_CONFIG"), b"").unwrap();
        // The home settles, is listed and kept: the check then takes its folders from that
        // listing (`sub` must be among them, or the holder below goes unseen).
        std::thread::sleep(std::time::Duration::from_secs(4));
        crate::dbhome::Home::open_reused(&home, "").unwrap();
        assert!(crate::dbhome::kept_identities(&home.canonicalize().unwrap()).is_some());
        let Some(how) = holder_through_a_bind_mount(t.path(), &home) else {
            return;
        };
        assert_eq!(how, Some("open"));
    }

    #[test]
    fn a_holder_in_another_mount_namespace_is_a_holder() {
        let t = tempfile::tempdir().unwrap();
        let home = home_with_file(t.path());
        // Bound inside the holder's own namespace only: this process cannot see that name.
        let at = t.path().join("private");
        let Some(c) = bind_mounted(&home, &at, "volumes.db", true) else {
            return;
        };
        let h = holder_of(&home, c.id());
        assert_eq!(h.map(|h| h.how), Some("open"));
        stop(c);
    }
}

/// For tests: a process that maps `file` with libc's mmap and closes its descriptor (Python's
/// own mmap module would keep a duplicate open): only /proc/PID/maps shows it.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn map_only(file: &Path) -> std::process::Child {
    let script = format!(
        "import ctypes,os,time\nc=ctypes.CDLL(None)\nc.mmap.restype=ctypes.c_void_p\nc.mmap.argtypes=[ctypes.c_void_p,ctypes.c_size_t,ctypes.c_int,ctypes.c_int,ctypes.c_int,ctypes.c_long]\nfd=os.open({:?},os.O_RDONLY)\na=c.mmap(None,8192,1,1,fd,0)\nos.close(fd)\nos.chdir('/')\nprint('ok' if a not in (None,2**64-1) else 'fail',flush=True)\ntime.sleep(30)\n",
        crate::display::path(file).to_string()
    );
    ready(
        std::process::Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(script),
    )
}

/// Starts `cmd` and returns once it printed its first line, `ok` (it holds what it should).
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn ready(cmd: &mut std::process::Command) -> std::process::Child {
    let mut p = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(p.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ok");
    p
}

/// For tests: a process that holds a file open, its working folder elsewhere.
#[cfg(all(test, target_os = "linux"))]
pub(crate) fn hold_open(file: &Path, sleep_arg: &str) -> std::process::Child {
    // `sh` opens the file as descriptor 3, leaves its folder, says so, then becomes `sleep`
    // (by name, with `sleep_arg` to tell it apart on the command line).
    let mut c = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec 3<\"$0\"; cd /; echo ok; exec sleep \"$1\"")
        .arg(file)
        .arg(sleep_arg)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(c.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ok");
    c
}
