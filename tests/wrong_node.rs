//! A node is the node the config names (design invariant 9): tt-ha never acts on the other
//! node's files. Two nodes that share a home (by any spelling), a node that is not on this
//! machine, a process of the same program serving the other home, and a server that
//! tt-ha.toml's service and process settings fail to see: each is refused, named, and leaves
//! both homes as they were.

mod common;

use common::{FakeSite, assert_same_tree, snapshot, snapshot_without_regions, text};
use std::fs;
use std::path::Path;

fn set_config(site: &FakeSite, from: &str, to: &str) {
    let cfg = fs::read_to_string(&site.config).unwrap();
    assert!(cfg.contains(from), "{from} not in config:\n{cfg}");
    fs::write(&site.config, cfg.replacen(from, to, 1)).unwrap();
}

/// The replicant's `home = "…"` line of the site's config.
const REPLICANT_HOME: &str = "home = \"replicant/TapeTrack Framework Server/var/db\"";

#[test]
fn two_nodes_sharing_a_home_by_any_spelling_are_refused_before_anything_changes() {
    let site = FakeSite::new();
    let link = site.dir.path().join("link-to-master-db");
    std::os::unix::fs::symlink(&site.master, &link).unwrap();
    let spellings = [
        "master/TapeTrack Framework Server/var/db".to_string(),
        "master/TapeTrack Framework Server/var/db/".to_string(),
        "master/TapeTrack Framework Server/var/../var/db".to_string(),
        "master/TapeTrack Framework Server/var/./db//".to_string(),
        link.display().to_string(),
        format!("{}/.", link.display()),
        // One inside the other: pruning the outer folder would move the master's home.
        "master/TapeTrack Framework Server".to_string(),
    ];
    let original = fs::read_to_string(&site.config).unwrap();
    for s in spellings {
        fs::write(
            &site.config,
            original.replacen(REPLICANT_HOME, &format!("home = {s:?}"), 1),
        )
        .unwrap();
        let master = snapshot_without_regions(&site.master);
        let plan = site.tt_ha(&["plan"]);
        let out = text(&plan);
        assert_eq!(plan.status.code(), Some(1), "{s}: plan passed:\n{out}");
        assert!(out.contains("separate folders"), "{s}: {out}");
        let o = site.tt_ha(&["apply", "--yes"]);
        let out = text(&o);
        assert!(!o.status.success(), "{s}: apply went ahead:\n{out}");
        assert!(
            out.contains("same folder") || out.contains("inside"),
            "{s}: {out}"
        );
        assert!(
            out.contains("nothing was changed"),
            "a refused preflight says nothing changed: {out}"
        );
        assert!(site.up(true) && site.up(false), "{s}: a server was stopped");
        assert_same_tree(&snapshot_without_regions(&site.master), &master, &s);
    }
}

#[test]
fn a_config_changed_mid_run_to_the_other_nodes_home_is_refused_at_the_destructive_step() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.stop"]);
    assert!(o.status.success(), "{}", text(&o));
    // Between two invocations the replicant's home is re-pointed at the master's, through a
    // link: preflight is done, so only the per-step check stands between it and the master.
    let link = site.dir.path().join("db-link");
    std::os::unix::fs::symlink(&site.master, &link).unwrap();
    set_config(
        &site,
        REPLICANT_HOME,
        &format!("home = {:?}", link.display().to_string()),
    );
    let master = snapshot_without_regions(&site.master);
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(!out.contains("[done] replicant.prune"), "{out}");
    assert!(out.contains("same folder"), "{out}");
    assert!(site.up(true), "the master keeps serving");
    assert_same_tree(
        &snapshot_without_regions(&site.master),
        &master,
        "master home",
    );
}

#[test]
fn a_node_whose_address_is_not_on_this_machine_is_refused() {
    let site = FakeSite::new();
    // The replicant's address becomes another machine's (192.0.2.0/24 is TEST-NET-1, never an
    // address of this machine); the master stays on loopback, which is then refused too.
    let cfg = fs::read_to_string(&site.config).unwrap();
    let at = cfg.find("[[replicant]]").unwrap();
    let (head, tail) = cfg.split_at(at);
    let tail = tail.replacen("address = \"127.0.0.1\"", "address = \"192.0.2.10\"", 1);
    fs::write(&site.config, format!("{head}{tail}")).unwrap();
    let before = (snapshot(&site.master), snapshot(&site.replicant));
    let plan = site.tt_ha(&["plan"]);
    let out = text(&plan);
    assert_eq!(plan.status.code(), Some(1), "{out}");
    assert!(
        out.contains("ttreplicant is not on this machine"),
        "names the node: {out}"
    );
    assert!(
        out.contains("ttmaster's address 127.0.0.1 is a loopback address"),
        "{out}"
    );
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("not on this machine"), "{out}");
    assert!(site.up(true) && site.up(false), "a server was stopped");
    assert_same_tree(&snapshot(&site.master), &before.0, "master");
    assert_same_tree(&snapshot(&site.replicant), &before.1, "replicant");
}

#[test]
fn a_process_of_the_same_program_serving_the_other_home_is_not_this_nodes_server() {
    // Both nodes' `process` match both servers (one program, as on the sandbox): stopping the
    // replicant must not wait for, or name, the master's process.
    let site = FakeSite::new();
    let cfg = fs::read_to_string(&site.config).unwrap();
    let loose = regex::Regex::new(r#"process = \{ cmdline_contains = "fakesvc.py serve [^"]*" \}"#)
        .unwrap()
        .replace_all(
            &cfg,
            r#"process = { cmdline_contains = "fakesvc.py serve" }"#,
        )
        .into_owned();
    assert_ne!(loose, cfg);
    fs::write(&site.config, loose).unwrap();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.prune"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("[done] replicant.stop"), "{out}");
    assert!(site.up(true), "the master keeps serving");
}

/// A shell holding `file` open (its working folder elsewhere), started and ready.
fn holding(file: &Path) -> std::process::Child {
    let mut c = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec 3<\"$0\"; cd /; echo ok; exec sleep 60")
        .arg(file)
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

#[test]
fn a_process_holding_the_replicants_files_blocks_the_prune_and_is_named() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.stop"]);
    assert!(o.status.success(), "{}", text(&o));
    // Some other program (a backup agent, an editor) has a database of the home open.
    let mut other = holding(&site.replicant.join("volumes.db"));
    let before = snapshot(&site.replicant);
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("[FAIL] replicant.prune"), "{out}");
    assert!(
        out.contains(&format!("process {} (sleep) has open", other.id()))
            && out.contains("volumes.db"),
        "names the pid, the program and the file: {out}"
    );
    assert_same_tree(&snapshot(&site.replicant), &before, "replicant home");
    other.kill().unwrap();
    other.wait().unwrap();
    // Once it is gone, the run resumes to the end.
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_master_the_config_cannot_see_keeps_its_region_files() {
    // A wrong status command (always "stopped"), a process setting that matches nothing and a
    // client port where nothing listens: every configured sign says the master is down while
    // it runs. The files it holds must still never move.
    let site = FakeSite::new();
    let cfg = fs::read_to_string(&site.config).unwrap();
    let at = cfg.find("[[replicant]]").unwrap();
    let (head, tail) = cfg.split_at(at);
    let status = regex::Regex::new(r#"status = \[[^\]]*\]"#).unwrap();
    let head = status.replace(head, r#"status = ["sh", "-c", "exit 3"]"#);
    let stop = regex::Regex::new(r#"stop = \[[^\]]*\]"#).unwrap();
    let head = stop.replace(&head, r#"stop = ["true"]"#);
    let head = head
        .replacen(
            &format!("client_port = {}", site.ports[0]),
            &format!("client_port = {}", common::free_port()),
            1,
        )
        .replace("fakesvc.py serve ", "no-such-program ");
    fs::write(&site.config, format!("{head}{tail}")).unwrap();
    let before = snapshot(&site.master);
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    // Refused by the first master step that needs it down (the backup's top-up after the
    // stop asks first), and in any case before the region files move.
    assert!(
        [
            "[FAIL] master.stop",
            "[FAIL] master.dbconfig",
            "[FAIL] master.regions"
        ]
        .iter()
        .any(|s| out.contains(s)),
        "{out}"
    );
    assert!(out.contains("home is in use"), "{out}");
    assert!(out.contains("__db.001"), "names the file: {out}");
    assert!(site.up(true), "the master keeps serving");
    let after = snapshot(&site.master);
    for name in ["__db.001", "__db.002", "__db.rep.gen", "DB_CONFIG"] {
        assert_eq!(
            after.get(Path::new(name)),
            before.get(Path::new(name)),
            "{name} changed or moved"
        );
    }
    assert!(
        !out.contains("[done] master.regions"),
        "the region files of a running master were moved: {out}"
    );
}

#[test]
fn the_shipped_example_drives_two_servers_from_one_console() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/tt-ha.toml");
    let text = fs::read_to_string(&path).unwrap();
    let check = |cfg: &tt_ha::config::SiteConfig| {
        let (m, r) = (&cfg.master, cfg.replicant());
        // Two servers: each reached over ssh, at its own host and address, so neither home is
        // a folder of the machine tt-ha runs on.
        assert!(
            m.is_remote() && r.is_remote(),
            "a node of the example is local"
        );
        assert_ne!(m.ssh, r.ssh, "both nodes are reached at one host");
        assert_ne!(m.address, r.address);
        for n in [m, r] {
            if let tt_ha::config::ServiceControl::Windows { host, .. } = &n.service {
                assert!(
                    host.is_none(),
                    "{}: the service is driven on its own server by its agent",
                    n.name
                );
            }
        }
    };
    check(&tt_ha::config::parse(&text, &path, Path::new("/")).unwrap());
    // The commented Linux pair too.
    let linux: String = text
        .lines()
        .skip_while(|l| !l.starts_with("# Linux pair"))
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.starts_with('[') || l.contains(" = "))
        .collect::<Vec<_>>()
        .join("\n");
    check(&tt_ha::config::parse(&linux, &path, Path::new("/")).unwrap());
    assert!(text.contains("driven from one console"));
}

#[test]
fn a_home_given_through_a_link_keeps_its_run_folder_beside_the_real_home() {
    let site = FakeSite::new();
    let elsewhere = site.dir.path().join("links");
    fs::create_dir_all(&elsewhere).unwrap();
    let link = elsewhere.join("db");
    std::os::unix::fs::symlink(&site.replicant, &link).unwrap();
    set_config(
        &site,
        REPLICANT_HOME,
        &format!("home = {:?}", link.display().to_string()),
    );
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.prune"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let real_runs = site.replicant.parent().unwrap().join("tt-ha");
    let quarantined: Vec<_> = fs::read_dir(&real_runs)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("quarantine/ttreplicant/volumes.db"))
        .filter(|p| p.exists())
        .collect();
    assert_eq!(
        quarantined.len(),
        1,
        "quarantine beside the real home: {out}"
    );
    assert!(
        !elsewhere.join("tt-ha").exists(),
        "a run folder was made beside the link"
    );
    // Rollback finds it there and puts the files back.
    let o = site.tt_ha(&["rollback", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(site.replicant.join("volumes.db").exists());
}

#[test]
fn one_host_spelled_two_ways_still_needs_distinct_ports() {
    let site = FakeSite::new();
    let cfg = fs::read_to_string(&site.config).unwrap();
    let at = cfg.find("[[replicant]]").unwrap();
    let (head, tail) = cfg.split_at(at);
    let tail = tail
        .replacen("address = \"127.0.0.1\"", "address = \"LocalHost\"", 1)
        .replacen(
            &format!("client_port = {}", site.ports[2]),
            &format!("client_port = {}", site.ports[0]),
            1,
        );
    fs::write(&site.config, format!("{head}{tail}")).unwrap();
    let o = site.tt_ha(&["plan"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("same port twice"), "{out}");
}

#[test]
fn a_resumed_run_refuses_a_home_that_is_not_the_folder_it_started_on() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes", "--until", "replicant.stop"]);
    assert!(o.status.success(), "{}", text(&o));
    // A stopped folder that is neither node's: another server's home, say.
    let other = site.dir.path().join("other/var/db");
    fs::create_dir_all(&other).unwrap();
    for (name, bytes) in [
        (
            "DB_CONFIG",
            fs::read(site.replicant.join("DB_CONFIG")).unwrap(),
        ),
        ("volumes.db", b"another server's data".to_vec()),
    ] {
        fs::write(other.join(name), bytes).unwrap();
    }
    set_config(
        &site,
        REPLICANT_HOME,
        &format!("home = {:?}", other.display().to_string()),
    );
    let before = snapshot(&other);
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(!out.contains("[done] replicant.prune"), "{out}");
    assert!(out.contains("when this run started"), "{out}");
    assert_same_tree(&snapshot(&other), &before, "the other folder");
    assert!(
        !other.parent().unwrap().join("tt-ha").exists(),
        "a refused resume made a run folder beside the other folder"
    );
    // A rollback refuses it too, and its dry run (and `status`) say so: they showed the other
    // folder's files moved into the attempt folder, which `finalize` purges.
    for args in [&["rollback", "--dry-run"][..], &["status"]] {
        let o = site.tt_ha(args);
        let out = text(&o);
        assert!(
            out.contains("CANNOT") && out.contains("when this run started"),
            "{args:?}: {out}"
        );
    }
    let o = site.tt_ha(&["rollback", "--yes"]);
    let out = text(&o);
    assert!(
        !o.status.success() && out.contains("nothing was changed"),
        "{out}"
    );
    assert_same_tree(&snapshot(&other), &before, "the other folder");
}

#[test]
fn a_node_named_dot_or_dot_dot_is_refused() {
    let site = FakeSite::new();
    for bad in ["..", ".", ".hidden"] {
        set_config(&site, "name = \"ttreplicant\"", &format!("name = {bad:?}"));
        let o = site.tt_ha(&["plan"]);
        let out = text(&o);
        assert!(!o.status.success(), "{bad}: {out}");
        assert!(out.contains("replicant[0].name"), "{bad}: {out}");
        set_config(&site, &format!("name = {bad:?}"), "name = \"ttreplicant\"");
    }
}

/// The master's `home = "…"` line of the site's config.
const MASTER_HOME: &str = "home = \"master/TapeTrack Framework Server/var/db\"";

/// A run or backup folder in a home, either node's, by any spelling, made or not: the
/// replicant's home is emptied into quarantine (a run's journal and lock with it, leaving a
/// run that cannot be rolled back), the master's is backed up and restored whole. Each is
/// refused by preflight and by `apply` before anything changes, naming the node and the key.
#[test]
fn a_run_or_backup_folder_in_a_home_is_refused_before_anything_changes() {
    let site = FakeSite::new();
    let link = site.dir.path().join("link-to-replicant-db");
    std::os::unix::fs::symlink(&site.replicant, &link).unwrap();
    let r = "replicant/TapeTrack Framework Server/var/db";
    let m = "master/TapeTrack Framework Server/var/db";
    let cases = [
        // (table's home line, the line added after it, what the refusal names)
        (
            MASTER_HOME,
            format!("run_dir = {r:?}"),
            "ttmaster's run folder",
        ),
        (
            MASTER_HOME,
            format!("run_dir = \"{r}/./\""),
            "ttmaster's run folder",
        ),
        (
            MASTER_HOME,
            format!("run_dir = \"{}/tt-ha\"", link.display()),
            "ttmaster's run folder",
        ),
        (
            MASTER_HOME,
            format!("run_dir = \"{m}/../db/tt-ha\""),
            "ttmaster's run folder",
        ),
        (
            REPLICANT_HOME,
            format!("run_dir = \"{r}/run\""),
            "ttreplicant's run folder",
        ),
        (
            REPLICANT_HOME,
            format!("run_dir = {m:?}"),
            "ttreplicant's run folder",
        ),
    ];
    let original = fs::read_to_string(&site.config).unwrap();
    let mut configs: Vec<(String, &str)> = cases
        .iter()
        .map(|(home, line, says)| {
            (
                original.replacen(home, &format!("{home}\n{line}"), 1),
                *says,
            )
        })
        .collect();
    for backup in [r.to_string(), format!("{r}//later"), m.to_string()] {
        configs.push((
            original.replacen(
                "backup_dir = \"backup\"",
                &format!("backup_dir = {backup:?}"),
                1,
            ),
            "ttmaster's backup folder",
        ));
    }
    for (config, says) in configs {
        fs::write(&site.config, &config).unwrap();
        let before = (snapshot(&site.master), snapshot(&site.replicant));
        let plan = site.tt_ha(&["plan"]);
        let out = text(&plan);
        assert_eq!(
            plan.status.code(),
            Some(1),
            "{says}: plan passed:\n{config}\n{out}"
        );
        assert!(
            out.contains("separate folders") && out.contains(says),
            "{says}: {out}"
        );
        let o = site.tt_ha(&["apply", "--yes"]);
        let out = text(&o);
        assert!(!o.status.success(), "{says}: apply went ahead:\n{out}");
        assert!(
            out.contains(says) && out.contains("nothing was changed"),
            "{out}"
        );
        assert!(
            site.up(true) && site.up(false),
            "{says}: a server was stopped"
        );
        assert_same_tree(&snapshot(&site.master), &before.0, says);
        assert_same_tree(&snapshot(&site.replicant), &before.1, says);
    }
}

/// Unmounts a bind mount when dropped, so a failing test leaves no mount behind.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A folder a bind mount shows has the identity of the folder it comes from, but the folders
/// above it are the mount point's: a master's home bind-mounted from a folder inside the
/// replicant's read as apart by identity. Placed by the mount table, it is inside it.
#[test]
fn a_home_bind_mounted_from_inside_the_other_home_is_refused() {
    let uid = std::process::Command::new("id").arg("-u").output().unwrap();
    if uid.stdout.trim_ascii() != b"0" {
        eprintln!(
            "SKIPPED a_home_bind_mounted_from_inside_the_other_home_is_refused: mounting needs root (CI runs as root)"
        );
        return;
    }
    let site = FakeSite::new();
    let inner = site.replicant.join("mhome");
    fs::create_dir(&inner).unwrap();
    for e in fs::read_dir(&site.master).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            fs::copy(e.path(), inner.join(e.file_name())).unwrap();
        }
    }
    let st = std::process::Command::new("mount")
        .arg("--bind")
        .arg(&inner)
        .arg(&site.master)
        .status();
    if !st.as_ref().is_ok_and(|s| s.success()) {
        eprintln!(
            "SKIPPED a_home_bind_mounted_from_inside_the_other_home_is_refused: `mount --bind` failed here ({st:?})"
        );
        return;
    }
    let _mounted = Mounted(site.master.clone());
    let before = snapshot(&site.replicant);
    let plan = site.tt_ha(&["plan"]);
    let out = text(&plan);
    assert_eq!(plan.status.code(), Some(1), "plan passed:\n{out}");
    assert!(
        out.contains("the master's home is inside the replicant's"),
        "{out}"
    );
    let o = site.tt_ha(&["apply", "--yes"]);
    let out = text(&o);
    assert!(!o.status.success(), "apply went ahead:\n{out}");
    assert!(out.contains("nothing was changed"), "{out}");
    assert_same_tree(&snapshot(&site.replicant), &before, "replicant home");
}

/// The master's databases and notes, as they are now.
fn master_data(site: &FakeSite) -> Vec<(String, Vec<u8>)> {
    ["customers.db", "media.db", "volumes.db", "notes.txt"]
        .iter()
        .map(|n| (n.to_string(), fs::read(site.master.join(n)).unwrap()))
        .collect()
}

/// A run's quarantine and journal are files an operator can change between `apply` and
/// `rollback`. A quarantine made a link to the master's home had the rollback move the
/// master's running databases into the replicant's home; a journal whose moves were edited to
/// name the master's home had it move a file into it. Every move, copy and removal on a node
/// is now confined as its agent confines it (between its home and its run folder only): both
/// are refused before any server is stopped (the dry run says so), naming the path, and the
/// master's files are untouched; the journal's prune moves must be the prune's. Put back as
/// they were, the rollback completes.
#[test]
fn a_quarantine_or_journal_leading_to_the_masters_home_never_moves_its_files() {
    for tamper in ["quarantine link", "journal"] {
        let site = FakeSite::new();
        fs::write(site.replicant.join("extra1"), "the replicant's own\n").unwrap();
        let o = site.tt_ha(&["apply", "--yes"]);
        assert!(o.status.success(), "{}", text(&o));
        let before = master_data(&site);
        let run = site.run_folder();
        let journal = run.join("journal.jsonl");
        let original_journal = fs::read(&journal).unwrap();
        let quarantine = site
            .replicant
            .parent()
            .unwrap()
            .join("tt-ha")
            .join(run.file_name().unwrap())
            .join("quarantine/ttreplicant");
        assert!(
            quarantine.join("extra1").exists(),
            "{}",
            quarantine.display()
        );
        let aside = quarantine.with_extension("real");
        match tamper {
            "quarantine link" => {
                fs::rename(&quarantine, &aside).unwrap();
                std::os::unix::fs::symlink(&site.master, &quarantine).unwrap();
            }
            _ => {
                let text = String::from_utf8(original_journal.clone()).unwrap();
                let from = format!("{}", site.replicant.join("extra1").display());
                let to = format!("{}", site.master.join("planted").display());
                assert!(text.contains(&from), "{text}");
                fs::write(&journal, text.replacen(&from, &to, 1)).unwrap();
            }
        }
        // The dry run says it, and the rollback refuses before it stops a server.
        let said = if tamper == "journal" {
            "journal records 1 move(s) of the prune that are not moves of ttreplicant's home"
        } else {
            "refuses move_batch"
        };
        let o = site.tt_ha(&["rollback", "--dry-run"]);
        let out = text(&o);
        assert!(
            out.contains("CANNOT") && out.contains(said),
            "{tamper}: {out}"
        );
        let o = site.tt_ha(&["rollback", "--yes"]);
        let out = text(&o);
        assert!(
            !o.status.success(),
            "{tamper}: the rollback went ahead:\n{out}"
        );
        assert!(
            out.contains("nothing was changed") && out.contains(said),
            "{tamper}: {out}"
        );
        assert!(
            site.up(true) && site.up(false),
            "{tamper}: a server was stopped: {out}"
        );
        assert_eq!(
            master_data(&site),
            before,
            "{tamper}: the master's files changed"
        );
        assert!(!site.master.join("planted").exists(), "{tamper}: {out}");
        assert!(!site.master.join("extra1").exists(), "{tamper}: {out}");
        // Put back as it was: the rollback completes, the replicant's own file back home.
        match tamper {
            "quarantine link" => {
                fs::remove_file(&quarantine).unwrap();
                fs::rename(&aside, &quarantine).unwrap();
            }
            _ => fs::write(&journal, &original_journal).unwrap(),
        }
        let o = site.tt_ha(&["rollback", "--yes"]);
        assert!(o.status.success(), "{tamper}: {}", text(&o));
        assert_eq!(
            fs::read(site.replicant.join("extra1")).unwrap(),
            b"the replicant's own\n"
        );
        assert_eq!(master_data(&site), before, "{tamper}");
    }
}

impl Mounted {
    /// Bind-mounts `what` at `at`; `None` (said, loudly) where this user may not mount.
    fn bind(what: &Path, at: &Path) -> Option<Mounted> {
        let ok = std::process::Command::new("mount")
            .arg("--bind")
            .arg(what)
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "SKIP (partly): cannot bind-mount here (not root?): the mount cases are not run"
            );
        }
        ok.then(|| Mounted(at.to_path_buf()))
    }
}

/// The master's home reached from inside the replicant's run folder by other means than a link
/// in it: a bind mount of it made over the quarantine, over the attempt folder or anywhere in
/// the quarantine, or the replicant's whole run folder made a link to the master's `var`.
/// Rollbacks moved the master's running databases out, wrote into its home and replaced its
/// DB_CONFIG, and a `finalize` emptied it. Each is refused before anything changes (a folder
/// mounted inside a run folder is no folder of the run's; a home inside a run folder is no
/// pair of folders apart), and the master's files are untouched.
#[test]
fn the_masters_home_mounted_or_linked_into_the_run_folder_is_never_acted_on() {
    for case in [
        "run folder link",
        "mount on quarantine",
        "mount in quarantine",
        "mount on attempt",
    ] {
        let site = FakeSite::new();
        let o = site.tt_ha(&["apply", "--yes"]);
        assert!(o.status.success(), "{}", text(&o));
        let before = master_data(&site);
        let var = |home: &Path| home.parent().unwrap().to_path_buf();
        let run = var(&site.replicant)
            .join("tt-ha")
            .join(site.run_folder().file_name().unwrap());
        let quarantine = run.join("quarantine/ttreplicant");
        let _mounted = match case {
            "run folder link" => {
                // The replicant's run folder moved into the master's `var`, and linked there.
                let (rv, mv) = (var(&site.replicant), var(&site.master));
                let id = run.file_name().unwrap();
                fs::rename(rv.join("tt-ha").join(id), mv.join(id)).unwrap();
                let lock = rv.join("tt-ha/tt-ha.lock");
                if lock.exists() {
                    fs::rename(&lock, mv.join("tt-ha.lock.replicant")).unwrap();
                }
                fs::rename(rv.join("tt-ha"), rv.join("tt-ha.was")).unwrap();
                std::os::unix::fs::symlink(&mv, rv.join("tt-ha")).unwrap();
                None
            }
            "mount on quarantine" => {
                fs::rename(&quarantine, quarantine.with_extension("real")).unwrap();
                fs::create_dir(&quarantine).unwrap();
                Some(Mounted::bind(&site.master, &quarantine))
            }
            "mount in quarantine" => {
                fs::create_dir(quarantine.join("extra")).unwrap();
                Some(Mounted::bind(&site.master, &quarantine.join("extra")))
            }
            _ => {
                let attempt = run.join("attempt/ttreplicant");
                fs::create_dir_all(&attempt).unwrap();
                Some(Mounted::bind(&site.master, &attempt))
            }
        };
        if matches!(_mounted, Some(None)) {
            continue;
        }
        let dry = text(&site.tt_ha(&["rollback", "--dry-run"]));
        for args in [&["rollback", "--yes"][..], &["finalize", "--yes"]] {
            let o = site.tt_ha(args);
            let out = text(&o);
            assert!(
                !o.status.success(),
                "{case}: {args:?} went ahead:\n{out}\n(dry run: {dry})"
            );
            // (A folder mounted in the quarantine is also an entry the journal does not name.)
            assert!(
                out.contains("mount point")
                    || out.contains("inside")
                    || out.contains("does not name (extra)"),
                "{case}: {args:?}: {out}"
            );
            assert_eq!(
                master_data(&site),
                before,
                "{case}: {args:?} changed the master's files"
            );
            assert!(site.up(true), "{case}: {args:?} stopped the master");
        }
        assert!(dry.contains("CANNOT"), "{case}: {dry}");
    }
}

/// A quarantined original made a second name of the master's database (a hard link): the
/// rollback moved it into the replicant's home, and both servers had one file. A file with
/// other names is refused before the rollback begins, naming it.
#[test]
fn a_quarantined_file_linked_to_the_masters_is_never_moved_into_the_replicants_home() {
    let site = FakeSite::new();
    let o = site.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "{}", text(&o));
    let quarantine = site
        .replicant
        .parent()
        .unwrap()
        .join("tt-ha")
        .join(site.run_folder().file_name().unwrap())
        .join("quarantine/ttreplicant");
    let q = quarantine.join("volumes.db");
    fs::rename(&q, quarantine.with_extension("volumes.db.real")).unwrap();
    let before = master_data(&site);
    // A second name of the master's file in the original's place, or inside a folder there.
    for how in ["hard link", "hard link in a folder"] {
        let _ = fs::remove_file(&q);
        let _ = fs::remove_dir_all(&q);
        match how {
            "hard link" => fs::hard_link(site.master.join("volumes.db"), &q).unwrap(),
            "hard link in a folder" => {
                fs::create_dir(&q).unwrap();
                fs::hard_link(site.master.join("volumes.db"), q.join("f")).unwrap();
            }
            _ => unreachable!(),
        }
        let o = site.tt_ha(&["rollback", "--yes"]);
        let out = text(&o);
        assert!(!o.status.success(), "{how}: {out}");
        assert!(
            out.contains("hard links") && out.contains("nothing was changed"),
            "{how}: {out}"
        );
        assert_eq!(master_data(&site), before, "{how}");
    }
    fs::remove_dir_all(&q).unwrap();
    fs::hard_link(site.master.join("volumes.db"), &q).unwrap();
    assert!(
        !site.replicant.join("volumes.db").exists() || {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(site.replicant.join("volumes.db"))
                .unwrap()
                .ino()
                != fs::metadata(site.master.join("volumes.db")).unwrap().ino()
        }
    );
    assert!(site.up(true) && site.up(false), "a server was stopped");
}
