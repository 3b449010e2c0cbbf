//! The SQLite home: `type: sqlite`, a `table` or a `query`, read on a blocking task.

mod config;
mod read;

pub use config::SqliteHomeConfig;
pub use read::SqliteHome;

use crate::common::positive;
use crate::sql::Source;

/// Checks a SQLite home's keys (opens nothing).
pub fn validate(c: &SqliteHomeConfig) -> Result<(SqliteHome, usize), String> {
    positive("batch_size", c.batch_size)?;
    if c.path.as_os_str().is_empty() {
        return Err("path: the database file is empty".into());
    }
    let source = Source::from_keys(c.table.as_deref(), c.query.as_deref(), "\"{entity}\"")?;
    if let Source::Table(t) = &source {
        crate::sqlite::sql::table_key(&t.display())?;
    }
    Ok((SqliteHome::new(c.path.clone(), source), c.batch_size))
}
