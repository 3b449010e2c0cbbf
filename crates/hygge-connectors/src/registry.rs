//! The closed set of homes and stores: YAML `type:` -> config struct -> built connector.
//!
//! Adding a connector = a folder, a variant here, a match arm in `build`. Types the original
//! hygge knows but this build does not implement yet are still recognised, so a project
//! that uses them gets "not available in this build" instead of "unknown variant".

use std::sync::Arc;

use hygge_core::{Home, RunType, Store};
use serde::Deserialize;

#[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
use crate::cloud::CloudKeys;
use crate::files::home::{FileHome, LocalHomeConfig, ParquetHomeConfig, ReadFormat};
use crate::files::store::{
    FilePattern, FileStore, FileStoreSettings, LocalStoreConfig, ParquetStoreConfig,
};
use crate::format::csv::CsvWriteOptions;
use crate::format::parquet::ParquetWriteOptions;
use crate::format::{FileFormat, WriteOptions};
use crate::tree::{Loc, Node};

/// Rows per Parquet row group unless `row_group_size` says otherwise (and at most the
/// rows per file). Like DuckDB's 122,880, it keeps a writer's buffered row group small, so
/// memory does not grow with `batch_size`.
pub const DEFAULT_ROW_GROUP_SIZE: usize = 131_072;

/// Home types this build implements.
pub const HOME_TYPES: &[&str] = &[
    "parquet",
    "local",
    #[cfg(feature = "postgres")]
    "postgres",
    #[cfg(feature = "mssql")]
    "mssql",
    #[cfg(feature = "sqlite")]
    "sqlite",
    #[cfg(feature = "duckdb")]
    "duckdb",
    #[cfg(feature = "azure")]
    "adls",
    #[cfg(feature = "azure")]
    "onelake",
    #[cfg(feature = "s3")]
    "s3",
    #[cfg(feature = "gcs")]
    "gcs",
];
/// Store types this build implements.
pub const STORE_TYPES: &[&str] = &[
    "parquet",
    "local",
    #[cfg(feature = "postgres")]
    "postgres",
    #[cfg(feature = "mssql")]
    "mssql",
    #[cfg(feature = "azure")]
    "adls",
    #[cfg(feature = "azure")]
    "onelake",
    #[cfg(feature = "s3")]
    "s3",
    #[cfg(feature = "gcs")]
    "gcs",
    #[cfg(feature = "sqlite")]
    "sqlite",
    #[cfg(feature = "duckdb")]
    "duckdb",
];
/// Types known to hygge (the original's, and the roadmap's) but not in this build yet.
pub const PLANNED_TYPES: &[&str] = &[
    #[cfg(not(feature = "mssql"))]
    "mssql",
    #[cfg(not(feature = "postgres"))]
    "postgres",
    #[cfg(not(feature = "sqlite"))]
    "sqlite",
    "mysql",
    #[cfg(not(feature = "duckdb"))]
    "duckdb",
    #[cfg(not(feature = "azure"))]
    "adls",
    #[cfg(not(feature = "azure"))]
    "onelake",
    #[cfg(not(feature = "azure"))]
    "open_mirroring",
    #[cfg(not(feature = "s3"))]
    "s3",
    #[cfg(not(feature = "gcs"))]
    "gcs",
    "delta",
];

/// A home's configuration, by `type`.
#[allow(clippy::large_enum_variant)] // built once per entity; boxing buys nothing
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HomeConfig {
    /// Parquet files.
    Parquet(ParquetHomeConfig),
    /// Parquet, CSV or NDJSON files.
    Local(LocalHomeConfig),
    /// A PostgreSQL table or query.
    #[cfg(feature = "postgres")]
    Postgres(crate::postgres::home::PostgresHomeConfig),
    /// A SQL Server table or query.
    #[cfg(feature = "mssql")]
    Mssql(crate::mssql::home::MssqlHomeConfig),
    /// A SQLite table or query.
    #[cfg(feature = "sqlite")]
    Sqlite(crate::sqlite::home::SqliteHomeConfig),
    /// A DuckDB table or query.
    #[cfg(feature = "duckdb")]
    Duckdb(crate::duckdb::home::DuckdbHomeConfig),
    /// Files in Azure Data Lake Storage Gen2 / Blob Storage.
    #[cfg(feature = "azure")]
    Adls(crate::cloud::CloudHomeConfig<crate::cloud::AdlsStoreConfig>),
    /// Files in a Fabric Lakehouse (OneLake).
    #[cfg(feature = "azure")]
    Onelake(crate::cloud::CloudHomeConfig<crate::cloud::OneLakeStoreConfig>),
    /// Files in S3 (or an S3-compatible server).
    #[cfg(feature = "s3")]
    S3(crate::cloud::CloudHomeConfig<crate::cloud::S3StoreConfig>),
    /// Files in Google Cloud Storage.
    #[cfg(feature = "gcs")]
    Gcs(crate::cloud::CloudHomeConfig<crate::cloud::GcsStoreConfig>),
}

/// A store's configuration, by `type`.
#[allow(clippy::large_enum_variant)] // built once per entity; boxing buys nothing
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoreConfig {
    /// Parquet files.
    Parquet(ParquetStoreConfig),
    /// Parquet, CSV or NDJSON files.
    Local(LocalStoreConfig),
    /// A PostgreSQL table.
    #[cfg(feature = "postgres")]
    Postgres(crate::postgres::store::PostgresStoreConfig),
    /// A SQL Server table.
    #[cfg(feature = "mssql")]
    Mssql(crate::mssql::store::MssqlStoreConfig),
    /// Files in Azure Data Lake Storage Gen2 / Blob Storage.
    #[cfg(feature = "azure")]
    Adls(crate::cloud::AdlsStoreConfig),
    /// Files in a Fabric Lakehouse (OneLake).
    #[cfg(feature = "azure")]
    Onelake(crate::cloud::OneLakeStoreConfig),
    /// A Fabric mirrored database's landing zone.
    #[cfg(feature = "azure")]
    OpenMirroring(crate::open_mirroring::OpenMirroringStoreConfig),
    /// Files in S3 (or an S3-compatible server).
    #[cfg(feature = "s3")]
    S3(crate::cloud::S3StoreConfig),
    /// Files in Google Cloud Storage.
    #[cfg(feature = "gcs")]
    Gcs(crate::cloud::GcsStoreConfig),
    /// A SQLite table.
    #[cfg(feature = "sqlite")]
    Sqlite(crate::sqlite::store::SqliteStoreConfig),
    /// A DuckDB table.
    #[cfg(feature = "duckdb")]
    Duckdb(crate::duckdb::store::DuckdbStoreConfig),
}

pub use crate::connections::{ConnectionConfig, Connections};

/// The result of typing a connector's keys: the config, or serde's error with the key path
/// where it happened (the product turns it into a located diagnostic).
pub type Parsed<T> = Result<T, crate::tree::TreeError>;

fn parse<T: serde::de::DeserializeOwned>(v: &Node) -> Parsed<T> {
    crate::tree::from_node(v)
}

/// One `type:` of home, store or connection, as the product sees it: its names, its keys
/// (derived from its config struct, for unknown-key checks and did-you-mean) and the
/// function that types its mapping. The product learns about connectors only through
/// [`HOMES`], [`STORES`] and [`CONNECTIONS`].
pub struct Kind<C: 'static> {
    /// The `type:` value.
    pub name: &'static str,
    /// Other `type:` values meaning the same (the original's spellings).
    pub aliases: &'static [&'static str],
    /// Its keys (besides `type`).
    pub keys: fn() -> Vec<&'static str>,
    /// Types its mapping (without `type`).
    pub parse: fn(&Node) -> Parsed<C>,
    /// Reached over a connection (a database), not a path.
    pub remote: bool,
}

impl<C> Kind<C> {
    /// Whether `ty` names this kind.
    pub fn is(&self, ty: &str) -> bool {
        self.name == ty || self.aliases.contains(&ty)
    }
}

/// Every home type of this build: the one list where home connectors are named.
pub static HOMES: &[Kind<HomeConfig>] = &[
    Kind {
        name: "parquet",
        aliases: &[],
        keys: || crate::keys::field_names::<ParquetHomeConfig>().to_vec(),
        parse: |v| parse(v).map(HomeConfig::Parquet),
        remote: false,
    },
    Kind {
        name: "local",
        aliases: &[],
        keys: || crate::keys::field_names::<LocalHomeConfig>().to_vec(),
        parse: |v| parse(v).map(HomeConfig::Local),
        remote: false,
    },
    #[cfg(feature = "postgres")]
    Kind {
        name: "postgres",
        aliases: &["postgresql"],
        keys: crate::common::keys_with_inline::<crate::postgres::home::PostgresHomeConfig>,
        parse: |v| crate::common::with_inline(v).map(HomeConfig::Postgres),
        remote: true,
    },
    #[cfg(feature = "mssql")]
    Kind {
        name: "mssql",
        aliases: &[],
        keys: crate::common::keys_with_inline::<crate::mssql::home::MssqlHomeConfig>,
        parse: |v| crate::common::with_inline(v).map(HomeConfig::Mssql),
        remote: true,
    },
    #[cfg(feature = "sqlite")]
    Kind {
        name: "sqlite",
        aliases: &[],
        keys: || crate::keys::field_names::<crate::sqlite::home::SqliteHomeConfig>().to_vec(),
        parse: |v| parse(v).map(HomeConfig::Sqlite),
        remote: false,
    },
    #[cfg(feature = "duckdb")]
    Kind {
        name: "duckdb",
        aliases: &[],
        keys: || crate::keys::field_names::<crate::duckdb::home::DuckdbHomeConfig>().to_vec(),
        parse: |v| parse(v).map(HomeConfig::Duckdb),
        remote: false,
    },
    #[cfg(feature = "azure")]
    Kind {
        name: "adls",
        aliases: &[],
        keys: crate::cloud::CloudHomeConfig::<crate::cloud::AdlsStoreConfig>::keys,
        parse: |v| crate::cloud::CloudHomeConfig::parse(v).map(HomeConfig::Adls),
        remote: true,
    },
    #[cfg(feature = "azure")]
    Kind {
        name: "onelake",
        aliases: &[],
        keys: crate::cloud::CloudHomeConfig::<crate::cloud::OneLakeStoreConfig>::keys,
        parse: |v| crate::cloud::CloudHomeConfig::parse(v).map(HomeConfig::Onelake),
        remote: true,
    },
    #[cfg(feature = "s3")]
    Kind {
        name: "s3",
        aliases: &[],
        keys: crate::cloud::CloudHomeConfig::<crate::cloud::S3StoreConfig>::keys,
        parse: |v| crate::cloud::CloudHomeConfig::parse(v).map(HomeConfig::S3),
        remote: true,
    },
    #[cfg(feature = "gcs")]
    Kind {
        name: "gcs",
        aliases: &[],
        keys: crate::cloud::CloudHomeConfig::<crate::cloud::GcsStoreConfig>::keys,
        parse: |v| crate::cloud::CloudHomeConfig::parse(v).map(HomeConfig::Gcs),
        remote: true,
    },
];

/// Every store type of this build: the one list where store connectors are named.
pub static STORES: &[Kind<StoreConfig>] = &[
    Kind {
        name: "parquet",
        aliases: &[],
        keys: || crate::keys::field_names::<ParquetStoreConfig>().to_vec(),
        parse: |v| parse(v).map(StoreConfig::Parquet),
        remote: false,
    },
    Kind {
        name: "local",
        aliases: &[],
        keys: || crate::keys::field_names::<LocalStoreConfig>().to_vec(),
        parse: |v| parse(v).map(StoreConfig::Local),
        remote: false,
    },
    #[cfg(feature = "postgres")]
    Kind {
        name: "postgres",
        aliases: &["postgresql"],
        keys: crate::common::keys_with_inline::<crate::postgres::store::PostgresStoreConfig>,
        parse: |v| crate::common::with_inline(v).map(StoreConfig::Postgres),
        remote: true,
    },
    #[cfg(feature = "mssql")]
    Kind {
        name: "mssql",
        aliases: &[],
        keys: crate::common::keys_with_inline::<crate::mssql::store::MssqlStoreConfig>,
        parse: |v| crate::common::with_inline(v).map(StoreConfig::Mssql),
        remote: true,
    },
    #[cfg(feature = "azure")]
    Kind {
        name: "adls",
        aliases: &[],
        keys: crate::cloud::config::keys::<crate::cloud::AdlsStoreConfig>,
        parse: |v| crate::cloud::config::parse(v).map(StoreConfig::Adls),
        remote: true,
    },
    #[cfg(feature = "azure")]
    Kind {
        name: "onelake",
        aliases: &[],
        keys: crate::cloud::config::keys::<crate::cloud::OneLakeStoreConfig>,
        parse: |v| crate::cloud::config::parse(v).map(StoreConfig::Onelake),
        remote: true,
    },
    #[cfg(feature = "azure")]
    Kind {
        name: "open_mirroring",
        aliases: &[],
        keys: crate::cloud::config::keys::<crate::open_mirroring::OpenMirroringStoreConfig>,
        parse: |v| crate::cloud::config::parse(v).map(StoreConfig::OpenMirroring),
        remote: true,
    },
    #[cfg(feature = "s3")]
    Kind {
        name: "s3",
        aliases: &[],
        keys: crate::cloud::config::keys::<crate::cloud::S3StoreConfig>,
        parse: |v| crate::cloud::config::parse(v).map(StoreConfig::S3),
        remote: true,
    },
    #[cfg(feature = "gcs")]
    Kind {
        name: "gcs",
        aliases: &[],
        keys: crate::cloud::config::keys::<crate::cloud::GcsStoreConfig>,
        parse: |v| crate::cloud::config::parse(v).map(StoreConfig::Gcs),
        remote: true,
    },
    #[cfg(feature = "sqlite")]
    Kind {
        name: "sqlite",
        aliases: &[],
        keys: || crate::keys::field_names::<crate::sqlite::store::SqliteStoreConfig>().to_vec(),
        parse: |v| parse(v).map(StoreConfig::Sqlite),
        remote: false,
    },
    #[cfg(feature = "duckdb")]
    Kind {
        name: "duckdb",
        aliases: &[],
        keys: || crate::keys::field_names::<crate::duckdb::store::DuckdbStoreConfig>().to_vec(),
        parse: |v| parse(v).map(StoreConfig::Duckdb),
        remote: false,
    },
];

/// Every named credential type of this build (`hygge.yml` `credentials:`).
pub static CREDENTIALS: &[Kind<crate::credentials::CredentialConfig>] = &[
    #[cfg(feature = "azure")]
    Kind {
        name: "azure_ad",
        aliases: &[],
        keys: || crate::keys::field_names::<crate::credentials::AzureAdCredential>().to_vec(),
        parse: |v| parse(v).map(crate::credentials::CredentialConfig::AzureAd),
        remote: true,
    },
    #[cfg(feature = "s3")]
    Kind {
        name: "s3",
        aliases: &[],
        keys: || crate::keys::field_names::<crate::credentials::S3Credential>().to_vec(),
        parse: |v| parse(v).map(crate::credentials::CredentialConfig::S3),
        remote: true,
    },
    #[cfg(feature = "gcs")]
    Kind {
        name: "gcs",
        aliases: &[],
        keys: || crate::keys::field_names::<crate::credentials::GcsCredential>().to_vec(),
        parse: |v| parse(v).map(crate::credentials::CredentialConfig::Gcs),
        remote: true,
    },
];

/// Credential types hygge knows but this build does not have.
pub const PLANNED_CREDENTIALS: &[&str] = &[
    #[cfg(not(feature = "azure"))]
    "azure_ad",
    #[cfg(not(feature = "s3"))]
    "s3",
    #[cfg(not(feature = "gcs"))]
    "gcs",
];

/// Every connection type of this build (`hygge.yml` `connections:`).
pub static CONNECTIONS: &[Kind<ConnectionConfig>] = &[
    #[cfg(feature = "mssql")]
    Kind {
        name: "mssql",
        aliases: &[],
        keys: || crate::keys::field_names::<crate::mssql::MssqlConnectionConfig>().to_vec(),
        parse: |v| parse(v).map(ConnectionConfig::Mssql),
        remote: true,
    },
    #[cfg(feature = "postgres")]
    Kind {
        name: "postgres",
        aliases: &["postgresql"],
        keys: || crate::keys::field_names::<crate::postgres::PgConnectionConfig>().to_vec(),
        parse: |v| parse(v).map(ConnectionConfig::Postgres),
        remote: true,
    },
];

/// The kind named `ty` (or one of its aliases) in `kinds`.
pub fn kind<'a, C>(kinds: &'a [Kind<C>], ty: &str) -> Option<&'a Kind<C>> {
    kinds.iter().find(|k| k.is(ty))
}

/// A home given as JSON (`type` and its keys), typed and validated as `hygge go` does:
/// through the kind its `type` names. For tests (the conformance suites).
pub fn home_from_json(v: serde_json::Value, entity_folder: bool) -> Result<ValidHome, String> {
    let (kind, rest) = split_type(HOMES, v, "home")?;
    let c = (kind.parse)(&Node::from_json(&rest, &Loc::default())).map_err(|e| e.to_string())?;
    c.validate_in(Context {
        entity_folder,
        connections: &Connections::default(),
    })
}

/// A store given as JSON, as [`home_from_json`].
pub fn store_from_json(v: serde_json::Value, entity_folder: bool) -> Result<ValidStore, String> {
    let (kind, rest) = split_type(STORES, v, "store")?;
    let c = (kind.parse)(&Node::from_json(&rest, &Loc::default())).map_err(|e| e.to_string())?;
    c.validate_in(Context {
        entity_folder,
        connections: &Connections::default(),
    })
}

fn split_type<C>(
    kinds: &'static [Kind<C>],
    v: serde_json::Value,
    which: &str,
) -> Result<(&'static Kind<C>, serde_json::Value), String> {
    let mut m = v.as_object().cloned().ok_or("a mapping")?;
    let ty = m
        .remove("type")
        .and_then(|t| t.as_str().map(String::from))
        .unwrap_or_else(|| "parquet".into());
    let kind = kind(kinds, &ty).ok_or_else(|| format!("unknown {which} type `{ty}`"))?;
    Ok((kind, serde_json::Value::Object(m)))
}

/// The names of `kinds`, for messages.
pub fn names<C>(kinds: &[Kind<C>]) -> Vec<&'static str> {
    kinds.iter().map(|k| k.name).collect()
}

/// Connection types hygge knows but this build does not have.
pub const PLANNED_CONNECTIONS: &[&str] = &[
    #[cfg(not(feature = "mssql"))]
    "mssql",
    #[cfg(not(feature = "postgres"))]
    "postgres",
    "mysql",
];

/// What validation needs besides a connector's own keys.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Each entity lives in `<path>/<entity>` (file connectors).
    pub entity_folder: bool,
    /// Named connections.
    pub connections: &'a Connections,
}

/// A home ready to build, after validation.
#[derive(Debug, Clone)]
pub struct ValidHome {
    home: HomeImpl,
    /// Rows per batch.
    pub batch_size: usize,
}

#[derive(Debug, Clone)]
enum HomeImpl {
    Files(FileHome),
    #[cfg(feature = "postgres")]
    Postgres(crate::postgres::home::PostgresHome),
    #[cfg(feature = "mssql")]
    Mssql(crate::mssql::home::MssqlHome),
    #[cfg(feature = "sqlite")]
    Sqlite(crate::sqlite::home::SqliteHome),
    #[cfg(feature = "duckdb")]
    Duckdb(crate::duckdb::home::DuckdbHome),
}

/// A store ready to build, after validation.
#[derive(Debug, Clone)]
pub struct ValidStore {
    store: StoreImpl,
}

#[derive(Debug, Clone)]
enum StoreImpl {
    Files(FileStoreSettings),
    #[cfg(feature = "postgres")]
    Postgres(crate::postgres::store::PostgresStore),
    #[cfg(feature = "mssql")]
    Mssql(crate::mssql::store::MssqlStore),
    #[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
    Cloud(crate::cloud::CloudStore),
    #[cfg(feature = "azure")]
    OpenMirroring(crate::open_mirroring::OpenMirroringStore),
    #[cfg(feature = "sqlite")]
    Sqlite(crate::sqlite::store::SqliteStore),
    #[cfg(feature = "duckdb")]
    Duckdb(crate::duckdb::store::DuckdbStore),
}

impl HomeConfig {
    /// Checks the configuration without touching anything; errors name the key.
    /// With `entity_folder`, each entity is read from `<path>/<entity>`.
    pub fn validate(&self, entity_folder: bool) -> Result<ValidHome, String> {
        self.validate_in(Context {
            entity_folder,
            connections: &Connections::default(),
        })
    }

    /// Checks the configuration without touching anything; errors name the key.
    pub fn validate_in(&self, ctx: Context<'_>) -> Result<ValidHome, String> {
        let entity_folder = ctx.entity_folder;
        match self {
            #[cfg(feature = "postgres")]
            HomeConfig::Postgres(c) => {
                crate::postgres::home::validate(c, ctx.connections).map(|(home, batch_size)| {
                    ValidHome {
                        home: HomeImpl::Postgres(home),
                        batch_size,
                    }
                })
            }
            #[cfg(feature = "mssql")]
            HomeConfig::Mssql(c) => {
                crate::mssql::home::validate(c, ctx.connections).map(|(home, batch_size)| {
                    ValidHome {
                        home: HomeImpl::Mssql(home),
                        batch_size,
                    }
                })
            }
            #[cfg(feature = "sqlite")]
            HomeConfig::Sqlite(c) => {
                crate::sqlite::home::validate(c).map(|(home, batch_size)| ValidHome {
                    home: HomeImpl::Sqlite(home),
                    batch_size,
                })
            }
            #[cfg(feature = "duckdb")]
            HomeConfig::Duckdb(c) => {
                crate::duckdb::home::validate(c).map(|(home, batch_size)| ValidHome {
                    home: HomeImpl::Duckdb(home),
                    batch_size,
                })
            }
            #[cfg(feature = "azure")]
            HomeConfig::Adls(c) => c
                .validate(entity_folder, &ctx.connections.credentials)
                .map(files_home),
            #[cfg(feature = "azure")]
            HomeConfig::Onelake(c) => c
                .validate(entity_folder, &ctx.connections.credentials)
                .map(files_home),
            #[cfg(feature = "s3")]
            HomeConfig::S3(c) => c
                .validate(entity_folder, &ctx.connections.credentials)
                .map(files_home),
            #[cfg(feature = "gcs")]
            HomeConfig::Gcs(c) => c
                .validate(entity_folder, &ctx.connections.credentials)
                .map(files_home),
            HomeConfig::Parquet(c) => {
                crate::common::positive("batch_size", c.batch_size)?;
                if c.cloud().is_none() {
                    if let Some(k) = c.stray_provider_keys() {
                        return Err(format!(
                            "{k}: only with a cloud `provider` (s3, gcs or adls); these files are local"
                        ));
                    }
                    let home = file_home("parquet", &c.path, entity_folder, ReadFormat::Parquet)?;
                    return Ok(files_home((home, c.batch_size)));
                }
                #[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
                {
                    let files = crate::cloud::home::from_provider(
                        c,
                        entity_folder,
                        &ctx.connections.credentials,
                    )?;
                    let home = FileHome::remote(
                        "parquet",
                        std::sync::Arc::new(files),
                        ReadFormat::Parquet,
                    );
                    Ok(files_home((home, c.batch_size)))
                }
                #[cfg(not(any(feature = "azure", feature = "s3", feature = "gcs")))]
                Err("provider: this build of hygge has no cloud storage support (built without the `azure`, `s3` and `gcs` features)".into())
            }
            HomeConfig::Local(c) => {
                crate::common::positive("batch_size", c.batch_size)?;
                let read = ReadFormat::parse(c.format, &c.format_options)?;
                let home = file_home("local", &c.path, entity_folder, read)?;
                Ok(files_home((home, c.batch_size)))
            }
        }
    }
}

fn files_home((home, batch_size): (FileHome, usize)) -> ValidHome {
    ValidHome {
        home: HomeImpl::Files(home),
        batch_size,
    }
}

/// A `parquet` or `local` home: local files, or a container's when `path` is a URL
/// (`s3://`, `gs://`, `abfss://`).
fn file_home(
    kind: &'static str,
    path: &std::path::Path,
    entity_folder: bool,
    read: ReadFormat,
) -> Result<FileHome, String> {
    let text = path.to_string_lossy();
    #[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
    if let Some(files) = crate::cloud::home::from_url(&text, entity_folder) {
        return Ok(FileHome::remote(kind, std::sync::Arc::new(files?), read));
    }
    if let Some((scheme, _)) = text.split_once("://")
        && matches!(scheme, "s3" | "s3a" | "gs" | "gcs" | "abfss" | "abfs")
    {
        return Err(format!(
            "path {text:?}: this build of hygge has no cloud storage support (built without the `azure`, `s3` and `gcs` features)"
        ));
    }
    Ok(FileHome::new(kind, path.to_path_buf(), entity_folder, read))
}

impl HomeConfig {
    /// For a database home whose login would go to a server that is not verified: the
    /// connection's name (`inline` for keys given on the home) and a warning that names
    /// it and the key to set (never the secret).
    pub fn credential_warning(&self, conns: &Connections) -> Option<(String, String)> {
        match self {
            #[cfg(feature = "postgres")]
            HomeConfig::Postgres(c) => pg_warning(c.connection.as_deref(), &c.inline, conns),
            #[cfg(feature = "mssql")]
            HomeConfig::Mssql(c) => mssql_warning(c.connection.as_deref(), &c.inline, conns),
            _ => None,
        }
    }
}

impl StoreConfig {
    /// As [`HomeConfig::credential_warning`], for a store.
    pub fn credential_warning(&self, conns: &Connections) -> Option<(String, String)> {
        match self {
            #[cfg(feature = "postgres")]
            StoreConfig::Postgres(c) => pg_warning(c.connection.as_deref(), &c.inline, conns),
            #[cfg(feature = "mssql")]
            StoreConfig::Mssql(c) => mssql_warning(c.connection.as_deref(), &c.inline, conns),
            _ => None,
        }
    }
}

#[cfg(feature = "postgres")]
fn pg_warning(name: Option<&str>, inline: &Node, conns: &Connections) -> Option<(String, String)> {
    let (name, cfg) = crate::postgres::connection::resolve(name, inline, conns).ok()?;
    let warning = cfg.credential_warning(&name)?;
    Some((name, warning))
}

#[cfg(feature = "mssql")]
fn mssql_warning(
    name: Option<&str>,
    inline: &Node,
    conns: &Connections,
) -> Option<(String, String)> {
    let (name, cfg) = crate::mssql::connection::resolve(name, inline, conns).ok()?;
    let warning = cfg.credential_warning(&name)?;
    Some((name, warning))
}

impl ValidHome {
    /// Builds the connector (opens nothing yet for files).
    pub fn build(&self) -> Arc<dyn Home> {
        match &self.home {
            HomeImpl::Files(h) => Arc::new(h.clone()),
            #[cfg(feature = "postgres")]
            HomeImpl::Postgres(h) => Arc::new(h.clone()),
            #[cfg(feature = "mssql")]
            HomeImpl::Mssql(h) => Arc::new(h.clone()),
            #[cfg(feature = "sqlite")]
            HomeImpl::Sqlite(h) => Arc::new(h.clone()),
            #[cfg(feature = "duckdb")]
            HomeImpl::Duckdb(h) => Arc::new(h.clone()),
        }
    }

    /// The local path `entity` is read from, for homes of local files (`None` for others).
    pub fn local_path(&self, entity: &str) -> Option<std::path::PathBuf> {
        match &self.home {
            HomeImpl::Files(h) => h.entity_path(entity),
            #[cfg(feature = "postgres")]
            HomeImpl::Postgres(_) => None,
            #[cfg(feature = "mssql")]
            HomeImpl::Mssql(_) => None,
            #[cfg(feature = "sqlite")]
            HomeImpl::Sqlite(_) => None,
            #[cfg(feature = "duckdb")]
            HomeImpl::Duckdb(_) => None,
        }
    }

    /// One line for plans (opens nothing).
    pub fn summary(&self, entity: &str) -> String {
        let what = match &self.home {
            HomeImpl::Files(h) => h.summary(entity),
            #[cfg(feature = "postgres")]
            HomeImpl::Postgres(h) => {
                use hygge_core::Home;
                format!("postgres {}", h.describe(entity))
            }
            #[cfg(feature = "mssql")]
            HomeImpl::Mssql(h) => {
                use hygge_core::Home;
                format!("mssql {}", h.describe(entity))
            }
            #[cfg(feature = "sqlite")]
            HomeImpl::Sqlite(h) => {
                use hygge_core::Home;
                format!("sqlite {}", h.describe(entity))
            }
            #[cfg(feature = "duckdb")]
            HomeImpl::Duckdb(h) => {
                use hygge_core::Home;
                format!("duckdb {}", h.describe(entity))
            }
        };
        format!("{what}, batch_size {}", self.batch_size)
    }
}

impl StoreConfig {
    /// Checks the configuration without touching anything; errors name the key.
    /// With `entity_folder`, each entity is written to `<path>/<entity>`.
    pub fn validate(&self, entity_folder: bool) -> Result<ValidStore, String> {
        self.validate_in(Context {
            entity_folder,
            connections: &Connections::default(),
        })
    }

    /// Checks the configuration without touching anything; errors name the key.
    pub fn validate_in(&self, ctx: Context<'_>) -> Result<ValidStore, String> {
        let entity_folder = ctx.entity_folder;
        let (kind, c) = match self {
            #[cfg(feature = "postgres")]
            StoreConfig::Postgres(c) => {
                return Ok(ValidStore {
                    store: StoreImpl::Postgres(crate::postgres::store::validate(
                        c,
                        ctx.connections,
                    )?),
                });
            }
            #[cfg(feature = "mssql")]
            StoreConfig::Mssql(c) => {
                return Ok(ValidStore {
                    store: StoreImpl::Mssql(crate::mssql::store::validate(c, ctx.connections)?),
                });
            }
            #[cfg(feature = "azure")]
            StoreConfig::Adls(c) => {
                return Ok(cloud(
                    c.validate_in(entity_folder, &ctx.connections.credentials)?,
                ));
            }
            #[cfg(feature = "azure")]
            StoreConfig::Onelake(c) => {
                return Ok(cloud(
                    c.validate_in(entity_folder, &ctx.connections.credentials)?,
                ));
            }
            #[cfg(feature = "azure")]
            StoreConfig::OpenMirroring(c) => {
                let s = c.validate_in(entity_folder, &ctx.connections.credentials)?;
                return Ok(ValidStore {
                    store: StoreImpl::OpenMirroring(
                        crate::open_mirroring::OpenMirroringStore::new(s),
                    ),
                });
            }
            #[cfg(feature = "s3")]
            StoreConfig::S3(c) => {
                return Ok(cloud(
                    c.validate_in(entity_folder, &ctx.connections.credentials)?,
                ));
            }
            #[cfg(feature = "gcs")]
            StoreConfig::Gcs(c) => {
                return Ok(cloud(
                    c.validate_in(entity_folder, &ctx.connections.credentials)?,
                ));
            }
            #[cfg(feature = "sqlite")]
            StoreConfig::Sqlite(c) => {
                return Ok(ValidStore {
                    store: StoreImpl::Sqlite(crate::sqlite::store::validate(c)?),
                });
            }
            #[cfg(feature = "duckdb")]
            StoreConfig::Duckdb(c) => {
                return Ok(ValidStore {
                    store: StoreImpl::Duckdb(crate::duckdb::store::validate(c)?),
                });
            }
            StoreConfig::Parquet(c) => ("parquet", LocalStoreConfig::from(c.clone())),
            StoreConfig::Local(c) => ("local", c.clone()),
        };
        let (path, format, batch) = (&c.path, c.format, c.batch_size);
        let options = Some(&c.format_options);
        let (polish, copy_row_groups) = crate::polish::for_store(&c.polish, c.copy_row_groups)?;
        crate::common::positive("batch_size", batch)?;
        if c.copy_row_groups.is_some() && format != FileFormat::Parquet {
            return Err(format!(
                "copy_row_groups: only a parquet store copies row groups, not {}",
                format.name()
            ));
        }
        let pattern = c
            .file_pattern
            .clone()
            .unwrap_or_else(|| format!("{{sequence:020d}}.{}", format.extension()));
        let pattern = FilePattern::parse(&pattern)?;
        let write = match format {
            FileFormat::Parquet => {
                if let Some(o) = options.filter(|o| !o.is_empty()) {
                    return Err(format!(
                        "format_options: parquet takes no options (got {}); use `compression`",
                        o.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                let o = ParquetWriteOptions {
                    codec: c.compression,
                    level: c.compression_level,
                    row_group_size: c
                        .row_group_size
                        .unwrap_or(batch.min(DEFAULT_ROW_GROUP_SIZE)),
                    copy_row_groups,
                };
                crate::common::positive("row_group_size", o.row_group_size)?;
                o.compression()
                    .map_err(|e| format!("compression_level: {e}"))?;
                WriteOptions::Parquet(o)
            }
            FileFormat::Csv => {
                let o: CsvWriteOptions = serde_json::from_value(serde_json::Value::Object(
                    options.cloned().unwrap_or_default(),
                ))
                .map_err(|e| format!("format_options: {e}"))?;
                o.validate().map_err(|e| format!("format_options: {e}"))?;
                WriteOptions::Csv(o)
            }
            FileFormat::Ndjson => {
                if let Some(o) = options.filter(|o| !o.is_empty()) {
                    return Err(format!(
                        "format_options: ndjson takes no options (got {})",
                        o.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                WriteOptions::Ndjson
            }
        };
        Ok(ValidStore {
            store: StoreImpl::Files(FileStoreSettings {
                kind,
                dir: path.clone(),
                entity_folder,
                write,
                pattern,
                rows_per_file: batch,
                durable: c.fsync,
                polish,
            }),
        })
    }
}

#[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
fn cloud(s: crate::cloud::CloudSettings) -> ValidStore {
    ValidStore {
        store: StoreImpl::Cloud(crate::cloud::CloudStore::new(s)),
    }
}

impl ValidStore {
    /// Builds the connector.
    pub fn build(&self) -> Arc<dyn Store> {
        match &self.store {
            StoreImpl::Files(s) => Arc::new(FileStore::new(s.clone())),
            #[cfg(feature = "postgres")]
            StoreImpl::Postgres(s) => Arc::new(s.clone()),
            #[cfg(feature = "mssql")]
            StoreImpl::Mssql(s) => Arc::new(s.clone()),
            #[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
            StoreImpl::Cloud(s) => Arc::new(s.clone()),
            #[cfg(feature = "azure")]
            StoreImpl::OpenMirroring(s) => Arc::new(s.clone()),
            #[cfg(feature = "sqlite")]
            StoreImpl::Sqlite(s) => Arc::new(s.clone()),
            #[cfg(feature = "duckdb")]
            StoreImpl::Duckdb(s) => Arc::new(s.clone()),
        }
    }

    /// The local folder a run of `entity` replaces, for stores of local files (`None` for
    /// others).
    pub fn local_folder(&self, entity: &str) -> Option<std::path::PathBuf> {
        match &self.store {
            StoreImpl::Files(s) => Some(s.entity_dir(entity)),
            #[cfg(feature = "postgres")]
            StoreImpl::Postgres(_) => None,
            #[cfg(feature = "mssql")]
            StoreImpl::Mssql(_) => None,
            #[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
            StoreImpl::Cloud(_) => None,
            #[cfg(feature = "azure")]
            StoreImpl::OpenMirroring(_) => None,
            #[cfg(feature = "sqlite")]
            StoreImpl::Sqlite(_) => None,
            #[cfg(feature = "duckdb")]
            StoreImpl::Duckdb(_) => None,
        }
    }

    /// Where a journal kept by this store (`journal: {location: store}`) goes, for stores
    /// that hold no local folder but can keep one beside their data (the cloud stores:
    /// `.hygge_journal/` in their container); `None` for the others.
    pub fn journal_folder(&self) -> Option<Arc<dyn crate::versioned::VersionedFolder>> {
        match &self.store {
            #[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
            StoreImpl::Cloud(s) => Some(Arc::new(s.settings().journal_folder())),
            #[cfg(feature = "azure")]
            StoreImpl::OpenMirroring(s) => {
                Some(Arc::new(crate::cloud::journal::ObjectFolder::new(
                    s.settings().cloud.location.clone(),
                    s.journal_prefix(),
                )))
            }
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// An `open_mirroring` store's `mirror_journal`: where the journal's entries are
    /// mirrored as a table (its URL, the store, the table's name); `None` for the others.
    pub fn journal_mirror(&self) -> Option<(String, Arc<dyn Store>, String)> {
        match &self.store {
            #[cfg(feature = "azure")]
            StoreImpl::OpenMirroring(s) => {
                let (store, table) = s.journal_table()?;
                let url = store.describe(&table);
                Some((url, Arc::new(store), table))
            }
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// For `hygge debug`: checks the store can take `entity` (of entity flow `flow_name`,
    /// which file stores need for `{name}` and `{flow_name}` in `file_pattern`); writes
    /// nothing visible (a cloud store writes and deletes a probe object in `_hygge/`).
    /// Returns lines saying what was checked (a cloud store's credential source).
    pub async fn check(
        &self,
        entity: &str,
        flow_name: &str,
    ) -> Result<Vec<String>, hygge_core::BoxError> {
        match &self.store {
            StoreImpl::Files(s) => FileStore::new(s.clone())
                .check_flow(entity, flow_name)
                .await
                .map(|()| vec![]),
            #[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
            StoreImpl::Cloud(s) => s.probe(entity).await,
            #[cfg(feature = "azure")]
            StoreImpl::OpenMirroring(s) => s.probe(entity).await,
            #[allow(unreachable_patterns)] // the SQL stores are features
            _ => self.build().check(entity).await.map(|()| vec![]),
        }
    }

    /// One line for plans (opens nothing).
    pub fn summary(&self, entity: &str) -> String {
        match &self.store {
            StoreImpl::Files(s) => FileStore::new(s.clone()).summary(entity),
            #[cfg(feature = "postgres")]
            StoreImpl::Postgres(s) => {
                use hygge_core::Store;
                format!("postgres {}", s.describe(entity))
            }
            #[cfg(feature = "mssql")]
            StoreImpl::Mssql(s) => {
                use hygge_core::Store;
                format!("mssql {}", s.describe(entity))
            }
            #[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
            StoreImpl::Cloud(s) => s.settings().summary(entity),
            #[cfg(feature = "azure")]
            StoreImpl::OpenMirroring(s) => s.summary(entity),
            #[cfg(feature = "sqlite")]
            StoreImpl::Sqlite(s) => {
                use hygge_core::Store;
                format!("sqlite {}", s.describe(entity))
            }
            #[cfg(feature = "duckdb")]
            StoreImpl::Duckdb(s) => {
                use hygge_core::Store;
                format!("duckdb {}", s.describe(entity))
            }
        }
    }

    /// What a run of `run_type` would do to the destination (reads, never writes; a
    /// database store connects to nothing and says what it would do).
    pub fn preview(&self, entity: &str, flow_name: &str, run_type: RunType) -> String {
        match &self.store {
            StoreImpl::Files(s) => FileStore::new(s.clone()).preview(entity, flow_name, run_type),
            #[cfg(feature = "postgres")]
            StoreImpl::Postgres(s) => s.preview(entity, run_type),
            #[cfg(feature = "mssql")]
            StoreImpl::Mssql(s) => s.preview(entity, run_type),
            #[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
            StoreImpl::Cloud(s) => s.settings().preview(entity, run_type),
            #[cfg(feature = "azure")]
            StoreImpl::OpenMirroring(s) => s.preview(entity, run_type),
            #[cfg(feature = "sqlite")]
            StoreImpl::Sqlite(s) => s.preview(entity, run_type),
            #[cfg(feature = "duckdb")]
            StoreImpl::Duckdb(s) => s.preview(entity, run_type),
        }
    }
}
