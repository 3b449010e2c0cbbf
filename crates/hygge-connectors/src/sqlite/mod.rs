//! SQLite: everything about the connector in one folder: its home (`home/`) and store
//! (`store/`), the database file's connections and locks (`db.rs`), names (`sql.rs`) and
//! the Arrow <-> SQLite mapping (`types.rs`).
//!
//! SQLite is a synchronous library: every call into it runs on Tokio's blocking pool
//! (`spawn_blocking`), never on the async runtime's threads. A home reads on one blocking
//! task that hands batches over through a channel of one; a store writer moves its
//! connection into a blocking task for each batch and gets it back.

pub mod db;
pub mod home;
pub mod sql;
pub mod store;
pub mod types;
