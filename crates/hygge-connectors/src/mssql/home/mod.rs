//! The SQL Server home: `type: mssql`, a `table` or a `query`, streamed over TDS.

mod config;
mod read;

pub use config::MssqlHomeConfig;
pub use read::{MssqlHome, Source};

use crate::common::positive;
use crate::connections::Connections;
use crate::mssql::connection::{Role, pool, resolve};
use crate::mssql::sql::TableName;
use crate::mssql::types::ReadTypeOptions;

/// Checks a SQL Server home's keys (connects to nothing) and prepares its pool.
pub fn validate(c: &MssqlHomeConfig, conns: &Connections) -> Result<(MssqlHome, usize), String> {
    positive("batch_size", c.batch_size)?;
    let source = match (&c.table, &c.query) {
        (Some(t), None) => Source::Table(TableName::parse(t).map_err(|e| format!("table: {e}"))?),
        (None, Some(q)) if !q.trim().is_empty() => Source::Query(q.clone()),
        (None, Some(_)) => return Err("query: the query is empty".into()),
        (Some(_), Some(_)) => {
            return Err("table: give either `table` or `query`, not both".into());
        }
        (None, None) => {
            return Err("table: say what to read: `table: dbo.name` or `query: SELECT ...`".into());
        }
    };
    let (name, cfg) = resolve(c.connection.as_deref(), &c.inline, conns)?;
    let pool = pool(&name, &cfg, Role::Home)?;
    let options = ReadTypeOptions {
        guid: c.uniqueidentifier,
        offset: c.datetimeoffset,
    };
    Ok((MssqlHome::new(pool, source, options), c.batch_size))
}
