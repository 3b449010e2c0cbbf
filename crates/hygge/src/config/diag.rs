//! Configuration diagnostics, like a compiler's: every problem in every file, each with
//! file, line, column, key path and what to do.

use std::fmt;

use super::yaml::Loc;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The run cannot start.
    Error,
    /// The run goes on; something is ignored or surprising.
    Warning,
}

/// One problem in the configuration.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where.
    pub loc: Loc,
    /// The key path (`flows.x.store.compression`), when there is one.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {sev}", self.loc)?;
        if !self.key.is_empty() {
            write!(f, " at `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Collected diagnostics.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    /// In the order found.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records an error (once: entities sharing a flow share its mistakes).
    pub fn error(&mut self, loc: &Loc, key: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, loc, key.into(), message.into());
    }

    /// Records a warning (once).
    pub fn warn(&mut self, loc: &Loc, key: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, loc, key.into(), message.into());
    }

    fn push(&mut self, severity: Severity, loc: &Loc, key: String, message: String) {
        let d = Diagnostic {
            severity,
            loc: loc.clone(),
            key,
            message,
        };
        let seen = self.items.iter().any(|o| {
            o.severity == d.severity && o.loc == d.loc && o.key == d.key && o.message == d.message
        });
        if !seen {
            self.items.push(d);
        }
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    /// True when there is at least one error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| {
            *d <= c.len().max(word.len()).div_ceil(3) || c.contains(word) || word.contains(c)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The candidate `word` is most likely a misspelling of, by a stricter test than
/// [`did_you_mean`]: the same word in another case, or at most two edits away and those
/// edits a small part of the word (`compresion`, `run_tpye`, `usres_to_lake`). Used where
/// a name that is no misspelling is accepted with a warning (the original hygge ignored
/// it), so that only a likely typo stops the run.
pub fn likely_typo<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .filter(|c| **c != word)
        .map(|c| {
            let d = if c.eq_ignore_ascii_case(word) {
                0
            } else {
                levenshtein(word, c)
            };
            (d, *c)
        })
        .filter(|(d, c)| *d <= 2 && d * 4 <= c.chars().count().max(word.chars().count()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys() {
        let keys = ["path", "batch_size", "compression", "file_pattern"];
        assert_eq!(did_you_mean("compresion", &keys), Some("compression"));
        assert_eq!(did_you_mean("batchsize", &keys), Some("batch_size"));
        assert_eq!(did_you_mean("zzzzzz", &keys), None);
    }

    #[test]
    fn likely_typos_are_close_but_other_words_are_not() {
        let keys = [
            "name",
            "run_type",
            "batch_size",
            "watermark",
            "home",
            "store",
        ];
        assert_eq!(likely_typo("run_tpye", &keys), Some("run_type"));
        assert_eq!(likely_typo("batchsize", &keys), Some("batch_size"));
        assert_eq!(likely_typo("Name", &keys), Some("name"));
        // Other words, even ones holding a key (`did_you_mean` would suggest `name`).
        assert_eq!(likely_typo("schema", &keys), None);
        assert_eq!(likely_typo("table_name", &keys), None);
        assert_eq!(likely_typo("key_columns", &keys), None);
        assert_eq!(
            likely_typo("other_flow", &["test_flow", "users_to_lake"]),
            None
        );
        assert_eq!(
            likely_typo("usres_to_lake", &["test_flow", "users_to_lake"]),
            Some("users_to_lake")
        );
        assert_eq!(likely_typo("g", &["f"]), None);
    }
}
