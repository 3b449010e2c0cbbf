//! SQL Server connection settings and pools.
//!
//! A connection is named in `hygge.yml` (`connections.<name>: {type: mssql, server,
//! database, ...}`, the original hygge's keys) or given inline on a home or store (`server`,
//! `database`, ...). Authentication is a SQL login when `user` is given, else an Entra ID
//! access token from the chain in [`super::auth`]. Every entity that uses the same
//! connection in the same role shares one pool of at most `pool_size` connections; each
//! acquire checks the connection (`SELECT 1`) and replaces a dead one; each new connection
//! gets a fresh (cached, refreshed) token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, RecycleResult};
use serde::Deserialize;
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::auth::{CredentialKind, EntraSettings, TokenProvider};
use crate::secret::Secret;

/// Connections in a pool unless `pool_size` says otherwise (the default concurrency).
pub const DEFAULT_POOL_SIZE: usize = 8;
/// Seconds to connect and log in unless `timeout` says otherwise (the original's 30 s).
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// A connected client.
pub type MsClient = Client<Compat<TcpStream>>;

/// `yes`/`no` as the original's YAML wrote it (`Yes`, `no`, `true`, ...), or a word.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Flag {
    /// `true` / `false`.
    Bool(bool),
    /// `Yes`, `no`, `strict`, `optional`, ...
    Word(String),
}

impl Flag {
    fn word(&self) -> String {
        match self {
            Flag::Bool(true) => "yes".into(),
            Flag::Bool(false) => "no".into(),
            Flag::Word(w) => w.trim().to_ascii_lowercase(),
        }
    }

    fn yes_no(&self, key: &str) -> Result<bool, String> {
        match self.word().as_str() {
            "yes" | "true" | "1" | "on" => Ok(true),
            "no" | "false" | "0" | "off" => Ok(false),
            w => Err(format!("{key}: `{w}` is not yes or no")),
        }
    }
}

/// `connections.<name>` with `type: mssql`, or the same keys inline on a home or store.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MssqlConnectionConfig {
    /// `host`, `host,port`, `tcp:host,port` or `host:port` (default port 1433).
    #[serde(default)]
    pub server: Option<String>,
    /// Database (default: the login's default database).
    #[serde(default)]
    pub database: Option<String>,
    /// The ODBC driver name the original needed; accepted and ignored (no ODBC here).
    #[serde(default)]
    pub driver: Option<String>,
    /// `yes` (default: TLS required), `strict` (TDS 8.0: TLS before anything else), `no`
    /// (only the login is encrypted), `off` (no TLS at all: test servers only).
    #[serde(default)]
    pub encrypt: Option<Flag>,
    /// Trust the server's certificate without checking it (default `yes`, as the original;
    /// `no` for Azure's public SQL endpoints, see [`AZURE_DOMAINS`], and with
    /// `trust_cert_ca`). `no` checks it against the system's trusted roots.
    #[serde(default)]
    pub trust_cert: Option<Flag>,
    /// A PEM/DER CA certificate to check the server's certificate with (`trust_cert: no`).
    #[serde(default)]
    pub trust_cert_ca: Option<String>,
    /// Seconds to connect and log in (default 30).
    #[serde(default)]
    pub timeout: Option<u64>,
    /// Connections in the pool (default 8).
    #[serde(default)]
    pub pool_size: Option<usize>,
    /// SQL login user (leave out for Entra ID).
    #[serde(default)]
    pub user: Option<String>,
    /// SQL login password (use `${VAR}`; never printed).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Entra ID: use only this source (`access_token`, `service_principal`,
    /// `workload_identity`, `managed_identity`, `azure_cli`), or a `type: azure_ad`
    /// credential of hygge.yml's `credentials:` by name; default: each source in turn.
    #[serde(default)]
    pub credential: Option<MssqlCredential>,
    /// Entra ID: an access token for `https://database.windows.net/` (use `${VAR}`).
    #[serde(default)]
    pub access_token: Option<Secret>,
    /// Entra ID: the client id of a user-assigned managed identity.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The `AZURE_*` values a named credential gives (set by [`Self::with_credentials`]).
    #[serde(skip)]
    pub entra_values: Vec<(&'static str, Secret)>,
}

/// `credential:` of a SQL Server connection: an Entra ID source, or a named credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MssqlCredential {
    /// `access_token`, `service_principal`, `workload_identity`, `managed_identity`,
    /// `azure_cli`.
    Kind(CredentialKind),
    /// A `type: azure_ad` credential of hygge.yml's `credentials:`.
    Named(String),
}

impl<'de> Deserialize<'de> for MssqlCredential {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        let word = serde_json::Value::String(name.clone());
        Ok(match serde_json::from_value(word) {
            Ok(kind) => MssqlCredential::Kind(kind),
            Err(_) => MssqlCredential::Named(name),
        })
    }
}

impl MssqlConnectionConfig {
    /// The connection with a named `credential` replaced by what it says: its method as
    /// the Entra ID source, its tenant, client and secret as the values that source reads
    /// (instead of `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`). An
    /// unknown name, a credential of another type, or a method SQL Server cannot use
    /// (`storage_key`, `sas`) is an error naming what to do.
    pub fn with_credentials(
        mut self,
        credentials: &crate::credentials::Credentials,
    ) -> Result<Self, String> {
        use crate::credentials::{AzureCredentialKind as M, CredentialConfig};
        let Some(MssqlCredential::Named(name)) = self.credential.clone() else {
            return Ok(self);
        };
        let names = || {
            let azure: Vec<&str> = (credentials.iter())
                .filter(|(_, c)| matches!(c, CredentialConfig::AzureAd(_)))
                .map(|(n, _)| n.as_str())
                .collect();
            if azure.is_empty() {
                "none is defined".to_string()
            } else {
                format!("azure_ad credentials: {}", azure.join(", "))
            }
        };
        let c = match credentials.get(&name) {
            Some(CredentialConfig::AzureAd(c)) => c,
            Some(other) => {
                return Err(format!(
                    "credential: `{name}` is a {} credential; SQL Server signs in with a `type: azure_ad` one ({})",
                    other.type_name(),
                    names()
                ));
            }
            None => {
                return Err(format!(
                    "credential: `{name}` is neither an Entra ID source (access_token, service_principal, workload_identity, managed_identity, azure_cli) nor a credential of hygge.yml's `credentials:` ({})",
                    names()
                ));
            }
        };
        if self.user.is_some() {
            return Err(format!(
                "user: give either a SQL login (`user`/`password`) or a credential (`credential: {name}`), not both"
            ));
        }
        if self.client_id.is_some() && c.client_id.is_some() {
            return Err(format!(
                "client_id: given both here and by credential `{name}`; keep one"
            ));
        }
        let need = |keys: &[(&str, bool)]| {
            let missing: Vec<&str> = keys.iter().filter(|k| !k.1).map(|k| k.0).collect();
            match missing.as_slice() {
                [] => Ok(()),
                m => Err(format!(
                    "credential: `{name}` (method: {}) needs {} in hygge.yml's credentials.{name}",
                    c.method.name(),
                    m.join(", ")
                )),
            }
        };
        let (tenant, client, secret) = (
            c.tenant_id.is_some(),
            c.client_id.is_some(),
            c.client_secret.is_some(),
        );
        let kind = match c.method {
            M::Default => None,
            M::ServicePrincipal => {
                need(&[
                    ("tenant_id", tenant),
                    ("client_id", client),
                    ("client_secret", secret),
                ])?;
                Some(CredentialKind::ServicePrincipal)
            }
            M::WorkloadIdentity => {
                need(&[("tenant_id", tenant), ("client_id", client)])?;
                Some(CredentialKind::WorkloadIdentity)
            }
            M::ManagedIdentity => Some(CredentialKind::ManagedIdentity),
            M::AzureCli => Some(CredentialKind::AzureCli),
            M::StorageKey | M::Sas => {
                return Err(format!(
                    "credential: `{name}` signs in with method: {}, which only Azure Storage takes; SQL Server needs default, service_principal, workload_identity, managed_identity or azure_cli",
                    c.method.name()
                ));
            }
        };
        let mut values = Vec::new();
        if let Some(t) = &c.tenant_id {
            values.push(("AZURE_TENANT_ID", Secret(t.clone())));
        }
        if let Some(id) = &c.client_id {
            values.push(("AZURE_CLIENT_ID", Secret(id.clone())));
            if c.method == M::ManagedIdentity {
                self.client_id = Some(id.clone());
            }
        }
        if let Some(s) = &c.client_secret {
            values.push(("AZURE_CLIENT_SECRET", s.clone()));
        }
        self.credential = kind.map(MssqlCredential::Kind);
        self.entra_values = values;
        Ok(self)
    }
}

/// Azure's public SQL endpoints (`<server><suffix>`), whose certificates are publicly
/// valid: without `trust_cert`, their certificate is checked (nobody who reaches them
/// through these names loses anything by it). Private-link names keep the original's
/// default.
pub const AZURE_DOMAINS: &[&str] = &[
    ".database.windows.net",
    ".database.chinacloudapi.cn",
    ".database.usgovcloudapi.net",
    ".sql.azuresynapse.net",
    ".datawarehouse.fabric.microsoft.com",
    ".database.fabric.microsoft.com",
];

/// True for a host name under one of [`AZURE_DOMAINS`] (and not a private link).
fn azure_public(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    !host.contains(".privatelink.")
        && AZURE_DOMAINS
            .iter()
            .any(|d| host.len() > d.len() && host.ends_with(d))
}

/// True for this machine (`localhost` or a loopback address): no network between.
fn local(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// How the connection logs in.
#[derive(Debug, Clone)]
pub enum Login {
    /// A SQL login.
    Sql {
        /// User.
        user: String,
        /// Password.
        password: Secret,
    },
    /// An Entra ID access token.
    Entra(TokenProvider),
}

impl MssqlConnectionConfig {
    /// Connections in the pool.
    pub fn pool_size(&self) -> usize {
        self.pool_size.unwrap_or(DEFAULT_POOL_SIZE).max(1)
    }

    /// `(host, port)` from `server`.
    pub fn host_port(&self) -> Result<(String, u16), String> {
        let server = self
            .server
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(
                "server: say which server to connect to (`server: myserver.database.windows.net`)",
            )?;
        let s = server.strip_prefix("tcp:").unwrap_or(server);
        if s.contains('\\') {
            return Err(format!(
                "server: `{server}` names an instance; give its port instead (`host,port`)"
            ));
        }
        let (host, port) = match s.rsplit_once(',').or_else(|| {
            // `host:port`, but not an IPv6 address.
            s.rsplit_once(':').filter(|(h, _)| !h.contains(':'))
        }) {
            Some((h, p)) => {
                let port = p
                    .trim()
                    .parse::<u16>()
                    .map_err(|_| format!("server: `{p}` in `{server}` is not a port number"))?;
                (h.trim(), port)
            }
            None => (s.trim(), 1433),
        };
        if host.is_empty() {
            return Err(format!("server: `{server}` has no host name"));
        }
        Ok((host.trim_matches(['[', ']']).to_string(), port))
    }

    fn encryption(&self) -> Result<EncryptionLevel, String> {
        let Some(e) = &self.encrypt else {
            return Ok(EncryptionLevel::Required);
        };
        Ok(match e.word().as_str() {
            "yes" | "true" | "mandatory" | "required" | "1" | "on" => EncryptionLevel::Required,
            "strict" => EncryptionLevel::Strict,
            "no" | "false" | "optional" | "0" => EncryptionLevel::Off,
            "off" | "disabled" | "not_supported" | "none" => EncryptionLevel::NotSupported,
            w => {
                return Err(format!("encrypt: `{w}` is not one of yes, strict, no, off"));
            }
        })
    }

    /// Whether the server's certificate goes unchecked: `trust_cert`, else yes (the
    /// original's default) except with `trust_cert_ca` or for Azure's public endpoints.
    fn trusts_cert(&self) -> Result<bool, String> {
        match &self.trust_cert {
            Some(f) => f.yes_no("trust_cert"),
            None => Ok(self.trust_cert_ca.is_none()
                && !self.host_port().is_ok_and(|(host, _)| azure_public(&host))),
        }
    }

    /// A warning when the login (a SQL password or an Entra ID token) will be sent to a
    /// server that is not verified, over the network: `trust_cert: yes`, or `encrypt:
    /// no`/`off` (a man in the middle answers that it has no TLS, and the login goes in
    /// the clear). Names the connection and the key to set; never the secret.
    pub fn credential_warning(&self, name: &str) -> Option<String> {
        let (host, _) = self.host_port().ok()?;
        if local(&host) {
            return None;
        }
        let which = if name == "inline" {
            format!("mssql {}", self.describe())
        } else {
            format!("connection `{name}` ({})", self.describe())
        };
        let secret = if self.user.is_some() {
            "its SQL login password"
        } else {
            "its Entra ID access token (good for an hour against every database the identity can reach)"
        };
        let how = match self.encryption().ok()? {
            EncryptionLevel::Off | EncryptionLevel::NotSupported => {
                "over a connection a man in the middle can keep unencrypted (`encrypt: no` or `off`); set `encrypt: yes` (or `strict`) and `trust_cert: no`"
            }
            _ if self.trusts_cert().ok()? => {
                "to whatever server answers: its certificate is not checked (`trust_cert: yes`, the default outside Azure's public endpoints); set `trust_cert: no` to check it against the system's trusted roots, or `trust_cert_ca: <ca.pem>` for a private certificate authority"
            }
            _ => return None,
        };
        Some(format!("{which}: {secret} is sent {how}"))
    }

    /// How it logs in.
    pub fn login(&self) -> Result<Login, String> {
        match (&self.user, &self.password) {
            (Some(user), password) => {
                if self.credential.is_some() || self.access_token.is_some() {
                    return Err(
                        "user: give either a SQL login (`user`/`password`) or Entra ID (`credential`/`access_token`), not both"
                            .into(),
                    );
                }
                Ok(Login::Sql {
                    user: user.clone(),
                    password: password.clone().unwrap_or_default(),
                })
            }
            (None, Some(_)) => Err("password: a password needs a `user`".into()),
            (None, None) => Ok(Login::Entra(TokenProvider::new(EntraSettings {
                credential: match &self.credential {
                    None => None,
                    Some(MssqlCredential::Kind(k)) => Some(*k),
                    Some(MssqlCredential::Named(n)) => {
                        return Err(format!(
                            "credential: `{n}` was not looked up in hygge.yml's `credentials:`"
                        ));
                    }
                },
                values: self.entra_values.clone(),
                access_token: self.access_token.clone(),
                client_id: self.client_id.clone(),
            }))),
        }
    }

    /// The driver configuration, without credentials (they are added per connection).
    pub fn driver_config(&self) -> Result<Config, String> {
        let (host, port) = self.host_port()?;
        let mut c = Config::new();
        c.host(&host);
        c.port(port);
        if let Some(db) = &self.database {
            c.database(db);
        }
        c.application_name("hygge");
        c.encryption(self.encryption()?);
        if self.trusts_cert()? {
            c.trust_cert();
        } else if let Some(ca) = &self.trust_cert_ca {
            if !std::path::Path::new(ca).is_file() {
                return Err(format!("trust_cert_ca: no file at {ca}"));
            }
            c.trust_cert_ca(ca);
        }
        let timeout = Duration::from_secs(self.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS).max(1));
        c.handshake_timeout(Some(timeout));
        // Long reads and loads must not be cut off: no per-command timeout.
        c.command_timeout(None);
        Ok(c)
    }

    /// `mssql://user@host:port/db` or `mssql://host:port/db (Entra ID)`: no secret.
    pub fn describe(&self) -> String {
        let (host, port) = self.host_port().unwrap_or_else(|_| ("?".into(), 1433));
        let db = self.database.as_deref().unwrap_or("");
        match &self.user {
            Some(u) => format!("mssql://{u}@{host}:{port}/{db}"),
            None => format!("mssql://{host}:{port}/{db} (Entra ID)"),
        }
    }
}

/// The settings a home or store connects with: the named `connection` (from `hygge.yml`),
/// with any connection keys given inline over it; or the inline keys alone.
pub fn resolve(
    name: Option<&str>,
    inline: &crate::tree::Node,
    conns: &crate::connections::Connections,
) -> Result<(String, MssqlConnectionConfig), String> {
    let (name, cfg): (String, MssqlConnectionConfig) = crate::common::named_or_inline(
        "mssql",
        name,
        inline,
        conns,
        |c| matches!(c, crate::connections::ConnectionConfig::Mssql(_)),
        "`server` and `database`",
    )?;
    let cfg = cfg.with_credentials(&conns.credentials)?;
    cfg.driver_config()?;
    cfg.login()?;
    Ok((name, cfg))
}

/// Which side of a flow uses a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Reads (homes).
    Home,
    /// Writes (stores).
    Store,
}

/// Opens connections for a pool.
pub struct Manager {
    config: Config,
    login: Login,
}

impl Manager {
    /// Connects and logs in once (also what `hygge debug` does). Returns the client and
    /// the credential source used (`sql_login` or an Entra ID source).
    pub async fn connect(&self) -> Result<(MsClient, &'static str), String> {
        self.connect_once().await.map_err(|(e, _)| e)
    }

    /// Connects, retrying transient failures (Azure SQL failovers and throttling, a reset
    /// connection) twice, after 1 s and 2 s; a refused login or a TLS mismatch is final.
    pub async fn connect_retrying(&self) -> Result<MsClient, String> {
        let mut delay = Duration::from_secs(1);
        for attempt in 1.. {
            match self.connect_once().await {
                Ok((c, _)) => return Ok(c),
                Err((e, true)) if attempt < CONNECT_ATTEMPTS => {
                    tracing::warn!("{e}; connecting again in {}s", delay.as_secs());
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err((e, _)) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }

    /// One attempt; the error says whether trying again may help.
    async fn connect_once(&self) -> Result<(MsClient, &'static str), (String, bool)> {
        let mut config = self.config.clone();
        let source = match &self.login {
            Login::Sql { user, password } => {
                config.authentication(AuthMethod::sql_server(user, &password.0));
                "sql_login"
            }
            Login::Entra(tokens) => {
                let t = tokens.token().await.map_err(|e| (e, false))?;
                config.authentication(AuthMethod::aad_token(&t.token.0));
                t.source.as_str()
            }
        };
        let addr = config.get_addr();
        let tcp = TcpStream::connect(&addr)
            .await
            .map_err(|e| (format!("cannot reach {addr}: {e}"), true))?;
        tcp.set_nodelay(true).ok();
        let client = Client::connect(config, tcp.compat_write())
            .await
            .map_err(|e| (login_error(&e, source), transient(&e)))?;
        Ok((client, source))
    }
}

/// Connection attempts for a pooled connection (the original hygge retried 3 times too).
const CONNECT_ATTEMPTS: u32 = 3;

/// SQL Server / Azure SQL errors that say "try again": the database is moving or starting
/// (40613, 40197, 40143, 40540, 4221), the service is busy or throttling (40501, 10928,
/// 10929, 49918-49920), or the connection broke (233, 10053, 10054, 10060, 64, 20).
const TRANSIENT: &[u32] = &[
    20, 64, 233, 4221, 10053, 10054, 10060, 10928, 10929, 40143, 40197, 40501, 40540, 40613, 49918,
    49919, 49920,
];

fn transient(e: &tiberius::error::Error) -> bool {
    match e {
        tiberius::error::Error::Server(t) => TRANSIENT.contains(&t.code()),
        tiberius::error::Error::Io { .. } => true,
        _ => false,
    }
}

/// A server error during connect is a refused login; anything else (TLS, I/O) is not.
fn login_error(e: &tiberius::error::Error, source: &str) -> String {
    // The driver's advice names its Rust API; say the YAML key instead.
    let m = error_text(e).replace("`Config::trust_cert_ca(path)`", "`trust_cert_ca: <file>`");
    match (e, source) {
        (tiberius::error::Error::Server(_), "sql_login") => {
            format!("login failed (SQL login): {m}")
        }
        (tiberius::error::Error::Server(_), s) => {
            format!("login failed (Entra ID token from {s}): {m}")
        }
        (tiberius::error::Error::Tls(_), _) => {
            format!("TLS with the server failed (check `encrypt` and `trust_cert`): {m}")
        }
        _ => format!("could not connect (check `server`, `encrypt`; is it SQL Server?): {m}"),
    }
}

/// A driver error as one line: server errors keep their number and message.
pub fn error_text(e: &tiberius::error::Error) -> String {
    match e {
        tiberius::error::Error::Server(t) => {
            format!("SQL Server error {}: {}", t.code(), t.message())
        }
        other => other.to_string(),
    }
}

impl managed::Manager for Manager {
    type Type = MsClient;
    type Error = String;

    async fn create(&self) -> Result<MsClient, String> {
        // Callers add the connection's label to every error.
        self.connect_retrying().await
    }

    async fn recycle(&self, client: &mut MsClient, _: &Metrics) -> RecycleResult<String> {
        let alive = async {
            client.simple_query("SELECT 1").await?.into_row().await?;
            Ok::<_, tiberius::error::Error>(())
        };
        alive
            .await
            .map_err(|e| managed::RecycleError::Message(error_text(&e).into()))
    }
}

/// A pool of connections to one server, shared by every entity that uses it in one role.
pub struct MsPool {
    /// The connection's name (`connections.<name>`), or `inline`.
    pub name: String,
    /// Where it connects (no secret).
    pub description: String,
    pool: managed::Pool<Manager>,
}

impl std::fmt::Debug for MsPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MsPool({})", self.label())
    }
}

impl MsPool {
    /// `connection <name> (<where>)`, for messages.
    pub fn label(&self) -> String {
        format!("connection {} ({})", self.name, self.description)
    }

    /// A connection from the pool (waits for a free one).
    pub async fn get(&self) -> Result<Lease, String> {
        self.pool.get().await.map(Lease::new).map_err(|e| match e {
            managed::PoolError::Backend(m) => m,
            other => format!("{}: {other}", self.label()),
        })
    }

    /// A connection if one is free or can be opened now, without waiting.
    pub async fn try_get(&self) -> Option<Lease> {
        let s = self.pool.status();
        if s.available == 0 && s.size >= s.max_size {
            return None;
        }
        let t = managed::Timeouts {
            wait: Some(Duration::ZERO),
            ..self.pool.timeouts()
        };
        self.pool.timeout_get(&t).await.ok().map(Lease::new)
    }

    /// Connects once outside the pool and says which credential source logged in.
    pub async fn check(&self) -> Result<&'static str, String> {
        let (mut c, source) = self.pool.manager().connect().await?;
        c.simple_query("SELECT 1")
            .await
            .map_err(|e| error_text(&e))?
            .into_row()
            .await
            .map_err(|e| error_text(&e))?;
        let _ = c.close().await;
        Ok(source)
    }

    /// Connections open right now.
    pub fn open(&self) -> usize {
        self.pool.status().size
    }
}

/// A connection on loan. Unless [`Lease::done`] says its work ended cleanly, it is closed
/// on drop instead of returned: a half-read result or an open transaction must never be
/// handed to the next user.
pub struct Lease {
    obj: Option<Object<Manager>>,
    clean: bool,
}

impl Lease {
    fn new(obj: Object<Manager>) -> Self {
        Lease {
            obj: Some(obj),
            clean: false,
        }
    }

    /// The client.
    pub fn client(&mut self) -> &mut MsClient {
        self.obj.as_mut().expect("lease holds a connection")
    }

    /// The work ended cleanly: the connection may go back to the pool.
    pub fn done(mut self) {
        self.clean = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(obj) = self.obj.take()
            && !self.clean
        {
            drop(Object::take(obj));
        }
    }
}

/// The pool for this connection and role (one per process, shared by every entity).
pub fn pool(name: &str, cfg: &MssqlConnectionConfig, role: Role) -> Result<Arc<MsPool>, String> {
    static POOLS: OnceLock<Mutex<HashMap<String, Arc<MsPool>>>> = OnceLock::new();
    let config = cfg.driver_config()?;
    let login = cfg.login()?;
    let key = format!(
        "{name}\u{0}{cfg:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{role:?}",
        cfg.password.as_ref().map(|p| &p.0),
        cfg.access_token.as_ref().map(|p| &p.0),
        cfg.entra_values
            .iter()
            .map(|(_, v)| &v.0)
            .collect::<Vec<_>>()
    );
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&key) {
        return Ok(p.clone());
    }
    let description = cfg.describe();
    let manager = Manager { config, login };
    let pool = managed::Pool::builder(manager)
        .max_size(cfg.pool_size())
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| format!("connection {name}: {e}"))?;
    let p = Arc::new(MsPool {
        name: name.to_string(),
        description,
        pool,
    });
    pools.insert(key, p.clone());
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(s: &str) -> Result<(String, u16), String> {
        MssqlConnectionConfig {
            server: Some(s.into()),
            ..Default::default()
        }
        .host_port()
    }

    #[test]
    fn server_forms() {
        assert_eq!(
            server("db.example.net").unwrap(),
            ("db.example.net".into(), 1433)
        );
        assert_eq!(
            server("tcp:db.example.net,14330").unwrap(),
            ("db.example.net".into(), 14330)
        );
        assert_eq!(
            server("127.0.0.1,1500").unwrap(),
            ("127.0.0.1".into(), 1500)
        );
        assert_eq!(
            server("localhost:1501").unwrap(),
            ("localhost".into(), 1501)
        );
        assert!(server("host\\SQLEXPRESS").unwrap_err().contains("instance"));
        assert!(server("host,abc").unwrap_err().contains("not a port"));
        assert!(server(" ").is_err());
    }

    #[test]
    fn encrypt_words_and_login_choice() {
        let mut c = MssqlConnectionConfig {
            server: Some("h".into()),
            encrypt: Some(Flag::Word("Yes".into())),
            ..Default::default()
        };
        assert_eq!(c.encryption().unwrap(), EncryptionLevel::Required);
        c.encrypt = Some(Flag::Word("strict".into()));
        assert_eq!(c.encryption().unwrap(), EncryptionLevel::Strict);
        c.encrypt = Some(Flag::Bool(false));
        assert_eq!(c.encryption().unwrap(), EncryptionLevel::Off);
        c.encrypt = Some(Flag::Word("maybe".into()));
        assert!(c.encryption().unwrap_err().contains("encrypt"));
        c.encrypt = None;
        assert!(matches!(c.login().unwrap(), Login::Entra(_)));
        c.user = Some("sa".into());
        c.password = Some(Secret("pw".into()));
        assert!(matches!(c.login().unwrap(), Login::Sql { .. }));
        c.access_token = Some(Secret("t".into()));
        assert!(c.login().unwrap_err().contains("not both"));
        assert!(!format!("{c:?}").contains("pw"));
        assert!(!c.describe().contains("pw"));
    }

    #[test]
    fn a_named_credential_gives_the_entra_source_and_its_values() {
        use crate::credentials::{AzureAdCredential, AzureCredentialKind as M, CredentialConfig};
        let azure = |method, tenant: Option<&str>, secret: Option<&str>| {
            CredentialConfig::AzureAd(AzureAdCredential {
                method,
                tenant_id: tenant.map(String::from),
                client_id: Some("app-1".into()),
                client_secret: secret.map(|s| Secret(s.into())),
                ..Default::default()
            })
        };
        let mut creds = crate::credentials::Credentials::new();
        creds.insert(
            "sp".into(),
            azure(M::ServicePrincipal, Some("t-1"), Some("s3cr3t-x")),
        );
        creds.insert("half".into(), azure(M::ServicePrincipal, None, None));
        creds.insert("mi".into(), azure(M::ManagedIdentity, None, None));
        creds.insert("chain".into(), azure(M::Default, None, None));
        creds.insert("key".into(), azure(M::StorageKey, None, None));
        creds.insert(
            "aws".into(),
            CredentialConfig::S3(crate::credentials::S3Credential::default()),
        );
        let using = |name: &str| MssqlConnectionConfig {
            server: Some("h".into()),
            credential: Some(MssqlCredential::Named(name.into())),
            ..Default::default()
        };
        let sp = using("sp").with_credentials(&creds).unwrap();
        assert_eq!(
            sp.credential,
            Some(MssqlCredential::Kind(CredentialKind::ServicePrincipal))
        );
        let values: Vec<(&str, &str)> = (sp.entra_values.iter())
            .map(|(k, v)| (*k, v.0.as_str()))
            .collect();
        assert_eq!(
            values,
            [
                ("AZURE_TENANT_ID", "t-1"),
                ("AZURE_CLIENT_ID", "app-1"),
                ("AZURE_CLIENT_SECRET", "s3cr3t-x")
            ]
        );
        assert!(!format!("{sp:?}").contains("s3cr3t-x"));
        assert!(matches!(sp.login().unwrap(), Login::Entra(_)));
        assert_eq!(
            sp.clone().with_credentials(&creds).unwrap(),
            sp,
            "idempotent"
        );

        let mi = using("mi").with_credentials(&creds).unwrap();
        assert_eq!(mi.client_id.as_deref(), Some("app-1"));
        let chain = using("chain").with_credentials(&creds).unwrap();
        assert_eq!(chain.credential, None, "method: default is the whole chain");

        let err = |name: &str| using(name).with_credentials(&creds).unwrap_err();
        assert!(
            err("half").contains("needs tenant_id, client_secret"),
            "{}",
            err("half")
        );
        assert!(err("key").contains("method: storage_key"), "{}", err("key"));
        assert!(err("aws").contains("is a s3 credential"), "{}", err("aws"));
        let unknown = err("nope");
        assert!(
            unknown.contains("azure_ad credentials: chain, half, key, mi, sp"),
            "{unknown}"
        );
        let mut both = using("mi");
        both.client_id = Some("other".into());
        assert!(
            both.with_credentials(&creds)
                .unwrap_err()
                .contains("client_id")
        );
        let mut login = using("sp");
        login.user = Some("sa".into());
        assert!(
            login
                .with_credentials(&creds)
                .unwrap_err()
                .contains("not both")
        );
        assert!(using("sp").login().unwrap_err().contains("not looked up"));
    }

    #[test]
    fn azure_public_endpoints_are_verified_unless_trust_cert_says_otherwise() {
        let at = |server: &str| MssqlConnectionConfig {
            server: Some(server.into()),
            ..Default::default()
        };
        for server in [
            "myserver.database.windows.net",
            "tcp:MyServer.Database.Windows.Net,1433",
            "x.database.chinacloudapi.cn",
            "x.database.usgovcloudapi.net",
            "ws.sql.azuresynapse.net",
            "abc.datawarehouse.fabric.microsoft.com",
            "abc.database.fabric.microsoft.com",
        ] {
            let c = at(server);
            assert!(!c.trusts_cert().unwrap(), "{server}");
            assert_eq!(c.credential_warning("w"), None, "{server}");
            let c = MssqlConnectionConfig {
                trust_cert: Some(Flag::Word("yes".into())),
                ..c
            };
            assert!(c.trusts_cert().unwrap(), "{server}: an explicit yes wins");
        }
        // Elsewhere the original's default stays: trusted unless a CA is given.
        for server in [
            "db.example.com",
            "database.windows.net",
            "x.privatelink.database.windows.net",
            "x.database.windows.net.evil.example",
        ] {
            assert!(at(server).trusts_cert().unwrap(), "{server}");
        }
        let c = MssqlConnectionConfig {
            trust_cert_ca: Some("ca.pem".into()),
            ..at("db.example.com")
        };
        assert!(!c.trusts_cert().unwrap());
    }

    #[test]
    fn a_login_sent_to_an_unverified_server_is_warned_about_without_printing_it() {
        let sql = MssqlConnectionConfig {
            server: Some("db.example.com".into()),
            user: Some("loader".into()),
            password: Some(Secret("hunter2".into())),
            ..Default::default()
        };
        let w = sql.credential_warning("wh").unwrap();
        assert!(
            w.starts_with("connection `wh` (mssql://loader@db.example.com"),
            "{w}"
        );
        assert!(
            w.contains("SQL login password") && w.contains("`trust_cert: no`"),
            "{w}"
        );
        assert!(!w.contains("hunter2"), "{w}");
        let token = MssqlConnectionConfig {
            server: Some("db.example.com".into()),
            access_token: Some(Secret("eyJ0eXAi".into())),
            trust_cert: Some(Flag::Bool(false)),
            encrypt: Some(Flag::Word("no".into())),
            ..Default::default()
        };
        let w = token.credential_warning("inline").unwrap();
        assert!(w.starts_with("mssql mssql://db.example.com"), "{w}");
        assert!(
            w.contains("Entra ID access token") && w.contains("`encrypt: yes`"),
            "{w}"
        );
        assert!(!w.contains("eyJ0eXAi"), "{w}");
        // Verified, or on this machine: nothing to say.
        for quiet in [
            MssqlConnectionConfig {
                trust_cert: Some(Flag::Word("no".into())),
                ..sql.clone()
            },
            MssqlConnectionConfig {
                trust_cert_ca: Some("ca.pem".into()),
                ..sql.clone()
            },
            MssqlConnectionConfig {
                server: Some("127.0.0.1,1433".into()),
                ..sql.clone()
            },
            MssqlConnectionConfig {
                server: Some("myserver.database.windows.net".into()),
                ..sql.clone()
            },
        ] {
            assert_eq!(quiet.credential_warning("wh"), None, "{quiet:?}");
        }
    }
}
