//! hygge's engine.
//!
//! One **flow** per entity pulls Arrow [`RecordBatch`](arrow::record_batch::RecordBatch)es
//! from a [`Home`], pushes them through a bounded channel into a [`StoreWriter`], and
//! publishes atomically with [`StoreWriter::finish`]. The [`Coordinator`] runs many flows
//! under a concurrency limit, lets every flow finish, and returns one [`FlowReport`] each.
//!
//! This crate knows no file format, driver or YAML: connectors implement the traits, the
//! `hygge` binary builds them from configuration. The engine counts, the CLI prints.

pub mod checkpoint;
pub mod coordinator;
pub mod error;
pub mod failpoint;
pub mod flow;
pub mod home;
pub mod progress;
pub mod reader;
pub mod report;
pub mod schema;
pub mod store;
pub mod watermark;

pub use checkpoint::{BoundaryKeys, Checkpoint, Position};
pub use coordinator::{Coordinator, FlowJob};
pub use error::{BoxError, Error, Result};
pub use flow::{FlowSpec, WatermarkSpec, run_flow, run_flow_in_slot};
pub use home::{BatchStream, Encoded, EncodedStream, Home, ReadRequest};
pub use progress::{Event, NoopObserver, Observer};
pub use reader::{BatchSender, MAX_BATCH_BYTES, ReaderTasks, StreamClosed};
pub use report::{FlowReport, FlowStatus, RunReport, RunTotals, WatermarkReport};
pub use store::{Held, Publish, RunType, Store, StoreWriter, WriteReport, WriteTarget};
pub use watermark::Watermark;
