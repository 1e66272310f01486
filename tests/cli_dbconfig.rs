//! `tt-ha dbconfig …` as an operator runs it, on real files.

mod common;

use common::{TEMPLATE, tt_ha};
use std::fs;

fn file_with(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("DB_CONFIG");
    fs::write(&p, bytes).unwrap();
    (dir, p)
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn enable_writes_prints_diff_and_second_run_is_a_no_op() {
    let (_d, p) = file_with(TEMPLATE);
    let args = [
        "dbconfig",
        "enable",
        p.to_str().unwrap(),
        "--role",
        "replicant",
        "--local",
        "10.0.0.2:5100",
        "--remote",
        "10.0.0.1:5100",
    ];
    let o = tt_ha().args(args).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("\n-#rep_set_priority 0\n") && out.contains("\n+rep_set_priority 0\n"),
        "{out}"
    );
    assert!(
        out.contains("+repmgr_site 10.0.0.1 5100 db_bootstrap_helper on"),
        "{out}"
    );
    assert!(out.contains("wrote "), "{out}");
    let written = fs::read(&p).unwrap();
    assert_ne!(written, TEMPLATE);
    let expected = String::from_utf8(TEMPLATE.to_vec())
        .unwrap()
        .replace("#rep_set_priority 0\n#repmgr_site 192.0.2.20 5100 db_local_site on\n#repmgr_site 192.0.2.10 5100 db_bootstrap_helper on", "rep_set_priority 0\nrepmgr_site 10.0.0.2 5100 db_local_site on\nrepmgr_site 10.0.0.1 5100 db_bootstrap_helper on");
    assert_eq!(String::from_utf8(written.clone()).unwrap(), expected);

    let o = tt_ha().args(args).output().unwrap();
    assert!(o.status.success());
    assert!(
        stdout(&o).contains("already enabled with these addresses: nothing to change"),
        "{}",
        stdout(&o)
    );
    assert_eq!(fs::read(&p).unwrap(), written);
}

#[test]
fn dry_run_changes_nothing() {
    let (_d, p) = file_with(TEMPLATE);
    let o = tt_ha()
        .args([
            "dbconfig",
            "enable",
            p.to_str().unwrap(),
            "--role",
            "master",
            "--local",
            "10.0.0.1:5100",
            "--remote",
            "10.0.0.2:5100",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(stdout(&o).contains("+rep_set_priority 1"));
    assert!(stdout(&o).contains("dry run"));
    assert_eq!(fs::read(&p).unwrap(), TEMPLATE);
}

/// Every refusal exits non-zero, says why, and leaves the file byte-identical.
#[test]
fn refusals_leave_the_file_byte_identical() {
    let utf16: Vec<u8> = b"\xFF\xFE"
        .iter()
        .copied()
        .chain(
            "#rep_set_priority 0\r\n"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes()),
        )
        .collect();
    let master_active = String::from_utf8(TEMPLATE.to_vec()).unwrap().replace("#rep_set_priority 1\n#repmgr_site 192.0.2.10 5100 db_local_site on\n#repmgr_site 192.0.2.20 5100", "rep_set_priority 1\nrepmgr_site 192.0.2.10 5100 db_local_site on\nrepmgr_site 192.0.2.20 5100");
    let both_active = master_active.replace("#rep_set_priority 0\n#repmgr_site 192.0.2.20 5100 db_local_site on\n#repmgr_site 192.0.2.10 5100 db_bootstrap_helper on", "rep_set_priority 0\nrepmgr_site 192.0.2.20 5100 db_local_site on\nrepmgr_site 192.0.2.10 5100 db_bootstrap_helper on");
    let cases: Vec<(&str, Vec<u8>, Vec<&str>, &str)> = vec![
        (
            "utf-16",
            utf16,
            vec![
                "--role",
                "replicant",
                "--local",
                "10.0.0.2:1",
                "--remote",
                "10.0.0.1:1",
            ],
            "UTF-16",
        ),
        (
            "nul",
            b"#rep_set_priority 0\n\0".to_vec(),
            vec![
                "--role",
                "replicant",
                "--local",
                "10.0.0.2:1",
                "--remote",
                "10.0.0.1:1",
            ],
            "NUL byte on line 2",
        ),
        (
            "no block",
            b"set_cachesize 0 1 1\n".to_vec(),
            vec![
                "--role",
                "master",
                "--local",
                "10.0.0.1:1",
                "--remote",
                "10.0.0.2:1",
            ],
            "no master block",
        ),
        (
            "remote count",
            TEMPLATE.to_vec(),
            vec!["--role", "master", "--local", "10.0.0.1:1"],
            "has 1 remote site line(s) but 0",
        ),
        (
            "other role",
            master_active.into_bytes(),
            vec![
                "--role",
                "replicant",
                "--local",
                "10.0.0.2:1",
                "--remote",
                "10.0.0.1:1",
            ],
            "--switch",
        ),
        (
            "both active",
            both_active.into_bytes(),
            vec![
                "--role",
                "master",
                "--local",
                "10.0.0.1:1",
                "--remote",
                "10.0.0.2:1",
            ],
            "lines 17, 23",
        ),
    ];
    for (name, bytes, args, says) in cases {
        let (_d, p) = file_with(&bytes);
        let o = tt_ha()
            .args(["dbconfig", "enable", p.to_str().unwrap()])
            .args(&args)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{name}: should refuse");
        assert!(stderr(&o).contains(says), "{name}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(p.to_str().unwrap()),
            "{name}: names the file: {}",
            stderr(&o)
        );
        assert_eq!(fs::read(&p).unwrap(), bytes, "{name}: file changed");
        let leftovers = fs::read_dir(p.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "{name}: temporary file left behind");
    }
}

#[test]
fn bad_addresses_are_usage_errors() {
    let (_d, p) = file_with(TEMPLATE);
    let o = tt_ha()
        .args([
            "dbconfig",
            "enable",
            p.to_str().unwrap(),
            "--role",
            "master",
            "--local",
            "10.0.0.1",
            "--remote",
            "10.0.0.2:5100",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("HOST:PORT"), "{}", stderr(&o));
    assert_eq!(fs::read(&p).unwrap(), TEMPLATE);
}

#[test]
fn switch_moves_the_role_and_names_warn_but_proceed() {
    let (_d, p) = file_with(TEMPLATE);
    let path = p.to_str().unwrap();
    tt_ha()
        .args([
            "dbconfig",
            "enable",
            path,
            "--role",
            "master",
            "--local",
            "10.0.0.1:5100",
            "--remote",
            "10.0.0.2:5100",
        ])
        .assert()
        .success();
    let o = tt_ha()
        .args([
            "dbconfig",
            "enable",
            path,
            "--role",
            "replicant",
            "--local",
            "ttrep:5100",
            "--remote",
            "10.0.0.1:5100",
            "--switch",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("warning: `ttrep` is a name, not an IPv4 address"),
        "{}",
        stderr(&o)
    );
    let text = fs::read_to_string(&p).unwrap();
    assert!(
        text.contains("#rep_set_priority 1\n#repmgr_site 10.0.0.1 5100 db_local_site on\n"),
        "{text}"
    );
    assert!(
        text.contains("\nrep_set_priority 0\nrepmgr_site ttrep 5100 db_local_site on\n"),
        "{text}"
    );
}

#[test]
fn crlf_and_bom_files_keep_every_other_byte() {
    let crlf: Vec<u8> = [
        b"\xEF\xBB\xBF".as_slice(),
        &String::from_utf8(TEMPLATE.to_vec())
            .unwrap()
            .replace('\n', "\r\n")
            .into_bytes(),
    ]
    .concat();
    let (_d, p) = file_with(&crlf);
    tt_ha()
        .args([
            "dbconfig",
            "enable",
            p.to_str().unwrap(),
            "--role",
            "master",
            "--local",
            "10.0.0.1:5100",
            "--remote",
            "10.0.0.2:5100",
        ])
        .assert()
        .success();
    let out = fs::read(&p).unwrap();
    let expected = String::from_utf8(crlf).unwrap().replace(
        "#rep_set_priority 1\r\n#repmgr_site 192.0.2.10 5100 db_local_site on\r\n#repmgr_site 192.0.2.20 5100\r\n",
        "rep_set_priority 1\r\nrepmgr_site 10.0.0.1 5100 db_local_site on\r\nrepmgr_site 10.0.0.2 5100\r\n",
    );
    assert_eq!(out, expected.into_bytes());
}

#[test]
fn insert_adds_the_missing_block_and_show_lists_blocks() {
    let (_d, p) = file_with(b"set_cachesize 0 1 1\r\n");
    let path = p.to_str().unwrap();
    let o = tt_ha()
        .args(["dbconfig", "insert", path, "--role", "replicant"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("+#rep_set_priority 0"));
    let o = tt_ha().args(["dbconfig", "show", path]).output().unwrap();
    assert!(
        stdout(&o).contains("line 5: replicant block (commented, rep_set_priority 0)"),
        "{}",
        stdout(&o)
    );
    let o = tt_ha()
        .args(["dbconfig", "insert", path, "--role", "replicant"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("already has a replicant block at line 5"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_file_is_named() {
    let o = tt_ha()
        .args(["dbconfig", "show", "/nonexistent/DB_CONFIG"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/nonexistent/DB_CONFIG: cannot read"),
        "{}",
        stderr(&o)
    );
}

/// `enable` with the given `--local`/`--remote` on a template DB_CONFIG.
fn enable_with(p: &std::path::Path, local: &str, remote: &str) -> std::process::Output {
    tt_ha()
        .args([
            "dbconfig",
            "enable",
            p.to_str().unwrap(),
            "--role",
            "master",
        ])
        .arg(format!("--local={local}"))
        .arg(format!("--remote={remote}"))
        .output()
        .unwrap()
}

/// Malformed addresses, IPv6 literals and bad ports are usage errors (exit 2) that say what is
/// wrong and what to write; the file stays byte-identical.
#[test]
fn bad_addresses_ipv6_and_ports_are_refused_before_the_file_is_touched() {
    for (local, says) in [
        ("999.1.1.1:5100", "`999` is greater than 255"),
        ("1.2.3:5100", "an IPv4 address has 4"),
        ("+1.2.3.4:5100", "character 1 is `+`"),
        ("1.2.3.4.:5100", "empty part"),
        ("10.0.0.1 x:5100", "a space"),
        ("10.0.0.1#x:5100", "starts a comment"),
        ("10.0.0.1\u{1}:5100", "control character"),
        ("10.0.0.١:5100", "non-ASCII"),
        ("host_name:5100", "`_`"),
        ("[::1]:5100", "the vendor advises IPv4"),
        ("::1", "the vendor advises IPv4"),
        ("fe80::1%eth0:5100", "the vendor advises IPv4"),
        ("[2001:db8::1]:5100", "the vendor advises IPv4"),
        ("10.0.0.1:0", "1 to 65535"),
        ("10.0.0.1:65536", "1 to 65535"),
        ("10.0.0.1:-1", "1 to 65535"),
        ("10.0.0.1:x", "1 to 65535"),
        ("10.0.0.1:", "1 to 65535"),
    ] {
        let (_d, p) = file_with(TEMPLATE);
        for (l, r) in [(local, "10.0.0.2:5100"), ("10.0.0.2:5100", local)] {
            let o = enable_with(&p, l, r);
            assert_eq!(o.status.code(), Some(2), "{l} {r}: {}", stderr(&o));
            assert!(stderr(&o).contains(says), "{l:?} {r:?}: {}", stderr(&o));
            assert_eq!(fs::read(&p).unwrap(), TEMPLATE, "{l} {r}: file changed");
        }
    }
}

/// The local site given again as the remote one (in any spelling of the same site) is refused,
/// naming the file, which stays byte-identical.
#[test]
fn local_site_equal_to_the_remote_site_is_refused() {
    for (local, remote) in [
        ("127.0.0.1:5100", "127.0.0.1:5100"),
        ("127.0.0.1:5100", "127.0.0.1:005100"),
        ("TTHost:5100", "tthost:5100"),
    ] {
        let (_d, p) = file_with(TEMPLATE);
        let o = enable_with(&p, local, remote);
        assert_eq!(o.status.code(), Some(1), "{local} {remote}");
        let err = stderr(&o);
        assert!(err.contains("the same site"), "{err}");
        assert!(err.contains(p.to_str().unwrap()), "names the file: {err}");
        assert_eq!(fs::read(&p).unwrap(), TEMPLATE);
    }
}

/// A DB_CONFIG that is a symbolic link is refused by `enable` and `insert` (it used to be
/// replaced silently by a plain file): the message names the link and its target and says what
/// to do; the link stays a link and the file it points to is unchanged.
#[cfg(unix)]
#[test]
fn symlinked_db_config_is_refused_and_left_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real DB_CONFIG");
    let no_master = String::from_utf8(TEMPLATE.to_vec()).unwrap();
    let no_master = no_master.replace("#rep_set_priority 1", "# rep set priority one");
    fs::write(&real, &no_master).unwrap();
    let link = dir.path().join("DB_CONFIG");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let runs: [Vec<&str>; 3] = [
        vec![
            "enable",
            "--role",
            "replicant",
            "--local",
            "10.0.0.2:5100",
            "--remote",
            "10.0.0.1:5100",
        ],
        vec!["insert", "--role", "master"],
        vec![
            "enable",
            "--role",
            "replicant",
            "--local",
            "10.0.0.2:5100",
            "--remote",
            "10.0.0.1:5100",
            "--dry-run",
        ],
    ];
    for args in runs {
        let o = tt_ha()
            .arg("dbconfig")
            .arg(args[0])
            .arg(&link)
            .args(&args[1..])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("{} is a symbolic link", link.display())),
            "{err}"
        );
        assert!(
            err.contains(&real.display().to_string()),
            "names the target: {err}"
        );
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_link(&link).unwrap(), real);
        assert_eq!(fs::read_to_string(&real).unwrap(), no_master);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporary left"
        );
    }
}

/// A DB_CONFIG that is a folder or a FIFO is refused at once (reading a FIFO would block for
/// ever), naming what it is; nothing is created or changed.
#[cfg(unix)]
#[test]
fn db_config_that_is_a_folder_or_a_fifo_is_refused_without_blocking() {
    for kind in ["folder", "FIFO"] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("DB_CONFIG");
        if kind == "folder" {
            fs::create_dir(&p).unwrap();
        } else {
            let st = std::process::Command::new("mkfifo")
                .arg(&p)
                .status()
                .unwrap();
            assert!(st.success(), "mkfifo failed");
        }
        for args in [
            vec![
                "enable",
                "--role",
                "master",
                "--local",
                "10.0.0.1:5100",
                "--remote",
                "10.0.0.2:5100",
            ],
            vec!["insert", "--role", "master"],
            vec!["show"],
        ] {
            let o = tt_ha()
                .arg("dbconfig")
                .arg(args[0])
                .arg(&p)
                .args(&args[1..])
                .timeout(std::time::Duration::from_secs(20))
                .output()
                .unwrap();
            let err = stderr(&o);
            assert_eq!(
                o.status.code(),
                Some(1),
                "{kind} {args:?}: blocked or accepted: {err}"
            );
            assert!(
                err.contains(&format!("{} is a", p.display())),
                "{kind}: {err}"
            );
            assert!(err.contains(kind), "{kind}: {err}");
            assert!(err.contains("not a regular file"), "{kind}: {err}");
            assert_eq!(
                fs::read_dir(dir.path()).unwrap().count(),
                1,
                "{kind}: something created"
            );
        }
    }
}
