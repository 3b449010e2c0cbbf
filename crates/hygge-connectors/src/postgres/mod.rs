//! PostgreSQL: everything about the connector in one folder: its home (`home/`) and store
//! (`store/`), connections and pools (shared by both), and the binary COPY codecs that move
//! Arrow batches in and out.

pub mod connection;
pub mod decode;
pub mod encode;
pub mod home;
pub mod sql;
pub mod store;
pub mod tap;
pub mod types;

pub use connection::{PgConnectionConfig, PgPool, Role, pg_error};
