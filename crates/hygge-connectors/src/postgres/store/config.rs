//! `store: {type: postgres, connection | url | host..., table, schema, if_exists}`.

use serde::Deserialize;

fn table() -> String {
    "{entity}".into()
}

pub use crate::sql::IfExists;

/// A PostgreSQL store's keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresStoreConfig {
    /// A connection named in `hygge.yml` (`connections.<name>`).
    #[serde(default)]
    pub connection: Option<String>,
    /// The target table (`{entity}` allowed; default `{entity}`); may be `schema.table`.
    #[serde(default = "table")]
    pub table: String,
    /// The schema (default `public`; created if missing).
    #[serde(default)]
    pub schema: Option<String>,
    /// `fail`, `append` or `replace`; default: the run type decides (`full_drop` replaces,
    /// `incremental` appends).
    #[serde(default)]
    pub if_exists: Option<IfExists>,
    /// Seconds to wait, at most, for the table locks publishing needs (default 60); past
    /// it the entity fails and the table is unchanged.
    #[serde(default)]
    pub lock_timeout: Option<u64>,
    /// The connection keys written inline (those of [`PgConnectionConfig`]), as written:
    /// laid over a named connection's when the connection is resolved.
    #[serde(skip)]
    pub inline: crate::tree::Node,
}

impl crate::common::InlineConnection for PostgresStoreConfig {
    type Conn = crate::postgres::PgConnectionConfig;
    fn inline_mut(&mut self) -> &mut crate::tree::Node {
        &mut self.inline
    }
}
