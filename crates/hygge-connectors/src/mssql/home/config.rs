//! `home: {type: mssql, connection | server+database..., table | query, batch_size, ...}`.

use serde::Deserialize;

use crate::mssql::types::{GuidAs, OffsetAs};

fn batch_size() -> usize {
    25_000
}

/// A SQL Server home's keys (the original hygge's, plus SQL logins and type options).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MssqlHomeConfig {
    /// A connection named in `hygge.yml` (`connections.<name>`).
    #[serde(default)]
    pub connection: Option<String>,
    /// `schema.table` to read (`dbo.{entity}` allowed); every column, in table order.
    #[serde(default)]
    pub table: Option<String>,
    /// A query to read instead (`{entity}` becomes the entity's bracketed name).
    #[serde(default)]
    pub query: Option<String>,
    /// Rows per batch (default 25,000).
    #[serde(default = "batch_size")]
    pub batch_size: usize,
    /// The original's rows-per-read hint; accepted and ignored (reads stream).
    #[serde(default)]
    pub row_multiplier: Option<usize>,
    /// `uniqueidentifier` as `uuid` (16 bytes, `arrow.uuid`; default) or `text`.
    #[serde(default)]
    pub uniqueidentifier: GuidAs,
    /// `datetimeoffset` as `struct` (instant and offset; default) or `utc` (instant only).
    #[serde(default)]
    pub datetimeoffset: OffsetAs,
    /// The connection keys written inline (those of [`MssqlConnectionConfig`]), as written:
    /// laid over a named connection's when the connection is resolved.
    #[serde(skip)]
    pub inline: crate::tree::Node,
}

impl crate::common::InlineConnection for MssqlHomeConfig {
    type Conn = crate::mssql::MssqlConnectionConfig;
    fn inline_mut(&mut self) -> &mut crate::tree::Node {
        &mut self.inline
    }
}
