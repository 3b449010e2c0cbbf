//! Where data goes.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::error::BoxError;

/// How a run treats the entity's existing data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunType {
    /// Replace the entity's data with what this run read (the default).
    #[default]
    FullDrop,
    /// Add what this run read to the entity's data.
    Incremental,
}

impl RunType {
    /// The name used in YAML, logs and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            RunType::FullDrop => "full_drop",
            RunType::Incremental => "incremental",
        }
    }
}

impl std::fmt::Display for RunType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one entity flow writes.
#[derive(Debug, Clone)]
pub struct WriteTarget {
    /// The base flow (directory name under `flows/`).
    pub flow: String,
    /// The entity name.
    pub entity: String,
    /// `<flow>_<entity>`: the entity flow's name.
    pub flow_name: String,
    /// Replace or append (as planned; [`StoreWriter::begin`] gets the final one).
    pub run_type: RunType,
    /// Identifies this run (staging names, manifests).
    pub run_id: String,
}

/// How a run publishes, settled once the store's checkpoint is read (an incremental run
/// whose checkpoint was written for another watermark becomes a full reload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish {
    /// Replace or append.
    pub run_type: RunType,
    /// hygge reloads the entity in full (`--full-drop`, or the watermark definition
    /// changed): the destination is replaced even where the store would otherwise append
    /// (`if_exists: append`), so no row is loaded twice.
    pub reload: bool,
    /// The entity's schema mode is `adapt`: an append may evolve the destination (add the
    /// source's new columns, widen a column's type) where the store can do so without
    /// losing anything; the engine has already refused every other change.
    pub evolve: bool,
}

/// What a writer published.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WriteReport {
    /// Rows the destination received.
    pub rows: u64,
    /// Bytes written (file sizes, or the connector's best measure).
    pub bytes: u64,
    /// Files or tables published.
    pub outputs: Vec<String>,
    /// Where the entity's data now lives.
    pub destination: String,
}

/// Bytes of the flow's memory budget that a batch holds until this is dropped. A writer
/// that keeps a batch after `write_held` returns (a loader task) keeps this with it.
pub type Held = tokio::sync::OwnedSemaphorePermit;

/// A destination of one or many entities.
#[async_trait]
pub trait Store: Send + Sync {
    /// Short connector name.
    fn kind(&self) -> &'static str;
    /// A human description of where the entity is written (folder, table).
    fn describe(&self, entity: &str) -> String;
    /// For `hygge debug`: checks the store is reachable and writable; writes nothing visible.
    async fn check(&self, entity: &str) -> Result<(), BoxError>;
    /// The encoded format whose chunks this store's writers take as they are
    /// ([`StoreWriter::write_encoded`]); `None` (the default): batches only.
    fn takes_encoded(&self) -> Option<&'static str> {
        None
    }
    /// Starts one entity run: takes the entity's lock (the writer holds it until it
    /// finishes or is dropped; another run holding it is an error, never a wait without
    /// limit) and reads the checkpoint published with the entity's data
    /// ([`StoreWriter::committed`]). Stages nothing yet. Per-run state lives in the writer,
    /// never in the store.
    async fn open(&self, target: &WriteTarget) -> Result<Box<dyn StoreWriter>, BoxError>;
}

/// Writes one entity run.
///
/// Contract: [`Store::open`] locks; `begin` prepares staging for one schema; `write` stages
/// data where readers never look; `finish` publishes everything atomically (readers see the
/// old data or the new, never a mix), commits the run's checkpoint in the same step, and
/// consumes the writer. After any error, the engine calls `abort`, which removes what was
/// staged and leaves the destination (and its checkpoint) exactly as it was; dropping the
/// writer does the same.
#[async_trait]
pub trait StoreWriter: Send {
    /// The checkpoint the last run published with the data now in the destination (read
    /// under the lock by `open`), as the store keeps it; `None` when there is none.
    fn committed(&self) -> Option<&str>;
    /// Prepares to stage rows of `schema`, published as `publish` says. Called once,
    /// before any write.
    async fn begin(&mut self, schema: SchemaRef, publish: Publish) -> Result<(), BoxError>;
    /// Stages one batch.
    async fn write(&mut self, batch: RecordBatch) -> Result<(), BoxError>;
    /// Stages one batch, `held` counting its bytes in the flow's memory budget until
    /// dropped. The default drops it once `write` returns; a writer that hands the batch
    /// to another task passes `held` along.
    async fn write_held(&mut self, batch: RecordBatch, held: Held) -> Result<(), BoxError> {
        let r = self.write(batch).await;
        drop(held);
        r
    }
    /// Stages one encoded chunk of the format the store named in `takes_encoded`.
    async fn write_encoded(&mut self, chunk: crate::home::Encoded) -> Result<(), BoxError> {
        Err(format!("this store does not take encoded {} chunks", chunk.format).into())
    }
    /// Rows staged so far (what `finish` would publish). The engine compares it with the
    /// rows it read before publishing: a difference fails the entity, nothing published.
    fn staged_rows(&self) -> u64;
    /// Publishes atomically, with `checkpoint` (what [`StoreWriter::committed`] returns
    /// to the next run) committed in the same step.
    async fn finish(self: Box<Self>, checkpoint: &Checkpoint) -> Result<WriteReport, BoxError>;

    /// Whether the run's concurrency slot goes to the next entity before `finish`: its
    /// reading is over and its publish mostly waits (Open Mirroring's rebuild waits for
    /// Fabric to drop the table), as the original hygge released it.
    fn releases_slot(&self) -> bool {
        false
    }
    /// Discards everything staged; the destination is unchanged.
    async fn abort(self: Box<Self>);
}
