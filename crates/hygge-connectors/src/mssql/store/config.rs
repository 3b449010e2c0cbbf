//! `store: {type: mssql, connection | server+database..., table, if_exists, ...}`.

use serde::Deserialize;

use crate::sql::IfExists;

fn table() -> String {
    "{entity}".into()
}

fn batch_size() -> usize {
    102_400
}

/// `table_hints: TABLOCK` or a list.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Hints {
    /// `TABLOCK` or `TABLOCK, ORDER(...)`.
    One(String),
    /// `[TABLOCK]`.
    Many(Vec<String>),
}

/// A SQL Server store's keys (the original hygge's).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MssqlStoreConfig {
    /// A connection named in `hygge.yml` (`connections.<name>`).
    #[serde(default)]
    pub connection: Option<String>,
    /// The target table (`{entity}` allowed; default `{entity}`); may be `schema.table`.
    #[serde(default = "table")]
    pub table: String,
    /// `fail`, `append` or `replace`; default: the run type decides (`full_drop` replaces,
    /// `incremental` appends).
    #[serde(default)]
    pub if_exists: Option<IfExists>,
    /// Seconds to wait, at most, for the table locks publishing needs (default 60); past
    /// it the entity fails and the table is unchanged.
    #[serde(default)]
    pub lock_timeout: Option<u64>,
    /// Rows per bulk-load batch (default 102,400: a columnstore row group).
    #[serde(default = "batch_size")]
    pub batch_size: usize,
    /// Bulk-load hints: `TABLOCK`, `CHECK_CONSTRAINTS`, `FIRE_TRIGGERS`, `KEEP_NULLS`.
    #[serde(default)]
    pub table_hints: Option<Hints>,
    /// Connections loading one table at once (1..=16, default 4; only free pool
    /// connections are used).
    #[serde(default)]
    pub parallel_workers: Option<usize>,
    /// The original's deprecated key; accepted and ignored.
    #[serde(default)]
    pub write_strategy: Option<String>,
    /// The connection keys written inline (those of [`MssqlConnectionConfig`]), as written:
    /// laid over a named connection's when the connection is resolved.
    #[serde(skip)]
    pub inline: crate::tree::Node,
}

impl crate::common::InlineConnection for MssqlStoreConfig {
    type Conn = crate::mssql::MssqlConnectionConfig;
    fn inline_mut(&mut self) -> &mut crate::tree::Node {
        &mut self.inline
    }
}
