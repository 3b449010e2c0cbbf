//! Every hygge [`Home`](hygge_core::Home) and [`Store`](hygge_core::Store).
//!
//! One folder per connector (`homes/<name>/`, `stores/<name>/`), each with its `config.rs`
//! (serde types, validated purely) and its implementation. [`registry`] holds the closed
//! set of configs (`type:` in YAML) and the one `build()` match for each side.
//! [`format`] holds the Parquet, CSV and NDJSON encoders and decoders shared by file
//! (and later cloud) connectors.

// A build without a connector leaves some of the shared code unused.
#![cfg_attr(
    not(all(feature = "postgres", feature = "mssql")),
    allow(unused, unreachable_code)
)]

pub mod common;
pub mod connections;
pub mod error;
pub mod format;
pub mod homes;
pub mod keys;
#[cfg(feature = "mssql")]
pub mod mssql;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod registry;
pub mod secret;
pub mod stores;

pub use error::FileError;
pub use registry::{HomeConfig, StoreConfig};
