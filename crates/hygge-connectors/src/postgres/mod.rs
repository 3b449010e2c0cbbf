//! PostgreSQL: connections and pools (shared by the home and the store), and the binary
//! COPY codecs that move Arrow batches in and out.

pub mod connection;
pub mod decode;
pub mod encode;
pub mod sql;
pub mod tap;
pub mod types;

pub use connection::{PgConnectionConfig, PgPool, Role, pg_error};
