//! The remote message-file follower through a real sshd: connecting and reconnecting happen
//! off the reader's path (a read while the node cannot be reached returns at once and says
//! so), and following resumes from the byte read so far when the node is back, with no line
//! lost or repeated.

mod common;
mod ssh_node;

use ssh_node::SshNode;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tt_ha::dbconfig::Role;
use tt_ha::monitor::source::{MessageSource, Piece, Reach, Start};
use tt_ha::node::remote::{RemoteSource, Timing};

/// What a reader has taken from a source: the bytes, checked to come in file order with no
/// gap and no repeat (each chunk's offset is where the bytes so far end).
#[derive(Default)]
struct Taken {
    bytes: Vec<u8>,
}

impl Taken {
    /// Takes what has arrived, without waiting.
    fn take(&mut self, src: &mut dyn MessageSource) {
        let mut buf = Vec::new();
        while let Some(p) = src.next(&mut buf) {
            if let Piece::Bytes { offset } = p {
                assert_eq!(
                    offset,
                    self.bytes.len() as u64,
                    "a chunk at {offset} after {} bytes: a line lost or repeated",
                    self.bytes.len()
                );
                self.bytes.extend_from_slice(&buf);
            }
        }
    }

    /// Takes until the bytes are the file's (bounded: a failure, not a speed, at 30 s).
    fn until_file(&mut self, src: &mut dyn MessageSource, file: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.take(src);
            let want = std::fs::read(file).unwrap();
            if self.bytes == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the follower has {} of {} bytes; reach {:?}",
                self.bytes.len(),
                want.len(),
                src.reach()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Reads until the source says its node cannot be reached (bounded: 30 s is a failure).
fn until_unreachable(src: &mut dyn MessageSource, taken: &mut Taken) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        taken.take(src);
        if let Reach::Unreachable { why, .. } = src.reach() {
            return why;
        }
        assert!(
            Instant::now() < deadline,
            "never unreachable: {:?}",
            src.reach()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn timing() -> Timing {
    Timing {
        greeting: Duration::from_secs(600),
        ..Timing::default()
    }
}

#[test]
fn a_lost_node_shows_unreachable_and_resumes_from_its_offset_without_loss_or_repeat() {
    need_sshd!("a_lost_node_shows_unreachable_and_resumes_from_its_offset_without_loss_or_repeat");
    let mut n = SshNode::new();
    n.start_sshd(&n.plain_key());
    let agent = n.switchable_agent();
    let file = n.home.join("$DB_Msg.txt");
    ssh_node::append_lines(&file, 0, 50);
    let cfg = n.controller_node(Some(&agent));
    let mut src = RemoteSource::spawn(
        cfg,
        Role::Replicant,
        timing(),
        Start::Beginning,
        "test".into(),
    );
    let mut taken = Taken::default();
    taken.until_file(&mut src, &file);
    assert_eq!(src.reach(), Reach::Reached);
    ssh_node::append_lines(&file, 50, 100);
    taken.until_file(&mut src, &file);

    // The node goes away: its agent is killed and cannot be started again.
    std::fs::write(n.dir.join("down"), b"").unwrap();
    n.kill_agent();
    let why = until_unreachable(&mut src, &mut taken);
    assert!(why.contains("node rep (ssh ttnode)"), "{why}");
    // Appended while the node cannot be reached: a read returns what it has (nothing new),
    // saying the node is unreachable.
    let had = taken.bytes.len();
    ssh_node::append_lines(&file, 150, 200);
    for _ in 0..5 {
        taken.take(&mut src);
        assert!(matches!(src.reach(), Reach::Unreachable { .. }));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        taken.bytes.len(),
        had,
        "nothing can come from a node that is down"
    );

    // Back: following resumes at the byte it had read, every line once.
    std::fs::remove_file(n.dir.join("down")).unwrap();
    taken.until_file(&mut src, &file);
    assert_eq!(src.reach(), Reach::Reached);
    ssh_node::append_lines(&file, 350, 10);
    taken.until_file(&mut src, &file);
}

#[test]
fn a_read_never_waits_for_a_node_that_does_not_answer() {
    need_sshd!("a_read_never_waits_for_a_node_that_does_not_answer");
    let mut n = SshNode::new();
    n.start_sshd(&n.plain_key());
    let agent = n.switchable_agent();
    let file = n.home.join("$DB_Msg.txt");
    ssh_node::append_lines(&file, 0, 20);
    let cfg = n.controller_node(Some(&agent));
    let mut src: Box<dyn MessageSource> = Box::new(RemoteSource::spawn(
        cfg,
        Role::Replicant,
        timing(),
        Start::Beginning,
        "test".into(),
    ));
    let mut taken = Taken::default();
    taken.until_file(src.as_mut(), &file);

    // The node stops answering: the agent is killed, and the next connection hangs before
    // its greeting (for as long as `hang` exists; the greeting deadline is 10 minutes).
    std::fs::write(n.dir.join("hang"), b"").unwrap();
    n.kill_agent();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !n.dir.join("hanging").exists() {
        assert!(Instant::now() < deadline, "no reconnection was attempted");
        taken.take(src.as_mut());
        std::thread::sleep(Duration::from_millis(20));
    }
    ssh_node::append_lines(&file, 20, 30);
    // A read while that connection hangs: it must come back (with the unreachable state)
    // while the connection still hangs. Done on another thread so that a read stuck in the
    // connection fails this test instead of hanging it.
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let piece = src.next(&mut buf);
        let _ = tx.send((piece, src.reach()));
        src
    });
    let (piece, reach) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a read waited for the hanging connection");
    assert!(n.dir.join("hang").exists());
    assert_eq!(piece, None);
    assert!(matches!(reach, Reach::Unreachable { .. }), "{reach:?}");
    let mut src = reader.join().unwrap();

    // The connection completes: the lines appended meanwhile come, once each.
    std::fs::remove_file(n.dir.join("hang")).unwrap();
    taken.until_file(src.as_mut(), &file);
    assert_eq!(src.reach(), Reach::Reached);
}
