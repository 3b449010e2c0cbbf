//! Incremental runs: where each entity starts (its journal's last watermark), and the
//! journal entry written when it finishes.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use hygge_core::{Event, FlowReport, FlowStatus, Observer, RunType, Watermark};

use crate::journal::{Journal, JournalEntry, SCHEMA_VERSION, latest_watermark};
use crate::plan::EntityPlan;

/// Journals read during planning, each file once however many entities share it.
#[derive(Default)]
pub struct Journals(HashMap<std::path::PathBuf, Result<Vec<JournalEntry>, String>>);

impl Journals {
    /// The entries of the journal in `dir` (read on first use).
    pub fn read(&mut self, dir: &std::path::Path) -> Result<&[JournalEntry], String> {
        self.0
            .entry(dir.to_path_buf())
            .or_insert_with(|| Journal::at(dir).read().map_err(|e| e.to_string()))
            .as_deref()
            .map_err(Clone::clone)
    }
}

/// Where one entity starts.
#[derive(Debug, Clone)]
pub struct Start {
    /// Rows after this are read (none: every row).
    pub after: Option<Watermark>,
    /// Inclusive boundary: keys of the rows at `after` already written.
    pub seen: std::collections::BTreeSet<String>,
    /// The run type after the journal was consulted (a changed watermark definition turns
    /// an incremental run into a full reload).
    pub run_type: RunType,
    /// Why, for `--dry-run` and logs.
    pub note: String,
}

/// The start of every incremental entity with a watermark and a journal; errors (an
/// unreadable journal, a stored watermark that cannot be parsed) stop the run: carrying on
/// would reload or skip rows silently.
pub fn start(p: &EntityPlan, journals: &mut Journals) -> Result<Start, String> {
    let plain = |note: &str| Start {
        after: None,
        seen: Default::default(),
        run_type: p.run_type,
        note: note.to_string(),
    };
    let (Some(wm), Some(dir)) = (&p.watermark, &p.journal) else {
        return Ok(plain(""));
    };
    if p.run_type == RunType::FullDrop {
        return Ok(plain(
            "full load (full_drop): every row; the watermark is recorded",
        ));
    }
    let journal = Journal::at(dir);
    let entries = journals.read(dir).map_err(|e| format!("{}: {e}", p.name))?;
    let Some(last) = latest_watermark(entries, &p.flow, &p.entity).cloned() else {
        return Ok(plain("first incremental run: every row"));
    };
    if last.primary_key.as_deref() != Some(wm.primary_key.as_str())
        || last.watermark_column.as_deref() != Some(wm.watermark_column.as_str())
    {
        let note = format!(
            "the watermark changed since the last run (journal: primary_key {:?}, watermark_column {:?}; now {:?}, {:?}): full reload, replacing the destination",
            last.primary_key, last.watermark_column, wm.primary_key, wm.watermark_column
        );
        // Said before logging starts (this runs while planning), so printed directly.
        eprintln!("warning: {}: {note}", p.name);
        return Ok(Start {
            after: None,
            seen: Default::default(),
            run_type: RunType::FullDrop,
            note,
        });
    }
    let after = stored(&wm.watermark_column, &last).map_err(|e| {
        format!(
            "{}: the journal {} holds a watermark hygge cannot use ({e}); run with --full-drop to reload and start over",
            p.name,
            journal.path().display()
        )
    })?;
    let inclusive = wm.boundary == Some(crate::config::model::Boundary::Inclusive);
    let seen: std::collections::BTreeSet<String> = match (&last.watermark_boundary_keys, inclusive)
    {
        (Some(json), true) => serde_json::from_str(json).map_err(|e| {
            format!(
                "{}: the journal {} holds unreadable boundary keys ({e}); run with --full-drop to start over",
                p.name,
                journal.path().display()
            )
        })?,
        _ => Default::default(),
    };
    let note = if inclusive {
        format!(
            "rows with {} >= {} (less {} already written at it)",
            wm.watermark_column,
            after.display(),
            seen.len()
        )
    } else {
        format!("rows with {} > {}", wm.watermark_column, after.display())
    };
    Ok(Start {
        note,
        after: Some(after),
        seen,
        run_type: p.run_type,
    })
}

/// The watermark of a journal entry: exact (hygge's columns), or from the original's
/// `watermark_type`/`watermark` text.
fn stored(column: &str, e: &JournalEntry) -> Result<Watermark, String> {
    if let (Some(t), Some(x)) = (&e.watermark_arrow_type, &e.watermark_exact) {
        return Watermark::parse(column, t, x);
    }
    let text = e.watermark.as_deref().unwrap_or_default();
    match e.watermark_type.as_deref() {
        Some("int") => Watermark::parse(column, "Int64", text),
        Some("string") => Watermark::parse(column, "Utf8", text),
        Some("datetime") => {
            let t = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
                .map_err(|e| format!("datetime `{text}`: {e}"))?;
            let micros = t.and_utc().timestamp_micros();
            Watermark::parse(column, "Timestamp(µs)", &micros.to_string()).or_else(|_| {
                Watermark::parse(column, "Timestamp(Microsecond, None)", &micros.to_string())
            })
        }
        other => Err(format!("unknown watermark_type {other:?}")),
    }
}

/// Appends a journal entry for every finished entity that has a journal, then passes the
/// event on. A journal that cannot be written is reported loudly (the data is published
/// already; the next incremental run would read those rows again).
pub struct JournalObserver {
    inner: Arc<dyn Observer>,
    by_name: HashMap<String, (EntityPlan, RunType)>,
    project: String,
    run_id: String,
}

impl JournalObserver {
    /// Wraps `inner`.
    pub fn new(
        inner: Arc<dyn Observer>,
        plans: &[(EntityPlan, RunType)],
        project: &str,
        run_id: &str,
    ) -> Self {
        JournalObserver {
            inner,
            by_name: plans
                .iter()
                .filter(|(p, _)| p.journal.is_some())
                .map(|(p, r)| (p.name.clone(), (p.clone(), *r)))
                .collect(),
            project: project.to_string(),
            run_id: run_id.to_string(),
        }
    }

    fn record(&self, r: &FlowReport) {
        let Some((p, run_type)) = self.by_name.get(&r.name) else {
            return;
        };
        let Some(dir) = &p.journal else { return };
        let finished =
            r.started_at + chrono::Duration::microseconds((r.duration_secs * 1e6) as i64);
        let id = |parts: &[&str]| {
            let mut h1 = std::collections::hash_map::DefaultHasher::new();
            parts.hash(&mut h1);
            let mut h2 = std::collections::hash_map::DefaultHasher::new();
            (parts, "hygge").hash(&mut h2);
            format!("{:016x}{:016x}", h1.finish(), h2.finish())
        };
        let start = r.started_at.to_rfc3339();
        let wm = r.watermark.as_ref();
        let entry = JournalEntry {
            entity_run_id: id(&[&self.project, &p.flow, &p.entity, &start]),
            coordinator_run_id: id(&[&self.project, &self.run_id]),
            flow_run_id: id(&[&self.project, &p.flow, &self.run_id]),
            coordinator: self.project.clone(),
            flow: p.flow.clone(),
            entity: p.entity.clone(),
            start_time: start,
            finish_time: finished.to_rfc3339(),
            status: match r.status {
                FlowStatus::Success => "success",
                FlowStatus::Failed => "fail",
                FlowStatus::Skipped => "skip",
            }
            .to_string(),
            run_type: run_type.as_str().to_string(),
            row_count: r.rows_written as i64,
            duration: r.duration_secs,
            primary_key: p.watermark.as_ref().map(|w| w.primary_key.clone()),
            watermark_column: p.watermark.as_ref().map(|w| w.watermark_column.clone()),
            watermark_type: wm.map(|w| w.kind.clone()),
            watermark: wm.map(|w| w.display.clone()),
            message: r.error.clone(),
            schema_version: SCHEMA_VERSION.to_string(),
            source_row_count: Some(r.rows_read as i64),
            destination_row_count: Some(r.rows_written as i64),
            bytes: Some(r.bytes as i64),
            watermark_arrow_type: wm.map(|w| w.arrow_type.clone()),
            watermark_exact: wm.map(|w| w.exact.clone()),
            watermark_boundary_keys: wm
                .filter(|w| !w.boundary_keys.is_empty())
                .map(|w| serde_json::to_string(&w.boundary_keys).expect("strings serialise")),
        };
        if let Err(e) = Journal::at(dir).append(&[entry]) {
            tracing::error!(
                "{}: the run is published but its journal entry could not be written ({e}); the next incremental run will read these rows again",
                r.name
            );
        }
    }
}

impl Observer for JournalObserver {
    fn on_event(&self, event: Event<'_>) {
        if let Event::FlowFinished { report, .. } = &event {
            self.record(report);
        }
        self.inner.on_event(event);
    }
}
