//! The DuckDB store: `type: duckdb`; each entity loads in one transaction of its own
//! (replace: the table is created anew inside it) that commits with the run's checkpoint.

mod config;
mod write;

pub use config::{DuckdbStoreConfig, IfExists};
pub use write::{DuckdbStore, recorded_fields, table_columns, table_exists};

/// Checks a DuckDB store's keys (opens nothing).
pub fn validate(c: &DuckdbStoreConfig) -> Result<DuckdbStore, String> {
    if c.path.as_os_str().is_empty() {
        return Err("path: the database file is empty".into());
    }
    let table = crate::duckdb::sql::table_key(&c.table, c.schema.as_deref())?;
    let lock_timeout = crate::sql::lock_timeout(c.lock_timeout)?;
    Ok(DuckdbStore::new(
        c.path.clone(),
        table,
        c.if_exists,
        lock_timeout,
    ))
}
