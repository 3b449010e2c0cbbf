//! The store conformance suite: the contract of [`Store`]/[`StoreWriter`], checked the same
//! way for every store (files now, SQL stores later).
//!
//! A store's test module implements [`StoreHarness`] and calls [`run_store_conformance`].

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use hygge_core::{RunType, Store, WriteTarget};

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

async fn load(
    h: &dyn StoreHarness,
    entity: &str,
    run_type: RunType,
    run: u32,
    ids: std::ops::Range<i64>,
    per_batch: usize,
) {
    let store = h.store().await;
    let mut w = store
        .open(&target(entity, run_type, run), schema())
        .await
        .expect("open");
    let mut next = ids.start;
    while next < ids.end {
        let n = per_batch.min((ids.end - next) as usize);
        w.write(batch(next, n)).await.expect("write");
        next += n as i64;
    }
    let report = w.finish().await.expect("finish");
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
        let mut w = store
            .open(&target("c1", RunType::FullDrop, 1), schema())
            .await
            .expect("open");
        w.write(batch(0, 100)).await.expect("write");
        w.write(batch(100, 50)).await.expect("write");
        assert!(
            h.published("c1").await.iter().all(|b| b.num_rows() == 0),
            "nothing is visible before finish"
        );
        w.finish().await.expect("finish");
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
        let mut w = store
            .open(&target("c4", RunType::FullDrop, 2), schema())
            .await
            .expect("open");
        w.write(batch(500, 10)).await.expect("write");
        w.abort().await;
    }
    assert_published(h, "c4", 0..60, "abort keeps the old data").await;
    // 5. a writer dropped without finish/abort (cancelled flow) publishes nothing.
    {
        let store = h.store().await;
        let mut w = store
            .open(&target("c4", RunType::Incremental, 3), schema())
            .await
            .expect("open");
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
        let mut a = store
            .open(&target("c8a", RunType::FullDrop, 1), schema())
            .await
            .expect("open");
        let mut b = store
            .open(&target("c8b", RunType::FullDrop, 1), schema())
            .await
            .expect("open");
        a.write(batch(0, 10)).await.expect("write");
        b.write(batch(10, 20)).await.expect("write");
        b.finish().await.expect("finish");
        a.abort().await;
    }
    assert_published(h, "c8a", 0..0, "aborting one entity leaves it empty").await;
    assert_published(h, "c8b", 10..30, "finishing the other publishes it").await;
}
