//! The compare of records in a real terminal: a `tt-ha demo` sandbox (two ttfs-sim servers on
//! Debian's Berkeley DB 5.3) set up with `apply`, then tmux runs `tt-ha wizard` at 80×24; the
//! test presses `v` (offered because the run's `verify` step is done) and reads the result and
//! the counts from the screen, as an operator would, then does the same on the monitor screen.

mod common;
use common::tmux::Tmux;
use common::{Sandbox, ask, text, tt_ha_bin};
use std::time::{Duration, Instant};

/// The value of a statistics row on the screen: `│  equal                     3,000    │`
/// (the label, indented, then at least two spaces; the overlay may sit over other text).
fn row(screen: &str, label: &str) -> Option<String> {
    let key = format!("  {label}  ");
    screen.lines().find_map(|l| {
        let at = l.find(&key)? + key.len();
        l[at..].split_whitespace().next().map(str::to_string)
    })
}

#[test]
fn after_apply_v_compares_the_records_and_the_screen_reads_equal_with_the_counts() {
    const VOLUMES: usize = 3_000;
    let sb = Sandbox::new(VOLUMES);
    let o = sb.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "apply: {}", text(&o));
    assert_eq!(ask(sb.replicant_port, "PING"), "OK replicant");
    let argv = vec![
        tt_ha_bin().display().to_string(),
        "--config".into(),
        sb.config.display().to_string(),
        "wizard".into(),
    ];
    let Some(t) = Tmux::start(&argv, 80, 24) else {
        return;
    };
    t.wait_for("is complete", 60);
    let want = "3,000";
    for screen in ["wizard", "monitor"] {
        t.keys(&["v"]);
        let s = t.wait_for("EQUAL", 120);
        assert!(
            s.contains("the replicant holds the master's 3,000 Volumes"),
            "{screen}: {s}"
        );
        assert_eq!(
            row(&s, "records read").as_deref(),
            Some(want),
            "{screen}: {s}"
        );
        assert_eq!(row(&s, "equal").as_deref(), Some(want), "{screen}: {s}");
        assert_eq!(
            row(&s, "missing on the replicant").as_deref(),
            Some("0"),
            "{s}"
        );
        assert_eq!(row(&s, "differing").as_deref(), Some("0"), "{s}");
        // Esc closes the report; the screen's keys work again.
        t.keys(&["Escape"]);
        if screen == "wizard" {
            t.wait_for("is complete", 10);
            t.keys(&["m"]);
            t.wait_for("replication monitor", 10);
        }
    }
    // Esc closed the monitor's report too: the panes are in view again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.screen().contains("EQUAL") {
        assert!(
            Instant::now() < deadline,
            "the report did not close:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
