//! Where data comes from.

use std::pin::Pin;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use futures::Stream;

use crate::error::BoxError;

/// A stream of batches. A stream never turns an error into end-of-data: it yields `Err`.
pub type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch, BoxError>> + Send>>;

/// What one entity flow asks of its home.
#[derive(Debug, Clone)]
pub struct ReadRequest {
    /// `<flow>_<entity>`, for messages.
    pub flow_name: String,
    /// The entity name (`{entity}` in paths, tables and queries).
    pub entity: String,
    /// Rows per batch the home should yield (at most).
    pub batch_size: usize,
    /// Only rows whose watermark column is strictly greater than this are wanted. A home
    /// that can filter at the source does (SQL homes push it down as a predicate); the
    /// engine filters every batch again, so a home that cannot is still correct.
    pub after: Option<crate::watermark::Watermark>,
    /// Rows equal to `after` are wanted too (an inclusive boundary: `>=`).
    pub after_inclusive: bool,
}

/// A source of one or many entities.
///
/// Contract: `read` resolves the entity (opening files or connections), returns the schema
/// every batch will have, and a stream that reads lazily: nothing beyond the batch being
/// produced is held in memory, so a slow consumer slows the home down (backpressure).
#[async_trait]
pub trait Home: Send + Sync {
    /// Short connector name (`parquet`, `local`, `postgres`, ...).
    fn kind(&self) -> &'static str;
    /// A human description of where the entity is read from (path, table, query).
    fn describe(&self, entity: &str) -> String;
    /// For `hygge debug`: checks the home is reachable and readable; reads no rows.
    async fn check(&self, entity: &str) -> Result<(), BoxError>;
    /// Opens the entity for reading.
    async fn read(&self, req: &ReadRequest) -> Result<(SchemaRef, BatchStream), BoxError>;
}
