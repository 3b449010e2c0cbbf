//! Homes for engine tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use futures::StreamExt;
use hygge_core::{BatchStream, BoxError, Encoded, EncodedStream, Home, ReadRequest};

/// Yields `batches` batches of `rows` rows each (ids continue across batches), counting how
/// many it has produced, then optionally fails instead of ending.
#[derive(Debug, Clone)]
pub struct CountingHome {
    /// Batches to yield.
    pub batches: usize,
    /// Rows per batch.
    pub rows: usize,
    /// If set, the stream yields this error after the last batch.
    pub fail_after: Option<String>,
    /// How many batches the stream has produced so far.
    pub produced: Arc<AtomicUsize>,
    /// When set, `read_encoded` hands the batches over as [`Encoded`] chunks of this
    /// format (each payload a `RecordBatch`), if that is the format asked for.
    pub encoded: Option<&'static str>,
}

impl CountingHome {
    /// A home with `batches` batches of `rows` rows.
    pub fn new(batches: usize, rows: usize) -> Self {
        CountingHome {
            batches,
            rows,
            fail_after: None,
            produced: Arc::new(AtomicUsize::new(0)),
            encoded: None,
        }
    }

    /// Batches produced so far.
    pub fn produced(&self) -> usize {
        self.produced.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Home for CountingHome {
    fn kind(&self) -> &'static str {
        "counting"
    }
    fn describe(&self, entity: &str) -> String {
        format!("counting://{entity}")
    }
    async fn check(&self, _entity: &str) -> Result<(), BoxError> {
        Ok(())
    }
    async fn read(&self, _req: &ReadRequest) -> Result<(SchemaRef, BatchStream), BoxError> {
        let me = self.clone();
        let stream = futures::stream::unfold(0usize, move |i| {
            let me = me.clone();
            async move {
                if i < me.batches {
                    me.produced.fetch_add(1, Ordering::SeqCst);
                    let b = crate::batch((i * me.rows) as i64, me.rows);
                    Some((Ok::<RecordBatch, BoxError>(b), i + 1))
                } else if i == me.batches {
                    me.fail_after
                        .clone()
                        .map(|msg| (Err(BoxError::from(msg)), i + 1))
                } else {
                    None
                }
            }
        });
        Ok((crate::schema(), Box::pin(stream)))
    }

    async fn read_encoded(
        &self,
        req: &ReadRequest,
        format: &'static str,
    ) -> Result<Option<(SchemaRef, EncodedStream)>, BoxError> {
        if self.encoded != Some(format) {
            return Ok(None);
        }
        let (schema, batches) = self.read(req).await?;
        let chunks = batches.map(move |b| {
            b.map(|b| Encoded {
                format,
                rows: b.num_rows() as u64,
                memory: b.get_array_memory_size(),
                payload: Box::new(b),
            })
        });
        Ok(Some((schema, Box::pin(chunks))))
    }
}

/// A home whose `read` fails at once, like a missing table.
#[derive(Debug, Clone)]
pub struct BrokenHome(pub String);

#[async_trait]
impl Home for BrokenHome {
    fn kind(&self) -> &'static str {
        "broken"
    }
    fn describe(&self, entity: &str) -> String {
        format!("broken://{entity}")
    }
    async fn check(&self, _entity: &str) -> Result<(), BoxError> {
        Err(self.0.clone().into())
    }
    async fn read(&self, _req: &ReadRequest) -> Result<(SchemaRef, BatchStream), BoxError> {
        Err(self.0.clone().into())
    }
}
