//! What every engine action shares: the configuration, the run's journal, and the channel to
//! the front-end (events and confirmations).

use super::EngineError;
use crate::config::SiteConfig;
use crate::journal::{Action, Event as J, Journal};
use crate::procedure::StepDef;
use serde::Serialize;
use std::time::Duration;

/// How a step is going.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "detail", rename_all = "kebab-case")]
pub enum StepState {
    /// Started.
    Running,
    /// Finished; what it did.
    Done(String),
    /// Done by an earlier invocation of this run: a no-op.
    AlreadyDone(String),
    /// Failed; why and what to do.
    Failed(String),
}

/// What a progress report counts or awaits. A front-end replaces a step's previous report of
/// the same kind by the new one (it never guesses that from the words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProgressKind {
    /// Waiting for a server to stop or start (`done`: seconds waited).
    Waiting,
    /// Copying the backup (`done`/`total`: bytes).
    Copying,
    /// Moving entries into or out of quarantine (`done`/`total`: entries).
    Moving,
    /// The replicant's initial copy (`done`/`total`: tenths of a percent).
    InitialCopy,
}

/// What `done` and `total` count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Seconds.
    Seconds,
    /// Bytes.
    Bytes,
    /// Entries of a folder.
    Entries,
    /// Tenths of a percent (1000 = all).
    Permille,
}

/// Progress within a step, typed: the CLI prints the line's words; the TUI and `--json`
/// readers also get the numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// What is counted.
    pub kind: ProgressKind,
    /// How far, in `unit`.
    pub done: u64,
    /// Out of how much, when known.
    pub total: Option<u64>,
    /// What `done` and `total` count.
    pub unit: Unit,
    /// `unit`s per second, when measured.
    pub rate: Option<u64>,
    /// Seconds left, when estimated.
    pub eta_secs: Option<u64>,
}

impl Progress {
    /// Still waiting, `secs` so far (nothing counted, nothing estimated).
    pub fn waited(secs: u64) -> Progress {
        Progress {
            kind: ProgressKind::Waiting,
            done: secs,
            total: None,
            unit: Unit::Seconds,
            rate: None,
            eta_secs: None,
        }
    }
}

/// What the engine reports, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The run the engine works on.
    Run {
        /// Run id.
        run_id: String,
        /// `started`, `resumed`, `rolling-back`.
        how: String,
    },
    /// A step changed state.
    Step {
        /// Step id.
        id: String,
        /// Title.
        title: String,
        /// State.
        #[serde(flatten)]
        state: StepState,
    },
    /// Progress or detail within a step.
    Line {
        /// Step id.
        id: String,
        /// Text.
        text: String,
        /// The numbers of a progress report (absent for a one-off detail).
        #[serde(skip_serializing_if = "Option::is_none")]
        progress: Option<Progress>,
    },
    /// Advice that does not stop anything.
    Warning {
        /// Text.
        text: String,
    },
}

/// Whether a confirmation the operator typed is exactly `expected` (a node's name, `rollback`,
/// a run id), every character of it: a space or Tab before or after is not the name, nor a
/// carriage return typed on a Unix terminal (Ctrl-V Enter): a confirmation names the node
/// that will be changed, exactly or not at all. A console's line: [`typed_line`].
pub fn typed_exactly(typed: &str, expected: &str) -> bool {
    typed == expected
}

/// [`typed_exactly`] for a line read from the console: the word, then the line's end. A line
/// cut short (the name then Ctrl-D, no Enter) is not a confirmation.
pub fn typed_line(line: &str, expected: &str) -> bool {
    line.strip_suffix(LINE_END)
        .is_some_and(|t| typed_exactly(t, expected))
}

/// The end of a line read from the console: Windows' console gives `\r\n` for Enter, a Unix
/// terminal `\n` (a `\r` before it was typed).
const LINE_END: &str = if cfg!(windows) { "\r\n" } else { "\n" };

/// Asks the operator before a destructive step. The CLI types the node name; `--yes` answers.
pub trait Confirm {
    /// True to go ahead. `details()` lists the exact effects (computed only when asked: it re-reads both homes).
    fn confirm(&mut self, step: &StepDef, node: &str, details: &mut dyn FnMut() -> String) -> bool;

    /// [`Confirm::confirm`] with the step's effects typed: `planned()` plans the step afresh
    /// (it re-reads both homes), `describe` words it. A front-end that lays the effects out
    /// itself (the TUI's table of entries) overrides this; the rest answer with the words.
    fn confirm_planned(
        &mut self,
        step: &StepDef,
        node: &str,
        planned: &mut dyn FnMut() -> Option<crate::plan::PlannedStep>,
        describe: fn(&crate::plan::PlannedStep) -> String,
    ) -> bool {
        let mut details = || planned().map(|s| describe(&s)).unwrap_or_default();
        self.confirm(step, node, &mut details)
    }

    /// Asked by `rollback` only, and only for the replicant, whose files the rollback discards:
    /// its server did not stop in time; end its process (SIGTERM, then SIGKILL)? `details`
    /// says what runs, why, and what ending it means. True only once the operator typed `node`
    /// (or passed `--force-stop-replicant`); `--yes` alone is not consent. A front-end that
    /// does not ask declines.
    fn confirm_force_stop(&mut self, node: &str, details: &str) -> bool {
        let _ = (node, details);
        false
    }
}

/// Answers no to every question (previews, which change nothing).
pub struct Decline;

impl Confirm for Decline {
    fn confirm(&mut self, _: &StepDef, _: &str, _: &mut dyn FnMut() -> String) -> bool {
        false
    }
}

/// One engine invocation on one run.
pub struct Ctx<'a> {
    /// The site.
    pub cfg: &'a SiteConfig,
    /// Its two nodes, as this controller reaches them.
    pub nodes: &'a crate::node::Pair,
    /// The run id.
    pub run_id: String,
    /// Its journal.
    pub journal: Journal,
    /// Front-end sink.
    pub sink: &'a mut dyn FnMut(Event),
}

impl Ctx<'_> {
    /// Reports an event.
    pub fn emit(&mut self, e: Event) {
        (self.sink)(e);
    }

    /// Reports a line of detail for `step`.
    pub fn line(&mut self, step: &str, text: impl Into<String>) {
        self.emit(Event::Line {
            id: step.to_string(),
            text: text.into(),
            progress: None,
        });
    }

    /// Reports progress of `step`: its words and its numbers.
    pub fn progress(&mut self, step: &str, text: impl Into<String>, progress: Progress) {
        self.emit(Event::Line {
            id: step.to_string(),
            text: text.into(),
            progress: Some(progress),
        });
    }

    /// Journals an intent (fsynced) and returns its sequence number.
    pub fn intent(&mut self, step: &str, action: Action) -> Result<u64, EngineError> {
        Ok(self.journal.append(J::Intent {
            step: step.to_string(),
            action,
        })?)
    }

    /// Journals the intent to start or stop a node's server.
    pub fn service_intent(
        &mut self,
        step: &str,
        node: &crate::config::Node,
        action: &str,
    ) -> Result<u64, EngineError> {
        self.intent(
            step,
            Action::Service {
                node: node.name.clone(),
                action: action.into(),
            },
        )
    }

    /// Journals the result of an intent.
    pub fn result(&mut self, intent: u64, detail: impl Into<String>) -> Result<(), EngineError> {
        self.journal.append(J::Result {
            intent,
            detail: detail.into(),
        })?;
        Ok(())
    }

    /// Journals and reports that a step begins.
    pub fn start_step(&mut self, id: &str, title: &str) -> Result<(), EngineError> {
        self.journal.append(J::StepStart { step: id.into() })?;
        self.emit(Event::Step {
            id: id.into(),
            title: title.into(),
            state: StepState::Running,
        });
        Ok(())
    }

    /// Journals and reports a step's outcome. A failure is returned as the error to stop with
    /// (the step's own message, whatever kind of error it was).
    pub fn finish_step(
        &mut self,
        id: &str,
        title: &str,
        outcome: Result<String, EngineError>,
    ) -> Result<(), EngineError> {
        match outcome {
            Ok(summary) => {
                self.journal.append(J::StepDone {
                    step: id.into(),
                    summary: summary.clone(),
                })?;
                self.emit(Event::Step {
                    id: id.into(),
                    title: title.into(),
                    state: StepState::Done(summary),
                });
                Ok(())
            }
            Err(EngineError::Declined { step }) => Err(EngineError::Declined { step }),
            Err(e) => {
                let error = match e {
                    EngineError::Step { error, .. } => error,
                    other => other.to_string(),
                };
                self.journal.append(J::StepFailed {
                    step: id.into(),
                    error: error.clone(),
                })?;
                self.emit(Event::Step {
                    id: id.into(),
                    title: title.into(),
                    state: StepState::Failed(error.clone()),
                });
                Err(EngineError::step(id, error))
            }
        }
    }

    /// Closes the intents of `step` left open by an interrupted invocation: the step has just
    /// re-done its work from the live state, so each of them is now settled.
    pub fn settle_open_intents(&mut self, step: &str) -> Result<(), EngineError> {
        let open: Vec<u64> = crate::journal::open_intents(self.journal.records())
            .into_iter()
            .filter(|r| matches!(&r.event, J::Intent { step: s, .. } if s == step))
            .map(|r| r.seq)
            .collect();
        for seq in open {
            self.result(seq, "settled on resume: the step re-checked the live state")?;
        }
        Ok(())
    }

    /// How long one service query may take (the longer of the stop and start deadlines).
    pub fn service_timeout(&self) -> Duration {
        self.stop_timeout().max(self.start_timeout())
    }

    /// Stop deadline.
    pub fn stop_timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.procedure.stop_timeout_secs)
    }

    /// Start deadline.
    pub fn start_timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.procedure.start_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::{typed_exactly, typed_line};

    #[test]
    fn a_confirmation_is_the_exact_word_with_only_its_line_end_dropped() {
        assert!(typed_exactly("replicant", "replicant"));
        assert!(typed_line(
            &format!("replicant{}", super::LINE_END),
            "replicant"
        ));
        // No line end: cut short by Ctrl-D (the adversary's 'replicant^D' stopped the replicant).
        assert!(!typed_line("replicant", "replicant"));
        // On a Unix terminal a carriage return is typed (Ctrl-V Enter), never a line end.
        if !cfg!(windows) {
            assert!(!typed_line("replicant\r\n", "replicant"));
        }
        for no in [
            " replicant",
            "replicant ",
            "replicant\t",
            "\treplicant\n",
            "replicant \n",
            "replicant\n\n",
            "replicant\r",
            "Replicant",
            "replican",
            "replicant2",
            "",
            "\n",
        ] {
            assert!(!typed_exactly(no, "replicant"), "{no:?}");
        }
    }
}
