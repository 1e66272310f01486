//! Berkeley DB deletes every file whose name begins `__db` (but a few) when it recovers an
//! environment, as the server's start does. tt-ha's rule for those names
//! (`dbhome::recovery_removes`) is checked name by name against Debian's `db5.3_recover` on a
//! real home, and an original of the replicant's under such a name stays in the quarantine at
//! rollback: the replicant's restart would delete it in the home.

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

/// Every entry named `name` under `dir`, at any depth, of the kind `want` accepts (links are
/// never followed).
fn walk(
    dir: &Path,
    name: &OsString,
    want: fn(&std::fs::FileType) -> bool,
) -> Vec<std::path::PathBuf> {
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
                stack.push(p.clone());
            }
            if want(&kind) && p.file_name() == Some(name.as_os_str()) {
                out.push(p);
            }
        }
    }
    out
}

/// Every regular file named `name` under `dir`.
fn find(dir: &Path, name: &OsString) -> Vec<std::path::PathBuf> {
    walk(dir, name, std::fs::FileType::is_file)
}

/// Every symbolic link named `name` under `dir`.
fn find_links(dir: &Path, name: &OsString) -> Vec<std::path::PathBuf> {
    walk(dir, name, std::fs::FileType::is_symlink)
}

/// Entries someone left in the replicant's home under names Berkeley DB deletes at recovery
/// (`__db.fake`, `__db.1`, `__db` with a byte that is not UTF-8, a link, a folder): the
/// prune moves them into the quarantine, and the rollback leaves them there and says so,
/// because the replicant's restart (real Berkeley DB) would delete them in the home. Nothing
/// lost, and nothing copied (nothing for a crash to cut in half).
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
    // Region-like names (the adversary lost `__db.1`, `__db.0001` and `__db.01` to a fix that
    // took any digits for Berkeley DB's own `__db.%03d` regions).
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
    // Said before it happens: the dry run names what stays in the quarantine.
    let o = sb.tt_ha(&["rollback", "--dry-run"]);
    let dry = text(&o);
    assert!(dry.contains("stays in the quarantine"), "{dry}");
    assert!(dry.contains("__db.fake"), "{dry}");
    let o = sb.tt_ha(&["rollback", "--yes"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("kept in the quarantine, because Berkeley DB deletes such names"),
        "{t}"
    );
    // The replicant runs again (Berkeley DB recovered its home); every entry of such a name
    // is whole in the quarantine, once, and named: the link with its target, the folder
    // with what it holds, each file byte for byte.
    let run_root = sb.home("replicant").parent().unwrap().join("tt-ha");
    let links = find_links(&run_root, &link);
    assert_eq!(links.len(), 1, "{links:?}: {t}");
    assert_eq!(std::fs::read_link(&links[0]).unwrap(), target);
    assert!(!sb.home("replicant").join(&link).exists());
    let inside = find(&run_root, &OsString::from("inside"));
    assert_eq!(inside.len(), 1, "{inside:?}");
    assert!(
        inside[0].parent().unwrap().ends_with("__db.dir"),
        "{inside:?}"
    );
    assert_eq!(std::fs::read(&inside[0]).unwrap(), b"kept");
    for n in &names {
        assert!(!sb.home("replicant").join(n).exists(), "{n:?} moved back");
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
