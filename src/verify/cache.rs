//! The scope cache: the other side's Volumes of the scope being compared, loaded whole on the
//! first record and at each change of scope, and the bookkeeping that keeps "extra" exact when
//! a source returns to a scope it left (unsorted input).

use super::record::{Record, Scope};
use std::collections::{HashMap, HashSet};

/// The other side's Volumes of the current scope, and what earlier visits left unmatched.
#[derive(Default)]
pub struct ScopeCache {
    current: Option<Scope>,
    entries: HashMap<String, Record>,
    /// Volumes taken during this visit of the current scope (a second record of one is a
    /// repeat in the source, not a Volume the other side lacks).
    taken: HashSet<String>,
    /// Scopes loaded at least once.
    visited: HashSet<Scope>,
    /// Per scope left: the other side's Volumes no source record has matched yet.
    unmatched: HashMap<Scope, HashMap<String, Record>>,
}

impl ScopeCache {
    /// The scope loaded now, if any.
    pub fn current(&self) -> Option<&Scope> {
        self.current.as_ref()
    }

    /// True when `scope` has been loaded before.
    pub fn visited(&self, scope: &Scope) -> bool {
        self.visited.contains(scope)
    }

    /// Every scope loaded so far.
    pub fn visited_scopes(&self) -> &HashSet<Scope> {
        &self.visited
    }

    /// Leaves the current scope and holds `records` (the other side's Volumes of `scope`).
    /// A Volume listed twice is held once, both values merged ([`Record::merged`]) when they
    /// differ; the number of such repeats is returned (never a silent last-wins).
    pub fn enter(&mut self, scope: Scope, records: Vec<Record>) -> u64 {
        self.leave();
        let mut repeats = 0;
        self.entries = HashMap::with_capacity(records.len());
        for r in records {
            match self.entries.get_mut(&r.volume) {
                Some(first) => {
                    repeats += 1;
                    if !first.same_fields(&r) {
                        *first = first.merged(&r);
                    }
                }
                None => {
                    self.entries.insert(r.volume.clone(), r);
                }
            }
        }
        self.taken.clear();
        self.visited.insert(scope.clone());
        self.current = Some(scope);
        repeats
    }

    /// Takes the other side's Volume `volume` of the current scope (each is taken once).
    pub fn take(&mut self, volume: &str) -> Option<Record> {
        let found = self.entries.remove(volume)?;
        self.taken.insert(volume.to_string());
        if let Some(scope) = &self.current
            && let Some(left) = self.unmatched.get_mut(scope)
        {
            left.remove(volume);
        }
        Some(found)
    }

    /// True when `volume` was already taken during this visit of the current scope.
    pub fn taken_here(&self, volume: &str) -> bool {
        self.taken.contains(volume)
    }

    /// Leaves the current scope: what it left untaken stays unmatched only if no earlier
    /// visit matched it either.
    pub fn leave(&mut self) {
        let Some(scope) = self.current.take() else {
            return;
        };
        let left = std::mem::take(&mut self.entries);
        match self.unmatched.get_mut(&scope) {
            Some(before) => before.retain(|v, _| left.contains_key(v)),
            None => {
                self.unmatched.insert(scope, left);
            }
        }
    }

    /// Leaves the current scope and returns every Volume of the other side no source record
    /// matched (sorted by scope and volume).
    pub fn finish(&mut self) -> Vec<Record> {
        self.leave();
        let mut out: Vec<Record> = self
            .unmatched
            .drain()
            .flat_map(|(_, m)| m.into_values())
            .collect();
        out.sort_by(|a, b| (&a.scope, &a.volume).cmp(&(&b.scope, &b.volume)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str, v: &str) -> Record {
        Record::new(Scope::parse(s), v.into(), vec![])
    }

    #[test]
    fn a_revisited_scope_counts_as_extra_only_what_no_visit_matched() {
        let mut c = ScopeCache::default();
        let a = || vec![rec("C/M", "V1"), rec("C/M", "V2"), rec("C/M", "V3")];
        c.enter(Scope::parse("C/M"), a());
        assert!(c.take("V1").is_some());
        c.enter(Scope::parse("C/N"), vec![rec("C/N", "V9")]);
        assert!(c.visited(&Scope::parse("C/M")));
        c.enter(Scope::parse("C/M"), a());
        assert!(c.take("V2").is_some());
        let extra: Vec<String> = c.finish().into_iter().map(|r| r.volume).collect();
        assert_eq!(extra, ["V3", "V9"]);
    }
}
