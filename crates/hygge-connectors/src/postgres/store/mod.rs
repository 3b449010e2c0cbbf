//! The PostgreSQL store: `type: postgres`, binary COPY into a staging table, swapped in
//! (or appended) in one transaction.

mod config;
mod write;

pub use config::{IfExists, PostgresStoreConfig};
pub use write::{PostgresStore, WriteMode};

use crate::connections::Connections;
use crate::postgres::connection::{Role, pool, resolve};
use crate::postgres::sql::TableName;

/// Checks a PostgreSQL store's keys (connects to nothing) and prepares its pool.
pub fn validate(c: &PostgresStoreConfig, conns: &Connections) -> Result<PostgresStore, String> {
    let mut table = TableName::parse(&c.table).map_err(|e| format!("table: {e}"))?;
    match (&table.schema, &c.schema) {
        (Some(_), Some(_)) => {
            return Err(
                "schema: the table is already schema-qualified; give the schema once".into(),
            );
        }
        (None, Some(s)) if s.is_empty() => return Err("schema: the schema is empty".into()),
        (None, Some(s)) => table.schema = Some(s.clone()),
        _ => {}
    }
    let (name, cfg) = resolve(c.connection.as_deref(), &c.inline, conns)?;
    let pool = pool(&name, &cfg, Role::Store)?;
    let lock_timeout = crate::sql::lock_timeout(c.lock_timeout)?;
    Ok(PostgresStore::new(pool, table, c.if_exists, lock_timeout))
}
