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

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::home::{Encoded, Home, ReadRequest};
use crate::progress::{Event, Observer};
use crate::report::{FlowReport, FlowStatus, WatermarkReport};
use crate::store::{RunType, Store, WriteReport, WriteTarget};
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
    /// Batches between home and store.
    pub queue_size: usize,
    /// MiB of batches queued and being written, at most (see the module docs).
    pub queue_memory_mb: usize,
    /// Rows per batch asked of the home.
    pub batch_size: usize,
    /// Time limit for the whole flow, if any.
    pub timeout: Option<Duration>,
    /// When rows read and rows staged differ: fail the entity (true, the default) or warn
    /// and publish anyway.
    pub reconcile_strict: bool,
    /// The watermark column (tracked: its maximum over what was written is reported), and
    /// where the previous run left off (only rows after it are read).
    pub watermark: Option<WatermarkSpec>,
}

/// Incremental reading by watermark.
#[derive(Debug, Clone)]
pub struct WatermarkSpec {
    /// The column.
    pub column: String,
    /// Read only rows strictly after this (none: read everything).
    pub after: Option<Watermark>,
    /// `Some(primary key)` for an inclusive boundary: rows equal to `after` are read too,
    /// less those whose key is in `seen`; the keys at the new watermark are reported.
    pub inclusive: Option<String>,
    /// Keys of the rows at `after` that a previous run wrote (inclusive boundary).
    pub seen: std::collections::BTreeSet<String>,
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
    let started_at = Utc::now();
    let start = Instant::now();
    let mut rows_read = 0u64;
    let mut watermark = spec
        .watermark
        .as_ref()
        .and_then(|w| w.after.clone().map(|a| (a, w.seen.clone())));
    let work = move_data(
        spec,
        run_id,
        &*home,
        &*store,
        observer,
        &mut rows_read,
        &mut watermark,
    );
    let outcome = tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Error::Cancelled),
        r = with_timeout(spec.timeout, work) => r,
    };
    let source = home.describe(&spec.entity);
    let destination = store.describe(&spec.entity);
    let mut report = match outcome {
        Err(e) => FlowReport::failed(spec, &e, source, destination),
        Ok(written) => FlowReport {
            name: spec.name.clone(),
            flow: spec.flow.clone(),
            entity: spec.entity.clone(),
            status: if rows_read == 0 {
                FlowStatus::Skipped
            } else {
                FlowStatus::Success
            },
            run_type: spec.run_type,
            rows_read,
            rows_written: written.rows,
            bytes: written.bytes,
            started_at,
            duration_secs: 0.0,
            source,
            destination: if written.destination.is_empty() {
                destination
            } else {
                written.destination
            },
            outputs: written.outputs,
            error: None,
            watermark: None,
        },
    };
    if report.error.is_none() {
        report.watermark = watermark.as_ref().map(|(w, keys)| {
            let mut r = WatermarkReport::of(w);
            if spec
                .watermark
                .as_ref()
                .is_some_and(|s| s.inclusive.is_some())
            {
                r.boundary_keys = keys.iter().cloned().collect();
            }
            r
        });
    }
    report.rows_read = rows_read;
    report.started_at = started_at;
    report.duration_secs = start.elapsed().as_secs_f64();
    report
}

async fn with_timeout<F: std::future::Future<Output = Result<WriteReport>>>(
    limit: Option<Duration>,
    work: F,
) -> Result<WriteReport> {
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
    pos: Option<(Watermark, std::collections::BTreeSet<String>)>,
    batch: &arrow::record_batch::RecordBatch,
    column: &str,
    inclusive: Option<&str>,
) -> std::result::Result<Option<(Watermark, std::collections::BTreeSet<String>)>, String> {
    let Some(m) = Watermark::max_with(None, batch, column)? else {
        return Ok(pos);
    };
    let keys_at = |w: &Watermark| -> std::result::Result<Vec<String>, String> {
        match inclusive {
            Some(pk) => w.keys_at(batch, pk),
            None => Ok(vec![]),
        }
    };
    Ok(Some(match pos {
        None => {
            let keys = keys_at(&m)?.into_iter().collect();
            (m, keys)
        }
        Some((w, mut keys)) => match m.compare(&w)? {
            std::cmp::Ordering::Greater => {
                let keys = keys_at(&m)?.into_iter().collect();
                (m, keys)
            }
            std::cmp::Ordering::Equal => {
                keys.extend(keys_at(&w)?);
                (w, keys)
            }
            std::cmp::Ordering::Less => (w, keys),
        },
    }))
}

/// What travels from home to store: decoded rows, or rows still in the home's encoding.
enum Item {
    Rows(arrow::record_batch::RecordBatch),
    Encoded(Encoded),
}

type ItemStream = std::pin::Pin<
    Box<dyn futures::Stream<Item = std::result::Result<Item, crate::error::BoxError>> + Send>,
>;

/// The data path. On any error the writer is aborted, so nothing is published.
///
/// If this future is dropped (cancel, timeout) while a writer is open, the writer's `Drop`
/// must discard its staging; stores guarantee that (see the store conformance suite).
async fn move_data(
    spec: &FlowSpec,
    run_id: &str,
    home: &dyn Home,
    store: &dyn Store,
    observer: &dyn Observer,
    rows_read: &mut u64,
    watermark: &mut Option<(Watermark, std::collections::BTreeSet<String>)>,
) -> Result<WriteReport> {
    let after = spec.watermark.as_ref().and_then(|w| w.after.clone());
    let column = spec.watermark.as_ref().map(|w| w.column.clone());
    let inclusive = spec.watermark.as_ref().and_then(|w| w.inclusive.clone());
    let seen = spec
        .watermark
        .as_ref()
        .map(|w| w.seen.clone())
        .unwrap_or_default();
    let req = ReadRequest {
        flow_name: spec.name.clone(),
        entity: spec.entity.clone(),
        batch_size: spec.batch_size.max(1),
        after: after.clone(),
        after_inclusive: inclusive.is_some(),
    };
    // Rows nobody needs to look at (no watermark to filter by or to track) may travel
    // still encoded, when the store takes the home's encoding as it is.
    let encoded = match (&spec.watermark, store.takes_encoded()) {
        (None, Some(format)) => home.read_encoded(&req, format).await.map_err(Error::Home)?,
        _ => None,
    };
    let (schema, mut stream): (_, ItemStream) = match encoded {
        Some((schema, s)) => (schema, Box::pin(s.map(|r| r.map(Item::Encoded)))),
        None => {
            let (schema, s) = home.read(&req).await.map_err(Error::Home)?;
            (schema, Box::pin(s.map(|r| r.map(Item::Rows))))
        }
    };
    let target = WriteTarget {
        flow: spec.flow.clone(),
        entity: spec.entity.clone(),
        flow_name: spec.name.clone(),
        run_type: spec.run_type,
        run_id: run_id.to_string(),
    };
    let mut writer = store
        .open(&target, schema.clone())
        .await
        .map_err(Error::Store)?;

    let (tx, mut rx) = mpsc::channel(spec.queue_size.max(1));
    let budget_permits = (spec.queue_memory_mb.max(1) * (1 << 20) / PERMIT_BYTES)
        .min(Semaphore::MAX_PERMITS)
        .min(u32::MAX as usize);
    let budget = Arc::new(Semaphore::new(budget_permits));
    let expected = schema.clone();
    let producer = tokio::spawn(tracing::Instrument::instrument(
        async move {
            let mut read = 0u64;
            let mut pos = after.clone().map(|a| (a, seen.clone()));
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
                        if let Some(a) = &after {
                            batch = match &inclusive {
                                Some(pk) => a.filter_inclusive(&batch, pk, &seen),
                                None => a.filter(&batch),
                            }
                            .map_err(Error::Watermark)?;
                        }
                        if let Some(c) = &column
                            && batch.num_rows() > 0
                        {
                            pos = advance(pos, &batch, c, inclusive.as_deref())
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
                // An item larger than the whole budget takes all of it: it waits for the
                // queue to empty, then goes alone.
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
            Item::Rows(batch) => (batch.num_rows() as u64, writer.write(batch).await),
            Item::Encoded(chunk) => (chunk.rows, writer.write_encoded(chunk).await),
        };
        drop(permit); // the batch is written (or dropped): its bytes leave the budget
        if let Err(e) = written {
            write_error = Some(Error::Store(e));
            break;
        }
        observer.on_event(Event::BatchWritten {
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
        (Ok((read, max)), None) => {
            *rows_read = read;
            let staged = writer.staged_rows();
            if staged != read {
                if spec.reconcile_strict {
                    writer.abort().await;
                    return Err(Error::Reconciliation(format!(
                        "read {read} rows but the store staged {staged}; nothing was published (set `reconcile: warn` to publish anyway)"
                    )));
                }
                tracing::warn!(
                    "reconciliation: read {read} rows but the store staged {staged}; publishing anyway (reconcile: warn)"
                );
            }
            let report = writer.finish().await.map_err(Error::Store)?;
            if report.rows != read && spec.reconcile_strict {
                return Err(Error::Reconciliation(format!(
                    "read {read} rows but the store reports {} published",
                    report.rows
                )));
            }
            *watermark = max;
            Ok(report)
        }
        (Ok((read, _)), Some(e)) => {
            *rows_read = read;
            writer.abort().await;
            Err(e)
        }
        (Err(e), _) => {
            writer.abort().await;
            Err(e)
        }
    }
}
