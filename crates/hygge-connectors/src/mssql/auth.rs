//! Entra ID (Azure AD) access tokens for Azure SQL / SQL Server logins.
//!
//! [`TokenProvider`] walks a chain like Azure's `DefaultAzureCredential` (which azure_identity
//! 1.0 doesn't have): explicit token, service principal, workload identity, managed identity,
//! Azure CLI. Every environment read goes through an injectable function, so tests never touch
//! the process environment. Service principal, workload identity and the CLI use
//! azure_identity's credentials, fed with the injected values (authority host through
//! `ClientOptions::cloud`, `PATH` through a custom `Executor`). Managed identity is a plain
//! HTTP GET written here: azure_identity's `ManagedIdentityCredential` reads `IDENTITY_ENDPOINT`
//! & co. from the process environment only and has no short IMDS timeout.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredentialOptions,
    ClientSecretCredential, ClientSecretCredentialOptions, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};

use crate::secret::Secret;

const SCOPE: &str = "https://database.windows.net/.default";
const RESOURCE: &str = "https://database.windows.net/";
const ENV_TOKEN: &str = "HYGGE_MSSQL_ACCESS_TOKEN";
const IMDS_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// Refresh this long before a token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// An explicit token that isn't a JWT is trusted for this long.
const EXPLICIT_TTL: Duration = Duration::from_secs(60 * 60);
/// Connecting to IMDS: short, so a laptop (no IMDS) isn't stuck.
const IMDS_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A whole managed identity request (IMDS can take a few seconds to issue a first token).
const MI_TIMEOUT: Duration = Duration::from_secs(10);
/// A whole token request to Entra ID or the Azure CLI.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
const CHAIN: [CredentialKind; 5] = [
    CredentialKind::AccessToken,
    CredentialKind::ServicePrincipal,
    CredentialKind::WorkloadIdentity,
    CredentialKind::ManagedIdentity,
    CredentialKind::AzureCli,
];

/// Reads one environment variable (injectable so tests never mutate the process env).
pub type EnvFn = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where a token came from (for `hygge debug` and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// `access_token` in the config, or `HYGGE_MSSQL_ACCESS_TOKEN`.
    AccessToken,
    /// `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET`.
    ServicePrincipal,
    /// `AZURE_FEDERATED_TOKEN_FILE` + `AZURE_CLIENT_ID` + `AZURE_TENANT_ID` (AKS).
    WorkloadIdentity,
    /// App Service (`IDENTITY_ENDPOINT`), `MSI_ENDPOINT`, or a VM's IMDS.
    ManagedIdentity,
    /// The signed-in Azure CLI (`az`).
    AzureCli,
}

impl CredentialKind {
    /// The snake_case name used in YAML, logs and `hygge debug`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::ServicePrincipal => "service_principal",
            Self::WorkloadIdentity => "workload_identity",
            Self::ManagedIdentity => "managed_identity",
            Self::AzureCli => "azure_cli",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Self::AccessToken => "set access_token (or HYGGE_MSSQL_ACCESS_TOKEN) to a valid token",
            Self::ServicePrincipal => {
                "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
            }
            Self::WorkloadIdentity => {
                "set AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID and AZURE_TENANT_ID"
            }
            Self::ManagedIdentity => "run on an Azure resource with a managed identity",
            Self::AzureCli => "sign in with `az login`",
        }
    }
}

/// What the connection config says about Entra ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntraSettings {
    /// Pin one source; None = the chain, in order.
    pub credential: Option<CredentialKind>,
    /// An explicit token (YAML `access_token: ${VAR}`).
    pub access_token: Option<Secret>,
    /// User-assigned managed identity client id (optional).
    pub client_id: Option<String>,
    /// `AZURE_*` values from a named credential (hygge.yml `credentials:`), read before
    /// the environment's.
    pub values: Vec<(&'static str, Secret)>,
}

/// A token for `https://database.windows.net/.default`, with where it came from.
/// `Debug` prints `***` for the token.
#[derive(Clone, Debug)]
pub struct EntraToken {
    /// The bearer token.
    pub token: Secret,
    /// The source that issued it.
    pub source: CredentialKind,
    /// When it expires.
    pub expires_at: SystemTime,
}

/// Gets tokens, caches the last one, and refreshes it 5 minutes before it expires.
/// Cheap to clone (Arc inside); shared by every connection of a pool.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

struct Inner {
    settings: EntraSettings,
    env: EnvFn,
    imds_url: String,
    /// HTTP transport for azure_identity's credentials (None = its reqwest client).
    transport: Option<Transport>,
    /// Held across a fetch, so concurrent callers share one.
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    token: Option<EntraToken>,
    /// The source that won the chain; refreshes go there.
    source: Option<CredentialKind>,
}

/// Why a source gave no token: `Next` lets the chain go on, `Stop` ends it.
enum Miss {
    Next(String),
    Stop(String),
}

impl Miss {
    fn text(self) -> String {
        match self {
            Miss::Next(m) | Miss::Stop(m) => m,
        }
    }
}

type Fetched = Result<(String, SystemTime), Miss>;

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// A provider that reads the process environment.
    pub fn new(settings: EntraSettings) -> Self {
        Self::with_env(settings, Arc::new(|k: &str| std::env::var(k).ok()))
    }

    /// A provider that reads environment variables through `env` (for tests and embedding).
    pub fn with_env(settings: EntraSettings, env: EnvFn) -> Self {
        Self::build(settings, env, IMDS_URL.to_string(), None)
    }

    fn build(settings: EntraSettings, env: EnvFn, imds: String, tr: Option<Transport>) -> Self {
        let inner = Inner {
            settings,
            env,
            imds_url: imds,
            transport: tr,
            state: tokio::sync::Mutex::new(State::default()),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// A token valid for at least 5 more minutes (cached; concurrent callers share one fetch).
    /// An explicit token is returned as is while it hasn't expired.
    pub async fn token(&self) -> Result<EntraToken, String> {
        let mut state = self.inner.state.lock().await;
        if let Some(t) = &state.token
            && t.expires_at > SystemTime::now() + REFRESH_MARGIN
        {
            return Ok(t.clone());
        }
        let result = match state.source.or(self.inner.settings.credential) {
            Some(kind) => self.fetch(kind).await.map_err(|m| {
                format!(
                    "Entra ID credential {} failed: {}; to fix: {}",
                    kind.as_str(),
                    m.text(),
                    kind.hint()
                )
            }),
            None => self.chain().await,
        };
        let token = result.map_err(|e| self.redact(e))?;
        let (source, at) = (token.source.as_str(), utc(token.expires_at));
        tracing::debug!(source, expires_at = %at, "Entra ID token acquired");
        state.source = Some(token.source);
        state.token = Some(token.clone());
        Ok(token)
    }

    async fn chain(&self) -> Result<EntraToken, String> {
        let mut why = Vec::new();
        for kind in CHAIN {
            match self.fetch(kind).await {
                Ok(t) => return Ok(t),
                Err(Miss::Stop(m)) => return Err(format!("{}: {m}", kind.as_str())),
                Err(Miss::Next(m)) => {
                    let m = self.redact(m);
                    tracing::debug!(source = kind.as_str(), "Entra ID source unavailable: {m}");
                    why.push(format!("{}: {m}", kind.as_str()));
                }
            }
        }
        Err(format!(
            "no Entra ID credential worked ({}). Set access_token, or sign in with `az login`, \
             or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service \
             principal, or run where a managed identity is available",
            why.join("; ")
        ))
    }

    async fn fetch(&self, kind: CredentialKind) -> Result<EntraToken, Miss> {
        let (token, expires_at) = match kind {
            CredentialKind::AccessToken => self.explicit(),
            CredentialKind::ServicePrincipal => self.service_principal().await,
            CredentialKind::WorkloadIdentity => self.workload_identity().await,
            CredentialKind::ManagedIdentity => self.managed_identity().await,
            CredentialKind::AzureCli => self.azure_cli().await,
        }?;
        let token = Secret(token);
        Ok(EntraToken {
            token,
            source: kind,
            expires_at,
        })
    }

    /// One variable (a named credential's value first); empty counts as unset.
    fn var(&self, key: &str) -> Option<String> {
        let given = self.inner.settings.values.iter().find(|(k, _)| *k == key);
        match given {
            Some((_, v)) => Some(v.0.clone()),
            None => (self.inner.env)(key),
        }
        .filter(|v| !v.is_empty())
    }

    /// All of `keys`, or a `Next` naming the missing ones (no network call).
    fn require(&self, keys: &[&str]) -> Result<Vec<String>, Miss> {
        let vals: Vec<_> = keys.iter().map(|k| self.var(k)).collect();
        let missing: Vec<&str> = (keys.iter().zip(&vals))
            .filter_map(|(k, v)| v.is_none().then_some(*k))
            .collect();
        if !missing.is_empty() {
            return Err(Miss::Next(format!("{} not set", missing.join(", "))));
        }
        Ok(vals.into_iter().flatten().collect())
    }

    /// Replaces every known secret in `msg` by `***`.
    fn redact(&self, mut msg: String) -> String {
        let keys = [
            ENV_TOKEN,
            "AZURE_CLIENT_SECRET",
            "IDENTITY_HEADER",
            "MSI_SECRET",
        ];
        let mut secrets: Vec<String> = keys.iter().filter_map(|k| self.var(k)).collect();
        secrets.extend(
            self.inner
                .settings
                .access_token
                .as_ref()
                .map(|s| s.0.clone()),
        );
        for s in secrets.iter().filter(|s| s.len() >= 4) {
            msg = msg.replace(s.as_str(), "***");
        }
        msg
    }

    fn explicit(&self) -> Fetched {
        let config = self.inner.settings.access_token.as_ref();
        let token = match config.filter(|s| !s.0.is_empty()) {
            Some(s) => s.0.clone(),
            None => self.var(ENV_TOKEN).ok_or_else(|| {
                Miss::Next(format!(
                    "no access_token in the config and {ENV_TOKEN} not set"
                ))
            })?,
        };
        let Some(exp) = jwt_exp(&token) else {
            return Ok((token, SystemTime::now() + EXPLICIT_TTL));
        };
        let at = epoch(exp);
        if at <= SystemTime::now() {
            // The user chose this token: say so rather than silently trying other sources.
            return Err(Miss::Stop(format!(
                "the access token expired at {} (its JWT `exp`); get a fresh one",
                utc(at)
            )));
        }
        if at <= SystemTime::now() + REFRESH_MARGIN {
            tracing::warn!("the explicit access token expires at {}", utc(at));
        }
        Ok((token, at))
    }

    /// azure_identity client options: our transport, and the authority host from the injected
    /// env (else azure_identity would read `AZURE_AUTHORITY_HOST` from the process env).
    fn client_options(&self) -> ClientOptions {
        install_crypto();
        let cloud = match self.var("AZURE_AUTHORITY_HOST") {
            Some(host) => {
                let mut custom = CustomConfiguration::default();
                custom.authority_host = host;
                CloudConfiguration::Custom(custom)
            }
            None => CloudConfiguration::AzurePublic,
        };
        ClientOptions {
            transport: self.inner.transport.clone(),
            cloud: Some(Arc::new(cloud)),
            ..Default::default()
        }
    }

    async fn service_principal(&self) -> Fetched {
        let v = self.require(&["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"])?;
        let options = ClientSecretCredentialOptions {
            client_options: self.client_options(),
        };
        let secret = v[2].clone().into();
        let cred = ClientSecretCredential::new(&v[0], v[1].clone(), secret, Some(options))
            .map_err(|e| Miss::Next(one_line(&e)))?;
        get_token(cred.as_ref()).await
    }

    async fn workload_identity(&self) -> Fetched {
        let v = self.require(&[
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_CLIENT_ID",
            "AZURE_TENANT_ID",
        ])?;
        let client_options = self.client_options();
        let options = WorkloadIdentityCredentialOptions {
            credential_options: ClientAssertionCredentialOptions { client_options },
            client_id: Some(v[1].clone()),
            tenant_id: Some(v[2].clone()),
            token_file_path: Some(PathBuf::from(&v[0])),
        };
        let cred = WorkloadIdentityCredential::new(Some(options));
        let cred = cred.map_err(|e| Miss::Next(one_line(&e)))?;
        get_token(cred.as_ref()).await
    }

    /// App Service (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, API 2019-08-01), `MSI_ENDPOINT`
    /// (Azure ML / legacy App Service with `MSI_SECRET`; Cloud Shell without, where `az`
    /// comes next in the chain anyway), else the VM's IMDS.
    async fn managed_identity(&self) -> Fetched {
        install_crypto();
        let mut builder = reqwest::Client::builder().no_proxy().timeout(MI_TIMEOUT);
        let metadata = ("Metadata", "true".to_string());
        let (url, api, id_param, header) = if let Some(ep) = self.var("IDENTITY_ENDPOINT") {
            let Some(h) = self.var("IDENTITY_HEADER") else {
                let m = "IDENTITY_ENDPOINT without IDENTITY_HEADER (Azure Arc) isn't supported";
                return Err(Miss::Next(m.into()));
            };
            (ep, "2019-08-01", "client_id", ("X-IDENTITY-HEADER", h))
        } else if let Some(ep) = self.var("MSI_ENDPOINT") {
            let h = self.var("MSI_SECRET").map_or(metadata, |s| ("secret", s));
            (ep, "2017-09-01", "clientid", h)
        } else {
            builder = builder.connect_timeout(IMDS_CONNECT_TIMEOUT);
            (
                self.inner.imds_url.clone(),
                "2018-02-01",
                "client_id",
                metadata,
            )
        };
        let mut target = reqwest::Url::parse(&url)
            .map_err(|e| Miss::Next(format!("endpoint {url:?} isn't a URL: {e}")))?;
        {
            let mut query = target.query_pairs_mut(); // not Send: dropped before any await
            query.extend_pairs([("api-version", api), ("resource", RESOURCE)]);
            if let Some(id) = &self.inner.settings.client_id {
                query.append_pair(id_param, id);
            }
        }
        let client = builder
            .build()
            .map_err(|e| Miss::Next(hygge_core::error::chain(&e)))?;
        let response =
            (client.get(target).header(header.0, header.1).send().await).map_err(|e| {
                Miss::Next(format!(
                    "{url} not reachable: {}",
                    hygge_core::error::chain(&e)
                ))
            })?;
        let status = response.status();
        let body = response.text().await;
        let body = body.map_err(|e| Miss::Next(hygge_core::error::chain(&e)))?;
        if !status.is_success() {
            let body: String = body.chars().take(300).collect();
            return Err(Miss::Next(format!("{url} answered {status}: {body}")));
        }
        parse_token_json(&body)
    }

    async fn azure_cli(&self) -> Fetched {
        let path = self.var("PATH");
        let names = ["az", "az.cmd", "az.exe"];
        let found = path.as_deref().is_some_and(|p| {
            std::env::split_paths(p).any(|d| names.iter().any(|n| d.join(n).is_file()))
        });
        if !found {
            return Err(Miss::Next("`az` not found on PATH".into()));
        }
        // azure_identity runs `/bin/sh -c "cd /bin && az account get-access-token -o json
        // --scope …"` through this executor, which gives it the injected PATH.
        let executor = Arc::new(PathExecutor { path });
        let options = AzureCliCredentialOptions {
            executor: Some(executor),
            ..Default::default()
        };
        let cred = AzureCliCredential::new(Some(options)).map_err(|e| Miss::Next(one_line(&e)))?;
        get_token(cred.as_ref()).await
    }
}

/// Runs azure_identity's CLI command with the injected `PATH`; killed if the fetch times out.
#[derive(Debug)]
struct PathExecutor {
    path: Option<String>,
}

#[async_trait::async_trait]
impl azure_identity::Executor for PathExecutor {
    async fn run(&self, program: &OsStr, args: &[&OsStr]) -> std::io::Result<std::process::Output> {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args).kill_on_drop(true);
        if let Some(path) = &self.path {
            cmd.env("PATH", path);
        }
        cmd.output().await
    }
}

async fn get_token(cred: &dyn TokenCredential) -> Fetched {
    let fut = cred.get_token(&[SCOPE], None);
    match tokio::time::timeout(FETCH_TIMEOUT, fut).await {
        Ok(Ok(t)) => Ok((
            t.token.secret().to_string(),
            epoch(t.expires_on.unix_timestamp()),
        )),
        Ok(Err(e)) => Err(Miss::Next(one_line(&e))),
        Err(_) => Err(Miss::Next(format!(
            "no answer within {}s",
            FETCH_TIMEOUT.as_secs()
        ))),
    }
}

/// `access_token` and `expires_on` (unix seconds, number or string) or `expires_in`.
fn parse_token_json(body: &str) -> Fetched {
    let bad = |m: &str| Miss::Next(format!("unreadable token response: {m}"));
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| bad(&e.to_string()))?;
    let token = v
        .get("access_token")
        .and_then(|t| t.as_str())
        .ok_or_else(|| bad("no access_token"))?;
    let num = |k: &str| {
        let x = v.get(k)?;
        x.as_i64().or_else(|| x.as_str()?.trim().parse().ok())
    };
    let expires_at = match (num("expires_on"), num("expires_in")) {
        (Some(on), _) => epoch(on),
        (None, Some(secs)) => SystemTime::now() + Duration::from_secs(secs.max(0).unsigned_abs()),
        (None, None) => return Err(bad("no expires_on")),
    };
    Ok((token.to_string(), expires_at))
}

/// The `exp` claim of a JWT (payload decoded, signature not checked); None if not a JWT.
fn jwt_exp(token: &str) -> Option<i64> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = azure_core::base64::decode_url_safe(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64))
}

fn epoch(secs: i64) -> SystemTime {
    u64::try_from(secs).map_or(UNIX_EPOCH, |s| UNIX_EPOCH + Duration::from_secs(s))
}

fn utc(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// reqwest and azure_core use rustls without a crypto provider of their own.
fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use CredentialKind::*;
    use azure_core::http::{AsyncRawResponse, Body, HttpClient, Request, StatusCode};
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const SP_SECRET: &str = "sp-secret-value-123";
    const SP_ENV: [(&str, &str); 3] = [
        ("AZURE_TENANT_ID", "tenant-1"),
        ("AZURE_CLIENT_ID", "client-1"),
        ("AZURE_CLIENT_SECRET", SP_SECRET),
    ];

    fn env(pairs: &[(&str, &str)]) -> EnvFn {
        let map: HashMap<_, _> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Arc::new(move |k: &str| map.get(k).cloned())
    }

    /// A provider whose IMDS is a closed local port (refused at once: no real network).
    fn provider(settings: EntraSettings, env: EnvFn, tr: Option<Transport>) -> TokenProvider {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let imds = format!("http://127.0.0.1:{}/token", port.port());
        TokenProvider::build(settings, env, imds, tr)
    }

    async fn get(
        s: EntraSettings,
        pairs: &[(&str, &str)],
        tr: Option<Transport>,
    ) -> Result<EntraToken, String> {
        provider(s, env(pairs), tr).token().await
    }

    fn check(t: &EntraToken, token: &str, source: CredentialKind) {
        assert_eq!((t.token.0.as_str(), t.source), (token, source));
    }

    fn pinned(kind: CredentialKind) -> EntraSettings {
        EntraSettings {
            credential: Some(kind),
            ..Default::default()
        }
    }

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    fn jwt(exp: i64) -> String {
        let claims = format!(r#"{{"aud":"https://database.windows.net/","exp":{exp}}}"#);
        format!(
            "eyJhbGciOiJub25lIn0.{}.c2ln",
            azure_core::base64::encode_url_safe(claims)
        )
    }

    /// A fake Entra ID token endpoint for azure_identity's pipeline: records (url, body).
    #[derive(Debug)]
    struct FakeSts {
        status: StatusCode,
        reply: String,
        seen: Mutex<Vec<(String, String)>>,
    }

    #[async_trait::async_trait]
    impl HttpClient for FakeSts {
        async fn execute_request(&self, req: &Request) -> azure_core::Result<AsyncRawResponse> {
            let Body::Bytes(body) = req.body() else {
                panic!("streamed body")
            };
            let body = String::from_utf8_lossy(body).into_owned();
            self.seen
                .lock()
                .unwrap()
                .push((req.url().to_string(), body));
            let headers = azure_core::http::headers::Headers::new();
            Ok(AsyncRawResponse::from_bytes(
                self.status,
                headers,
                self.reply.clone(),
            ))
        }
    }

    fn sts(status: StatusCode, reply: &str) -> (Arc<FakeSts>, Option<Transport>) {
        let fake = Arc::new(FakeSts {
            status,
            reply: reply.into(),
            seen: Mutex::default(),
        });
        (fake.clone(), Some(Transport::new(fake)))
    }

    const STS_OK: &str = r#"{"access_token":"sts-token","expires_in":3600,"token_type":"Bearer"}"#;

    /// A one-route HTTP server on 127.0.0.1 answering a managed identity token that expires at
    /// `expires_on()`; records each request head (lowercased).
    async fn serve(
        expires_on: impl Fn() -> i64 + Send + 'static,
    ) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/msi/token", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (mut head, mut buf) = (Vec::new(), [0u8; 1024]);
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = sock.read(&mut buf).await.unwrap();
                    head.extend_from_slice(&buf[..n]);
                    if n == 0 {
                        break;
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).to_lowercase());
                tokio::time::sleep(Duration::from_millis(50)).await; // let callers pile up
                let body = format!(
                    r#"{{"access_token":"mi-token","expires_on":"{}","resource":"{RESOURCE}","token_type":"Bearer"}}"#,
                    expires_on()
                );
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close";
                let reply = format!("{head}\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                sock.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        (url, seen)
    }

    #[test]
    fn token_future_is_send() {
        fn is_send<T: Send>(_: T) {}
        is_send(TokenProvider::new(EntraSettings::default()).token());
    }

    #[tokio::test]
    async fn no_env_lists_every_source_and_no_secret() {
        for pairs in [&[][..], &[("AZURE_CLIENT_SECRET", SP_SECRET)][..]] {
            let err = get(EntraSettings::default(), pairs, None)
                .await
                .unwrap_err();
            for kind in CHAIN {
                assert!(err.contains(&format!("{}: ", kind.as_str())), "{err}");
            }
            assert!(err.contains("HYGGE_MSSQL_ACCESS_TOKEN not set"), "{err}");
            assert!(err.contains("AZURE_TENANT_ID, AZURE_CLIENT_ID"), "{err}");
            assert!(err.contains("AZURE_FEDERATED_TOKEN_FILE"), "{err}");
            assert!(err.contains("managed_identity: http://127.0.0.1:"), "{err}");
            assert!(err.contains("azure_cli: `az` not found on PATH"), "{err}");
            assert!(
                err.contains("az login") && !err.contains(SP_SECRET),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn config_token_wins_over_env_and_debug_hides_it() {
        let pairs = [&SP_ENV[..], &[(ENV_TOKEN, "env-token")]].concat();
        let (fake, tr) = sts(StatusCode::Ok, STS_OK);
        let settings = EntraSettings {
            access_token: Some(Secret("config-token".into())),
            ..Default::default()
        };
        let p = provider(settings, env(&pairs), tr);
        let t = p.token().await.unwrap();
        check(&t, "config-token", AccessToken);
        assert!(
            fake.seen.lock().unwrap().is_empty(),
            "the service principal was tried"
        );
        let debug = format!("{t:?} {p:?}");
        assert!(
            !debug.contains("config-token") && debug.contains("***"),
            "{debug}"
        );
    }

    #[tokio::test]
    async fn env_token_used_without_config_token() {
        let t = get(EntraSettings::default(), &[(ENV_TOKEN, "env-token")], None)
            .await
            .unwrap();
        check(&t, "env-token", AccessToken);
        let left = t.expires_at.duration_since(SystemTime::now()).unwrap();
        assert!(
            left > Duration::from_secs(3500) && left <= EXPLICIT_TTL,
            "{left:?}"
        );
    }

    #[tokio::test]
    async fn expired_jwt_is_a_clear_error() {
        let token = jwt(now() - 60);
        let err = get(EntraSettings::default(), &[(ENV_TOKEN, &token)], None)
            .await
            .unwrap_err();
        assert!(
            err.starts_with("access_token: the access token expired at "),
            "{err}"
        );
        assert!(!err.contains(&token) && !err.contains("azure_cli"), "{err}");
    }

    #[tokio::test]
    async fn future_jwt_sets_expires_at() {
        let exp = now() + 7200;
        let t = get(EntraSettings::default(), &[(ENV_TOKEN, &jwt(exp))], None)
            .await
            .unwrap();
        assert_eq!(t.expires_at, epoch(exp));
    }

    #[tokio::test]
    async fn cached_then_refreshed_within_five_minutes_of_expiry() {
        let reads = Arc::new(AtomicUsize::new(0));
        let r = reads.clone();
        let (soon, later) = (jwt(now() + 240), jwt(now() + 7200));
        let tokens = [soon.clone(), later.clone(), "plain".into()];
        let env: EnvFn = Arc::new(move |k: &str| {
            (k == ENV_TOKEN).then(|| tokens[r.fetch_add(1, Ordering::SeqCst).min(2)].clone())
        });
        let p = provider(EntraSettings::default(), env, None);
        assert_eq!(p.token().await.unwrap().token.0, soon);
        assert_eq!(p.token().await.unwrap().token.0, later, "not refreshed");
        assert_eq!(p.clone().token().await.unwrap().token.0, later);
        assert_eq!(p.token().await.unwrap().token.0, later);
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "cached token fetched again"
        );
    }

    #[tokio::test]
    async fn service_principal_through_client_secret_credential() {
        let pairs = [
            &SP_ENV[..],
            &[("AZURE_AUTHORITY_HOST", "https://login.example.test")],
        ]
        .concat();
        let (fake, tr) = sts(StatusCode::Ok, STS_OK);
        check(
            &get(EntraSettings::default(), &pairs, tr).await.unwrap(),
            "sts-token",
            ServicePrincipal,
        );
        let (url, body) = fake.seen.lock().unwrap()[0].clone();
        assert_eq!(url, "https://login.example.test/tenant-1/oauth2/v2.0/token");
        assert!(body.contains("client_id=client-1"), "{body}");
        assert!(
            body.contains("scope=https%3A%2F%2Fdatabase.windows.net%2F.default"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn pinned_service_principal_failure_hides_the_secret() {
        let pairs = [&SP_ENV[..], &[(ENV_TOKEN, "env-token-is-ignored")]].concat();
        // An STS that (absurdly) echoes the secret: the error must still not show it.
        let reply = format!(
            r#"{{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret {SP_SECRET}","error_codes":[7000215]}}"#
        );
        let (_, tr) = sts(StatusCode::Unauthorized, &reply);
        let err = get(pinned(ServicePrincipal), &pairs, tr).await.unwrap_err();
        assert!(
            err.starts_with("Entra ID credential service_principal failed"),
            "{err}"
        );
        assert!(
            err.contains("AADSTS7000215") && err.contains("***"),
            "{err}"
        );
        assert!(
            !err.contains(SP_SECRET) && !err.contains("access_token"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn workload_identity_sends_the_federated_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "k8s-assertion").unwrap();
        let pairs = [
            ("AZURE_FEDERATED_TOKEN_FILE", file.to_str().unwrap()),
            ("AZURE_CLIENT_ID", "client-1"),
            ("AZURE_TENANT_ID", "tenant-1"),
        ];
        let (fake, tr) = sts(StatusCode::Ok, STS_OK);
        check(
            &get(EntraSettings::default(), &pairs, tr).await.unwrap(),
            "sts-token",
            WorkloadIdentity,
        );
        let (url, body) = fake.seen.lock().unwrap()[0].clone();
        assert!(
            url.starts_with("https://login.microsoftonline.com/tenant-1/"),
            "{url}"
        );
        assert!(body.contains("client_assertion=k8s-assertion"), "{body}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn azure_cli_stub_on_the_injected_path() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (az, args) = (dir.path().join("az"), dir.path().join("args"));
        let json = r#"{"accessToken":"cli-token","expiresOn":"2030-01-01 00:00:00.000000","expires_on":1893456000,"subscription":"s","tenant":"t","tokenType":"Bearer"}"#;
        let script = format!(
            "#!/bin/sh\necho \"$@\" > '{}'\necho '{json}'\n",
            args.display()
        );
        std::fs::write(&az, script).unwrap();
        std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:/usr/bin:/bin", dir.path().display());
        let t = get(pinned(AzureCli), &[("PATH", &path)], None)
            .await
            .unwrap();
        check(&t, "cli-token", AzureCli);
        assert_eq!(t.expires_at, epoch(1_893_456_000));
        let args = std::fs::read_to_string(args).unwrap();
        assert!(
            args.contains("get-access-token -o json --scope https://database.windows.net/.default")
        );
    }

    #[tokio::test]
    async fn managed_identity_app_service_shared_by_concurrent_callers() {
        let (url, seen) = serve(|| 1_893_456_000).await;
        let env = env(&[
            ("IDENTITY_ENDPOINT", &url),
            ("IDENTITY_HEADER", "header-secret"),
        ]);
        let settings = EntraSettings {
            client_id: Some("uami-1".into()),
            ..Default::default()
        };
        let p = provider(settings, env, None);
        for t in futures::future::join_all((0..5).map(|_| p.token())).await {
            let t = t.unwrap();
            check(&t, "mi-token", ManagedIdentity);
            assert_eq!(t.expires_at, epoch(1_893_456_000));
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "concurrent callers fetched more than once");
        let line = "get /msi/token?api-version=2019-08-01&resource=https%3a%2f%2fdatabase.windows.net%2f&client_id=uami-1 ";
        assert!(seen[0].starts_with(line), "{}", seen[0]);
        assert!(
            seen[0].contains("x-identity-header: header-secret\r\n"),
            "{}",
            seen[0]
        );
    }

    #[tokio::test]
    async fn imds_with_metadata_header_and_winner_remembered() {
        let (url, seen) = serve(|| now() + 60).await;
        let vars = Arc::new(Mutex::new(HashMap::<String, String>::new()));
        let v = vars.clone();
        let env: EnvFn = Arc::new(move |k: &str| v.lock().unwrap().get(k).cloned());
        let p = TokenProvider::build(EntraSettings::default(), env, url, None);
        check(&p.token().await.unwrap(), "mi-token", ManagedIdentity);
        // A token appearing later doesn't change the winner; the near-expiry token is refetched.
        vars.lock()
            .unwrap()
            .insert(ENV_TOKEN.into(), "env-token".into());
        check(&p.token().await.unwrap(), "mi-token", ManagedIdentity);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(
            seen[0].starts_with("get /msi/token?api-version=2018-02-01&resource="),
            "{}",
            seen[0]
        );
        assert!(seen[0].contains("metadata: true\r\n"), "{}", seen[0]);
    }
}
