//! Reader tasks: the one way a home runs its readers on tasks of their own (database homes
//! decode a connection's rows on a spawned task per stream) without ever turning a failure
//! into end-of-data.
//!
//! # Contract
//!
//! A home creates [`ReaderTasks`], [`spawn`](ReaderTasks::spawn)s one task per stream, and
//! hands the engine [`into_stream`](ReaderTasks::into_stream). Each task gets a
//! [`BatchSender`] and returns `Result<(), BoxError>`. The stream:
//!
//! - yields the batches the tasks send, in the order they were sent (per task);
//! - ends (`None`) only after **every** spawned task returned `Ok(())`: each task's end is
//!   an explicit "finished" message behind its last batch, never the channel closing;
//! - yields `Err` (and then ends) as soon as a task returns `Err` (its error, as the home
//!   worded it: the home names its connection and table), **panics**
//!   (`"<name>: reader task panicked: <message>"`; the panic is caught, so a bug such as an
//!   Arrow builder's offset overflow fails the entity instead of cutting the table short),
//!   or stops without finishing (aborted, or its runtime shutting down:
//!   `"<name>: reader task ended without finishing ..."`);
//! - when dropped (the flow failed, timed out or was cancelled, or it yielded an error),
//!   aborts every task still running, so their connections are dropped (closed) at once
//!   rather than at their next send. [`ReaderTasks`] dropped before `into_stream` does the
//!   same.
//!
//! Tasks run inside the tracing span current at `spawn`, so their log lines carry the
//! flow's `[flow_entity]`.
//!
//! Batches wait in one bounded channel shared by the tasks (`capacity` batches, plus at
//! most one each task is sending). What a home must still do itself: bound each batch in
//! bytes ([`MAX_BATCH_BYTES`]) as well as in rows, and name its connection and table in
//! its errors.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use arrow::record_batch::RecordBatch;
use futures::{FutureExt, Stream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tracing::Instrument;

use crate::error::BoxError;
use crate::error::panic_message;
use crate::home::BatchStream;

/// The most bytes a database home's decoder lets one batch reach before it starts the next,
/// whatever `batch_size` says (each decoder says what it counts). The batch ends after the
/// row that reaches it, so a row larger than the cap still goes.
///
/// Why 64 MiB: Arrow's `Utf8`/`Binary`/`List` arrays address their data with `i32`
/// offsets, so one column of one batch can hold at most 2 GiB; an append past that
/// *panics* in arrow-rs. 64 MiB is far below it (a batch ends after the row that reaches
/// the cap, so it is overshot by at most one row). It also bounds a flow's memory by about
/// (queue depth + streams) × 64 MiB however wide the rows are, where a row count alone
/// (50,000 rows of 100 KB documents: 5 GB) bounds nothing. Rows of ordinary width never
/// reach it (64 MiB / 50,000 rows is 1.3 KB per row), so their batches stay `batch_size`.
pub const MAX_BATCH_BYTES: usize = 64 << 20;

/// What a task puts in the channel.
enum Msg {
    Batch(RecordBatch),
    /// Task `i` ended: `Ok` when it finished, else why not.
    End(usize, Result<(), BoxError>),
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Batch(b) => write!(f, "Batch({} rows)", b.num_rows()),
            Msg::End(i, r) => write!(f, "End({i}, {:?})", r.as_ref().map_err(|e| e.to_string())),
        }
    }
}

/// The stream's side of the channel has gone (the flow no longer reads): stop reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamClosed;

impl std::fmt::Display for StreamClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("nobody reads the batches any more")
    }
}

impl std::error::Error for StreamClosed {}

/// What a reader task sends its batches with.
#[derive(Debug)]
pub struct BatchSender {
    tx: mpsc::Sender<Msg>,
}

impl BatchSender {
    /// Sends a batch, waiting while the channel is full (backpressure). `Err`: the stream
    /// was dropped; the task should return (its return value is not read any more).
    pub async fn send(&self, batch: RecordBatch) -> Result<(), StreamClosed> {
        self.tx
            .send(Msg::Batch(batch))
            .await
            .map_err(|_| StreamClosed)
    }
}

/// Reader tasks of one entity read, and the channel their batches travel on.
#[derive(Debug)]
pub struct ReaderTasks {
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    tasks: Tasks,
}

/// Per task: its name (for messages) and how to abort it. Aborts them all when dropped.
#[derive(Debug, Default)]
struct Tasks(Vec<(String, AbortHandle)>);

impl Tasks {
    fn abort_all(&self) {
        for (_, t) in &self.0 {
            t.abort();
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl ReaderTasks {
    /// Tasks whose batches share a channel of `capacity` batches (at least 1).
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        ReaderTasks {
            tx,
            rx,
            tasks: Tasks::default(),
        }
    }

    /// Starts a reader task: `reader` gets the task's [`BatchSender`] and returns the
    /// future the task runs (in the current tracing span). `name` says what it reads (the
    /// home's connection and table, say), in the messages of a panic or of a task that
    /// ended without finishing; its own `Err` goes to the stream as it is.
    pub fn spawn<F, Fut>(&mut self, name: impl Into<String>, reader: F)
    where
        F: FnOnce(BatchSender) -> Fut,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let index = self.tasks.0.len();
        let name = name.into();
        let work = reader(BatchSender {
            tx: self.tx.clone(),
        });
        let end = self.tx.clone();
        let what = name.clone();
        let task = async move {
            let outcome = match AssertUnwindSafe(work).catch_unwind().await {
                Ok(r) => r,
                Err(panic) => {
                    Err(format!("{what}: reader task panicked: {}", panic_message(&*panic)).into())
                }
            };
            // Behind the task's last batch. The stream may be gone already: nothing to do.
            let _ = end.send(Msg::End(index, outcome)).await;
        };
        let handle = tokio::spawn(task.instrument(tracing::Span::current()));
        self.tasks.0.push((name, handle.abort_handle()));
    }

    /// The number of tasks spawned.
    pub fn len(&self) -> usize {
        self.tasks.0.len()
    }

    /// No task spawned.
    pub fn is_empty(&self) -> bool {
        self.tasks.0.is_empty()
    }

    /// The stream of the tasks' batches (see the module docs for when it ends).
    pub fn into_stream(self) -> BatchStream {
        // This side's sender goes: the channel closes when the tasks' senders have gone.
        let ReaderTasks { tx: _, rx, tasks } = self;
        Box::pin(ReaderStream {
            running: tasks.0.len(),
            finished: vec![false; tasks.0.len()],
            tasks,
            rx,
            ended: false,
        })
    }
}

struct ReaderStream {
    rx: mpsc::Receiver<Msg>,
    /// Aborted when the stream is dropped.
    tasks: Tasks,
    finished: Vec<bool>,
    /// Tasks that have not sent their end yet.
    running: usize,
    /// An error was yielded: nothing more comes.
    ended: bool,
}

impl Stream for ReaderStream {
    type Item = Result<RecordBatch, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.ended || self.running == 0 {
                return Poll::Ready(None);
            }
            match std::task::ready!(self.rx.poll_recv(cx)) {
                Some(Msg::Batch(b)) => return Poll::Ready(Some(Ok(b))),
                Some(Msg::End(i, Ok(()))) => {
                    if !std::mem::replace(&mut self.finished[i], true) {
                        self.running -= 1;
                    }
                }
                Some(Msg::End(_, Err(e))) => {
                    // The entity has failed: the other readers stop now.
                    self.ended = true;
                    self.tasks.abort_all();
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    // Every sender is gone, but not every task said it finished: a task
                    // was aborted or its runtime shut down. Never end-of-data.
                    self.ended = true;
                    let unfinished: Vec<&str> = self
                        .tasks
                        .0
                        .iter()
                        .zip(&self.finished)
                        .filter(|(_, f)| !**f)
                        .map(|((n, _), _)| n.as_str())
                        .collect();
                    return Poll::Ready(Some(Err(format!(
                        "{}: reader task ended without finishing (aborted or shut down); \
                         the rows it had not read yet are missing",
                        unfinished.join("; ")
                    )
                    .into())));
                }
            }
        }
    }
}
