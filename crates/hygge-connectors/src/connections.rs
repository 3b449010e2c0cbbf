//! The project's named connections (`hygge.yml` `connections:`), typed by the connector
//! their `type` names. A leaf: connectors read their own kind's map, the registry fills it.

use std::collections::BTreeMap;

use crate::tree::Node;

/// A named connection's configuration, by `type`.
#[derive(Debug, Clone)]
pub enum ConnectionConfig {
    /// `type: postgres`.
    #[cfg(feature = "postgres")]
    Postgres(crate::postgres::PgConnectionConfig),
    /// `type: mssql`.
    #[cfg(feature = "mssql")]
    Mssql(crate::mssql::MssqlConnectionConfig),
}

impl ConnectionConfig {
    /// Where it connects (no secret).
    pub fn describe(&self) -> String {
        match *self {
            #[cfg(feature = "postgres")]
            ConnectionConfig::Postgres(ref c) => c.describe(),
            #[cfg(feature = "mssql")]
            ConnectionConfig::Mssql(ref c) => c.describe(),
        }
    }

    /// A warning when credentials would go to a server that is not verified.
    pub fn credential_warning(&self, name: &str) -> Option<String> {
        match *self {
            #[cfg(feature = "postgres")]
            ConnectionConfig::Postgres(ref c) => c.credential_warning(name),
            #[cfg(feature = "mssql")]
            ConnectionConfig::Mssql(ref c) => c.credential_warning(name),
        }
    }

    /// For `hygge debug`: connects and says what answered (or why not), and the keys to
    /// check when it fails.
    pub async fn check(&self, name: &str) -> (Result<String, String>, String) {
        match *self {
            #[cfg(feature = "postgres")]
            ConnectionConfig::Postgres(ref c) => (
                crate::postgres::connection::check(name, c).await,
                format!(
                    "check connections.{name} in hygge.yml: host, port, database, user, password (use ${{VAR}}), sslmode"
                ),
            ),
            #[cfg(feature = "mssql")]
            ConnectionConfig::Mssql(ref c) => {
                let checked = match crate::mssql::connection::pool(
                    name,
                    c,
                    crate::mssql::connection::Role::Home,
                ) {
                    Ok(p) => p.check().await.map(|s| format!("logged in with {s}")),
                    Err(e) => Err(e),
                };
                (
                    checked,
                    format!(
                        "check connections.{name} in hygge.yml: server, database, encrypt, trust_cert; user/password for a SQL login, or for Entra ID an access_token, AZURE_* variables, a managed identity or `az login`"
                    ),
                )
            }
        }
    }

    /// The connections at most that a run can use at once through it, where the original
    /// made that the default concurrency (SQL Server's `pool_size`).
    pub fn bounds_concurrency(&self) -> Option<usize> {
        match *self {
            #[cfg(feature = "postgres")]
            ConnectionConfig::Postgres(_) => None,
            #[cfg(feature = "mssql")]
            ConnectionConfig::Mssql(ref c) => c.pool_size,
        }
    }
}

/// The project's named connections (`hygge.yml` `connections`): typed by `type`, and as
/// written (less `type`), for the keys a home or store lays over them inline.
#[derive(Debug, Clone, Default)]
pub struct Connections {
    /// Every connection's type, as written, by name.
    pub types: BTreeMap<String, String>,
    /// Every typed connection, by name.
    pub all: BTreeMap<String, ConnectionConfig>,
    /// Every typed connection's keys as written (less `type`), by name.
    pub nodes: BTreeMap<String, Node>,
    /// The named credentials (`hygge.yml` `credentials:`), typed.
    pub credentials: crate::credentials::Credentials,
}

impl Connections {
    /// Adds the connection `name` (of type `ty`, as written), typed and as written.
    pub fn insert(&mut self, name: &str, ty: &str, c: ConnectionConfig, node: Node) {
        self.types.insert(name.to_string(), ty.to_string());
        self.all.insert(name.to_string(), c);
        self.nodes.insert(name.to_string(), node);
    }

    /// Looks up the named credentials (`credential: <name>`) the connections reference,
    /// once both sections are typed; returns each connection that cannot use its
    /// credential, with why.
    pub fn resolve_credentials(&mut self) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        for (name, c) in &mut self.all {
            match *c {
                #[cfg(feature = "mssql")]
                ConnectionConfig::Mssql(ref mut m) => {
                    match m.clone().with_credentials(&self.credentials) {
                        Ok(resolved) => *m = resolved,
                        Err(e) => errors.push((name.clone(), e)),
                    }
                }
                #[cfg(feature = "postgres")]
                ConnectionConfig::Postgres(_) => {}
            }
        }
        errors
    }
}
