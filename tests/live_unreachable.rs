//! The terminal app's live feed (`tui::live`, behind the monitor screen and the wizard's
//! panes) with a node reached through a real sshd: a node that stops answering shows as
//! unreachable, and shows as reached again when it is back; a node that cannot be reached
//! when the screen opens is asked again, and followed once it answers (the screen is not
//! left empty until it is restarted).

mod common;
mod ssh_node;

use ssh_node::SshNode;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tt_ha::tui::live::{self, LiveUpdate};

/// The site of [`ssh_node::remote_replicant_site`], loaded.
fn site(n: &SshNode) -> (tempfile::TempDir, tt_ha::config::SiteConfig) {
    let (dir, toml) = ssh_node::remote_replicant_site(n);
    let cfg = tt_ha::config::load(&toml).unwrap();
    (dir, cfg)
}

/// Receives updates until one satisfies `want` (bounded: 60 s is a failure, not a speed).
fn until(rx: &mpsc::Receiver<LiveUpdate>, what: &str, want: impl Fn(&LiveUpdate) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(u) if want(&u) => return,
            Ok(_) => {}
            Err(_) => panic!("no update {what} within 60 s"),
        }
    }
}

fn replicant_unreachable(u: &LiveUpdate) -> Option<Option<&str>> {
    u.unreachable.as_ref().map(|r| r[1].as_deref())
}

#[test]
fn a_node_that_stops_answering_shows_unreachable_then_reached_again() {
    need_sshd!("a_node_that_stops_answering_shows_unreachable_then_reached_again");
    let mut n = SshNode::new();
    n.start_sshd(&n.plain_key());
    ssh_node::append_lines(&n.home.join("$DB_Msg.txt"), 0, 20);
    let (_dir, cfg) = site(&n);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let _guard = rt.enter();
    let _task = live::spawn(&cfg, Duration::from_millis(100), false, move |u| {
        tx.send(u).is_ok()
    });
    until(&rx, "with both nodes reached", |u| {
        replicant_unreachable(u) == Some(None)
    });

    std::fs::write(n.dir.join("down"), b"").unwrap();
    n.kill_agent();
    until(
        &rx,
        "saying the replicant cannot be reached",
        |u| matches!(replicant_unreachable(u), Some(Some(why)) if why.contains("rep")),
    );

    std::fs::remove_file(n.dir.join("down")).unwrap();
    until(&rx, "saying the replicant answers again", |u| {
        replicant_unreachable(u) == Some(None)
    });
    ssh_node::append_lines(&n.home.join("$DB_Msg.txt"), 20, 5);
    until(&rx, "with the replicant's new lines", |u| {
        u.lines[1].iter().any(|l| l.text.contains("line 24"))
    });
}

#[test]
fn a_node_unreachable_when_the_screen_opens_is_followed_once_it_answers() {
    need_sshd!("a_node_unreachable_when_the_screen_opens_is_followed_once_it_answers");
    let mut n = SshNode::new();
    n.start_sshd(&n.plain_key());
    ssh_node::append_lines(&n.home.join("$DB_Msg.txt"), 0, 20);
    let (_dir, cfg) = site(&n);
    std::fs::write(n.dir.join("down"), b"").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let _guard = rt.enter();
    let _task = live::spawn(&cfg, Duration::from_millis(100), false, move |u| {
        tx.send(u).is_ok()
    });
    until(&rx, "saying the replicant cannot be reached", |u| {
        matches!(replicant_unreachable(u), Some(Some(_)))
    });

    std::fs::remove_file(n.dir.join("down")).unwrap();
    until(&rx, "with the replicant's lines once it answers", |u| {
        replicant_unreachable(u) == Some(None)
            && u.lines[1].iter().any(|l| l.text.contains("line 19"))
    });
}
