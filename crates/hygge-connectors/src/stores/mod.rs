//! Stores: where data goes. One folder per connector.

pub mod files;
#[cfg(feature = "postgres")]
pub mod postgres;
