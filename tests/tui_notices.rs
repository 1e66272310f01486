//! A replaced, truncated or recreated message file starts a fresh history in the TUI's pane
//! exactly when it does in the monitor's feed (`monitor::feed::starts_fresh_history`, the one
//! rule); a missing file keeps what the pane shows.

use std::path::{Path, PathBuf};
use tt_ha::monitor::feed::{notice_name, starts_fresh_history};
use tt_ha::monitor::follow::Notice;
use tt_ha::tui::app::{App, Msg};
use tt_ha::tui::live::LiveUpdate;
use tt_ha::tui::pane::classify_line;
use tt_ha::tui::theme::Theme;

const SITE: &str = r#"
[master]
name = "tt-master"
address = "10.0.0.10"
home = "/opt/m/var/db"
backup_dir = "/srv/tt-backup"
[master.service]
kind = "systemd"
unit = "ttfs.service"
[master.process]
name = "TMSS10Server"

[[replicant]]
name = "tt-replicant"
address = "10.0.0.11"
home = "/opt/r/var/db"
[replicant.service]
kind = "systemd"
unit = "ttfs.service"
[replicant.process]
name = "TMSS10Server"
"#;

fn lines(texts: &[&str]) -> LiveUpdate {
    let l = texts
        .iter()
        .enumerate()
        .map(|(i, t)| classify_line(i + 1, t, "$DB_Msg.txt", "/opt/r/var/db"))
        .collect();
    LiveUpdate {
        lines: [Vec::new(), l],
        ..LiveUpdate::default()
    }
}

#[test]
fn the_pane_starts_afresh_exactly_when_the_feed_does() {
    let cfg = tt_ha::config::parse(SITE, Path::new("/etc/tt-ha.toml"), Path::new("/etc"))
        .expect("the test site parses");
    for notice in [
        Notice::Opened,
        Notice::Truncated,
        Notice::Replaced,
        Notice::Missing,
    ] {
        let mut a = App::monitor(
            PathBuf::from("/etc/tt-ha.toml"),
            cfg.clone(),
            Theme { color: false },
        );
        let old = "[1795321840:1][42/7] CLIENT: Read in gen 3";
        a.update(Msg::Live(Box::new(lines(&[old, old]))));
        let mut u = lines(&["[1795321850:1][43/7] CLIENT: Read in gen 4"]);
        u.notices[1] = vec![notice.clone()];
        a.update(Msg::Live(Box::new(u)));
        let fresh = starts_fresh_history(&notice);
        assert_eq!(fresh, notice != Notice::Missing, "{notice:?}");
        assert_eq!(
            a.panes[1].lines.len(),
            if fresh { 1 } else { 3 },
            "{notice:?}: the pane {} the old file's lines",
            if fresh { "must drop" } else { "must keep" }
        );
        assert_eq!(a.panes[1].notice.as_deref(), Some(notice_name(&notice)));
        assert_eq!(a.panes[0].lines.len(), 0, "the other pane is untouched");
    }
}
