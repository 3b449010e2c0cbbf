//! Homes that read on spawned tasks (`hygge_core::ReaderTasks`): a task that panics, is
//! aborted, or fails never looks like the end of the data; the entity fails and nothing is
//! published.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use futures::StreamExt;
use hygge_core::{
    BatchStream, BoxError, FlowReport, FlowSpec, FlowStatus, Home, NoopObserver, ReadRequest,
    ReaderTasks, RunType, run_flow,
};
use hygge_testkit::stores::MemoryStore;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What one reader task of [`TaskHome`] does: send `n` batches of 10 rows, then ...
#[derive(Debug, Clone, Copy)]
enum Reader {
    /// ... finish.
    Finish(i64),
    /// ... panic.
    Panic(i64),
    /// ... wait forever (until its runtime shuts down).
    Hang(i64),
}

/// A home whose every stream is a reader task on [`ReaderTasks`] (as the SQL homes are).
struct TaskHome {
    readers: Vec<Reader>,
    /// The runtime the tasks run on (default: the caller's).
    runtime: Option<tokio::runtime::Handle>,
    /// Notified when a `Hang` task has sent its batches.
    hanging: Arc<Notify>,
}

impl TaskHome {
    fn new(readers: Vec<Reader>) -> Self {
        TaskHome {
            readers,
            runtime: None,
            hanging: Arc::new(Notify::new()),
        }
    }
}

#[async_trait]
impl Home for TaskHome {
    fn kind(&self) -> &'static str {
        "tasks"
    }
    fn describe(&self, entity: &str) -> String {
        format!("tasks://{entity}")
    }
    async fn check(&self, _entity: &str) -> Result<(), BoxError> {
        Ok(())
    }
    async fn read(&self, _req: &ReadRequest) -> Result<(SchemaRef, BatchStream), BoxError> {
        let _on = self.runtime.as_ref().map(|h| h.enter());
        let mut tasks = ReaderTasks::new(2);
        for (i, reader) in self.readers.iter().copied().enumerate() {
            let hanging = self.hanging.clone();
            tasks.spawn(format!("reader {i}"), move |tx| async move {
                let (Reader::Finish(n) | Reader::Panic(n) | Reader::Hang(n)) = reader;
                for b in 0..n {
                    let start = (i as i64) * 1000 + b * 10;
                    if tx.send(hygge_testkit::batch(start, 10)).await.is_err() {
                        return Ok(());
                    }
                }
                match reader {
                    Reader::Finish(_) => Ok(()),
                    Reader::Panic(_) => {
                        // Let the other readers get on first.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        panic!("offset overflow in reader {i}")
                    }
                    Reader::Hang(_) => {
                        hanging.notify_one();
                        std::future::pending().await
                    }
                }
            });
        }
        Ok((hygge_testkit::schema(), tasks.into_stream()))
    }
}

fn spec() -> FlowSpec {
    FlowSpec {
        flow: "f".into(),
        entity: "t".into(),
        name: "f_t".into(),
        run_type: RunType::FullDrop,
        reload: false,
        queue_size: 4,
        queue_memory_mb: 64,
        batch_size: 10,
        timeout: None,
        reconcile_strict: true,
        watermark: None,
        schema: None,
    }
}

async fn run(home: TaskHome, store: &MemoryStore) -> FlowReport {
    run_flow(
        &spec(),
        "run",
        Arc::new(home),
        Arc::new(store.clone()),
        &NoopObserver,
        &CancellationToken::new(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_task_that_panics_after_a_batch_fails_the_entity_with_the_panic() {
    let store = MemoryStore::default();
    let report = run(TaskHome::new(vec![Reader::Panic(1)]), &store).await;
    assert_eq!(report.status, FlowStatus::Failed, "{report:?}");
    let err = report.error.unwrap_or_default();
    assert!(
        err.contains("reader 0: reader task panicked: offset overflow in reader 0"),
        "{err}"
    );
    assert!(store.rows("t").is_empty(), "nothing is published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_reader_tasks_panicking_fails_the_entity() {
    let store = MemoryStore::default();
    let report = run(
        TaskHome::new(vec![Reader::Finish(3), Reader::Panic(1)]),
        &store,
    )
    .await;
    assert_eq!(report.status, FlowStatus::Failed, "{report:?}");
    let err = report.error.unwrap_or_default();
    assert!(err.contains("reader 1: reader task panicked"), "{err}");
    assert!(store.rows("t").is_empty(), "nothing is published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_task_cancelled_without_finishing_fails_the_entity() {
    // The tasks run on a runtime of their own, shut down while one hangs after a batch:
    // its sender is dropped without the task ever saying it finished.
    let tasks_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut home = TaskHome::new(vec![Reader::Finish(2), Reader::Hang(1)]);
    home.runtime = Some(tasks_rt.handle().clone());
    let hanging = home.hanging.clone();
    let store = MemoryStore::default();
    let flow = tokio::spawn({
        let store = store.clone();
        async move { run(home, &store).await }
    });
    tokio::time::timeout(Duration::from_secs(10), hanging.notified())
        .await
        .expect("the reader hangs");
    tasks_rt.shutdown_background();
    let report = tokio::time::timeout(Duration::from_secs(10), flow)
        .await
        .expect("the flow ends")
        .unwrap();
    assert_eq!(report.status, FlowStatus::Failed, "{report:?}");
    let err = report.error.unwrap_or_default();
    assert!(
        err.contains("reader 1: reader task ended without finishing"),
        "{err}"
    );
    assert!(store.rows("t").is_empty(), "nothing is published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_tasks_that_all_finish_deliver_every_batch() {
    let store = MemoryStore::default();
    let report = run(
        TaskHome::new(vec![
            Reader::Finish(5),
            Reader::Finish(0),
            Reader::Finish(3),
        ]),
        &store,
    )
    .await;
    assert_eq!(report.status, FlowStatus::Success, "{report:?}");
    assert_eq!(report.rows_read, 80);
    assert_eq!(store.rows("t").len(), 80);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_stops_the_reader_tasks_at_once() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let started = Arc::new(Notify::new());
    let mut tasks = ReaderTasks::new(1);
    let (d, s) = (dropped.clone(), started.clone());
    tasks.spawn("sleeper", move |_tx| async move {
        let _guard = SetOnDrop(d);
        s.notify_one();
        // Sends nothing for a long time (a slow query): only an abort ends it early.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    });
    let mut stream = tasks.into_stream();
    started.notified().await;
    assert!(
        tokio::time::timeout(Duration::from_millis(50), stream.next())
            .await
            .is_err(),
        "nothing yet"
    );
    drop(stream);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !dropped.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(dropped.load(Ordering::SeqCst), "the task was aborted");
}

#[tokio::test]
async fn a_reader_task_error_is_yielded_as_the_home_worded_it_and_ends_the_stream() {
    let mut tasks = ReaderTasks::new(4);
    tasks.spawn("r", |tx| async move {
        tx.send(hygge_testkit::batch(0, 3)).await.ok();
        Err("connection `pg`, table public.t: reading stopped: boom".into())
    });
    let items: Vec<_> = tasks.into_stream().collect().await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().map(|b| b.num_rows()).ok(), Some(3));
    assert_eq!(
        items[1].as_ref().err().map(|e| e.to_string()).as_deref(),
        Some("connection `pg`, table public.t: reading stopped: boom")
    );
}
