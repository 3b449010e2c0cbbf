//! The `open_mirroring` store (feature `azure`): a Microsoft Fabric mirrored database's
//! landing zone, as the original hygge writes it, on the cloud store's object-storage
//! layer.
//!
//! - `config.rs`: the original's keys, validated purely;
//! - `landing.rs`: the landing zone's format: file names, `_metadata.json`,
//!   `_schema.json`, `__LastLoadedAt__` and `__rowMarker__` (pure);
//! - `store.rs`: the store and its writer: staging, the commit, the publish (a rebuild's
//!   folder deletion and wait), finishing a publish a crash cut short.

pub mod config;
pub mod landing;
pub mod store;

pub use config::{FileDetection, OpenMirroringSettings, OpenMirroringStoreConfig};
pub use store::OpenMirroringStore;
