//! The file store: `type: parquet` and `type: local` (parquet, csv or ndjson files).
//!
//! Files are staged in a hidden `.hygge/` folder beside the entity's folder (same file
//! system), then published by one atomic directory exchange; see [`publish`].

mod config;
mod pattern;
pub mod publish;
mod write;

pub use config::{LocalStoreConfig, ParquetStoreConfig};
pub use pattern::FilePattern;
pub use write::{FileStore, FileStoreSettings, STATE_FILE, store_name};
