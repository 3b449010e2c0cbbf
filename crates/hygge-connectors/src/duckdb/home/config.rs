//! `home: {type: duckdb, path, schema, table | query, batch_size}`.

use std::path::PathBuf;

use serde::Deserialize;

fn batch_size() -> usize {
    50_000
}

/// A DuckDB home's keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuckdbHomeConfig {
    /// The database file (relative to the project folder); it must exist.
    pub path: PathBuf,
    /// The schema of `table` (default `main`).
    #[serde(default)]
    pub schema: Option<String>,
    /// The table or view to read (`{entity}` allowed); every column, in table order.
    #[serde(default)]
    pub table: Option<String>,
    /// A query to read instead (`{entity}` becomes the entity's quoted name).
    #[serde(default)]
    pub query: Option<String>,
    /// Rows per batch (default 50,000).
    #[serde(default = "batch_size")]
    pub batch_size: usize,
}
