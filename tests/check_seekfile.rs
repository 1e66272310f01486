//! `tt-ha check` keeps a seek file, so a repeated check reads only what was appended (issue #11
//! §2), and still answers exactly what a read of the whole files answers: for every pair of
//! real message files in `tests/fixtures/bdb/`, appended in random chunks (cut anywhere, in the
//! middle of a line or of a character, with awkward lines mixed in), the state after each chunk
//! equals a whole read, and `check`'s answer equals a fresh check's. A replaced, truncated or
//! rewritten file is read afresh; a corrupt, foreign or other-version seek file is ignored and
//! rewritten; an unwritable one leaves the answer unchanged and is said; concurrent checks never
//! leave a broken seek file.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use tt_ha::monitor::{classify_file, seekfile};

const MSG: &str = "$DB_Msg.txt";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb")
}

/// Every run with both a master and a replicant file: (run, master bytes, replicant bytes).
fn pairs() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut runs: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            Some(name.strip_suffix("-master.txt")?.to_string())
        })
        .collect();
    runs.sort();
    let out: Vec<_> = runs
        .into_iter()
        .filter_map(|run| {
            let m = std::fs::read(fixtures().join(format!("{run}-master.txt"))).ok()?;
            let r = std::fs::read(fixtures().join(format!("{run}-replicant.txt"))).ok()?;
            Some((run, m, r))
        })
        .collect();
    assert!(out.len() >= 14, "fixture pairs: {}", out.len());
    out
}

/// Lines that test the reader's edges: two messages on one line, CRLF, a Windows error text
/// held for its continuation lines, invalid UTF-8, a multibyte character after a BDB code, a
/// line longer than the 64 KiB line cap.
fn awkward() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"[1795321836:1][1/2] CLIENT: Start-up is done [1][28][1795321836:2][1/2] CLIENT: EOF on connection to site 10.0.0.1:5100\r\n");
    v.extend_from_slice(b"[1795321836:3][1/2] CLIENT: `No such file or directory' (2) on connection to site\n10.0.0.1:5100\n");
    v.extend_from_slice(b"[1795321836:3][1/2] CLIENT: `BDB1234 held for its continuation\n");
    v.extend_from_slice(b"the continuation\r\n");
    v.extend_from_slice(
        "[1795321836:4][1/2] CLIENT: BDB1234\u{e9}\u{1f600} after a code\n".as_bytes(),
    );
    v.extend_from_slice(b"[1795321836:4][1/2] CLIENT: bad \xff\xfe bytes\n");
    v.extend_from_slice(b"[1795321836:5][1/2] CLIENT: long ");
    v.extend(std::iter::repeat_n(b'x', 70_000));
    v.push(b'\n');
    v
}

/// A small deterministic generator (the test must be reproducible without a seed file).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// Cut points of `len` bytes into `chunks` random pieces (ends with `len`).
fn cuts(rng: &mut Lcg, len: usize, chunks: usize) -> Vec<usize> {
    let mut c: Vec<usize> = (1..chunks).map(|_| rng.below(len)).collect();
    c.push(len);
    c.sort();
    c
}

/// The site (`host`, port) a message file says is its own (`EID 0 is assigned for site …`).
fn own_port(bytes: &[u8], fallback: u16) -> u16 {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .find_map(|l| l.split("EID 0 is assigned for site ").nth(1))
        .and_then(|s| s.trim().rsplit(':').next()?.parse().ok())
        .unwrap_or(fallback)
}

/// A site with two homes and a tt-ha.toml naming 127.0.0.1 and the ports the files show.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new(mp: u16, rp: u16) -> Site {
        Site {
            dir: common::message_site(mp, rp, b"", b""),
        }
    }

    fn file(&self, node: &str) -> PathBuf {
        self.dir.path().join(node).join("var/db").join(MSG)
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("tt-ha.toml")
    }

    /// The default seek file, beside tt-ha.toml.
    fn seek(&self) -> PathBuf {
        self.dir.path().join("tt-ha.check-state.json")
    }

    fn append(&self, node: &str, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.file(node))
            .unwrap();
        f.write_all(bytes).unwrap();
    }

    /// `tt-ha check` with extra arguments: (stdout lines, exit code).
    fn check(&self, extra: &[&str]) -> (Vec<String>, i32) {
        let o = common::tt_ha()
            .args(["check", "--stale", "1000000000000", "--config"])
            .arg(self.config())
            .args(extra)
            .output()
            .unwrap();
        assert!(o.stderr.is_empty(), "{}", common::text(&o));
        (
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect(),
            o.status.code().unwrap_or(-1),
        )
    }

    /// A check that cannot use any earlier seek file: the whole-read answer.
    fn fresh_check(&self) -> (Vec<String>, i32) {
        let fresh = self.dir.path().join(format!(
            "fresh-{}.json",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let out = self.check(&["--state", fresh.to_str().unwrap()]);
        std::fs::remove_file(&fresh).unwrap();
        out
    }

    /// How far the seek file says each node was read: (master, replicant).
    fn offsets(&self) -> (u64, u64) {
        let loaded = seekfile::load(&self.seek());
        assert_eq!(loaded.ignored, None);
        let at = |role: &str| {
            loaded
                .nodes
                .iter()
                .find(|n| n.role == role)
                .unwrap_or_else(|| panic!("no {role} in the seek file"))
                .progress
                .consumed
        };
        (at("master"), at("replicant"))
    }
}

/// Bytes up to and including the last newline of `b`: what a check can have read.
fn whole_lines(b: &[u8]) -> u64 {
    b.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1) as u64
}

/// The library: for every fixture pair, appended in random chunks (cut anywhere), the state
/// read on from the saved seek file (written and read back as JSON) after each chunk is exactly
/// the state a whole read of the file gives, and each read began where the previous one ended.
#[test]
fn reading_on_from_the_seek_file_equals_a_whole_read_for_every_fixture_pair() {
    let mut rng = Lcg(0x5eed_f11e);
    let dir = tempfile::tempdir().unwrap();
    let seek = dir.path().join("seek.json");
    for (run, m, r) in pairs() {
        for (role, mut bytes) in [("master", m), ("replicant", r)] {
            // The awkward lines in the middle and at the end.
            let mid = bytes.len() / 2;
            let mid = mid + bytes[mid..].iter().position(|&c| c == b'\n').unwrap_or(0) + 1;
            let mid = mid.min(bytes.len());
            bytes.splice(mid..mid, awkward());
            bytes.extend(awkward());
            let path = dir.path().join(format!("{run}-{role}"));
            std::fs::write(&path, b"").unwrap();
            let _ = std::fs::remove_file(&seek);
            let mut written = 0;
            let mut expected_from = 0;
            for cut in cuts(&mut rng, bytes.len(), 12) {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                f.write_all(&bytes[written..cut]).unwrap();
                drop(f);
                written = cut;
                let loaded = seekfile::load(&seek);
                assert_eq!(loaded.ignored, None, "{run} {role}");
                let (saved, outcome) = seekfile::read_node(&loaded.nodes, role, &path, MSG)
                    .unwrap_or_else(|e| panic!("{run} {role}: {e}"));
                assert_eq!(outcome.afresh, None, "{run} {role} at {cut}");
                assert_eq!(outcome.from, expected_from, "{run} {role} at {cut}");
                assert_eq!(
                    outcome.to,
                    whole_lines(&bytes[..cut]),
                    "{run} {role} at {cut}"
                );
                expected_from = outcome.to;
                let whole = classify_file(&path, Some(role), MSG).unwrap();
                assert_eq!(
                    format!("{:?}", saved.state(MSG)),
                    format!("{whole:?}"),
                    "{run} {role}: cut at {cut} of {}",
                    bytes.len()
                );
                seekfile::save(&seek, &[saved]).unwrap();
            }
        }
    }
}

/// The command: for every fixture pair, appended in random chunks to both files with a check
/// after each, every check answers exactly what a fresh check (whole read) answers, and the
/// seek file then says both files were read to their last whole line.
#[test]
fn a_repeated_check_answers_as_a_whole_read_for_every_fixture_pair() {
    let mut rng = Lcg(0x0c4e_c4ed);
    for (run, m, r) in pairs() {
        let site = Site::new(own_port(&m, 5100), own_port(&r, 5101));
        let (mc, rc) = (cuts(&mut rng, m.len(), 4), cuts(&mut rng, r.len(), 4));
        let (mut mw, mut rw) = (0, 0);
        for (a, b) in mc.into_iter().zip(rc) {
            site.append("master", &m[mw..a]);
            site.append("replicant", &r[rw..b]);
            (mw, rw) = (a, b);
            let seen = site.check(&[]);
            assert_eq!(seen, site.fresh_check(), "{run} at {a}/{b}");
            assert_eq!(
                site.offsets(),
                (whole_lines(&m[..a]), whole_lines(&r[..b])),
                "{run}"
            );
        }
    }
}

/// Bounded: a second check reads only what was appended (the seek file's offsets before and
/// after, and the library's own account of where it began).
#[test]
fn a_second_check_reads_only_what_was_appended() {
    let m = std::fs::read(fixtures().join("5.3-a-master.txt")).unwrap();
    let r = std::fs::read(fixtures().join("5.3-a-replicant.txt")).unwrap();
    let site = Site::new(own_port(&m, 5100), own_port(&r, 5101));
    let (mh, rh) = (m.len() / 2, r.len() / 2);
    site.append("master", &m[..mh]);
    site.append("replicant", &r[..rh]);
    site.check(&[]);
    let before = site.offsets();
    assert_eq!(before, (whole_lines(&m[..mh]), whole_lines(&r[..rh])));
    // Nothing appended: nothing read.
    let loaded = seekfile::load(&site.seek());
    let (_, o) =
        seekfile::read_node(&loaded.nodes, "replicant", &site.file("replicant"), MSG).unwrap();
    assert_eq!((o.from, o.to, o.afresh), (before.1, before.1, None));
    site.append("master", &m[mh..]);
    site.append("replicant", &r[rh..]);
    let loaded = seekfile::load(&site.seek());
    let (_, o) =
        seekfile::read_node(&loaded.nodes, "replicant", &site.file("replicant"), MSG).unwrap();
    assert_eq!((o.from, o.to), (before.1, r.len() as u64));
    assert_eq!(site.check(&[]), site.fresh_check());
    assert_eq!(site.offsets(), (m.len() as u64, r.len() as u64));
}

/// A replaced file (another inode), a truncated one, and one rewritten in place to a greater
/// length (the same inode, longer than what was read) are read afresh, and the answer is the
/// whole read's.
#[test]
fn replaced_truncated_or_rewritten_files_are_read_afresh() {
    let m = std::fs::read(fixtures().join("6.1-a-master.txt")).unwrap();
    let r = std::fs::read(fixtures().join("6.1-a-replicant.txt")).unwrap();
    let other = std::fs::read(fixtures().join("5.3-c-replicant.txt")).unwrap();
    let site = Site::new(own_port(&m, 5100), own_port(&r, 5101));
    site.append("master", &m);
    site.append("replicant", &r);
    assert_eq!(site.check(&[]), site.fresh_check());
    let afresh = |why: &str| {
        let loaded = seekfile::load(&site.seek());
        let (_, o) =
            seekfile::read_node(&loaded.nodes, "replicant", &site.file("replicant"), MSG).unwrap();
        assert_eq!(o.from, 0, "{why}");
        assert!(
            o.afresh.as_deref().is_some_and(|a| a.contains(why)),
            "{why}: {o:?}"
        );
    };
    // Replaced: a new file renamed over the old one (as a rotation does), longer than before.
    let tmp = site.file("replicant").with_extension("new");
    std::fs::write(&tmp, [&r[..], &other[..]].concat()).unwrap();
    std::fs::rename(&tmp, site.file("replicant")).unwrap();
    afresh("replaced");
    assert_eq!(site.check(&[]), site.fresh_check());
    // Truncated: the same file, shorter than what was read.
    std::fs::write(site.file("replicant"), &other[..other.len() / 3]).unwrap();
    afresh("truncated");
    assert_eq!(site.check(&[]), site.fresh_check());
    assert_eq!(site.offsets().1, whole_lines(&other[..other.len() / 3]));
    // Rewritten in place, longer than before: the bytes before the offset changed.
    std::fs::write(site.file("replicant"), [&r[..], &other[..]].concat()).unwrap();
    afresh("rewritten");
    let (lines, _) = site.check(&[]);
    assert_eq!((lines.clone(), 0), (site.fresh_check().0, 0));
    assert_eq!(site.offsets().1, (r.len() + other.len()) as u64);
}

/// A seek file that is corrupt, empty, foreign, of another version, or not a file at all is
/// ignored (said on the second line), never trusted and never a panic; the answer is the whole
/// read's, and it is rewritten so the next check reads on.
#[test]
fn a_corrupt_foreign_or_other_version_seek_file_is_ignored_and_rewritten() {
    let m = std::fs::read(fixtures().join("6.2-a-master.txt")).unwrap();
    let r = std::fs::read(fixtures().join("6.2-a-replicant.txt")).unwrap();
    let site = Site::new(own_port(&m, 5100), own_port(&r, 5101));
    site.append("master", &m);
    site.append("replicant", &r);
    let fresh = site.fresh_check();
    site.check(&[]);
    let good = std::fs::read(site.seek()).unwrap();
    let good_text = String::from_utf8(good.clone()).unwrap();
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\xff\xfe not json \x00".to_vec()),
        ("empty", Vec::new()),
        ("cut short", good[..good.len() / 2].to_vec()),
        (
            "foreign",
            br#"{"kind":"logtail","version":1,"nodes":[]}"#.to_vec(),
        ),
        (
            "other version",
            good_text
                .replacen("\"version\":1", "\"version\":99", 1)
                .into_bytes(),
        ),
        (
            // A well-formed seek file whose offsets are past the files' ends.
            "offset beyond the end",
            {
                let beyond = good_text
                    .replace(
                        &format!("\"consumed\":{}", r.len()),
                        "\"consumed\":99999999999",
                    )
                    .replace(
                        &format!("\"consumed\":{}", m.len()),
                        "\"consumed\":99999999999",
                    );
                assert_ne!(beyond, good_text);
                beyond.into_bytes()
            },
        ),
        ("json of another shape", b"[1,2,3]".to_vec()),
        (
            // A good seek file of another site's message files (copied from it).
            "of other files",
            {
                let here = site.dir.path().to_str().unwrap();
                let other = good_text.replace(here, "/srv/another-site");
                assert_ne!(other, good_text);
                other.into_bytes()
            },
        ),
    ];
    for (what, bytes) in bad {
        std::fs::write(site.seek(), &bytes).unwrap();
        let (lines, code) = site.check(&[]);
        assert_eq!(
            (lines[0].clone(), code),
            (fresh.0[0].clone(), fresh.1),
            "{what}"
        );
        if what != "offset beyond the end" {
            assert!(
                lines.len() == 2
                    && lines[1].contains("was not used")
                    && lines[1].contains("rewritten"),
                "{what}: {lines:?}"
            );
        } else {
            assert_eq!(lines.len(), 1, "{what}: {lines:?}");
        }
        assert_eq!(site.offsets(), (m.len() as u64, r.len() as u64), "{what}");
        assert_eq!(
            site.check(&[]),
            fresh,
            "{what}: the rewritten seek file is read on"
        );
    }
    // A folder where the seek file should be: the check still answers, and says it.
    std::fs::remove_file(site.seek()).unwrap();
    std::fs::create_dir(site.seek()).unwrap();
    let (lines, code) = site.check(&[]);
    assert_eq!((lines[0].clone(), code), (fresh.0[0].clone(), fresh.1));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cannot write the seek file")),
        "{lines:?}"
    );
}

/// Sets every `key` in `v`, at any depth, to `to`.
fn set_all(v: &mut serde_json::Value, key: &str, to: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(o) => o
            .iter_mut()
            .map(|(k, x)| {
                if k == key {
                    *x = to.clone();
                    1
                } else {
                    set_all(x, key, to)
                }
            })
            .sum(),
        serde_json::Value::Array(a) => a.iter_mut().map(|x| set_all(x, key, to)).sum(),
        _ => 0,
    }
}

/// A well-formed seek file whose counts no read can give (more lines than bytes, more
/// messages, errors or restarts than lines, up to the largest number): a check that read on
/// from it panicked adding one more line (`attempt to add with overflow`) and went on
/// panicking at every check, with nothing on stdout for Nagios. It is now not used, said so,
/// and rewritten; the answer is a whole read's, with lines appended after it was written.
#[test]
fn a_seek_file_with_counts_no_read_can_give_is_ignored_and_rewritten() {
    let m = std::fs::read(fixtures().join("6.2-a-master.txt")).unwrap();
    let r = std::fs::read(fixtures().join("6.2-a-replicant.txt")).unwrap();
    let (half_m, half_r) = (&m[..m.len() / 2], &r[..r.len() / 2]);
    let (half_m, half_r) = (
        &half_m[..whole_lines(half_m) as usize],
        &half_r[..whole_lines(half_r) as usize],
    );
    for (key, to) in [
        ("line_no", serde_json::json!(u64::MAX)),
        ("line_no", serde_json::json!(r.len())),
        ("messages", serde_json::json!(u64::MAX)),
        ("errors_total", serde_json::json!(u64::MAX)),
        ("restarts", serde_json::json!(u64::MAX)),
    ] {
        let site = Site::new(own_port(&m, 5100), own_port(&r, 5101));
        site.append("master", half_m);
        site.append("replicant", half_r);
        site.check(&[]);
        let mut seek: serde_json::Value =
            serde_json::from_slice(&std::fs::read(site.seek()).unwrap()).unwrap();
        assert!(set_all(&mut seek, key, &to) >= 2, "{key} not in {seek}");
        std::fs::write(site.seek(), serde_json::to_vec(&seek).unwrap()).unwrap();
        site.append("master", &m[half_m.len()..]);
        site.append("replicant", &r[half_r.len()..]);
        let fresh = site.fresh_check();
        let (lines, code) = site.check(&[]);
        assert_eq!(
            (lines[0].clone(), code),
            (fresh.0[0].clone(), fresh.1),
            "{key}"
        );
        assert!(
            lines.len() == 2
                && lines[1].contains("was not used")
                && lines[1].contains(key_words(key)),
            "{key}: {lines:?}"
        );
        assert_eq!(
            site.check(&[]),
            fresh,
            "{key}: the rewritten seek file is read on"
        );
    }
}

/// How [`tt_ha::monitor::read::Progress::implausible`] names a count.
fn key_words(key: &str) -> &'static str {
    match key {
        "line_no" => "lines in",
        "messages" => "messages in",
        "errors_total" => "errors in",
        _ => "restarts in",
    }
}

/// A seek file that cannot be written (its folder does not exist or is not writable): the check
/// answers exactly as a whole read, and says once how to give it one.
#[test]
fn an_unwritable_seek_file_leaves_the_answer_and_says_so() {
    let m = std::fs::read(fixtures().join("5.3-b-master.txt")).unwrap();
    let r = std::fs::read(fixtures().join("5.3-b-replicant.txt")).unwrap();
    let site = Site::new(own_port(&m, 5100), own_port(&r, 5101));
    site.append("master", &m);
    site.append("replicant", &r);
    let fresh = site.fresh_check();
    let missing = site.dir.path().join("no such folder/state.json");
    let (lines, code) = site.check(&["--state", missing.to_str().unwrap()]);
    assert_eq!((lines[0].clone(), code), (fresh.0[0].clone(), fresh.1));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].contains("cannot write the seek file") && lines[1].contains("--state"),
        "{lines:?}"
    );
}

/// Checks run at once (Nagios may overlap them) never leave a seek file another check cannot
/// use: each replaces it whole.
#[test]
fn concurrent_checks_never_corrupt_the_seek_file() {
    let m = std::fs::read(fixtures().join("5.3-a-master.txt")).unwrap();
    let r = std::fs::read(fixtures().join("5.3-a-replicant.txt")).unwrap();
    let site = Site::new(own_port(&m, 5100), own_port(&r, 5101));
    let fresh_all = {
        site.append("master", &m);
        site.append("replicant", &r);
        let f = site.fresh_check();
        std::fs::write(site.file("master"), b"").unwrap();
        std::fs::write(site.file("replicant"), b"").unwrap();
        f
    };
    let bin = assert_cmd::cargo::cargo_bin("tt-ha");
    let steps = 4;
    for i in 1..=steps {
        site.append("master", &m[m.len() * (i - 1) / steps..m.len() * i / steps]);
        site.append(
            "replicant",
            &r[r.len() * (i - 1) / steps..r.len() * i / steps],
        );
        let children: Vec<_> = (0..6)
            .map(|_| {
                std::process::Command::new(&bin)
                    .args(["check", "--stale", "1000000000000", "--config"])
                    .arg(site.config())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(
                !text.contains("was not used") && !text.contains("cannot write"),
                "{text}"
            );
            assert!(
                o.stderr.is_empty(),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        assert_eq!(seekfile::load(&site.seek()).ignored, None);
    }
    assert_eq!(site.check(&[]), fresh_all);
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(site.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `check` with arguments it cannot use answers as a monitoring plugin: UNKNOWN (3), with a
/// first line saying what is wrong. clap's exit 2 read as CRITICAL, and a warning threshold
/// above the critical one, a negative lag or a stall of no time were taken as given. Other
/// commands keep clap's exit 2; `--help` stays 0.
#[test]
fn a_check_given_arguments_it_cannot_use_answers_unknown() {
    let site = Site::new(5100, 5101);
    let run = |args: &[&str]| {
        let o = common::tt_ha()
            .arg("--config")
            .arg(site.config())
            .args(args)
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            o.status.code(),
        )
    };
    for args in [
        &["check", "--bogus"][..],
        &["check", "--stale", "-1"],
        &["check", "--stale", "0"],
        &["check", "--stale", "nan"],
        &["check", "--crit-lag", "ten"],
        &["check", "--warn-lag", "100", "--crit-lag", "10"],
        &["check", "--warn-lag=-5"],
        &["check", "extra"],
    ] {
        let (out, code) = run(args);
        assert_eq!(code, Some(3), "{args:?}: {out}");
        assert!(out.starts_with("TT-HA UNKNOWN - "), "{args:?}: {out}");
    }
    assert_eq!(run(&["check", "--help"]).1, Some(0));
    assert_eq!(run(&["plan", "--bogus"]).1, Some(2));
}

/// `text` with every `[SECONDS:` stamp moved so the newest is `newest`.
fn restamped(text: &[u8], newest: u64) -> Vec<u8> {
    let re = regex::bytes::Regex::new(r"(?m)^\[(\d{9,10}):").unwrap();
    let max = re
        .captures_iter(text)
        .map(|c| std::str::from_utf8(&c[1]).unwrap().parse::<u64>().unwrap())
        .max()
        .unwrap();
    re.replace_all(text, |c: &regex::bytes::Captures| {
        let t: u64 = std::str::from_utf8(&c[1]).unwrap().parse().unwrap();
        format!("[{}:", t + newest - max).into_bytes()
    })
    .into_owned()
}

/// A node whose messages are stamped an hour after its file was last written (its stamps are
/// of a clock an hour ahead): every stall read as not yet begun, and `check` said OK. Now
/// UNKNOWN, naming the node and its stamps (a worse answer stands, the doubt said after it);
/// the same pair stamped in the past raises no doubt.
#[test]
fn stamps_later_than_their_file_was_written_are_doubted_never_trusted() {
    // The pair while it replicated: each file up to its server's stop.
    let running = |name: &str| {
        let b = std::fs::read(fixtures().join(name)).unwrap();
        let stop = regex::bytes::Regex::new(r"(?m)^.*Stopping repmgr threads")
            .unwrap()
            .find(&b)
            .unwrap()
            .start();
        b[..stop].to_vec()
    };
    let (m, r) = (running("6.2-a-master.txt"), running("6.2-a-replicant.txt"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let plain = Site::new(own_port(&m, 5100), own_port(&r, 5101));
    plain.append("master", &m);
    plain.append("replicant", &r);
    // (Without the servers' processes this rig's pair is `connecting`: UNKNOWN already, so the
    // doubt is told by its words.)
    let (lines, _) = plain.check(&[]);
    assert!(!lines.concat().contains("stamped"), "{lines:?}");
    for (node, ahead) in [("master", 3600), ("replicant", 3600), ("master", 120)] {
        let site = Site::new(own_port(&m, 5100), own_port(&r, 5101));
        let (mm, rr) = match node {
            "master" => (restamped(&m, now + ahead), r.clone()),
            _ => (m.clone(), restamped(&r, now + ahead)),
        };
        site.append("master", &mm);
        site.append("replicant", &rr);
        let (lines, code) = site.check(&[]);
        assert_eq!(code, 3, "{node} {ahead}: {lines:?}");
        let all = lines.concat();
        assert!(
            lines[0].starts_with("TT-HA UNKNOWN - ")
                && all.contains(&format!("the {node}'s newest message is stamped"))
                && all.contains("NTP"),
            "{node} {ahead}: {lines:?}"
        );
    }
}
