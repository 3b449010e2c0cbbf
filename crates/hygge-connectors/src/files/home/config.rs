//! Configuration of the file homes, as the original hygge defines them.

use std::path::PathBuf;

use serde::Deserialize;

use crate::format::FileFormat;
use crate::format::csv::CsvReadOptions;
use crate::format::ndjson::NdjsonReadOptions;

fn parquet_batch_size() -> usize {
    10_000
}
fn local_batch_size() -> usize {
    50_000
}

/// `home: {type: parquet, path, batch_size}` (or a plain path string).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetHomeConfig {
    /// A Parquet file, or a folder read recursively (`*.parquet`).
    pub path: PathBuf,
    /// Rows per batch, default 10,000 (as the original).
    #[serde(default = "parquet_batch_size")]
    pub batch_size: usize,
    /// The original's progress-log interval; accepted, progress is reported per batch.
    #[serde(default)]
    pub row_multiplier: Option<u64>,
    /// Where the files are: `local` (default), or in a cloud: `s3` and `gcs` (with
    /// `bucket`), `adls` (with `account`, `container` and a `credential`). `path` is then
    /// a folder or a glob in the bucket.
    #[serde(default)]
    pub provider: Option<Provider>,
    /// The bucket (`provider: s3 | gcs`).
    #[serde(default)]
    pub bucket: Option<String>,
    /// The container (`provider: adls`).
    #[serde(default)]
    pub container: Option<String>,
    /// The storage account (`provider: adls`).
    #[serde(default)]
    pub account: Option<String>,
    /// The region (`provider: s3`).
    #[serde(default)]
    pub region: Option<String>,
    /// The GCP project (accepted; the credential names it).
    #[serde(default)]
    pub project: Option<String>,
    /// A credential of hygge.yml's `credentials:`; without it a bucket is read
    /// anonymously (a public one).
    #[serde(default)]
    pub credential: Option<String>,
}

/// A `parquet` home's `provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// This machine's files.
    Local,
    /// Amazon S3 (or an S3-compatible server: the credential's `endpoint`).
    S3,
    /// Google Cloud Storage.
    Gcs,
    /// Azure Data Lake Storage Gen2 / Blob Storage.
    Adls,
}

impl ParquetHomeConfig {
    /// The cloud provider, when the files are not local.
    pub fn cloud(&self) -> Option<Provider> {
        self.provider.filter(|p| *p != Provider::Local)
    }

    /// The provider keys given for a local home (an error each).
    pub fn stray_provider_keys(&self) -> Option<&'static str> {
        [
            ("bucket", self.bucket.is_some()),
            ("container", self.container.is_some()),
            ("account", self.account.is_some()),
            ("region", self.region.is_some()),
            ("credential", self.credential.is_some()),
        ]
        .into_iter()
        .find_map(|(k, set)| set.then_some(k))
    }
}

/// `home: {type: local, path, format, format_options, batch_size}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalHomeConfig {
    /// A file, or a folder read recursively.
    pub path: PathBuf,
    /// `parquet` (default), `csv` or `ndjson`.
    #[serde(default)]
    pub format: FileFormat,
    /// Format-specific options (Polars names: `separator`, `has_header`, ...).
    #[serde(default)]
    pub format_options: serde_json::Map<String, serde_json::Value>,
    /// Rows per batch, default 50,000 (as the original).
    #[serde(default = "local_batch_size")]
    pub batch_size: usize,
    /// Accepted for compatibility; progress is reported per batch.
    #[serde(default)]
    pub row_multiplier: Option<u64>,
}

/// How files are decoded.
#[derive(Debug, Clone)]
pub enum ReadFormat {
    /// Parquet (no options).
    Parquet,
    /// CSV with its options.
    Csv(CsvReadOptions),
    /// NDJSON with its options.
    Ndjson(NdjsonReadOptions),
}

impl ReadFormat {
    /// The format.
    pub fn format(&self) -> FileFormat {
        match self {
            ReadFormat::Parquet => FileFormat::Parquet,
            ReadFormat::Csv(_) => FileFormat::Csv,
            ReadFormat::Ndjson(_) => FileFormat::Ndjson,
        }
    }

    /// Parses `format_options` for `format`; errors name the option.
    pub fn parse(
        format: FileFormat,
        options: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, String> {
        let value = serde_json::Value::Object(options.clone());
        let opts = |e: serde_json::Error| format!("format_options: {e}");
        match format {
            FileFormat::Parquet if options.is_empty() => Ok(ReadFormat::Parquet),
            FileFormat::Parquet => Err(format!(
                "format_options: parquet takes no options (got {})",
                options.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
            FileFormat::Csv => {
                let o: CsvReadOptions = serde_json::from_value(value).map_err(opts)?;
                o.validate().map_err(|e| format!("format_options: {e}"))?;
                Ok(ReadFormat::Csv(o))
            }
            FileFormat::Ndjson => Ok(ReadFormat::Ndjson(
                serde_json::from_value(value).map_err(opts)?,
            )),
        }
    }
}
