//! The `hygge` product: configuration files -> validated plan -> command line.
//!
//! The binary is `src/main.rs`; this library exposes the pieces so they can be tested.

pub mod cli;
pub mod config;
pub mod journal;
pub mod plan;
