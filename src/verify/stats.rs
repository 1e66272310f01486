//! What a compare found: the counts at the end of a run, and each difference by field.

use super::record::{Record, Scope};
use serde::Serialize;
use std::collections::BTreeMap;

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDiff {
    /// The field's name.
    pub field: String,
    /// Its value on the master (the source); `None` when that side lacks the field.
    pub master: Option<String>,
    /// Its value on the replicant (the other side).
    pub replicant: Option<String>,
}

/// How a Volume differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "fields")]
pub enum DifferenceKind {
    /// Both hold it, with these fields different.
    Differs(Vec<FieldDiff>),
    /// The master holds it, the replicant does not.
    Missing,
    /// The replicant holds it, the master does not.
    Extra,
}

/// One Volume that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Its scope (the master's, when the master holds it).
    #[serde(serialize_with = "scope_text")]
    pub scope: Scope,
    /// The replicant's scope for it, when both hold it in different scopes.
    #[serde(
        serialize_with = "opt_scope_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub replicant_scope: Option<Scope>,
    /// The Volume id.
    pub volume: String,
    /// How it differs.
    #[serde(flatten)]
    pub kind: DifferenceKind,
    /// The master's record, when it holds one.
    #[serde(skip)]
    pub master: Option<Record>,
    /// The replicant's record, when it holds one.
    #[serde(skip)]
    pub replicant: Option<Record>,
}

fn scope_text<S: serde::Serializer>(s: &Scope, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&s.to_string())
}

fn opt_scope_text<S: serde::Serializer>(s: &Option<Scope>, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        Some(s) => ser.serialize_str(&s.to_string()),
        None => ser.serialize_none(),
    }
}

impl Difference {
    /// How `master` and `replicant` (the same Volume id, either may be absent) differ;
    /// `None` when they are equal (or both absent). Two records of one Volume in different
    /// scopes differ in the fields that make the scope.
    pub fn between(master: Option<&Record>, replicant: Option<&Record>) -> Option<Difference> {
        let kind = match (master, replicant) {
            (None, None) => return None,
            (Some(_), None) => DifferenceKind::Missing,
            (None, Some(_)) => DifferenceKind::Extra,
            (Some(m), Some(r)) if m.scope == r.scope && m.same_value(r) => return None,
            (Some(m), Some(r)) => {
                let mut fields = field_diffs(m, r);
                if m.scope != r.scope && fields.is_empty() {
                    fields.push(FieldDiff {
                        field: "scope".into(),
                        master: Some(m.scope.to_string()),
                        replicant: Some(r.scope.to_string()),
                    });
                }
                if fields.is_empty() && !m.same_words(r) {
                    fields.push(FieldDiff {
                        field: "value (spacing)".into(),
                        master: m.raw.clone(),
                        replicant: r.raw.clone(),
                    });
                }
                if fields.is_empty() {
                    return None;
                }
                DifferenceKind::Differs(fields)
            }
        };
        let first = master.or(replicant)?;
        Some(Difference {
            scope: first.scope.clone(),
            replicant_scope: master
                .zip(replicant)
                .filter(|(m, r)| m.scope != r.scope)
                .map(|(_, r)| r.scope.clone()),
            volume: first.volume.clone(),
            kind,
            master: master.cloned(),
            replicant: replicant.cloned(),
        })
    }

    /// One line for people: `C00001/LTO-7 V0000012: status onsite → offsite`.
    pub fn describe(&self) -> String {
        // Each value by the one rule on its own: a value's newline or control byte is shown
        // escaped, never laid out (a CSV source can carry either inside a quoted field), and
        // its white space at either end too (`active ` and `active` must not look alike
        // beside ` -> `).
        let shown = |v: &str| crate::display::escape_bytes(v.as_bytes());
        let what = match &self.kind {
            DifferenceKind::Missing => "missing on the replicant".to_string(),
            DifferenceKind::Extra => {
                "extra on the replicant (the master has no such Volume)".to_string()
            }
            DifferenceKind::Differs(fields) => fields
                .iter()
                .map(|f| {
                    format!(
                        "{} {} -> {}",
                        shown(&f.field),
                        f.master.as_deref().map_or("(none)".into(), shown),
                        f.replicant.as_deref().map_or("(none)".into(), shown)
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        let moved = self
            .replicant_scope
            .as_ref()
            .map(|r| format!(" (on the replicant in {})", shown(&r.to_string())))
            .unwrap_or_default();
        format!(
            "{} {}{moved}: {what}",
            shown(&self.scope.to_string()),
            shown(&self.volume)
        )
    }
}

/// The fields of two records that differ, in name order (both are sorted by name).
fn field_diffs(m: &Record, r: &Record) -> Vec<FieldDiff> {
    let (mf, rf) = (m.fields_list(), r.fields_list());
    let find = |fields: &[(String, String)], name: &str| {
        fields
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| fields[i].1.clone())
    };
    let mut names: Vec<&str> = mf
        .iter()
        .chain(rf.iter())
        .map(|(n, _)| n.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| {
            let (a, b) = (find(&mf, n), find(&rf, n));
            (a != b).then(|| FieldDiff {
                field: n.to_string(),
                master: a,
                replicant: b,
            })
        })
        .collect()
}

/// The statistics of a run (TapeTrack's tools print theirs at the last record).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Records read from the source.
    pub records_read: u64,
    /// Distinct Customer/Media scopes met (on either side).
    pub scopes: u64,
    /// Times a scope's Volumes were loaded into the cache.
    pub cache_loads: u64,
    /// Volumes loaded into the cache, in all.
    pub cached_volumes: u64,
    /// Volumes equal on both sides.
    pub equal: u64,
    /// Volumes both hold, with fields different.
    pub differing: u64,
    /// Differing Volumes per field.
    pub differing_fields: BTreeMap<String, u64>,
    /// Volumes the master holds and the replicant lacks.
    pub missing: u64,
    /// Volumes the replicant holds and the master lacks.
    pub extra: u64,
    /// Source records that repeat a Volume already read in the same scope (counted once).
    pub repeated: u64,
    /// Records of the other side (the replicant) that repeat a Volume of the same scope.
    pub repeated_other: u64,
    /// Differences read again after the first pass (replication is live).
    pub rechecked: u64,
    /// How the re-read waited: `caught_up` (the replicant had applied the master's log
    /// position of the first read), `timed_out` (the bounded wait ended first),
    /// `not_running` (replication does not run: read again once, at once), or `none`.
    pub recheck: &'static str,
    /// Of those, how many had gone when read again (the replicant had caught up).
    pub settled: u64,
    /// Records the master's stream read whose Volume the master no longer held where it was
    /// read again (moved away or deleted during the compare; a copy the replicant still holds
    /// there is reported as extra).
    pub gone: u64,
    /// Differences the re-read found on Volumes the master's stream did not read there (an
    /// extra the master holds by the re-read, moved in during the compare).
    pub found_on_reread: u64,
    /// Seconds the run took.
    pub elapsed_secs: f64,
    /// Records read per second.
    pub rate: f64,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            records_read: 0,
            scopes: 0,
            cache_loads: 0,
            cached_volumes: 0,
            equal: 0,
            differing: 0,
            differing_fields: BTreeMap::new(),
            missing: 0,
            extra: 0,
            repeated: 0,
            repeated_other: 0,
            rechecked: 0,
            recheck: "none",
            settled: 0,
            gone: 0,
            found_on_reread: 0,
            elapsed_secs: 0.0,
            rate: 0.0,
        }
    }
}

impl Stats {
    /// True when nothing differs.
    pub fn all_equal(&self) -> bool {
        self.differing == 0 && self.missing == 0 && self.extra == 0
    }

    /// Every record read ends as equal, differing, missing, a repeat or (after the re-read)
    /// gone, and the differing and missing also count what only the re-read found: an error
    /// (exit 2) when the numbers do not add up, never a result built on a record that went
    /// uncounted. Checked after the compare and again after the re-read.
    pub fn check_accounted(&self) -> Result<(), super::VerifyError> {
        let ended = self.equal + self.differing + self.missing + self.repeated + self.gone;
        let read = self.records_read + self.found_on_reread;
        if read == ended {
            return Ok(());
        }
        Err(super::VerifyError::new(format!(
            "internal check failed: {} records read and {} differences found by the re-read, but {ended} accounted for (equal {}, differing {}, missing {}, repeated {}, gone {}); the result cannot be trusted: report this as a bug with the --json output",
            self.records_read,
            self.found_on_reread,
            self.equal,
            self.differing,
            self.missing,
            self.repeated,
            self.gone
        )))
    }

    /// Counts one difference (or, `sign` -1, takes it back).
    pub fn count(&mut self, kind: &DifferenceKind, sign: i64) {
        let add = |n: &mut u64| *n = n.saturating_add_signed(sign);
        match kind {
            DifferenceKind::Missing => add(&mut self.missing),
            DifferenceKind::Extra => add(&mut self.extra),
            DifferenceKind::Differs(fields) => {
                add(&mut self.differing);
                for f in fields {
                    add(self.differing_fields.entry(f.field.clone()).or_default());
                }
                self.differing_fields.retain(|_, n| *n > 0);
            }
        }
    }

    /// The statistics as (label, value) rows, for any front-end's table.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let fields = if self.differing_fields.is_empty() {
            String::new()
        } else {
            let each: Vec<String> = self
                .differing_fields
                .iter()
                .map(|(f, n)| format!("{f}: {}", thousands(*n)))
                .collect();
            format!(" ({})", each.join(", "))
        };
        let mut rows = vec![
            ("records read", thousands(self.records_read)),
            ("scopes", thousands(self.scopes)),
            ("cache loads", thousands(self.cache_loads)),
            ("equal", thousands(self.equal)),
            (
                "differing",
                format!("{}{fields}", thousands(self.differing)),
            ),
            ("missing on the replicant", thousands(self.missing)),
            ("extra on the replicant", thousands(self.extra)),
        ];
        if self.repeated > 0 {
            rows.push(("repeated in the source", thousands(self.repeated)));
        }
        if self.repeated_other > 0 {
            rows.push(("repeated on the replicant", thousands(self.repeated_other)));
        }
        if self.gone > 0 {
            rows.push(("gone before the re-read", thousands(self.gone)));
        }
        if self.found_on_reread > 0 {
            rows.push(("found by the re-read", thousands(self.found_on_reread)));
        }
        rows.push((
            "read again",
            format!(
                "{} ({} had caught up)",
                thousands(self.rechecked),
                thousands(self.settled)
            ),
        ));
        rows.push((
            "elapsed",
            format!(
                "{:.1} s, {} records/s",
                self.elapsed_secs,
                thousands(self.rate as u64)
            ),
        ));
        rows
    }

    /// The warning when Volumes the master's stream read were deleted from both servers
    /// before the re-read.
    pub fn gone_warning(&self) -> Option<String> {
        (self.gone > 0).then(|| {
            format!(
                "{} Volume(s) the master's stream read had moved away or been deleted on the master by the time they were read again (written to during the compare): not compared where they are now; a copy the replicant still holds where they were is shown as extra. Run verify again on a quieter pair to compare them",
                thousands(self.gone)
            )
        })
    }

    /// The warning when the source repeats Volumes.
    pub fn repeat_warning(&self) -> Option<String> {
        (self.repeated > 0).then(|| {
            format!(
                "{} record(s) of the source repeat a Volume already read in the same scope: each Volume was compared once; check the export",
                self.repeated
            )
        })
    }

    /// The warning when the other side repeats Volumes.
    pub fn repeat_other_warning(&self) -> Option<String> {
        (self.repeated_other > 0).then(|| {
            format!(
                "{} record(s) of the replicant's side repeat a Volume of the same scope: a Volume read twice with different values is reported as differing (both values shown); check the export",
                self.repeated_other
            )
        })
    }

    /// The warning when the source's order made the cache load a scope more than once.
    pub fn order_warning(&self) -> Option<String> {
        (self.cache_loads > self.scopes).then(|| {
            format!(
                "the source is not in Customer/Media order: {} cache loads for {} scopes (each scope is loaded again whenever the source returns to it). Sort the source by Customer, Media and Volume first: each scope is then loaded once",
                self.cache_loads, self.scopes
            )
        })
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_name_each_differing_field_and_numbers_are_grouped() {
        let mut s = Stats {
            records_read: 1_234_567,
            ..Stats::default()
        };
        let d = Difference::between(
            Some(&Record::from_value(
                Scope::new("C", "M"),
                "V1".into(),
                "a=1 b=2".into(),
            )),
            Some(&Record::from_value(
                Scope::new("C", "M"),
                "V1".into(),
                "b=3 a=1".into(),
            )),
        )
        .unwrap();
        s.count(&d.kind, 1);
        let rows = s.rows();
        assert_eq!(rows[0], ("records read", "1,234,567".to_string()));
        assert!(
            rows.contains(&("differing", "1 (b: 1)".to_string())),
            "{rows:?}"
        );
        let same_words = Difference::between(
            Some(&Record::from_value(
                Scope::new("C", "M"),
                "V1".into(),
                "a=1 b=2".into(),
            )),
            Some(&Record::from_value(
                Scope::new("C", "M"),
                "V1".into(),
                "b=2 a=1".into(),
            )),
        );
        assert_eq!(
            same_words, None,
            "the same fields in another order are equal"
        );
        let odd = Difference::between(
            Some(&Record::from_value(
                Scope::new("C", "M"),
                "V\n2".into(),
                "a=x\u{1b}[2J".into(),
            )),
            Some(&Record::from_value(
                Scope::new("C", "M"),
                "V\n2".into(),
                "a=y".into(),
            )),
        )
        .unwrap();
        let line = odd.describe();
        assert!(
            !line.contains('\n') && !line.contains('\u{1b}') && line.contains("V\\x0a2"),
            "one escaped line: {line:?}"
        );
        // A value's white space at either end is shown, each value on its own.
        let spaced = Difference::between(
            Some(&Record::new(
                Scope::new("C", "M"),
                "V3".into(),
                vec![("LOCATION".into(), "active ".into())],
            )),
            Some(&Record::new(
                Scope::new("C", "M"),
                "V3".into(),
                vec![("LOCATION".into(), " active".into())],
            )),
        )
        .unwrap();
        assert_eq!(
            spaced.describe(),
            "C/M V3: LOCATION active\\x20 -> \\x20active"
        );
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
    }
}
