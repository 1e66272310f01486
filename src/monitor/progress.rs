//! The initial copy (internal init) as work in bytes and time: what is done, what is left, and
//! how long the rest will take.
//!
//! Percent is byte-weighted: the database files' bytes (the master's sizes when the caller
//! gives them, else what the replicant announces per file: `Next file K: pgsize P, maxpg M`)
//! plus the log still to ship (the LSN distance of `LOG_REQ from … to …`). Counting files
//! instead made three tiny databases 75% of a copy whose fourth file was everything.
//!
//! The time left is estimated stage by stage. The page rate blends the last
//! [`RATE_WINDOW_SECS`] of the message file's stamps with the whole page stage's average
//! ([`RECENT_WEIGHT`]): on a shared machine the rate swings by half within a copy, and neither
//! alone follows it. A stage not begun yet is estimated from priors measured on real copies:
//! the log from the page rate ([`LOG_BYTE_COST`]), recovery from the log's time
//! ([`RECOVERY_PER_LOG_TIME`]), and the flush of the copied pages from the bytes the
//! replicant's cache can hold dirty ([`FLUSH_SECS_PER_BYTE`], [`FLUSH_CACHE_BYTES`]): a disk
//! write, not paced like the network. `testbed/bench-progress.sh` replays recorded copies and
//! measures the estimate against their real end.

use super::classify::Lsn;
use super::state::lsn_distance;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// Seconds of the newest progress the recent rate is measured over: long enough to smooth the
/// bursts of a busy replicant, short enough to follow a rate that changes.
pub const RATE_WINDOW_SECS: f64 = 6.0;
/// The recent rate's weight in the page rate; the rest is the page stage's average so far.
/// The recorded 10M-volume copies changed pace mid-copy (one at 4.3%/s for most of it, 9%/s
/// for its last fifth; another 18k pages/s, then 27k, then 15k): a short window overreacts to
/// each swing, the whole average misses a lasting one. Calibrated on runs 3m-a, 10m-a and
/// 10m-b (tests/fixtures/progress), checked on the others.
pub const RECENT_WEIGHT: f64 = 0.5;
/// After its last page the replicant writes the pages it holds to disk before it asks for the
/// log (a silence between `RECOVER_LOG now` and `LOG_REQ`): the dirty pages of its cache, so
/// at most [`FLUSH_CACHE_BYTES`], at the disk's pace. Seconds per byte so held: measured 4.6
/// (3m-a), 7.4 (10m-a), 5.4 (10m-b) s/GB (the median taken), then checked on 10m-c (4.3) and
/// the later runs. As a share of the page time, which it was before, it varied 0.07–0.35:
/// a copy slowed by a busy CPU does not write slower.
pub const FLUSH_SECS_PER_BYTE: f64 = 5.4e-9;
/// A silent stage (the flush, the recovery) that outlasts its prior is not about to end: on a
/// loaded machine a flush took 4.6 s against a 1.5 s prior (10m-d), and a recovery 2.4 s
/// against 0.4 s (longlog-a). Past the prior, the stage is taken to need this share of the
/// time it has run so far again, so the time left keeps counting instead of standing at
/// "less than a second" ([`overrun_left`]).
pub const OVERRUN_SHARE: f64 = 0.5;
/// The replicant's cache, which bounds what it has to write out at the end of the pages: the
/// `set_cachesize 0 268435456 1` of TapeTrack's DB_CONFIG (templates/DB_CONFIG). A 226 MB
/// copy (3M volumes) and a 755 MB one (10M) flushed in the same 1–2 s.
pub const FLUSH_CACHE_BYTES: u64 = 268_435_456;
/// How much longer a log byte takes than a page byte: log records are small messages applied
/// one by one. Measured 6.8 (3M volumes), 7.8 (run d) and 9.0 (10M volumes).
pub const LOG_BYTE_COST: f64 = 8.0;
/// The least log rate (bytes per second) the log stage's prior assumes, unless the pages came
/// slower still. [`LOG_BYTE_COST`] holds for copies whose pages stream; a copy of small
/// databases spends its page time on a round trip per file, so its page rate says little of
/// the log's: a 2,000-volume copy took its pages at 1.0 MB/s and its log at 5.4 MB/s, where
/// the page rate over 8 foretold 0.13 MB/s (an estimate 40 times too long), and the
/// 20,000-volume copy 20k-a foretold 8.9 s for 2.3 s. The twelve copies measured, 2,000 to
/// 10,000,000 volumes, took their log at 2.7–9.7 MB/s (median 3.9; 2.98 at a load of 11): this
/// is their lower third.
pub const LOG_RATE_LEAST: f64 = 3.5e6;
/// Local recovery after `LOGREADY`, as a share of the log stage's time: measured 0.06 (10M
/// volumes), 0.08 (run d) and 0.38 (3M volumes).
pub const RECOVERY_PER_LOG_TIME: f64 = 0.15;
/// File names kept (a copy has a handful; a file naming thousands is not believed).
const NAMES_KEPT: usize = 4096;
/// Rate samples kept at most (one per [`SAMPLE_SECS`] within the window).
const SAMPLES_KEPT: usize = 4096;
/// The least time between two rate samples.
const SAMPLE_SECS: f64 = 0.02;
/// The least span a rate is measured over.
const MIN_SPAN_SECS: f64 = 0.1;

/// Where an initial copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Stage {
    /// Receiving database pages.
    #[default]
    Pages,
    /// Every page is in: the replicant writes them out, then asks for the log.
    Flush,
    /// Receiving the log.
    Log,
    /// All log received: the replicant recovers locally.
    Recovery,
    /// `Start-up is done`.
    Done,
}

/// The byte and time model of one initial copy. Fed the replicant's init messages in order,
/// each with its stamp (seconds) when the line has one. Serialisable whole, for `tt-ha check`'s
/// seek file (reading on from a saved model must equal reading the whole file).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyModel {
    /// The master's database files and their sizes, when the caller knows them.
    expected: BTreeMap<String, u64>,
    files_total: u64,
    files_started: u64,
    /// Names of the files begun (bounded), to know which expected files are still to come.
    started: BTreeSet<String>,
    /// A file began without its `name` line: expected files cannot be matched by name.
    unnamed: bool,
    done_bytes: u64,
    cur_bytes: u64,
    cur_done: u64,
    cur_pgsize: u64,
    log_from: Option<Lsn>,
    log_to: Option<Lsn>,
    log_cur: Option<Lsn>,
    stage: Stage,
    pages_start: Option<f64>,
    pages_end: Option<f64>,
    log_start: Option<f64>,
    log_end: Option<f64>,
    /// The page rate last measured (bytes per second, recent and average blended), kept for
    /// the stages after it.
    page_rate: Option<f64>,
    log_rate: Option<f64>,
    window: VecDeque<(f64, u64)>,
    now: Option<f64>,
    /// The database files copied so far, one record each (the newest [`FILES_KEPT`]).
    #[serde(default)]
    files: VecDeque<FileRecord>,
    /// When start-up was done.
    #[serde(default)]
    done_at: Option<f64>,
}

/// Files of the copy kept as rows (a copy has a handful).
const FILES_KEPT: usize = 256;

/// One database file of the copy, as the copy's rows show it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRecord {
    /// 1-based, as `file k of n` reads.
    number: u64,
    name: Option<String>,
    pgsize: u64,
    pages_done: u64,
    pages_total: u64,
    started: Option<f64>,
    ended: Option<f64>,
}

/// One row of the initial copy: a database file, or a stage after the pages.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CopyRow {
    /// `pages` (one row per database file), `flush`, `log`, `recovery`.
    pub stage: &'static str,
    /// `file 2 of 4 volumes.db`, `writing the pages to disk`, `catching up the log`,
    /// `recovering`.
    pub what: String,
    /// Pages received and pages of the file (file rows).
    pub pages_done: Option<u64>,
    /// Pages of the file.
    pub pages_total: Option<u64>,
    /// Bytes done of this row.
    pub bytes_done: u64,
    /// Bytes of this row.
    pub bytes_total: u64,
    /// Bytes per second over the row's time.
    pub rate: Option<f64>,
    /// Seconds this row took, or has taken so far.
    pub secs: Option<f64>,
    /// Seconds left of this row, while it runs.
    pub eta_secs: Option<f64>,
    /// Finished.
    pub done: bool,
}

/// What the model says at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Bytes copied (pages and log).
    pub bytes_done: u64,
    /// Bytes to copy in all, as known now.
    pub bytes_total: u64,
    /// Percent of the bytes (not yet made monotonic or capped); `None` while files of unknown
    /// size are still to come (no master sizes given, and not every file announced yet): three
    /// tiny files done of four says nothing about the fourth.
    pub percent: Option<f64>,
    /// Seconds left, when a rate is known.
    pub eta_secs: Option<f64>,
}

impl CopyModel {
    /// A model that knows the master's database files and their sizes in bytes.
    pub fn with_expected(expected: BTreeMap<String, u64>) -> CopyModel {
        CopyModel {
            expected,
            ..CopyModel::default()
        }
    }

    /// Gives the master's database sizes, keeping what was seen of the copy.
    pub fn set_expected(&mut self, expected: BTreeMap<String, u64>) {
        self.expected = expected;
    }

    /// The master's database sizes given, if any.
    pub fn expected(&self) -> &BTreeMap<String, u64> {
        &self.expected
    }

    /// The stage the copy is in.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Files begun so far.
    pub fn files_started(&self) -> u64 {
        self.files_started
    }

    /// Bytes of the copy received so far (pages and log): what its percent counts, and what
    /// the start-up's stall watch waits to see advance.
    pub fn done_bytes(&self) -> u64 {
        self.page_done().saturating_add(self.log_done())
    }

    /// The newest stamp seen.
    pub fn now(&self) -> Option<f64> {
        self.now
    }

    fn tick(&mut self, t: Option<f64>) {
        if let Some(t) = t.filter(|t| t.is_finite()) {
            self.now = Some(self.now.map_or(t, |n| n.max(t)));
        }
    }

    /// `Update setup for N files.`: a new copy begins (the master's sizes carry over).
    pub fn start(&mut self, t: Option<f64>, files: u64) {
        *self = CopyModel {
            expected: std::mem::take(&mut self.expected),
            files_total: files,
            ..CopyModel::default()
        };
        self.tick(t);
        self.pages_start = self.now;
    }

    /// `Update setup:  First LSN` / `Last LSN`: the log range as first announced. The log the
    /// replicant asks for later (`LOG_REQ`) starts at the beginning of First LSN's log file
    /// (seen in every recorded copy: First `[77][2079135]`, LOG_REQ from `[77][28]`), so that
    /// is where the estimate starts it.
    pub fn log_range(&mut self, first: Option<Lsn>, last: Option<Lsn>) {
        if self.stage == Stage::Pages {
            let first = first.map(|l| Lsn {
                file: l.file,
                offset: 0,
            });
            self.log_from = first.or(self.log_from);
            self.log_to = last.or(self.log_to);
        }
    }

    fn finish_file(&mut self) {
        self.done_bytes = self.done_bytes.saturating_add(self.cur_bytes);
        (self.cur_bytes, self.cur_done) = (0, 0);
    }

    /// `Next file K: pgsize P, maxpg M`: file K (maxpg + 1 pages) begins.
    pub fn next_file(&mut self, t: Option<f64>, pgsize: u64, maxpg: u64) {
        self.tick(t);
        self.finish_file();
        self.files_started = self.files_started.saturating_add(1);
        self.cur_pgsize = pgsize;
        self.cur_bytes = maxpg.saturating_add(1).saturating_mul(pgsize);
        self.unnamed = true;
        self.close_file();
        if self.files.len() == FILES_KEPT {
            self.files.pop_front();
        }
        self.files.push_back(FileRecord {
            number: self.files_started,
            pgsize,
            pages_total: maxpg.saturating_add(1),
            started: self.now,
            ..FileRecord::default()
        });
        self.sample();
    }

    /// The file being copied is done (its pages all in).
    fn close_file(&mut self) {
        if let Some(f) = self.files.back_mut().filter(|f| f.ended.is_none()) {
            f.ended = self.now;
            f.pages_done = f.pages_total;
        }
    }

    /// `name F dir D`: the file just begun.
    pub fn file_name(&mut self, name: &str) {
        if self.started.len() < NAMES_KEPT {
            self.started.insert(name.to_string());
            self.unnamed = false;
        }
        if let Some(f) = self.files.back_mut().filter(|f| f.name.is_none()) {
            f.name = Some(crate::monitor::line::floor_str(name, 120).to_string());
        }
    }

    /// `FILEDONE: have X pages. Need Y.`
    pub fn pages(&mut self, t: Option<f64>, have: u64, need: u64) {
        self.tick(t);
        self.cur_bytes = self.cur_bytes.max(need.saturating_mul(self.cur_pgsize));
        self.cur_done = have.saturating_mul(self.cur_pgsize).min(self.cur_bytes);
        if let Some(f) = self.files.back_mut().filter(|f| f.ended.is_none()) {
            f.pages_total = f.pages_total.max(need);
            f.pages_done = have.min(f.pages_total);
        }
        self.sample();
    }

    /// `NEXTFILE: have N files.  RECOVER_LOG now`: every page is in.
    pub fn pages_done(&mut self, t: Option<f64>) {
        self.tick(t);
        if self.stage == Stage::Pages {
            self.cur_done = self.cur_bytes;
            self.finish_file();
            self.close_file();
            self.files_started = self.files_started.max(self.files_total);
            self.stage = Stage::Flush;
            self.pages_end = self.now;
            self.window.clear();
        }
    }

    /// `NEXTFILE: LOG_REQ from … to …`: the log stage begins.
    pub fn log_phase(&mut self, t: Option<f64>, from: Lsn, to: Lsn) {
        self.pages_done(t);
        self.stage = Stage::Log;
        (self.log_from, self.log_to, self.log_cur) = (Some(from), Some(to), None);
        self.log_start = self.now;
        self.window.clear();
        self.sample();
    }

    /// A log record of the copy arrived.
    pub fn log_received(&mut self, t: Option<f64>, lsn: Lsn) {
        self.tick(t);
        if self.stage == Stage::Log {
            self.log_cur = Some(self.log_cur.map_or(lsn, |c| c.max(lsn)));
            self.sample();
        }
    }

    /// `Returning LOGREADY`: the log is in; local recovery.
    pub fn log_ready(&mut self, t: Option<f64>) {
        self.tick(t);
        if matches!(self.stage, Stage::Pages | Stage::Flush | Stage::Log) {
            self.log_cur = self.log_to;
            self.stage = Stage::Recovery;
            self.log_end = self.now;
        }
    }

    /// `Start-up is done`.
    pub fn done(&mut self, t: Option<f64>) {
        self.tick(t);
        self.stage = Stage::Done;
        self.done_at = self.now;
    }

    /// How long the copy took (when done) or has taken so far, from `Update setup`.
    pub fn duration(&self) -> Option<f64> {
        Some(self.done_at.or(self.now)? - self.pages_start?).map(|d| d.max(0.0))
    }

    /// When the copy began and when its start-up was done (stamp seconds).
    pub fn span(&self) -> (Option<f64>, Option<f64>) {
        (self.pages_start, self.done_at)
    }

    /// The copy as rows, one per database file and one per stage after the pages, at `now`
    /// (stamp seconds; the newest stamp when `None`). The numbers are this model's: the same
    /// bytes, rates and time left the percent and the ETA come from.
    pub fn rows(&self, now: Option<f64>) -> Vec<CopyRow> {
        let at = now.or(self.now).map(|t| self.now.map_or(t, |n| t.max(n)));
        let secs = |from: Option<f64>, to: Option<f64>| match (from, to.or(at)) {
            (Some(a), Some(b)) => Some((b - a).max(0.0)),
            _ => None,
        };
        let left = |done: u64, total: u64, rate: Option<f64>| {
            rate.filter(|r| *r > 0.0)
                .map(|r| total.saturating_sub(done) as f64 / r)
        };
        let mut rows: Vec<CopyRow> = self
            .files
            .iter()
            .map(|f| {
                let (bd, bt) = (
                    f.pages_done.saturating_mul(f.pgsize),
                    f.pages_total.saturating_mul(f.pgsize),
                );
                let took = secs(f.started, f.ended);
                let running = f.ended.is_none() && self.stage == Stage::Pages;
                let rate = if running {
                    self.page_rate
                } else {
                    took.filter(|t| *t >= MIN_SPAN_SECS).map(|t| bd as f64 / t)
                };
                CopyRow {
                    stage: "pages",
                    what: format!(
                        "file {} of {}{}",
                        f.number,
                        self.files_total.max(f.number),
                        f.name
                            .as_deref()
                            .map(|n| format!(" {n}"))
                            .unwrap_or_default()
                    ),
                    pages_done: Some(f.pages_done),
                    pages_total: Some(f.pages_total),
                    bytes_done: bd,
                    bytes_total: bt,
                    rate,
                    secs: took,
                    eta_secs: if running { left(bd, bt, rate) } else { None },
                    done: !running,
                }
            })
            .collect();
        if matches!(self.stage, Stage::Pages) {
            return rows;
        }
        let flush_end = self.log_start.or(self.log_end).or(self.done_at);
        rows.push(CopyRow {
            stage: "flush",
            what: "writing the pages to disk".into(),
            pages_done: None,
            pages_total: None,
            bytes_done: 0,
            bytes_total: 0,
            rate: None,
            secs: secs(self.pages_end, flush_end),
            eta_secs: None,
            done: self.stage != Stage::Flush,
        });
        if self.log_start.is_some() || self.log_total() > 0 {
            let (bd, bt) = (self.log_done(), self.log_total());
            let running = self.stage == Stage::Log;
            let took = secs(self.log_start, self.log_end.or(self.done_at));
            let rate = if running {
                self.log_rate
            } else {
                took.filter(|t| *t >= MIN_SPAN_SECS).map(|t| bt as f64 / t)
            };
            rows.push(CopyRow {
                stage: "log",
                what: "catching up the log".into(),
                pages_done: None,
                pages_total: None,
                bytes_done: if running { bd } else { bt },
                bytes_total: bt,
                rate,
                secs: took,
                eta_secs: if running { left(bd, bt, rate) } else { None },
                done: !running,
            });
        }
        if matches!(self.stage, Stage::Recovery | Stage::Done) {
            rows.push(CopyRow {
                stage: "recovery",
                what: "recovering".into(),
                pages_done: None,
                pages_total: None,
                bytes_done: 0,
                bytes_total: 0,
                rate: None,
                secs: secs(self.log_end, self.done_at),
                eta_secs: None,
                done: self.stage == Stage::Done,
            });
        }
        rows
    }

    /// Files of unknown size are still to come: no master sizes, and not every file begun.
    fn sizes_unknown(&self) -> bool {
        self.stage == Stage::Pages
            && self.expected.is_empty()
            && self.files_started < self.files_total
    }

    /// Bytes of the expected files not begun yet.
    fn unannounced(&self) -> u64 {
        if self.expected.is_empty() || self.files_started >= self.files_total {
            return 0;
        }
        let announced = self.done_bytes.saturating_add(self.cur_bytes);
        if self.unnamed || self.started.len() >= NAMES_KEPT {
            let all = self
                .expected
                .values()
                .fold(0u64, |a, b| a.saturating_add(*b));
            return all.saturating_sub(announced);
        }
        self.expected
            .iter()
            .filter(|(name, _)| !self.started.contains(*name))
            .fold(0, |a, (_, b)| a.saturating_add(*b))
    }

    fn page_total(&self) -> u64 {
        self.done_bytes
            .saturating_add(self.cur_bytes)
            .saturating_add(self.unannounced())
    }

    fn page_done(&self) -> u64 {
        self.done_bytes.saturating_add(self.cur_done)
    }

    fn log_total(&self) -> u64 {
        match (self.log_from, self.log_to) {
            (Some(a), Some(b)) => lsn_distance(a, b).max(0) as u64,
            _ => 0,
        }
    }

    fn log_done(&self) -> u64 {
        match (self.log_from, self.log_cur) {
            (Some(a), Some(c)) => (lsn_distance(a, c).max(0) as u64).min(self.log_total()),
            _ => 0,
        }
    }

    /// The bytes done of the current stage (what its rate is measured on).
    fn stage_done(&self) -> u64 {
        match self.stage {
            Stage::Pages => self.page_done(),
            _ => self.log_done(),
        }
    }

    /// Notes a rate sample of the current stage, and the rate it gives.
    fn sample(&mut self) {
        let (Some(t), b) = (self.now, self.stage_done()) else {
            return;
        };
        if self
            .window
            .back()
            .is_some_and(|(t0, _)| t - t0 < SAMPLE_SECS)
        {
            if let Some(last) = self.window.back_mut() {
                last.1 = last.1.max(b);
            }
        } else {
            self.window.push_back((t, b));
        }
        while self.window.len() > SAMPLES_KEPT
            || (self.window.len() > 2
                && self
                    .window
                    .front()
                    .is_some_and(|(t0, _)| t - t0 > RATE_WINDOW_SECS))
        {
            self.window.pop_front();
        }
        let (Some(&(t0, b0)), Some(&(t1, b1))) = (self.window.front(), self.window.back()) else {
            return;
        };
        if t1 - t0 >= MIN_SPAN_SECS && b1 > b0 {
            let recent = (b1 - b0) as f64 / (t1 - t0);
            match self.stage {
                Stage::Pages => self.page_rate = Some(self.blend_page_rate(recent, t, b)),
                Stage::Log => self.log_rate = Some(recent),
                _ => {}
            }
        }
    }

    /// The page rate: the `recent` one blended with the stage's average up to `t` (`done`
    /// bytes since `Update setup`), by [`RECENT_WEIGHT`].
    fn blend_page_rate(&self, recent: f64, t: f64, done: u64) -> f64 {
        let average = self
            .pages_start
            .map(|s| t - s)
            .filter(|span| *span >= MIN_SPAN_SECS)
            .map(|span| done as f64 / span)
            .filter(|r| *r > 0.0);
        match average {
            Some(a) => RECENT_WEIGHT * recent + (1.0 - RECENT_WEIGHT) * a,
            None => recent,
        }
    }

    /// The prior for writing the copied pages out (seconds), from the pages' bytes.
    fn flush_prior(&self) -> f64 {
        FLUSH_SECS_PER_BYTE * self.page_total().min(FLUSH_CACHE_BYTES) as f64
    }

    /// The model's estimate at `now` (seconds on the stamps' clock; the newest stamp when
    /// `None`). A later `now` than the newest line ages the estimate: silence is time passing.
    pub fn estimate(&self, now: Option<f64>) -> Estimate {
        let (page_total, log_total) = (self.page_total(), self.log_total());
        let bytes_total = page_total.saturating_add(log_total);
        let bytes_done = match self.stage {
            Stage::Recovery | Stage::Done => bytes_total,
            _ => self.page_done().saturating_add(self.log_done()),
        };
        let percent = if self.sizes_unknown() {
            None
        } else if bytes_total == 0 {
            Some(0.0)
        } else {
            Some(100.0 * bytes_done as f64 / bytes_total as f64)
        };
        let at = now.or(self.now);
        let eta_secs = match (at, self.now) {
            (Some(at), Some(last)) if percent.is_some() => self.eta(at.max(last), last),
            _ => None,
        };
        Estimate {
            bytes_done,
            bytes_total,
            percent,
            eta_secs: eta_secs.map(|e| e.max(0.0)),
        }
    }

    /// Seconds left at `at`, the newest line being stamped `last`.
    fn eta(&self, at: f64, last: f64) -> Option<f64> {
        if self.stage == Stage::Done {
            return Some(0.0);
        }
        let silent = at - last;
        let log_rate = self.log_rate.or(self.page_rate.map(log_rate_prior));
        let log_left = |rate: f64| self.log_total().saturating_sub(self.log_done()) as f64 / rate;
        let log_time = |rate: f64| self.log_total() as f64 / rate;
        match self.stage {
            Stage::Pages => {
                let (page_rate, log_rate) = (self.page_rate?, log_rate?);
                let page_left =
                    self.page_total().saturating_sub(self.page_done()) as f64 / page_rate;
                let flush = self.flush_prior();
                let recovery = RECOVERY_PER_LOG_TIME * log_time(log_rate);
                Some(page_left + flush + log_left(log_rate) + recovery - silent)
            }
            Stage::Flush => {
                let log_rate = log_rate?;
                let flushed = at - self.pages_end.unwrap_or(last);
                let flush_left = overrun_left(self.flush_prior(), flushed);
                Some(flush_left + log_left(log_rate) + RECOVERY_PER_LOG_TIME * log_time(log_rate))
            }
            Stage::Log => {
                let log_rate = log_rate?;
                let spent = at - self.log_start.unwrap_or(last);
                let left = log_left(log_rate);
                Some(left + RECOVERY_PER_LOG_TIME * (spent + left) - silent)
            }
            Stage::Recovery => {
                let log_time = match (self.log_start, self.log_end) {
                    (Some(a), Some(b)) if b > a => b - a,
                    _ => log_time(log_rate?),
                };
                let recovering = at - self.log_end.unwrap_or(last);
                Some(overrun_left(RECOVERY_PER_LOG_TIME * log_time, recovering))
            }
            Stage::Done => Some(0.0),
        }
    }
}

/// The log stage's rate before it is measured, from the page rate: [`LOG_BYTE_COST`] times
/// slower, but not below [`LOG_RATE_LEAST`] unless the pages themselves came slower (a slow
/// link carries the log no faster than the pages).
fn log_rate_prior(page_rate: f64) -> f64 {
    (page_rate / LOG_BYTE_COST).max(page_rate.min(LOG_RATE_LEAST))
}

/// Seconds left of a silent stage whose `prior` is its expected length, `spent` seconds in:
/// what the prior leaves, and once past it [`OVERRUN_SHARE`] of the time spent.
fn overrun_left(prior: f64, spent: f64) -> f64 {
    let spent = spent.max(0.0);
    (prior - spent).max(OVERRUN_SHARE * spent)
}

/// The database files of a Berkeley DB home and their sizes: every regular file whose first
/// page carries a Berkeley DB metadata magic number (btree, hash, queue or heap, either byte
/// order). Region files, logs, DB_CONFIG and message files have none, so this is the set an
/// internal init copies, told by content rather than by name. Symlinks are not followed.
pub fn database_sizes(home: &Path) -> std::io::Result<BTreeMap<String, u64>> {
    let mut sizes = BTreeMap::new();
    for entry in std::fs::read_dir(home)? {
        let entry = entry?;
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if is_database(&entry.path()) {
            sizes.insert(name, meta.len());
        }
        if sizes.len() >= NAMES_KEPT {
            break;
        }
    }
    Ok(sizes)
}

/// The id [`database_ids`] gives a file it could not read (this user may not): present under
/// its name, its id unknown.
pub const UNREAD_ID: &str = "";

/// The home's database files by name (as [`crate::display::name`] shows it: a name that is not
/// UTF-8 is one too), each with its Berkeley DB file id (the 20 bytes at offset 52 of its
/// metadata page, in hexadecimal): a database and its replica share it, and a copy made with
/// `cp` has it too, whatever either is named. A link is followed (a database moved to another
/// disk and linked back is where its server opens it), by a node's agent too, which otherwise
/// follows no link: only a regular file's file id is read, and only a database's is passed on.
///
/// A file this user may not read that could be a database (not a region file, log, DB_CONFIG or the message file `message_file` by its
/// name) is given [`UNREAD_ID`]: it is there, by name. (Replication writes a replicant's
/// databases mode 0640: a monitoring account outside the server's group read them as
/// missing, and `check` said CRITICAL with the advice of a new initial copy; then, told
/// nothing of them, it missed a database moved away.)
pub fn database_ids(home: &Path, message_file: &str) -> std::io::Result<BTreeMap<String, String>> {
    use crate::dbhome::FileClass;
    let mut ids = BTreeMap::new();
    for entry in std::fs::read_dir(home)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if !(kind.is_file() || kind.is_symlink()) {
            continue;
        }
        let name = crate::display::name(&entry.file_name()).to_string();
        let opened = if kind.is_symlink() {
            crate::fsinfo::open_regular_through_link(&path)
        } else {
            crate::fsinfo::open_regular(&path)
        };
        match opened {
            Ok(mut f) => {
                if let Ok(Some(head)) = crate::dbhead::read(&mut f) {
                    ids.insert(name, head.file_id_hex());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                let class = crate::dbhome::classify(
                    entry.file_name(),
                    crate::dbhome::EntryKind::File,
                    message_file,
                );
                let never_a_database = matches!(
                    class,
                    FileClass::Region
                        | FileClass::Log
                        | FileClass::DbConfig
                        | FileClass::MessageFile
                );
                if !never_a_database {
                    ids.insert(name, UNREAD_ID.to_string());
                }
            }
            Err(_) => {}
        }
        if ids.len() >= NAMES_KEPT {
            break;
        }
    }
    Ok(ids)
}

/// Whether `path` starts with a Berkeley DB metadata page ([`crate::dbhead`]).
fn is_database(path: &Path) -> bool {
    // Opened as a regular file only: a name swapped for a FIFO after the listing must not
    // block the look.
    crate::dbhead::of_file(path).is_ok_and(|h| h.is_some())
}

/// One moment of a replayed copy: what the operator would have been shown then.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// Seconds since the copy began (`Update setup`).
    pub at: f64,
    /// Seconds actually left (to `Start-up is done`).
    pub left: f64,
    /// The percent shown.
    pub percent: Option<f64>,
    /// The time left shown.
    pub eta: Option<f64>,
    /// The verdict shown, in words.
    pub verdict: String,
    /// The verdict's name (`syncing`, `master-down`, …).
    pub verdict_name: &'static str,
}

/// A replayed copy: every [`REPLAY_TICK_SECS`] from the replicant's first message to its
/// `Start-up is done`, what the monitor would have shown from the lines written by then.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// The copy's length, `Update setup` to `Start-up is done` (seconds).
    pub duration: f64,
    /// The moments, in order; `at` is negative before the copy began (connecting).
    pub shown: Vec<Shown>,
}

/// The replay's clock tick: the start-up probe shows a line a second; a finer tick tests more
/// moments.
pub const REPLAY_TICK_SECS: f64 = 0.25;

/// Replays a replicant's message file (its first copy that ends in `Start-up is done`) with
/// the master's database sizes `expected` (may be empty), at the lines' own stamps: the state
/// at time `t` is built from the lines stamped up to `t` and asked for its estimate at `t`.
pub fn replay(text: &str, expected: &BTreeMap<String, u64>, message_file: &str) -> Replay {
    use super::parse::messages;
    use super::state::{NodeState, single};
    let msgs = messages(text);
    let stamp =
        |m: &super::parse::Message| m.secs.map(|s| s as f64 + m.usecs.unwrap_or(0) as f64 / 1e6);
    let (mut begin, mut end, mut first) = (None, None, None);
    for m in &msgs {
        let Some(t) = stamp(m) else { continue };
        first.get_or_insert(t);
        if m.body.starts_with("Update setup for ") && begin.is_none() {
            begin = Some(t);
        }
        if m.body.starts_with("Start-up is done") && begin.is_some() {
            end = Some(t);
            break;
        }
    }
    let (Some(first), Some(begin), Some(end)) = (first, begin, end) else {
        return Replay::default();
    };
    let mut state = NodeState::for_role(Some(crate::dbconfig::Role::Replicant));
    state.set_expected_bytes(expected.clone());
    let mut out = Replay {
        duration: end - begin,
        shown: Vec::new(),
    };
    let mut tick = first;
    let mut last_t = first;
    for m in &msgs {
        let t = stamp(m).unwrap_or(last_t).max(last_t);
        while tick < t && tick < end {
            out.shown.push(shown_at(&state, tick, begin, end, single));
            tick += REPLAY_TICK_SECS;
        }
        state.apply(m, message_file);
        last_t = t;
        if t >= end {
            break;
        }
    }
    out
}

fn shown_at(
    state: &super::state::NodeState,
    tick: f64,
    begin: f64,
    end: f64,
    verdict: fn(&super::state::NodeState) -> super::state::Verdict,
) -> Shown {
    let v = verdict(state);
    let init = &state.init;
    let eta = (init.seen && !state.startup_done)
        .then(|| init.eta_at(tick))
        .flatten();
    Shown {
        at: tick - begin,
        left: end - tick,
        percent: init.seen.then_some(init.percent).flatten(),
        eta,
        verdict: v.describe(),
        verdict_name: v.name(),
    }
}

/// Whether an ETA shown with `left` seconds really left meets the bar: within ±30%, or within
/// 2 s when less than 5 s are left.
pub fn eta_ok(eta: f64, left: f64) -> bool {
    let err = (eta - left).abs();
    err <= 0.3 * left || (left < 5.0 && err <= 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lsn(file: u64, offset: u64) -> Lsn {
        Lsn { file, offset }
    }

    fn sane(m: &CopyModel, at: Option<f64>) {
        let e = m.estimate(at);
        if let Some(p) = e.percent {
            assert!(p.is_finite() && (0.0..=100.0).contains(&p), "{e:?}");
        }
        if let Some(t) = e.eta_secs {
            assert!(t >= 0.0 && !t.is_nan(), "{e:?}");
        }
        assert!(e.bytes_done <= e.bytes_total, "{e:?}");
    }

    /// The numbers come from untrusted text: the largest, zero, stamps going back, a log
    /// range backwards, a name per line by the thousand. No panic, no overflow, percent in
    /// 0..=100, bounded memory.
    #[test]
    fn any_numbers_give_a_sane_estimate() {
        let big = u64::MAX;
        let mut m = CopyModel::with_expected(BTreeMap::from([("a".into(), big), ("b".into(), 0)]));
        m.start(Some(10.0), u64::from(u32::MAX));
        m.log_range(Some(lsn(big, big)), Some(lsn(0, 0)));
        sane(&m, None);
        for (i, (pgsize, maxpg)) in [(big, big), (0, big), (big, 0), (4096, 10)]
            .into_iter()
            .enumerate()
        {
            m.next_file(Some(10.0 + i as f64), pgsize, maxpg);
            m.file_name(&format!("f{i}"));
            m.pages(Some(9.0), big, big);
            m.pages(Some(f64::NAN), 3, 0);
            sane(&m, Some(f64::INFINITY));
            sane(&m, Some(11.0));
        }
        for i in 0..10_000 {
            m.file_name(&format!("name{i}"));
        }
        assert!(m.started.len() <= NAMES_KEPT);
        m.pages_done(Some(20.0));
        m.log_phase(Some(21.0), lsn(big, big), lsn(0, 1));
        for i in 0..10_000u64 {
            m.log_received(Some(21.0 + i as f64 * 0.001), lsn(i, big - i));
        }
        assert!(m.window.len() <= SAMPLES_KEPT);
        sane(&m, Some(40.0));
        m.log_ready(Some(30.0));
        sane(&m, Some(29.0));
        m.done(None);
        assert_eq!(m.estimate(None).eta_secs, Some(0.0));
    }

    /// The flush's prior is the replicant's cache written out, whatever the page time; one that
    /// outlasts it keeps counting: the time left does not stand at the log's while the
    /// replicant is still writing.
    #[test]
    fn a_flush_past_its_prior_keeps_counting() {
        let mut m = CopyModel::default();
        m.start(Some(0.0), 1);
        m.log_range(Some(lsn(1, 500)), Some(lsn(1, 10_000_000)));
        m.next_file(Some(0.1), 4096, 184_338);
        m.file_name("volumes.db");
        for i in 1..=20u64 {
            m.pages(Some(i as f64), i * 9_000, 184_339);
        }
        m.pages_done(Some(20.5));
        let prior = FLUSH_SECS_PER_BYTE * FLUSH_CACHE_BYTES as f64;
        assert!((1.0..2.0).contains(&prior), "{prior}");
        let at = |t: f64| m.estimate(Some(t)).eta_secs.unwrap();
        let log_and_recovery = at(20.5) - prior;
        assert!(
            at(20.5 + prior / 2.0) < at(20.5) - prior / 3.0,
            "the prior counts down"
        );
        assert!(
            at(24.5) > log_and_recovery + 1.9,
            "4 s into a flush, 2 s more are expected: {} vs {log_and_recovery}",
            at(24.5)
        );
    }

    /// Bytes, not files: three tiny files done of four, the fourth big and announced by the
    /// master's sizes, is a fraction of a percent; the fourth's pages move it.
    #[test]
    fn percent_weighs_bytes() {
        let sizes = BTreeMap::from([
            ("customers.db".into(), 8192),
            ("media.db".into(), 8192),
            ("volumes.db".into(), 226_521_088),
        ]);
        let mut m = CopyModel::with_expected(sizes);
        m.start(Some(0.0), 4);
        for (i, (name, pgsize, maxpg)) in [
            ("customers.db", 4096, 1),
            ("media.db", 4096, 1),
            ("__db.rep.system", 1024, 5),
        ]
        .into_iter()
        .enumerate()
        {
            m.next_file(Some(i as f64 * 0.04), pgsize, maxpg);
            m.file_name(name);
            m.pages(Some(i as f64 * 0.04 + 0.01), maxpg + 1, maxpg + 1);
        }
        let p = m.estimate(None).percent.unwrap();
        assert!(p < 0.1, "{p}");
        m.next_file(Some(0.2), 4096, 55_302);
        m.file_name("volumes.db");
        m.pages(Some(2.2), 27_651, 55_303);
        let e = m.estimate(None);
        assert!((49.0..51.0).contains(&e.percent.unwrap()), "{e:?}");
        assert!(e.eta_secs.is_some(), "{e:?}");
    }
}
