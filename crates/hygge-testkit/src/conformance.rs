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

/// Runs every case of the contract. Panics with the case's name on the first violation.
pub async fn run_store_conformance(h: &dyn StoreHarness) {
    // 1. full_drop publishes exactly what was written, only at finish.
    {
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
    // 2. full_drop twice gives the rows once (original bug B2).
    load(h, "c2", RunType::FullDrop, 1, 0..120, 40).await;
    load(h, "c2", RunType::FullDrop, 2, 1000..1100, 30).await;
    assert_published(h, "c2", 1000..1100, "a second full_drop replaces the first").await;
    // 3. incremental appends to what is there.
    load(h, "c3", RunType::FullDrop, 1, 0..100, 100).await;
    load(h, "c3", RunType::Incremental, 2, 100..175, 25).await;
    load(h, "c3", RunType::Incremental, 3, 175..180, 5).await;
    assert_published(h, "c3", 0..180, "incremental appends").await;
    // 4. abort leaves the old data and no staging.
    load(h, "c4", RunType::FullDrop, 1, 0..60, 60).await;
    {
        let store = h.store().await;
        let mut w = begin(&*store, "c4", RunType::FullDrop, 2).await;
        w.write(batch(500, 10)).await.expect("write");
        w.abort().await;
    }
    assert_published(h, "c4", 0..60, "abort keeps the old data").await;
    // 5. a writer dropped without finish/abort (cancelled flow) publishes nothing.
    {
        let store = h.store().await;
        let mut w = begin(&*store, "c4", RunType::Incremental, 3).await;
        w.write(batch(900, 10)).await.expect("write");
        drop(w);
    }
    assert_published(h, "c4", 0..60, "a dropped writer publishes nothing").await;
    // 6. an empty full_drop empties the entity (the source is empty).
    load(h, "c6", RunType::FullDrop, 1, 0..30, 30).await;
    load(h, "c6", RunType::FullDrop, 2, 0..0, 1).await;
    assert_published(h, "c6", 0..0, "an empty full_drop empties the entity").await;
    // 7. an empty incremental run changes nothing.
    load(h, "c7", RunType::FullDrop, 1, 0..30, 30).await;
    load(h, "c7", RunType::Incremental, 2, 0..0, 1).await;
    assert_published(h, "c7", 0..30, "an empty incremental run changes nothing").await;
    // 8. entities are independent: concurrent writers to two entities.
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
    // 9. the checkpoint is published with the data, and only with it.
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
    // 10. one writer per entity: a second open is refused at once, not queued.
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
