//! A real terminal for the TUI tests: a tmux server of the test's own (its own socket), the
//! program started in a detached session of a given size, its screen read, keys sent.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of its own (its own socket), killed on drop.
pub struct Tmux {
    _dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Tmux {
    /// Starts `argv` in a detached session `w`×`h`; None when tmux is not installed.
    pub fn start(argv: &[String], w: u16, h: u16) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!(
                "\n!!!!! SKIPPED: tmux is not installed, so the TUI cannot be driven in a real terminal. `bash .ci/run` installs it (apt-get install tmux). !!!!!\n"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let t = Tmux {
            socket: dir.path().join("tmux.sock"),
            _dir: dir,
        };
        let ok = t
            .cmd()
            .args([
                "new-session",
                "-d",
                "-s",
                "tt",
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
            ])
            .args(["-e", "LANG=C.UTF-8", "--"])
            .args(argv)
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        let _ = t
            .cmd()
            .args(["set-option", "-t", "tt", "remain-on-exit", "on"])
            .status();
        Some(t)
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    pub fn screen(&self) -> String {
        let o = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "tt"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs a tmux command on this server, which must succeed.
    fn run(&self, args: &[&str]) {
        let ok = self.cmd().args(args).status().unwrap().success();
        assert!(ok, "tmux {args:?} failed");
    }

    pub fn keys(&self, keys: &[&str]) {
        self.run(&[&["send-keys", "-t", "tt"][..], keys].concat());
    }

    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "tt", "-l", text]);
    }

    /// Pastes `text` as a terminal does: bracketed (tmux's `paste-buffer -p`) when the program
    /// asked for bracketed paste, as plain keys otherwise.
    pub fn paste(&self, text: &str) {
        self.run(&["set-buffer", "-b", "pasted", "--", text]);
        self.run(&["paste-buffer", "-p", "-d", "-b", "pasted", "-t", "tt"]);
    }

    /// Waits until `pred` holds for the screen; panics with the screen after `secs`.
    pub fn wait(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs} s for {what}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn wait_for(&self, needle: &str, secs: u64) -> String {
        self.wait(&format!("`{needle}`"), secs, |s| s.contains(needle))
    }

    pub fn pane_dead(&self) -> bool {
        let o = self
            .cmd()
            .args(["display-message", "-p", "-t", "tt", "#{pane_dead}"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim() == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}
