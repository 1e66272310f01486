//! `verify`: both message files and the client ports prove replication.

use super::{PlanInput, Rules};
use crate::dbconfig::Role;
use crate::engine::ctx::Ctx;
use crate::engine::{ApplyOptions, Confirm, EngineError, UndoStep};
use crate::nodeview::NodeView;
use crate::plan::Effect;
use crate::plan::PlannedStep;
use crate::procedure::{Step, StepDef};
use crate::startup::{MonitorProbe, ProbeStatus, StartupProbe};

/// The step's definition: what it does and why, in the vendor's words.
pub const DEF: StepDef = StepDef {
    id: Step::Verify,
    node: None,
    title: "Verify replication",
    why: "Both message files must prove replication (the master sending, the replicant done with start-up and applying), and the replicant's client port must answer.",
    destructive: false,
};

/// The rules of `verify`.
pub struct Verify;

impl Rules for Verify {
    fn def(&self) -> &'static StepDef {
        &DEF
    }

    fn plan(&self, input: &PlanInput, step: &mut PlannedStep) {
        step.effects.push(Effect::Check { node: None, what: "both message files prove replication: the master sends to the replicant, the replicant's start-up is done and it applies log records".to_string() });
        step.effects.push(Effect::Check {
            node: Some(Role::Replicant),
            what: format!(
                "client port {}:{} answers",
                input.replicant.cfg.address, input.replicant.cfg.client_port.0
            ),
        });
    }

    fn run(
        &self,
        ctx: &mut Ctx,
        _: &ApplyOptions,
        _: &mut dyn Confirm,
    ) -> Result<String, EngineError> {
        let step = "verify";
        let (master, replicant) = (ctx.nodes.master(), ctx.nodes.replicant());
        let (m, r) = (master.config(), replicant.config());
        let fail = |e: String| EngineError::step(step, e);
        if !master.client_port_open() {
            return Err(fail(format!(
                "the master's client port {}:{} does not answer",
                m.address, m.client_port.0
            )));
        }
        if !replicant.client_port_open() {
            return Err(fail(format!(
                "the replicant's client port {}:{} does not answer",
                r.address, r.client_port.0
            )));
        }
        let master_repl = NodeView::of(master).repl_port;
        if !master.port_open(master_repl) {
            return Err(fail(format!(
                "the master's replication port {}:{master_repl} does not answer: the master is not listening for replicants",
                m.address
            )));
        }
        let re =
            regex::Regex::new(&ctx.cfg.procedure.startup_regex).map_err(|e| fail(e.to_string()))?;
        // Only the running process's lines can prove its start-up: read back from the end to where
        // they begin, then forward from there (a 138 MB file is not read whole to check its end).
        let path = r.message_path();
        let from = running_process_start(&path).unwrap_or(0);
        let mut probe = MonitorProbe::new(path, re, &r.message_file)
            .with_expected(crate::monitor::pair::expected(ctx.cfg).1)
            .starting_at(from);
        if let ProbeStatus::Waiting(w) = probe.poll() {
            return Err(fail(format!(
                "the replicant's message file shows no start-up: {w}"
            )));
        }
        let mut done = vec![
            format!(
                "client ports {} and {} answer",
                m.client_port.0, r.client_port.0
            ),
            "replicant start-up done".to_string(),
        ];
        if let Some(ping) = replicant.run_ping() {
            ping.map_err(fail)?;
            let argv = r.ping_command.as_deref().unwrap_or_default();
            done.push(format!("`{}` succeeded", argv.join(" ")));
        }
        Ok(done.join("; "))
    }

    fn undone_by(&self) -> &'static [UndoStep] {
        &[]
    }
}

/// Bytes read back per step while looking for the running process's first line.
const BACK_BLOCK: u64 = 1 << 20;
/// Bytes of a line's start kept to read its prefix (`msgpfx: [secs:usecs][pid/tid] `).
const PREFIX_BYTES: usize = 256;

/// The pid in a line's prefix, when the line starts with one.
fn line_pid(start: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(&start[..start.len().min(PREFIX_BYTES)]);
    let text = text.split('\n').next().unwrap_or_default();
    crate::monitor::parse::stamp_of(text).map(|s| s.pid)
}

/// Where the lines of the server process writing `path` now begin: the start of the line after
/// the last line another process wrote (0 when one process wrote it all). Read back from the end
/// a block at a time, keeping only a line's first bytes: memory stays bounded on any file, and
/// the time is that of the running process's lines. The state read from there on is the state
/// a whole read gives after its last restart by pid; restarts without a new pid (the same
/// process reopening its environment) are found by the state itself, as in a whole read.
fn running_process_start(path: &std::path::Path) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let mut end = f.metadata()?.len();
    let mut current: Option<u64> = None;
    // What the blocks after the one being scanned hold: their first bytes (the rest of a line
    // that begins at this block's end) and their first newline (where that line ends).
    let mut later_head: Vec<u8> = Vec::new();
    let mut later_first_nl: Option<u64> = None;
    let mut buf = vec![0u8; BACK_BLOCK as usize];
    while end > 0 {
        let start = end.saturating_sub(BACK_BLOCK);
        let block = &mut buf[..(end - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(block)?;
        let block = &*block;
        // The newline ending the line being looked at (absolute offset).
        let mut line_nl = later_first_nl;
        // Line starts in this block, last first: after each newline, and the file's start.
        let starts = memchr::memrchr_iter(b'\n', block)
            .map(Some)
            .chain((start == 0).then_some(None));
        for nl in starts {
            let at = nl.map_or(0, |n| n + 1);
            let mut head = block[at..block.len().min(at + PREFIX_BYTES)].to_vec();
            if head.len() < PREFIX_BYTES && line_nl.is_none_or(|e| e >= end) {
                head.extend_from_slice(&later_head);
            }
            match (line_pid(&head), current) {
                (Some(pid), None) => current = Some(pid),
                (Some(pid), Some(c)) if pid != c => {
                    // Another process's line: the running one begins after it.
                    return Ok(line_nl.map_or(end, |e| e + 1));
                }
                _ => {}
            }
            line_nl = nl.map(|n| start + n as u64);
        }
        if let Some(first) = memchr::memchr(b'\n', block) {
            later_first_nl = Some(start + first as u64);
        }
        let mut head = block[..block.len().min(PREFIX_BYTES)].to_vec();
        if head.len() < PREFIX_BYTES {
            head.extend_from_slice(&later_head);
            head.truncate(PREFIX_BYTES);
        }
        later_head = head;
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::startup::{MonitorProbe, ProbeStatus, StartupProbe};
    use std::path::Path;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/bdb")
                .join(name),
        )
        .unwrap()
    }

    /// `text` with the writing pid `from` replaced by `to` in every prefix.
    fn repid(text: &[u8], from: &str, to: &str) -> Vec<u8> {
        String::from_utf8_lossy(text)
            .replace(&format!("][{from}/"), &format!("][{to}/"))
            .into_bytes()
    }

    /// The reference: a forward read, line by line, of where the last pid's run of lines begins.
    fn forward_start(bytes: &[u8]) -> u64 {
        let mut lines: Vec<(u64, Option<u64>)> = Vec::new();
        let mut at = 0u64;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(line);
            lines.push((at, crate::monitor::parse::stamp_of(&text).map(|s| s.pid)));
            at += line.len() as u64;
        }
        let last = lines.iter().rev().find_map(|(_, p)| *p);
        let mut start = 0;
        for (i, (_, pid)) in lines.iter().enumerate() {
            if pid.is_some() && *pid != last {
                start = lines.get(i + 1).map_or(at, |(o, _)| *o);
            }
        }
        start
    }

    /// Reading back from the end finds exactly where the running process's lines begin, on files
    /// of several blocks, with the change of process anywhere around a block boundary, lines
    /// longer than a block, lines without a prefix, and an unfinished last line.
    #[test]
    fn the_running_process_start_is_found_reading_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("$DB_Msg.txt");
        let old = fixture("5.3-d-replicant.txt");
        let new = repid(&fixture("6.1-a-replicant.txt"), "6605", "7777");
        let long = |pid: &str, n: usize| {
            let mut l = format!("[1:1][{pid}/9] CLIENT: long ").into_bytes();
            l.extend(std::iter::repeat_n(b'y', n));
            l.push(b'\n');
            l
        };
        for pad in [0usize, 1, 17, 200, 255, 256, 4000] {
            for tail in [
                &b""[..],
                b"a continuation line\n",
                b"[2:2][7777/1] CLIENT: unfinished",
            ] {
                // The change of process near the first block boundary from the end.
                let mut bytes = old.clone();
                bytes.extend(long("4242", 3 << 20));
                let boundary = (BACK_BLOCK as usize).saturating_sub(pad);
                let mut newer = b"no prefix here\n".to_vec();
                newer.extend_from_slice(&new);
                newer.extend(long("7777", 70_000));
                newer.extend_from_slice(tail);
                let fill = boundary.saturating_sub(newer.len() % BACK_BLOCK as usize);
                bytes.extend(long("4242", fill));
                bytes.extend_from_slice(&newer);
                std::fs::write(&path, &bytes).unwrap();
                let want = forward_start(&bytes);
                assert!(want > old.len() as u64, "{pad}");
                assert_eq!(running_process_start(&path).unwrap(), want, "pad {pad}");
            }
        }
        // One process wrote it all: from the start. An empty file: 0.
        std::fs::write(&path, &new).unwrap();
        assert_eq!(running_process_start(&path).unwrap(), 0);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(running_process_start(&path).unwrap(), 0);
    }

    /// The proof stays as strict read from the running process's start: an earlier process's
    /// start-up proves nothing, the running one's does, and a restart of the same pid (the
    /// environment opened again) begins a fresh proof.
    #[test]
    fn verify_reads_from_the_running_process_and_its_proof_stays_strict() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("$DB_Msg.txt");
        let run = fixture("6.1-a-replicant.txt");
        let text = String::from_utf8_lossy(&run).into_owned();
        let done_at = text.find("CLIENT: Start-up is done").unwrap();
        let done_at = text[..done_at].rfind('\n').unwrap() + 1;
        let before_done = repid(&run[..done_at], "6605", "7777");
        let mut bytes = fixture("5.3-d-replicant.txt");
        bytes.extend_from_slice(&run);
        bytes.extend_from_slice(&before_done);
        std::fs::write(&path, &bytes).unwrap();
        let probe = |p: &Path| {
            let from = running_process_start(p).unwrap();
            let re = regex::Regex::new("^Start-up is done").unwrap();
            MonitorProbe::new(p.to_path_buf(), re, "$DB_Msg.txt")
                .starting_at(from)
                .poll()
        };
        assert_eq!(
            running_process_start(&path).unwrap(),
            (bytes.len() - before_done.len()) as u64
        );
        assert!(matches!(probe(&path), ProbeStatus::Waiting(_)));
        // The running process proves its start-up.
        // (Up to its start-up line: the run goes on to shut down, which ends the proof.)
        let line_end = done_at + text[done_at..].find('\n').unwrap() + 1;
        let rest = repid(&run[done_at..line_end], "6605", "7777");
        bytes.extend_from_slice(&rest);
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(probe(&path), ProbeStatus::Done(_)));
        // The same pid opens its environment again: a fresh proof, not done.
        bytes.extend_from_slice(&repid(&run[..done_at.min(600)], "6605", "7777"));
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            matches!(probe(&path), ProbeStatus::Waiting(_)),
            "{:?}",
            probe(&path)
        );
    }
}
