//! The file home: `type: parquet` and `type: local` (parquet, csv or ndjson files).

mod config;
mod read;

pub use config::{LocalHomeConfig, ParquetHomeConfig, Provider, ReadFormat};
pub use read::{FileHome, RemoteFiles};
