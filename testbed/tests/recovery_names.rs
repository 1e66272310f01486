//! Berkeley DB deletes every file whose name begins `__db` (but a few) when it recovers an
//! environment, as the server's start does. tt-ha's rule for those names
//! (`dbhome::recovery_removes`) is checked name by name against Debian's `db5.3_recover` on a
//! real home, and a file of such a name that Berkeley DB did not make, moved back into the
//! replicant's home by a rollback, keeps a copy in the quarantine: the replicant's restart
//! deletes the one in the home.

mod common;
use common::{Sandbox, text};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::Command;

/// Names around every edge of the rule, odd bytes included.
fn names() -> Vec<OsString> {
    let mut v: Vec<OsString> = [
        "__db.fake",
        "__dbfake",
        "__db",
        "__db.lck",
        "__db.0a1",
        "__db.",
        "__db.re",
        "__db.regist",
        "__dbq",
        "__dbqx",
        "__db.rep",
        "__db.rep.x",
        "__db.reppg.db",
        "__db.repx",
        "__db.register",
        "__db.registerx",
        "__dbq.",
        "__dbq.x.1",
        "_db.fake",
        "db.rep.x",
        "__DB.x",
        "x__db.1",
        " __db.x",
        "__db .x",
        "__db.x ",
        "__db\t",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    v.push(OsString::from_vec(b"__db.\xff".to_vec()));
    v.push(OsString::from_vec(b"__db\xff".to_vec()));
    v.push(OsString::from_vec(b"__dbq.\xff".to_vec()));
    v.push(OsString::from_vec(b"\xff__db".to_vec()));
    v
}

#[test]
fn the_names_berkeley_db_recovery_deletes_are_the_ones_tt_ha_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    std::fs::write(home.join("DB_CONFIG"), "set_lg_dir .\n").unwrap();
    let mut load = Command::new("db5.3_load")
        .args(["-h"])
        .arg(home)
        .args(["-t", "btree", "-T", "t.db"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("db5.3_load (Debian db5.3-util) runs");
    use std::io::Write;
    load.stdin.take().unwrap().write_all(b"a\n1\n").unwrap();
    assert!(load.wait().unwrap().success());
    for n in names() {
        std::fs::write(home.join(&n), b"not a region").unwrap();
    }
    let o = Command::new("db5.3_recover")
        .arg("-h")
        .arg(home)
        .output()
        .unwrap();
    assert!(o.status.success(), "db5.3_recover: {}", text(&o));
    let mut wrong = Vec::new();
    for n in names() {
        let survived = home.join(&n).exists();
        let predicted = !tt_ha::dbhome::recovery_removes(&n);
        if survived != predicted {
            wrong.push(format!("{n:?}: survived {survived}, predicted {predicted}"));
        }
    }
    assert!(wrong.is_empty(), "the rule is wrong for {wrong:#?}");
}

/// Every file named `name` under `dir`, at any depth.
fn find(dir: &Path, name: &OsString) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name() == Some(name.as_os_str()) {
                out.push(p);
            }
        }
    }
    out
}

/// Every symbolic link named `name` under `dir`, at any depth (never followed).
fn find_links(dir: &Path, name: &OsString) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let (p, kind) = (e.path(), e.file_type().unwrap());
            if kind.is_dir() {
                stack.push(p);
            } else if kind.is_symlink() && p.file_name() == Some(name.as_os_str()) {
                out.push(p);
            }
        }
    }
    out
}

/// A file someone left in the replicant's home under a name Berkeley DB deletes at recovery
/// (`__db.fake`, and `__db` with a byte that is not UTF-8): the prune moves it into the
/// quarantine; the rollback moves it back and keeps a copy where it was in the quarantine,
/// and says so, because the replicant's restart (real Berkeley DB) deletes the one in the
/// home. Nothing lost: the operator's bytes are in the quarantine after the restart.
#[test]
fn a_file_berkeley_db_deletes_at_the_replicants_start_survives_a_rollback_in_the_quarantine() {
    let sb = Sandbox::new(500);
    // The region files the master's server made are Berkeley DB's own.
    let regions: Vec<OsString> = std::fs::read_dir(sb.home("master"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| tt_ha::dbhome::recovery_removes(n))
        .collect();
    assert!(
        !regions.is_empty(),
        "the master's server made no region files"
    );
    for r in &regions {
        assert!(tt_ha::dbhome::is_bdb_region(r), "{r:?}");
        assert!(
            !tt_ha::dbhome::lost_at_recovery_name(r.as_encoded_bytes()),
            "{r:?}"
        );
    }
    // Region-like but not Berkeley DB's `__db.%03d` (the adversary lost `__db.1`, `__db.0001`
    // and `__db.01` after the first fix took any digits for a region).
    let names = [
        OsString::from("__db.fake"),
        OsString::from_vec(b"__db\xfe.keep".to_vec()),
        OsString::from("__db.1"),
        OsString::from("__db.01"),
        OsString::from("__db.0001"),
    ];
    let content =
        |n: &OsString| [b"the operator's notes: ".as_slice(), n.as_encoded_bytes()].concat();
    for n in &names {
        std::fs::write(sb.home("replicant").join(n), content(n)).unwrap();
    }
    // A link of such a name (Berkeley DB deletes the link) and a folder (it does not).
    let target = sb.root.join("link-target");
    std::fs::write(&target, b"target").unwrap();
    let link = OsString::from("__db.link");
    std::os::unix::fs::symlink(&target, sb.home("replicant").join(&link)).unwrap();
    let folder = OsString::from("__db.dir");
    std::fs::create_dir(sb.home("replicant").join(&folder)).unwrap();
    std::fs::write(sb.home("replicant").join(&folder).join("inside"), b"kept").unwrap();
    let o = sb.tt_ha(&["apply", "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = sb.tt_ha(&["rollback", "--yes"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("a copy kept in the quarantine"), "{t}");
    // The replicant runs again (Berkeley DB recovered its home): the copies are intact.
    let run_root = sb.home("replicant").parent().unwrap().join("tt-ha");
    // The link went back into the quarantine, whole; the folder stayed in the home.
    let links = find_links(&run_root, &link);
    assert_eq!(links.len(), 1, "{links:?}: {t}");
    assert_eq!(std::fs::read_link(&links[0]).unwrap(), target);
    assert_eq!(
        std::fs::read(sb.home("replicant").join(&folder).join("inside")).unwrap(),
        b"kept"
    );
    for n in &names {
        // The premise: the restarted replicant's Berkeley DB deleted the one in the home.
        assert!(
            !sb.home("replicant").join(n).exists(),
            "{n:?} survived the restart"
        );
        let copies = find(&run_root, n);
        assert_eq!(copies.len(), 1, "{n:?}: {copies:?}");
        assert_eq!(std::fs::read(&copies[0]).unwrap(), content(n), "{n:?}");
        assert!(
            t.contains(&tt_ha::display::path(&copies[0]).to_string()),
            "{} not named in {t}",
            tt_ha::display::path(&copies[0])
        );
    }
}
