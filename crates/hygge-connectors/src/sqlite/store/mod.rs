//! The SQLite store: `type: sqlite`; rows staged in a file of their own, published into
//! the database file (replace or append) in one transaction with the run's checkpoint.

mod config;
mod write;

pub use config::{IfExists, SqliteStoreConfig};
pub use write::{SqliteStore, recorded_fields, staging_files, table_columns};

/// Checks a SQLite store's keys (opens nothing).
pub fn validate(c: &SqliteStoreConfig) -> Result<SqliteStore, String> {
    crate::common::positive("batch_size", c.batch_size)?;
    if c.path.as_os_str().is_empty() {
        return Err("path: the database file is empty".into());
    }
    let table = crate::sqlite::sql::table_key(&c.table)?;
    let lock_timeout = crate::sql::lock_timeout(c.lock_timeout)?;
    Ok(SqliteStore::new(
        c.path.clone(),
        table,
        c.if_exists,
        c.batch_size,
        lock_timeout,
    ))
}
