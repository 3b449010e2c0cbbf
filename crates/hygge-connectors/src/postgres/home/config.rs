//! `home: {type: postgres, connection | url | host..., table | query, batch_size, ...}`.

use serde::Deserialize;

use crate::postgres::types::UnconstrainedNumeric;

fn batch_size() -> usize {
    50_000
}

/// A PostgreSQL home's keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresHomeConfig {
    /// A connection named in `hygge.yml` (`connections.<name>`).
    #[serde(default)]
    pub connection: Option<String>,
    /// `schema.table` to read (`{entity}` allowed); every column, in table order.
    #[serde(default)]
    pub table: Option<String>,
    /// A query to read instead (`{entity}` becomes the entity's quoted name).
    #[serde(default)]
    pub query: Option<String>,
    /// Rows per batch (default 50,000).
    #[serde(default = "batch_size")]
    pub batch_size: usize,
    /// `numeric` without precision: `decimal` (decimal128(38,10), default; a value that
    /// does not fit exactly is an error) or `text`.
    #[serde(default)]
    pub unconstrained_numeric: UnconstrainedNumeric,
    /// At most this many connections read one table at once, in block ranges of one
    /// snapshot (default 4; 1 turns it off). Only free connections of the pool are used.
    #[serde(default)]
    pub parallel: Option<usize>,
    /// The connection keys written inline (those of [`PgConnectionConfig`]), as written:
    /// laid over a named connection's when the connection is resolved.
    #[serde(skip)]
    pub inline: crate::tree::Node,
}

impl crate::common::InlineConnection for PostgresHomeConfig {
    type Conn = crate::postgres::PgConnectionConfig;
    fn inline_mut(&mut self) -> &mut crate::tree::Node {
        &mut self.inline
    }
}
