//! Runs many entity flows under a concurrency limit and lets every one of them finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::Utc;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::Error;
use crate::error::panic_message;
use crate::flow::{FlowSpec, run_flow_in_slot};
use crate::home::Home;
use crate::progress::{Event, Observer};
use crate::report::{FlowReport, RunReport};
use crate::store::Store;

/// Default number of entity flows that run at once (the original's `options.concurrency`).
pub const DEFAULT_CONCURRENCY: usize = 8;

/// One entity flow, built and ready to run.
#[derive(Clone)]
pub struct FlowJob {
    /// What to run.
    pub spec: FlowSpec,
    /// Where it reads.
    pub home: Arc<dyn Home>,
    /// Where it writes.
    pub store: Arc<dyn Store>,
}

/// Runs flows; see the crate docs.
#[derive(Debug, Clone)]
pub struct Coordinator {
    concurrency: usize,
    run_id: String,
}

impl Coordinator {
    /// A coordinator that runs at most `concurrency` flows at once.
    pub fn new(concurrency: usize, run_id: impl Into<String>) -> Self {
        Coordinator {
            concurrency: concurrency.max(1),
            run_id: run_id.into(),
        }
    }

    /// Runs every job to the end; a failure never stops the others. Reports come back in
    /// the jobs' order. Cancelling `cancel` makes running flows abort (nothing published)
    /// and flows not yet started report `Failed` with a cancellation error.
    pub async fn run(
        &self,
        jobs: Vec<FlowJob>,
        observer: Arc<dyn Observer>,
        cancel: CancellationToken,
    ) -> RunReport {
        let started_at = Utc::now();
        let start = Instant::now();
        let total = jobs.len();
        let slots = Arc::new(Semaphore::new(self.concurrency));
        // Entities of one run that write one destination take turns (a store lets one
        // writer in at a time, and refuses the others rather than make them wait).
        let mut turns: std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>> =
            Default::default();
        let started = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let mut set = JoinSet::new();
        // What a report needs if a task ends without one (it cannot panic: it is caught).
        let specs: Vec<(crate::flow::FlowSpec, String, String)> = jobs
            .iter()
            .map(|j| {
                (
                    j.spec.clone(),
                    j.home.describe(&j.spec.entity),
                    j.store.describe(&j.spec.entity),
                )
            })
            .collect();
        for (pos, job) in jobs.into_iter().enumerate() {
            let turn = turns
                .entry(job.store.describe(&job.spec.entity))
                .or_default()
                .clone();
            let slots = slots.clone();
            let observer = observer.clone();
            let cancel = cancel.clone();
            let started = started.clone();
            let finished = finished.clone();
            let run_id = self.run_id.clone();
            set.spawn(async move {
                let _turn = turn.lock_owned().await;
                let permit = slots.acquire_owned().await.expect("semaphore never closed");
                let index = started.fetch_add(1, Ordering::SeqCst) + 1;
                observer.on_event(Event::FlowStarted {
                    index,
                    total,
                    name: &job.spec.name,
                });
                let flow = run_flow_in_slot(
                    &job.spec,
                    &run_id,
                    job.home.clone(),
                    job.store.clone(),
                    &*observer,
                    &cancel,
                    Some(permit),
                );
                let span = tracing::info_span!("flow", name = %job.spec.name);
                let report = match AssertUnwindSafe(flow.instrument(span)).catch_unwind().await {
                    Ok(report) => report,
                    Err(panic) => job.spec.failed(
                        &Error::Panicked(panic_message(&*panic)),
                        job.home.describe(&job.spec.entity),
                        job.store.describe(&job.spec.entity),
                    ),
                };
                let done = finished.fetch_add(1, Ordering::SeqCst) + 1;
                let told = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    observer.on_event(Event::FlowFinished {
                        index,
                        done,
                        total,
                        report: &report,
                    })
                }));
                if let Err(panic) = told {
                    tracing::error!(
                        "{}: reporting the finished entity failed (a bug in hygge): {}",
                        job.spec.name,
                        panic_message(&*panic)
                    );
                }
                (pos, report)
            });
        }
        let mut reports: Vec<Option<FlowReport>> = vec![None; total];
        while let Some(joined) = set.join_next().await {
            // Panics are caught inside the task, so a join error is an abort at shutdown.
            if let Ok((pos, report)) = joined {
                reports[pos] = Some(report);
            }
        }
        // A flow whose task ended without a report is a failure, never a silent gap.
        let flows = reports
            .into_iter()
            .zip(specs)
            .map(|(r, (spec, source, destination))| {
                r.unwrap_or_else(|| {
                    spec.failed(
                        &Error::Panicked("the entity's task ended without a report".into()),
                        source,
                        destination,
                    )
                })
            })
            .collect();
        RunReport::new(
            self.run_id.clone(),
            started_at,
            start.elapsed().as_secs_f64(),
            flows,
        )
    }
}
