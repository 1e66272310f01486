//! A refused command leaves no trace: every file byte-identical and no new folder anywhere in
//! the site (a run folder, a lock file, a journal).

mod common;

use common::{FakeSite, text};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Every folder and file under `root`, with each file's bytes (folders: `None`).
fn everything(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let key = p.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                out.insert(key + "/", None);
                stack.push(p);
            } else {
                out.insert(key, Some(fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out
}

/// The differences between two listings, in words.
fn differences(
    before: &BTreeMap<String, Option<Vec<u8>>>,
    after: &BTreeMap<String, Option<Vec<u8>>>,
) -> Vec<String> {
    let mut d = Vec::new();
    for (k, v) in after {
        match before.get(k) {
            None => d.push(format!("new: {k}")),
            Some(b) if b != v => d.push(format!("changed: {k}")),
            _ => {}
        }
    }
    for k in before.keys().filter(|k| !after.contains_key(*k)) {
        d.push(format!("gone: {k}"));
    }
    d
}

/// A rollback refused because tt-ha.toml now names another folder as the replicant's home
/// than the run started on: refused, naming why, and nothing anywhere changed or created.
#[test]
fn a_refused_rollback_after_the_config_was_repointed_leaves_no_trace() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.stop"]);
    assert!(o.status.success(), "{}", text(&o));
    let other = site.dir.path().join("other/var/db");
    fs::create_dir_all(&other).unwrap();
    fs::write(
        other.join("DB_CONFIG"),
        fs::read(site.replicant.join("DB_CONFIG")).unwrap(),
    )
    .unwrap();
    fs::write(other.join("volumes.db"), b"another server's data").unwrap();
    let cfg = fs::read_to_string(&site.config).unwrap();
    let from = "home = \"replicant/TapeTrack Framework Server/var/db\"";
    assert!(cfg.contains(from));
    fs::write(
        &site.config,
        cfg.replacen(
            from,
            &format!("home = {:?}", other.display().to_string()),
            1,
        ),
    )
    .unwrap();
    let before = everything(site.dir.path());
    let o = site.tt_ha(&["rollback", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("when this run started"), "{out}");
    let after = everything(site.dir.path());
    let d = differences(&before, &after);
    assert!(d.is_empty(), "a refused rollback left traces: {d:?}\n{out}");
}
