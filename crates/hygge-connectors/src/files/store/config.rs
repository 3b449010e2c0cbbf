//! Configuration of the file stores, as the original hygge defines them.

use std::path::PathBuf;

use serde::Deserialize;

use crate::format::FileFormat;
use crate::format::parquet::Codec;
use crate::polish::PolishConfig;

fn batch_size() -> usize {
    100_000
}
fn parquet_pattern() -> String {
    "{sequence:020d}.parquet".into()
}

/// `store: {type: parquet, path, compression, file_pattern, batch_size}` (or a path string).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetStoreConfig {
    /// The folder; the entity's files go to `<path>/<entity>/`.
    pub path: PathBuf,
    /// Rows per file, default 100,000 (as the original).
    #[serde(default = "batch_size")]
    pub batch_size: usize,
    /// `snappy` (default), `zstd`, `gzip`, `lz4`, `brotli` or `none`.
    #[serde(default)]
    pub compression: Codec,
    /// Codec level (zstd 1-22, gzip 0-9, brotli 0-11).
    #[serde(default)]
    pub compression_level: Option<i32>,
    /// File names, default `{sequence:020d}.parquet`.
    #[serde(default = "parquet_pattern")]
    pub file_pattern: String,
    /// Rows per row group inside a file, default min(batch_size, 131,072).
    #[serde(default)]
    pub row_group_size: Option<usize>,
    /// fsync every file and folder before publishing, so a power loss cannot leave a
    /// published entity with incomplete files (default true). `false` is faster where the
    /// disk is slow, and still safe against a crash of hygge itself.
    #[serde(default = "yes")]
    pub fsync: bool,
    /// From a Parquet home: copy each source row group that fits this store's row groups
    /// and files page by page (recompressed to `compression`, never decoded), instead of
    /// decoding and encoding every value (default true).
    #[serde(default)]
    pub copy_row_groups: Option<bool>,
    /// The original's last-mile transforms, applied to every batch before it is encoded
    /// (see [`crate::polish`]).
    #[serde(default)]
    pub polish: Option<PolishConfig>,
}

fn yes() -> bool {
    true
}

impl From<ParquetStoreConfig> for LocalStoreConfig {
    /// A parquet store is a local store of parquet files with the parquet file pattern.
    fn from(c: ParquetStoreConfig) -> Self {
        LocalStoreConfig {
            path: c.path,
            format: FileFormat::Parquet,
            format_options: serde_json::Map::new(),
            batch_size: c.batch_size,
            compression: c.compression,
            compression_level: c.compression_level,
            file_pattern: Some(c.file_pattern),
            row_group_size: c.row_group_size,
            fsync: c.fsync,
            copy_row_groups: c.copy_row_groups,
            polish: c.polish,
        }
    }
}

/// `store: {type: local, path, format, format_options, batch_size, file_pattern}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalStoreConfig {
    /// The folder; the entity's files go to `<path>/<entity>/`.
    pub path: PathBuf,
    /// `parquet` (default), `csv` or `ndjson`.
    #[serde(default)]
    pub format: FileFormat,
    /// CSV options (`separator`, `include_header`, ...).
    #[serde(default)]
    pub format_options: serde_json::Map<String, serde_json::Value>,
    /// Rows per file, default 100,000.
    #[serde(default = "batch_size")]
    pub batch_size: usize,
    /// Parquet codec.
    #[serde(default)]
    pub compression: Codec,
    /// Codec level.
    #[serde(default)]
    pub compression_level: Option<i32>,
    /// File names, default `{sequence:020d}.<format>`.
    #[serde(default)]
    pub file_pattern: Option<String>,
    /// Rows per Parquet row group.
    #[serde(default)]
    pub row_group_size: Option<usize>,
    /// fsync before publishing (default true); see the parquet store.
    #[serde(default = "yes")]
    pub fsync: bool,
    /// Parquet only: copy source row groups page by page; see the parquet store.
    #[serde(default)]
    pub copy_row_groups: Option<bool>,
    /// Last-mile transforms; see the parquet store.
    #[serde(default)]
    pub polish: Option<PolishConfig>,
}
