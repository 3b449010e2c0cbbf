//! SQL Server: connections and pools, Entra ID tokens, exact type mapping both ways.

pub mod auth;
pub mod connection;
pub mod decode;
pub mod encode;
pub mod sql;
pub mod types;

pub use connection::{MsPool, MssqlConnectionConfig};
