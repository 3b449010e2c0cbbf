//! The PostgreSQL home: `type: postgres`, a `table` or a `query`, streamed with binary COPY.

mod config;
mod read;

pub use config::PostgresHomeConfig;
pub use read::PostgresHome;

use crate::common::positive;
use crate::connections::Connections;
use crate::postgres::connection::{Role, pool, resolve};
use crate::postgres::sql::TableName;
use crate::postgres::types::ReadTypeOptions;

/// Streams per table unless `parallel` says otherwise.
pub const DEFAULT_PARALLEL: usize = 4;

/// Checks a PostgreSQL home's keys (connects to nothing) and prepares its pool.
pub fn validate(
    c: &PostgresHomeConfig,
    conns: &Connections,
) -> Result<(PostgresHome, usize), String> {
    positive("batch_size", c.batch_size)?;
    let source = match (&c.table, &c.query) {
        (Some(t), None) => {
            read::Source::Table(TableName::parse(t).map_err(|e| format!("table: {e}"))?)
        }
        (None, Some(q)) if !q.trim().is_empty() => read::Source::Query(q.clone()),
        (None, Some(_)) => return Err("query: the query is empty".into()),
        (Some(_), Some(_)) => {
            return Err("table: give either `table` or `query`, not both".into());
        }
        (None, None) => {
            return Err(
                "table: say what to read: `table: schema.name` or `query: SELECT ...`".into(),
            );
        }
    };
    if c.parallel == Some(0) {
        return Err("parallel must be at least 1".into());
    }
    let (name, cfg) = resolve(c.connection.as_deref(), &c.inline, conns)?;
    let pool = pool(&name, &cfg, Role::Home)?;
    let options = ReadTypeOptions {
        unconstrained_numeric: c.unconstrained_numeric,
    };
    Ok((
        PostgresHome::new(
            pool,
            source,
            options,
            c.parallel.unwrap_or(DEFAULT_PARALLEL),
        ),
        c.batch_size,
    ))
}
