//! Stores for engine tests: in memory, stalling, failing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use hygge_core::{BoxError, Encoded, RunType, Store, StoreWriter, WriteReport, WriteTarget};
use tokio::sync::Notify;

/// Keeps published batches per entity in memory; publishes on `finish` only.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    /// Published data per entity.
    pub published: Arc<Mutex<HashMap<String, Vec<RecordBatch>>>>,
    /// Fail the write of this batch number (0-based), if set.
    pub fail_on_batch: Option<usize>,
    /// Block forever on this batch number (0-based) until `release` is notified.
    pub stall_on_batch: Option<usize>,
    /// Wakes a stalled writer.
    pub release: Arc<Notify>,
    /// A buggy store: claims to stage this many rows fewer than it was given.
    pub lose_rows: u64,
    /// The encoded format it takes (payloads are `RecordBatch`es), if any.
    pub takes: Option<&'static str>,
    /// Encoded chunks written so far, over all writers.
    pub encoded_chunks: Arc<std::sync::atomic::AtomicUsize>,
}

impl MemoryStore {
    /// Published rows of `entity`.
    pub fn rows(&self, entity: &str) -> Vec<(i64, Option<String>)> {
        let map = self.published.lock().expect("lock");
        crate::rows(map.get(entity).map(Vec::as_slice).unwrap_or(&[]))
    }
}

struct MemoryWriter {
    store: MemoryStore,
    target: WriteTarget,
    staged: Vec<RecordBatch>,
}

#[async_trait]
impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }
    fn describe(&self, entity: &str) -> String {
        format!("memory://{entity}")
    }
    async fn check(&self, _entity: &str) -> Result<(), BoxError> {
        Ok(())
    }
    fn takes_encoded(&self) -> Option<&'static str> {
        self.takes
    }
    async fn open(
        &self,
        target: &WriteTarget,
        _schema: SchemaRef,
    ) -> Result<Box<dyn StoreWriter>, BoxError> {
        Ok(Box::new(MemoryWriter {
            store: self.clone(),
            target: target.clone(),
            staged: vec![],
        }))
    }
}

#[async_trait]
impl StoreWriter for MemoryWriter {
    async fn write(&mut self, batch: RecordBatch) -> Result<(), BoxError> {
        let n = self.staged.len();
        if self.store.stall_on_batch == Some(n) {
            self.store.release.notified().await;
        }
        if self.store.fail_on_batch == Some(n) {
            return Err(format!("memory store: injected failure on batch {n}").into());
        }
        self.staged.push(batch);
        Ok(())
    }
    async fn write_encoded(&mut self, chunk: Encoded) -> Result<(), BoxError> {
        let batch = chunk
            .payload
            .downcast::<RecordBatch>()
            .map_err(|_| BoxError::from("memory store: not a RecordBatch"))?;
        self.store
            .encoded_chunks
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.write(*batch).await
    }
    fn staged_rows(&self) -> u64 {
        let rows: u64 = self.staged.iter().map(|b| b.num_rows() as u64).sum();
        rows.saturating_sub(self.store.lose_rows)
    }
    async fn finish(self: Box<Self>) -> Result<WriteReport, BoxError> {
        let rows = self.staged_rows();
        let mut map = self.store.published.lock().expect("lock");
        let entry = map.entry(self.target.entity.clone()).or_default();
        if self.target.run_type == RunType::FullDrop {
            entry.clear();
        }
        entry.extend(self.staged);
        Ok(WriteReport {
            rows,
            bytes: 0,
            outputs: vec![],
            destination: format!("memory://{}", self.target.entity),
        })
    }
    async fn abort(self: Box<Self>) {}
}
