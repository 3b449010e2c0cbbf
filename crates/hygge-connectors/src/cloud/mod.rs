//! Cloud stores (features `azure`, `s3`, `gcs`): `adls` and `onelake` (the original
//! hygge's, Azure Blob Storage / ADLS Gen2 / Fabric OneLake), `s3` (and S3-compatible
//! servers) and `gcs`, on the `object_store` crate.
//!
//! - `config.rs`: the keys of each type, validated purely (account URLs, credentials, paths,
//!   file encoding);
//! - `location.rs`: the container or bucket and its credential, turned into an
//!   `object_store` client when a run opens the store; secrets kept out of every message;
//! - `home.rs`: the homes: an entity's objects listed (what the folder's state commits, or
//!   by extension, or a glob), each read by ranges through the file home's decoders;
//! - `journal.rs`: the folder beside the data where a journal is kept (`.hygge_journal/`),
//!   read and replaced with conditional puts;
//! - `store.rs`: the store and its writer: lock, staging, publish, cleanup after a crash
//!   (the protocol, and what a reader sees while it runs, is described there).

pub mod config;
pub mod home;
pub mod journal;
pub mod location;
pub mod probe;
pub mod store;

pub use config::{
    AdlsStoreConfig, CloudHomeConfig, CloudKeys, GcsStoreConfig, OneLakeStoreConfig, S3StoreConfig,
};
pub use store::{CloudSettings, CloudStore, HYGGE_DIR, LOCK_OBJECT, STAGING_DIR, STATE_OBJECT};
