//! One entity flow: home stream -> bounded channel -> store writer -> atomic publish.
//!
//! Memory bound: the producer holds at most one batch it is trying to send, the channel
//! holds `queue_size`, the writer holds the one it is writing. So a flow never holds more
//! than `queue_size + 2` batches, whatever the table's size. Batches in the channel and
//! the one being written also share a byte budget (`queue_memory_mb`): past it the
//! producer waits, however few batches are queued, so large batches cannot multiply memory
//! by `queue_size` (one batch larger than the whole budget still goes through, alone).
//! `tests/engine.rs` proves both bounds with a store that stalls.
//!
//! Encoded chunks ([`Encoded`]) take the same path and the same bounds: when no row needs
//! looking at (no watermark) and the store takes the home's encoding, the engine asks the
//! home for chunks it hands over still encoded, and the writer stages them as they are.
//!
//! Order of a run: the store is opened first (it takes the entity's lock and hands back the
//! checkpoint published with the data), so the start of an incremental read is settled
//! under the lock, from what the destination holds; then the home is read and the rows
//! staged; then the store publishes the data and the run's new checkpoint in one atomic
//! step. Cancelling (Ctrl-C) or a timeout stops a run up to the publish; once publishing
//! has begun it is awaited to the end and reported as it happened, so a report never says
//! "nothing was published" about data that was.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{self, BoundaryKeys, Checkpoint, CheckpointWatermark, Position};
use crate::error::{Error, Result};
use crate::failpoint;
use crate::home::{Encoded, Home, ReadRequest};
use crate::progress::{Event, Observer};
use crate::report::{FlowReport, FlowStatus, WatermarkReport};
use crate::store::{Publish, RunType, Store, StoreWriter, WriteReport, WriteTarget};
use crate::watermark::Watermark;

/// Default depth of the channel between home and store (the original's `queue_size`).
pub const DEFAULT_QUEUE_SIZE: usize = 10;

/// Default byte budget, in MiB, of the batches queued and being written in one flow.
pub const DEFAULT_QUEUE_MEMORY_MB: usize = 4;

/// The budget is counted in KiB permits (a tokio semaphore counts in `u32`).
const PERMIT_BYTES: usize = 1024;

/// Everything the engine needs to run one entity flow.
#[derive(Debug, Clone)]
pub struct FlowSpec {
    /// The base flow.
    pub flow: String,
    /// The entity.
    pub entity: String,
    /// `<flow>_<entity>`.
    pub name: String,
    /// Replace or append.
    pub run_type: RunType,
    /// A full reload hygge decided on (`--full-drop`, a changed watermark definition): the
    /// destination is replaced even where the store would append (see [`Publish`]).
    pub reload: bool,
    /// Batches between home and store.
    pub queue_size: usize,
    /// MiB of batches queued and being written, at most (see the module docs).
    pub queue_memory_mb: usize,
    /// Rows per batch asked of the home.
    pub batch_size: usize,
    /// Time limit for reading and staging, if any (publishing, once begun, is not cut off).
    pub timeout: Option<Duration>,
    /// When rows read and rows staged differ: fail the entity (true, the default) or warn
    /// and publish anyway.
    pub reconcile_strict: bool,
    /// The watermark column (tracked: its maximum over what was written is reported and
    /// committed), and where the previous run left off.
    pub watermark: Option<WatermarkSpec>,
    /// What to do when the source's schema differs from the entity's baseline (checked
    /// once the home has given its schema, before anything is written).
    pub schema: Option<crate::schema::SchemaPolicy>,
}

impl FlowSpec {
    /// The report of a flow that failed with `error`; nothing was published.
    pub fn failed(
        &self,
        error: &crate::error::Error,
        source: String,
        destination: String,
    ) -> FlowReport {
        let spec = self;
        FlowReport {
            name: spec.name.clone(),
            flow: spec.flow.clone(),
            entity: spec.entity.clone(),
            status: FlowStatus::Failed,
            run_type: spec.run_type,
            rows_read: 0,
            rows_written: 0,
            bytes: 0,
            started_at: Utc::now(),
            duration_secs: 0.0,
            source,
            destination,
            outputs: vec![],
            error: Some(crate::error::chain(error)),
            watermark: None,
            committed: None,
            journal_error: None,
            schema: None,
        }
    }
}

/// Incremental reading by watermark.
#[derive(Debug, Clone)]
pub struct WatermarkSpec {
    /// The column.
    pub column: String,
    /// The primary key (boundary rows are told apart by it).
    pub primary_key: String,
    /// The inclusive boundary (the default): rows at the stored watermark are read too,
    /// less those already written; `false` (`boundary: strict`): strictly after it.
    pub inclusive: bool,
    /// Where the journal says the last run stopped: used when the store holds no checkpoint
    /// of this entity (a destination written before checkpoints existed).
    pub start: Option<Position>,
}

/// Where a run got to: the greatest watermark written and, with the inclusive boundary, the
/// keys of the rows at it (`None`: not known, so the next run reads strictly after it).
type Reached = Option<(Watermark, Option<BoundaryKeys>)>;

/// What the run learnt on its way, reported whether it succeeded or not.
#[derive(Default)]
struct Progress {
    rows_read: u64,
    /// The source's schema this run wrote (for the journal's snapshot).
    schema: Option<arrow::datatypes::SchemaRef>,
    reached: Reached,
    committed: Option<Checkpoint>,
    publish: Option<Publish>,
}

/// Runs one flow to the end and reports; never panics, never returns early on error.
pub async fn run_flow(
    spec: &FlowSpec,
    run_id: &str,
    home: Arc<dyn Home>,
    store: Arc<dyn Store>,
    observer: &dyn Observer,
    cancel: &CancellationToken,
) -> FlowReport {
    run_flow_in_slot(spec, run_id, home, store, observer, cancel, None).await
}

/// [`run_flow`] holding `slot` (the coordinator's concurrency permit) until it publishes,
/// or only until its reading ends where the writer [releases it](StoreWriter::releases_slot).
pub async fn run_flow_in_slot(
    spec: &FlowSpec,
    run_id: &str,
    home: Arc<dyn Home>,
    store: Arc<dyn Store>,
    observer: &dyn Observer,
    cancel: &CancellationToken,
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
) -> FlowReport {
    let started_at = Utc::now();
    let start = Instant::now();
    let mut progress = Progress::default();
    let work = move_data(spec, run_id, &*home, &*store, observer, &mut progress);
    let staged = tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Error::Cancelled),
        r = with_timeout(spec.timeout, work) => r,
    };
    // Publishing is never cut off: cancelled half-way it could commit anyway and be
    // reported as not done.
    let outcome = match staged {
        Ok(ready) => {
            if ready.writer.releases_slot() {
                drop(slot);
            }
            publish(spec, run_id, started_at, ready, &mut progress).await
        }
        Err(e) => Err(e),
    };
    let source = home.describe(&spec.entity);
    let destination = store.describe(&spec.entity);
    let mut report = match outcome {
        Err(e) => spec.failed(&e, source, destination),
        Ok(written) => FlowReport {
            name: spec.name.clone(),
            flow: spec.flow.clone(),
            entity: spec.entity.clone(),
            status: if progress.rows_read == 0 {
                FlowStatus::Skipped
            } else {
                FlowStatus::Success
            },
            run_type: spec.run_type,
            rows_read: progress.rows_read,
            started_at,
            duration_secs: 0.0,
            source,
            error: None,
            committed: None,
            journal_error: None,
            schema: progress.schema.clone(),
            rows_written: written.rows,
            bytes: written.bytes,
            outputs: written.outputs,
            destination: if written.destination.is_empty() {
                destination
            } else {
                written.destination
            },
            watermark: progress.reached.as_ref().map(|(w, keys)| {
                let mut r = WatermarkReport::of(w);
                if let Some(k) = keys {
                    r.boundary_rows = Some(k.rows());
                    r.boundary_keys = k.texts().map(<[String]>::to_vec).unwrap_or_default();
                }
                r
            }),
        },
    };
    if let Some(p) = progress.publish {
        report.run_type = p.run_type;
    }
    report.committed = progress.committed;
    report.rows_read = progress.rows_read;
    report.started_at = started_at;
    report.duration_secs = start.elapsed().as_secs_f64();
    report
}

async fn with_timeout<T, F: std::future::Future<Output = Result<T>>>(
    limit: Option<Duration>,
    work: F,
) -> Result<T> {
    match limit {
        Some(d) => tokio::time::timeout(d, work)
            .await
            .unwrap_or(Err(Error::TimedOut(d))),
        None => work.await,
    }
}

/// The position after `batch`: the greater watermark, and (inclusive boundary) the keys
/// of the rows at it.
fn advance(
    pos: Reached,
    batch: &arrow::record_batch::RecordBatch,
    column: &str,
    primary_key: Option<&str>,
) -> std::result::Result<Reached, String> {
    let Some(m) = Watermark::max_with(None, batch, column)? else {
        return Ok(pos);
    };
    let keys_at = |w: &Watermark| -> std::result::Result<Option<BoundaryKeys>, String> {
        primary_key.map(|pk| w.keys_at(batch, pk)).transpose()
    };
    Ok(Some(match pos {
        None => {
            let keys = keys_at(&m)?;
            (m, keys)
        }
        Some((w, keys)) => match m.compare(&w)? {
            std::cmp::Ordering::Greater => {
                let keys = keys_at(&m)?;
                (m, keys)
            }
            std::cmp::Ordering::Equal => {
                // Rows at a watermark whose earlier rows are not known stay unknown: the
                // next run reads strictly after it, as this one did.
                let keys = match (keys, keys_at(&w)?) {
                    (Some(mut k), Some(more)) => {
                        k.merge(more);
                        Some(k)
                    }
                    _ => None,
                };
                (w, keys)
            }
            std::cmp::Ordering::Less => (w, keys),
        },
    }))
}

/// Settles how the run publishes and where it reads from, given the checkpoint the store
/// holds (read under the entity's lock).
fn resolve(spec: &FlowSpec, committed: Option<&Checkpoint>) -> Result<(Publish, Option<Position>)> {
    let evolve = spec
        .schema
        .as_ref()
        .is_some_and(|s| s.mode == crate::schema::SchemaMode::Adapt);
    let planned = Publish {
        run_type: spec.run_type,
        reload: spec.reload,
        evolve,
    };
    let Some(w) = &spec.watermark else {
        return Ok((planned, None));
    };
    if planned.run_type == RunType::FullDrop {
        return Ok((planned, None));
    }
    let reload = |why: String| {
        tracing::warn!(
            "{}: {why}: reloading in full, replacing the destination",
            spec.name
        );
        Ok((
            Publish {
                run_type: RunType::FullDrop,
                reload: true,
                evolve,
            },
            None,
        ))
    };
    match committed.filter(|c| c.flow == spec.flow && c.entity == spec.entity) {
        None => Ok((planned, w.start.clone())),
        Some(c) => match c.position(&w.column, &w.primary_key) {
            Ok(Some(p)) => Ok((planned, Some(p))),
            // A run that found no rows publishes no position: it says nothing of where the
            // data ends (and a reload could replace rows it did not write).
            Ok(None) if c.rows == 0 => Ok((planned, w.start.clone())),
            Ok(None) => reload(
                "the destination was last published without a watermark, so where its rows end is not known"
                    .into(),
            ),
            Err(why) => reload(why.replace("the project now says", "now")),
        },
    }
}

/// What travels from home to store: decoded rows, or rows still in the home's encoding.
enum Item {
    Rows(arrow::record_batch::RecordBatch),
    Encoded(Encoded),
}

type ItemStream = std::pin::Pin<
    Box<dyn futures::Stream<Item = std::result::Result<Item, crate::error::BoxError>> + Send>,
>;

/// A run whose rows are all staged: what [`publish`] needs.
struct Staged {
    writer: Box<dyn StoreWriter>,
    read: u64,
}

/// The data path up to publishing. On any error the writer is aborted, so nothing is
/// published.
///
/// If this future is dropped (cancel, timeout) while a writer is open, the writer's `Drop`
/// must discard its staging; stores guarantee that (see the store conformance suite).
async fn move_data(
    spec: &FlowSpec,
    run_id: &str,
    home: &dyn Home,
    store: &dyn Store,
    observer: &dyn Observer,
    progress: &mut Progress,
) -> Result<Staged> {
    let target = WriteTarget {
        flow: spec.flow.clone(),
        entity: spec.entity.clone(),
        flow_name: spec.name.clone(),
        run_type: spec.run_type,
        run_id: run_id.to_string(),
    };
    let mut writer = store.open(&target).await.map_err(Error::Store)?;
    let committed = match writer.committed().map(Checkpoint::parse) {
        None => None,
        Some(Ok(c)) => Some(c),
        // A full reload replaces the checkpoint with the data (it reads from no position);
        // an incremental run cannot know where to start.
        Some(Err(e)) if spec.run_type == RunType::FullDrop => {
            tracing::warn!("{}: ignoring the destination's {e}", spec.name);
            None
        }
        Some(Err(e)) => {
            writer.abort().await;
            return Err(Error::Checkpoint(format!(
                "{}: {e}; run with --full-drop to reload the entity and write a new one",
                store.describe(&spec.entity)
            )));
        }
    };
    let resolved = resolve(spec, committed.as_ref());
    progress.committed = committed;
    let (publish, start) = match resolved {
        Ok(r) => r,
        Err(e) => {
            writer.abort().await;
            return Err(e);
        }
    };
    progress.publish = Some(publish);
    let column = spec.watermark.as_ref().map(|w| w.column.clone());
    // Keys are collected for the inclusive boundary; rows at a start whose keys are
    // known are told apart by them.
    let primary_key = spec
        .watermark
        .as_ref()
        .filter(|w| w.inclusive)
        .map(|w| w.primary_key.clone());
    let mut start = start;
    if let Some(p) = &mut start {
        if let Some(b) = &mut p.boundary {
            b.seal();
        }
        if primary_key.is_none() {
            p.boundary = None; // `boundary: strict`
        } else if p.boundary.as_ref().is_some_and(BoundaryKeys::overflowed) {
            tracing::warn!(
                "{}: {} rows were written at {} = {}, more than the {} whose keys hygge keeps: rows that arrive later with that same value are not read",
                spec.name,
                p.boundary.as_ref().map_or(0, BoundaryKeys::rows),
                p.after.column,
                p.after.display(),
                checkpoint::MAX_BOUNDARY_KEYS
            );
            p.boundary = None;
        }
    }
    let req = ReadRequest {
        flow_name: spec.name.clone(),
        entity: spec.entity.clone(),
        batch_size: spec.batch_size.max(1),
        after: start.as_ref().map(|p| p.after.clone()),
        after_inclusive: start.as_ref().is_some_and(Position::inclusive),
    };
    let mut stage = Stage {
        spec,
        home,
        takes: store.takes_encoded(),
        observer,
        column,
        primary_key,
        start,
        publish,
    };
    match stage.run(&mut *writer, req, progress).await {
        Ok(read) => Ok(Staged { writer, read }),
        Err(e) => {
            writer.abort().await;
            Err(e)
        }
    }
}

/// Reading the home and staging every item into the writer.
struct Stage<'a> {
    spec: &'a FlowSpec,
    home: &'a dyn Home,
    takes: Option<&'static str>,
    observer: &'a dyn Observer,
    column: Option<String>,
    /// Set for the inclusive boundary: the keys of the rows at the watermark are kept.
    primary_key: Option<String>,
    start: Option<Position>,
    publish: Publish,
}

impl Stage<'_> {
    /// Opens the home, begins the writer and moves every item; the caller aborts the
    /// writer on error.
    async fn run(
        &mut self,
        writer: &mut dyn StoreWriter,
        req: ReadRequest,
        progress: &mut Progress,
    ) -> Result<u64> {
        let spec = self.spec;
        // Rows nobody needs to look at (no watermark to filter by or to track) may travel
        // still encoded, when the store takes the home's encoding as it is.
        let encoded = match (&spec.watermark, self.takes) {
            (None, Some(format)) => self
                .home
                .read_encoded(&req, format)
                .await
                .map_err(Error::Home)?,
            _ => None,
        };
        let (schema, mut stream): (_, ItemStream) = match encoded {
            Some((schema, s)) => (schema, Box::pin(s.map(|r| r.map(Item::Encoded)))),
            None => {
                let (schema, s) = self.home.read(&req).await.map_err(Error::Home)?;
                (schema, Box::pin(s.map(|r| r.map(Item::Rows))))
            }
        };
        if let Some(policy) = &spec.schema {
            match policy.check(&schema) {
                crate::schema::Verdict::Same => {}
                crate::schema::Verdict::Goes(m) => tracing::warn!("{}: {m}", spec.name),
                crate::schema::Verdict::Fails(m) => return Err(Error::SchemaDrift(m)),
            }
        }
        progress.schema = Some(schema.clone());
        writer
            .begin(schema.clone(), self.publish)
            .await
            .map_err(Error::Store)?;

        let (tx, mut rx) = mpsc::channel(spec.queue_size.max(1));
        let budget_permits = (spec.queue_memory_mb.max(1) * (1 << 20) / PERMIT_BYTES)
            .min(Semaphore::MAX_PERMITS)
            .min(u32::MAX as usize);
        let budget = Arc::new(Semaphore::new(budget_permits));
        let expected = schema.clone();
        let column = self.column.clone();
        let primary_key = self.primary_key.clone();
        let start = self.start.clone();
        let producer = tokio::spawn(tracing::Instrument::instrument(
            async move {
                let mut read = 0u64;
                let mut pos: Reached = start.clone().map(|p| (p.after, p.boundary));
                while let Some(item) = stream.next().await {
                    let (rows, bytes, item) = match item.map_err(Error::Home)? {
                        Item::Encoded(chunk) => (chunk.rows, chunk.memory, Item::Encoded(chunk)),
                        Item::Rows(mut batch) => {
                            if batch.schema().fields() != expected.fields() {
                                return Err(Error::SchemaMismatch(format!(
                                    "announced {:?}, got {:?}",
                                    expected.fields(),
                                    batch.schema().fields()
                                )));
                            }
                            if let Some(p) = &start {
                                batch = match (&primary_key, &p.boundary) {
                                    (Some(pk), Some(seen)) => {
                                        p.after.filter_inclusive(&batch, pk, seen)
                                    }
                                    _ => p.after.filter(&batch),
                                }
                                .map_err(Error::Watermark)?;
                            }
                            if let Some(c) = &column
                                && batch.num_rows() > 0
                            {
                                pos = advance(pos, &batch, c, primary_key.as_deref())
                                    .map_err(Error::Watermark)?;
                            }
                            let (rows, bytes) =
                                (batch.num_rows() as u64, batch.get_array_memory_size());
                            (rows, bytes, Item::Rows(batch))
                        }
                    };
                    if rows == 0 {
                        continue;
                    }
                    read += rows;
                    // An item larger than the whole budget takes all of it: it waits for
                    // the queue to empty, then goes alone.
                    let want = bytes.div_ceil(PERMIT_BYTES).clamp(1, budget_permits);
                    let Ok(permit) = budget.clone().acquire_many_owned(want as u32).await else {
                        break; // never closed; kept for the type
                    };
                    if tx.send((item, permit)).await.is_err() {
                        break; // the writer failed; its error is the one to report
                    }
                }
                Ok((read, pos))
            },
            tracing::Span::current(),
        ));

        let mut write_error = None;
        while let Some((item, permit)) = rx.recv().await {
            let (rows, written) = match item {
                Item::Rows(batch) => (
                    batch.num_rows() as u64,
                    writer.write_held(batch, permit).await,
                ),
                Item::Encoded(chunk) => {
                    let rows = chunk.rows;
                    let written = writer.write_encoded(chunk).await;
                    drop(permit); // the chunk is written (or dropped): its bytes leave the budget
                    (rows, written)
                }
            };
            if let Err(e) = written {
                write_error = Some(Error::Store(e));
                break;
            }
            self.observer.on_event(Event::BatchWritten {
                name: &spec.name,
                rows,
            });
        }
        drop(rx); // unblocks a producer waiting to send after a write error

        let produced = match producer.await {
            Ok(r) => r,
            Err(join) => Err(Error::Panicked(join.to_string())),
        };
        match (produced, write_error) {
            (Ok((read, reached)), None) => {
                progress.rows_read = read;
                progress.reached = reached;
                Ok(read)
            }
            (Ok((read, _)), Some(e)) => {
                progress.rows_read = read;
                Err(e)
            }
            (Err(e), _) => Err(e),
        }
    }
}

/// Publishes a staged run with its checkpoint. Not cancellable: it runs in a task of its
/// own, so even if the caller stopped waiting the publish would complete (and the next run
/// would find its checkpoint).
async fn publish(
    spec: &FlowSpec,
    run_id: &str,
    started_at: chrono::DateTime<Utc>,
    staged: Staged,
    progress: &mut Progress,
) -> Result<WriteReport> {
    let Staged { writer, read } = staged;
    let staged_rows = writer.staged_rows();
    if staged_rows != read {
        if spec.reconcile_strict {
            writer.abort().await;
            return Err(Error::Reconciliation(format!(
                "read {read} rows but the store staged {staged_rows}; nothing was published (set `reconcile: warn` to publish anyway)"
            )));
        }
        tracing::warn!(
            "reconciliation: read {read} rows but the store staged {staged_rows}; publishing anyway (reconcile: warn)"
        );
    }
    let run_type = progress.publish.map_or(spec.run_type, |p| p.run_type);
    let checkpoint = Checkpoint {
        hygge_checkpoint: checkpoint::VERSION,
        run_id: run_id.to_string(),
        flow: spec.flow.clone(),
        entity: spec.entity.clone(),
        run_type,
        started_at,
        published_at: Utc::now(),
        rows: read,
        watermark: match (&spec.watermark, &progress.reached) {
            (Some(w), Some((at, keys))) => Some(CheckpointWatermark {
                column: w.column.clone(),
                primary_key: w.primary_key.clone(),
                arrow_type: at.data_type().to_string(),
                exact: at.exact(),
                display: at.display(),
                boundary: keys.as_ref().map(BoundaryKeys::state),
            }),
            _ => None,
        },
        previous: progress
            .committed
            .as_ref()
            .filter(|c| c.flow == spec.flow && c.entity == spec.entity)
            .map(Checkpoint::chain)
            .unwrap_or_default(),
    };
    failpoint::hit("flow.publish").map_err(|e| Error::Store(e.into()))?;
    let task = tokio::spawn(tracing::Instrument::instrument(
        async move { writer.finish(&checkpoint).await },
        tracing::Span::current(),
    ));
    let report = match task.await {
        Ok(r) => r.map_err(Error::Store)?,
        Err(join) => return Err(Error::Panicked(format!("publishing: {join}"))),
    };
    if report.rows != read && spec.reconcile_strict {
        return Err(Error::Reconciliation(format!(
            "read {read} rows but the store reports {} published",
            report.rows
        )));
    }
    Ok(report)
}
