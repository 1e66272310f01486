//! The start-up proof read from a remote node's message file (the `verify` step's): a running
//! process's lines can be tens of MiB, and over the agent they arrive in parts after the first
//! read. The proof is judged on everything written so far, not on the part that had arrived
//! (`verify` failed "catching up the log: 80%" on a replicant whose start-up was done, on the
//! two-host testbed).

mod common;
mod ssh_node;

use ssh_node::SshNode;
use std::io::Write;
use std::time::Duration;
use tt_ha::monitor::source::Start;
use tt_ha::startup::{MonitorProbe, ProbeStatus};

#[test]
fn a_start_up_at_the_end_of_a_large_remote_file_is_proven() {
    need_sshd!("a_start_up_at_the_end_of_a_large_remote_file_is_proven");
    let mut n = SshNode::new();
    n.start_sshd(&n.plain_key());
    {
        // 24 MiB of a replicant's chatter, then its start-up line.
        let file = std::fs::File::create(n.home.join("$DB_Msg.txt")).unwrap();
        let mut f = std::io::BufWriter::new(file);
        let mut written = 0usize;
        let mut i = 0u64;
        while written < 24 << 20 {
            let line = format!(
                "[1700000000:{i}][10/1] CLIENT: rep_process_message: msgv = 7 logv 19 gen = 1 eid 1, type log, LSN [1][{i}]\n"
            );
            f.write_all(line.as_bytes()).unwrap();
            written += line.len();
            i += 1;
        }
        writeln!(f, "[1700000001:0][10/1] CLIENT: Start-up is done [1][{i}]").unwrap();
    }
    // The node's answers after the first 22 MiB come slowly (256 KiB every 50 ms), as over a
    // slower link: what the first read did not bring arrives in parts, later.
    let relay = n.script(
        "relay.py",
        "import sys, time\nsent = 0\nwhile True:\n    b = sys.stdin.buffer.read1(262144)\n    if not b:\n        break\n    if sent > 22 << 20:\n        time.sleep(0.05)\n    sys.stdout.buffer.write(b)\n    sys.stdout.buffer.flush()\n    sent += len(b)\n",
    );
    let agent = n.script(
        "slow-agent.sh",
        &format!(
            "'{}' \"$@\" --node-config '{}' | python3 '{}'",
            env!("CARGO_BIN_EXE_tt-ha"),
            n.node_file.display(),
            relay.display()
        ),
    );
    let node = n.connect(Some(&agent)).expect("the node answers");
    let done = regex::Regex::new("Start-up is done").unwrap();
    let mut probe = MonitorProbe::for_node(&node, done, Start::Beginning);
    let size = std::fs::metadata(n.home.join("$DB_Msg.txt")).unwrap().len();
    match probe.poll_to(size, Duration::from_secs(120)) {
        ProbeStatus::Done(line) => assert!(line.contains("Start-up is done"), "{line}"),
        ProbeStatus::Waiting(w) => panic!("the start-up at the end was not seen: {w}"),
    }
}
