//! Typed reports: one per entity flow, one per run. Serialisable for `--output json`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::RunType;

/// How an entity flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowStatus {
    /// Data was read and published.
    Success,
    /// The home had no rows; the run published nothing new (full_drop publishes an empty
    /// entity, since the source is empty).
    Skipped,
    /// Something failed; the destination is as it was before the run.
    Failed,
}

impl FlowStatus {
    /// `success`, `skip` or `fail`: the journal's words.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowStatus::Success => "success",
            FlowStatus::Skipped => "skip",
            FlowStatus::Failed => "fail",
        }
    }
}

/// The report of one entity flow.
#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    /// `<flow>_<entity>`.
    pub name: String,
    /// The base flow.
    pub flow: String,
    /// The entity.
    pub entity: String,
    /// How it ended.
    pub status: FlowStatus,
    /// Replace or append.
    pub run_type: RunType,
    /// Rows the home produced.
    pub rows_read: u64,
    /// Rows the store published (equal to `rows_read` on success).
    pub rows_written: u64,
    /// Bytes the store wrote.
    pub bytes: u64,
    /// When the flow started (UTC).
    pub started_at: DateTime<Utc>,
    /// Wall time in seconds.
    pub duration_secs: f64,
    /// Where the data was read from.
    pub source: String,
    /// Where the data now lives.
    pub destination: String,
    /// What was published.
    pub outputs: Vec<String>,
    /// The error, with its causes, when the flow failed.
    pub error: Option<String>,
    /// The watermark after this run (incremental flows with a `watermark`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<WatermarkReport>,
    /// The checkpoint the destination held when the run opened it (the last run that
    /// published there), for the journal to record a run that published but was never
    /// journaled.
    #[serde(skip)]
    pub committed: Option<crate::checkpoint::Checkpoint>,
    /// Set by the CLI when the run published but its journal entry could not be written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_error: Option<String>,
    /// The source's schema the run wrote (the journal keeps it as the entity's snapshot).
    #[serde(skip)]
    pub schema: Option<arrow::datatypes::SchemaRef>,
}

/// Where an incremental run left off: the maximum of the watermark column over every row
/// written so far (the previous run's when this one wrote none).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WatermarkReport {
    /// The column.
    pub column: String,
    /// `int`, `datetime` or `string`.
    pub kind: String,
    /// The exact Arrow type.
    pub arrow_type: String,
    /// The value exactly (raw integer in epoch units for temporal types, or the string).
    pub exact: String,
    /// The value as ISO-8601 / decimal / text.
    pub display: String,
    /// Inclusive boundary: how many rows written have the watermark's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boundary_rows: Option<u64>,
    /// ... and their primary keys, when there are few enough to list (the checkpoint keeps
    /// a fingerprint of any number).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub boundary_keys: Vec<String>,
}

impl WatermarkReport {
    /// The report of a watermark.
    pub fn of(w: &crate::watermark::Watermark) -> Self {
        WatermarkReport {
            column: w.column.clone(),
            kind: w.kind().to_string(),
            arrow_type: w.data_type().to_string(),
            exact: w.exact(),
            display: w.display(),
            boundary_rows: None,
            boundary_keys: vec![],
        }
    }
}

/// Totals over a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunTotals {
    /// Entity flows in the run.
    pub entities: usize,
    /// Flows that succeeded.
    pub ok: usize,
    /// Flows that failed.
    pub failed: usize,
    /// Flows that read no rows.
    pub skipped: usize,
    /// Rows published.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Rows per second over the run's wall time.
    pub rows_per_sec: f64,
}

/// The report of a whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Unique id of the run.
    pub run_id: String,
    /// When the run started (UTC).
    pub started_at: DateTime<Utc>,
    /// Wall time in seconds.
    pub duration_secs: f64,
    /// Totals.
    pub totals: RunTotals,
    /// One report per entity flow, in the order they were planned.
    pub flows: Vec<FlowReport>,
}

impl RunReport {
    /// Builds the report and its totals.
    pub fn new(
        run_id: String,
        started_at: DateTime<Utc>,
        duration_secs: f64,
        flows: Vec<FlowReport>,
    ) -> Self {
        let mut totals = RunTotals {
            entities: flows.len(),
            ..RunTotals::default()
        };
        for f in &flows {
            match f.status {
                FlowStatus::Success => totals.ok += 1,
                FlowStatus::Skipped => totals.skipped += 1,
                FlowStatus::Failed => totals.failed += 1,
            }
            totals.rows += f.rows_written;
            totals.bytes += f.bytes;
        }
        totals.rows_per_sec = if duration_secs > 0.0 {
            totals.rows as f64 / duration_secs
        } else {
            0.0
        };
        RunReport {
            run_id,
            started_at,
            duration_secs,
            totals,
            flows,
        }
    }

    /// True when no flow failed and every journal entry was written.
    pub fn succeeded(&self) -> bool {
        self.totals.failed == 0 && self.flows.iter().all(|f| f.journal_error.is_none())
    }
}
