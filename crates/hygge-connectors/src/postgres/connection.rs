//! PostgreSQL connection settings and pools.
//!
//! A connection is named in `hygge.yml` (`connections.<name>: {type: postgres, ...}`) or
//! given inline on a home or store (`url`, or `host`/`port`/`database`/`user`/`password`).
//! Every entity that uses the same connection in the same role (home or store) shares one
//! pool of at most `pool_size` connections; a connection is checked on every acquire (an
//! empty query) and replaced when it died. Homes and stores get separate pools, so a flow
//! that reads and writes through one connection can never wait on itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use serde::Deserialize;
use tokio_postgres::config::{Host, SslMode};

use super::tap;

/// Connections in a pool unless `pool_size` says otherwise (the default concurrency).
pub const DEFAULT_POOL_SIZE: usize = 8;

pub use crate::secret::Secret;

/// `connections.<name>` with `type: postgres`, or the same keys inline on a home or store.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PgConnectionConfig {
    /// `postgres://user:pass@host:port/db?sslmode=...` (or `key=value` pairs); the separate
    /// keys below override its parts.
    #[serde(default)]
    pub url: Option<Secret>,
    /// Host name, IP address or Unix socket folder (default `localhost`).
    #[serde(default)]
    pub host: Option<String>,
    /// Port (default 5432).
    #[serde(default)]
    pub port: Option<u16>,
    /// Database (default: the user's name).
    #[serde(default)]
    pub database: Option<String>,
    /// User (default `postgres`).
    #[serde(default)]
    pub user: Option<String>,
    /// Password (use `${VAR}`; never printed).
    #[serde(default)]
    pub password: Option<Secret>,
    /// As libpq: `disable`; `prefer` (default: TLS when the server offers it; no TLS when
    /// unset and the server is on this machine) and `require` (TLS or nothing) encrypt
    /// without checking the certificate; `verify-ca` checks that a trusted authority
    /// signed it, `verify-full` also that it names the host; against `sslrootcert`, or the
    /// Mozilla root store (webpki-roots, built in; not the system's store).
    #[serde(default)]
    pub sslmode: Option<String>,
    /// A PEM file of the certificate authorities to trust (`verify-ca`/`verify-full`; with
    /// `require`, as libpq, it means `verify-ca`).
    #[serde(default)]
    pub sslrootcert: Option<String>,
    /// Connections in the pool (default 8).
    #[serde(default)]
    pub pool_size: Option<usize>,
    /// Seconds to wait for a connection to open (default 30).
    #[serde(default)]
    pub connect_timeout: Option<u64>,
}

impl PgConnectionConfig {
    /// The driver's configuration; errors name the key.
    pub fn driver_config(&self) -> Result<tokio_postgres::Config, String> {
        let mut c = self.driver_config_without_tls()?;
        c.ssl_mode(match self.tls_mode()? {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Encrypt { required: false } => SslMode::Prefer,
            TlsMode::Encrypt { required: true } | TlsMode::Verify { .. } => SslMode::Require,
        });
        Ok(c)
    }

    /// The url, less the TLS parameters hygge reads itself (`sslmode`, which the driver
    /// knows only as disable/prefer/require, and `sslrootcert`), and those parameters.
    fn url_parts(&self) -> Result<Option<UrlParts>, String> {
        self.url
            .as_ref()
            .map(|u| split_tls_params(&u.0).map_err(|e| format!("url: {e}")))
            .transpose()
    }

    fn driver_config_without_tls(&self) -> Result<tokio_postgres::Config, String> {
        let mut c = match self.url_parts()? {
            Some(parts) => parts
                .rest
                .parse::<tokio_postgres::Config>()
                .map_err(|e| format!("url: not a PostgreSQL connection URL ({e})"))?,
            None => tokio_postgres::Config::new(),
        };
        if let Some(h) = &self.host {
            c.host(h);
        }
        if c.get_hosts().is_empty() {
            c.host("localhost");
        }
        if let Some(p) = self.port {
            c.port(p);
        }
        if let Some(d) = &self.database {
            c.dbname(d);
        }
        if let Some(u) = &self.user {
            c.user(u);
        }
        if c.get_user().is_none() {
            c.user("postgres");
        }
        if let Some(p) = &self.password {
            c.password(p.0.as_bytes());
        }
        c.connect_timeout(Duration::from_secs(
            self.connect_timeout.unwrap_or(30).max(1),
        ));
        c.application_name("hygge");
        let options = session_options(c.get_options());
        c.options(&options);
        if self.pool_size == Some(0) {
            return Err("pool_size must be at least 1".into());
        }
        Ok(c)
    }

    /// What TLS the settings ask for (a URL's `sslmode` unless `sslmode` is set). As
    /// libpq, `require` with a root certificate means `verify-ca`.
    fn tls_mode(&self) -> Result<TlsMode, String> {
        let parts = self.url_parts()?;
        let from_url = parts.as_ref().and_then(|p| p.sslmode.clone());
        let mode = match (self.sslmode.as_deref(), from_url.as_deref()) {
            (Some(m), _) | (None, Some(m)) => m.to_ascii_lowercase(),
            (None, None) if self.loopback() => "disable".into(),
            (None, None) => "prefer".into(),
        };
        let rooted = self.root_cert()?.is_some();
        Ok(match mode.as_str() {
            "disable" => TlsMode::Disable,
            "allow" | "prefer" => TlsMode::Encrypt { required: false },
            "require" if rooted => TlsMode::Verify { host: false },
            "require" => TlsMode::Encrypt { required: true },
            "verify-ca" => TlsMode::Verify { host: false },
            "verify-full" => TlsMode::Verify { host: true },
            other => {
                return Err(format!(
                    "sslmode: `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
        })
    }

    /// `sslrootcert`, or the url's.
    fn root_cert(&self) -> Result<Option<String>, String> {
        Ok(match &self.sslrootcert {
            Some(path) => Some(path.clone()),
            None => self.url_parts()?.and_then(|p| p.sslrootcert),
        })
    }

    /// A warning when a password will be sent to a server whose certificate is not
    /// checked (a man in the middle could receive it): `sslmode` other than verify-ca or
    /// verify-full, to a host that is not this machine. Names the connection and the key
    /// to set; never the secret.
    pub fn credential_warning(&self, name: &str) -> Option<String> {
        let c = self.driver_config_without_tls().ok()?;
        c.get_password()?;
        let mode = self.tls_mode().ok()?;
        if matches!(mode, TlsMode::Verify { .. }) || self.loopback() {
            return None;
        }
        let which = if name == "inline" {
            format!("postgres {}", describe(&c))
        } else {
            format!("connection `{name}` ({})", describe(&c))
        };
        let how = match mode {
            TlsMode::Disable => "without TLS (sslmode disable)",
            TlsMode::Encrypt { required: false } => {
                "over TLS only if the server offers it, and without checking the server's certificate (sslmode prefer)"
            }
            _ => "without checking the server's certificate (sslmode require)",
        };
        Some(format!(
            "{which}: its password is sent {how}, so a man in the middle could receive it; set `sslmode: verify-full` (with `sslrootcert: <ca.pem>` for a private certificate authority)"
        ))
    }

    /// True when every host is this machine (a loopback address, `localhost` or a Unix
    /// socket): there, TLS only costs CPU on both ends, so an unset `sslmode` means no TLS.
    fn loopback(&self) -> bool {
        let Ok(c) = self.driver_config_without_tls() else {
            return false;
        };
        c.get_hosts().iter().all(|h| match h {
            Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            #[cfg(unix)]
            Host::Unix(_) => true,
        })
    }

    /// `postgres://user@host:port/database`, without the password.
    pub fn describe(&self) -> String {
        match self.driver_config() {
            Ok(c) => describe(&c),
            Err(_) => "postgres (invalid settings)".into(),
        }
    }

    /// Connections in the pool.
    pub fn pool_size(&self) -> usize {
        self.pool_size.unwrap_or(DEFAULT_POOL_SIZE).max(1)
    }
}

fn describe(c: &tokio_postgres::Config) -> String {
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or("postgres"),
        c.get_dbname().unwrap_or(c.get_user().unwrap_or("postgres"))
    )
}

/// The settings a home or store connects with: the named `connection` (from `hygge.yml`),
/// with any connection keys given inline over it; or the inline keys alone. Errors name
/// the key.
pub fn resolve(
    name: Option<&str>,
    inline: &crate::tree::Node,
    conns: &crate::connections::Connections,
) -> Result<(String, PgConnectionConfig), String> {
    let (name, cfg): (String, PgConnectionConfig) = crate::common::named_or_inline(
        "postgres",
        name,
        inline,
        conns,
        |c| matches!(c, crate::connections::ConnectionConfig::Postgres(_)),
        "`url`, or `host`/`database`/`user`",
    )?;
    cfg.driver_config()?;
    Ok((name, cfg))
}

/// TLS as libpq's `sslmode` defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    Disable,
    /// Encrypted, certificate not checked (libpq's `prefer`/`require`).
    Encrypt {
        required: bool,
    },
    /// Encrypted, certificate checked: signed by a trusted authority, and naming the host
    /// (`verify-full`) or not (`verify-ca`).
    Verify {
        host: bool,
    },
}

/// The `options` a session starts with: the user's own (from the url), then hygge's.
/// Long COPY streams must not be cut by an idle server-side timeout (set before the user's,
/// which may change them); literals hygge writes (`sql::literal`, which doubles `'` only)
/// need `standard_conforming_strings` on (set last, so nothing turns it off).
fn session_options(user: Option<&str>) -> String {
    let mut options =
        String::from("-c statement_timeout=0 -c idle_in_transaction_session_timeout=0");
    if let Some(user) = user.map(str::trim).filter(|u| !u.is_empty()) {
        options.push(' ');
        options.push_str(user);
    }
    options.push_str(" -c standard_conforming_strings=on");
    options
}

/// A connection url split for the driver.
#[derive(Debug, Default, PartialEq, Eq)]
struct UrlParts {
    /// The url without `sslmode` and `sslrootcert`.
    rest: String,
    /// Its `sslmode`.
    sslmode: Option<String>,
    /// Its `sslrootcert`.
    sslrootcert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of a connection url (`postgres://...?a=b&...`)
/// or `key=value` string; the rest is left as it was. The error never quotes the url.
fn split_tls_params(url: &str) -> Result<UrlParts, String> {
    let lifted = |key: &str| key == "sslmode" || key == "sslrootcert";
    let mut parts = UrlParts::default();
    let mut take = |key: &str, value: String| match key {
        "sslmode" => parts.sslmode = Some(value),
        _ => parts.sslrootcert = Some(value),
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            parts.rest = url.to_string();
            return Ok(parts);
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(key)?;
            if lifted(&key) {
                take(&key, percent_decode(value)?);
            } else {
                kept.push(pair);
            }
        }
        parts.rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok(parts);
    }
    // `key=value key='quoted \' value' ...`
    let mut rest = String::new();
    let mut chars = url.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut key = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
            chars.next();
        }
        if chars.next().map(|(_, c)| c) != Some('=') {
            return Err(format!("`{key}` has no `=value`"));
        }
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek().is_some_and(|&(_, c)| c == '\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => return Err(format!("the value of `{key}` is not closed")),
                    },
                    Some((_, '\'')) => break,
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("the value of `{key}` is not closed")),
                }
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    if let Some((_, c)) = chars.next() {
                        value.push(c);
                    }
                    continue;
                }
                value.push(c);
                chars.next();
            }
        }
        let end = chars.peek().map_or(url.len(), |&(i, _)| i);
        if lifted(&key) {
            take(&key, value);
        } else {
            if !rest.is_empty() {
                rest.push(' ');
            }
            rest.push_str(&url[start..end]);
        }
    }
    parts.rest = rest;
    Ok(parts)
}

/// `%XX` decoded (as the driver decodes url parameters).
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a `%` not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a parameter that is not UTF-8 once decoded".to_string())
}

/// Which side of a flow uses a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Reads (homes).
    Home,
    /// Writes (stores).
    Store,
}

/// A pool of connections to one server, shared by every entity that uses it in one role.
pub struct PgPool {
    /// The connection's name (`connections.<name>`), or `inline`.
    pub name: String,
    /// Where it connects (no password).
    pub description: String,
    /// The pool's size.
    pub size: usize,
    pool: Pool,
}

impl std::fmt::Debug for PgPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPool")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("size", &self.size)
            .finish()
    }
}

impl PgPool {
    /// `connection `name` (postgres://...)`, for messages.
    pub fn label(&self) -> String {
        if self.name == "inline" {
            format!("postgres {}", self.description)
        } else {
            format!("connection `{}` ({})", self.name, self.description)
        }
    }

    /// A healthy connection, waiting for one to be free.
    pub async fn get(&self) -> Result<Object, String> {
        self.pool
            .get()
            .await
            .map_err(|e| format!("{}: {}", self.label(), pool_error(&e)))
    }

    /// A healthy connection if one is free now (or can be opened now), else `None`.
    pub async fn try_get(&self) -> Option<Object> {
        let status = self.pool.status();
        if status.available == 0 && status.size >= status.max_size {
            return None;
        }
        let mut timeouts = deadpool_postgres::Timeouts::wait_millis(0);
        timeouts.create = Some(Duration::from_secs(30));
        self.pool.timeout_get(&timeouts).await.ok()
    }
}

/// A pooled connection on loan. [`Lease::release`] returns it to the pool; dropped any
/// other way (an error, a cancelled run, a half-read COPY), the connection is closed
/// instead, so the server rolls back what it was doing and no later user inherits an open
/// transaction or an unfinished COPY.
pub struct Lease {
    obj: Option<Object>,
}

impl Lease {
    /// Wraps a connection taken from a pool.
    pub fn new(obj: Object) -> Lease {
        Lease { obj: Some(obj) }
    }

    /// The connection.
    pub fn client(&self) -> &tokio_postgres::Client {
        self.obj
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }

    /// Gives the connection back to the pool, idle and reusable.
    pub fn release(mut self) {
        drop(self.obj.take());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(obj) = self.obj.take() {
            drop(Object::take(obj));
        }
    }
}

/// The one pool for `(name, settings, role)` in this process.
pub fn pool(name: &str, cfg: &PgConnectionConfig, role: Role) -> Result<Arc<PgPool>, String> {
    static POOLS: OnceLock<Mutex<HashMap<String, Arc<PgPool>>>> = OnceLock::new();
    let driver = cfg.driver_config()?;
    let key = format!("{name}\u{0}{cfg:?}\u{0}{:?}\u{0}{role:?}", secret_key(cfg));
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&key) {
        return Ok(p.clone());
    }
    let size = cfg.pool_size();
    // Homes read through a tap (`tap.rs`): COPY rows reach the decoder in large chunks.
    // `HYGGE_PG_TAP=off` reads them through the driver instead, a message per row.
    let tapped = role == Role::Home && std::env::var("HYGGE_PG_TAP").as_deref() != Ok("off");
    let manager = match (cfg.tls_mode()?, tapped) {
        (TlsMode::Disable, false) => {
            Manager::from_config(driver.clone(), tokio_postgres::NoTls, mgr())
        }
        (TlsMode::Disable, true) => Manager::from_connect(driver.clone(), tap::PlainTap, mgr()),
        (mode, tapped) => {
            let verify = match mode {
                TlsMode::Verify { host } => Some((roots(cfg.root_cert()?.as_deref())?, host)),
                _ => None,
            };
            let tls = tls(verify)?;
            if tapped {
                Manager::from_config(driver.clone(), tap::TapTls(tls), mgr())
            } else {
                Manager::from_config(driver.clone(), tls, mgr())
            }
        }
    };
    let pool = Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| format!("cannot create the pool: {e}"))?;
    let p = Arc::new(PgPool {
        name: name.to_string(),
        description: describe(&driver),
        size,
        pool,
    });
    pools.insert(key, p.clone());
    Ok(p)
}

/// For `hygge debug`: connects and authenticates with `cfg`, runs a query, and returns the
/// server's version; the error says what failed.
pub async fn check(name: &str, cfg: &PgConnectionConfig) -> Result<String, String> {
    let pool = pool(name, cfg, Role::Home)?;
    let lease = Lease::new(pool.get().await?);
    let row = lease
        .client()
        .query_one(
            "SELECT current_setting('server_version'), current_user",
            &[],
        )
        .await
        .map_err(|e| format!("{}: {}", pool.label(), pg_error(&e)))?;
    let (version, user): (String, String) = (row.get(0), row.get(1));
    lease.release();
    Ok(format!("PostgreSQL {version} as {user}"))
}

/// Distinguishes pools whose only difference is a secret, without keeping it in the key.
fn secret_key(cfg: &PgConnectionConfig) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    cfg.url.as_ref().map(|s| &s.0).hash(&mut h);
    cfg.password.as_ref().map(|s| &s.0).hash(&mut h);
    h.finish()
}

fn mgr() -> ManagerConfig {
    ManagerConfig {
        // An empty query on every acquire: a dead connection is dropped and replaced.
        recycling_method: RecyclingMethod::Verified,
    }
}

/// A TLS connector: checking the server's certificate against `roots` (and, with `host`,
/// that it names the host: verify-full; without, verify-ca), or (libpq's
/// `prefer`/`require`) encrypting without checking it.
fn tls(
    verify: Option<(rustls::RootCertStore, bool)>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("sslmode: {e}"))?;
    let config = match verify {
        Some((roots, true)) => builder.with_root_certificates(roots).with_no_client_auth(),
        Some((roots, false)) => {
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("sslrootcert: {e}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyName(webpki)))
                .with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
            .with_no_client_auth(),
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The trusted authorities: the PEM file's, or the Mozilla root store.
fn roots(pem: Option<&str>) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let Some(path) = pem else {
        return Ok(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };
    let mut store = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("sslrootcert: cannot read {path}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("sslrootcert: {path}: {e}"))?;
        store
            .add(cert)
            .map_err(|e| format!("sslrootcert: {path}: {e}"))?;
    }
    if store.is_empty() {
        return Err(format!("sslrootcert: {path} holds no certificate"));
    }
    Ok(store)
}

/// libpq's `verify-ca`: the chain must lead to a trusted authority (checked first by
/// webpki), but the certificate need not name the host.
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                NotValidForName | NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Accepts any certificate (the handshake's signatures are still checked), as libpq does
/// for `sslmode=prefer` and `require`.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A driver error as one line: the server's message, detail and hint when it sent them.
pub fn pg_error(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.severity(), db.message());
        if let Some(d) = db.detail() {
            s.push_str(&format!(" ({d})"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        return s;
    }
    if e.is_closed() {
        return "the connection was closed (the server ended the session: it was terminated, restarted or the network failed)".into();
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

fn pool_error(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_error(e),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separate_keys_override_the_url_and_secrets_never_print() {
        let c = PgConnectionConfig {
            url: Some(Secret("postgres://u:hunter2@db.example:6543/app".into())),
            database: Some("other".into()),
            password: Some(Secret("s3cret".into())),
            ..Default::default()
        };
        let d = c.driver_config().unwrap();
        assert_eq!(d.get_dbname(), Some("other"));
        assert_eq!(d.get_ports(), &[6543]);
        assert_eq!(c.describe(), "postgres://u@db.example:6543/other");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2") && !dbg.contains("s3cret"), "{dbg}");
    }

    #[test]
    fn tls_is_off_by_default_only_for_this_machine() {
        let local = PgConnectionConfig {
            host: Some("127.0.0.1".into()),
            ..Default::default()
        };
        assert_eq!(local.tls_mode().unwrap(), TlsMode::Disable);
        let explicit = PgConnectionConfig {
            sslmode: Some("require".into()),
            ..local.clone()
        };
        assert_eq!(
            explicit.tls_mode().unwrap(),
            TlsMode::Encrypt { required: true }
        );
        let remote = PgConnectionConfig {
            url: Some(Secret("postgres://u@db.example.com/app".into())),
            ..Default::default()
        };
        assert_eq!(
            remote.tls_mode().unwrap(),
            TlsMode::Encrypt { required: false }
        );
        let url_mode = PgConnectionConfig {
            url: Some(Secret("postgres://u@localhost/app?sslmode=require".into())),
            ..Default::default()
        };
        assert_eq!(
            url_mode.tls_mode().unwrap(),
            TlsMode::Encrypt { required: true }
        );
    }

    #[test]
    fn standard_conforming_strings_is_always_on_and_the_users_options_are_kept() {
        let bare = PgConnectionConfig::default().driver_config().unwrap();
        let options = bare.get_options().unwrap();
        assert!(
            options.ends_with("-c standard_conforming_strings=on"),
            "{options}"
        );
        assert!(options.contains("-c statement_timeout=0"), "{options}");
        for url in [
            "postgres://u@db.example/app?options=-c%20search_path%3Dsales%20-c%20standard_conforming_strings%3Doff",
            "host=db.example user=u options='-c search_path=sales -c standard_conforming_strings=off'",
        ] {
            let c = PgConnectionConfig {
                url: Some(Secret(url.into())),
                ..Default::default()
            };
            let options = c
                .driver_config()
                .unwrap()
                .get_options()
                .unwrap()
                .to_string();
            assert!(options.contains("-c search_path=sales"), "{options}");
            // The user's options come before hygge's, so `on` wins.
            let user = options.find("standard_conforming_strings=off").unwrap();
            let ours = options.rfind("standard_conforming_strings=on").unwrap();
            assert!(user < ours && options.ends_with("=on"), "{options}");
        }
    }

    #[test]
    fn verify_modes_and_root_certificates_are_read_from_a_url() {
        let url = |u: &str| PgConnectionConfig {
            url: Some(Secret(u.into())),
            ..Default::default()
        };
        for (u, mode) in [
            (
                "postgres://u:p@db.example/app?sslmode=verify-full",
                TlsMode::Verify { host: true },
            ),
            (
                "postgresql://u@db.example/app?application_name=x&sslmode=verify-ca",
                TlsMode::Verify { host: false },
            ),
            (
                "host=db.example user=u sslmode=verify-full dbname=app",
                TlsMode::Verify { host: true },
            ),
            (
                "host=db.example sslmode = 'verify-ca' user=u",
                TlsMode::Verify { host: false },
            ),
            (
                "postgres://u@db.example/app?sslmode=require&sslrootcert=%2Fetc%2Fca.pem",
                TlsMode::Verify { host: false },
            ),
            (
                "postgres://u@localhost/app?sslmode=require",
                TlsMode::Encrypt { required: true },
            ),
            ("postgres://u@localhost/app", TlsMode::Disable),
        ] {
            let c = url(u);
            assert_eq!(c.tls_mode().unwrap(), mode, "{u}");
            let d = c.driver_config().unwrap();
            assert_eq!(d.get_user(), Some("u"), "{u}");
            assert_eq!(d.get_hosts().len(), 1, "{u}");
        }
        let c = url("postgres://u@db.example/app?sslmode=require&sslrootcert=%2Fetc%2Fca.pem");
        assert_eq!(c.root_cert().unwrap().as_deref(), Some("/etc/ca.pem"));
        assert_eq!(
            url("host=db.example dbname='my app' sslrootcert='/a b/ca.pem'")
                .driver_config()
                .unwrap()
                .get_dbname(),
            Some("my app")
        );
        // `require` with a root certificate is `verify-ca`, as libpq.
        let c = PgConnectionConfig {
            host: Some("db.example".into()),
            sslmode: Some("require".into()),
            sslrootcert: Some("/etc/ca.pem".into()),
            ..Default::default()
        };
        assert_eq!(c.tls_mode().unwrap(), TlsMode::Verify { host: false });
        // A bad url is refused without quoting it (it may hold a password).
        let e = url("host=db.example password='hunter2")
            .driver_config()
            .unwrap_err();
        assert!(e.starts_with("url:") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn a_password_sent_to_an_unverified_server_is_warned_about_without_printing_it() {
        let remote = PgConnectionConfig {
            url: Some(Secret("postgres://u:hunter2@db.example/x".into())),
            ..Default::default()
        };
        let w = remote.credential_warning("pg").unwrap();
        assert!(w.contains("connection `pg`"), "{w}");
        assert!(
            w.contains("sslmode prefer") && w.contains("`sslmode: verify-full`"),
            "{w}"
        );
        assert!(!w.contains("hunter2"), "{w}");
        for mode in ["require", "disable"] {
            let c = PgConnectionConfig {
                sslmode: Some(mode.into()),
                ..remote.clone()
            };
            let w = c.credential_warning("pg").unwrap();
            assert!(
                w.contains(&format!("sslmode {mode}")) && !w.contains("hunter2"),
                "{w}"
            );
        }
        let inline = PgConnectionConfig {
            host: Some("db.example".into()),
            password: Some(Secret("s3cret".into())),
            ..Default::default()
        };
        let w = inline.credential_warning("inline").unwrap();
        assert!(
            w.starts_with("postgres postgres://postgres@db.example:5432/"),
            "{w}"
        );
        assert!(!w.contains("s3cret"), "{w}");
        // Verified, local, or no password: nothing to warn about.
        for quiet in [
            PgConnectionConfig {
                sslmode: Some("verify-full".into()),
                ..remote.clone()
            },
            PgConnectionConfig {
                sslmode: Some("require".into()),
                sslrootcert: Some("/etc/ca.pem".into()),
                ..remote.clone()
            },
            PgConnectionConfig {
                url: Some(Secret("postgres://u:hunter2@127.0.0.1/x".into())),
                ..Default::default()
            },
            PgConnectionConfig {
                host: Some("/var/run/postgresql".into()),
                password: Some(Secret("s3cret".into())),
                ..Default::default()
            },
            PgConnectionConfig {
                host: Some("db.example".into()),
                ..Default::default()
            },
        ] {
            assert_eq!(quiet.credential_warning("pg"), None, "{quiet:?}");
        }
    }

    #[test]
    fn bad_settings_name_the_key() {
        let c = PgConnectionConfig {
            sslmode: Some("sometimes".into()),
            ..Default::default()
        };
        assert!(c.driver_config().unwrap_err().starts_with("sslmode:"));
        let c = PgConnectionConfig {
            pool_size: Some(0),
            ..Default::default()
        };
        assert!(c.driver_config().unwrap_err().starts_with("pool_size"));
    }
}
