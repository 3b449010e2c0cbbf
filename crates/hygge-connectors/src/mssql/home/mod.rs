//! The SQL Server home: `type: mssql`, a `table` or a `query`, streamed over TDS.

mod config;
mod read;

pub use config::MssqlHomeConfig;
pub use read::{MssqlHome, Source};

use crate::common::positive;
use crate::connections::Connections;
use crate::mssql::connection::{Role, pool, resolve};
use crate::mssql::types::ReadTypeOptions;

/// Checks a SQL Server home's keys (connects to nothing) and prepares its pool.
pub fn validate(c: &MssqlHomeConfig, conns: &Connections) -> Result<(MssqlHome, usize), String> {
    positive("batch_size", c.batch_size)?;
    let source = Source::from_keys(c.table.as_deref(), c.query.as_deref(), "dbo.name")?;
    let (name, cfg) = resolve(c.connection.as_deref(), &c.inline, conns)?;
    let pool = pool(&name, &cfg, Role::Home)?;
    let options = ReadTypeOptions {
        guid: c.uniqueidentifier,
        offset: c.datetimeoffset,
    };
    Ok((MssqlHome::new(pool, source, options), c.batch_size))
}
