//! The Open Mirroring store: a table of a Fabric mirrored database's landing zone.
//!
//! ```text
//! <mirror>/Files/LandingZone/
//!   _partnerEvents.json                  written once, if partner_name is set
//!   [<schema>.schema/]<table>/           THE TABLE FOLDER, as Fabric reads it
//!     _metadata.json                     keyColumns (+ detection strategy, upsert default)
//!     _schema.json                       the columns written, with Fabric's types
//!     00000000000000000001.parquet ...   data files (or <UTC time>_<NNNNNN>.parquet)
//! <mirror>/Files/_hygge/[<schema>.schema/]<table>/
//!   state.json                           THE COMMIT POINT: last sequence, checkpoint,
//!                                        and a publish in progress (its files, in order)
//!   _hygge/lock.json                     one writer per table (the cloud store's lease)
//!   staging/<run id>/<final name>        a run's files while it writes
//! ```
//!
//! A run encodes its files locally and uploads each, whole, to its staging folder under
//! its final name (sequence numbers given in order, after the highest the table folder
//! or the state has seen). Then it commits: `state.json` (a put conditional on its ETag)
//! records the files to publish, in order, with the run's checkpoint. Then it publishes:
//! a rebuild (`full_drop`) deletes the table folder (Fabric drops the table), waits
//! `folder_deletion_wait_seconds`, and starts the sequence again at `starting_sequence`;
//! `_metadata.json` and `_schema.json` go in first, then each data file is copied into
//! place (a copy that never overwrites: a whole object appears, or nothing) and its
//! staged copy deleted; the state then drops the publish. A run that stops after the
//! commit (a crash, a lost connection) is finished by the next run before it does
//! anything else, from the staged files and the state: every file lands once, in order,
//! with no gap and no number reused. A run that stops before the commit leaves the table
//! as it was; its staging is deleted by the next run.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hygge_core::{
    BoxError, Checkpoint, Publish, RunType, Store, StoreWriter, WriteReport, WriteTarget,
};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};

use super::config::{LANDING_ZONE, OpenMirroringSettings};
use super::landing::{self, Columns, METADATA, PARTNER_EVENTS, SCHEMA};
use crate::cloud::CloudStore;
use crate::cloud::store::{Ctx, Done, Encoder, Lock, blocking, cleanup_on_drop};

/// The state object, in the table's hygge folder.
const STATE: &str = "state.json";
/// Runs' staged files, in the table's hygge folder.
const STAGING: &str = "staging";

/// A validated Open Mirroring store.
#[derive(Debug, Clone)]
pub struct OpenMirroringStore {
    s: Arc<OpenMirroringSettings>,
    cloud: CloudStore,
}

impl OpenMirroringStore {
    /// A store with validated settings (nothing is contacted until a run opens it).
    pub fn new(settings: OpenMirroringSettings) -> Self {
        let cloud = CloudStore::new(settings.cloud.clone());
        OpenMirroringStore {
            s: Arc::new(settings),
            cloud,
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &OpenMirroringSettings {
        &self.s
    }

    /// The table folder of `entity`.
    pub fn table(&self, entity: &str) -> String {
        self.s.cloud.prefix(entity)
    }

    /// hygge's folder for `entity`'s table (state, lock, staging), outside the landing
    /// zone.
    pub fn hygge_dir(&self, entity: &str) -> String {
        let table = self.table(entity);
        let lz = format!("{}/{LANDING_ZONE}/", self.s.mirror);
        let rel = table.strip_prefix(&lz).unwrap_or(&table);
        format!("{}/Files/_hygge/{rel}", self.s.mirror)
    }

    /// The journal's folder (`journal: {location: store}`), as the original keeps it.
    pub fn journal_prefix(&self) -> String {
        format!("{}/Files/.hygge_journal", self.s.mirror)
    }

    /// With `mirror_journal`: the store of the journal's table
    /// (`Files/LandingZone/__hygge.schema/<journal_table_name>/`, key `entity_run_id`,
    /// marker 4: an entry sent twice is the same row), and that table's name.
    pub fn journal_table(&self) -> Option<(OpenMirroringStore, String)> {
        let table = self.s.mirror_journal.as_ref()?;
        let mut s = (*self.s).clone();
        s.cloud.path = format!("{}/{LANDING_ZONE}/__hygge.schema/{table}", s.mirror);
        s.cloud.entity_folder = false;
        s.cloud.incremental = None;
        s.key_columns = vec!["entity_run_id".into()];
        s.row_marker = 4;
        s.polish = None;
        s.partner = None;
        s.starting_sequence = 1;
        s.mirror_journal = None;
        Some((OpenMirroringStore::new(s), table.clone()))
    }

    /// One line for plans.
    pub fn summary(&self, entity: &str) -> String {
        let s = &self.s;
        let url = s.cloud.location.url_of(&self.table(entity));
        let detection = match s.detection {
            super::config::FileDetection::Timestamp => "timestamp",
            super::config::FileDetection::Sequential => "sequential",
        };
        let polish = (s.polish.as_ref())
            .map(|p| format!("; polish: {}", p.summary()))
            .unwrap_or_default();
        format!(
            "open_mirroring (keys {}, row marker {}, {detection} file names, {} rows per file; {}{polish}) {url}/",
            s.key_columns.join(", "),
            s.row_marker,
            s.cloud.rows_per_file,
            s.cloud.location.credential_source(),
        )
    }

    /// What a run would do (contacts nothing).
    pub fn preview(&self, entity: &str, run_type: RunType) -> String {
        let url = self.s.cloud.location.url_of(&self.table(entity));
        match self.s.cloud.run_type(run_type, false) {
            RunType::FullDrop => format!(
                "rebuilds the mirrored table {url}/: deletes the folder once the new files are staged, waits {}s for Fabric to drop the table, then publishes _metadata.json and the files from sequence {}",
                self.s.wait.as_secs_f64(),
                self.s.starting_sequence
            ),
            RunType::Incremental => {
                format!("appends new files to {url}/ (continuing the sequence)")
            }
        }
    }

    /// For `hygge debug`: writes, reads and deletes a probe object in the table's hygge
    /// folder.
    pub async fn probe(&self, entity: &str) -> Result<Vec<String>, BoxError> {
        let ctx = self.cloud.ctx()?;
        let lines = crate::cloud::probe::probe(
            &self.s.cloud.location,
            ctx.client.as_ref(),
            &self.hygge_dir(entity),
            crate::cloud::probe::Access::ReadWrite,
        )
        .await?;
        Ok(lines)
    }
}

/// The content of `state.json`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct StateDoc {
    hygge_open_mirroring: u32,
    /// The highest sequence number given to a file of this table.
    last_sequence: u64,
    /// The checkpoint of the last committed run.
    #[serde(default)]
    checkpoint: Option<serde_json::Value>,
    /// A committed run's publish, not yet finished.
    #[serde(default)]
    pending: Option<Pending>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Pending {
    run_id: String,
    /// A full_drop: the table folder is deleted first.
    rebuild: bool,
    /// When the table folder was deleted (a rebuild's wait runs from here).
    #[serde(default)]
    deleted_at: Option<DateTime<Utc>>,
    /// Metadata objects to put in place before the data.
    meta: Vec<String>,
    /// Data files, in the order they are published.
    files: Vec<String>,
}

/// `state.json` as read, with its ETag.
#[derive(Default)]
struct Stored {
    doc: StateDoc,
    e_tag: Option<String>,
    exists: bool,
    /// The checkpoint as text, for the engine.
    checkpoint: Option<String>,
}

fn state_key(hygge: &str) -> Key {
    Ctx::key(hygge, STATE)
}

async fn read_state(ctx: &Ctx, hygge: &str) -> Result<Stored, BoxError> {
    let key = state_key(hygge);
    let got = match ctx.client.get(&key).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(Stored::default()),
        Err(e) => return Err(ctx.err("read", key.as_ref(), e)),
    };
    let e_tag = got.meta.e_tag.clone();
    let bytes = (got.bytes().await).map_err(|e| ctx.err("read", key.as_ref(), e))?;
    let doc: StateDoc = serde_json::from_slice(&bytes).map_err(|e| {
        ctx.err(
            "read",
            key.as_ref(),
            format!("{e}: this is hygge's record of the table's sequence and checkpoint; restore it, or delete it and run with --full-drop"),
        )
    })?;
    let checkpoint = doc.checkpoint.as_ref().map(|c| c.to_string());
    Ok(Stored {
        doc,
        e_tag,
        exists: true,
        checkpoint,
    })
}

/// Writes the state, conditional on the version read (or on there being none).
async fn put_state(ctx: &Ctx, hygge: &str, st: &mut Stored) -> Result<(), BoxError> {
    let key = state_key(hygge);
    let body = Bytes::from(serde_json::to_vec_pretty(&st.doc).expect("state serialises"));
    let mode = match (&st.e_tag, st.exists) {
        (_, false) => PutMode::Create,
        (Some(t), true) => PutMode::Update(UpdateVersion {
            e_tag: Some(t.clone()),
            version: None,
        }),
        (None, true) => PutMode::Overwrite,
    };
    match ctx.client.put_opts(&key, body.into(), mode.into()).await {
        Ok(r) => {
            st.e_tag = r.e_tag;
            st.exists = true;
            st.checkpoint = st.doc.checkpoint.as_ref().map(|c| c.to_string());
            Ok(())
        }
        Err(
            e @ (object_store::Error::Precondition { .. }
            | object_store::Error::AlreadyExists { .. }),
        ) => Err(ctx.err(
            "update",
            key.as_ref(),
            format!("{e} (it changed during this run: another writer?)"),
        )),
        Err(e) => Err(ctx.err("update", key.as_ref(), e)),
    }
}

/// Reads a small JSON object (None: there is none).
async fn read_json(ctx: &Ctx, key: &Key) -> Result<Option<serde_json::Value>, BoxError> {
    match ctx.client.get(key).await {
        Ok(g) => {
            let bytes = (g.bytes().await).map_err(|e| ctx.err("read", key.as_ref(), e))?;
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ctx.err("read", key.as_ref(), format!("not JSON: {e}")))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(ctx.err("read", key.as_ref(), e)),
    }
}

/// Moves a staged object into place without ever overwriting one: a copy that fails if
/// the target exists, then the staged copy is deleted. Done before (a crash between the
/// copy and the delete) counts as done when the target is the same size.
async fn move_into_place(ctx: &Ctx, from: &Key, to: &Key) -> Result<(), BoxError> {
    match ctx.client.copy_if_not_exists(from, to).await {
        Ok(()) => {}
        Err(object_store::Error::AlreadyExists { .. }) => {
            let (a, b) = (ctx.client.head(from).await, ctx.client.head(to).await);
            match (a, b) {
                (Ok(a), Ok(b)) if a.size == b.size => {}
                (Err(object_store::Error::NotFound { .. }), Ok(_)) => return Ok(()),
                _ => {
                    return Err(ctx.err(
                        "publish",
                        to.as_ref(),
                        "it already exists and is not the file staged for it; the landing zone never overwrites a file: move it away (or rebuild the table with --full-drop)",
                    ));
                }
            }
        }
        Err(object_store::Error::NotFound { .. }) => {
            // Moved before a crash (staged copy already deleted)?
            return match ctx.client.head(to).await {
                Ok(_) => Ok(()),
                Err(_) => Err(ctx.err(
                    "publish",
                    to.as_ref(),
                    format!(
                        "its staged file {} is gone; the publish cannot be finished: rebuild the table with --full-drop",
                        ctx.s.location.url_of(from.as_ref())
                    ),
                )),
            };
        }
        Err(e) => return Err(ctx.err("publish", to.as_ref(), e)),
    }
    ctx.delete(from).await
}

/// Deletes every object below `prefix`.
async fn delete_all(ctx: &Ctx, prefix: &str) -> Result<usize, BoxError> {
    let names = ctx.list(prefix).await?;
    for (n, _) in &names {
        ctx.delete(&Ctx::key(prefix, n)).await?;
    }
    Ok(names.len())
}

/// Finishes the committed publish the state records (a no-op without one).
async fn complete(
    ctx: &Ctx,
    s: &OpenMirroringSettings,
    table: &str,
    hygge: &str,
    st: &mut Stored,
) -> Result<(), BoxError> {
    let Some(p) = st.doc.pending.clone() else {
        return Ok(());
    };
    let staging = format!("{hygge}/{STAGING}/{}", p.run_id);
    let url = ctx.s.location.url_of(table);
    if p.rebuild && p.deleted_at.is_none() {
        let n = delete_all(ctx, table).await?;
        tracing::info!("deleted the table folder {url}/ ({n} objects): Fabric drops the table");
        hygge_core::failpoint::hit("om.deleted")?;
        if let Some(p) = st.doc.pending.as_mut() {
            p.deleted_at = Some(Utc::now());
        }
        put_state(ctx, hygge, st).await?;
    }
    if p.rebuild {
        let deleted = (st.doc.pending.as_ref())
            .and_then(|p| p.deleted_at)
            .unwrap_or_else(Utc::now);
        let until = deleted + chrono::Duration::from_std(s.wait).unwrap_or_default();
        let left = (until - Utc::now()).to_std().unwrap_or_default();
        if !left.is_zero() {
            tracing::info!(
                "waiting {:.0}s for Fabric to drop the table before publishing it again (folder_deletion_wait_seconds)",
                left.as_secs_f64()
            );
            tokio::time::sleep(left).await;
        }
    }
    for name in p.meta.iter().chain(p.files.iter()) {
        let (from, to) = (Ctx::key(&staging, name), Ctx::key(table, name));
        move_into_place(ctx, &from, &to).await?;
        hygge_core::failpoint::hit("om.moved")?;
    }
    st.doc.pending = None;
    put_state(ctx, hygge, st).await?;
    if let Err(e) = delete_all(ctx, &staging).await {
        tracing::warn!("published, but could not remove the staging: {e}");
    }
    Ok(())
}

#[async_trait]
impl Store for OpenMirroringStore {
    fn kind(&self) -> &'static str {
        "open_mirroring"
    }

    fn describe(&self, entity: &str) -> String {
        self.s.cloud.location.url_of(&self.table(entity))
    }

    async fn check(&self, entity: &str) -> Result<(), BoxError> {
        self.probe(entity).await.map(|_| ())
    }

    async fn open(&self, target: &WriteTarget) -> Result<Box<dyn StoreWriter>, BoxError> {
        let ctx = self.cloud.ctx()?;
        let (table, hygge) = (self.table(&target.entity), self.hygge_dir(&target.entity));
        let lock = Lock::acquire(&ctx, &hygge, &target.run_id).await?;
        let opened = async {
            let mut st = read_state(&ctx, &hygge).await?;
            if let Some(p) = &st.doc.pending {
                tracing::warn!(
                    "finishing the publish of run {}, which stopped after committing, in {}/",
                    p.run_id,
                    ctx.s.location.url_of(&table)
                );
                if let Err(e) = complete(&ctx, &self.s, &table, &hygge, &mut st).await {
                    let rebuild = self.s.cloud.run_type(target.run_type, false) == RunType::FullDrop;
                    if !rebuild {
                        return Err(BoxError::from(format!(
                            "an earlier run committed files it did not finish publishing, and they cannot be published now: {e}; a run with --full-drop rebuilds the table without them"
                        )));
                    }
                    // This run rebuilds the whole table: the unfinished publish is dropped.
                    tracing::warn!(
                        "the unfinished publish cannot be completed ({e}); this full_drop rebuilds the table instead"
                    );
                    st = read_state(&ctx, &hygge).await?;
                    st.doc.pending = None;
                    put_state(&ctx, &hygge, &mut st).await?;
                }
            }
            // Runs that never committed: their staging goes.
            delete_all(&ctx, &format!("{hygge}/{STAGING}")).await?;
            Ok::<_, BoxError>(st)
        }
        .await;
        match opened {
            Ok(st) => Ok(Box::new(OmWriter {
                ctx,
                s: self.s.clone(),
                table,
                hygge,
                target: target.clone(),
                lock: Some(lock),
                st,
                run: None,
                done: false,
            })),
            Err(e) => {
                lock.release(&ctx).await;
                Err(e)
            }
        }
    }
}

/// How each batch becomes the rows written: polish, then the landing zone's columns.
struct Shape {
    polish: Option<crate::polish::PolishPlan>,
    columns: Columns,
    /// The table folder's URL, for messages.
    url: std::path::PathBuf,
}

impl Shape {
    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch, crate::error::FileError> {
        use crate::error::FileError;
        let polished = match &self.polish {
            Some(p) => p.apply(&batch).map_err(|source| FileError::Polish {
                path: self.url.clone(),
                source,
            })?,
            None => batch,
        };
        (self.columns.apply(&polished)).map_err(|e| FileError::Write {
            path: self.url.clone(),
            source: e.into(),
        })
    }
}

/// What `begin` settles.
struct Run {
    rebuild: bool,
    /// Applied on the blocking pool with the encoding.
    shape: Arc<Shape>,
    encoder: Option<Encoder>,
    /// The next sequence number.
    next: u64,
    /// Metadata objects to stage, with their content.
    meta: Vec<(String, Bytes)>,
    /// Data files staged, in order.
    staged: Vec<String>,
    bytes: u64,
}

struct OmWriter {
    ctx: Ctx,
    s: Arc<OpenMirroringSettings>,
    table: String,
    hygge: String,
    target: WriteTarget,
    lock: Option<Lock>,
    st: Stored,
    run: Option<Run>,
    done: bool,
}

impl OmWriter {
    fn staging(&self) -> String {
        format!("{}/{STAGING}/{}", self.hygge, self.target.run_id)
    }

    fn url(&self) -> String {
        self.ctx.s.location.url_of(&self.table)
    }

    fn run(&mut self) -> Result<&mut Run, BoxError> {
        self.run
            .as_mut()
            .ok_or_else(|| BoxError::from("write before begin (a bug in hygge)"))
    }

    async fn begin_run(&mut self, schema: SchemaRef, publish: Publish) -> Result<Run, BoxError> {
        let s = self.s.clone();
        let url = self.url();
        let bad = |e: String| BoxError::from(format!("cannot write {url}: {e}"));
        let run_type = s.cloud.run_type(publish.run_type, publish.reload);
        let rebuild = run_type == RunType::FullDrop;
        let polish = match &s.polish {
            Some(p) => Some(p.plan(&schema).map_err(|e| bad(e.to_string()))?),
            None => None,
        };
        let polished = polish.as_ref().map_or(schema, |p| p.schema().clone());
        // Key columns are named as the source names them; polish may rename them.
        let rules = s.polish.as_ref().map(|p| p.config().columns.clone());
        let keys: Vec<String> = (s.key_columns.iter())
            .map(|k| match &rules {
                Some(r) if r.any() && polished.field_with_name(k).is_err() => r.rename(k),
                _ => k.clone(),
            })
            .collect();
        let columns = Columns::plan(&polished, &keys, s.row_marker, Utc::now()).map_err(bad)?;
        crate::format::parquet::storable_schema(columns.schema()).map_err(bad)?;
        let listed = self.ctx.list(&self.table).await?;
        let meta_key = Ctx::key(&self.table, landing::METADATA);
        let existing = read_json(&self.ctx, &meta_key).await?;
        let existing_keys = existing.as_ref().and_then(landing::key_columns_of);
        if !rebuild
            && let Some(old) = &existing_keys
            && *old != keys
        {
            return Err(bad(format!(
                "its _metadata.json has keyColumns [{}] but key_columns gives [{}]; a mirrored table's keys cannot change: rebuild it (run with --full-drop), or keep its keys",
                old.join(", "),
                keys.join(", ")
            )));
        }
        if rebuild
            && let Some((name, _)) = listed.iter().find(|(n, _)| {
                !(n.starts_with('_')
                    || landing::sequence_of(super::config::FileDetection::Sequential, n).is_some()
                    || landing::sequence_of(super::config::FileDetection::Timestamp, n).is_some())
            })
        {
            return Err(bad(format!(
                "it holds {name}, which is not a landing zone file hygge names; a full_drop deletes the table folder, so move it or point the store at another table"
            )));
        }
        let next = if rebuild {
            s.starting_sequence
        } else {
            let listed_max = (listed.iter())
                .filter_map(|(n, _)| landing::sequence_of(s.detection, n))
                .max()
                .unwrap_or(0);
            listed_max
                .max(self.st.doc.last_sequence)
                .max(s.starting_sequence - 1)
                + 1
        };
        let json = |v: &serde_json::Value| {
            Bytes::from(serde_json::to_vec_pretty(v).expect("JSON serialises"))
        };
        let mut meta = vec![];
        if rebuild || existing.is_none() {
            let m = landing::metadata(&keys, s.detection, s.row_marker);
            meta.push((METADATA.to_string(), json(&m)));
        }
        let has_schema = listed.iter().any(|(n, _)| n == SCHEMA);
        if rebuild || !has_schema {
            meta.push((
                SCHEMA.to_string(),
                json(&landing::schema_doc(columns.schema())),
            ));
        }
        let encoder = Encoder::new(
            Arc::new(s.cloud.clone()),
            columns.schema().clone(),
            None,
            url.clone(),
            crate::files::store::store_name(&self.target.flow_name),
            self.target.flow_name.clone(),
            1,
        )?;
        Ok(Run {
            rebuild,
            shape: Arc::new(Shape {
                polish,
                columns,
                url: url.into(),
            }),
            encoder: Some(encoder),
            next,
            meta,
            staged: vec![],
            bytes: 0,
        })
    }

    /// Uploads completed files to staging under their final names, in order.
    async fn upload(&mut self, done: Vec<Done>) -> Result<(), BoxError> {
        let staging = self.staging();
        let detection = self.s.detection;
        for d in done {
            let run = self.run()?;
            let name = landing::file_name(detection, run.next, Utc::now());
            run.next += 1;
            let key = Ctx::key(&staging, &name);
            let n = self.ctx.upload(&key, &d.path).await?;
            let _ = tokio::fs::remove_file(&d.path).await;
            let run = self.run()?;
            run.bytes += n;
            run.staged.push(name);
        }
        Ok(())
    }

    async fn encode(
        &mut self,
        f: impl FnOnce(&mut Encoder) -> Result<Vec<Done>, crate::error::FileError> + Send + 'static,
    ) -> Result<(), BoxError> {
        let run = self.run()?;
        let mut enc = run
            .encoder
            .take()
            .ok_or_else(|| BoxError::from("write after finish (a bug in hygge)"))?;
        let (enc, done) = blocking(move || f(&mut enc).map(|d| (enc, d))).await?;
        self.run()?.encoder = Some(enc);
        self.upload(done).await
    }

    /// Deletes this run's staging and releases the lock (nothing was committed).
    async fn discard(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        if let Err(e) = delete_all(&self.ctx, &self.staging()).await {
            tracing::warn!("{e}");
        }
        if let Some(lock) = self.lock.take() {
            lock.release(&self.ctx).await;
        }
    }

    /// `_partnerEvents.json`, once per mirrored database; another partner's is kept.
    async fn partner_events(&mut self) -> Result<(), BoxError> {
        let Some(doc) = &self.s.partner else {
            return Ok(());
        };
        let key = Ctx::key(&format!("{}/{LANDING_ZONE}", self.s.mirror), PARTNER_EVENTS);
        let body = Bytes::from(serde_json::to_vec_pretty(doc).expect("JSON serialises"));
        match (self.ctx.client)
            .put_opts(&key, body.into(), PutOptions::from(PutMode::Create))
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => {
                let now = read_json(&self.ctx, &key).await?;
                let theirs = now.as_ref().and_then(|d| d.get("partnerName")).cloned();
                if theirs.as_ref() != doc.get("partnerName") {
                    tracing::warn!(
                        "{} names partner {} (not {}): kept as it is (Fabric wants one partner name per mirrored database)",
                        self.ctx.s.location.url_of(key.as_ref()),
                        theirs.map_or("none".into(), |t| t.to_string()),
                        doc["partnerName"]
                    );
                }
                Ok(())
            }
            Err(e) => Err(self.ctx.err("write", key.as_ref(), e)),
        }
    }

    async fn finish_run(&mut self, checkpoint: &Checkpoint) -> Result<WriteReport, BoxError> {
        let run = self.run()?;
        let mut enc = (run.encoder.take())
            .ok_or_else(|| BoxError::from("finish before begin (a bug in hygge)"))?;
        let (enc, last) = blocking(move || enc.close().map(|d| (enc, d))).await?;
        let rows = enc.rows;
        self.upload(last.into_iter().collect()).await?;
        let run = self.run()?;
        let rebuild = run.rebuild;
        if rows == 0 && !rebuild {
            // Nothing new: the table and its checkpoint stay as they are.
            self.discard().await;
            return Ok(self.report(0, vec![]));
        }
        let staging = self.staging();
        let meta = std::mem::take(&mut self.run()?.meta);
        let mut meta_names = vec![];
        for (name, body) in meta {
            let key = Ctx::key(&staging, &name);
            (self.ctx.client.put(&key, body.into()).await)
                .map_err(|e| self.ctx.err("write", key.as_ref(), e))?;
            meta_names.push(name);
        }
        self.partner_events().await?;
        hygge_core::failpoint::hit("om.staged")?;
        if self
            .lock
            .as_ref()
            .is_some_and(|l| l.lost.load(Ordering::SeqCst))
        {
            return Err(BoxError::from(format!(
                "lost the lock of {} while writing (it could not be renewed); nothing was published",
                self.url()
            )));
        }
        let run = self.run.as_ref().expect("begun");
        let files = run.staged.clone();
        let last_sequence = run.next - 1;
        let bytes = run.bytes;
        self.st.doc = StateDoc {
            hygge_open_mirroring: 1,
            last_sequence,
            checkpoint: Some(serde_json::to_value(checkpoint).expect("a checkpoint serialises")),
            pending: Some(Pending {
                run_id: self.target.run_id.clone(),
                rebuild,
                deleted_at: None,
                meta: meta_names,
                files: files.clone(),
            }),
        };
        put_state(&self.ctx, &self.hygge, &mut self.st).await?;
        // Committed: from here the publish is finished, now or by the next run.
        self.done = true;
        let published = match hygge_core::failpoint::hit("om.committed") {
            Ok(()) => complete(&self.ctx, &self.s, &self.table, &self.hygge, &mut self.st).await,
            Err(e) => Err(BoxError::from(e)),
        };
        if let Some(lock) = self.lock.take() {
            lock.release(&self.ctx).await;
        }
        published.map_err(|e| {
            BoxError::from(format!(
                "committed but not all published ({e}); the next run of this entity finishes the publish before anything else"
            ))
        })?;
        let outputs = files
            .iter()
            .map(|n| self.ctx.s.location.url_of(&format!("{}/{n}", self.table)))
            .collect();
        let mut report = self.report(rows, outputs);
        report.bytes = bytes;
        Ok(report)
    }

    fn report(&self, rows: u64, outputs: Vec<String>) -> WriteReport {
        WriteReport {
            rows,
            bytes: 0,
            outputs,
            destination: self.url(),
        }
    }
}

impl Drop for OmWriter {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        // Dropped unfinished (a cancelled flow): remove the staging and release the lock.
        let (ctx, staging, lock) = (self.ctx.clone(), self.staging(), self.lock.take());
        let cleanup = async move {
            let _ = delete_all(&ctx, &staging).await;
            if let Some(lock) = lock {
                lock.release(&ctx).await;
            }
        };
        cleanup_on_drop(cleanup);
    }
}

#[async_trait]
impl StoreWriter for OmWriter {
    fn committed(&self) -> Option<&str> {
        self.st.checkpoint.as_deref()
    }

    async fn begin(&mut self, schema: SchemaRef, publish: Publish) -> Result<(), BoxError> {
        let run = self.begin_run(schema, publish).await?;
        self.run = Some(run);
        Ok(())
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<(), BoxError> {
        let shape = self.run()?.shape.clone();
        self.encode(move |e| e.write(&shape.apply(batch)?)).await
    }

    fn staged_rows(&self) -> u64 {
        (self.run.as_ref())
            .and_then(|r| r.encoder.as_ref())
            .map_or(0, |e| e.rows)
    }

    fn releases_slot(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.rebuild) && !self.s.wait.is_zero()
    }

    async fn finish(mut self: Box<Self>, checkpoint: &Checkpoint) -> Result<WriteReport, BoxError> {
        let r = self.finish_run(checkpoint).await;
        if r.is_err() {
            self.discard().await;
        }
        r
    }

    async fn abort(mut self: Box<Self>) {
        self.discard().await;
    }
}
