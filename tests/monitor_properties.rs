//! Property tests of the monitor on untrusted bytes: arbitrary byte strings and message-like
//! lines (real message bodies from `tests/fixtures/bdb/` with multibyte characters, invalid
//! bytes and huge numbers spliced in anywhere) fed to the splitter, the classifier, the node
//! state, the verdicts and the whole-file reader never panic; `classify --json` stays valid
//! JSON; the initial copy's percent never goes back and never says 100 before start-up is done.

use proptest::prelude::*;
use std::path::Path;
use std::sync::OnceLock;
use tt_ha::monitor::{self, NodeState, classify::classify, parse::Splitter};

/// Distinct message bodies of the real runs (the text after the prefix).
fn real_bodies() -> &'static Vec<String> {
    static B: OnceLock<Vec<String>> = OnceLock::new();
    B.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bdb");
        let mut set = std::collections::BTreeSet::new();
        for name in [
            "5.3-a-replicant.txt",
            "5.3-a-master.txt",
            "5.3-d-replicant.filtered.txt",
            "6.2-a-replicant.txt",
            "6.2-c-replicant.txt",
            "6.2-fkill-replicant.txt",
            "6.1-cretry-replicant.txt",
            "5.3-f-replicant.txt",
        ] {
            let text =
                String::from_utf8_lossy(&std::fs::read(dir.join(name)).unwrap()).into_owned();
            for m in monitor::parse::messages(&text) {
                // Numbers vary per line; keep the shapes, not every LSN.
                let shape: String = m.body.chars().filter(|c| !c.is_ascii_digit()).collect();
                if set.len() < 4000 {
                    set.insert((shape, m.body));
                }
            }
        }
        let mut v: Vec<String> = set.into_iter().map(|(_, b)| b).collect();
        v.dedup();
        v
    })
}

/// Bytes that break naive slicing and number parsing.
fn splice() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just("€".as_bytes().to_vec()),
        Just("é".as_bytes().to_vec()),
        Just("𝄞".as_bytes().to_vec()),
        Just(b"\xe2\x82".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"\x80".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"18446744073709551615".to_vec()),
        Just(b"99999999999999999999999".to_vec()),
        Just(b"-9223372036854775808".to_vec()),
        Just(b"[".to_vec()),
        Just(b"]".to_vec()),
        Just(b":".to_vec()),
        Just(b"`".to_vec()),
        Just(b"' (".to_vec()),
        Just(b"BDB".to_vec()),
        Just(b"[1795321836:1][9/9] CLIENT: ".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..6),
    ]
}

/// A prefix: the usual one with a small set of pids (so processes change), the msgpfx form,
/// or none.
fn prefix() -> impl Strategy<Value = Vec<u8>> {
    (
        0u64..3,
        0u64..2_000_000,
        0u8..4,
        prop::sample::select(vec!["CLIENT", "MASTER", "REP_UNDEF", "TapeTrack"]),
    )
        .prop_map(|(pid, usecs, form, role)| match form {
            0 => Vec::new(),
            1 => format!("TT: [1795321836:{usecs}][{}/140] {role}: ", 7 + pid).into_bytes(),
            _ => format!("[1795321836:{usecs}][{}/140] {role}: ", 7 + pid).into_bytes(),
        })
}

/// A body where a code or number is read: `BDB` and up to five digits, then any text.
fn coded_body() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "x ", "é ", "TapeTrack: "]),
        prop::sample::select(vec![
            "BDB",
            "FILEDONE: have ",
            "Next file ",
            "Start-up is done [",
        ]),
        "[0-9]{0,5}",
        "(€|é|𝄞|\\PC){0,3}",
        "[ -~]{0,12}",
    )
        .prop_map(|(a, b, c, d, e)| format!("{a}{b}{c}{d}{e}"))
}

/// One message-like line: prefix, a real body (or one with a code or number), bytes spliced in
/// at arbitrary offsets.
fn line() -> impl Strategy<Value = Vec<u8>> {
    (
        prefix(),
        prop_oneof![
            3 => prop::sample::select(real_bodies().clone()),
            1 => coded_body(),
        ],
        proptest::collection::vec((any::<prop::sample::Index>(), splice()), 0..4),
        prop::sample::select(vec![&b"\n"[..], b"\r\n", b""]),
    )
        .prop_map(|(mut p, body, splices, eol)| {
            let mut b = body.into_bytes();
            for (at, bytes) in splices {
                let i = at.index(b.len() + 1);
                b.splice(i..i, bytes);
            }
            p.extend_from_slice(&b);
            p.extend_from_slice(eol);
            p
        })
}

fn file() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        proptest::collection::vec(line(), 0..60).prop_map(|v| v.concat()),
    ]
}

/// Everything the monitor does with a file's text, line by line, as the follower feeds it.
fn exercise(bytes: &[u8]) -> NodeState {
    let text = String::from_utf8_lossy(bytes);
    let mut s = NodeState::default();
    let mut split = Splitter::default();
    for (i, raw) in text.split('\n').enumerate() {
        let _ = monitor::parse::prefix(raw);
        let _ = classify(raw, "$DB_Msg.txt");
        for m in split.push(i + 1, raw) {
            let _ = classify(&m.body, "€$DB_Msg.txt");
            s.apply(&m, "$DB_Msg.txt");
            let _ = monitor::single(&s);
        }
    }
    if let Some(m) = split.flush() {
        s.apply(&m, "$DB_Msg.txt");
    }
    let _ = monitor::combined(&s, &s, Some(1.0e12), 1.0);
    let _ = monitor::combined(&NodeState::default(), &s, None, 60.0);
    let _ = monitor::lag(&s, &s);
    let _ = monitor::single(&s).describe();
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_through_every_layer_never_panic(bytes in file()) {
        exercise(&bytes);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        std::fs::write(&p, &bytes).unwrap();
        let (s, consumed) = monitor::classify_file_counted(&p, None, "$DB_Msg.txt").unwrap();
        prop_assert!(consumed <= bytes.len() as u64);
        let _ = monitor::single(&s).describe();
        let mut f = monitor::follow::Follower::new(p.clone(), 0);
        let _ = f.poll();
        let mut f = monitor::follow::Follower::new(p, 5);
        let _ = f.poll();
    }
}

/// One step of an initial copy, with numbers from anywhere in their range.
#[derive(Debug, Clone)]
enum Step {
    Restart,
    Setup(u32),
    Range(u64, u64, u64, u64),
    Next(u32, u64, u64),
    Have(u64, u64),
    LogReq(u64, u64, u64, u64),
    Log(u64, u64),
    Ready,
    Done,
}

fn number() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..5, 0u64..10_000, 0u64..20_000_000, any::<u64>()]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => Just(Step::Restart),
        2 => (0u32..6).prop_map(Step::Setup),
        1 => (number(), number(), number(), number()).prop_map(|(a, b, c, d)| Step::Range(a, b, c, d)),
        4 => (0u32..6, prop_oneof![Just(4096u64), number()], number()).prop_map(|(k, p, m)| Step::Next(k, p, m)),
        8 => (number(), number()).prop_map(|(h, n)| Step::Have(h, n)),
        2 => (number(), number(), number(), number()).prop_map(|(a, b, c, d)| Step::LogReq(a, b, c, d)),
        6 => (number(), number()).prop_map(|(f, o)| Step::Log(f, o)),
        1 => Just(Step::Ready),
        1 => Just(Step::Done),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    /// Within one process's initial copy the percent never decreases and stays below 100
    /// until `Start-up is done`; after it, it is 100.
    #[test]
    fn init_percent_never_goes_back_nor_says_100_before_start_up_is_done(
        steps in proptest::collection::vec(step(), 1..120)
    ) {
        let mut s = NodeState::with_role(Some("replicant"));
        let mut pid = 100u64;
        let mut best: Option<f64> = None;
        for (i, st) in steps.iter().enumerate() {
            let body = match st {
                Step::Restart => {
                    pid += 1;
                    best = None;
                    "EID 0 is assigned for site 10.0.0.2:5100".to_string()
                }
                Step::Setup(n) => {
                    best = None;
                    format!("Update setup for {n} files.")
                }
                Step::Range(a, b, c, d) => {
                    if i % 2 == 0 {
                        format!("Update setup:  First LSN [{a}][{b}].")
                    } else {
                        format!("Update setup:  Last LSN [{c}][{d}]")
                    }
                }
                Step::Next(k, p, m) => format!("Next file {k}: pgsize {p}, maxpg {m}"),
                Step::Have(h, n) => format!("FILEDONE: have {h} pages. Need {n}."),
                Step::LogReq(a, b, c, d) => format!("NEXTFILE: LOG_REQ from LSN [{a}][{b}] to [{c}][{d}]"),
                Step::Log(f, o) => format!(
                    "/v rep_process_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [{f}][{o}]  resend"
                ),
                Step::Ready => "Returning LOGREADY up to [1][2], cmp = 0".to_string(),
                Step::Done => "Start-up is done [1][28]".to_string(),
            };
            let line = format!("[1795321836:{i}][{pid}/140] CLIENT: {body}");
            for m in monitor::parse::messages(&line) {
                s.apply(&m, "$DB_Msg.txt");
            }
            if let Some(p) = s.init.percent {
                prop_assert!(p.is_finite() && (0.0..=100.0).contains(&p), "percent {p} after {st:?}");
                if !s.startup_done {
                    prop_assert!(p < 100.0, "100% before start-up is done, after {st:?}: {:?}", s.init);
                }
                if let Some(b) = best {
                    prop_assert!(p >= b, "percent went back from {b} to {p} after {st:?}");
                }
                best = Some(p);
            }
            if s.startup_done && s.init.seen {
                prop_assert_eq!(s.init.percent, Some(100.0));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// The documented JSON of `classify --json` stays valid JSON with its fields, whatever the
    /// file holds (the real binary).
    #[test]
    fn classify_json_is_valid_for_any_file(bytes in file()) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("$DB_Msg.txt");
        std::fs::write(&p, &bytes).unwrap();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_tt-ha"))
            .args(["classify", "--json"])
            .arg(&p)
            .output()
            .unwrap();
        prop_assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
        for key in ["role", "verdict", "connected", "peers", "startup_done", "init", "last_lsn", "errors"] {
            prop_assert!(v.get(key).is_some(), "{key} missing: {v}");
        }
    }
}
