//! Property tests of `tt-ha.toml` errors: whatever an operator's edit breaks (a line repeated,
//! dropped, moved or garbled), loading never panics and every error names the file, a line and
//! a key, in the `FILE:LINE: KEY: message` form.

use proptest::prelude::*;
use std::path::Path;

const GOOD: &str = r#"[procedure]
stop_timeout_secs = 60

[master]
name = "tt-master"
address = "192.168.1.10"
replication_port = 5100
home = "master/var/db"
backup_dir = "backup"
service = { kind = "systemd", unit = "ttfs.service" }
process = { name = "ttfs" }

[[replicant]]
name = "tt-replicant"
address = "192.168.1.11"
replication_port = 5101
home = "/srv/rep/var/db"
[replicant.service]
kind = "commands"
start = ["ttfs-sim", "service", "start"]
stop = ["ttfs-sim", "service", "stop"]
status = ["ttfs-sim", "service", "status"]
[replicant.process]
exe = "/usr/bin/ttfs-sim"
"#;

/// One edit of the file's lines.
#[derive(Debug, Clone)]
enum Edit {
    Repeat(usize),
    Drop(usize),
    MoveToEnd(usize),
    Replace(usize, String),
    ValueTo(usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let value = prop_oneof![
        Just("\"5101\"".to_string()),
        Just("5101".to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("\"\"".to_string()),
        Just("\"unclosed".to_string()),
        Just("192.168.1.10".to_string()),
        Just("\"10.0.0.1#x\"".to_string()),
        Just("\"::1\"".to_string()),
        Just("-1".to_string()),
        Just("99999".to_string()),
        "[ -~]{0,12}",
    ];
    prop_oneof![
        (0usize..30).prop_map(Edit::Repeat),
        (0usize..30).prop_map(Edit::Drop),
        (0usize..30).prop_map(Edit::MoveToEnd),
        (0usize..30, "[ -~]{0,20}").prop_map(|(i, s)| Edit::Replace(i, s)),
        (0usize..30, value).prop_map(|(i, v)| Edit::ValueTo(i, v)),
    ]
}

fn apply(edits: &[Edit]) -> String {
    let mut lines: Vec<String> = GOOD.lines().map(str::to_string).collect();
    for e in edits {
        let n = lines.len();
        if n == 0 {
            break;
        }
        match e {
            Edit::Repeat(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n + 1, l);
            }
            Edit::Drop(i) => {
                lines.remove(i % n);
            }
            Edit::MoveToEnd(i) => {
                let l = lines.remove(i % n);
                lines.push(l);
            }
            Edit::Replace(i, s) => lines[i % n] = s.clone(),
            Edit::ValueTo(i, v) => {
                if let Some((k, _)) = lines[i % n].split_once('=') {
                    lines[i % n] = format!("{k}= {v}");
                }
            }
        }
    }
    lines.join("\n") + "\n"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_config_error_names_file_line_and_key(edits in proptest::collection::vec(edit(), 1..4)) {
        let text = apply(&edits);
        if let Err(e) = tt_ha::config::parse(&text, Path::new("/etc/tt-ha.toml"), Path::new("/etc")) {
            prop_assert!(e.line.is_some(), "no line: {e}\n{text}");
            prop_assert!(e.key.is_some(), "no key: {e}\n{text}");
            let shown = e.to_string();
            prop_assert!(shown.starts_with("/etc/tt-ha.toml:"), "{shown}");
        }
    }

    #[test]
    fn any_text_never_panics(text in "[\\[\\]=\"a-z0-9 .#\n{},]{0,200}") {
        let _ = tt_ha::config::parse(&text, Path::new("x.toml"), Path::new("/"));
    }
}
