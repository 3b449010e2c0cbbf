//! Every hygge [`Home`](hygge_core::Home) and [`Store`](hygge_core::Store).
//!
//! One folder per connector (`files/`, `postgres/`, `mssql/`, `cloud/`, `sqlite/`) holding everything about it:
//! its home (`home/`) and store (`store/`), each with its `config.rs`, its connections,
//! codecs and types. [`registry`] is the one list of connectors the product asks (`type:`
//! names, keys, typing and building).
//! [`tree`] is the located configuration tree every connector types its keys from.
//! [`format`] holds the Parquet, CSV and NDJSON encoders and decoders shared by file
//! (and later cloud) connectors.

// A build without a connector leaves some of the shared code unused.
#![cfg_attr(
    not(all(
        feature = "postgres",
        feature = "mssql",
        feature = "azure",
        feature = "s3",
        feature = "gcs",
        feature = "sqlite",
        feature = "duckdb"
    )),
    allow(unused, unreachable_code)
)]

#[cfg(any(feature = "azure", feature = "s3", feature = "gcs"))]
pub mod cloud;
pub mod common;
pub mod connections;
pub mod credentials;
#[cfg(feature = "duckdb")]
pub mod duckdb;
#[cfg(any(feature = "sqlite", feature = "duckdb"))]
pub mod embedded;
pub mod error;
pub mod files;
pub mod format;
pub mod keys;
#[cfg(feature = "mssql")]
pub mod mssql;
#[cfg(feature = "azure")]
pub mod open_mirroring;
pub mod polish;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod registry;
pub mod secret;
pub mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod tree;
pub mod versioned;

pub use error::FileError;
pub use registry::{HomeConfig, StoreConfig};
