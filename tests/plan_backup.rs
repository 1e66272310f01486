//! The plan shows what happens to the backup: the `backup` step, and the top-up that
//! `master.stop` does once the master has stopped (invariant 10), in `plan --json`, in the text
//! plan and in the wizard's step view, computed by the real planner from a site's homes.

mod common;

use common::{Site, tt_ha};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tt_ha::procedure::STEPS;
use tt_ha::tui::app::{App, Msg};
use tt_ha::tui::theme::Theme;

fn plan_json(site: &Site) -> serde_json::Value {
    let o = tt_ha()
        .arg("--config")
        .arg(&site.config)
        .args(["plan", "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap()
}

fn effects<'a>(plan: &'a serde_json::Value, id: &str) -> &'a Vec<serde_json::Value> {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()["effects"]
        .as_array()
        .unwrap()
}

#[test]
fn master_stop_plans_the_backup_top_up_after_the_stop() {
    let site = Site::new();
    let plan = plan_json(&site);
    let stop = effects(&plan, "master.stop");
    let kinds: Vec<&str> = stop.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["service", "wait", "backup"], "{stop:?}");
    let b = &stop[2];
    assert_eq!(b["node"], "master");
    assert_eq!(
        b["from"],
        serde_json::json!(site.master.canonicalize().unwrap())
    );
    assert_eq!(b["to"], serde_json::json!(site.dir.path().join("backup")));
    assert!(b["bytes"].as_u64().unwrap() > 0);
    let what = b["what"].as_str().unwrap();
    for must in [
        "once the server has stopped",
        "log files written since",
        "db_hotbackup -u",
        "db_recover -c on a scratch copy",
        "journal",
    ] {
        assert!(what.contains(must), "{must}: {what}");
    }
    // The backup step keeps its fields and says what it does too.
    let step = &effects(&plan, "backup")[0];
    assert_eq!(step["kind"], "backup");
    assert_eq!(step["from"], b["from"]);
    assert!(
        step["what"]
            .as_str()
            .unwrap()
            .contains("another machine or home"),
        "{step}"
    );

    let text = tt_ha()
        .arg("--config")
        .arg(&site.config)
        .arg("plan")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let stop_part = &text[text.find("master.stop").unwrap()..text.find("master.dbconfig").unwrap()];
    assert!(stop_part.contains("db_hotbackup -u"), "{stop_part}");
}

#[test]
fn the_wizard_shows_the_top_up_in_the_master_stop_step() {
    let site = Site::new();
    let cfg = tt_ha::config::load(&site.config).unwrap();
    let plan = tt_ha::plan::build_for(&cfg, "20261122T080000Z");
    let mut a = App::wizard(site.config.clone(), cfg, Theme { color: false });
    a.update(Msg::Plan(Box::new(plan)));
    a.selected = STEPS.iter().position(|s| s.id == "master.stop").unwrap();
    let mut t = Terminal::new(TestBackend::new(160, 48)).unwrap();
    t.draw(|f| tt_ha::tui::view::draw(f, &a)).unwrap();
    let screen = t.backend().to_string();
    assert!(screen.contains("Stop the master's server"), "{screen}");
    assert!(screen.contains("db_hotbackup"), "{screen}");
}
