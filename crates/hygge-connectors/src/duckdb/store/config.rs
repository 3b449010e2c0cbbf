//! `store: {type: duckdb, path, schema, table, if_exists, lock_timeout}`.

use std::path::PathBuf;

use serde::Deserialize;

fn table() -> String {
    "{entity}".into()
}

pub use crate::sql::IfExists;

/// A DuckDB store's keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuckdbStoreConfig {
    /// The database file (created if missing; relative to the project folder).
    pub path: PathBuf,
    /// The schema (created if missing; default `main`).
    #[serde(default)]
    pub schema: Option<String>,
    /// The target table (`{entity}` allowed; default `{entity}`).
    #[serde(default = "table")]
    pub table: String,
    /// `fail`, `append` or `replace`; default: the run type decides (`full_drop` replaces,
    /// `incremental` appends).
    #[serde(default)]
    pub if_exists: Option<IfExists>,
    /// Seconds to wait, at most, for another entity's publish to the same file to finish
    /// (default 60).
    #[serde(default)]
    pub lock_timeout: Option<u64>,
}
