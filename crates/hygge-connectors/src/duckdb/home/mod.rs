//! The DuckDB home: `type: duckdb`, a `table` or a `query`, streamed as Arrow on a
//! blocking task.

mod config;
mod read;

pub use config::DuckdbHomeConfig;
pub use read::DuckdbHome;

use crate::common::positive;
use crate::duckdb::sql::{Duck, table_key};
use crate::sql::Source;

/// Checks a DuckDB home's keys (opens nothing).
pub fn validate(c: &DuckdbHomeConfig) -> Result<(DuckdbHome, usize), String> {
    positive("batch_size", c.batch_size)?;
    if c.path.as_os_str().is_empty() {
        return Err("path: the database file is empty".into());
    }
    let source: Source<Duck> = match (&c.table, &c.query, &c.schema) {
        (None, Some(_), Some(_)) => {
            return Err("schema: a query names its own tables; give `schema` with `table`".into());
        }
        (Some(t), None, s) => Source::Table(table_key(t, s.as_deref())?),
        (None, None, s) => Source::Table(table_key("{entity}", s.as_deref())?),
        (t, q, _) => Source::from_keys(t.as_deref(), q.as_deref(), "\"{entity}\"")?,
    };
    Ok((DuckdbHome::new(c.path.clone(), source), c.batch_size))
}
