//! Every hygge [`Home`](hygge_core::Home) and [`Store`](hygge_core::Store).
//!
//! One folder per connector (`homes/<name>/`, `stores/<name>/`), each with its `config.rs`
//! (serde types, validated purely) and its implementation. [`registry`] holds the closed
//! set of configs (`type:` in YAML) and the one `build()` match for each side.
//! [`format`] holds the Parquet, CSV and NDJSON encoders and decoders shared by file
//! (and later cloud) connectors.

pub mod error;
pub mod format;
pub mod homes;
#[cfg(feature = "mssql")]
pub mod mssql;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod registry;
pub mod secret;
pub mod stores;

pub use error::FileError;
pub use registry::{HomeConfig, StoreConfig};
