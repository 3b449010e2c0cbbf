//! DuckDB: everything about the connector in one folder: its home (`home/`) and store
//! (`store/`), the database file's shared instance (`db.rs`), names (`sql.rs`), the
//! Arrow <-> DuckDB column mapping (`types.rs`) and the crossing between hygge's Arrow and
//! the Arrow major the `duckdb` crate is built on (`bridge.rs`).
//!
//! DuckDB is a synchronous library: every call into it runs on Tokio's blocking pool.
//! Batches go in through DuckDB's appender as whole Arrow batches (converted to DuckDB
//! data chunks, 2,048 rows at a time) and come out of a streaming query as Arrow, never
//! row by row.
//!
//! One database instance per file per process: DuckDB lets one process open a file for
//! writing, and the same process must not open it twice, so every home and store of a
//! run that names the file shares one instance (a connection each). Another process
//! holding the file makes the entity fail at once, saying so.

pub mod bridge;
pub mod db;
pub mod home;
pub mod sql;
pub mod store;
pub mod types;
