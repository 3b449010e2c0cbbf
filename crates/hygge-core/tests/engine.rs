//! Engine behaviour with test homes and stores: memory bound, error isolation, reports.

use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::Ordering;

use hygge_core::{
    Coordinator, FlowJob, FlowSpec, FlowStatus, Home, NoopObserver, Position, RunType, Store,
    Watermark, WatermarkSpec, run_flow,
};
use hygge_testkit::expected_rows;
use hygge_testkit::homes::{BrokenHome, CountingHome};
use hygge_testkit::stores::MemoryStore;
use tokio_util::sync::CancellationToken;

fn spec(entity: &str, queue_size: usize) -> FlowSpec {
    FlowSpec {
        flow: "f".into(),
        entity: entity.into(),
        name: format!("f_{entity}"),
        run_type: RunType::FullDrop,
        reload: false,
        queue_size,
        queue_memory_mb: 64,
        batch_size: 100,
        timeout: None,
        reconcile_strict: true,
        watermark: None,
        schema: None,
    }
}

/// Runs `spec` from `home` into `store` (which stalls), waits until the home has produced
/// `fill` items (however slow the machine) and then ample time more to read further if it
/// could, cancels, and returns how many items the home produced. The cancelled flow must
/// have failed and published nothing.
async fn produced_while_stalled(
    home: CountingHome,
    store: MemoryStore,
    spec: FlowSpec,
    fill: usize,
) -> usize {
    let cancel = CancellationToken::new();
    let (h, s, c) = (home.clone(), store.clone(), cancel.clone());
    let task = tokio::spawn(async move {
        run_flow(&spec, "run", Arc::new(h), Arc::new(s), &NoopObserver, &c).await
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while home.produced() < fill && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let produced = home.produced();
    cancel.cancel();
    let report = task.await.expect("join");
    assert_eq!(report.status, FlowStatus::Failed);
    assert!(report.error.unwrap().contains("cancelled"));
    assert!(
        store.rows("t").is_empty(),
        "a cancelled flow publishes nothing"
    );
    produced
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_store_bounds_what_the_home_reads() {
    for queue_size in [1usize, 3, 10] {
        let store = MemoryStore {
            stall_on_batch: Some(0),
            ..MemoryStore::default()
        };
        let home = CountingHome::new(1000, 100);
        let produced = produced_while_stalled(home, store, spec("t", queue_size), queue_size).await;
        assert!(
            produced <= queue_size + 2,
            "queue_size {queue_size}: home produced {produced} batches while the store stalled"
        );
        assert!(produced >= queue_size, "the queue does fill up");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batches_are_bounded_by_bytes_not_only_by_count() {
    // Batches of ~0.4-0.6 MiB, a queue of 10 batches but 2 MiB: the budget binds first.
    let rows = 20_000;
    let size = hygge_testkit::batch(0, rows).get_array_memory_size();
    let per_batch = size.div_ceil(1024) * 1024;
    let fit = (2 << 20) / per_batch;
    assert!((2..10).contains(&fit), "{size} bytes per batch: {fit} fit");
    let store = MemoryStore {
        stall_on_batch: Some(0),
        ..MemoryStore::default()
    };
    let spec = FlowSpec {
        queue_memory_mb: 2,
        ..spec("t", 10)
    };
    let produced = produced_while_stalled(CountingHome::new(1000, rows), store, spec, fit).await;
    // In the budget: the batch being written and the queued ones; plus the one the
    // producer holds while it waits for room.
    assert!(
        produced <= fit + 1,
        "{fit} batches fit in 2 MiB, the home produced {produced}"
    );
    assert!(produced >= fit, "the budget does fill up");
}

#[tokio::test]
async fn a_batch_larger_than_the_whole_budget_still_goes_through() {
    // ~1 MiB+ batches against a 1 MiB budget: each waits for the previous to be written.
    let home = CountingHome::new(20, 60_000);
    let store = MemoryStore::default();
    let spec = FlowSpec {
        queue_memory_mb: 1,
        ..spec("big", 10)
    };
    let report = run_flow(
        &spec,
        "run",
        Arc::new(home),
        Arc::new(store.clone()),
        &NoopObserver,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, FlowStatus::Success, "{:?}", report.error);
    assert_eq!(report.rows_written, 20 * 60_000);
    assert_eq!(store.rows("big").len(), 20 * 60_000);
}

#[tokio::test]
async fn encoded_chunks_go_straight_to_a_store_that_takes_them() {
    let run = |home: CountingHome, store: MemoryStore, spec: FlowSpec| async move {
        run_flow(
            &spec,
            "run",
            Arc::new(home),
            Arc::new(store),
            &NoopObserver,
            &CancellationToken::new(),
        )
        .await
    };
    let encoding_home = || CountingHome {
        encoded: Some("rows"),
        ..CountingHome::new(7, 100)
    };
    let taking_store = || MemoryStore {
        takes: Some("rows"),
        ..MemoryStore::default()
    };

    // Both sides speak the format, nothing to filter: every chunk travels encoded.
    let store = taking_store();
    let report = run(encoding_home(), store.clone(), spec("e", 2)).await;
    assert_eq!(report.status, FlowStatus::Success, "{:?}", report.error);
    assert_eq!((report.rows_read, report.rows_written), (700, 700));
    assert_eq!(store.rows("e"), expected_rows(0..700));
    assert_eq!(store.encoded_chunks.load(Ordering::SeqCst), 7);

    // A watermark means rows must be looked at: decoded batches, filtered.
    let store = taking_store();
    let spec_wm = FlowSpec {
        run_type: RunType::Incremental,
        watermark: Some(WatermarkSpec {
            column: "id".into(),
            primary_key: "id".into(),
            inclusive: false,
            start: Some(Position {
                after: Watermark::parse("id", "Int64", "649").expect("watermark"),
                boundary: None,
            }),
        }),
        ..spec("e", 2)
    };
    let report = run(encoding_home(), store.clone(), spec_wm).await;
    assert_eq!(report.status, FlowStatus::Success, "{:?}", report.error);
    assert_eq!(store.rows("e"), expected_rows(650..700));
    assert_eq!(store.encoded_chunks.load(Ordering::SeqCst), 0);

    // A store that takes another format (or none) gets batches.
    let store = MemoryStore {
        takes: Some("other"),
        ..MemoryStore::default()
    };
    let report = run(encoding_home(), store.clone(), spec("e", 2)).await;
    assert_eq!(report.rows_written, 700);
    assert_eq!(store.encoded_chunks.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_chunks_are_bounded_like_batches() {
    let home = CountingHome {
        encoded: Some("rows"),
        ..CountingHome::new(1000, 100)
    };
    let store = MemoryStore {
        takes: Some("rows"),
        stall_on_batch: Some(0),
        ..MemoryStore::default()
    };
    let produced = produced_while_stalled(home, store, spec("t", 3), 3).await;
    assert!(
        (3..=5).contains(&produced),
        "queue_size 3: the home produced {produced} chunks while the store stalled"
    );
}

#[tokio::test]
async fn one_failing_flow_does_not_stop_the_others() {
    let store = MemoryStore::default();
    let good: Arc<dyn Home> = Arc::new(CountingHome::new(5, 10));
    let mut failing = CountingHome::new(3, 10);
    failing.fail_after = Some("disk on fire".into());
    let jobs = vec![
        FlowJob {
            spec: spec("a", 2),
            home: good.clone(),
            store: Arc::new(store.clone()),
        },
        FlowJob {
            spec: spec("b", 2),
            home: Arc::new(failing),
            store: Arc::new(store.clone()),
        },
        FlowJob {
            spec: spec("c", 2),
            home: Arc::new(BrokenHome("table not found".into())),
            store: Arc::new(store.clone()),
        },
        FlowJob {
            spec: spec("d", 2),
            home: good,
            store: Arc::new(store.clone()) as Arc<dyn Store>,
        },
    ];
    let report = Coordinator::new(2, "r1")
        .run(jobs, Arc::new(NoopObserver), CancellationToken::new())
        .await;
    let status: Vec<_> = report
        .flows
        .iter()
        .map(|f| (f.entity.as_str(), f.status))
        .collect();
    assert_eq!(
        status,
        vec![
            ("a", FlowStatus::Success),
            ("b", FlowStatus::Failed),
            ("c", FlowStatus::Failed),
            ("d", FlowStatus::Success)
        ]
    );
    assert!(
        report.flows[1]
            .error
            .as_deref()
            .unwrap()
            .contains("disk on fire")
    );
    assert!(
        report.flows[2]
            .error
            .as_deref()
            .unwrap()
            .contains("table not found")
    );
    assert_eq!(store.rows("a"), expected_rows(0..50));
    assert!(
        store.rows("b").is_empty(),
        "the failed entity published nothing"
    );
    assert_eq!(report.totals.ok, 2);
    assert_eq!(report.totals.failed, 2);
    assert_eq!(report.totals.rows, 100);
    assert!(!report.succeeded());
}

#[tokio::test]
async fn a_store_failure_aborts_and_stops_the_home() {
    let home = CountingHome::new(1000, 10);
    let store = MemoryStore {
        fail_on_batch: Some(2),
        ..MemoryStore::default()
    };
    let report = run_flow(
        &spec("x", 4),
        "run",
        Arc::new(home.clone()),
        Arc::new(store.clone()),
        &NoopObserver,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, FlowStatus::Failed);
    assert!(
        report
            .error
            .unwrap()
            .contains("injected failure on batch 2")
    );
    assert!(
        home.produced() < 1000,
        "the home stopped reading after the store failed"
    );
    assert!(store.rows("x").is_empty());
}

#[tokio::test]
async fn rows_read_and_rows_staged_must_agree_before_anything_is_published() {
    let store = MemoryStore {
        lose_rows: 1,
        ..MemoryStore::default()
    };
    let report = run_flow(
        &spec("r", 4),
        "run",
        Arc::new(CountingHome::new(5, 10)),
        Arc::new(store.clone()),
        &NoopObserver,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, FlowStatus::Failed);
    let err = report.error.unwrap();
    assert!(
        err.contains("read 50 rows but the store staged 49"),
        "{err}"
    );
    assert!(store.rows("r").is_empty(), "nothing was published");
}

#[tokio::test]
async fn concurrency_limit_is_respected() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Peak {
        now: AtomicUsize,
        peak: AtomicUsize,
    }
    impl hygge_core::Observer for Peak {
        fn on_event(&self, e: hygge_core::Event<'_>) {
            match e {
                hygge_core::Event::FlowStarted { .. } => {
                    let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
                    self.peak.fetch_max(n, Ordering::SeqCst);
                }
                hygge_core::Event::FlowFinished { .. } => {
                    self.now.fetch_sub(1, Ordering::SeqCst);
                }
                _ => {}
            }
        }
    }
    let peak = Arc::new(Peak {
        now: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let store = MemoryStore::default();
    let jobs = (0..12)
        .map(|i| FlowJob {
            spec: spec(&format!("e{i}"), 2),
            home: Arc::new(CountingHome::new(20, 10)),
            store: Arc::new(store.clone()),
        })
        .collect();
    let report = Coordinator::new(3, "r")
        .run(jobs, peak.clone(), CancellationToken::new())
        .await;
    assert!(report.succeeded());
    assert_eq!(report.totals.rows, 12 * 200);
    let p = peak.peak.load(Ordering::SeqCst);
    assert!((1..=3).contains(&p), "peak concurrency {p}");
}

#[tokio::test]
async fn an_empty_home_is_skipped() {
    let store = MemoryStore::default();
    let report = run_flow(
        &spec("empty", 2),
        "run",
        Arc::new(CountingHome::new(0, 10)),
        Arc::new(store.clone()),
        &NoopObserver,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, FlowStatus::Skipped);
    assert_eq!(report.rows_written, 0);
}

#[tokio::test]
async fn timeout_fails_the_flow_and_publishes_nothing() {
    let store = MemoryStore {
        stall_on_batch: Some(1),
        ..MemoryStore::default()
    };
    let mut s = spec("slow", 2);
    s.timeout = Some(Duration::from_millis(100));
    let report = run_flow(
        &s,
        "run",
        Arc::new(CountingHome::new(10, 10)),
        Arc::new(store.clone()),
        &NoopObserver,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(report.status, FlowStatus::Failed);
    assert!(report.error.unwrap().contains("timed out"));
    assert!(store.rows("slow").is_empty());
}

#[tokio::test]
async fn the_memory_store_passes_the_conformance_suite() {
    struct H(MemoryStore);
    #[async_trait::async_trait]
    impl hygge_testkit::conformance::StoreHarness for H {
        async fn store(&self) -> Arc<dyn Store> {
            Arc::new(self.0.clone())
        }
        async fn published(&self, entity: &str) -> Vec<arrow::record_batch::RecordBatch> {
            self.0
                .published
                .lock()
                .unwrap()
                .get(entity)
                .cloned()
                .unwrap_or_default()
        }
        async fn leftovers(&self, _entity: &str) -> Vec<String> {
            vec![]
        }
    }
    hygge_testkit::conformance::run_store_conformance(&H(MemoryStore::default())).await;
}

fn incremental(entity: &str) -> FlowSpec {
    FlowSpec {
        run_type: RunType::Incremental,
        watermark: Some(WatermarkSpec {
            column: "id".into(),
            primary_key: "id".into(),
            inclusive: true,
            start: None,
        }),
        ..spec(entity, 4)
    }
}

async fn go(home: CountingHome, store: &MemoryStore, spec: &FlowSpec) -> hygge_core::FlowReport {
    run_flow(
        spec,
        "run",
        Arc::new(home),
        Arc::new(store.clone()),
        &NoopObserver,
        &CancellationToken::new(),
    )
    .await
}

/// Review H3: two overlapping runs planned from the same journal position. The second
/// starts where the first one's published checkpoint says, read under the entity's lock,
/// not where the (stale) plan said: nothing is loaded twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlapping_run_starts_from_the_checkpoint_not_from_its_stale_plan() {
    let store = MemoryStore::default();
    let stale = incremental("t"); // planned before either run published: no start
    let first = go(CountingHome::new(3, 100), &store, &stale).await;
    assert_eq!(first.status, FlowStatus::Success, "{:?}", first.error);
    // The source grew; the second run, planned at the same time as the first, runs now.
    let second = go(CountingHome::new(5, 100), &store, &stale).await;
    assert_eq!(second.status, FlowStatus::Success, "{:?}", second.error);
    assert_eq!(second.rows_read, 200, "only the rows after the checkpoint");
    assert_eq!(store.rows("t"), expected_rows(0..500), "each row once");
    assert_eq!(
        second.committed.as_ref().map(|c| c.rows),
        Some(300),
        "the report says which checkpoint the run started from"
    );
}

/// Review H4: a timeout that fires while the store publishes must not report "nothing was
/// published": publishing, once begun, is waited for and reported as done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_or_cancel_during_publishing_reports_the_publish() {
    let store = MemoryStore {
        slow_finish: Some(Duration::from_millis(800)),
        ..MemoryStore::default()
    };
    let mut s = spec("t", 4);
    s.timeout = Some(Duration::from_millis(300));
    let report = go(CountingHome::new(2, 10), &store, &s).await;
    assert_eq!(report.status, FlowStatus::Success, "{:?}", report.error);
    assert_eq!(store.rows("t"), expected_rows(0..20));

    let cancel = CancellationToken::new();
    let (st, c) = (store.clone(), cancel.clone());
    let task = tokio::spawn(async move {
        run_flow(
            &spec("u", 4),
            "run",
            Arc::new(CountingHome::new(2, 10)),
            Arc::new(st),
            &NoopObserver,
            &c,
        )
        .await
    });
    // Cancel while the store sleeps inside `finish`, after publishing.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.rows("u").is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cancel.cancel();
    let report = task.await.expect("join");
    assert_eq!(report.status, FlowStatus::Success, "{:?}", report.error);
    assert_eq!(store.rows("u"), expected_rows(0..20));
}

/// A checkpoint written for another watermark column makes the run a full reload that
/// replaces (never an append from a position that means something else).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_of_another_watermark_turns_the_run_into_a_replacing_reload() {
    let store = MemoryStore::default();
    let first = go(CountingHome::new(2, 100), &store, &incremental("t")).await;
    assert_eq!(first.status, FlowStatus::Success, "{:?}", first.error);
    let mut other = incremental("t");
    if let Some(w) = &mut other.watermark {
        w.primary_key = "name".into();
    }
    let report = go(CountingHome::new(3, 100), &store, &other).await;
    assert_eq!(report.status, FlowStatus::Success, "{:?}", report.error);
    assert_eq!(report.run_type, RunType::FullDrop);
    assert_eq!(
        store.rows("t"),
        expected_rows(0..300),
        "replaced, not appended"
    );
}

/// A first incremental run that found no rows publishes a checkpoint without a watermark;
/// the next run must not take that for "loaded without a watermark" and replace the
/// destination (it may hold rows hygge did not write): it appends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_of_an_empty_run_is_no_reason_to_reload() {
    let store = MemoryStore::default();
    let empty = go(CountingHome::new(0, 100), &store, &incremental("t")).await;
    assert_eq!(empty.status, FlowStatus::Skipped, "{:?}", empty.error);
    // Rows someone else put there.
    store
        .published
        .lock()
        .unwrap()
        .insert("t".into(), vec![hygge_testkit::batch(9_000, 5)]);
    let next = go(CountingHome::new(2, 100), &store, &incremental("t")).await;
    assert_eq!(next.status, FlowStatus::Success, "{:?}", next.error);
    assert_eq!(
        next.run_type,
        RunType::Incremental,
        "appended, not reloaded"
    );
    assert_eq!(store.rows("t").len(), 205, "the other rows are kept");
}
