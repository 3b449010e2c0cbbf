//! SQL Server: everything about the connector in one folder: its home (`home/`) and store
//! (`store/`), connections and pools, Entra ID tokens, exact type mapping both ways.

pub mod auth;
pub mod connection;
pub mod decode;
pub mod encode;
pub mod home;
pub mod sql;
pub mod store;
pub mod types;

pub use connection::{MsPool, MssqlConnectionConfig};
