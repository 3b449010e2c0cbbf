//! Homes: where data comes from. One folder per connector.

pub mod files;
#[cfg(feature = "mssql")]
pub mod mssql;
#[cfg(feature = "postgres")]
pub mod postgres;
