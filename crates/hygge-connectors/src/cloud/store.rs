//! The cloud store: an entity's files in a folder (prefix) of a container or bucket,
//! published as the local file store publishes them, with what object storage allows.
//!
//! Object storage has no folder rename (Blob and S3 "rename" = copy + delete, one object at
//! a time), so the commit point is one small object written with a compare-and-swap:
//!
//! ```text
//! <prefix>/                         the entity's folder, as readers list it
//!   00000000000000000007.parquet    data files (names never reused: a run continues the sequence)
//!   _hygge/state.json               THE COMMIT POINT: hygge's data files + the run's checkpoint
//!   _hygge/lock.json                one writer per entity (a lease, renewed while the run lives;
//!                                   taken over at once when its process on this machine is gone)
//!   _hygge/staging/<run id>/<file>  a run's files while it writes
//! ```
//!
//! `_`-prefixed paths are skipped by Spark, Fabric, pyarrow and hygge's own file readers.
//!
//! 1. `open`: take the lock (`PutMode::Create`; an expired lease is taken over with
//!    `PutMode::Update(etag)`), read `state.json` (and its ETag), list the folder, and clean
//!    up after a crashed run: copies a run made but never committed (its staging still
//!    lists them and the state does not) are deleted, files the state marks `obsolete` are
//!    deleted, staging is removed. Anything else the folder holds that hygge did not write
//!    (not listed, not named as `file_pattern` names files) stops the run.
//! 2. `write`: each file is encoded into a local temporary file (one at a time), then
//!    uploaded to staging (multipart in 8 MiB parts for larger files: memory stays
//!    bounded whatever the table's size), and the local file is deleted.
//! 3. `finish`: copy every staged file to its final name (server-side copy), then write
//!    `state.json` with `PutMode::Update(etag)` (or `Create` for a new entity): the commit.
//!    It lists the entity's data files (old + new when appending, the new ones when
//!    replacing, the replaced ones as `obsolete`) and the checkpoint. Then the obsolete
//!    files and the staging are deleted and the lock released. If the state changed since
//!    `open` the put fails and the run's copies are deleted: nothing was published.
//!
//! **What a reader sees.** A reader that goes by `state.json` (hygge) sees the old data or
//! the new, never a mix, and a crash at any point leaves one or the other. A reader that
//! merely lists the folder (Spark, Fabric, DuckDB) sees, while a run publishes, the old
//! files plus those of the new files already copied; after the commit, the new files plus
//! the old ones not yet deleted. That window lasts as long as the copies and deletes take
//! (a request per file); no object ever appears half-written (a put or copy shows a whole
//! object or nothing). Blob and S3 offer no atomic swap of many objects; an ADLS Gen2
//! directory rename (hierarchical namespace: OneLake and HNS accounts) would close the
//! window and is left for later (Azurite cannot test it).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use hygge_core::{
    BoxError, Checkpoint, Encoded, Publish, RunType, Store, StoreWriter, WriteReport, WriteTarget,
};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};

use super::location::{Location, redact};
use crate::error::FileError;
use crate::files::store::{FilePattern, store_name};
use crate::format::parquet_copy::{self, RowGroupSource};
use crate::format::{self, FileWriter, WriteOptions};

/// hygge's working folder inside each entity folder (`_`: readers skip it).
pub const HYGGE_DIR: &str = "_hygge";
/// The commit point: the entity's data files and checkpoint.
pub const STATE_OBJECT: &str = "_hygge/state.json";
/// One writer per entity.
pub const LOCK_OBJECT: &str = "_hygge/lock.json";
/// Runs' files while they write.
pub const STAGING_DIR: &str = "_hygge/staging";
/// How long a lock holds without being renewed: a crashed run's lock is taken over after
/// this.
const LOCK_LEASE: Duration = Duration::from_secs(300);
/// How often a live run renews its lock.
const LOCK_RENEW: Duration = Duration::from_secs(60);
/// Files up to this size are uploaded in one request; larger ones in parts of this size.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one file uploaded at once (memory: about this many parts).
const PARTS_IN_FLIGHT: usize = 2;

/// A validated cloud store.
#[derive(Debug, Clone)]
pub struct CloudSettings {
    /// `adls`, `onelake`, `s3` or `gcs`.
    pub kind: &'static str,
    /// The container or bucket, and how to sign in.
    pub location: Location,
    /// The entity folder's path, with `{entity}` (no leading or trailing `/`).
    pub path: String,
    /// Without `{entity}` in `path`: each entity in `<path>/<entity>` (entity flows).
    pub entity_folder: bool,
    /// How files are encoded.
    pub write: WriteOptions,
    /// File names.
    pub pattern: FilePattern,
    /// Rows per file.
    pub rows_per_file: usize,
    /// `incremental`: None follows the run type; true appends; false replaces.
    pub incremental: Option<bool>,
    /// Last-mile transforms applied to every batch before it is encoded.
    pub polish: Option<crate::polish::Polish>,
}

impl CloudSettings {
    /// The entity's folder in the container.
    pub fn prefix(&self, entity: &str) -> String {
        entity_prefix(&self.path, self.entity_folder, entity)
    }

    /// One line for plans.
    pub fn summary(&self, entity: &str) -> String {
        let encoding = match &self.write {
            WriteOptions::Parquet(o) => format!(
                "{}, row groups of {} rows, ",
                format!("{:?}", o.codec).to_lowercase(),
                o.row_group_size
            ),
            _ => String::new(),
        };
        let polish = match &self.polish {
            Some(p) => format!("; polish: {}", p.summary()),
            None => String::new(),
        };
        format!(
            "{} ({} files: {encoding}{} rows per file, {}; {}{polish}) {}/",
            self.kind,
            self.write.format().name(),
            self.rows_per_file,
            self.pattern,
            self.location.credential_source(),
            self.location.url_of(&self.prefix(entity))
        )
    }

    /// What a run would do (reads nothing: a dry run contacts no cloud).
    pub fn preview(&self, entity: &str, run_type: RunType) -> String {
        let url = self.location.url_of(&self.prefix(entity));
        match self.run_type(run_type, false) {
            RunType::FullDrop => format!(
                "replaces the files hygge published in {url}/ (those {STATE_OBJECT} lists; anything else there stops the run)"
            ),
            RunType::Incremental => {
                format!("appends new files to {url}/ (continuing the sequence)")
            }
        }
    }

    /// The run type after the store's `incremental` key.
    pub(crate) fn run_type(&self, planned: RunType, reload: bool) -> RunType {
        match self.incremental {
            None => planned,
            Some(false) => RunType::FullDrop,
            Some(true) if reload => RunType::FullDrop,
            Some(true) => RunType::Incremental,
        }
    }
}

/// An entity's key in a container: `path` with `{entity}` replaced, else `<path>/<entity>`
/// with `entity_folder`, else `path`.
pub(crate) fn entity_prefix(path: &str, entity_folder: bool, entity: &str) -> String {
    if path.contains("{entity}") {
        path.replace("{entity}", entity)
    } else if entity_folder {
        format!("{path}/{entity}")
    } else {
        path.to_string()
    }
}

/// The data files `<prefix>/_hygge/state.json` lists (names relative to `prefix`), or
/// `None` when the folder has no state (hygge's cloud store did not publish it). A state
/// that cannot be read is an error, never "no state".
pub(crate) async fn committed_files(
    client: &Arc<dyn ObjectStore>,
    prefix: &str,
) -> Result<Option<Vec<String>>, String> {
    let key = Key::from(format!("{prefix}/{STATE_OBJECT}"));
    let got = match client.get(&key).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let bytes = got.bytes().await.map_err(|e| e.to_string())?;
    let doc: StateDoc = serde_json::from_slice(&bytes)
        .map_err(|e| format!("hygge's state of this folder cannot be read ({e})"))?;
    Ok(Some(doc.files))
}

/// A store of files in a cloud container.
#[derive(Debug, Clone)]
pub struct CloudStore {
    s: Arc<CloudSettings>,
    client: Arc<OnceLock<Result<Arc<dyn ObjectStore>, String>>>,
}

impl CloudStore {
    /// A store with validated settings (nothing is contacted until a run opens it).
    pub fn new(settings: CloudSettings) -> Self {
        CloudStore {
            s: Arc::new(settings),
            client: Arc::new(OnceLock::new()),
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &CloudSettings {
        &self.s
    }

    pub(crate) fn ctx(&self) -> Result<Ctx, BoxError> {
        let client = self
            .client
            .get_or_init(|| self.s.location.build())
            .clone()
            .map_err(|e| BoxError::from(redact(&e, &self.s.location.secrets())))?;
        Ok(Ctx {
            client,
            s: self.s.clone(),
            secrets: Arc::new(self.s.location.secrets()),
        })
    }
}

/// What every request needs: the client, the settings, the secrets to keep out of messages.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) client: Arc<dyn ObjectStore>,
    pub(crate) s: Arc<CloudSettings>,
    pub(crate) secrets: Arc<Vec<String>>,
}

impl Ctx {
    /// An error of `op` on `key`, naming the object's URL, never a secret.
    pub(crate) fn err(&self, op: &str, key: &str, e: impl std::fmt::Display) -> BoxError {
        let url = self.s.location.url_of(key);
        BoxError::from(redact(&format!("cannot {op} {url}: {e}"), &self.secrets))
    }

    pub(crate) fn key(prefix: &str, name: &str) -> Key {
        Key::from(format!("{prefix}/{name}"))
    }

    /// Every object below `prefix`, as names relative to it.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, BoxError> {
        let p = Key::from(prefix);
        let mut out = vec![];
        let mut stream = self.client.list(Some(&p));
        while let Some(m) = stream.next().await {
            let m = m.map_err(|e| self.err("list", prefix, e))?;
            let full = m.location.as_ref();
            if let Some(rel) = full.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
                out.push((rel.to_string(), m.size));
            }
        }
        Ok(out)
    }

    /// Deletes `key`; a missing object is fine (Azure says NotFound, S3 does not).
    pub(crate) async fn delete(&self, key: &Key) -> Result<(), BoxError> {
        match self.client.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", key.as_ref(), e)),
        }
    }

    /// Uploads a local file to `key`: one put, or parts of [`PART_SIZE`] with at most
    /// [`PARTS_IN_FLIGHT`] in flight. The object appears whole or not at all.
    pub(crate) async fn upload(&self, key: &Key, file: &std::path::Path) -> Result<u64, BoxError> {
        use tokio::io::AsyncReadExt;
        let io = |e: std::io::Error| {
            self.err(
                "upload to",
                key.as_ref(),
                format!("{}: {e}", file.display()),
            )
        };
        let len = tokio::fs::metadata(file).await.map_err(io)?.len();
        if len <= PART_SIZE as u64 {
            let bytes = tokio::fs::read(file).await.map_err(io)?;
            self.client
                .put_opts(key, Bytes::from(bytes).into(), PutOptions::default())
                .await
                .map_err(|e| self.err("upload to", key.as_ref(), e))?;
            return Ok(len);
        }
        let upload = self
            .client
            .put_multipart(key)
            .await
            .map_err(|e| self.err("start an upload to", key.as_ref(), e))?;
        let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut f = tokio::fs::File::open(file).await.map_err(io)?;
        let result: Result<(), BoxError> = async {
            loop {
                let mut buf = Vec::with_capacity(PART_SIZE);
                let n = (&mut f)
                    .take(PART_SIZE as u64)
                    .read_to_end(&mut buf)
                    .await
                    .map_err(io)?;
                if n == 0 {
                    break;
                }
                w.wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| self.err("upload to", key.as_ref(), e))?;
                w.put(Bytes::from(buf));
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                w.finish()
                    .await
                    .map_err(|e| self.err("complete the upload to", key.as_ref(), e))?;
                Ok(len)
            }
            Err(e) => {
                let _ = w.abort().await;
                Err(e)
            }
        }
    }
}

/// The content of [`STATE_OBJECT`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StateDoc {
    hygge_state: u32,
    /// The run that published this state.
    run_id: String,
    /// The entity's data files (names in its folder), all written by hygge.
    files: Vec<String>,
    /// Files this state replaced: deleted after the commit (by the next run if this one
    /// could not).
    #[serde(default)]
    obsolete: Vec<String>,
    /// The checkpoint of the run that published it.
    checkpoint: serde_json::Value,
}

/// What `state.json` says, read under the lock.
#[derive(Default)]
struct State {
    /// Its ETag (the compare-and-swap's version); `None`: no state yet.
    e_tag: Option<String>,
    exists: bool,
    run_id: String,
    files: Vec<String>,
    obsolete: Vec<String>,
    /// The checkpoint as text (or the raw text and why it cannot be read).
    checkpoint: Option<String>,
}

async fn read_state(ctx: &Ctx, prefix: &str) -> Result<State, BoxError> {
    let key = Ctx::key(prefix, STATE_OBJECT);
    let got = match ctx.client.get(&key).await {
        Ok(g) => g,
        Err(object_store::Error::NotFound { .. }) => return Ok(State::default()),
        Err(e) => return Err(ctx.err("read", key.as_ref(), e)),
    };
    let e_tag = got.meta.e_tag.clone();
    let bytes = got
        .bytes()
        .await
        .map_err(|e| ctx.err("read", key.as_ref(), e))?;
    Ok(match serde_json::from_slice::<StateDoc>(&bytes) {
        Ok(d) => State {
            e_tag,
            exists: true,
            run_id: d.run_id,
            files: d.files,
            obsolete: d.obsolete,
            checkpoint: Some(d.checkpoint.to_string()),
        },
        Err(e) => State {
            e_tag,
            exists: true,
            checkpoint: Some(format!(
                "{}\n(in {}: {e})",
                String::from_utf8_lossy(&bytes),
                ctx.s.location.url_of(key.as_ref())
            )),
            ..State::default()
        },
    })
}

/// The entity's lock: a small object created with `PutMode::Create`, renewed by a task
/// while the run lives, deleted when it ends.
pub(crate) struct Lock {
    key: Key,
    renew: tokio::task::JoinHandle<()>,
    pub(crate) lost: Arc<AtomicBool>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LockDoc {
    run_id: String,
    host: String,
    pid: u32,
    expires_at: chrono::DateTime<chrono::Utc>,
}

fn this_host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// A lock held by a process of this machine that no longer exists (killed, crashed): taken
/// over at once instead of after its lease.
fn holder_died_here(d: &LockDoc) -> bool {
    #[cfg(unix)]
    {
        if d.host != this_host() || d.pid == std::process::id() {
            return false;
        }
        let Some(pid) = i32::try_from(d.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = d;
        false
    }
}

fn lock_body(run_id: &str) -> Bytes {
    let doc = LockDoc {
        run_id: run_id.into(),
        host: this_host(),
        pid: std::process::id(),
        expires_at: chrono::Utc::now()
            + chrono::Duration::from_std(LOCK_LEASE).expect("a small duration"),
    };
    Bytes::from(serde_json::to_vec(&doc).expect("serialises"))
}

impl Lock {
    pub(crate) async fn acquire(ctx: &Ctx, prefix: &str, run_id: &str) -> Result<Lock, BoxError> {
        let key = Ctx::key(prefix, LOCK_OBJECT);
        let mut e_tag = None;
        for _ in 0..3 {
            match ctx
                .client
                .put_opts(&key, lock_body(run_id).into(), PutMode::Create.into())
                .await
            {
                Ok(r) => {
                    e_tag = Some(r.e_tag);
                    break;
                }
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(ctx.err("create the lock", key.as_ref(), e)),
            }
            let got = match ctx.client.get(&key).await {
                Ok(g) => g,
                Err(object_store::Error::NotFound { .. }) => continue, // released meanwhile
                Err(e) => return Err(ctx.err("read the lock", key.as_ref(), e)),
            };
            let held_tag = got.meta.e_tag.clone();
            let bytes = got
                .bytes()
                .await
                .map_err(|e| ctx.err("read the lock", key.as_ref(), e))?;
            let doc = serde_json::from_slice::<LockDoc>(&bytes).ok();
            let expired = doc
                .as_ref()
                .is_none_or(|d| d.expires_at < chrono::Utc::now() || holder_died_here(d));
            if !expired {
                let d = doc.expect("not expired");
                return Err(BoxError::from(format!(
                    "another hygge run ({}, on {} pid {}) is writing {} right now (lock {} held until {} unless renewed); wait for it to finish",
                    d.run_id,
                    d.host,
                    d.pid,
                    ctx.s.location.url_of(prefix),
                    ctx.s.location.url_of(key.as_ref()),
                    d.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
                )));
            }
            // A lease that was not renewed, or whose process on this machine is gone: its
            // run died. Taken over only if nobody else did first.
            let mode = PutMode::Update(UpdateVersion {
                e_tag: held_tag,
                version: None,
            });
            match ctx
                .client
                .put_opts(&key, lock_body(run_id).into(), mode.into())
                .await
            {
                Ok(r) => {
                    tracing::warn!(
                        "took over the lock of run {}, which died, at {}",
                        doc.map(|d| d.run_id).unwrap_or_else(|| "?".into()),
                        ctx.s.location.url_of(key.as_ref())
                    );
                    e_tag = Some(r.e_tag);
                    break;
                }
                Err(object_store::Error::Precondition { .. })
                | Err(object_store::Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(ctx.err("take over the lock", key.as_ref(), e)),
            }
        }
        let Some(mut e_tag) = e_tag else {
            return Err(BoxError::from(format!(
                "another hygge run is writing {} right now (its lock {} keeps changing); wait for it to finish",
                ctx.s.location.url_of(prefix),
                ctx.s.location.url_of(key.as_ref())
            )));
        };
        let lost = Arc::new(AtomicBool::new(false));
        let renew = {
            let (ctx, key, lost, run_id) =
                (ctx.clone(), key.clone(), lost.clone(), run_id.to_string());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(LOCK_RENEW).await;
                    let mode = PutMode::Update(UpdateVersion {
                        e_tag: e_tag.clone(),
                        version: None,
                    });
                    match ctx
                        .client
                        .put_opts(&key, lock_body(&run_id).into(), mode.into())
                        .await
                    {
                        Ok(r) => e_tag = r.e_tag,
                        Err(e) => {
                            tracing::warn!("{}", ctx.err("renew the lock", key.as_ref(), e));
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            })
        };
        Ok(Lock { key, renew, lost })
    }

    pub(crate) async fn release(self, ctx: &Ctx) {
        self.renew.abort();
        if let Err(e) = ctx.delete(&self.key).await {
            tracing::warn!("{e}");
        }
    }
}

#[async_trait]
impl Store for CloudStore {
    fn kind(&self) -> &'static str {
        self.s.kind
    }

    fn describe(&self, entity: &str) -> String {
        self.s.location.url_of(&self.s.prefix(entity))
    }

    async fn check(&self, entity: &str) -> Result<(), BoxError> {
        self.probe(entity).await.map(|_| ())
    }

    fn takes_encoded(&self) -> Option<&'static str> {
        match self.s.write {
            WriteOptions::Parquet(ref o) if o.copy_row_groups => Some(parquet_copy::FORMAT),
            _ => None,
        }
    }

    async fn open(&self, target: &WriteTarget) -> Result<Box<dyn StoreWriter>, BoxError> {
        let ctx = self.ctx()?;
        let prefix = self.s.prefix(&target.entity);
        let lock = Lock::acquire(&ctx, &prefix, &target.run_id).await?;
        match Run::open(ctx.clone(), prefix, target.clone(), lock).await {
            Ok(run) => Ok(Box::new(CloudWriter { run: Some(run) })),
            Err((e, lock)) => {
                lock.release(&ctx).await;
                Err(e)
            }
        }
    }
}

impl CloudStore {
    /// For `hygge debug`: [`probe`](super::probe::probe)s the entity's folder (lists it,
    /// writes, reads back and deletes `_hygge/probe-<unique>`), then checks that it holds
    /// nothing hygge did not write. Returns what it did (the credential source first).
    pub async fn probe(&self, entity: &str) -> Result<Vec<String>, BoxError> {
        let ctx = self.ctx()?;
        let prefix = self.s.prefix(entity);
        let lines = super::probe::probe(
            &self.s.location,
            ctx.client.as_ref(),
            &prefix,
            super::probe::Access::ReadWrite,
        )
        .await?;
        let listed = ctx.list(&prefix).await?;
        let state = read_state(&ctx, &prefix).await?;
        let target = WriteTarget {
            flow: String::new(),
            entity: entity.into(),
            flow_name: String::new(),
            run_type: RunType::FullDrop,
            run_id: String::new(),
        };
        let names: Vec<String> = listed.into_iter().map(|(n, _)| n).collect();
        if let Some(f) = foreign(&self.s, &names, &state, &[], &target) {
            return Err(foreign_error(&ctx, &prefix, &f));
        }
        Ok(lines)
    }
}

/// The first name in the folder that hygge did not write (and is not about to clean up).
fn foreign(
    s: &CloudSettings,
    names: &[String],
    state: &State,
    cleaned: &[String],
    target: &WriteTarget,
) -> Option<String> {
    names
        .iter()
        .find(|n| {
            !(n.starts_with(&format!("{HYGGE_DIR}/"))
                // The original hygge's staging and journal folders.
                || n.starts_with("_tmp/")
                || n.starts_with(".hygge_journal/")
                || state.files.contains(n)
                || cleaned.contains(n)
                || is_own_name(s, n, target))
        })
        .cloned()
}

fn foreign_error(ctx: &Ctx, prefix: &str, name: &str) -> BoxError {
    BoxError::from(format!(
        "refusing to write {}: it holds {name}, which this store did not write (not in {STATE_OBJECT}, not named as its file_pattern names files); a run replaces the folder's files, so move it or point the store at another path",
        ctx.s.location.url_of(prefix)
    ))
}

/// A name `file_pattern` produces for this entity.
fn is_own_name(s: &CloudSettings, name: &str, target: &WriteTarget) -> bool {
    let store = store_name(&target.flow_name);
    s.pattern
        .max_sequence([name], &[&store, &target.entity], &target.flow_name)
        .is_some()
        || (target.flow_name.is_empty()
            && (s.pattern.uses_flow_name() || s.pattern.uses_name())
            && !name.contains('/'))
}

/// One entity run: holds the lock from `open` until it publishes or is dropped.
struct Run {
    ctx: Ctx,
    prefix: String,
    target: WriteTarget,
    lock: Option<Lock>,
    state: State,
    /// The data files now in the folder that are hygge's (listed, or named by the pattern).
    existing: Vec<String>,
    run_type: RunType,
    encoder: Option<Encoder>,
    /// Files uploaded to this run's staging.
    staged: Vec<String>,
    bytes: u64,
    done: bool,
}

/// A file the encoder completed, to upload.
pub(crate) struct Done {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
}

impl Run {
    fn staging(&self) -> String {
        format!("{}/{STAGING_DIR}/{}", self.prefix, self.target.run_id)
    }

    /// Reads the state, cleans up after a crashed run, refuses a folder with foreign files.
    async fn open(
        ctx: Ctx,
        prefix: String,
        target: WriteTarget,
        lock: Lock,
    ) -> Result<Run, (BoxError, Lock)> {
        let r = async {
            let state = read_state(&ctx, &prefix).await?;
            let listed = ctx.list(&prefix).await?;
            let mut names: Vec<String> = vec![];
            let mut staged: std::collections::BTreeMap<String, Vec<String>> = Default::default();
            for (n, _) in listed {
                if let Some(rest) = n.strip_prefix(&format!("{STAGING_DIR}/")) {
                    if let Some((run, file)) = rest.split_once('/') {
                        staged
                            .entry(run.to_string())
                            .or_default()
                            .push(file.to_string());
                    }
                } else {
                    names.push(n);
                }
            }
            // Roll back what a run copied without committing; finish what a committed
            // run left (its replaced files, its staging).
            let mut cleaned = vec![];
            for (run, files) in &staged {
                if *run != state.run_id {
                    for f in files {
                        if names.contains(f) && !state.files.contains(f) {
                            tracing::warn!(
                                "removing {}, copied by run {run} which never committed",
                                ctx.s.location.url_of(&format!("{prefix}/{f}"))
                            );
                            ctx.delete(&Ctx::key(&prefix, f)).await?;
                            cleaned.push(f.clone());
                        }
                    }
                }
                for f in files {
                    ctx.delete(&Ctx::key(&prefix, &format!("{STAGING_DIR}/{run}/{f}")))
                        .await?;
                }
            }
            for f in &state.obsolete {
                if names.contains(f) && !state.files.contains(f) {
                    ctx.delete(&Ctx::key(&prefix, f)).await?;
                    cleaned.push(f.clone());
                }
            }
            names.retain(|n| !cleaned.contains(n));
            if let Some(f) = foreign(&ctx.s, &names, &state, &[], &target) {
                return Err(foreign_error(&ctx, &prefix, &f));
            }
            let existing: Vec<String> = names
                .into_iter()
                .filter(|n| state.files.contains(n) || is_own_name(&ctx.s, n, &target))
                .collect();
            Ok((state, existing))
        }
        .await;
        match r {
            Ok((state, existing)) => Ok(Run {
                run_type: target.run_type,
                ctx,
                prefix,
                target,
                lock: Some(lock),
                state,
                existing,
                encoder: None,
                staged: vec![],
                bytes: 0,
                done: false,
            }),
            Err(e) => Err((e, lock)),
        }
    }

    fn begin(&mut self, schema: SchemaRef, publish: Publish) -> Result<(), BoxError> {
        let s = &self.ctx.s;
        // The files hold the polished rows: their schema is settled here, once.
        let polish = match &s.polish {
            Some(p) => Some(p.plan(&schema).map_err(|e| {
                BoxError::from(format!(
                    "cannot write {}: {e}",
                    s.location.url_of(&self.prefix)
                ))
            })?),
            None => None,
        };
        let schema = polish.as_ref().map_or(schema, |p| p.schema().clone());
        let refused = match s.write {
            WriteOptions::Csv(_) => format::csv::check_schema(&schema).err(),
            WriteOptions::Parquet(_) => format::parquet::storable_schema(&schema).err(),
            WriteOptions::Ndjson => None,
        };
        if let Some(detail) = refused {
            return Err(BoxError::from(format!(
                "cannot write {}: {detail}",
                s.location.url_of(&self.prefix)
            )));
        }
        self.run_type = s.run_type(publish.run_type, publish.reload);
        if self.run_type != publish.run_type {
            tracing::warn!(
                "the store's `incremental: {}` makes this {} run {}",
                s.incremental.unwrap_or_default(),
                publish.run_type,
                self.run_type
            );
        }
        // Names are never reused, for a replace too: a published file is never overwritten
        // (a reader or a crash would see it change), and the old files go after the commit.
        let store = store_name(&self.target.flow_name);
        let all = self.existing.iter().chain(self.state.files.iter());
        let max = s.pattern.max_sequence(
            all.map(String::as_str),
            &[&store, &self.target.entity],
            &self.target.flow_name,
        );
        self.encoder = Some(Encoder::new(
            s.clone(),
            schema,
            polish,
            s.location.url_of(&self.prefix),
            store,
            self.target.flow_name.clone(),
            max.map_or(1, |m| m + 1),
        )?);
        Ok(())
    }

    async fn upload(&mut self, done: Vec<Done>) -> Result<(), BoxError> {
        for d in done {
            let key = Ctx::key(&self.staging(), &d.name);
            self.bytes += self.ctx.upload(&key, &d.path).await?;
            let _ = tokio::fs::remove_file(&d.path).await;
            self.staged.push(d.name);
        }
        Ok(())
    }

    /// Deletes this run's staging (and copies, before a commit) and releases the lock.
    async fn discard(&mut self, copies: &[String]) {
        if self.done {
            return;
        }
        self.done = true;
        self.encoder = None;
        for name in copies {
            if let Err(e) = self.ctx.delete(&Ctx::key(&self.prefix, name)).await {
                tracing::warn!("{e}");
            }
        }
        self.remove_staging().await;
        if let Some(lock) = self.lock.take() {
            lock.release(&self.ctx).await;
        }
    }

    /// Deletes what this run staged (a failure is a leftover the next run removes).
    async fn remove_staging(&mut self) {
        let (ctx, staging) = (self.ctx.clone(), self.staging());
        match ctx.list(&staging).await {
            Ok(names) => {
                for (n, _) in names {
                    if let Err(e) = ctx.delete(&Ctx::key(&staging, &n)).await {
                        tracing::warn!("{e}");
                    }
                }
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }

    fn report(&self, outputs: Vec<String>) -> WriteReport {
        WriteReport {
            rows: self.encoder.as_ref().map_or(0, |e| e.rows),
            bytes: self.bytes,
            outputs,
            destination: self.ctx.s.location.url_of(&self.prefix),
        }
    }

    async fn finish(mut self, checkpoint: &Checkpoint) -> Result<WriteReport, BoxError> {
        let mut enc = self
            .encoder
            .take()
            .ok_or_else(|| BoxError::from("finish before begin (a bug in hygge)"))?;
        let incremental = self.run_type == RunType::Incremental;
        let (enc_back, last) = blocking(move || enc.close().map(|d| (enc, d))).await?;
        enc = enc_back;
        let rows = enc.rows;
        if rows == 0 && incremental {
            // Nothing new: the folder and its checkpoint stay exactly as they are.
            self.encoder = Some(enc);
            self.discard(&[]).await;
            return Ok(self.report(vec![]));
        }
        let mut done: Vec<Done> = last.into_iter().collect();
        if self.staged.is_empty() && done.is_empty() {
            // full_drop of an empty source: one empty file keeps the schema.
            let (enc_back, d) = blocking(move || {
                enc.open_file()?;
                enc.close().map(|d| (enc, d))
            })
            .await?;
            enc = enc_back;
            done.extend(d);
        }
        self.encoder = Some(enc);
        self.upload(done).await?;

        // Publish: copies to the final names, then the state (the commit).
        if let Err(e) = hygge_core::failpoint::hit("cloud.staged") {
            self.discard(&[]).await;
            return Err(BoxError::from(e));
        }
        let mut copies = vec![];
        let staging = self.staging();
        for name in self.staged.clone() {
            let from = Ctx::key(&staging, &name);
            let to = Ctx::key(&self.prefix, &name);
            if let Err(e) = self.ctx.client.copy(&from, &to).await {
                let e = self.ctx.err("copy to", to.as_ref(), e);
                self.discard(&copies).await;
                return Err(e);
            }
            copies.push(name);
            if let Err(e) = hygge_core::failpoint::hit("cloud.copied") {
                self.discard(&copies).await;
                return Err(BoxError::from(e));
            }
        }
        if let Err(e) = hygge_core::failpoint::hit("cloud.publish") {
            self.discard(&copies).await;
            return Err(BoxError::from(e));
        }
        if self
            .lock
            .as_ref()
            .is_some_and(|l| l.lost.load(Ordering::SeqCst))
        {
            let e = BoxError::from(format!(
                "lost the lock of {} while writing (it could not be renewed); nothing was published",
                self.ctx.s.location.url_of(&self.prefix)
            ));
            self.discard(&copies).await;
            return Err(e);
        }
        let mut files: Vec<String> = if incremental {
            self.existing.clone()
        } else {
            vec![]
        };
        files.extend(self.staged.iter().cloned());
        files.sort();
        files.dedup();
        let obsolete: Vec<String> = if incremental {
            vec![]
        } else {
            self.existing
                .iter()
                .filter(|n| !files.contains(n))
                .cloned()
                .collect()
        };
        let doc = StateDoc {
            hygge_state: 1,
            run_id: self.target.run_id.clone(),
            files,
            obsolete: obsolete.clone(),
            checkpoint: serde_json::to_value(checkpoint).expect("a checkpoint serialises"),
        };
        let body = Bytes::from(serde_json::to_vec_pretty(&doc).expect("state serialises"));
        let mode = match (&self.state.e_tag, self.state.exists) {
            (_, false) => PutMode::Create,
            (Some(t), true) => PutMode::Update(UpdateVersion {
                e_tag: Some(t.clone()),
                version: None,
            }),
            (None, true) => PutMode::Overwrite, // a server that gives no ETag: the lock alone
        };
        let key = Ctx::key(&self.prefix, STATE_OBJECT);
        match self
            .ctx
            .client
            .put_opts(&key, body.into(), mode.into())
            .await
        {
            Ok(_) => {}
            Err(
                e @ (object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. }),
            ) => {
                let e = self.ctx.err(
                    "commit",
                    key.as_ref(),
                    format!("{e} (the state changed during this run: another writer?); nothing was published"),
                );
                self.discard(&copies).await;
                return Err(e);
            }
            Err(e) => {
                // The put may have reached the server: check before undoing anything.
                let e = self.ctx.err("commit", key.as_ref(), e);
                match read_state(&self.ctx, &self.prefix).await {
                    Ok(now) if now.run_id == self.target.run_id => {} // committed after all
                    Ok(_) => {
                        self.discard(&copies).await;
                        return Err(e);
                    }
                    Err(_) => {
                        // Unknown: leave copies and staging; the next run's `open` settles
                        // it from the state and the staging.
                        self.done = true;
                        if let Some(lock) = self.lock.take() {
                            lock.release(&self.ctx).await;
                        }
                        return Err(e);
                    }
                }
            }
        }
        // Committed. What is left is tidying; a failure is a leftover the next run removes.
        self.done = true;
        let tidy = match hygge_core::failpoint::hit("cloud.committed") {
            Ok(()) => true,
            Err(e) => {
                // Published: the replaced files and the staging stay for the next run.
                tracing::warn!("published, but left the tidying to the next run: {e}");
                false
            }
        };
        if tidy {
            for name in &obsolete {
                if let Err(e) = self.ctx.delete(&Ctx::key(&self.prefix, name)).await {
                    tracing::warn!("published, but could not remove a replaced file: {e}");
                }
            }
            self.remove_staging().await;
        }
        if let Some(lock) = self.lock.take() {
            lock.release(&self.ctx).await;
        }
        let enc = self.encoder.as_ref().expect("set");
        tracing::debug!(
            "published {} rows in {} new file(s) to {}",
            enc.rows,
            self.staged.len(),
            self.ctx.s.location.url_of(&self.prefix)
        );
        if enc.copied + enc.decoded > 0 {
            tracing::debug!(
                "of the source's row groups, {} were copied page by page and {} decoded",
                enc.copied,
                enc.decoded
            );
        }
        let outputs = self
            .staged
            .iter()
            .map(|n| self.ctx.s.location.url_of(&format!("{}/{n}", self.prefix)))
            .collect();
        Ok(self.report(outputs))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Dropped unfinished (an abort, a cancelled flow): remove the staging and release
        // the lock now, so the next run finds neither. Waited for where the runtime allows
        // it; otherwise done in the background (the lease expires in any case).
        let mut run = Run {
            ctx: self.ctx.clone(),
            prefix: std::mem::take(&mut self.prefix),
            target: self.target.clone(),
            lock: self.lock.take(),
            state: State::default(),
            existing: vec![],
            run_type: self.run_type,
            encoder: self.encoder.take(),
            staged: std::mem::take(&mut self.staged),
            bytes: 0,
            done: false,
        };
        self.done = true;
        let cleanup = async move { run.discard(&[]).await };
        cleanup_on_drop(cleanup);
    }
}

/// Runs a dropped writer's cleanup: waited for where the runtime allows it (a
/// multi-threaded runtime), else spawned (a lease or the next run covers the rest).
pub(crate) fn cleanup_on_drop(cleanup: impl std::future::Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| h.block_on(cleanup));
        }
        Ok(h) => {
            h.spawn(cleanup);
        }
        Err(_) => {}
    }
}

/// Encodes the run's files into local temporary files, one at a time.
pub(crate) struct Encoder {
    s: Arc<CloudSettings>,
    schema: SchemaRef,
    /// The run's polish, settled at `begin`.
    polish: Option<crate::polish::PolishPlan>,
    /// The entity folder's URL, for messages.
    url: String,
    dir: tempfile::TempDir,
    /// `{name}` in file names.
    name: String,
    flow_name: String,
    timestamp: String,
    next_sequence: u64,
    current: Option<(Box<dyn FileWriter>, usize, Done)>,
    pub(crate) rows: u64,
    files: usize,
    copied: usize,
    decoded: usize,
}

impl Encoder {
    /// An encoder of files named by `s.pattern` from `next_sequence` on (`name` and
    /// `flow_name` for `{name}` and `{flow_name}`), into a fresh temporary folder.
    pub(crate) fn new(
        s: Arc<CloudSettings>,
        schema: SchemaRef,
        polish: Option<crate::polish::PolishPlan>,
        url: String,
        name: String,
        flow_name: String,
        next_sequence: u64,
    ) -> Result<Encoder, BoxError> {
        let dir = tempfile::Builder::new()
            .prefix("hygge-upload-")
            .tempdir()
            .map_err(|e| BoxError::from(format!("cannot create a temporary folder: {e}")))?;
        Ok(Encoder {
            s,
            schema,
            polish,
            url,
            dir,
            name,
            flow_name,
            timestamp: chrono::Local::now().format("%Y%m%d_%H%M%S").to_string(),
            next_sequence,
            current: None,
            rows: 0,
            files: 0,
            copied: 0,
            decoded: 0,
        })
    }

    pub(crate) fn open_file(&mut self) -> Result<(), FileError> {
        let name = self.s.pattern.render_at(
            self.next_sequence,
            &self.name,
            &self.flow_name,
            &self.timestamp,
        );
        self.next_sequence += 1;
        self.files += 1;
        let path = self.dir.path().join(format!("{}.tmp", self.files));
        let w = format::create_writer(&path, self.schema.clone(), &self.s.write, false)?;
        self.current = Some((w, 0, Done { name, path }));
        Ok(())
    }

    pub(crate) fn close(&mut self) -> Result<Option<Done>, FileError> {
        match self.current.take() {
            Some((w, _, done)) => {
                w.finish()?;
                Ok(Some(done))
            }
            None => Ok(None),
        }
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<Vec<Done>, FileError> {
        let polished;
        let batch = match &self.polish {
            Some(plan) => {
                polished = plan.apply(batch).map_err(|e| FileError::Polish {
                    path: self.url.clone().into(),
                    source: e,
                })?;
                &polished
            }
            None => batch,
        };
        let mut out = vec![];
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.current.is_none() {
                self.open_file()?;
            }
            let (w, in_file, _) = self.current.as_mut().expect("open");
            let n = (self.s.rows_per_file - *in_file).min(batch.num_rows() - offset);
            w.write(&batch.slice(offset, n))?;
            *in_file += n;
            offset += n;
            if *in_file >= self.s.rows_per_file {
                out.extend(self.close()?);
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(out)
    }

    /// A source row group: copied as it is encoded when it fits, else decoded (as the
    /// file store does).
    fn write_encoded(&mut self, src: &RowGroupSource) -> Result<Vec<Done>, FileError> {
        let rows = src.rows();
        let in_file = self.current.as_ref().map_or(0, |(_, n, _)| *n);
        let fits = self.s.write.copies(src, in_file, self.s.rows_per_file);
        if fits {
            if self.current.is_none() {
                self.open_file()?;
            }
            let (w, in_file, _) = self.current.as_mut().expect("open");
            if w.copy_row_group(src)? {
                self.copied += 1;
                *in_file += rows;
                self.rows += rows as u64;
                let mut out = vec![];
                if *in_file >= self.s.rows_per_file {
                    out.extend(self.close()?);
                }
                return Ok(out);
            }
        }
        self.decoded += 1;
        let mut out = vec![];
        for batch in src.decode()? {
            let batch = batch.map_err(|e| FileError::read(&src.path, e))?;
            out.extend(self.write(&batch)?);
        }
        Ok(out)
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FileError> + Send + 'static,
) -> Result<T, BoxError> {
    let span = tracing::Span::current();
    match tokio::task::spawn_blocking(move || span.in_scope(f)).await {
        Ok(r) => r.map_err(BoxError::from),
        Err(e) => Err(BoxError::from(format!("file encoder task failed: {e}"))),
    }
}

/// The writer handed to the engine.
struct CloudWriter {
    run: Option<Run>,
}

impl CloudWriter {
    fn run(&mut self) -> Result<&mut Run, BoxError> {
        self.run
            .as_mut()
            .ok_or_else(|| BoxError::from("cloud writer used after it finished"))
    }

    /// Runs `f` on the encoder on the blocking pool, then uploads the files it completed.
    async fn encode(
        &mut self,
        f: impl FnOnce(&mut Encoder) -> Result<Vec<Done>, FileError> + Send + 'static,
    ) -> Result<(), BoxError> {
        let run = self.run()?;
        let mut enc = run
            .encoder
            .take()
            .ok_or_else(|| BoxError::from("write before begin (a bug in hygge)"))?;
        let (enc, done) = blocking(move || f(&mut enc).map(|d| (enc, d))).await?;
        run.encoder = Some(enc);
        run.upload(done).await
    }
}

#[async_trait]
impl StoreWriter for CloudWriter {
    fn committed(&self) -> Option<&str> {
        self.run
            .as_ref()
            .and_then(|r| r.state.checkpoint.as_deref())
    }

    async fn begin(&mut self, schema: SchemaRef, publish: Publish) -> Result<(), BoxError> {
        self.run()?.begin(schema, publish)
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<(), BoxError> {
        self.encode(move |e| e.write(&batch)).await
    }

    async fn write_encoded(&mut self, chunk: Encoded) -> Result<(), BoxError> {
        let src = chunk
            .payload
            .downcast::<RowGroupSource>()
            .map_err(|_| BoxError::from("the cloud store takes only Parquet row groups"))?;
        self.encode(move |e| {
            let path = src.path.clone();
            format::panic_names_file(&path, || e.write_encoded(&src))
        })
        .await
    }

    fn staged_rows(&self) -> u64 {
        self.run
            .as_ref()
            .and_then(|r| r.encoder.as_ref())
            .map_or(0, |e| e.rows)
    }

    async fn finish(mut self: Box<Self>, checkpoint: &Checkpoint) -> Result<WriteReport, BoxError> {
        let run = self
            .run
            .take()
            .ok_or_else(|| BoxError::from("cloud writer finished twice"))?;
        run.finish(checkpoint).await
    }

    async fn abort(mut self: Box<Self>) {
        if let Some(mut run) = self.run.take() {
            run.discard(&[]).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(path: &str) -> CloudSettings {
        crate::cloud::config::from_json::<super::super::config::S3StoreConfig>(serde_json::json!({
            "bucket": "b", "path": path, "access_key_id": "a", "secret_access_key": "s"
        }))
        .unwrap()
        .validate(true)
        .unwrap()
    }

    #[test]
    fn entity_prefixes() {
        assert_eq!(settings("raw/{entity}/").prefix("users"), "raw/users");
        assert_eq!(settings("raw").prefix("users"), "raw/users");
        let mut s = settings("raw");
        s.entity_folder = false;
        assert_eq!(s.prefix("users"), "raw");
    }

    #[test]
    fn the_incremental_key_overrides_the_run_type() {
        let mut s = settings("x");
        assert_eq!(
            s.run_type(RunType::Incremental, false),
            RunType::Incremental
        );
        s.incremental = Some(false);
        assert_eq!(s.run_type(RunType::Incremental, false), RunType::FullDrop);
        s.incremental = Some(true);
        assert_eq!(s.run_type(RunType::FullDrop, false), RunType::Incremental);
        assert_eq!(
            s.run_type(RunType::Incremental, true),
            RunType::FullDrop,
            "a reload hygge decided on replaces"
        );
    }

    #[test]
    fn foreign_names() {
        let s = settings("x");
        let target = WriteTarget {
            flow: "f".into(),
            entity: "users".into(),
            flow_name: "f_users".into(),
            run_type: RunType::FullDrop,
            run_id: "r".into(),
        };
        let state = State {
            files: vec!["mine.parquet".into()],
            ..State::default()
        };
        let names: Vec<String> = [
            "00000000000000000003.parquet",
            "mine.parquet",
            "_hygge/state.json",
            "_tmp/users/1.parquet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(foreign(&s, &names, &state, &[], &target), None);
        let mut names = names;
        names.push("notes.txt".into());
        assert_eq!(
            foreign(&s, &names, &state, &[], &target).as_deref(),
            Some("notes.txt")
        );
    }
}
