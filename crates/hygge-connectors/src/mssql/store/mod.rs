//! The SQL Server store: `type: mssql`, bulk load into `<table>_hygge_tmp`, swapped in (or
//! appended) in one transaction.

mod config;
mod write;

pub use config::{Hints, MssqlStoreConfig};
pub use write::MssqlStore;

use crate::common::positive;
use crate::connections::Connections;
use crate::mssql::connection::{Role, pool, resolve};
use crate::mssql::sql::TableName;

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
    let mut options = tiberius::SqlBulkCopyOptions::empty();
    for h in hints.iter().filter(|h| !h.is_empty()) {
        use tiberius::SqlBulkCopyOption as O;
        options |= match h.to_ascii_uppercase().replace(' ', "_").as_str() {
            "TABLOCK" => O::TableLock,
            // The staging table has no constraints, triggers or defaults: accepted (the
            // original passed them on) and harmless.
            "CHECK_CONSTRAINTS" => O::CheckConstraints,
            "FIRE_TRIGGERS" => O::FireTriggers,
            "KEEP_NULLS" => O::KeepNulls,
            _ => {
                return Err(format!(
                    "table_hints: `{h}` is not a bulk-load hint (TABLOCK, CHECK_CONSTRAINTS, FIRE_TRIGGERS, KEEP_NULLS)"
                ));
            }
        };
    }
    let (name, cfg) = resolve(c.connection.as_deref(), &c.inline, conns)?;
    let pool = pool(&name, &cfg, Role::Store)?;
    let lock_timeout = crate::sql::lock_timeout(c.lock_timeout)?;
    Ok(
        MssqlStore::new(pool, table, c.if_exists, c.batch_size, options, workers)
            .with_lock_timeout(lock_timeout),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(extra: serde_json::Value) -> Result<MssqlStore, String> {
        let mut c = serde_json::json!({"server": "127.0.0.1,1", "user": "sa", "password": "x"});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let node = crate::tree::Node::from_json(&c, &crate::tree::Loc::default());
        let typed = crate::common::with_inline::<MssqlStoreConfig>(&node);
        validate(&typed.unwrap(), &Connections::default())
    }

    #[test]
    fn hints_and_workers_are_checked() {
        assert!(store(serde_json::json!({"table_hints": "TABLOCK"})).is_ok());
        assert!(store(serde_json::json!({"table_hints": ["tablock", "fire triggers"]})).is_ok());
        let e = store(serde_json::json!({"table_hints": "NOLOCK"})).unwrap_err();
        assert!(e.starts_with("table_hints:") && e.contains("NOLOCK"), "{e}");
        let e = store(serde_json::json!({"parallel_workers": 17})).unwrap_err();
        assert!(e.starts_with("parallel_workers:"), "{e}");
        let e = store(serde_json::json!({"table": "a.b.c"})).unwrap_err();
        assert!(e.starts_with("table:"), "{e}");
    }
}
