//! The engine's error type. Connectors keep their own typed errors (with file, table and
//! connection names) and hand them to the engine boxed; the engine adds which side failed.

use std::fmt;

/// Any connector error, boxed so the engine stays free of connector types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in one entity flow.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening or reading the source failed.
    #[error("reading from home failed: {}", chain(.0.as_ref()))]
    Home(#[source] BoxError),
    /// Opening, writing or publishing the destination failed.
    #[error("writing to store failed: {}", chain(.0.as_ref()))]
    Store(#[source] BoxError),
    /// A batch did not match the schema the home announced.
    #[error("home produced a batch whose schema differs from the one it announced: {0}")]
    SchemaMismatch(String),
    /// The source's schema changed in a way the entity's `schema` mode refuses.
    #[error("schema drift: {0}")]
    SchemaDrift(String),
    /// Rows read and rows written differ.
    #[error("reconciliation failed: {0}")]
    Reconciliation(String),
    /// The watermark column is missing, of an unusable type, or cannot hold the stored value.
    #[error("watermark: {0}")]
    Watermark(String),
    /// The checkpoint the destination holds cannot be used.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// The run was cancelled (Ctrl-C) before this flow finished; nothing was published.
    #[error("cancelled before the entity was published; nothing was published")]
    Cancelled,
    /// The flow exceeded its time limit before publishing; nothing was published.
    #[error("timed out after {0:?} before publishing; nothing was published")]
    TimedOut(std::time::Duration),
    /// A task of the flow panicked (a bug in hygge): reported, never swallowed.
    #[error("internal error (a task panicked): {0}")]
    Panicked(String),
}

impl Error {
    /// Wraps a connector error raised while reading.
    pub fn home(e: impl Into<BoxError>) -> Self {
        Error::Home(e.into())
    }
    /// Wraps a connector error raised while writing.
    pub fn store(e: impl Into<BoxError>) -> Self {
        Error::Store(e.into())
    }
}

/// The text of a panic's payload (a `&str` or `String` message, as `panic!` makes).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Renders an error with all its causes: `a: b: c`, skipping causes already in the text.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    struct Chain<'a>(&'a (dyn std::error::Error + 'static));
    impl fmt::Display for Chain<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let mut text = self.0.to_string();
            let mut cur = self.0.source();
            while let Some(s) = cur {
                let part = s.to_string();
                if !text.contains(&part) {
                    text.push_str(": ");
                    text.push_str(&part);
                }
                cur = s.source();
            }
            f.write_str(&text)
        }
    }
    Chain(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_includes_every_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = Error::home(io);
        assert_eq!(e.to_string(), "reading from home failed: no such file");
    }
}
