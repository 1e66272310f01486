//! `tt-ha verify` end to end on real Berkeley DB: `tt-ha demo` sandboxes of ttfs-sim, `apply`,
//! then record-level compares of master and replicant — equal after the initial copy, no false
//! difference under write load, exactly the changes made while the replicant was cut off (by
//! field), equal again once it caught up, and the same through definition files on CSV exports,
//! sorted and shuffled. Every server is stopped when a test ends, pass or fail.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::{Sandbox, ask, text};

fn sim() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ttfs-sim"))
}

/// Every line of a many-line answer (`VOLUMES`, `STREAM`, `SCOPES`), up to `END N` or `ERR`.
fn ask_lines(port: u16, request: &str) -> Vec<String> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    writeln!(s.try_clone().unwrap(), "{request}").unwrap();
    let mut out = Vec::new();
    for line in BufReader::new(s).lines() {
        let line = line.unwrap();
        let last = line.starts_with("END ") || line.starts_with("ERR ");
        out.push(line);
        if last {
            break;
        }
    }
    out
}

fn verify_json(sb: &Sandbox, extra: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = vec!["verify", "--json"];
    args.extend_from_slice(extra);
    let o = sb.tt_ha(&args);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("verify --json is not JSON ({e}): {}", text(&o)));
    (o.status.code(), v, text(&o))
}

fn apply(sb: &Sandbox) {
    let o = sb.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "apply: {}", text(&o));
}

fn sim_run(args: &[&str], home: &Path) -> Output {
    Command::new(sim())
        .args(args)
        .arg("--home")
        .arg(home)
        .output()
        .unwrap()
}

#[test]
fn the_server_lists_a_scope_streams_in_scope_order_and_refuses_a_bad_scope() {
    let sb = Sandbox::new(2_000);
    let p = sb.master_port;
    let all = ask_lines(p, "STREAM");
    assert_eq!(all.last().unwrap(), "END 2000");
    let keys: Vec<(String, String)> = all[..2000]
        .iter()
        .map(|l| {
            let mut w = l.splitn(3, ' ');
            (w.next().unwrap().into(), w.next().unwrap().into())
        })
        .collect();
    assert!(keys.is_sorted(), "customer/media/volume order");
    let distinct: BTreeSet<&String> = keys.iter().map(|(s, _)| s).collect();
    assert!(distinct.len() > 1);
    let scopes = ask_lines(p, "SCOPES");
    assert_eq!(scopes.len() - 1, distinct.len());
    assert_eq!(
        scopes[..scopes.len() - 1].iter().collect::<BTreeSet<_>>(),
        distinct
    );

    let scope = &keys[1_000].0;
    let (customer, media) = scope.split_once('/').unwrap();
    let one = ask_lines(p, &format!("VOLUMES {scope}"));
    assert_eq!(one.last().unwrap(), &format!("END {}", one.len() - 1));
    assert!(one.len() > 1, "{one:?}");
    let vols: Vec<&str> = one[..one.len() - 1]
        .iter()
        .map(|l| {
            let mut w = l.splitn(3, ' ');
            assert_eq!(w.next(), Some(scope.as_str()), "{l}");
            let v = w.next().unwrap();
            let value = w.next().unwrap();
            assert!(
                value.contains(&format!("customer={customer} "))
                    && value.contains(&format!("media={media} ")),
                "{l}"
            );
            v
        })
        .collect();
    assert!(vols.is_sorted(), "volumes of a scope in order");
    let wanted: Vec<&str> = keys
        .iter()
        .filter(|(s, _)| s == scope)
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(vols, wanted, "the scope is exactly its volumes");
    let customer_wide = ask_lines(p, &format!("VOLUMES {customer}"));
    assert_eq!(
        customer_wide.len() - 1,
        keys.iter()
            .filter(|(s, _)| s.starts_with(&format!("{customer}/")))
            .count()
    );
    assert_eq!(ask_lines(p, "VOLUMES NOBODY/LTO-7"), ["END 0"]);
    for bad in ["VOLUMES", "VOLUMES a/b/c", "VOLUMES a b"] {
        let a = ask_lines(p, bad);
        assert!(
            a.len() == 1 && a[0].starts_with("ERR ") && a[0].contains("CUSTOMER/MEDIA"),
            "{bad}: {a:?}"
        );
    }
    // A removed volume leaves its scope too (the index is kept by Berkeley DB with each write).
    let gone = vols[0];
    assert_eq!(ask(p, &format!("DEL volume {gone}")), "OK");
    let after = ask_lines(p, &format!("VOLUMES {scope}"));
    assert_eq!(after.len(), one.len() - 1);
    assert!(!after.iter().any(|l| l.contains(&format!(" {gone} "))));
}

#[test]
fn three_hundred_thousand_volumes_compare_equal_after_apply_and_a_compare_stops_cleanly() {
    let sb = Sandbox::new(300_000);
    apply(&sb);
    let (code, v, all) = verify_json(&sb, &[]);
    assert_eq!(code, Some(0), "{all}");
    let s = &v["stats"];
    assert_eq!(v["result"], "equal", "{all}");
    assert_eq!(s["records_read"], 300_000);
    assert_eq!(s["equal"], 300_000);
    assert_eq!(
        s["cache_loads"], s["scopes"],
        "sorted input loads each scope once"
    );
    assert!(s["scopes"].as_u64().unwrap() > 1);
    assert_eq!(
        v["replication"]["running"],
        true,
        "{all}\n{}",
        sb.connection_lines()
    );

    // Interrupted: it stops at once, says so, and exits 2.
    let child = sb.spawn_tt_ha(&["verify"]);
    std::thread::sleep(Duration::from_millis(700));
    common::signal(child.id() as i32, libc::SIGINT);
    let t = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(20), "it stops promptly");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("INTERRUPTED"), "{}", text(&o));
}

/// Writes to the master at `port` on a thread until the returned flag is set: request `i` is
/// `request(i)`; an answer `accepted` takes counts in the returned counter (the writes made).
fn writer(
    port: u16,
    request: impl Fn(u64) -> String + Send + 'static,
    accepted: fn(&str) -> bool,
) -> (Arc<AtomicBool>, Arc<AtomicU64>, std::thread::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let handle = {
        let (stop, written) = (Arc::clone(&stop), Arc::clone(&written));
        std::thread::spawn(move || {
            let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                writeln!(w, "{}", request(i)).unwrap();
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if accepted(&line) {
                    written.fetch_add(1, Ordering::Relaxed);
                } else {
                    eprintln!("a write was refused: {line}");
                }
                i += 1;
            }
        })
    };
    (stop, written, handle)
}

#[test]
fn a_master_written_to_during_the_compare_shows_no_difference() {
    let sb = Sandbox::new(20_000);
    apply(&sb);
    // Changes spread over every scope, new Volumes and removals.
    let (stop, written, writer) = writer(
        sb.master_port,
        |i| {
            let v = (i * 7919) % 20_000;
            match i % 3 {
                0 => format!(
                    "PUT volume V{v:07} customer=C{:05} media=LTO-5 status=moved-{i} slot=1",
                    v * 50 / 20_000
                ),
                1 => format!("PUT volume W{i:07} customer=C00002 media=LTO-9 status=new slot=2"),
                _ => format!("DEL volume W{:07}", i - 1),
            }
        },
        |line| line.starts_with("OK") || line.starts_with("ERR not found"),
    );
    while written.load(Ordering::Relaxed) < 50 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = written.load(Ordering::Relaxed);
    let (code, v, all) = verify_json(&sb, &["--settle-secs", "60"]);
    let during = written.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    // Enough writes to spread over the compare's scopes; how many land in it depends on how
    // fast the machine compares (a quiet one made exactly 20 on 2026-11-23: `> 20` failed).
    assert!(
        during >= 10,
        "the master was hardly written to during the compare ({during} writes)"
    );
    assert_eq!(code, Some(0), "{all}");
    assert_eq!(v["result"], "equal", "{all}");
    assert_eq!(v["replication"]["running"], true, "{all}");
}

/// The differences `verify --json` reported, as (volume, kind, fields that differ).
fn reported(v: &Value) -> BTreeSet<(String, String, Vec<String>)> {
    v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let fields = d["fields"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .map(|x| x["field"].as_str().unwrap().to_lowercase())
                        .collect()
                })
                .unwrap_or_default();
            (
                d["volume"].as_str().unwrap().to_string(),
                d["kind"].as_str().unwrap().to_string(),
                fields,
            )
        })
        .collect()
}

fn export(port: u16, to: &Path) {
    let f = std::fs::File::create(to).unwrap();
    let o = Command::new(sim())
        .args(["export", "--client-port", &port.to_string()])
        .stdout(f)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(o.status.success(), "export: {}", text(&o));
}

/// A definition file like templates/verify-export.ttidef, reading `csv`.
fn definition(dir: &Path, name: &str, csv: &Path) -> PathBuf {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/verify-export.ttidef");
    let text = std::fs::read_to_string(template).unwrap();
    assert!(text.contains("\"master-volumes.csv\""));
    let path = dir.join(name);
    std::fs::write(
        &path,
        text.replace("master-volumes.csv", csv.to_str().unwrap()),
    )
    .unwrap();
    path
}

#[test]
fn a_cut_off_replicant_shows_exactly_the_changes_by_field_then_equal_once_caught_up() {
    let sb = Sandbox::new(20_000);
    apply(&sb);
    let (mp, rp) = (sb.master_port, sb.replicant_port);
    let rh = sb.home("replicant");
    let o = sim_run(&["service", "stop"], &rh);
    assert!(o.status.success(), "{}", text(&o));

    // Changed (a field), moved (another customer), added and removed, on the master alone.
    let mut expected: BTreeSet<(String, String, Vec<String>)> = BTreeSet::new();
    for i in [3u32, 777, 4_242, 9_001, 15_555] {
        let old = ask(mp, &format!("GET volume V{i:07}"));
        let new = old.trim_start_matches("OK ").replace("slot=", "slot=9");
        assert_eq!(ask(mp, &format!("PUT volume V{i:07} {new}")), "OK");
        expected.insert((format!("V{i:07}"), "differs".into(), vec!["slot".into()]));
    }
    for i in [100u32, 12_000] {
        let old = ask(mp, &format!("GET volume V{i:07}"));
        let new = old
            .trim_start_matches("OK ")
            .replace("customer=C000", "customer=X000");
        assert_eq!(ask(mp, &format!("PUT volume V{i:07} {new}")), "OK");
        expected.insert((
            format!("V{i:07}"),
            "differs".into(),
            vec!["customer".into()],
        ));
    }
    for i in 0..3 {
        let put = format!("PUT volume N{i:07} customer=C00007 media=LTO-8 status=new slot={i}");
        assert_eq!(ask(mp, &put), "OK");
        expected.insert((format!("N{i:07}"), "missing".into(), vec![]));
    }
    for i in [50u32, 51, 10_000, 19_999] {
        assert_eq!(ask(mp, &format!("DEL volume V{i:07}")), "OK");
        expected.insert((format!("V{i:07}"), "extra".into(), vec![]));
    }

    // The replicant's server serves its own copy, cut off from its master.
    let cut_off = common::KillOnDrop(
        Command::new(sim())
            .args([
                "serve",
                "--standalone",
                "--client-port",
                &rp.to_string(),
                "--home",
            ])
            .arg(&rh)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", rp)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the cut-off replicant never served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, v, all) = verify_json(&sb, &[]);
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(
        reported(&v),
        expected,
        "exactly the changes, by field: {all}"
    );
    assert_eq!(v["stats"]["differing"], 7);
    assert_eq!(v["stats"]["missing"], 3);
    assert_eq!(v["stats"]["extra"], 4);
    assert_eq!(v["stats"]["equal"], 20_000 - 7 - 4);
    assert_eq!(v["replication"]["running"], false, "{all}");
    // One customer: only its scopes; the Volume moved away from it is extra there.
    let (code, v, all) = verify_json(&sb, &["--scope", "C00000"]);
    assert_eq!(code, Some(1), "{all}");
    let in_c0: BTreeSet<(String, String, Vec<String>)> = [
        ("V0000003", "differs", vec!["slot".to_string()]),
        ("V0000050", "extra", vec![]),
        ("V0000051", "extra", vec![]),
        ("V0000100", "extra", vec![]),
    ]
    .into_iter()
    .map(|(v, k, f)| (v.to_string(), k.to_string(), f))
    .collect();
    assert_eq!(reported(&v), in_c0, "{all}");
    assert!(
        v["stats"]["records_read"].as_u64().unwrap() < 20_000 / 10,
        "{all}"
    );
    let line = sb.tt_ha(&["verify", "--show", "50"]);
    let shown = text(&line);
    assert!(shown.contains("replication is not running"), "{shown}");
    assert!(shown.contains("V0000003: slot 93 -> 3"), "{shown}");

    // The same through definition files on both servers' CSV exports.
    let dir = tempfile::tempdir().unwrap();
    let (mcsv, rcsv) = (dir.path().join("m.csv"), dir.path().join("r.csv"));
    export(mp, &mcsv);
    export(rp, &rcsv);
    let mdef = definition(dir.path(), "m.ttidef", &mcsv);
    let rdef = definition(dir.path(), "r.ttidef", &rcsv);
    let (code, v, all) = verify_json(
        &sb,
        &[
            "--source",
            mdef.to_str().unwrap(),
            "--against",
            rdef.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(reported(&v), expected, "{all}");
    assert_eq!(v["stats"]["cache_loads"], v["stats"]["scopes"], "{all}");
    assert_eq!(v["warnings"].as_array().unwrap().len(), 0, "{all}");

    // A shuffled source: the same answer, more cache loads than scopes, and the advice to sort.
    let csv = std::fs::read_to_string(&mcsv).unwrap();
    let mut lines: Vec<&str> = csv.lines().skip(1).collect();
    let n = lines.len();
    for i in 0..n {
        lines.swap(i, (i * 7_919 + 13) % n);
    }
    let shuffled = dir.path().join("shuffled.csv");
    std::fs::write(
        &shuffled,
        format!("volume,customer,media,status,slot\n{}\n", lines.join("\n")),
    )
    .unwrap();
    let sdef = definition(dir.path(), "s.ttidef", &shuffled);
    let (code, v, all) = verify_json(
        &sb,
        &[
            "--source",
            sdef.to_str().unwrap(),
            "--against",
            rdef.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1), "{all}");
    assert_eq!(reported(&v), expected, "{all}");
    let (loads, scopes) = (
        v["stats"]["cache_loads"].as_u64().unwrap(),
        v["stats"]["scopes"].as_u64().unwrap(),
    );
    assert!(loads > scopes, "{loads} loads for {scopes} scopes");
    let w = v["warnings"][0].as_str().unwrap();
    assert!(
        w.contains(&format!("{loads} cache loads for {scopes} scopes")) && w.contains("Sort"),
        "{w}"
    );

    // Back to replicating: it catches up, and the records are equal again.
    assert!(cut_off.terminate(), "the cut-off replicant stopped cleanly");
    let o = Command::new(sim())
        .args([
            "service",
            "start",
            "--client-port",
            &rp.to_string(),
            "--home",
        ])
        .arg(&rh)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let t = Instant::now();
    loop {
        let (code, v, all) = verify_json(&sb, &[]);
        if code == Some(0) {
            assert_eq!(v["stats"]["equal"], 20_000 - 4 + 3, "{all}");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "never equal again: {all}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A compare of a server with itself is always EQUAL and proves nothing: a replicant's
/// `client_port` that reaches the master (and a master's that reaches the replicant) is
/// refused, naming the node and what to check (exit 2), before anything is compared.
#[test]
fn one_server_on_both_sides_or_the_sides_swapped_is_refused() {
    let sb = Sandbox::new(2_000);
    apply(&sb);
    let (m, r) = (
        format!("client_port = {}", sb.master_port),
        format!("client_port = {}", sb.replicant_port),
    );
    let original = std::fs::read_to_string(&sb.config).unwrap();
    // The replicant's port reaches the master.
    sb.set(&r, &m);
    let o = sb.tt_ha(&["verify"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("answers as a master"), "{t}");
    assert!(
        t.contains("check the replicant's address and client_port"),
        "{t}"
    );
    assert!(!t.contains("EQUAL"), "{t}");
    // The master's port reaches the replicant.
    std::fs::write(&sb.config, &original).unwrap();
    sb.set(&m, &r);
    let o = sb.tt_ha(&["verify"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("answers as a replicant"), "{t}");
    // Put right, the same pair compares EQUAL.
    std::fs::write(&sb.config, &original).unwrap();
    let o = sb.tt_ha(&["verify"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A TCP relay on a port of its own to `127.0.0.1:to`: another route to one server.
fn relay(to: u16) -> u16 {
    switching_relay(vec![to], |_| 0)
}

/// Two servers that answer as the same role (both standalone, as before `apply` or after a
/// rollback) pass the role check; when the replicant's `client_port` reaches the master by
/// another route (here a relay; another of the master's addresses is the same case), the
/// server's `IDENTITY` tells: refused, exit 2, never a false EQUAL of the master with itself.
#[test]
fn one_server_reached_by_another_route_is_refused() {
    let sb = Sandbox::new(500);
    let through = relay(sb.master_port);
    let r = format!("client_port = {}", sb.replicant_port);
    sb.set(&r, &format!("client_port = {through}"));
    let o = sb.tt_ha(&["verify"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("are one server"), "{t}");
    assert!(t.contains("identity"), "{t}");
    assert!(!t.contains("EQUAL"), "{t}");
    // Each server's identity is its own, the same on every connection.
    let id = |port: u16| ask(port, "IDENTITY");
    assert_eq!(id(sb.master_port), id(through));
    assert_eq!(id(sb.master_port), id(sb.master_port));
    assert_ne!(id(sb.master_port), id(sb.replicant_port));
}

/// A TCP relay on a port of its own that sends its `k`th connection (from 0) to
/// `127.0.0.1:targets[pick(k)]`: an address that reaches another server per connection (a
/// switching relay or balancer, a round-robin name).
fn switching_relay(targets: Vec<u16>, pick: fn(usize) -> usize) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (k, client) in listener.incoming().flatten().enumerate() {
            let to = targets[pick(k) % targets.len()];
            let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let pipe = |mut a: TcpStream, mut b: TcpStream| {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(std::net::Shutdown::Write);
                });
            };
            pipe(client, s2);
            pipe(server, c2);
        }
    });
    port
}

/// `verify` opens several connections to each side; an address that reaches the replicant on
/// some and the master on others must never make a compare of the master with itself. Every
/// pattern of switching (after the first connection, after the first two, alternating, the
/// master first) is refused: exit 2, naming the side, never EQUAL. The two servers hold
/// different Volumes, so a compare that read the master twice would say EQUAL falsely.
#[test]
fn an_address_that_reaches_another_server_per_connection_is_refused() {
    let sb = Sandbox::new(500);
    // The replicant's side differs from the master's: a real compare finds differences.
    assert_eq!(
        ask(
            sb.replicant_port,
            "PUT volume ZZ-SWITCH customer=C00001 media=LTO-5 status=only-here"
        ),
        "OK"
    );
    type Pick = fn(usize) -> usize;
    let patterns: [(&str, Pick); 4] = [
        ("after the first", |k| usize::from(k >= 1)),
        ("after the first two", |k| usize::from(k >= 2)),
        ("alternating", |k| k % 2),
        ("the master first", |k| usize::from(k == 0)),
    ];
    let r = format!("client_port = {}", sb.replicant_port);
    let original = std::fs::read_to_string(&sb.config).unwrap();
    for (name, pick) in patterns {
        // Target 0 the replicant, 1 the master.
        let through = switching_relay(vec![sb.replicant_port, sb.master_port], pick);
        std::fs::write(&sb.config, &original).unwrap();
        sb.set(&r, &format!("client_port = {through}"));
        let o = sb.tt_ha(&["verify"]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {t}");
        assert!(!t.contains("EQUAL"), "{name}: {t}");
        assert!(
            t.contains("answered as another server on a later connection")
                || t.contains("are one server"),
            "{name}: {t}"
        );
    }
    // The replicant's own port: the difference, never refused.
    std::fs::write(&sb.config, &original).unwrap();
    let o = sb.tt_ha(&["verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// Volumes moved between scopes while the compare reads (a customer changed): each may be read
/// equal where it was and seen again where it went. The counts still add up: never more
/// Volumes called equal than the master's stream read.
#[test]
fn volumes_moved_between_scopes_during_the_compare_are_not_counted_twice() {
    let sb = Sandbox::new(20_000);
    apply(&sb);
    // An existing Volume into another customer's scope, back and forth, and every fourth
    // write deletes one (moved back in later). A write may lose to the compare's read
    // cursors (the server says ERR): only the writes made count.
    let (stop, written, writer) = writer(
        sb.master_port,
        |i| {
            let v = (i * 7919) % 20_000;
            if i % 4 == 3 {
                return format!("DEL volume V{v:07}");
            }
            let customer = (v * 50 / 20_000 + 1 + i % 7) % 50;
            format!(
                "PUT volume V{v:07} customer=C{customer:05} media=LTO-5 status=moved-{i} slot=1"
            )
        },
        |line| line.starts_with("OK"),
    );
    while written.load(Ordering::Relaxed) < 50 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = written.load(Ordering::Relaxed);
    let (code, v, all) = verify_json(&sb, &["--settle-secs", "60"]);
    let during = written.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(during > 5, "Volumes moved during the compare ({during})");
    let n = |k: &str| {
        v["stats"][k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: {all}"))
    };
    assert!(n("equal") <= n("records_read"), "{all}");
    assert!(code == Some(0) || code == Some(1), "{all}");
    // Every record read is accounted for, exactly: equal, differing, missing, repeated, or
    // gone from where it was read by the re-read (the adversary saw EQUAL with 7,200 read and
    // 7,169 equal, the rest nowhere); differences only the re-read found count on their own.
    assert_eq!(
        n("records_read") + n("found_on_reread"),
        n("equal") + n("differing") + n("missing") + n("repeated") + n("gone"),
        "{all}"
    );
    if n("gone") > 0 {
        assert!(
            all.contains("moved away or been deleted on the master"),
            "{all}"
        );
    }
}
