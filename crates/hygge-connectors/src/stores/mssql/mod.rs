//! The SQL Server store: `type: mssql`, bulk load into `<table>_hygge_tmp`, swapped in (or
//! appended) in one transaction.

mod config;
mod store;

pub use config::{Hints, MssqlStoreConfig};
pub use store::MssqlStore;

use crate::mssql::connection::{Role, pool, resolve};
use crate::mssql::sql::TableName;
use crate::registry::{Connections, positive};

/// Connections loading one table unless `parallel_workers` says otherwise.
pub const DEFAULT_WORKERS: usize = 4;

/// Checks a SQL Server store's keys (connects to nothing) and prepares its pool.
pub fn validate(c: &MssqlStoreConfig, conns: &Connections) -> Result<MssqlStore, String> {
    positive("batch_size", c.batch_size)?;
    let table = TableName::parse(&c.table).map_err(|e| format!("table: {e}"))?;
    let workers = c.parallel_workers.unwrap_or(DEFAULT_WORKERS);
    if !(1..=16).contains(&workers) {
        return Err(format!(
            "parallel_workers: {workers} is not between 1 and 16"
        ));
    }
    let hints: Vec<String> = match &c.table_hints {
        None => vec![],
        Some(Hints::One(h)) => h.split(',').map(|s| s.trim().to_string()).collect(),
        Some(Hints::Many(v)) => v.iter().map(|s| s.trim().to_string()).collect(),
    };
    let mut tablock = false;
    for h in hints.iter().filter(|h| !h.is_empty()) {
        if h.eq_ignore_ascii_case("tablock") {
            tablock = true;
        } else {
            return Err(format!(
                "table_hints: `{h}` is not supported; the bulk load takes TABLOCK"
            ));
        }
    }
    let (name, cfg) = resolve(
        c.connection.as_deref(),
        &c.inline(),
        &conns.mssql,
        &conns.types,
    )?;
    let pool = pool(&name, &cfg, Role::Store)?;
    Ok(MssqlStore::new(
        pool,
        table,
        c.if_exists,
        c.batch_size,
        tablock,
        workers,
    ))
}
