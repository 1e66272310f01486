//! Every path in an error or log line is shown escaped (`src/display.rs`, the one rule): a
//! folder named in tt-ha.toml with a newline or a terminal escape in it never reaches the
//! terminal raw, whatever command refuses it.

mod common;

use common::FakeSite;
use std::fs;

/// A raw control byte in `out` (a newline is layout, except right before the path's own
/// continuation `evil`).
fn raw_controls(out: &str) -> Vec<String> {
    let mut found = Vec::new();
    if out.contains('\u{1b}') {
        found.push("ESC".into());
    }
    if out.contains("\nevil") {
        found.push("a newline inside a path".into());
    }
    if out.contains('\r') {
        found.push("CR".into());
    }
    found
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_home_with_control_bytes_is_shown_escaped_by_every_command() {
    for (what, folder) in [
        ("missing", None),
        ("an empty folder", Some(false)),
        ("a folder without DB_CONFIG", Some(true)),
    ] {
        let site = FakeSite::new();
        let odd = site.dir.path().join("rep\u{1b}[2J\r\nevil/var/db");
        if let Some(with_file) = folder {
            fs::create_dir_all(&odd).unwrap();
            if with_file {
                fs::write(odd.join("volumes.db"), b"data").unwrap();
            }
        }
        let cfg = fs::read_to_string(&site.config).unwrap();
        let from = "home = \"replicant/TapeTrack Framework Server/var/db\"";
        let to = format!(
            "home = \"{}\"",
            odd.display()
                .to_string()
                .replace('\u{1b}', "\\u001b")
                .replace('\r', "\\r")
                .replace('\n', "\\n")
        );
        fs::write(&site.config, cfg.replacen(from, &to, 1)).unwrap();
        for args in [
            &["plan"][..],
            &["apply", "--yes"],
            &["rollback", "--yes"],
            &["status"],
            &["check"],
            &["backup"],
        ] {
            let o = site.tt_ha(args);
            let out = text(&o);
            let raw = raw_controls(&out);
            assert!(
                raw.is_empty(),
                "{what}: `tt-ha {}` printed {raw:?}:\n{}",
                args.join(" "),
                out.escape_debug()
            );
        }
    }
}
