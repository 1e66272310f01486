//! The node rule, checked by reading the source: outside the node implementations (`src/node/`,
//! the agent, and the local helpers `LocalNode` is made of), nothing touches a node's files,
//! service, processes or message file directly; the engine, the steps, the planner, preflight,
//! the CLI and the TUI go through `NodeAccess` (for message files:
//! (`follow_messages`, `read_messages`, `running_process_start`, `database_sizes`,
//! `server_processes`, `still_server`), so a node on another machine is followed and checked
//! like a local one.
//!
//! [`rules`] lists, per file or folder under the crate root, the patterns that must not appear
//! there; [`ALLOWED`] the few lines that may, each with why. Add a folder (the engine, preflight,
//! plan, …) by adding a row. Test modules (`#[cfg(test)]` to the end of a file) are not
//! checked: tests make real files on this machine.

use std::path::{Path, PathBuf};

/// What a front-end must not do to a node itself: open, read or stat its files, run its
/// programs, read its process table, or call the local helpers the node interface wraps.
const NODE_EFFECTS: &[&str] = &[
    "std::fs",
    "File::open",
    "OpenOptions",
    "std::process::Command",
    "Command::new",
    "sysinfo",
    "read_dir(",
    "canonicalize(",
    "symlink_metadata(",
    "Follower::new(",
    "Follower::from_offset(",
    "Waker::new(",
    "LocalSource::open(",
    "classify_file(",
    "classify_file_counted(",
    "seekfile::read_node(",
    "read_node_since(",
    "progress::database_sizes(",
    "running::running_process_start(",
    "probe::server_processes(",
    "probe::still_server(",
    "openfiles::holders(",
];

/// What the engine, the steps, the planner and preflight must not do to a node themselves: the
/// local helpers `LocalNode` is made of, called directly (each has its `NodeAccess` method).
const ENGINE_EFFECTS: &[&str] = &[
    "std::fs",
    "File::open",
    "File::create",
    "OpenOptions",
    "std::process::Command",
    "Command::new",
    "sysinfo",
    "Service::new(",
    "Home::open",
    "openfiles::holders(",
    "probe::matching_processes(",
    "probe::server_processes(",
    "probe::still_server(",
    "probe::client_port_open(",
    "probe::port_open(",
    "atomic::read_regular(",
    "atomic::replace_if_unchanged(",
    "fsinfo::",
    "runlock::acquire(",
    "runlock::inspect(",
    "runlock::read(",
    "quarantine::move_entry(",
    "quarantine::move_batch(",
    "quarantine::copy_file_hashed(",
    "quarantine::create_dirs(",
    "backup::assess(",
    "backup::act(",
    "backup::make(",
    "backup::unused_id(",
    "identity::on_this_machine(",
    "NodeFolders::of(",
    "Lineage::of(",
    "progress::database_sizes(",
    "running::running_process_start(",
    "MonitorProbe::new(",
    "startup::unfinished_startup(",
    "NodeView::read(",
];

/// Where the rule holds, and what it forbids there (paths relative to the crate root; a folder
/// covers every `.rs` file under it).
fn rules() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("src/cli/monitor_cmd.rs", NODE_EFFECTS),
        ("src/cli/follow_cmd.rs", NODE_EFFECTS),
        ("src/tui", NODE_EFFECTS),
        ("src/cli", ENGINE_EFFECTS),
        ("src/engine", ENGINE_EFFECTS),
        ("src/steps", ENGINE_EFFECTS),
        ("src/plan.rs", ENGINE_EFFECTS),
        ("src/preflight.rs", ENGINE_EFFECTS),
        ("src/monitor/pair.rs", ENGINE_EFFECTS),
    ]
}

/// Lines that may match (file, text on the line, why).
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "src/cli/monitor_cmd.rs",
        "monitor::classify_file(file, role",
        "`tt-ha classify FILE` reads a file the operator names on this machine, not a node's",
    ),
    (
        "src/cli/agent_cmd.rs",
        "crate::fsinfo::refuse_links();",
        "`tt-ha agent` is the node side: it sets how its own reads open files (no final link followed), touching no file",
    ),
];

/// `path` and every `.rs` file under it.
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// The code of a file that the rule checks: without its test module and without comments
/// (a doc comment may name what it does not do).
fn checked_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
}

/// Every line under `root` that breaks `rules`: `file:line: pattern: text`.
fn violations(root: &Path, rules: &[(&str, &[&str])]) -> Vec<String> {
    let mut found = Vec::new();
    for (place, patterns) in rules {
        let files = rust_files(&root.join(place));
        assert!(!files.is_empty(), "{place}: no Rust files to check");
        for file in files {
            let rel = file
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&file).unwrap();
            for (no, line) in checked_lines(&text) {
                for p in patterns.iter().filter(|p| line.contains(*p)) {
                    let allowed = ALLOWED
                        .iter()
                        .any(|(f, t, _)| *f == rel && line.contains(t));
                    if !allowed {
                        found.push(format!("{rel}:{no}: `{p}`: {}", line.trim()));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn outside_the_node_implementations_nothing_touches_a_node_directly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let v = violations(root, &rules());
    assert!(
        v.is_empty(),
        "these lines reach a node's message file or processes directly; go through \
         `NodeAccess` (crate::node) instead, or add the line to ALLOWED with why:\n{}",
        v.join("\n")
    );
}

/// The checker itself finds what it must (so a clean answer means something): a direct open
/// in a front-end file is reported with its place, comments and test modules are not, and an
/// allowed line is let through only in its own file.
#[test]
fn the_checker_reports_a_direct_effect_and_only_that() {
    let d = tempfile::tempdir().unwrap();
    let tui = d.path().join("src/tui");
    std::fs::create_dir_all(tui.join("view")).unwrap();
    std::fs::create_dir_all(d.path().join("src/cli")).unwrap();
    std::fs::write(
        tui.join("view/pane.rs"),
        "// std::fs is not used here\nfn f() {\n    let _ = std::fs::read(\"x\");\n}\n#[cfg(test)]\nmod tests { fn t() { std::fs::write(\"y\", \"\").unwrap(); } }\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("src/cli/monitor_cmd.rs"),
        "fn c() { monitor::classify_file(file, role, \"$DB_Msg.txt\"); }\nfn d() { let s = monitor::classify_file(&p, None, \"m\"); }\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("src/cli/follow_cmd.rs"),
        "fn e() { let f = Follower::new(p, 0); }\n",
    )
    .unwrap();
    let front_ends: Vec<_> = rules()
        .into_iter()
        .filter(|(place, _)| !place.starts_with("src/engine") && !place.starts_with("src/steps"))
        .filter(|(place, _)| place.starts_with("src/tui") || place.ends_with("_cmd.rs"))
        .collect();
    let v = violations(d.path(), &front_ends);
    assert_eq!(
        v,
        [
            "src/cli/monitor_cmd.rs:2: `classify_file(`: fn d() { let s = monitor::classify_file(&p, None, \"m\"); }",
            "src/cli/follow_cmd.rs:1: `Follower::new(`: fn e() { let f = Follower::new(p, 0); }",
            "src/tui/view/pane.rs:3: `std::fs`: let _ = std::fs::read(\"x\");",
        ]
    );
}
