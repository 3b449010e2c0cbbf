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
}
