//! A Volume as the compare sees it: its scope (Customer and Media), its id, and the fields
//! that are compared.

use std::fmt;

/// A Customer/Media scope: TapeTrack keeps Volumes by Customer, then Media, then Volume id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Scope {
    /// The Customer id (empty when the record names none).
    pub customer: String,
    /// The Media id (empty when the record names none).
    pub media: String,
}

impl Scope {
    /// A scope of `customer` and `media`.
    pub fn new(customer: &str, media: &str) -> Scope {
        Scope {
            customer: customer.to_string(),
            media: media.to_string(),
        }
    }

    /// Parses `CUSTOMER/MEDIA` (the server's spelling; `CUSTOMER` alone has an empty media).
    pub fn parse(text: &str) -> Scope {
        match text.split_once('/') {
            Some((c, m)) => Scope::new(c, m),
            None => Scope::new(text, ""),
        }
    }

    /// True when this scope lies within `filter` (`--scope CUSTOMER[/MEDIA]`).
    pub fn within(&self, filter: &ScopeFilter) -> bool {
        self.customer == filter.customer && filter.media.as_ref().is_none_or(|m| *m == self.media)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.customer, self.media)
    }
}

/// `--scope CUSTOMER[/MEDIA]`: one customer, or one of its media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeFilter {
    /// The customer.
    pub customer: String,
    /// The media, when one is given.
    pub media: Option<String>,
}

impl ScopeFilter {
    /// Parses `CUSTOMER` or `CUSTOMER/MEDIA` (either may be empty: the Volumes naming none);
    /// an error says what is expected.
    pub fn parse(text: &str) -> Result<ScopeFilter, super::VerifyError> {
        let bad = |why: &str| {
            super::VerifyError::new(format!(
                "--scope {text:?}: {why}; give CUSTOMER or CUSTOMER/MEDIA (e.g. C00001/LTO-7)"
            ))
        };
        if text.trim().is_empty() {
            return Err(bad("it is empty"));
        }
        if text.contains(char::is_whitespace) {
            return Err(bad("a scope has no spaces"));
        }
        match text.split_once('/') {
            None => Ok(ScopeFilter {
                customer: text.to_string(),
                media: None,
            }),
            Some((_, m)) if m.contains('/') => Err(bad("it has more than one '/'")),
            // An empty customer or media is a scope too: the Volumes that name none
            // (`C00001/` is C00001's Volumes without a media).
            Some((c, m)) => Ok(ScopeFilter {
                customer: c.to_string(),
                media: Some(m.to_string()),
            }),
        }
    }

    /// The spelling the server's `VOLUMES` command takes.
    pub fn request(&self) -> String {
        match &self.media {
            Some(m) => format!("{}/{m}", self.customer),
            None => self.customer.clone(),
        }
    }
}

/// One Volume: where it belongs, its id, and its compared fields (sorted by name, so that two
/// records are equal exactly when their fields are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its Customer/Media scope.
    pub scope: Scope,
    /// The Volume id.
    pub volume: String,
    /// (field name, value), sorted by name, names unique; empty when the record keeps its
    /// server value in `raw` instead.
    pub fields: Vec<(String, String)>,
    /// A server's value as it came (`name=value` words), cut into fields only when needed:
    /// two equal values are equal records without a field being made (most of a compare).
    pub raw: Option<String>,
}

impl Record {
    /// A record whose fields are put in the canonical order (a later duplicate name wins).
    pub fn new(scope: Scope, volume: String, mut fields: Vec<(String, String)>) -> Record {
        fields.reverse();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        fields.dedup_by(|a, b| a.0 == b.0);
        Record {
            scope,
            volume,
            fields,
            raw: None,
        }
    }

    /// A record of a server's Volume value, kept as it came (see [`Record::fields_list`]).
    pub fn from_value(scope: Scope, volume: String, value: String) -> Record {
        Record {
            scope,
            volume,
            fields: Vec::new(),
            raw: Some(value),
        }
    }

    /// Its fields, sorted by name: made from `raw` when the record keeps its value whole.
    pub fn fields_list(&self) -> std::borrow::Cow<'_, [(String, String)]> {
        match &self.raw {
            Some(v) => {
                // A name a server's value repeats is compared as the whole list of its values
                // (in their order), never as its last one.
                let mut fields = Record::fields_of_value(v);
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                let mut out: Vec<(String, String)> = Vec::with_capacity(fields.len());
                for (name, value) in fields {
                    match out.last_mut() {
                        Some((n, v)) if *n == name => {
                            v.push(' ');
                            v.push_str(&value);
                        }
                        _ => out.push((name, value)),
                    }
                }
                out.into()
            }
            None => (&self.fields[..]).into(),
        }
    }

    /// True when both keep server values and they are the same text: equal without a look at
    /// the fields.
    pub fn same_value(&self, other: &Record) -> bool {
        matches!((&self.raw, &other.raw), (Some(a), Some(b)) if a == b)
    }

    /// The fields of a server's Volume value: its `name=value` words (`customer=C00001
    /// media=LTO-7 status=onsite slot=12`); words without `=` together form the field `text`,
    /// so that nothing in a value goes uncompared.
    pub fn fields_of_value(value: &str) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        let mut text: Vec<&str> = Vec::new();
        for word in value.split(' ').filter(|w| !w.is_empty()) {
            match word.split_once('=') {
                Some((name, v)) if !name.is_empty() => {
                    fields.push((name.to_string(), v.to_string()))
                }
                _ => text.push(word),
            }
        }
        if !text.is_empty() {
            fields.push(("text".to_string(), text.join(" ")));
        }
        fields
    }

    /// True when two server values hold the same words, spacing included, in any order (a
    /// space more or less is a different value: the server's bytes are compared exactly).
    pub fn same_words(&self, other: &Record) -> bool {
        match (&self.raw, &other.raw) {
            (Some(a), Some(b)) => {
                let mut a: Vec<&str> = a.split(' ').collect();
                let mut b: Vec<&str> = b.split(' ').collect();
                a.sort_unstable();
                b.sort_unstable();
                a == b
            }
            _ => true,
        }
    }

    /// True when both records hold the same fields (whatever their form).
    pub fn same_fields(&self, other: &Record) -> bool {
        self.same_value(other) || self.fields_list() == other.fields_list()
    }

    /// One record for a Volume read twice with different values: every field of both, a field
    /// whose values differ holding both (`first | second`), so that it differs from any single
    /// value on the other side and the difference shows both.
    pub fn merged(&self, again: &Record) -> Record {
        let mut fields: Vec<(String, String)> = self.fields_list().into_owned();
        for (name, value) in again.fields_list().iter() {
            match fields.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) if v != value => *v = format!("{v} | {value}"),
                Some(_) => {}
                None => fields.push((name.clone(), format!("(none) | {value}"))),
            }
        }
        for (name, value) in fields.iter_mut() {
            if again.field(name).is_none() {
                *value = format!("{value} | (none)");
            }
        }
        Record::new(self.scope.clone(), self.volume.clone(), fields)
    }

    /// The value of field `name`, if the record has it.
    pub fn field(&self, name: &str) -> Option<String> {
        let fields = self.fields_list();
        fields
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| fields[i].1.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_becomes_sorted_fields_and_loose_words_are_kept() {
        let f = Record::fields_of_value("status=onsite customer=C1  media=LTO-7 odd words =x");
        let r = Record::new(Scope::new("C1", "LTO-7"), "V1".into(), f);
        assert_eq!(r.field("customer").as_deref(), Some("C1"));
        assert_eq!(r.field("status").as_deref(), Some("onsite"));
        assert_eq!(r.field("text").as_deref(), Some("odd words =x"));
        let raw = Record::from_value(
            Scope::new("C1", "LTO-7"),
            "V1".into(),
            "status=onsite customer=C1  media=LTO-7 odd words =x".into(),
        );
        assert_eq!(raw.fields_list().as_ref(), r.fields.as_slice());
        let names: Vec<&str> = r.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["customer", "media", "status", "text"]);
    }

    #[test]
    fn scope_filters_parse_or_say_what_is_expected() {
        assert_eq!(ScopeFilter::parse("C1").unwrap().request(), "C1");
        assert_eq!(
            ScopeFilter::parse("C1/LTO-7").unwrap().request(),
            "C1/LTO-7"
        );
        assert_eq!(
            ScopeFilter::parse("C1/").unwrap().media.as_deref(),
            Some("")
        );
        assert!(Scope::new("C1", "").within(&ScopeFilter::parse("C1/").unwrap()));
        assert!(!Scope::new("C1", "X").within(&ScopeFilter::parse("C1/").unwrap()));
        for bad in ["", "a/b/c", "C 1"] {
            let e = ScopeFilter::parse(bad).unwrap_err().to_string();
            assert!(e.contains("CUSTOMER/MEDIA"), "{bad}: {e}");
        }
        let f = ScopeFilter::parse("C1").unwrap();
        assert!(Scope::new("C1", "X").within(&f));
        assert!(!Scope::new("C2", "X").within(&f));
    }
}
