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
            self.file.display()
        )
    }
}

/// What the scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    use super::{Holder, Holders, ScanError};
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    /// Device and inode of the home and of everything below it (bounded: a home is a flat folder,
    /// but a stray subfolder must not make the scan unbounded).
    pub(super) fn identities(home: &Path) -> Result<(PathBuf, HashSet<(u64, u64)>), ScanError> {
        use std::os::unix::fs::MetadataExt;
        let err = |e: std::io::Error| ScanError::Home {
            path: home.to_path_buf(),
            why: e.to_string(),
        };
        let root = home.canonicalize().map_err(err)?;
        let mut ids = HashSet::new();
        let meta = std::fs::metadata(&root).map_err(err)?;
        ids.insert((meta.dev(), meta.ino()));
        let mut stack = vec![(root.clone(), 0u32)];
        let mut budget = 200_000usize;
        while let Some((dir, depth)) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for item in rd.flatten() {
                if budget == 0 {
                    return Ok((root, ids));
                }
                budget -= 1;
                let Ok(m) = item.metadata() else { continue };
                ids.insert((m.dev(), m.ino()));
                if m.is_dir() && depth < 8 {
                    stack.push((item.path(), depth + 1));
                }
            }
        }
        Ok((root, ids))
    }

    /// Is `target` (as the kernel names an open file) the home or below it?
    fn below(root: &Path, target: &Path) -> bool {
        target == root || target.starts_with(root)
    }

    fn held(root: &Path, ids: &HashSet<(u64, u64)>, link: &Path) -> Option<PathBuf> {
        let target = std::fs::read_link(link).ok()?;
        if below(root, &target) {
            return Some(target);
        }
        // `stat` through the magic link reaches the open file itself, wherever it is named.
        let m = std::fs::metadata(link).ok()?;
        ids.contains(&(m.dev(), m.ino())).then_some(target)
    }

    /// `major:minor` of a `/proc/PID/maps` line's device column, as `st_dev`.
    fn dev_of(field: &str) -> Option<u64> {
        let (maj, min) = field.split_once(':')?;
        let maj = u64::from_str_radix(maj, 16).ok()?;
        let min = u64::from_str_radix(min, 16).ok()?;
        Some(rustix::fs::makedev(maj as u32, min as u32))
    }

    fn mapped(root: &Path, ids: &HashSet<(u64, u64)>, pid: u32) -> Option<PathBuf> {
        let maps = std::fs::read(format!("/proc/{pid}/maps")).ok()?;
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
            let by_id = dev_of(dev).is_some_and(|d| ids.contains(&(d, ino)));
            if by_id || below(root, &path) {
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
        let (root, ids) = identities(home)?;
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
            let found = held(&root, &ids, &base.join("cwd"))
                .map(|f| (f, "working folder"))
                .or_else(|| match std::fs::read_dir(base.join("fd")) {
                    Ok(fds) => fds
                        .flatten()
                        .find_map(|fd| held(&root, &ids, &fd.path()))
                        .map(|f| (f, "open")),
                    Err(e) => {
                        // Gone meanwhile is not a holder; not permitted is said.
                        if e.kind() == std::io::ErrorKind::PermissionDenied {
                            out.uninspected.push((pid, program(pid)));
                        }
                        None
                    }
                })
                .or_else(|| mapped(&root, &ids, pid).map(|f| (f, "mapped")));
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
                spelled.display()
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
        // python3 maps the file with libc's mmap and closes the descriptor (Python's own mmap
        // module would keep a duplicate open): only /proc/PID/maps shows it.
        let script = format!(
            "import ctypes,os,time\nc=ctypes.CDLL(None)\nc.mmap.restype=ctypes.c_void_p\nc.mmap.argtypes=[ctypes.c_void_p,ctypes.c_size_t,ctypes.c_int,ctypes.c_int,ctypes.c_int,ctypes.c_long]\nfd=os.open({:?},os.O_RDONLY)\na=c.mmap(None,8192,1,1,fd,0)\nos.close(fd)\nos.chdir('/')\nprint('ok' if a not in (None,2**64-1) else 'fail',flush=True)\ntime.sleep(30)\n",
            home.join("__db.001").display().to_string()
        );
        let mut p = std::process::Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(p.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ok");
        let h = holders(&home).unwrap();
        let x = h.holders.iter().find(|x| x.pid == p.id()).unwrap();
        assert_eq!(x.how, "mapped", "{h:?}");
        p.kill().unwrap();
        p.wait().unwrap();
    }
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
