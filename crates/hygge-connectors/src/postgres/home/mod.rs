//! The PostgreSQL home: `type: postgres`, a `table` or a `query`, streamed with binary COPY.

mod config;
mod read;

pub use config::PostgresHomeConfig;
pub use read::PostgresHome;

use crate::common::positive;
use crate::connections::Connections;
use crate::postgres::connection::{Role, pool, resolve};
use crate::postgres::types::ReadTypeOptions;
use read::Source;

/// Streams per table unless `parallel` says otherwise.
pub const DEFAULT_PARALLEL: usize = 4;

/// Checks a PostgreSQL home's keys (connects to nothing) and prepares its pool.
pub fn validate(
    c: &PostgresHomeConfig,
    conns: &Connections,
) -> Result<(PostgresHome, usize), String> {
    positive("batch_size", c.batch_size)?;
    let source = Source::from_keys(c.table.as_deref(), c.query.as_deref(), "schema.name")?;
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
