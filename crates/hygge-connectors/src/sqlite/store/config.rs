//! `store: {type: sqlite, path, table, batch_size, if_exists, lock_timeout}`.

use std::path::PathBuf;

use serde::Deserialize;

fn table() -> String {
    "{entity}".into()
}

fn batch_size() -> usize {
    100_000
}

pub use crate::sql::IfExists;

/// A SQLite store's keys (the original's `path`, `table`, `batch_size`, plus the SQL
/// stores' `if_exists` and `lock_timeout`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteStoreConfig {
    /// The database file (created if missing; relative to the project folder).
    pub path: PathBuf,
    /// The target table (`{entity}` allowed; default `{entity}`).
    #[serde(default = "table")]
    pub table: String,
    /// Rows inserted per statement group while staging (default 100,000, as the original).
    #[serde(default = "batch_size")]
    pub batch_size: usize,
    /// `fail`, `append` or `replace`; default: the run type decides (`full_drop` replaces,
    /// `incremental` appends).
    #[serde(default)]
    pub if_exists: Option<IfExists>,
    /// Seconds to wait, at most, for another writer of the file to finish publishing
    /// (default 60); past it the entity fails and the table is unchanged.
    #[serde(default)]
    pub lock_timeout: Option<u64>,
}
