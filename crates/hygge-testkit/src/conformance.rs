//! The store conformance suite: the contract of [`Store`]/[`StoreWriter`], checked the same
//! way for every store (files now, SQL stores later).
//!
//! A store's test module implements [`StoreHarness`] and calls [`run_store_conformance`].

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use hygge_core::{Checkpoint, Publish, RunType, Store, StoreWriter, WriteTarget};

use crate::{batch, expected_rows, rows, schema};

/// What the suite needs to observe a store from outside.
#[async_trait]
pub trait StoreHarness: Send + Sync {
    /// The store under test. Every call returns a store over the same destination.
    async fn store(&self) -> Arc<dyn Store>;
    /// Everything a reader of the destination sees for `entity` right now.
    async fn published(&self, entity: &str) -> Vec<RecordBatch>;
    /// Staging leftovers (temporary files, tables) for `entity`; must be empty whenever no
    /// writer is open.
    async fn leftovers(&self, entity: &str) -> Vec<String>;
}

fn target(entity: &str, run_type: RunType, run: u32) -> WriteTarget {
    WriteTarget {
        flow: "conformance".into(),
        entity: entity.into(),
        flow_name: format!("conformance_{entity}"),
        run_type,
        run_id: format!("run{run}"),
    }
}

/// A checkpoint for run `run` of `entity`.
pub fn checkpoint(entity: &str, run_type: RunType, run: u32, rows: u64) -> Checkpoint {
    Checkpoint {
        hygge_checkpoint: hygge_core::checkpoint::VERSION,
        run_id: format!("run{run}"),
        flow: "conformance".into(),
        entity: entity.into(),
        run_type,
        started_at: chrono::Utc::now(),
        published_at: chrono::Utc::now(),
        rows,
        watermark: None,
        previous: vec![],
    }
}

/// Opens and begins a writer for run `run` of `entity`.
async fn begin(
    store: &dyn Store,
    entity: &str,
    run_type: RunType,
    run: u32,
) -> Box<dyn StoreWriter> {
    let mut w = store
        .open(&target(entity, run_type, run))
        .await
        .expect("open");
    w.begin(
        schema(),
        Publish {
            run_type,
            reload: false,
            evolve: false,
        },
    )
    .await
    .expect("begin");
    w
}

async fn finish(w: Box<dyn StoreWriter>, entity: &str, run_type: RunType, run: u32) {
    let rows = w.staged_rows();
    w.finish(&checkpoint(entity, run_type, run, rows))
        .await
        .expect("finish");
}

async fn load(
    h: &dyn StoreHarness,
    entity: &str,
    run_type: RunType,
    run: u32,
    ids: std::ops::Range<i64>,
    per_batch: usize,
) {
    let store = h.store().await;
    let mut w = begin(&*store, entity, run_type, run).await;
    let mut next = ids.start;
    while next < ids.end {
        let n = per_batch.min((ids.end - next) as usize);
        w.write(batch(next, n)).await.expect("write");
        next += n as i64;
    }
    let report = w
        .finish(&checkpoint(
            entity,
            run_type,
            run,
            ids.end.abs_diff(ids.start),
        ))
        .await
        .expect("finish");
    assert_eq!(
        report.rows,
        (ids.end - ids.start) as u64,
        "report counts rows"
    );
}

async fn assert_published(
    h: &dyn StoreHarness,
    entity: &str,
    ids: std::ops::Range<i64>,
    why: &str,
) {
    assert_eq!(
        rows(&h.published(entity).await),
        expected_rows(ids),
        "{why}"
    );
    assert!(
        h.leftovers(entity).await.is_empty(),
        "{why}: staging leftovers {:?}",
        h.leftovers(entity).await
    );
}

/// The store contract's cases, each its own test through [`crate::store_conformance!`].
pub mod cases {
    use super::*;

    /// full_drop publishes exactly what was written, only at finish.
    pub async fn full_drop_publishes_only_at_finish(h: &dyn StoreHarness) {
        let store = h.store().await;
        let mut w = begin(&*store, "c1", RunType::FullDrop, 1).await;
        w.write(batch(0, 100)).await.expect("write");
        w.write(batch(100, 50)).await.expect("write");
        assert!(
            h.published("c1").await.iter().all(|b| b.num_rows() == 0),
            "nothing is visible before finish"
        );
        finish(w, "c1", RunType::FullDrop, 1).await;
        assert_published(h, "c1", 0..150, "full_drop publishes every row").await;
    }

    /// full_drop twice gives the rows once (original bug B2).
    pub async fn full_drop_twice_gives_the_rows_once_b2(h: &dyn StoreHarness) {
        load(h, "c2", RunType::FullDrop, 1, 0..120, 40).await;
        load(h, "c2", RunType::FullDrop, 2, 1000..1100, 30).await;
        assert_published(h, "c2", 1000..1100, "a second full_drop replaces the first").await;
    }

    /// incremental appends to what is there.
    pub async fn incremental_appends(h: &dyn StoreHarness) {
        load(h, "c3", RunType::FullDrop, 1, 0..100, 100).await;
        load(h, "c3", RunType::Incremental, 2, 100..175, 25).await;
        load(h, "c3", RunType::Incremental, 3, 175..180, 5).await;
        assert_published(h, "c3", 0..180, "incremental appends").await;
    }

    /// abort, or dropping the writer (a cancelled flow), leaves the old data and no staging.
    pub async fn abort_or_drop_keeps_the_old_data(h: &dyn StoreHarness) {
        load(h, "c4", RunType::FullDrop, 1, 0..60, 60).await;
        {
            let store = h.store().await;
            let mut w = begin(&*store, "c4", RunType::FullDrop, 2).await;
            w.write(batch(500, 10)).await.expect("write");
            w.abort().await;
        }
        assert_published(h, "c4", 0..60, "abort keeps the old data").await;
        {
            let store = h.store().await;
            let mut w = begin(&*store, "c4", RunType::Incremental, 3).await;
            w.write(batch(900, 10)).await.expect("write");
            drop(w);
        }
        assert_published(h, "c4", 0..60, "a dropped writer publishes nothing").await;
    }

    /// an empty full_drop empties the entity (the source is empty); an empty incremental
    /// run changes nothing.
    pub async fn empty_runs_empty_a_full_drop_and_leave_an_incremental(h: &dyn StoreHarness) {
        load(h, "c6", RunType::FullDrop, 1, 0..30, 30).await;
        load(h, "c6", RunType::FullDrop, 2, 0..0, 1).await;
        assert_published(h, "c6", 0..0, "an empty full_drop empties the entity").await;
        load(h, "c7", RunType::FullDrop, 1, 0..30, 30).await;
        load(h, "c7", RunType::Incremental, 2, 0..0, 1).await;
        assert_published(h, "c7", 0..30, "an empty incremental run changes nothing").await;
    }

    /// entities are independent: concurrent writers to two entities.
    pub async fn entities_are_independent(h: &dyn StoreHarness) {
        {
            let store = h.store().await;
            let mut a = begin(&*store, "c8a", RunType::FullDrop, 1).await;
            let mut b = begin(&*store, "c8b", RunType::FullDrop, 1).await;
            a.write(batch(0, 10)).await.expect("write");
            b.write(batch(10, 20)).await.expect("write");
            finish(b, "c8b", RunType::FullDrop, 1).await;
            a.abort().await;
        }
        assert_published(h, "c8a", 0..0, "aborting one entity leaves it empty").await;
        assert_published(h, "c8b", 10..30, "finishing the other publishes it").await;
    }

    /// the checkpoint is published with the data, and only with it.
    pub async fn the_checkpoint_is_published_with_the_data(h: &dyn StoreHarness) {
        {
            let store = h.store().await;
            let committed =
                |w: &dyn StoreWriter| w.committed().map(|t| Checkpoint::parse(t).expect("parses"));
            let w = store
                .open(&target("c9", RunType::FullDrop, 1))
                .await
                .expect("open");
            assert_eq!(committed(&*w), None, "a new entity has no checkpoint");
            w.abort().await;
            load(h, "c9", RunType::FullDrop, 1, 0..10, 10).await;
            let w = store
                .open(&target("c9", RunType::Incremental, 2))
                .await
                .expect("open");
            let got = committed(&*w).expect("the published run's checkpoint");
            assert_eq!((got.run_id.as_str(), got.rows), ("run1", 10));
            w.abort().await;
            // A run that does not publish leaves the previous checkpoint.
            let mut w = begin(&*store, "c9", RunType::Incremental, 3).await;
            w.write(batch(10, 5)).await.expect("write");
            w.abort().await;
            load(h, "c9", RunType::Incremental, 4, 10..15, 5).await;
            let w = store
                .open(&target("c9", RunType::Incremental, 5))
                .await
                .expect("open");
            let got = committed(&*w).expect("checkpoint");
            assert_eq!(got.run_id, "run4", "the last published run's checkpoint");
            w.abort().await;
            assert_published(h, "c9", 0..15, "checkpoints travel with the data").await;
        }
    }

    /// one writer per entity: a second open is refused at once, not queued.
    pub async fn a_second_writer_is_refused_at_once(h: &dyn StoreHarness) {
        {
            let store = h.store().await;
            let first = begin(&*store, "c10", RunType::FullDrop, 1).await;
            let second = tokio::time::timeout(
                std::time::Duration::from_secs(20),
                store.open(&target("c10", RunType::FullDrop, 2)),
            )
            .await
            .expect("a second writer is refused at once, not made to wait");
            let err = match second {
                Ok(_) => panic!("a second writer of one entity was let in"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains("another"), "says another run holds it: {err}");
            first.abort().await;
        }
        assert_published(h, "c10", 0..0, "nothing published").await;
    }
}

/// Expands to one `#[tokio::test]` per case of the store contract, each on a fresh
/// harness from `$harness` (an expression, evaluated in each test).
#[macro_export]
macro_rules! store_conformance {
    ($harness:expr) => {
        $crate::store_conformance!(@cases $harness;
            full_drop_publishes_only_at_finish,
            full_drop_twice_gives_the_rows_once_b2,
            incremental_appends,
            abort_or_drop_keeps_the_old_data,
            empty_runs_empty_a_full_drop_and_leave_an_incremental,
            entities_are_independent,
            the_checkpoint_is_published_with_the_data,
            a_second_writer_is_refused_at_once
        );
    };
    (@cases $harness:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let h = $harness;
                $crate::conformance::cases::$case(&h).await;
            }
        )*
    };
}

/// Runs every case in one go (for harnesses that are costly to set up).
pub async fn run_store_conformance(h: &dyn StoreHarness) {
    cases::full_drop_publishes_only_at_finish(h).await;
    cases::full_drop_twice_gives_the_rows_once_b2(h).await;
    cases::incremental_appends(h).await;
    cases::abort_or_drop_keeps_the_old_data(h).await;
    cases::empty_runs_empty_a_full_drop_and_leave_an_incremental(h).await;
    cases::entities_are_independent(h).await;
    cases::the_checkpoint_is_published_with_the_data(h).await;
    cases::a_second_writer_is_refused_at_once(h).await;
}

// ---------------------------------------------------------------------------------------
// The home suite
// ---------------------------------------------------------------------------------------

/// What the home suite needs to drive a home from outside.
#[async_trait]
pub trait HomeHarness: Send + Sync {
    /// The home under test, built as the binary builds it. Every call reads the same data.
    async fn home(&self) -> Arc<dyn hygge_core::Home>;
    /// Makes `entity` hold the rows of [`batch`] with ids `ids` (`id int64, name utf8`).
    async fn seed(&self, entity: &str, ids: std::ops::Range<i64>);
    /// A format the home may hand chunks over in still encoded (`read_encoded`).
    fn encoded(&self) -> Option<&'static str> {
        None
    }
}

fn request(
    entity: &str,
    batch_size: usize,
    after: Option<hygge_core::Watermark>,
) -> hygge_core::ReadRequest {
    hygge_core::ReadRequest {
        flow_name: format!("conformance_{entity}"),
        entity: entity.into(),
        batch_size,
        after,
        after_inclusive: false,
    }
}

/// The `id` column of every batch, sorted.
fn ids_of(batches: &[RecordBatch]) -> Vec<i64> {
    let mut out = Vec::new();
    for b in batches {
        let col = b.column_by_name("id").expect("an `id` column");
        let col = arrow::compute::cast(col, &arrow::datatypes::DataType::Int64).expect("ints");
        let col = col
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .expect("int64");
        out.extend(col.iter().map(|v| v.expect("no null id")));
    }
    out.sort_unstable();
    out
}

/// The home contract's cases, each its own test through [`crate::home_conformance!`].
pub mod home_cases {
    use super::*;
    use futures::StreamExt;

    /// Every row once, in batches of at most `batch_size` rows, each with the schema the
    /// home announced.
    pub async fn every_row_once_in_batches_of_at_most_batch_size(h: &dyn HomeHarness) {
        h.seed("h1", 0..2_500).await;
        let home = h.home().await;
        let (schema, mut stream) = home.read(&request("h1", 700, None)).await.expect("read");
        let mut batches = Vec::new();
        while let Some(b) = stream.next().await {
            let b = b.expect("a batch");
            assert!(
                b.num_rows() <= 700,
                "{} rows in a batch of 700",
                b.num_rows()
            );
            assert_eq!(b.schema().fields(), schema.fields(), "announced schema");
            batches.push(b);
        }
        assert_eq!(
            ids_of(&batches),
            (0..2_500).collect::<Vec<_>>(),
            "every row once"
        );
    }

    /// An entity that is not there is an error naming it, never an empty read.
    pub async fn a_missing_entity_fails_naming_it(h: &dyn HomeHarness) {
        let home = h.home().await;
        let err = match home.read(&request("nope_missing", 100, None)).await {
            Err(e) => e.to_string(),
            Ok((_, stream)) => {
                let items: Vec<_> = stream.collect().await;
                match items.into_iter().find_map(Result::err) {
                    Some(e) => e.to_string(),
                    None => panic!("a missing entity read as empty"),
                }
            }
        };
        assert!(err.contains("nope_missing"), "names the entity: {err}");
        assert!(
            home.check("nope_missing").await.is_err(),
            "check refuses a missing entity"
        );
    }

    /// `check` accepts an entity that is there.
    pub async fn check_accepts_a_present_entity(h: &dyn HomeHarness) {
        h.seed("h3", 0..10).await;
        let home = h.home().await;
        home.check("h3").await.expect("check");
    }

    /// A stream dropped half-way (a failed or cancelled flow) leaves the home readable:
    /// connections are given back or closed, files closed.
    pub async fn a_stream_dropped_midway_leaves_the_home_readable(h: &dyn HomeHarness) {
        h.seed("h4", 0..2_000).await;
        let home = h.home().await;
        for _ in 0..3 {
            let (_, mut stream) = home.read(&request("h4", 100, None)).await.expect("read");
            stream.next().await.expect("one batch").expect("ok");
            drop(stream);
        }
        let (_, stream) = home.read(&request("h4", 500, None)).await.expect("read");
        let batches: Vec<RecordBatch> = stream.map(|b| b.expect("batch")).collect().await;
        assert_eq!(ids_of(&batches), (0..2_000).collect::<Vec<_>>());
    }

    /// Given a watermark, a home may read less (pushing it down), never fewer rows past it.
    pub async fn no_row_past_the_watermark_is_missing(h: &dyn HomeHarness) {
        h.seed("h5", 0..1_000).await;
        let home = h.home().await;
        let after = hygge_core::Watermark::parse("id", "Int64", "699").expect("watermark");
        let (_, stream) = home
            .read(&request("h5", 300, Some(after)))
            .await
            .expect("read");
        let batches: Vec<RecordBatch> = stream.map(|b| b.expect("batch")).collect().await;
        let got = ids_of(&batches);
        for id in 700..1_000 {
            assert!(
                got.binary_search(&id).is_ok(),
                "row {id} is past the watermark"
            );
        }
    }

    /// Chunks handed over still encoded hold exactly the rows `read` gives.
    pub async fn encoded_chunks_hold_the_rows_read_gives(h: &dyn HomeHarness) {
        let Some(format) = h.encoded() else {
            return;
        };
        h.seed("h6", 0..1_500).await;
        let home = h.home().await;
        let (_, chunks) = home
            .read_encoded(&request("h6", 500, None), format)
            .await
            .expect("read_encoded")
            .expect("this home hands over its format");
        let rows: u64 = chunks
            .map(|c| c.expect("chunk").rows)
            .collect::<Vec<_>>()
            .await
            .iter()
            .sum();
        assert_eq!(rows, 1_500, "encoded chunks count every row once");
    }
}

/// Expands to one `#[tokio::test]` per case of the home contract, each on a fresh harness
/// from `$harness`.
#[macro_export]
macro_rules! home_conformance {
    ($harness:expr) => {
        $crate::home_conformance!(@cases $harness;
            every_row_once_in_batches_of_at_most_batch_size,
            a_missing_entity_fails_naming_it,
            check_accepts_a_present_entity,
            a_stream_dropped_midway_leaves_the_home_readable,
            no_row_past_the_watermark_is_missing,
            encoded_chunks_hold_the_rows_read_gives
        );
    };
    (@cases $harness:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let h = $harness;
                $crate::conformance::home_cases::$case(&h).await;
            }
        )*
    };
}
