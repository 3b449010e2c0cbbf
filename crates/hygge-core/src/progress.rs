//! Events the engine emits while it runs. The CLI turns them into lines and progress bars;
//! the engine itself never prints.

use crate::report::FlowReport;

/// Something that happened in a run.
#[derive(Debug)]
pub enum Event<'a> {
    /// A flow acquired its concurrency slot and starts reading.
    FlowStarted {
        /// 1-based position in start order.
        index: usize,
        /// Number of flows in the run.
        total: usize,
        /// `<flow>_<entity>`.
        name: &'a str,
    },
    /// A batch reached the store (counted per batch, never per row).
    BatchWritten {
        /// `<flow>_<entity>`.
        name: &'a str,
        /// Rows in the batch.
        rows: u64,
    },
    /// A flow finished, successfully or not.
    FlowFinished {
        /// Its [`Event::FlowStarted`] `index`: an entity keeps one number from START to
        /// its end, as dbt numbers its models.
        index: usize,
        /// Flows finished so far, this one included.
        done: usize,
        /// Number of flows in the run.
        total: usize,
        /// The flow's report.
        report: &'a FlowReport,
    },
}

/// Receives [`Event`]s. Must be cheap: it is called from the flows' tasks.
pub trait Observer: Send + Sync {
    /// Called for every event.
    fn on_event(&self, event: Event<'_>);
}

/// Ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopObserver;

impl Observer for NoopObserver {
    fn on_event(&self, _event: Event<'_>) {}
}
