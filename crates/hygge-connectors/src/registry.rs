//! The closed set of homes and stores: YAML `type:` -> config struct -> built connector.
//!
//! Adding a connector = a folder, a variant here, a match arm in `build`. Types the original
//! hygge knows but this build does not implement yet are still recognised, so a project
//! that uses them gets "not available in this build" instead of "unknown variant".

use std::sync::Arc;

use hygge_core::{Home, RunType, Store};
use serde::Deserialize;

use crate::format::csv::CsvWriteOptions;
use crate::format::parquet::ParquetWriteOptions;
use crate::format::{FileFormat, WriteOptions};
use crate::homes::files::{FileHome, LocalHomeConfig, ParquetHomeConfig, ReadFormat};
use crate::stores::files::{
    FilePattern, FileStore, FileStoreSettings, LocalStoreConfig, ParquetStoreConfig,
};

/// Rows per Parquet row group unless `row_group_size` says otherwise (and at most the
/// rows per file). Like DuckDB's 122,880, it keeps a writer's buffered row group small, so
/// memory does not grow with `batch_size`.
pub const DEFAULT_ROW_GROUP_SIZE: usize = 131_072;

/// Home types this build implements.
pub const HOME_TYPES: &[&str] = &["parquet", "local"];
/// Store types this build implements.
pub const STORE_TYPES: &[&str] = &["parquet", "local"];
/// Types known to hygge (the original's, and the roadmap's) but not in this build yet.
pub const PLANNED_TYPES: &[&str] = &[
    "mssql",
    "postgres",
    "postgresql",
    "mysql",
    "sqlite",
    "duckdb",
    "adls",
    "onelake",
    "open_mirroring",
    "s3",
    "gcs",
    "delta",
];

/// A home's configuration, by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HomeConfig {
    /// Parquet files.
    Parquet(ParquetHomeConfig),
    /// Parquet, CSV or NDJSON files.
    Local(LocalHomeConfig),
}

/// A store's configuration, by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoreConfig {
    /// Parquet files.
    Parquet(ParquetStoreConfig),
    /// Parquet, CSV or NDJSON files.
    Local(LocalStoreConfig),
}

/// A home ready to build, after validation.
#[derive(Debug, Clone)]
pub struct ValidHome {
    home: FileHome,
    /// Rows per batch.
    pub batch_size: usize,
}

/// A store ready to build, after validation.
#[derive(Debug, Clone)]
pub struct ValidStore {
    settings: FileStoreSettings,
}

impl HomeConfig {
    /// Checks the configuration without touching anything; errors name the key.
    /// With `entity_folder`, each entity is read from `<path>/<entity>`.
    pub fn validate(&self, entity_folder: bool) -> Result<ValidHome, String> {
        match self {
            HomeConfig::Parquet(c) => {
                positive("batch_size", c.batch_size)?;
                Ok(ValidHome {
                    home: FileHome::new(
                        "parquet",
                        c.path.clone(),
                        entity_folder,
                        ReadFormat::Parquet,
                    ),
                    batch_size: c.batch_size,
                })
            }
            HomeConfig::Local(c) => {
                positive("batch_size", c.batch_size)?;
                let read = ReadFormat::parse(c.format, &c.format_options)?;
                Ok(ValidHome {
                    home: FileHome::new("local", c.path.clone(), entity_folder, read),
                    batch_size: c.batch_size,
                })
            }
        }
    }
}

impl ValidHome {
    /// Builds the connector (opens nothing yet for files).
    pub fn build(&self) -> Arc<dyn Home> {
        Arc::new(self.home.clone())
    }

    /// One line for plans (opens nothing).
    pub fn summary(&self, entity: &str) -> String {
        format!(
            "{}, batch_size {}",
            self.home.summary(entity),
            self.batch_size
        )
    }
}

impl StoreConfig {
    /// Checks the configuration without touching anything; errors name the key.
    /// With `entity_folder`, each entity is written to `<path>/<entity>`.
    pub fn validate(&self, entity_folder: bool) -> Result<ValidStore, String> {
        let (kind, c) = match self {
            StoreConfig::Parquet(c) => ("parquet", LocalStoreConfig::from(c.clone())),
            StoreConfig::Local(c) => ("local", c.clone()),
        };
        let (path, format, batch, polish) = (&c.path, c.format, c.batch_size, &c.polish);
        let options = Some(&c.format_options);
        if polish.is_some() {
            return Err(
                "polish: last-mile transforms are not supported by this version of hygge yet; remove `polish` (nothing was run)"
                    .into(),
            );
        }
        positive("batch_size", batch)?;
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
                };
                positive("row_group_size", o.row_group_size)?;
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
            settings: FileStoreSettings {
                kind,
                dir: path.clone(),
                entity_folder,
                write,
                pattern,
                rows_per_file: batch,
                durable: c.fsync,
            },
        })
    }
}

impl ValidStore {
    /// Builds the connector.
    pub fn build(&self) -> Arc<dyn Store> {
        Arc::new(FileStore::new(self.settings.clone()))
    }

    /// One line for plans (opens nothing).
    pub fn summary(&self, entity: &str) -> String {
        FileStore::new(self.settings.clone()).summary(entity)
    }

    /// What a run of `run_type` would do to the destination (reads, never writes).
    pub fn preview(&self, entity: &str, flow_name: &str, run_type: RunType) -> String {
        FileStore::new(self.settings.clone()).preview(entity, flow_name, run_type)
    }
}

fn positive(key: &str, v: usize) -> Result<(), String> {
    if v == 0 {
        Err(format!("{key} must be at least 1"))
    } else {
        Ok(())
    }
}
