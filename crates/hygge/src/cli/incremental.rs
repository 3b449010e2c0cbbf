//! Incremental runs: where each entity starts (its journal's last watermark), and the
//! journal entry written when it finishes.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use hygge_core::{
    BoundaryKeys, Checkpoint, Event, FlowReport, FlowStatus, Observer, Position, RunType, Watermark,
};

use crate::journal::{JournalAt, JournalEntry, SCHEMA_VERSION, latest_watermark};
use crate::plan::EntityPlan;

/// Journals read during planning, each file (or object) once however many entities share
/// it.
#[derive(Default)]
pub struct Journals(HashMap<String, Result<Vec<JournalEntry>, String>>);

impl Journals {
    /// The entries of the journal kept at `at` (read on first use).
    pub fn read(&mut self, at: &JournalAt) -> Result<&[JournalEntry], String> {
        self.0
            .entry(at.describe())
            .or_insert_with(|| at.journal().read().map_err(|e| e.to_string()))
            .as_deref()
            .map_err(Clone::clone)
    }
}

/// Where one entity starts, as the journal says (the destination's checkpoint, read under
/// the entity's lock when the run opens it, wins over this).
#[derive(Debug, Clone)]
pub struct Start {
    /// The journal's last position (none: every row).
    pub position: Option<Position>,
    /// The run type after the journal was consulted (a changed watermark definition turns
    /// an incremental run into a full reload).
    pub run_type: RunType,
    /// A full reload hygge decided on: replaces even where `if_exists: append` is set.
    pub reload: bool,
    /// Why, for `--dry-run` and logs.
    pub note: String,
    /// The schema the entity's last successful run wrote (the journal's snapshot), the
    /// baseline of its schema drift check.
    pub schema: Option<arrow::datatypes::SchemaRef>,
}

/// The schema the last successful run of `p` wrote, from its journal (`None` without a
/// journal or a snapshot; a snapshot that cannot be read is logged and left out).
pub fn last_schema(p: &EntityPlan, journals: &mut Journals) -> Option<arrow::datatypes::SchemaRef> {
    let dir = p.journal.as_ref()?;
    let entries = journals.read(dir).ok()?;
    let text = entries
        .iter()
        .rev()
        .filter(|e| e.flow == p.flow && e.entity == p.entity && e.status == "success")
        .find_map(|e| e.arrow_schema.as_deref())?;
    let parsed = serde_json::from_str(text)
        .map_err(|e| e.to_string())
        .and_then(|v| hygge_core::schema::from_json(&v));
    match parsed {
        Ok(s) => Some(Arc::new(s)),
        Err(e) => {
            tracing::warn!(
                "{}: the journal's schema snapshot cannot be read ({e}); no drift check this run",
                p.name
            );
            None
        }
    }
}

/// The start of every incremental entity with a watermark and a journal; errors (an
/// unreadable journal, a stored watermark that cannot be parsed) stop the run: carrying on
/// would reload or skip rows silently.
pub fn start(p: &EntityPlan, journals: &mut Journals) -> Result<Start, String> {
    let plain = |note: &str| Start {
        position: None,
        run_type: p.run_type,
        reload: p.reload,
        note: note.to_string(),
        schema: None,
    };
    let (Some(wm), Some(dir)) = (&p.watermark, &p.journal) else {
        return Ok(plain(""));
    };
    if p.run_type == RunType::FullDrop {
        return Ok(plain(
            "full load (full_drop): every row; the watermark is recorded",
        ));
    }
    let mut journal = dir.describe();
    let entries = journals.read(dir).map_err(|e| format!("{}: {e}", p.name))?;
    let mut last = latest_watermark(entries, &p.flow, &p.entity).cloned();
    if last.is_none()
        && let Some(legacy) = &p.journal_legacy
        && legacy.join(crate::journal::JOURNAL_FILE).exists()
    {
        // A flow without entities whose journal the original kept inside its store folder.
        let legacy = JournalAt::Folder(legacy.clone());
        let entries = journals
            .read(&legacy)
            .map_err(|e| format!("{}: {e}", p.name))?;
        last = latest_watermark(entries, &p.flow, &p.entity).cloned();
        journal = legacy.describe();
    }
    let Some(last) = last else {
        return Ok(plain(
            "first incremental run: every row (unless the destination's checkpoint says otherwise)",
        ));
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
            position: None,
            run_type: RunType::FullDrop,
            reload: true,
            note,
            schema: None,
        });
    }
    let after = stored(&wm.watermark_column, &last).map_err(|e| {
        format!(
            "{}: the journal {} holds a watermark hygge cannot use ({e}); run with --full-drop to reload and start over",
            p.name, journal
        )
    })?;
    let inclusive = wm.boundary != Some(crate::config::model::Boundary::Strict);
    // Keys of the rows at the watermark, when the run that stored it kept them; without
    // them (the original's journals, `boundary: strict`) the next read is strictly after.
    let boundary = match &last.watermark_boundary_keys {
        Some(json) if inclusive => {
            let keys: Vec<String> = serde_json::from_str(json).map_err(|e| {
                format!(
                    "{}: the journal {} holds unreadable boundary keys ({e}); run with --full-drop to start over",
                    p.name, journal
                )
            })?;
            Some(BoundaryKeys::from_texts(keys))
        }
        _ => None,
    };
    let note = match &boundary {
        Some(b) => format!(
            "rows with {} >= {} (less {} already written at it)",
            wm.watermark_column,
            after.display(),
            b.rows()
        ),
        None => format!("rows with {} > {}", wm.watermark_column, after.display()),
    };
    Ok(Start {
        note,
        position: Some(Position { after, boundary }),
        run_type: p.run_type,
        reload: p.reload,
        schema: None,
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
/// event on. Before it, the entry of a run that published but was never journaled (its
/// process died in between), read from the checkpoint the destination held. A journal
/// that cannot be written is recorded as a failure of the run (the data is published and
/// its checkpoint with it, so the next run starts right; only the record is missing).
pub struct JournalObserver {
    inner: Arc<dyn Observer>,
    by_name: HashMap<String, (EntityPlan, RunType)>,
    project: String,
    run_id: String,
    failures: std::sync::Mutex<Vec<(String, String)>>,
    /// Entries to mirror (`mirror_journal`), with their entity's name.
    mirrored: std::sync::Mutex<Vec<(String, JournalEntry)>>,
}

/// A journal mirror's store, table and entries.
type Mirror = (Arc<dyn hygge_core::Store>, String, Vec<JournalEntry>);

/// The journal's ids: the first 128 bits of two hashes of the parts, as hex.
fn id(parts: &[&str]) -> String {
    let mut h1 = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h1);
    let mut h2 = std::collections::hash_map::DefaultHasher::new();
    (parts, "hygge").hash(&mut h2);
    format!("{:016x}{:016x}", h1.finish(), h2.finish())
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
            failures: Default::default(),
            mirrored: Default::default(),
        }
    }

    /// Entities whose journal entry could not be written, with why.
    pub fn failures(&self) -> Vec<(String, String)> {
        self.failures.lock().expect("lock").clone()
    }

    fn record(&self, r: &FlowReport) {
        let Some((p, _)) = self.by_name.get(&r.name) else {
            return;
        };
        let Some(dir) = &p.journal else { return };
        let finished =
            r.started_at + chrono::Duration::microseconds((r.duration_secs * 1e6) as i64);
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
            run_type: r.run_type.as_str().to_string(),
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
            // Listed only when every key is (never the journal's row count's worth).
            watermark_boundary_keys: wm
                .filter(|w| w.boundary_rows == Some(w.boundary_keys.len() as u64))
                .map(|w| serde_json::to_string(&w.boundary_keys).expect("strings serialise")),
            arrow_schema: r
                .schema
                .as_ref()
                .filter(|_| r.status != FlowStatus::Failed)
                .map(|s| hygge_core::schema::to_json(s)),
        };
        // The runs that published before this one, newest first: the journal records those
        // it lacks (each of them died, or could not write the journal, after publishing).
        let recovered: Vec<JournalEntry> = r
            .committed
            .as_ref()
            .filter(|c| c.flow == p.flow && c.entity == p.entity)
            .map(|c| c.chain().iter().map(|c| self.recovered(c)).collect())
            .unwrap_or_default();
        if p.store.journal_mirror().is_some() {
            // This run's entry (one recovered from a checkpoint would replace, by its
            // key, the entry its run may have written after all).
            let mut m = self.mirrored.lock().expect("lock");
            m.push((r.name.clone(), entry.clone()));
        }
        let result = hygge_core::failpoint::hit("journal.append")
            .map_err(|e| e.to_string())
            .and_then(|()| {
                let append = || {
                    dir.journal()
                        .append_unless_present(recovered.as_slice(), &[entry])
                        .map_err(|e| e.to_string())
                };
                // The append waits on a lock and rewrites a file: off the async workers.
                match tokio::runtime::Handle::try_current() {
                    Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                        tokio::task::block_in_place(append)
                    }
                    _ => append(),
                }
            });
        if let Err(e) = result {
            tracing::error!(
                "{}: published, but its journal entry could not be written ({e}); the destination's checkpoint keeps the position, so the next run neither skips nor repeats rows, and records the missing entry",
                r.name
            );
            self.failures
                .lock()
                .expect("lock")
                .push((r.name.clone(), e));
        }
    }

    /// `mirror_journal`: this run's entries of the entities whose store mirrors the journal,
    /// appended to each mirror's table (key `entity_run_id`, upserts: an entry sent again
    /// is the same row). A mirror that cannot be written is a warning, as the original
    /// treats journal writes: the data and the journal itself are published.
    pub async fn mirror_journal(&self) {
        let entries = std::mem::take(&mut *self.mirrored.lock().expect("lock"));
        let mut by_mirror: std::collections::BTreeMap<String, Mirror> = Default::default();
        for (name, e) in entries {
            let Some((p, _)) = self.by_name.get(&name) else {
                continue;
            };
            let Some((url, store, table)) = p.store.journal_mirror() else {
                continue;
            };
            by_mirror
                .entry(url)
                .or_insert_with(|| (store, table, vec![]))
                .2
                .push(e);
        }
        for (url, (store, table, entries)) in by_mirror {
            if let Err(e) = self.mirror_to(store, &table, &entries).await {
                tracing::warn!("the journal could not be mirrored to {url}: {e}");
            }
        }
    }

    async fn mirror_to(
        &self,
        store: Arc<dyn hygge_core::Store>,
        table: &str,
        entries: &[JournalEntry],
    ) -> Result<(), hygge_core::BoxError> {
        let batch = crate::journal::to_batch(entries)?;
        let started_at = chrono::Utc::now();
        let target = hygge_core::WriteTarget {
            flow: "__hygge".into(),
            entity: table.to_string(),
            flow_name: format!("__hygge_{table}"),
            run_type: RunType::Incremental,
            run_id: self.run_id.clone(),
        };
        let mut w = store.open(&target).await?;
        let publish = hygge_core::Publish {
            run_type: RunType::Incremental,
            reload: false,
            evolve: false,
        };
        if let Err(e) = w.begin(batch.schema(), publish).await {
            w.abort().await;
            return Err(e);
        }
        let rows = batch.num_rows() as u64;
        if let Err(e) = w.write(batch).await {
            w.abort().await;
            return Err(e);
        }
        let checkpoint = Checkpoint {
            hygge_checkpoint: hygge_core::checkpoint::VERSION,
            run_id: self.run_id.clone(),
            flow: target.flow.clone(),
            entity: target.entity.clone(),
            run_type: RunType::Incremental,
            started_at,
            published_at: chrono::Utc::now(),
            rows,
            watermark: None,
            previous: vec![],
        };
        w.finish(&checkpoint).await.map(|_| ())
    }

    /// The journal entry of the run that published `c`, rebuilt from the checkpoint (ids as
    /// that run would have written them).
    fn recovered(&self, c: &Checkpoint) -> JournalEntry {
        let start = c.started_at.to_rfc3339();
        let wm = c.watermark.as_ref();
        let watermark = wm.and_then(|w| Watermark::parse(&w.column, &w.arrow_type, &w.exact).ok());
        JournalEntry {
            entity_run_id: id(&[&self.project, &c.flow, &c.entity, &start]),
            coordinator_run_id: id(&[&self.project, &c.run_id]),
            flow_run_id: id(&[&self.project, &c.flow, &c.run_id]),
            coordinator: self.project.clone(),
            flow: c.flow.clone(),
            entity: c.entity.clone(),
            start_time: start,
            finish_time: c.published_at.to_rfc3339(),
            status: if c.rows == 0 { "skip" } else { "success" }.to_string(),
            run_type: c.run_type.as_str().to_string(),
            row_count: c.rows as i64,
            duration: (c.published_at - c.started_at).num_microseconds().unwrap_or(0) as f64 / 1e6,
            primary_key: wm.map(|w| w.primary_key.clone()),
            watermark_column: wm.map(|w| w.column.clone()),
            watermark_type: watermark.as_ref().map(|w| w.kind().to_string()),
            watermark: wm.map(|w| w.display.clone()),
            message: Some(
                "recorded from the destination's checkpoint: the run published, but stopped before writing this entry".into(),
            ),
            schema_version: SCHEMA_VERSION.to_string(),
            source_row_count: Some(c.rows as i64),
            destination_row_count: Some(c.rows as i64),
            bytes: None,
            watermark_arrow_type: wm.map(|w| w.arrow_type.clone()),
            watermark_exact: wm.map(|w| w.exact.clone()),
            watermark_boundary_keys: wm
                .and_then(|w| w.boundary.as_ref())
                .and_then(|b| b.keys.as_ref())
                .map(|k| serde_json::to_string(k).expect("strings serialise")),
            arrow_schema: None,
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
