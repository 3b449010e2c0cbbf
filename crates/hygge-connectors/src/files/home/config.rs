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
