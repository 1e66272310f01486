//! The compare itself, as TapeTrack's synchronisation program reads records: each record of
//! the source in turn; on the first and at each change of Customer/Media scope, the other
//! side's Volumes of that scope into the cache; equal, differing (by field), missing; at the
//! end, the other side's Volumes nothing matched (extra) and the statistics. It only reads.

use super::VerifyError;
use super::cache::ScopeCache;
use super::record::{Record, Scope, ScopeFilter};
use super::stats::{Difference, DifferenceKind, Stats};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where records come from, one at a time, in the order to compare them.
pub trait Source {
    /// The next record; `None` after the last.
    fn next_record(&mut self) -> Result<Option<Record>, VerifyError>;
}

/// The other side, read a scope at a time.
pub trait ScopeLoader {
    /// Every Volume the other side holds in `scope`.
    fn load(&mut self, scope: &Scope) -> Result<Vec<Record>, VerifyError>;
    /// Every scope the other side holds a Volume in (for the Volumes only it has).
    fn scopes(&mut self) -> Result<Vec<Scope>, VerifyError>;
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Differences kept with their details (the rest are counted only).
    pub keep: usize,
    /// Only this scope (`--scope`).
    pub filter: Option<ScopeFilter>,
    /// Scopes the source is expected to hold, when known (for the ETA).
    pub total_scopes: Option<u64>,
    /// How often progress is reported.
    pub progress_every: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            keep: 100_000,
            filter: None,
            total_scopes: None,
            progress_every: Duration::from_millis(250),
        }
    }
}

/// Where a long compare is.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Progress {
    /// Records read so far.
    pub records: u64,
    /// Scopes met so far.
    pub scopes: u64,
    /// Cache loads so far.
    pub cache_loads: u64,
    /// Records per second so far.
    pub rate: f64,
    /// Scopes expected in all, when known.
    pub total_scopes: Option<u64>,
    /// Seconds to go at this pace (scopes done per second), when the total is known.
    pub eta_secs: Option<f64>,
}

impl Progress {
    /// One line for people: `verify: 1,234,567 records, 120 scopes of 300, 120 cache loads,
    /// 52,000 records/s, ETA 20 s (Ctrl-C stops)`.
    pub fn describe(&self) -> String {
        use super::stats::thousands;
        let (of, eta) = match (self.eta_secs, self.total_scopes) {
            (Some(e), Some(t)) => (format!(" of {}", thousands(t)), format!(", ETA {e:.0} s")),
            _ => (String::new(), String::new()),
        };
        format!(
            "verify: {} records, {} scopes{of}, {} cache loads, {} records/s{eta} (Ctrl-C stops)",
            thousands(self.records),
            thousands(self.scopes),
            thousands(self.cache_loads),
            thousands(self.rate as u64)
        )
    }
}

/// What a run found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The statistics.
    pub stats: Stats,
    /// The differences kept (at most [`Options::keep`]), scope and volume order.
    pub differences: Vec<Difference>,
    /// Differences counted but not kept.
    pub not_kept: u64,
    /// True when the run was interrupted: the numbers cover what was read until then.
    pub interrupted: bool,
}

/// Compares `source` with `other`. `progress` is called now and then; setting `stop` ends the
/// run cleanly at the next record (the outcome says it was interrupted).
pub fn run(
    source: &mut dyn Source,
    other: &mut dyn ScopeLoader,
    opts: &Options,
    progress: &mut dyn FnMut(&Progress),
    stop: &AtomicBool,
) -> Result<Outcome, VerifyError> {
    let started = Instant::now();
    let mut run = Run {
        opts,
        stats: Stats::default(),
        cache: ScopeCache::default(),
        differences: Vec::new(),
        not_kept: 0,
        seen: HashMap::new(),
    };
    let mut last_report = Instant::now();
    let mut interrupted = false;
    loop {
        let record = match source.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            // A stop ends a read that waited (a silent server, a command): what was read stands.
            Err(_) if stop.load(Ordering::Relaxed) => {
                interrupted = true;
                break;
            }
            Err(e) => return Err(e),
        };
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        if opts
            .filter
            .as_ref()
            .is_some_and(|f| !record.scope.within(f))
        {
            continue;
        }
        run.one(record, other)?;
        if last_report.elapsed() >= opts.progress_every {
            last_report = Instant::now();
            progress(&run.progress(started));
        }
    }
    if !interrupted {
        run.finish(other)?;
        run.stats.check_accounted()?;
    }
    let mut stats = run.stats;
    stats.elapsed_secs = started.elapsed().as_secs_f64();
    stats.rate = rate(stats.records_read, stats.elapsed_secs);
    let mut differences = run.differences;
    differences.sort_by(|a, b| (&a.scope, &a.volume).cmp(&(&b.scope, &b.volume)));
    Ok(Outcome {
        stats,
        differences,
        not_kept: run.not_kept,
        interrupted,
    })
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

struct Run<'a> {
    opts: &'a Options,
    stats: Stats,
    cache: ScopeCache,
    differences: Vec<Difference>,
    not_kept: u64,
    /// The source's records of this visit of the current scope: each with the other side's
    /// record it met and whether they were equal (for a repeat with another value).
    seen: HashMap<String, (Record, Option<Record>, bool)>,
}

impl Run<'_> {
    /// One source record: load its scope when it changed, then compare.
    fn one(&mut self, record: Record, other: &mut dyn ScopeLoader) -> Result<(), VerifyError> {
        self.stats.records_read += 1;
        if self.cache.current() != Some(&record.scope) {
            self.load(&record.scope, other)?;
        }
        let theirs = self.cache.take(&record.volume);
        if theirs.is_none() && self.cache.taken_here(&record.volume) {
            // The source repeats a Volume of this scope: counted once, and said.
            self.stats.repeated += 1;
            self.repeat(record);
            return Ok(());
        }
        let equal = match Difference::between(Some(&record), theirs.as_ref()) {
            None => {
                self.stats.equal += 1;
                true
            }
            Some(d) => {
                self.note(d);
                false
            }
        };
        self.seen
            .insert(record.volume.clone(), (record, theirs, equal));
        Ok(())
    }

    /// A source record repeating a Volume of this visit: with the same value it is only
    /// counted; with another value the Volume is a difference (both values shown), never the
    /// last one silently compared.
    fn repeat(&mut self, record: Record) {
        let Some((first, theirs, equal)) = self.seen.get_mut(&record.volume) else {
            return;
        };
        if first.same_fields(&record) {
            return;
        }
        *first = first.merged(&record);
        if std::mem::replace(equal, false) {
            let d = Difference::between(Some(&*first), theirs.as_ref());
            self.stats.equal -= 1;
            if let Some(d) = d {
                self.note(d);
            }
        }
    }

    fn load(&mut self, scope: &Scope, other: &mut dyn ScopeLoader) -> Result<(), VerifyError> {
        let records = other.load(scope)?;
        if !self.cache.visited(scope) {
            self.stats.scopes += 1;
        }
        self.stats.cache_loads += 1;
        self.stats.cached_volumes += records.len() as u64;
        self.stats.repeated_other += self.cache.enter(scope.clone(), records);
        self.seen.clear();
        Ok(())
    }

    fn note(&mut self, d: Difference) {
        self.stats.count(&d.kind, 1);
        if self.differences.len() < self.opts.keep {
            self.differences.push(d);
        } else {
            self.not_kept += 1;
        }
    }

    /// The end: the other side's scopes the source never reached, what no record matched
    /// (extra), and a Volume missing in one scope and extra in another (it moved) as one
    /// difference by field.
    fn finish(&mut self, other: &mut dyn ScopeLoader) -> Result<(), VerifyError> {
        self.cache.leave();
        let mut theirs = other.scopes()?;
        theirs.sort();
        for scope in theirs {
            let wanted = self.opts.filter.as_ref().is_none_or(|f| scope.within(f));
            if wanted && !self.cache.visited(&scope) {
                self.load(&scope, other)?;
            }
        }
        for r in self.cache.finish() {
            self.note(Difference::between(None, Some(&r)).expect("one side"));
        }
        self.pair_moved();
        Ok(())
    }

    fn pair_moved(&mut self) {
        pair_moved(&mut self.differences, &mut self.stats);
    }

    fn progress(&self, started: Instant) -> Progress {
        let secs = started.elapsed().as_secs_f64();
        let r = rate(self.stats.records_read, secs);
        let total = self.opts.total_scopes;
        let done = self.stats.scopes;
        Progress {
            records: self.stats.records_read,
            scopes: done,
            cache_loads: self.stats.cache_loads,
            rate: r,
            total_scopes: total,
            eta_secs: total
                .filter(|_| done > 0)
                .map(|t| t.saturating_sub(done) as f64 * secs / done as f64),
        }
    }
}

/// A Volume kept as missing (the master's record) and as extra (the replicant's, in another
/// scope) is one Volume whose Customer or Media differs: one difference by field.
pub fn pair_moved(differences: &mut Vec<Difference>, stats: &mut Stats) {
    let mut extra: HashMap<String, Record> = differences
        .iter()
        .filter(|d| d.kind == DifferenceKind::Extra)
        .filter_map(|d| Some((d.volume.clone(), d.replicant.clone()?)))
        .collect();
    let moved: HashSet<String> = differences
        .iter()
        .filter(|d| d.kind == DifferenceKind::Missing && extra.contains_key(&d.volume))
        .map(|d| d.volume.clone())
        .collect();
    if moved.is_empty() {
        return;
    }
    let mut kept = Vec::with_capacity(differences.len());
    for d in differences.drain(..) {
        if !moved.contains(&d.volume) {
            kept.push(d);
            continue;
        }
        stats.count(&d.kind, -1);
        if d.kind != DifferenceKind::Missing {
            continue;
        }
        let theirs = extra.remove(&d.volume);
        if let Some(paired) = Difference::between(d.master.as_ref(), theirs.as_ref()) {
            stats.count(&paired.kind, 1);
            kept.push(paired);
        } else {
            stats.equal += 1;
        }
    }
    *differences = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vecs(std::vec::IntoIter<Record>);
    impl Source for Vecs {
        fn next_record(&mut self) -> Result<Option<Record>, VerifyError> {
            Ok(self.0.next())
        }
    }
    struct Side(Vec<Record>);
    impl ScopeLoader for Side {
        fn load(&mut self, scope: &Scope) -> Result<Vec<Record>, VerifyError> {
            Ok(self
                .0
                .iter()
                .filter(|r| &r.scope == scope)
                .cloned()
                .collect())
        }
        fn scopes(&mut self) -> Result<Vec<Scope>, VerifyError> {
            let mut s: Vec<Scope> = self.0.iter().map(|r| r.scope.clone()).collect();
            s.sort();
            s.dedup();
            Ok(s)
        }
    }
    fn rec(scope: &str, v: &str, status: &str) -> Record {
        Record::new(
            Scope::parse(scope),
            v.into(),
            vec![("status".into(), status.into())],
        )
    }

    fn compare(a: Vec<Record>, b: Vec<Record>) -> Outcome {
        run(
            &mut Vecs(a.into_iter()),
            &mut Side(b),
            &Options::default(),
            &mut |_| {},
            &AtomicBool::new(false),
        )
        .unwrap()
    }

    #[test]
    fn equal_differing_missing_extra_and_moved_are_told_apart() {
        let master = vec![
            rec("A/M", "V1", "on"),
            rec("A/M", "V2", "on"),
            rec("A/M", "V3", "on"),
            rec("B/M", "V5", "on"),
        ];
        let replicant = vec![
            rec("A/M", "V1", "on"),
            rec("A/M", "V2", "off"),
            rec("A/M", "V4", "on"),
            rec("C/M", "V5", "on"),
            rec("D/M", "V6", "on"),
        ];
        let o = compare(master, replicant);
        let s = &o.stats;
        assert_eq!(
            (s.records_read, s.equal, s.differing, s.missing, s.extra),
            (4, 1, 2, 1, 2)
        );
        assert_eq!(s.scopes, 4, "A, B, and C and D only the replicant has");
        assert_eq!(s.cache_loads, s.scopes);
        assert_eq!(s.differing_fields.get("status"), Some(&1));
        assert_eq!(s.differing_fields.get("scope"), Some(&1));
        let lines: Vec<String> = o.differences.iter().map(Difference::describe).collect();
        assert!(
            lines.contains(&"A/M V2: status on -> off".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"A/M V3: missing on the replicant".to_string()),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("D/M V6: extra")),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"B/M V5 (on the replicant in C/M): scope B/M -> C/M".to_string()),
            "{lines:?}"
        );
    }

    #[test]
    fn an_unsorted_source_reloads_scopes_and_is_warned_about() {
        let master = vec![
            rec("A/M", "V1", "on"),
            rec("B/M", "V2", "on"),
            rec("A/M", "V3", "on"),
        ];
        let o = compare(master.clone(), master);
        assert!(o.stats.all_equal(), "{:?}", o.stats);
        assert_eq!((o.stats.scopes, o.stats.cache_loads), (2, 3));
        assert!(o.stats.order_warning().unwrap().contains("Sort the source"));
        let sorted = vec![
            rec("A/M", "V1", "on"),
            rec("A/M", "V3", "on"),
            rec("B/M", "V2", "on"),
        ];
        let o = compare(sorted.clone(), sorted);
        assert_eq!(o.stats.order_warning(), None);
    }

    #[test]
    fn a_volume_the_source_repeats_is_counted_once_and_said() {
        let master = vec![
            rec("A/M", "V1", "on"),
            rec("A/M", "V1", "on"),
            rec("A/M", "V2", "on"),
        ];
        let o = compare(master, vec![rec("A/M", "V1", "on"), rec("A/M", "V2", "on")]);
        assert!(o.stats.all_equal(), "{:?}", o.stats);
        assert_eq!((o.stats.equal, o.stats.repeated), (2, 1));
        assert!(o.stats.repeat_warning().unwrap().contains("1 record"));
    }

    #[test]
    fn a_stop_ends_the_run_as_interrupted() {
        let stop = AtomicBool::new(true);
        let o = run(
            &mut Vecs(vec![rec("A/M", "V1", "on")].into_iter()),
            &mut Side(vec![]),
            &Options::default(),
            &mut |_| {},
            &stop,
        )
        .unwrap();
        assert!(o.interrupted);
        assert_eq!(o.stats.extra, 0, "no end-of-run extras from a partial read");
    }
}
