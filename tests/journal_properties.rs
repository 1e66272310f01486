//! Property tests of the write-ahead journal: arbitrary bytes never make reading panic, a torn or
//! garbage line is reported by the journal's rules (ignored when last, an error naming its line
//! otherwise), a journal that reads can always be appended to, and any path — any bytes —
//! round-trips exactly.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use tt_ha::journal::{self, Action, Event, JOURNAL_FILE, Journal, JournalError, MovePair, Record};

/// A path from arbitrary bytes (on Unix a path is bytes; elsewhere, text).
fn path_of(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
    }
}

fn bytes_of(p: &Path) -> &[u8] {
    p.as_os_str().as_encoded_bytes()
}

fn any_path() -> impl Strategy<Value = PathBuf> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80),
        "[a-z/_.ü$\\\\\\x1b\\n\\t ]{0,40}".prop_map(String::into_bytes),
    ]
    .prop_map(|b| path_of(&b))
}

fn any_text() -> impl Strategy<Value = String> {
    "\\PC{0,30}|[\\x00-\\x{ff}ü€\\n]{0,30}"
}

fn any_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (
            any_text(),
            proptest::collection::vec((any_path(), any_path()), 0..5)
        )
            .prop_map(|(node, m)| Action::Move {
                node,
                moves: m
                    .into_iter()
                    .map(|(from, to)| MovePair { from, to })
                    .collect(),
            }),
        (any_text(), any_path(), any_path()).prop_map(|(node, from, to)| Action::Copy {
            node,
            from,
            to
        }),
        (any_text(), any_path(), any_path()).prop_map(|(node, path, content)| Action::Write {
            node,
            path,
            content
        }),
        (any_text(), any_text()).prop_map(|(node, action)| Action::Service { node, action }),
        any_path().prop_map(|to| Action::Backup { to }),
        any_path().prop_map(|path| Action::Purge { path }),
    ]
}

fn any_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (any_text(), any_path(), any::<bool>(), any::<bool>()).prop_map(
            |(run_id, config, m, r)| {
                Event::RunStart {
                    run_id,
                    config,
                    tool_version: "0.1.0".into(),
                    master_was_running: m,
                    replicant_was_running: r,
                }
            }
        ),
        (any::<u32>(), any_text()).prop_map(|(pid, command)| Event::Attach { pid, command }),
        any_text().prop_map(|step| Event::StepStart { step }),
        (any_text(), any_action()).prop_map(|(step, action)| Event::Intent { step, action }),
        (any::<u64>(), any_text()).prop_map(|(intent, detail)| Event::Result { intent, detail }),
        (any_text(), any_text()).prop_map(|(step, summary)| Event::StepDone { step, summary }),
        (any_text(), any_text()).prop_map(|(step, error)| Event::StepFailed { step, error }),
        Just(Event::RollbackStart),
        Just(Event::RollbackDone),
    ]
}

/// Every path an event holds, in order.
fn paths(e: &Event) -> Vec<&Path> {
    match e {
        Event::RunStart { config, .. } => vec![config],
        Event::Intent { action, .. } => match action {
            Action::Move { moves, .. } => moves
                .iter()
                .flat_map(|m| [m.from.as_path(), m.to.as_path()])
                .collect(),
            Action::Copy { from, to, .. } => vec![from, to],
            Action::Write { path, content, .. } => vec![path, content],
            Action::Backup { to } => vec![to],
            Action::Purge { path } => vec![path],
            Action::Service { .. } => vec![],
        },
        _ => vec![],
    }
}

/// Asserts that `read` returned exactly `events`, paths compared as bytes.
fn assert_same(read: &[Record], events: &[Event]) -> Result<(), TestCaseError> {
    prop_assert_eq!(read.len(), events.len());
    for (r, e) in read.iter().zip(events) {
        prop_assert_eq!(&r.event, e);
        let (a, b) = (paths(&r.event), paths(e));
        prop_assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            prop_assert_eq!(bytes_of(x), bytes_of(y), "paths differ as bytes");
        }
    }
    Ok(())
}

fn journal_with(events: &[Event]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path()).unwrap();
    for e in events {
        j.append(e.clone()).unwrap();
    }
    let file = dir.path().join(JOURNAL_FILE);
    (dir, file)
}

/// A journal that reads can always be opened and appended to, and then still reads, with the
/// new record last.
fn appendable(dir: &Path, before: &[Record]) -> Result<(), TestCaseError> {
    let mut j = Journal::open(dir).map_err(|e| TestCaseError::fail(e.to_string()))?;
    j.append(Event::RollbackStart)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    drop(j);
    let after =
        journal::read(&dir.join(JOURNAL_FILE)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(after.len(), before.len() + 1);
    prop_assert_eq!(&after[..before.len()], before);
    prop_assert_eq!(&after[before.len()].event, &Event::RollbackStart);
    Ok(())
}

/// A line that is neither blank nor JSON: what a crash or a disk error leaves.
fn garbage_line() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..200).prop_filter_map("blank or JSON", |mut b| {
        b.retain(|&c| c != b'\n');
        let blank = std::str::from_utf8(&b).is_ok_and(|s| s.trim().is_empty());
        (!blank && serde_json::from_slice::<serde_json::Value>(&b).is_err()).then_some(b)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_paths_round_trip_exactly(events in proptest::collection::vec(any_event(), 0..12)) {
        let (dir, file) = journal_with(&events);
        let read = journal::read(&file).unwrap();
        assert_same(&read, &events)?;
        appendable(dir.path(), &read)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        lines in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..300),
                (any_event(), prop_oneof![Just(1u32), any::<u32>()], any::<u64>()).prop_map(|(event, v, seq)| {
                    serde_json::to_vec(&Record { v, seq, time: "t".into(), event }).unwrap()
                }),
                (any::<u64>(), any::<u64>()).prop_map(|(v, seq)| format!(r#"{{"v":{v},"seq":{seq},"time":"t","type":"rollback-start"}}"#).into_bytes()),
                Just(b"{\"v\":1,\"seq\":18446744073709551615,\"time\":\"t\",\"type\":\"rollback-done\"}".to_vec()),
                Just(b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_vec()),
            ],
            0..8),
        tail_newline in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(JOURNAL_FILE);
        let mut bytes = lines.join(&b'\n');
        if tail_newline {
            bytes.push(b'\n');
        }
        std::fs::write(&file, &bytes).unwrap();
        match journal::read(&file) {
            Ok(records) => appendable(dir.path(), &records)?,
            Err(e) => {
                prop_assert!(matches!(e, JournalError::Corrupt { .. } | JournalError::Version { .. }), "{}", e);
                // A journal that does not read is refused by open too, and left as it was.
                prop_assert!(Journal::open(dir.path()).is_err());
                prop_assert_eq!(std::fs::read(&file).unwrap(), bytes);
            }
        }
    }

    #[test]
    fn a_torn_last_record_is_ignored_and_the_journal_goes_on(
        events in proptest::collection::vec(any_event(), 1..8),
        cut in any::<proptest::sample::Index>(),
    ) {
        let (dir, file) = journal_with(&events);
        let full = std::fs::read(&file).unwrap();
        let ends: Vec<usize> = full.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i).collect();
        let last_start = ends.len().checked_sub(2).map_or(0, |i| ends[i] + 1);
        // Cut the last record anywhere: before its first byte up to just before its newline.
        let at = last_start + cut.index(full.len() - last_start);
        std::fs::write(&file, &full[..at]).unwrap();
        let read = journal::read(&file).unwrap();
        let kept = if at == full.len() - 1 { events.len() } else { events.len() - 1 };
        assert_same(&read, &events[..kept])?;
        appendable(dir.path(), &read)?;
    }

    #[test]
    fn a_garbage_line_is_an_error_naming_it_unless_it_is_the_last(
        events in proptest::collection::vec(any_event(), 1..6),
        garbage in garbage_line(),
        at in any::<proptest::sample::Index>(),
    ) {
        let (dir, file) = journal_with(&events);
        let text = std::fs::read(&file).unwrap();
        let mut lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        let i = at.index(lines.len() + 1);
        lines.insert(i, &garbage);
        let mut bytes = lines.join(&b'\n');
        bytes.push(b'\n');
        std::fs::write(&file, &bytes).unwrap();
        match journal::read(&file) {
            Ok(read) => {
                prop_assert_eq!(i, events.len(), "garbage ignored only as the last line");
                assert_same(&read, &events)?;
                appendable(dir.path(), &read)?;
            }
            Err(JournalError::Corrupt { line, why, .. }) => {
                prop_assert!(i < events.len());
                prop_assert_eq!(line, i + 1, "{}", why);
                let shown = journal::read(&file).unwrap_err().to_string();
                prop_assert!(shown.chars().all(|c| !c.is_control()), "error shown raw: {:?}", shown);
            }
            Err(e) => prop_assert!(false, "unexpected error: {}", e),
        }
    }
}
