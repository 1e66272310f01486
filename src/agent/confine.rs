//! Confinement: the folders an agent acts in, and the check every path of a request passes
//! before anything touches it.
//!
//! A path is served only when, resolved on this machine, it lies inside the node's home, run
//! folder or backup folder. Resolved means: `..` is refused outright (it is how a path leaves
//! a folder in text), and every folder on the way is resolved through its symbolic links (so a
//! link inside the home pointing elsewhere leads nowhere). The last name is not followed: the
//! operations act on a link itself (and refuse to edit through it), as they do locally.

use super::protocol;
use crate::config::Node;
use std::path::{Component, Path, PathBuf};

/// One allowed folder.
#[derive(Debug, Clone)]
struct Root {
    /// `home`, `run folder`, `backup folder`.
    label: &'static str,
    /// As the node file gives it.
    configured: PathBuf,
    /// Resolved through links (as far as it exists).
    resolved: PathBuf,
}

/// The folders an agent allows.
#[derive(Debug, Clone)]
pub struct Confinement {
    roots: Vec<Root>,
}

/// A path refused by the confinement: nothing was done with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The path as requested.
    pub path: String,
    /// Why, in words.
    pub why: String,
}

impl Confinement {
    /// The home, run folder and backup folder of `node`.
    pub fn for_node(node: &Node) -> Confinement {
        let mut roots = vec![
            root(HOME, node.home.clone()),
            root(RUN_FOLDER, node.run_dir()),
        ];
        if let Some(b) = &node.backup_dir {
            roots.push(root(BACKUP_FOLDER, b.clone()));
        }
        Confinement { roots }
    }

    /// The folders as the greeting announces them.
    pub fn wire(&self) -> protocol::Confinement {
        let text = |label: &str| {
            self.roots
                .iter()
                .find(|r| r.label == label)
                .map(|r| r.configured.to_string_lossy().into_owned())
        };
        protocol::Confinement {
            home: text("home").unwrap_or_default(),
            run_dir: text("run folder").unwrap_or_default(),
            backup_dir: text("backup folder"),
        }
    }

    /// The allowed folders in words, for messages.
    pub fn describe(&self) -> String {
        self.roots
            .iter()
            .map(|r| format!("{} {}", r.label, crate::display::path(&r.configured)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Accepts `text` (a path as this node spells it) when it lies inside an allowed folder;
    /// the path to act on is the one returned (`text` spelled from its parts), with where it
    /// lies.
    pub fn check(&self, text: &str) -> Result<(PathBuf, Inside), Refusal> {
        if text.contains('\0') {
            return Err(Refusal {
                path: text.to_string(),
                why: "it is not a path".into(),
            });
        }
        self.place(Path::new(text)).map_err(|r| Refusal {
            path: text.to_string(),
            why: r.why,
        })
    }

    /// Accepts an entry's path (any bytes) when it lies inside an allowed folder, with which
    /// folder holds it: [`HOME`], [`RUN_FOLDER`] or [`BACKUP_FOLDER`]. `Inside::at_root` is
    /// true when the path is that folder itself.
    pub fn place(&self, path: &Path) -> Result<(PathBuf, Inside), Refusal> {
        self.place_with(path, &mut Folders::default())
    }

    /// [`Self::place`] for one of many paths of a request: the folders on the way are resolved
    /// once for all of them (a batch of 20,000 moves shares two parent folders; resolving each
    /// path anew cost about 48 `readlink` calls a path).
    pub fn place_with(
        &self,
        path: &Path,
        folders: &mut Folders,
    ) -> Result<(PathBuf, Inside), Refusal> {
        let refuse = |why: String| Refusal {
            path: crate::display::path(path).to_string(),
            why,
        };
        if path.as_os_str().is_empty() {
            return Err(refuse("it is not a path".into()));
        }
        if !path.is_absolute() {
            return Err(refuse(
                "it is not a full path (the agent resolves nothing against its own folder)".into(),
            ));
        }
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(refuse(
                "it holds `..`, which could leave the allowed folders".into(),
            ));
        }
        // The path checked is the path acted on: spelled from its components, without a
        // trailing `/`, a `/.`, or `//`. The check reads `L/` and `L/.` as the name `L`, while
        // the system follows a link `L` in them: `remove_tree` of `RUN/L/` emptied the folder
        // the link `RUN/L` leads to, wherever it was.
        let path: &Path = &path.components().collect::<PathBuf>();
        let resolved = match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => folders.resolve(parent).join(name),
            _ => resolve_existing(path),
        };
        // The last name is a link: where it leads tells whether it is an allowed folder itself.
        // (Any other last name is itself: `resolved` says all.)
        let whole = std::fs::symlink_metadata(path)
            .is_ok_and(|m| m.file_type().is_symlink())
            .then(|| std::fs::canonicalize(path).ok())
            .flatten();
        // The innermost folder that holds it (a run folder inside the home is the run folder).
        let holder = self
            .roots
            .iter()
            .filter(|r| {
                resolved.starts_with(&r.resolved)
                    || whole.as_ref().is_some_and(|w| *w == r.resolved)
            })
            .max_by_key(|r| r.resolved.components().count());
        match holder {
            Some(r) => {
                // A folder between the allowed folder and the path that is a mount point (a
                // bind mount of the master's home made in a quarantine) is not what its path
                // says: nothing is moved into or out of it, nor removed.
                if let Some(m) = resolved
                    .ancestors()
                    .skip(1)
                    .take_while(|a| *a != r.resolved && a.starts_with(&r.resolved))
                    .find(|a| folders.mount_root(a))
                {
                    return Err(refuse(mounted_words(m, r.label)));
                }
                let at_root =
                    resolved == r.resolved || whole.as_ref().is_some_and(|w| *w == r.resolved);
                let top_level = !at_root && resolved.parent() == Some(r.resolved.as_path());
                Ok((
                    path.to_path_buf(),
                    Inside {
                        folder: r.label,
                        at_root,
                        top_level,
                    },
                ))
            }
            None => Err(refuse(format!(
                "it is outside the folders this node allows{}",
                through_links(path, &resolved)
            ))),
        }
    }
}

impl Confinement {
    /// The pairs of a batch of moves, each checked before any is made: from the home into
    /// the run folder (a prune, an attempt set aside) or back (a restore), never to or from
    /// one of these folders itself, never one of the run folder's own files. The one rule of
    /// every move a node makes, locally as through its agent: a run folder whose quarantine
    /// was made a link to the master's home had a local rollback move the master's running
    /// databases into the replicant's home. The paths to act on, in order.
    pub fn moves(&self, pairs: &[(PathBuf, PathBuf)]) -> Result<Vec<(PathBuf, PathBuf)>, Refusal> {
        let mut checked = Vec::with_capacity(pairs.len());
        let mut folders = Folders::default();
        // The entries of a batch share a few folders (a home of 100,000 entries, one
        // quarantine): each folder is placed once, and each entry by its name in it (a path
        // placed whole cost a `lstat` and a folder lookup per entry, a third more CPU time
        // for a prune). A moved link is moved as itself, so its target is not asked for.
        let mut placed: std::collections::HashMap<PathBuf, Inside> =
            std::collections::HashMap::new();
        let mut place = |path: &Path| -> Result<(PathBuf, Inside), Refusal> {
            let norm: PathBuf = path.components().collect();
            let (Some(parent), Some(name)) = (norm.parent(), norm.file_name()) else {
                return self.place_with(path, &mut folders);
            };
            if norm.components().any(|c| c == Component::ParentDir) || !path.is_absolute() {
                return self.place_with(path, &mut folders);
            }
            let folder = match placed.get(parent) {
                Some(i) => *i,
                None => {
                    let i = self
                        .place_folder(parent, &mut folders)
                        .map_err(|why| Refusal {
                            path: crate::display::path(path).to_string(),
                            why,
                        })?;
                    placed.insert(parent.to_path_buf(), i);
                    i
                }
            };
            debug_assert!(!name.is_empty());
            Ok((
                norm.clone(),
                Inside {
                    folder: folder.folder,
                    at_root: false,
                    top_level: folder.at_root,
                },
            ))
        };
        for (from, to) in pairs {
            let (f, fi) = place(from)?;
            let (t, ti) = place(to)?;
            for (p, i, asked) in [(&f, fi, from), (&t, ti, to)] {
                if i.is_run_folder_own_file(p) {
                    return Err(own_file(asked));
                }
            }
            let ends = (fi.folder, ti.folder);
            let allowed = (ends == (HOME, RUN_FOLDER) || ends == (RUN_FOLDER, HOME))
                && !fi.at_root
                && !ti.at_root;
            if !allowed {
                return Err(Refusal {
                    path: format!(
                        "{} -> {}",
                        crate::display::path(from),
                        crate::display::path(to)
                    ),
                    why: format!(
                        "a move from the {} to the {}; entries are moved only between the home and the run folder (quarantine), and never a folder itself. No entry of this batch was moved",
                        fi.folder, ti.folder
                    ),
                });
            }
            checked.push((f, t));
        }
        Ok(checked)
    }

    /// Where the folder `folder` lies, resolved through every link on its way (its own name
    /// too: entries are acted on inside it), with no mount point between it and the allowed
    /// folder that holds it (itself included). Why not, in words.
    fn place_folder(&self, folder: &Path, folders: &mut Folders) -> Result<Inside, String> {
        let resolved = folders.resolve(folder);
        let Some(r) = self
            .roots
            .iter()
            .filter(|r| resolved.starts_with(&r.resolved))
            .max_by_key(|r| r.resolved.components().count())
        else {
            return Err(format!(
                "it is in a folder outside the folders this node allows{}",
                through_links(folder, &resolved)
            ));
        };
        if let Some(m) = resolved
            .ancestors()
            .take_while(|a| *a != r.resolved && a.starts_with(&r.resolved))
            .find(|a| folders.mount_root(a))
        {
            return Err(mounted_words(m, r.label));
        }
        Ok(Inside {
            folder: r.label,
            at_root: resolved == r.resolved,
            top_level: resolved.parent() == Some(r.resolved.as_path()),
        })
    }

    /// `path` for operation `op` if it lies inside an allowed folder where `rule` accepts it,
    /// and is none of the run folder's own files (but for `exists` and `tree_size`, which
    /// only look).
    pub fn entry(
        &self,
        op: &str,
        path: &Path,
        rule: impl Fn(Inside) -> bool,
    ) -> Result<PathBuf, Refusal> {
        let (p, inside) = self.place(path)?;
        if inside.is_run_folder_own_file(&p) && op != "exists" && op != "tree_size" {
            return Err(own_file(path));
        }
        if rule(inside) {
            return Ok(p);
        }
        let what = if inside.at_root {
            format!("it is the {} itself", inside.folder)
        } else {
            format!("it is in the {}", inside.folder)
        };
        Err(Refusal {
            path: crate::display::path(path).to_string(),
            why: format!("{what}, and {op} {}", rule_words(op)),
        })
    }
}

/// The refusal of a request that would move, copy over or remove one of the run folder's own
/// files ([`Inside::is_run_folder_own_file`]).
fn own_file(path: &Path) -> Refusal {
    Refusal {
        path: crate::display::path(path).to_string(),
        why: "it is one of the run folder's own files (the lock, the agent's log, the homes' lineage), which no request moves, copies over or removes".into(),
    }
}

/// What `rule` of an operation allows, in words.
fn rule_words(op: &str) -> &'static str {
    match op {
        "remove_tree" => "removes only folders inside the run folder",
        "copy_file_durably" => "copies only from the home into the run folder",
        "check_writable" => "probes only the run folder and the backup folder",
        "make_backup" => "acts only on backups inside the backup folder",
        _ => "is not allowed there",
    }
}

/// ` (through symbolic links it is …)` when `asked` leads elsewhere than it reads.
fn through_links(asked: &Path, resolved: &Path) -> String {
    if resolved != asked {
        format!(
            " (through symbolic links it is {})",
            crate::display::path(resolved)
        )
    } else {
        String::new()
    }
}

/// Why nothing is done through the mount point `m` inside the allowed folder `label`.
fn mounted_words(m: &Path, label: &str) -> String {
    format!(
        "{} is a mount point inside the {label}: another folder is mounted there, and tt-ha never acts on files through one (unmount it)",
        crate::display::path(m)
    )
}

/// The label of the home.
pub const HOME: &str = "home";
/// The label of the run folder (journal, quarantine, attempts).
pub const RUN_FOLDER: &str = "run folder";
/// The label of the backup folder.
pub const BACKUP_FOLDER: &str = "backup folder";

/// Where an allowed path lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inside {
    /// [`HOME`], [`RUN_FOLDER`] or [`BACKUP_FOLDER`].
    pub folder: &'static str,
    /// The path is that folder itself, not something in it.
    pub at_root: bool,
    /// The path is an entry of that folder itself (not deeper).
    pub top_level: bool,
}

impl Inside {
    /// One of the run folder's own files (the lock, the agent's log, the homes' lineage),
    /// which no request moves, copies over or removes: moving the lock away let a second
    /// controller take it while the first held it, and a file moved to the log's name got the
    /// log written into it. Names are compared without regard to ASCII case (and, on
    /// Windows, without trailing dots and spaces), as Windows file systems name one file.
    pub fn is_run_folder_own_file(&self, path: &Path) -> bool {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        #[cfg(windows)]
        let name = name.trim_end_matches(['.', ' ']);
        self.folder == RUN_FOLDER
            && self.top_level
            && [
                crate::runlock::LOCK_FILE_NAME,
                crate::identity::RUN_HOMES_FILE,
                super::serve::LOG_FILE,
                super::serve::LOG_FILE_OLD,
            ]
            .iter()
            .any(|own| own.eq_ignore_ascii_case(name))
    }
}

fn root(label: &'static str, configured: PathBuf) -> Root {
    let resolved = resolve_existing(&configured);
    Root {
        label,
        configured,
        resolved,
    }
}

/// `path` with its longest existing beginning resolved through links (the rest, which does not
/// exist, cannot hold a link).
fn resolve_existing(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |p: PathBuf, n| p.join(n));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Folders resolved through their links, for the paths of one request (not kept longer: a
/// link may change between requests).
#[derive(Debug, Default)]
pub struct Folders(
    std::collections::HashMap<PathBuf, PathBuf>,
    std::collections::HashMap<PathBuf, bool>,
);

impl Folders {
    /// Whether `folder` (resolved) is a mount point ([`crate::fsinfo::is_mount_root`]), asked
    /// once per request.
    fn mount_root(&mut self, folder: &Path) -> bool {
        *self
            .1
            .entry(folder.to_path_buf())
            .or_insert_with(|| crate::fsinfo::is_mount_root(folder))
    }

    /// `folder` resolved through its links (as far as it exists), once per request.
    fn resolve(&mut self, folder: &Path) -> PathBuf {
        self.0
            .entry(folder.to_path_buf())
            .or_insert_with(|| resolve_existing(folder))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(home: &Path, run: &Path) -> Node {
        let text = format!(
            "name = \"n\"\naddress = \"127.0.0.1\"\nhome = {:?}\nrun_dir = {:?}\nservice = {{ kind = \"commands\", start = [\"true\"], stop = [\"true\"], status = [\"true\"] }}\n",
            home.display().to_string(),
            run.display().to_string()
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn inside_outside_dotdot_and_links() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("var/db");
        let run = t.path().join("var/tt-ha");
        let out = t.path().join("elsewhere");
        for d in [&home, &out] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::os::unix::fs::symlink(&out, home.join("escape")).unwrap();
        std::os::unix::fs::symlink(out.join("f"), home.join("last-link")).unwrap();
        let c = Confinement::for_node(&node(&home, &run));
        assert!(c.check(home.to_str().unwrap()).is_ok());
        assert!(c.check(home.join("DB_CONFIG").to_str().unwrap()).is_ok());
        // The run folder does not exist yet: still allowed, by its would-be path.
        assert!(c.check(run.join("r1/journal").to_str().unwrap()).is_ok());
        // The last name is not followed: the operation itself refuses to act through it.
        assert!(c.check(home.join("last-link").to_str().unwrap()).is_ok());
        let e = c
            .check(&format!("{}/../../elsewhere/f", home.display()))
            .unwrap_err();
        assert!(e.why.contains(".."), "{e:?}");
        let e = c
            .check(home.join("escape/f").to_str().unwrap())
            .unwrap_err();
        assert!(e.why.contains("symbolic links"), "{e:?}");
        assert!(c.check(out.join("f").to_str().unwrap()).is_err());
        assert!(c.check("/etc/passwd").is_err());
        assert!(c.check("relative/DB_CONFIG").is_err());
        // A sibling whose name merely starts like the home is another folder.
        assert!(c.check(&format!("{}x/f", home.display())).is_err());
    }
}
