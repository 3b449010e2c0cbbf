//! Where data comes from.

use std::pin::Pin;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use futures::Stream;

use crate::error::BoxError;

/// A stream of batches. A stream never turns an error into end-of-data: it yields `Err`.
pub type BatchStream = Pin<Box<dyn Stream<Item = Result<RecordBatch, BoxError>> + Send>>;

/// Rows a home hands over still encoded in their source format, for a store that takes
/// that format as it is (see [`Home::read_encoded`] and [`crate::Store::takes_encoded`]).
/// The engine only counts them; what `payload` is, the home and the store of that format
/// agree on (for Parquet: a file and one of its row groups, which the store copies page
/// by page instead of decoding and encoding every value).
pub struct Encoded {
    /// The format, as `Store::takes_encoded` names it.
    pub format: &'static str,
    /// Rows it holds.
    pub rows: u64,
    /// Bytes it holds in memory now (counted against the flow's byte budget).
    pub memory: usize,
    /// What the store of `format` reads.
    pub payload: Box<dyn std::any::Any + Send>,
}

impl std::fmt::Debug for Encoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoded")
            .field("format", &self.format)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// A stream of encoded chunks ([`Home::read_encoded`]); errors as in [`BatchStream`].
pub type EncodedStream = Pin<Box<dyn Stream<Item = Result<Encoded, BoxError>> + Send>>;

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

    /// Opens the entity for handing over still encoded in `format`, when this home can
    /// (the engine asks only when the store takes `format` and no row is to be filtered or
    /// looked at). `None`: it cannot, and the engine calls [`Home::read`] instead. The
    /// schema is the one `read` would announce, and the stream holds the same rows.
    async fn read_encoded(
        &self,
        _req: &ReadRequest,
        _format: &'static str,
    ) -> Result<Option<(SchemaRef, EncodedStream)>, BoxError> {
        Ok(None)
    }
}
