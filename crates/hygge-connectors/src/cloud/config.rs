//! The keys of the cloud stores: `adls` and `onelake` (the original hygge's, same keys and
//! defaults), `s3` and `gcs` (ours). Validation is pure: it checks the keys and builds the
//! settings; nothing is contacted until a run opens the store.

use serde::Deserialize;

use crate::keys::field_names;
use crate::tree::{Node, TreeError, from_node};

use super::location::{AzureAuth, AzureLocation, GcsAuth, GcsLocation, Location, S3Location};
use super::store::CloudSettings;
use crate::credentials::{CredentialConfig, Credentials, GcsMethod, S3Method};
use crate::files::store::FilePattern;
use crate::format::csv::CsvWriteOptions;
use crate::format::parquet::{Codec, ParquetWriteOptions};
use crate::format::{FileFormat, WriteOptions};
use crate::polish::Polish;
use crate::secret::Secret;

pub use crate::credentials::AzureCredentialKind;

/// The keys `adls` and `onelake` share (the original's): the account, the container and
/// how to sign in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureKeys {
    /// `https://<account>.dfs.core.windows.net` (or `.blob.`), OneLake's
    /// `https://onelake.dfs.fabric.microsoft.com`, or an emulator's
    /// `http://127.0.0.1:10000/devstoreaccount1`.
    pub account_url: String,
    /// The container (ADLS file system; OneLake: the workspace).
    pub filesystem: String,
    /// `managed_identity` (default), `service_principal`, `storage_key`, `sas`,
    /// `azure_cli`, `workload_identity` or `default`; or the name of an `azure_ad`
    /// credential of hygge.yml's `credentials:`.
    #[serde(default)]
    pub credential: AzureCredential,
    /// Service principal / workload identity tenant.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Service principal / workload identity app, or a user-assigned managed identity.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Service principal secret.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Account key (`credential: storage_key`).
    #[serde(default)]
    pub storage_account_key: Option<Secret>,
    /// Shared access signature (`credential: sas`), with or without the leading `?`.
    #[serde(default)]
    pub sas_token: Option<Secret>,
}

/// The keys every cloud store shares: how its files are encoded and named, how many rows
/// each holds, and whether a run appends or replaces. Each default is [`FileOutput`]'s
/// `Default`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileOutput {
    /// `parquet` (default, as the original), `csv` or `ndjson`.
    pub format: FileFormat,
    /// CSV options, as the local store's.
    pub format_options: serde_json::Map<String, serde_json::Value>,
    /// Parquet codec, default snappy.
    pub compression: Codec,
    /// Codec level.
    pub compression_level: Option<i32>,
    /// File names, default `{sequence:020d}.<format>`; `{sequence}`, `{timestamp}`,
    /// `{name}`, `{flow_name}`.
    pub file_pattern: Option<String>,
    /// Rows per file, default 100,000.
    pub batch_size: usize,
    /// Rows per Parquet row group.
    pub row_group_size: Option<usize>,
    /// Parquet: copy a Parquet source's row groups page by page (default true).
    pub copy_row_groups: Option<bool>,
    /// null: as the run type says; true: always append; false: always replace.
    pub incremental: Option<bool>,
    /// The original's last-mile transforms, applied to every batch before it is encoded
    /// (see [`crate::polish`]).
    pub polish: Option<crate::polish::PolishConfig>,
}

/// An Azure `credential:`: a way to sign in, or a named credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzureCredential {
    /// One of the ways (`managed_identity`, ...), with the keys given beside it.
    Kind(AzureCredentialKind),
    /// A credential of hygge.yml's `credentials:`.
    Named(String),
}

impl Default for AzureCredential {
    fn default() -> Self {
        AzureCredential::Kind(AzureCredentialKind::ManagedIdentity)
    }
}

impl<'de> Deserialize<'de> for AzureCredential {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(
            match serde_json::from_value(serde_json::Value::String(name.clone())) {
                Ok(kind) => AzureCredential::Kind(kind),
                Err(_) => AzureCredential::Named(name),
            },
        )
    }
}

impl AzureKeys {
    /// The container and how to sign in to it, checked.
    fn location(&self) -> Result<Location, String> {
        let url = parse_account_url(&self.account_url)?;
        let kind = match &self.credential {
            AzureCredential::Kind(k) => *k,
            AzureCredential::Named(n) => return Err(unknown_credential(n, true)),
        };
        let auth = azure_auth(
            kind,
            &url,
            &self.tenant_id,
            &self.client_id,
            &self.client_secret,
            &self.storage_account_key,
            &self.sas_token,
        )?;
        Ok(Location::Azure(AzureLocation {
            container: container_name("filesystem", &self.filesystem)?,
            url,
            account_url: self.account_url.trim_end_matches('/').to_string(),
            auth,
        }))
    }
}

impl Default for FileOutput {
    fn default() -> Self {
        FileOutput {
            format: FileFormat::default(),
            format_options: serde_json::Map::new(),
            compression: Codec::default(),
            compression_level: None,
            file_pattern: None,
            batch_size: 100_000,
            row_group_size: None,
            copy_row_groups: None,
            incremental: None,
            polish: None,
        }
    }
}

/// The keys naming a container or bucket and how to sign in to it: [`AzureKeys`],
/// [`S3Keys`], [`GcsKeys`].
pub trait AccountKeys: serde::de::DeserializeOwned + Default + Clone {
    /// Azure's keys, whose `credential` is also a way to sign in.
    const AZURE: bool = false;
    /// The `type` of the store whose folder is its `path` in this account.
    const STORE: &'static str;
    /// The container and its credential, checked (a named credential not resolved is an
    /// error).
    fn location(&self) -> Result<Location, String>;
    /// The named credential these keys refer to.
    fn named(&self) -> Option<&str>;
    /// These keys with the named credential `name`'s laid in (and no name left).
    fn with_named(&self, name: &str, c: &CredentialConfig) -> Result<Self, String>;

    /// The container and its credential, a named one looked up in `credentials`.
    fn location_in(&self, credentials: &Credentials) -> Result<Location, String> {
        match self.named() {
            None => self.location(),
            Some(name) => match credentials.get(name) {
                Some(c) => self.with_named(name, c)?.location(),
                None => Err(unknown_credential_in(name, credentials, Self::AZURE)),
            },
        }
    }
}

/// The error for a credential of the wrong type.
fn wrong_type(name: &str, c: &CredentialConfig, want: &str) -> String {
    format!(
        "credential: `{name}` is a `{}` credential; this needs a `{want}` one",
        c.type_name()
    )
}

/// Refuses a key given both inline and by the named credential `name`.
fn given_once(name: &str, inline: &[(&str, bool)]) -> Result<(), String> {
    match inline.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(format!(
            "{key}: given here and by the credential `{name}`; keep it in one place (the credential, in hygge.yml)"
        )),
        None => Ok(()),
    }
}

fn unknown_credential(name: &str, azure: bool) -> String {
    unknown_credential_in_with(name, &[], azure)
}

fn unknown_credential_in(name: &str, credentials: &Credentials, azure: bool) -> String {
    let names: Vec<&str> = credentials.keys().map(String::as_str).collect();
    unknown_credential_in_with(name, &names, azure)
}

/// `credential: <name>` that names nothing: what it could have been.
fn unknown_credential_in_with(name: &str, names: &[&str], azure: bool) -> String {
    let defined = if names.is_empty() {
        "hygge.yml defines none".to_string()
    } else {
        format!("hygge.yml defines {}", names.join(", "))
    };
    if azure {
        format!(
            "credential: `{name}` is neither a way to sign in (managed_identity, service_principal, storage_key, sas, azure_cli, workload_identity, default) nor a credential of hygge.yml's `credentials:` ({defined})"
        )
    } else {
        format!(
            "credential: `{name}` is not a credential of hygge.yml's `credentials:` ({defined})"
        )
    }
}

/// A cloud connector's config: its own keys (the entity's path), written beside the shared
/// ones ([`AccountKeys`], and [`FileOutput`] for a store or [`FileInput`] for a home), each
/// struct typing its own.
pub trait CloudKeys: serde::de::DeserializeOwned {
    /// `adls`, `onelake`, `s3` or `gcs`.
    const KIND: &'static str;
    /// Its account keys.
    type Account: AccountKeys;
    /// Keeps the shared keys, typed.
    fn set(&mut self, account: Self::Account, output: FileOutput);
    /// The account keys.
    fn account(&self) -> &Self::Account;
    /// A store's file keys.
    fn output(&self) -> &FileOutput;
    /// The entity's path in the container, with `{entity}`, checked.
    fn entity_path(&self) -> Result<String, String>;

    /// Checks a store's keys; builds nothing.
    fn validate(&self, entity_folder: bool) -> Result<CloudSettings, String> {
        self.validate_in(entity_folder, &Credentials::new())
    }

    /// Checks a store's keys, a named credential looked up in `credentials`.
    fn validate_in(
        &self,
        entity_folder: bool,
        credentials: &Credentials,
    ) -> Result<CloudSettings, String> {
        let location = self.account().location_in(credentials)?;
        let path = self.entity_path()?;
        settings(Self::KIND, location, path, entity_folder, self.output())
    }
}

/// Types a cloud store's mapping: the shared keys by their structs, the rest by `T`.
pub fn parse<T: CloudKeys>(node: &Node) -> Result<T, TreeError> {
    let (output, rest) = crate::common::split_off::<FileOutput>(node)?;
    let (account, rest) = crate::common::split_off::<T::Account>(&rest)?;
    let mut c: T = from_node(&rest)?;
    c.set(account, output);
    Ok(c)
}

/// [`parse`] of a JSON value (configuration built in code or tests).
pub fn from_json<T: CloudKeys>(v: serde_json::Value) -> Result<T, TreeError> {
    parse(&Node::from_json(&v, &crate::tree::Loc::default()))
}

/// The keys [`parse`] takes for `T`.
pub fn keys<T: CloudKeys>() -> Vec<&'static str> {
    let mut keys = field_names::<T>().to_vec();
    keys.extend_from_slice(field_names::<T::Account>());
    keys.extend_from_slice(field_names::<FileOutput>());
    keys
}

/// The keys every cloud home shares: how its files are read.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileInput {
    /// `parquet` (default), `csv` or `ndjson`.
    pub format: FileFormat,
    /// CSV / NDJSON options, as the local home's (Polars' names).
    pub format_options: serde_json::Map<String, serde_json::Value>,
    /// Rows per batch, default 50,000 (as the local home).
    pub batch_size: usize,
    /// Accepted for compatibility; progress is reported per batch.
    pub row_multiplier: Option<u64>,
}

impl Default for FileInput {
    fn default() -> Self {
        FileInput {
            format: FileFormat::default(),
            format_options: serde_json::Map::new(),
            batch_size: 50_000,
            row_multiplier: None,
        }
    }
}

/// `home: {type: adls | onelake | s3 | gcs, ...}`: the store's keys naming the container,
/// the credential and the entity's path (`T`), and how the files are read.
#[derive(Debug, Clone)]
pub struct CloudHomeConfig<T> {
    /// The container, credential and path (a store's config without its file keys).
    pub keys: T,
    /// How the files are read.
    pub input: FileInput,
}

impl<T: CloudKeys> CloudHomeConfig<T> {
    /// Types a cloud home's mapping.
    pub fn parse(node: &Node) -> Result<Self, TreeError> {
        let (input, rest) = crate::common::split_off::<FileInput>(node)?;
        let (account, rest) = crate::common::split_off::<T::Account>(&rest)?;
        let mut keys: T = from_node(&rest)?;
        keys.set(account, FileOutput::default());
        Ok(CloudHomeConfig { keys, input })
    }

    /// The keys [`CloudHomeConfig::parse`] takes.
    pub fn keys() -> Vec<&'static str> {
        let mut keys = field_names::<T>().to_vec();
        keys.extend_from_slice(field_names::<T::Account>());
        keys.extend_from_slice(field_names::<FileInput>());
        keys
    }

    /// Checks the keys; builds nothing. The home, and its rows per batch.
    pub fn validate(
        &self,
        entity_folder: bool,
        credentials: &Credentials,
    ) -> Result<(crate::files::home::FileHome, usize), String> {
        crate::common::positive("batch_size", self.input.batch_size)?;
        let read =
            crate::files::home::ReadFormat::parse(self.input.format, &self.input.format_options)?;
        let location = self.keys.account().location_in(credentials)?;
        let path = self.keys.entity_path()?;
        let files = super::home::CloudFiles::new(location, path, entity_folder);
        Ok((
            crate::files::home::FileHome::remote(T::KIND, std::sync::Arc::new(files), read),
            self.input.batch_size,
        ))
    }
}

impl<'de, T: CloudKeys> Deserialize<'de> for CloudHomeConfig<T> {
    /// Through the located tree (for configuration given as JSON).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Self::parse(&Node::from_json(&v, &crate::tree::Loc::default()))
            .map_err(serde::de::Error::custom)
    }
}

/// A cloud store whose entity folder is its `path` alone (default `{entity}`): `adls`
/// (`A` = [`AzureKeys`]), `s3` ([`S3Keys`]) and `gcs` ([`GcsKeys`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, bound = "")]
pub struct PathStoreConfig<A: AccountKeys> {
    /// The entity's folder in the container or bucket, with `{entity}` (default
    /// `{entity}`).
    #[serde(default)]
    pub path: Option<String>,
    /// The account, container or bucket, and how to sign in.
    #[serde(skip)]
    pub account: A,
    /// Files: encoding, names, rows.
    #[serde(skip)]
    pub output: FileOutput,
}

/// `store: {type: adls, account_url, filesystem, path, credential, ...}`: Azure Data Lake
/// Storage Gen2 (any Blob Storage account).
pub type AdlsStoreConfig = PathStoreConfig<AzureKeys>;

/// `store: {type: s3, bucket, path, region, endpoint, ...}`: Amazon S3 or an S3-compatible
/// server.
pub type S3StoreConfig = PathStoreConfig<S3Keys>;

/// `store: {type: gcs, bucket, path, credentials, ...}`: Google Cloud Storage.
pub type GcsStoreConfig = PathStoreConfig<GcsKeys>;

/// `store: {type: onelake, account_url, filesystem, ...}`: a Fabric Lakehouse's files.
/// The path defaults to `Files/{entity}/`, or `Files/<schema>.schema/{entity}/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneLakeStoreConfig {
    /// The entity's folder; default `Files/{entity}/` (or with the schema).
    #[serde(default)]
    pub path: Option<String>,
    /// The Lakehouse (item) inside the workspace: paths are prefixed with
    /// `<lakehouse>.Lakehouse/` (a name with a `.` is taken as it is).
    #[serde(default)]
    pub lakehouse: Option<String>,
    /// The schema: `Files/<schema>.schema/{entity}/`.
    #[serde(default)]
    pub schema: Option<String>,
    /// Same as `schema` (the original's other spelling).
    #[serde(default)]
    pub schema_name: Option<String>,
    /// The account and how to sign in.
    #[serde(skip)]
    pub azure: AzureKeys,
    /// Files: encoding, names, rows.
    #[serde(skip)]
    pub output: FileOutput,
}

/// The keys of an S3 bucket and its credentials (stores and homes).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Keys {
    /// The bucket.
    pub bucket: String,
    /// The region (default: `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`).
    #[serde(default)]
    pub region: Option<String>,
    /// An S3-compatible server's URL (MinIO, moto, ...); `http://` is allowed.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Access key id (with `secret_access_key`); without them, AWS's standard chain
    /// (environment, web identity, ECS, instance profile).
    #[serde(default)]
    pub access_key_id: Option<Secret>,
    /// Secret access key.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Session token of temporary keys.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// The name of an `s3` credential of hygge.yml's `credentials:` (instead of the keys).
    #[serde(default)]
    pub credential: Option<String>,
}

/// The keys of a GCS bucket and its credentials (stores and homes).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcsKeys {
    /// The bucket.
    pub bucket: String,
    /// A service account's JSON key file; without it, Google's application default
    /// credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's login, the metadata server).
    #[serde(default)]
    pub credentials: Option<String>,
    /// A service account's JSON key itself (for a secret from the environment).
    #[serde(default)]
    pub service_account_key: Option<Secret>,
    /// The name of a `gcs` credential of hygge.yml's `credentials:` (instead of the keys).
    #[serde(default)]
    pub credential: Option<String>,
}

/// Encoding, names, rows per file and polish, checked as the local store checks them.
fn file_settings(
    k: &FileOutput,
) -> Result<(WriteOptions, FilePattern, usize, Option<Polish>), String> {
    let (polish, copy_row_groups) = crate::polish::for_store(&k.polish, k.copy_row_groups)?;
    crate::common::positive("batch_size", k.batch_size)?;
    if k.copy_row_groups.is_some() && k.format != FileFormat::Parquet {
        return Err(format!(
            "copy_row_groups: only a parquet store copies row groups, not {}",
            k.format.name()
        ));
    }
    let pattern = k
        .file_pattern
        .clone()
        .unwrap_or_else(|| format!("{{sequence:020d}}.{}", k.format.extension()));
    let pattern = FilePattern::parse_with_timestamp(&pattern)?;
    let options = Some(&k.format_options).filter(|o| !o.is_empty());
    let write = match k.format {
        FileFormat::Parquet => {
            if let Some(o) = options {
                return Err(format!(
                    "format_options: parquet takes no options (got {}); use `compression`",
                    o.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            let o = ParquetWriteOptions {
                codec: k.compression,
                level: k.compression_level,
                row_group_size: k
                    .row_group_size
                    .unwrap_or(k.batch_size.min(crate::registry::DEFAULT_ROW_GROUP_SIZE)),
                copy_row_groups,
            };
            crate::common::positive("row_group_size", o.row_group_size)?;
            o.compression()
                .map_err(|e| format!("compression_level: {e}"))?;
            WriteOptions::Parquet(o)
        }
        FileFormat::Csv => {
            let o: CsvWriteOptions =
                serde_json::from_value(serde_json::Value::Object(k.format_options.clone()))
                    .map_err(|e| format!("format_options: {e}"))?;
            o.validate().map_err(|e| format!("format_options: {e}"))?;
            WriteOptions::Csv(o)
        }
        FileFormat::Ndjson => {
            if let Some(o) = options {
                return Err(format!(
                    "format_options: ndjson takes no options (got {})",
                    o.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            WriteOptions::Ndjson
        }
    };
    Ok((write, pattern, k.batch_size, polish))
}

/// A store path: `/`-separated, no leading or trailing `/`, no `.`/`..` segments, no `_hygge`
/// segment (hygge's own), and not empty.
/// `schema`, or the original's other spelling `schema_name` (the same if both are given).
pub(crate) fn schema_key<'a>(
    schema: &'a Option<String>,
    schema_name: &'a Option<String>,
) -> Result<Option<&'a str>, String> {
    match (schema, schema_name) {
        (Some(a), Some(b)) if a != b => Err(format!(
            "schema_name: {b:?} differs from schema {a:?}; give one of them"
        )),
        (Some(a), _) | (None, Some(a)) => Ok(Some(a.trim())),
        (None, None) => Ok(None),
    }
}

pub(crate) fn clean_path(key: &str, path: &str) -> Result<String, String> {
    let trimmed = path.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Err(format!(
            "{key}: empty; give the folder of each entity, e.g. `data/{{entity}}`"
        ));
    }
    for seg in trimmed.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(format!(
                "{key} {path:?}: `{seg}` is not a folder name (no empty, `.` or `..` segments)"
            ));
        }
        if seg == super::store::HYGGE_DIR {
            return Err(format!(
                "{key} {path:?}: `{seg}` is hygge's own working folder; choose another name"
            ));
        }
        if seg.contains('{') && seg != "{entity}" && !seg.contains("{entity}") {
            return Err(format!(
                "{key} {path:?}: unknown placeholder in `{seg}`; only {{entity}} is replaced"
            ));
        }
    }
    Ok(trimmed.to_string())
}

/// What an Azure `account_url` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccountUrl {
    /// The account (`devstoreaccount1` for an emulator, `onelake` for Fabric).
    pub account: String,
    /// The blob endpoint to use instead of the account's public one (emulators and custom
    /// domains): requests go to `<endpoint>/<container>/<path>`.
    pub endpoint: Option<String>,
    /// Fabric's OneLake (`*.fabric.microsoft.com`).
    pub fabric: bool,
    /// A local emulator (Azurite): plain http allowed, its well-known key by default.
    pub emulator: bool,
}

/// Reads an `account_url`: the public hosts (`<account>.dfs|blob.core.windows.net`,
/// `[<region>-]onelake.dfs|blob.fabric.microsoft.com`), or any other `http(s)://host[:port]/<account>`
/// (an emulator or a proxy, addressed path-style).
pub(crate) fn parse_account_url(url: &str) -> Result<AccountUrl, String> {
    let bad = |why: &str| {
        format!(
            "account_url {url:?}: {why}; expected https://<account>.dfs.core.windows.net, https://onelake.dfs.fabric.microsoft.com or an emulator's http://127.0.0.1:10000/devstoreaccount1"
        )
    };
    if url.contains('?') {
        return Err(
            "account_url: holds a query (a SAS token?); give the token in `sas_token` with `credential: sas` (the value is not shown)".into(),
        );
    }
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(bad("the scheme must be https (or http for an emulator)"));
    }
    let rest = rest.trim_end_matches('/');
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() || host.contains('@') {
        return Err(bad("no host"));
    }
    let host_l = host.to_ascii_lowercase();
    for (suffix, fabric) in [
        (".dfs.core.windows.net", false),
        (".blob.core.windows.net", false),
        (".dfs.fabric.microsoft.com", true),
        (".blob.fabric.microsoft.com", true),
    ] {
        if let Some(account) = host_l.strip_suffix(suffix) {
            if scheme != "https" {
                return Err(bad("Azure's public endpoints take https only"));
            }
            if !path.is_empty() {
                return Err(bad(
                    "a public endpoint takes no path; the container goes in `filesystem`",
                ));
            }
            if account.is_empty() || account.contains('.') {
                return Err(bad("no account name before the host"));
            }
            return Ok(AccountUrl {
                account: account.to_string(),
                endpoint: None,
                fabric,
                emulator: false,
            });
        }
    }
    // Any other host: path-style, `<scheme>://host[:port]/<account>`.
    let account = path.split('/').next().unwrap_or("");
    if account.is_empty() || path.contains('/') {
        return Err(bad(
            "for an emulator or custom endpoint, give exactly one path segment: the account",
        ));
    }
    let name = host_l.split(':').next().unwrap_or("");
    let local = matches!(name, "127.0.0.1" | "localhost" | "[::1]");
    if scheme == "http" && !local {
        return Err(bad(
            "plain http is allowed only for an emulator on this machine",
        ));
    }
    Ok(AccountUrl {
        account: account.to_string(),
        endpoint: Some(format!("{scheme}://{host}/{account}")),
        fabric: false,
        emulator: local,
    })
}

/// Azurite's well-known account key (public; in Microsoft's documentation).
pub(crate) const EMULATOR_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn azure_auth(
    kind: AzureCredentialKind,
    url: &AccountUrl,
    tenant_id: &Option<String>,
    client_id: &Option<String>,
    client_secret: &Option<Secret>,
    storage_account_key: &Option<Secret>,
    sas_token: &Option<Secret>,
) -> Result<AzureAuth, String> {
    let need = |what: &[(&str, bool)]| -> Result<(), String> {
        let missing: Vec<&str> = what.iter().filter(|(_, s)| !s).map(|(k, _)| *k).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "credential: {} needs {}",
                kind.name(),
                missing.join(", ")
            ))
        }
    };
    let unused = |keys: &[(&str, bool)]| -> Result<(), String> {
        match keys.iter().find(|(_, set)| *set) {
            Some((k, _)) => Err(format!(
                "{k}: not used with `credential: {}`; remove it or choose the credential that takes it",
                kind.name()
            )),
            None => Ok(()),
        }
    };
    let (t, c, s, k, sas) = (
        tenant_id.is_some(),
        client_id.is_some(),
        client_secret.is_some(),
        storage_account_key.is_some(),
        sas_token.is_some(),
    );
    let auth = match kind {
        AzureCredentialKind::StorageKey => {
            need(&[("storage_account_key", k)])?;
            unused(&[("client_secret", s), ("sas_token", sas)])?;
            AzureAuth::Key(storage_account_key.clone().expect("checked"))
        }
        AzureCredentialKind::Sas => {
            need(&[("sas_token", sas)])?;
            unused(&[("client_secret", s), ("storage_account_key", k)])?;
            let token = sas_token.clone().expect("checked");
            AzureAuth::Sas(Secret(token.0.trim_start_matches('?').to_string()))
        }
        // An emulator takes only keys and SAS tokens: the other credentials would ask a
        // real identity service, so its well-known key is used.
        _ if url.emulator => AzureAuth::Key(Secret(EMULATOR_KEY.into())),
        AzureCredentialKind::ManagedIdentity => {
            unused(&[
                ("client_secret", s),
                ("storage_account_key", k),
                ("sas_token", sas),
                ("tenant_id", t),
            ])?;
            AzureAuth::ManagedIdentity {
                client_id: client_id.clone(),
            }
        }
        AzureCredentialKind::ServicePrincipal => {
            need(&[("tenant_id", t), ("client_id", c), ("client_secret", s)])?;
            unused(&[("storage_account_key", k), ("sas_token", sas)])?;
            AzureAuth::ServicePrincipal {
                tenant_id: tenant_id.clone().expect("checked"),
                client_id: client_id.clone().expect("checked"),
                client_secret: client_secret.clone().expect("checked"),
            }
        }
        AzureCredentialKind::AzureCli => {
            unused(&[
                ("client_secret", s),
                ("storage_account_key", k),
                ("sas_token", sas),
            ])?;
            AzureAuth::AzureCli
        }
        AzureCredentialKind::WorkloadIdentity => {
            unused(&[
                ("client_secret", s),
                ("storage_account_key", k),
                ("sas_token", sas),
            ])?;
            AzureAuth::WorkloadIdentity {
                tenant_id: tenant_id.clone(),
                client_id: client_id.clone(),
            }
        }
        AzureCredentialKind::Default => {
            unused(&[
                ("client_secret", s),
                ("storage_account_key", k),
                ("sas_token", sas),
            ])?;
            AzureAuth::Default
        }
    };
    Ok(auth)
}

fn container_name(key: &str, name: &str) -> Result<String, String> {
    let n = name.trim();
    if n.is_empty() || n.contains('/') {
        return Err(format!(
            "{key}: {name:?} is not a container name (one name, no `/`)"
        ));
    }
    Ok(n.to_string())
}

/// Settings shared by every cloud store, from the parts each config gives.
fn settings(
    kind: &'static str,
    location: Location,
    path: String,
    entity_folder: bool,
    output: &FileOutput,
) -> Result<CloudSettings, String> {
    let (write, pattern, rows_per_file, polish) = file_settings(output)?;
    let incremental = output.incremental;
    Ok(CloudSettings {
        kind,
        location,
        path,
        entity_folder,
        write,
        pattern,
        rows_per_file,
        incremental,
        polish,
    })
}

impl<A: AccountKeys> CloudKeys for PathStoreConfig<A> {
    const KIND: &'static str = A::STORE;
    type Account = A;
    fn set(&mut self, account: A, output: FileOutput) {
        (self.account, self.output) = (account, output);
    }
    fn account(&self) -> &A {
        &self.account
    }
    fn output(&self) -> &FileOutput {
        &self.output
    }
    fn entity_path(&self) -> Result<String, String> {
        clean_path("path", self.path.as_deref().unwrap_or("{entity}"))
    }
}

impl CloudKeys for OneLakeStoreConfig {
    const KIND: &'static str = "onelake";
    type Account = AzureKeys;
    fn set(&mut self, account: AzureKeys, output: FileOutput) {
        (self.azure, self.output) = (account, output);
    }
    fn account(&self) -> &AzureKeys {
        &self.azure
    }
    fn output(&self) -> &FileOutput {
        &self.output
    }

    /// `path` as given, or `Files/{entity}` / `Files/<schema>.schema/{entity}`, under
    /// `<lakehouse>.Lakehouse/` when `lakehouse` is set.
    fn entity_path(&self) -> Result<String, String> {
        let schema = schema_key(&self.schema, &self.schema_name)?;
        let path = match (&self.path, schema) {
            (Some(p), None) => p.clone(),
            (Some(_), Some(_)) => {
                return Err(
                    "schema: a onelake store with `path` takes no schema; put it in the path (`Files/<schema>.schema/{entity}`) or remove `path`".into(),
                );
            }
            (None, Some(s)) if s.is_empty() || s.contains('/') => {
                return Err(format!("schema: {s:?} is not a schema name"));
            }
            (None, Some(s)) => format!("Files/{s}.schema/{{entity}}"),
            (None, None) => "Files/{entity}".into(),
        };
        let path = clean_path("path", &path)?;
        Ok(match &self.lakehouse {
            None => path,
            Some(l) if l.trim().is_empty() || l.contains('/') => {
                return Err(format!("lakehouse: {l:?} is not an item name"));
            }
            Some(l) if l.contains('.') => format!("{}/{path}", l.trim()),
            Some(l) => format!("{}.Lakehouse/{path}", l.trim()),
        })
    }
}

impl OneLakeStoreConfig {
    /// Checks the store's keys; builds nothing (callable without importing [`CloudKeys`]).
    pub fn validate(&self, entity_folder: bool) -> Result<CloudSettings, String> {
        CloudKeys::validate(self, entity_folder)
    }
}

impl<A: AccountKeys> PathStoreConfig<A> {
    /// Checks the store's keys; builds nothing.
    pub fn validate(&self, entity_folder: bool) -> Result<CloudSettings, String> {
        CloudKeys::validate(self, entity_folder)
    }
}

impl AccountKeys for AzureKeys {
    const AZURE: bool = true;
    const STORE: &'static str = "adls";

    fn location(&self) -> Result<Location, String> {
        AzureKeys::location(self)
    }

    fn named(&self) -> Option<&str> {
        match &self.credential {
            AzureCredential::Named(n) => Some(n),
            AzureCredential::Kind(_) => None,
        }
    }

    fn with_named(&self, name: &str, c: &CredentialConfig) -> Result<Self, String> {
        let CredentialConfig::AzureAd(a) = c else {
            return Err(wrong_type(name, c, "azure_ad"));
        };
        given_once(
            name,
            &[
                ("tenant_id", self.tenant_id.is_some()),
                ("client_id", self.client_id.is_some()),
                ("client_secret", self.client_secret.is_some()),
                ("storage_account_key", self.storage_account_key.is_some()),
                ("sas_token", self.sas_token.is_some()),
            ],
        )?;
        Ok(AzureKeys {
            credential: AzureCredential::Kind(a.method),
            tenant_id: a.tenant_id.clone(),
            client_id: a.client_id.clone(),
            client_secret: a.client_secret.clone(),
            storage_account_key: a.storage_account_key.clone(),
            sas_token: a.sas_token.clone(),
            ..self.clone()
        })
    }
}

impl AccountKeys for S3Keys {
    const STORE: &'static str = "s3";
    fn named(&self) -> Option<&str> {
        self.credential.as_deref()
    }

    fn with_named(&self, name: &str, c: &CredentialConfig) -> Result<Self, String> {
        let CredentialConfig::S3(a) = c else {
            return Err(wrong_type(name, c, "s3"));
        };
        given_once(
            name,
            &[
                ("access_key_id", self.access_key_id.is_some()),
                ("secret_access_key", self.secret_access_key.is_some()),
                ("session_token", self.session_token.is_some()),
            ],
        )?;
        let keyed = a.access_key_id.is_some() || a.secret_access_key.is_some();
        match (a.method, keyed) {
            (S3Method::AccessKey, false) => {
                return Err(format!(
                    "credential `{name}`: method access_key needs access_key_id and secret_access_key"
                ));
            }
            (S3Method::Default, true) => {
                return Err(format!(
                    "credential `{name}`: method default uses AWS's standard chain; give `method: access_key` with the keys"
                ));
            }
            _ => {}
        }
        Ok(S3Keys {
            region: self.region.clone().or_else(|| a.region.clone()),
            endpoint: self.endpoint.clone().or_else(|| a.endpoint.clone()),
            access_key_id: a.access_key_id.clone(),
            secret_access_key: a.secret_access_key.clone(),
            session_token: a.session_token.clone(),
            credential: None,
            ..self.clone()
        })
    }

    fn location(&self) -> Result<Location, String> {
        if let Some(n) = &self.credential {
            return Err(unknown_credential(n, false));
        }
        let bucket = container_name("bucket", &self.bucket)?;
        let keys = match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
            (None, None) => {
                if self.session_token.is_some() {
                    return Err(
                        "session_token: goes with access_key_id and secret_access_key".into(),
                    );
                }
                None
            }
            (Some(_), None) => return Err("access_key_id: needs secret_access_key too".into()),
            (None, Some(_)) => return Err("secret_access_key: needs access_key_id too".into()),
        };
        let endpoint = match &self.endpoint {
            Some(e) => {
                let e = e.trim().trim_end_matches('/');
                if !(e.starts_with("https://") || e.starts_with("http://")) {
                    return Err(format!(
                        "endpoint: {e:?} must be a URL (https://host[:port], or http:// for a local server)"
                    ));
                }
                if e.contains('?') || e.contains('@') {
                    return Err(
                        "endpoint: give the server's URL only (no credentials or query)".into(),
                    );
                }
                Some(e.to_string())
            }
            None => None,
        };
        Ok(Location::S3(S3Location {
            bucket,
            region: self.region.clone(),
            endpoint,
            keys,
            session_token: self.session_token.clone(),
            anonymous: false,
        }))
    }
}

impl AccountKeys for GcsKeys {
    const STORE: &'static str = "gcs";
    fn named(&self) -> Option<&str> {
        self.credential.as_deref()
    }

    fn with_named(&self, name: &str, c: &CredentialConfig) -> Result<Self, String> {
        let CredentialConfig::Gcs(a) = c else {
            return Err(wrong_type(name, c, "gcs"));
        };
        given_once(
            name,
            &[
                ("credentials", self.credentials.is_some()),
                ("service_account_key", self.service_account_key.is_some()),
            ],
        )?;
        let keyed = a.keyfile.is_some() || a.service_account_key.is_some();
        match (a.method, keyed) {
            (GcsMethod::ServiceAccount, false) => {
                return Err(format!(
                    "credential `{name}`: method service_account needs `keyfile` (or `service_account_key`)"
                ));
            }
            (GcsMethod::Default, true) => {
                return Err(format!(
                    "credential `{name}`: method default uses Google's application default credentials; give `method: service_account` with the key"
                ));
            }
            _ => {}
        }
        Ok(GcsKeys {
            credentials: a.keyfile.clone(),
            service_account_key: a.service_account_key.clone(),
            credential: None,
            ..self.clone()
        })
    }

    fn location(&self) -> Result<Location, String> {
        if let Some(n) = &self.credential {
            return Err(unknown_credential(n, false));
        }
        let bucket = container_name("bucket", &self.bucket)?;
        let auth = match (&self.credentials, &self.service_account_key) {
            (Some(_), Some(_)) => {
                return Err(
                    "service_account_key: give either `credentials` (a key file) or `service_account_key`, not both".into(),
                );
            }
            (Some(file), None) if file.trim().is_empty() => {
                return Err("credentials: empty; give a service account key file".into());
            }
            (Some(file), None) => GcsAuth::KeyFile(file.into()),
            (None, Some(key)) => GcsAuth::Key(key.clone()),
            (None, None) => GcsAuth::Default,
        };
        Ok(Location::Gcs(GcsLocation { bucket, auth }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adls(v: serde_json::Value) -> Result<CloudSettings, String> {
        crate::cloud::config::from_json::<AdlsStoreConfig>(v)
            .map_err(|e| e.to_string())?
            .validate(true)
    }

    #[test]
    fn account_urls() {
        let u = parse_account_url("https://acme.dfs.core.windows.net/").unwrap();
        assert_eq!(
            (u.account.as_str(), u.fabric, u.emulator),
            ("acme", false, false)
        );
        assert_eq!(u.endpoint, None);
        let u = parse_account_url("https://onelake.dfs.fabric.microsoft.com").unwrap();
        assert_eq!((u.account.as_str(), u.fabric), ("onelake", true));
        let u = parse_account_url("https://westus-onelake.blob.fabric.microsoft.com").unwrap();
        assert_eq!((u.account.as_str(), u.fabric), ("westus-onelake", true));
        let u = parse_account_url("http://127.0.0.1:10000/devstoreaccount1").unwrap();
        assert_eq!(
            (u.account.as_str(), u.emulator, u.endpoint.as_deref()),
            (
                "devstoreaccount1",
                true,
                Some("http://127.0.0.1:10000/devstoreaccount1")
            )
        );
        for bad in [
            "acme.dfs.core.windows.net",
            "http://acme.dfs.core.windows.net",
            "https://acme.dfs.core.windows.net/container",
            "http://example.com/acct",
            "https://127.0.0.1:10000",
            "ftp://x/y",
        ] {
            assert!(parse_account_url(bad).is_err(), "{bad}");
        }
        let e = parse_account_url("https://acme.blob.core.windows.net/?sv=1&sig=SECRETSIG")
            .unwrap_err();
        assert!(!e.contains("SECRETSIG"), "the SAS is never quoted: {e}");
    }

    #[test]
    fn credentials_need_their_keys_and_secrets_stay_hidden() {
        let base = serde_json::json!({
            "account_url": "https://acme.dfs.core.windows.net",
            "filesystem": "lake",
            "path": "raw/{entity}/",
        });
        let with = |extra: serde_json::Value| {
            let mut v = base.clone();
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            adls(v)
        };
        let s = with(serde_json::json!({})).unwrap();
        assert!(
            matches!(
                &s.location,
                Location::Azure(AzureLocation {
                    auth: AzureAuth::ManagedIdentity { .. },
                    ..
                })
            ),
            "managed identity is the default, as in the original"
        );
        assert_eq!(s.path, "raw/{entity}");
        let e = with(serde_json::json!({"credential": "service_principal", "tenant_id": "t"}))
            .unwrap_err();
        assert!(e.contains("client_id, client_secret"), "{e}");
        let e = with(serde_json::json!({"credential": "storage_key"})).unwrap_err();
        assert!(e.contains("storage_account_key"), "{e}");
        let s = with(serde_json::json!({
            "credential": "service_principal", "tenant_id": "t", "client_id": "c",
            "client_secret": "TOPSECRET"
        }))
        .unwrap();
        assert!(
            !format!("{s:?}").contains("TOPSECRET"),
            "Debug hides secrets"
        );
        let e = with(serde_json::json!({"storage_account_key": "K"})).unwrap_err();
        assert!(
            e.contains("not used with `credential: managed_identity`"),
            "{e}"
        );
        let s =
            with(serde_json::json!({"credential": "sas", "sas_token": "?sv=1&sig=abc"})).unwrap();
        match &s.location {
            Location::Azure(AzureLocation {
                auth: AzureAuth::Sas(t),
                ..
            }) => {
                assert_eq!(t.0, "sv=1&sig=abc")
            }
            other => panic!("{other:?}"),
        }
        let e = with(serde_json::json!({"credential": "password"})).unwrap_err();
        assert!(
            e.contains("`password` is neither a way to sign in (managed_identity"),
            "{e}"
        );
    }

    #[test]
    fn a_named_credential_fills_the_keys_the_store_leaves_out() {
        let creds: Credentials = [
            (
                "aws".to_string(),
                CredentialConfig::S3(crate::credentials::S3Credential {
                    method: S3Method::AccessKey,
                    region: Some("eu-west-1".into()),
                    endpoint: Some("http://127.0.0.1:9".into()),
                    access_key_id: Some(Secret("AKIA".into())),
                    secret_access_key: Some(Secret("sekret".into())),
                    session_token: None,
                }),
            ),
            (
                "g".to_string(),
                CredentialConfig::Gcs(crate::credentials::GcsCredential::default()),
            ),
        ]
        .into();
        let store = |v: serde_json::Value| {
            from_json::<S3StoreConfig>(v)
                .map_err(|e| e.to_string())
                .and_then(|c| c.validate_in(true, &creds))
        };
        let s =
            store(serde_json::json!({"bucket": "b", "credential": "aws", "region": "us-east-2"}))
                .unwrap();
        match s.location {
            Location::S3(l) => {
                assert_eq!(
                    l.region.as_deref(),
                    Some("us-east-2"),
                    "the store's own region wins"
                );
                assert_eq!(l.endpoint.as_deref(), Some("http://127.0.0.1:9"));
                assert_eq!(l.keys.unwrap().0.0, "AKIA");
            }
            other => panic!("{other:?}"),
        }
        let e = store(serde_json::json!({"bucket": "b", "credential": "g"})).unwrap_err();
        assert!(e.contains("`g` is a `gcs` credential"), "{e}");
        let e = store(serde_json::json!({"bucket": "b", "credential": "x"})).unwrap_err();
        assert!(
            e.contains("`x` is not a credential") && e.contains("defines aws, g"),
            "{e}"
        );
        let e = from_json::<GcsStoreConfig>(serde_json::json!({"bucket": "b", "credential": "g"}))
            .unwrap()
            .validate_in(true, &creds)
            .unwrap_err();
        assert!(e.contains("service_account needs `keyfile`"), "{e}");
    }

    #[test]
    fn an_emulator_url_uses_its_key_whatever_the_credential() {
        let s = adls(serde_json::json!({
            "account_url": "http://127.0.0.1:10000/devstoreaccount1",
            "filesystem": "lake",
            "path": "{entity}",
            "credential": "managed_identity",
        }))
        .unwrap();
        match &s.location {
            Location::Azure(AzureLocation {
                auth: AzureAuth::Key(k),
                ..
            }) => {
                assert_eq!(k.0, EMULATOR_KEY)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn onelake_paths() {
        let one = |v: serde_json::Value| {
            let mut base = serde_json::json!({
                "account_url": "https://onelake.dfs.fabric.microsoft.com",
                "filesystem": "MyWorkspace",
            });
            base.as_object_mut()
                .unwrap()
                .extend(v.as_object().unwrap().clone());
            crate::cloud::config::from_json::<OneLakeStoreConfig>(base)
                .unwrap()
                .entity_path()
        };
        assert_eq!(one(serde_json::json!({})).unwrap(), "Files/{entity}");
        assert_eq!(
            one(serde_json::json!({"schema": "dbo"})).unwrap(),
            "Files/dbo.schema/{entity}"
        );
        assert_eq!(
            one(serde_json::json!({"schema_name": "sales", "lakehouse": "Lake"})).unwrap(),
            "Lake.Lakehouse/Files/sales.schema/{entity}"
        );
        assert_eq!(
            one(serde_json::json!({"path": "Files/raw/{entity}/", "lakehouse": "L.Lakehouse"}))
                .unwrap(),
            "L.Lakehouse/Files/raw/{entity}"
        );
        assert!(one(serde_json::json!({"schema": "a", "schema_name": "b"})).is_err());
        assert!(one(serde_json::json!({"path": "x", "schema": "a"})).is_err());
    }

    #[test]
    fn paths_and_files_are_checked() {
        let s3 = |v: serde_json::Value| {
            crate::cloud::config::from_json::<S3StoreConfig>(v)
                .map_err(|e| e.to_string())
                .and_then(|c| c.validate(true))
        };
        let s = s3(serde_json::json!({"bucket": "b"})).unwrap();
        assert_eq!(s.path, "{entity}");
        for bad in ["", "/", "a/../b", "a/_hygge/{entity}", "a/{table}"] {
            assert!(
                s3(serde_json::json!({"bucket": "b", "path": bad})).is_err(),
                "{bad}"
            );
        }
        let e = s3(serde_json::json!({"bucket": "b", "access_key_id": "AKIA"})).unwrap_err();
        assert!(e.contains("secret_access_key"), "{e}");
        let e = s3(serde_json::json!({"bucket": "b", "endpoint": "127.0.0.1:9000"})).unwrap_err();
        assert!(e.contains("must be a URL"), "{e}");
        let e = s3(serde_json::json!({"bucket": "b", "file_pattern": "x.parquet"})).unwrap_err();
        assert!(e.contains("no {sequence}"), "{e}");
        let s = s3(serde_json::json!({
            "bucket": "b", "format": "csv", "file_pattern": "{timestamp}-{sequence}.csv"
        }))
        .unwrap();
        assert_eq!(s.write.format(), FileFormat::Csv);
        // polish: an empty one is none; one that changes the rows turns the row-group copy
        // off, and cannot be asked to copy.
        let s = s3(serde_json::json!({"bucket": "b", "polish": {}})).unwrap();
        assert!(s.polish.is_none());
        let s = s3(serde_json::json!({"bucket": "b", "polish": {"columns": {"case": "snake"}}}))
            .unwrap();
        assert!(s.polish.is_some());
        assert!(matches!(&s.write, WriteOptions::Parquet(o) if !o.copy_row_groups));
        let e = s3(serde_json::json!({
            "bucket": "b", "copy_row_groups": true, "polish": {"columns": {"case": "snake"}}
        }))
        .unwrap_err();
        assert!(e.contains("copy_row_groups") && e.contains("polish"), "{e}");
        let e = s3(serde_json::json!({"bucket": "b", "polish": {"columns": {"case": "upper"}}}))
            .unwrap_err();
        assert!(e.contains("polish.columns.case"), "{e}");
    }

    #[test]
    fn gcs_credentials() {
        let gcs = |v: serde_json::Value| {
            crate::cloud::config::from_json::<GcsStoreConfig>(v)
                .unwrap()
                .validate(true)
        };
        let s = gcs(serde_json::json!({"bucket": "b"})).unwrap();
        assert!(matches!(
            &s.location,
            Location::Gcs(GcsLocation {
                auth: GcsAuth::Default,
                ..
            })
        ));
        let s = gcs(serde_json::json!({"bucket": "b", "credentials": "/k.json"})).unwrap();
        assert!(matches!(
            &s.location,
            Location::Gcs(GcsLocation {
                auth: GcsAuth::KeyFile(_),
                ..
            })
        ));
        let s =
            gcs(serde_json::json!({"bucket": "b", "service_account_key": "{\"k\": \"PRIVATE\"}"}))
                .unwrap();
        assert!(!format!("{s:?}").contains("PRIVATE"));
        assert!(
            gcs(
                serde_json::json!({"bucket": "b", "credentials": "/k", "service_account_key": "x"})
            )
            .is_err()
        );
    }
}
