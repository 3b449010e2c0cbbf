//! Stores for engine tests: in memory, stalling, failing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use hygge_core::{
    BoxError, Checkpoint, Encoded, Publish, RunType, Store, StoreWriter, WriteReport, WriteTarget,
};
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
    /// The checkpoint published with each entity's data.
    pub checkpoints: Arc<Mutex<HashMap<String, String>>>,
    /// Sleep this long inside `finish`, after publishing (a slow publish).
    pub slow_finish: Option<std::time::Duration>,
    /// Entities with an open writer (one writer per entity).
    pub locked: Arc<Mutex<std::collections::HashSet<String>>>,
}

/// Holds an entity's lock in a [`MemoryStore`] until dropped.
struct MemoryLock {
    locked: Arc<Mutex<std::collections::HashSet<String>>>,
    entity: String,
}

impl Drop for MemoryLock {
    fn drop(&mut self) {
        self.locked.lock().expect("lock").remove(&self.entity);
    }
}

impl MemoryStore {
    /// Published rows of `entity`.
    pub fn rows(&self, entity: &str) -> Vec<(i64, Option<String>)> {
        let map = self.published.lock().expect("lock");
        crate::rows(map.get(entity).map(Vec::as_slice).unwrap_or(&[]))
    }
}

struct MemoryWriter {
    _lock: MemoryLock,
    store: MemoryStore,
    target: WriteTarget,
    committed: Option<String>,
    publish: Option<Publish>,
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
    async fn open(&self, target: &WriteTarget) -> Result<Box<dyn StoreWriter>, BoxError> {
        if !self
            .locked
            .lock()
            .expect("lock")
            .insert(target.entity.clone())
        {
            return Err(format!("memory://{}: another run is writing it", target.entity).into());
        }
        let lock = MemoryLock {
            locked: self.locked.clone(),
            entity: target.entity.clone(),
        };
        let committed = self
            .checkpoints
            .lock()
            .expect("lock")
            .get(&target.entity)
            .cloned();
        Ok(Box::new(MemoryWriter {
            _lock: lock,
            store: self.clone(),
            target: target.clone(),
            committed,
            publish: None,
            staged: vec![],
        }))
    }
}

#[async_trait]
impl StoreWriter for MemoryWriter {
    fn committed(&self) -> Option<&str> {
        self.committed.as_deref()
    }
    async fn begin(&mut self, _schema: SchemaRef, publish: Publish) -> Result<(), BoxError> {
        self.publish = Some(publish);
        Ok(())
    }
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
    async fn finish(self: Box<Self>, checkpoint: &Checkpoint) -> Result<WriteReport, BoxError> {
        let rows = self.staged_rows();
        let publish = self.publish.ok_or("memory store: finish before begin")?;
        {
            let mut map = self.store.published.lock().expect("lock");
            let entry = map.entry(self.target.entity.clone()).or_default();
            if publish.run_type == RunType::FullDrop || publish.reload {
                entry.clear();
            }
            entry.extend(self.staged);
            self.store
                .checkpoints
                .lock()
                .expect("lock")
                .insert(self.target.entity.clone(), checkpoint.to_json());
        }
        if let Some(d) = self.store.slow_finish {
            tokio::time::sleep(d).await;
        }
        Ok(WriteReport {
            rows,
            bytes: 0,
            outputs: vec![],
            destination: format!("memory://{}", self.target.entity),
        })
    }
    async fn abort(self: Box<Self>) {}
}
