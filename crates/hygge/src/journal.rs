//! The journal: one Parquet file, `<dir>/journal.parquet`, one row per finished entity run.
//!
//! The columns are the original Python hygge's schema v"1.0" (same names, same types: strings
//! as `Utf8`, `row_count` `Int64`, `duration` `Float64`) followed by hygge's additions, so
//! DuckDB, Polars and the original tool can read it, and hygge reads the original's journals.
//!
//! Crash safety and concurrency:
//!
//! - [`Journal::append`] takes an exclusive `flock` on `<dir>/journal.parquet.lock`, reads the
//!   current file, writes every row plus the new ones to `journal.parquet.tmp-<pid>-<n>` in the
//!   same folder, fsyncs it, renames it over `journal.parquet` and fsyncs the folder. Two
//!   processes (or threads) appending at once are serialised by the lock and lose nothing.
//! - Readers take no lock: the rename is atomic, so they see the old file or the new one, and
//!   a `kill -9` at any moment leaves one of the two. Temp files a killed append left behind
//!   are removed by the next append (only lock holders write temp files).
//! - A journal that cannot be read is an error naming the file, never an empty journal: an
//!   empty journal would silently turn every incremental entity into a full reload.
//!
//! Bounded growth: an append rewrites `journal.parquet`, so that file is kept small. Once it
//! holds more than [`ACTIVE_ROWS`] rows, the append moves the older rows into an archive,
//! `journal-archive-<n>.parquet` in the same folder, keeping in `journal.parquet` the most
//! recent [`KEEP_RECENT`] rows and, per entity, its latest run of each status and its
//! latest watermark (what planning and reconciliation read). Every row is in exactly one file: `journal*.parquet`
//! together is the whole history (DuckDB: `read_parquet('<dir>/journal*.parquet')`). The
//! archive is written first; `journal.parquet` then names it in its metadata
//! (`hygge.journal.archived`), which is the rotation's commit point: an append that finds a
//! newer archive than the one named finishes that rotation (drops its rows from
//! `journal.parquet`) before anything else, so a `kill -9` in between duplicates nothing.
//!
//! On object storage ([`JournalAt::Objects`]: a cloud store's `.hygge_journal/` folder)
//! there is no lock and no rename; the same files are objects, and an append is a
//! compare-and-swap: read `journal.parquet` and its version (ETag), write the whole new
//! object only if it is still that version (`PutMode::Update`; `PutMode::Create` when there
//! is none yet), and on a conflict (another process, on any machine, appended first) read
//! it again and retry, up to [`OBJECT_ATTEMPTS`] times with a growing, jittered pause. A
//! put shows the whole object or nothing, so readers see the old journal or the new. An
//! entry already in the journal (by `entity_run_id`: an earlier attempt whose put reached
//! the server though its answer did not) is not appended twice. Rotation keeps its commit
//! point: the archive object is created first (`PutMode::Create`: two appenders rotating
//! at once cannot both take one number), then `journal.parquet` naming it is swapped in.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{
    Array, ArrayRef, Float64Array, Float64Builder, Int64Array, Int64Builder, RecordBatch,
    StringArray, StringBuilder,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use hygge_connectors::versioned::{Version, VersionedFolder, Written};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::ChunkReader;

/// The journal's file name inside its folder.
pub const JOURNAL_FILE: &str = "journal.parquet";
/// The `schema_version` hygge writes (the original's).
pub const SCHEMA_VERSION: &str = "1.0";

/// Rows `journal.parquet` may hold before an append moves older ones into an archive.
pub const ACTIVE_ROWS: usize = 10_000;
/// The most recent rows a rotation keeps in `journal.parquet`.
pub const KEEP_RECENT: usize = 1_000;
/// Metadata key of `journal.parquet` naming the last archive whose rows left it.
const ARCHIVED_KEY: &str = "hygge.journal.archived";
/// Archive files: `journal-archive-<n>.parquet`.
const ARCHIVE_PREFIX: &str = "journal-archive-";
/// Attempts of an append on object storage before it gives up (each conflict with another
/// appender costs one).
pub const OBJECT_ATTEMPTS: u32 = 40;

/// Appends on object storage that lost a race with another appender and read again (for
/// tests and logs).
static OBJECT_CONFLICTS: AtomicU64 = AtomicU64::new(0);

/// How many appends on object storage this process retried after a conflict.
pub fn object_conflicts() -> u64 {
    OBJECT_CONFLICTS.load(Ordering::Relaxed)
}

/// Where a journal is kept.
#[derive(Debug, Clone)]
pub enum JournalAt {
    /// `<folder>/journal.parquet` on this machine.
    Folder(PathBuf),
    /// `journal.parquet` in a folder of object storage (a cloud store's `.hygge_journal/`).
    Objects(Arc<dyn VersionedFolder>),
}

impl JournalAt {
    /// The journal kept there.
    pub fn journal(&self) -> Journal {
        match self {
            JournalAt::Folder(dir) => Journal::at(dir),
            JournalAt::Objects(f) => Journal::in_objects(f.clone()),
        }
    }

    /// The local folder, for a journal on this machine.
    pub fn local(&self) -> Option<&Path> {
        match self {
            JournalAt::Folder(dir) => Some(dir),
            JournalAt::Objects(_) => None,
        }
    }

    /// `journal.parquet`'s path or URL, for messages (and to tell journals apart).
    pub fn describe(&self) -> String {
        match self {
            JournalAt::Folder(dir) => dir.join(JOURNAL_FILE).display().to_string(),
            JournalAt::Objects(f) => f.url(JOURNAL_FILE),
        }
    }
}

/// One finished entity run (one row of the journal).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JournalEntry {
    // The original's schema v"1.0" columns, same names, same meaning.
    pub entity_run_id: String,
    pub coordinator_run_id: String,
    pub flow_run_id: String,
    pub coordinator: String,
    pub flow: String,
    pub entity: String,
    /// ISO-8601, like the original.
    pub start_time: String,
    /// ISO-8601, like the original.
    pub finish_time: String,
    /// `success` | `fail` | `skip`
    pub status: String,
    /// `full_drop` | `incremental`
    pub run_type: String,
    pub row_count: i64,
    /// Seconds.
    pub duration: f64,
    pub primary_key: Option<String>,
    pub watermark_column: Option<String>,
    /// The original's `datetime` | `int` | `string`.
    pub watermark_type: Option<String>,
    pub watermark: Option<String>,
    pub message: Option<String>,
    /// `"1.0"`
    pub schema_version: String,
    // hygge's additions.
    pub source_row_count: Option<i64>,
    pub destination_row_count: Option<i64>,
    pub bytes: Option<i64>,
    /// Exact Arrow type of the watermark column, e.g. `Timestamp(Microsecond, Some("UTC"))`.
    pub watermark_arrow_type: Option<String>,
    /// The watermark at full precision (may equal `watermark`).
    pub watermark_exact: Option<String>,
    /// With `boundary: inclusive`: the primary keys of the rows written whose watermark
    /// equals the watermark (a JSON array of strings), so the next run can read `>=` and
    /// skip exactly those.
    pub watermark_boundary_keys: Option<String>,
    /// The source's schema the run wrote (successful runs): the entity's snapshot, a JSON
    /// list of `{name, type, nullable}` (see `hygge_core::schema::to_json`).
    pub arrow_schema: Option<String>,
}

/// What went wrong with a journal; every message names the file (or object URL) and what
/// to do.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot {action} the journal file {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `path`: the file's path, or the object's URL.
    #[error(
        "the journal {path} cannot be read ({detail}); hygge will not treat it as empty, \
         because that would reload every incremental entity in full: restore it from a \
         backup, or move it aside to start a new journal"
    )]
    Unreadable { path: String, detail: String },
    /// `path`: the file's path, or the object's URL.
    #[error("cannot write the journal {path}: {detail}; the previous journal is unchanged")]
    Write { path: String, detail: String },
    /// Object storage could not be read (the message names the object).
    #[error(
        "the journal cannot be read: {0}; hygge will not treat it as empty, because that \
         would reload every incremental entity in full"
    )]
    ObjectRead(String),
    /// Object storage could not be written (the message names the object).
    #[error("the journal cannot be written: {0}; the previous journal is unchanged")]
    ObjectWrite(String),
}

impl JournalError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        JournalError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The journal in one folder.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
    path: PathBuf,
    active_rows: usize,
    keep_recent: usize,
    /// On object storage: the folder (`dir` is then empty and `path` the URL).
    objects: Option<Arc<dyn VersionedFolder>>,
}

/// Distinguishes temp files of appends from one process (threads may append concurrently).
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl Journal {
    /// The journal `<dir>/journal.parquet`; the folder is created on the first append.
    pub fn at(dir: &Path) -> Journal {
        Journal {
            dir: dir.to_path_buf(),
            path: dir.join(JOURNAL_FILE),
            active_rows: ACTIVE_ROWS,
            keep_recent: KEEP_RECENT,
            objects: None,
        }
    }

    /// The journal `journal.parquet` in a folder of object storage; the object is created
    /// by the first append.
    pub fn in_objects(folder: Arc<dyn VersionedFolder>) -> Journal {
        Journal {
            dir: PathBuf::new(),
            path: PathBuf::from(folder.url(JOURNAL_FILE)),
            active_rows: ACTIVE_ROWS,
            keep_recent: KEEP_RECENT,
            objects: Some(folder),
        }
    }

    /// The same journal, rotating past `active_rows` rows and keeping `keep_recent` (tests).
    pub fn with_limits(mut self, active_rows: usize, keep_recent: usize) -> Journal {
        self.active_rows = active_rows.max(1);
        self.keep_recent = keep_recent;
        self
    }

    /// Path of `journal.parquet` (on object storage: its URL, for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `journal.parquet`'s path or URL, for messages.
    pub fn describe(&self) -> String {
        self.path.display().to_string()
    }

    /// Path of the lock file appends hold.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{JOURNAL_FILE}.lock"))
    }

    /// The entries of `journal.parquet` in file order (the recent history, and each
    /// entity's latest run and watermark); empty when the file does not exist.
    pub fn read(&self) -> Result<Vec<JournalEntry>, JournalError> {
        Ok(self.read_active()?.0)
    }

    /// Every entry, archives (oldest first) then `journal.parquet`. A row of an unfinished
    /// rotation (in an archive and still in `journal.parquet`) is counted once.
    pub fn read_all(&self) -> Result<Vec<JournalEntry>, JournalError> {
        let (active, _) = self.read_active()?;
        let current: std::collections::HashSet<&str> =
            active.iter().map(|e| e.entity_run_id.as_str()).collect();
        let mut out = Vec::new();
        for name in self.archives()? {
            let rows = match &self.objects {
                Some(f) => read_object(f.as_ref(), &name)?.map_or(vec![], |r| r.entries),
                None => read_file(&self.dir_or_cwd().join(&name))?,
            };
            out.extend(
                rows.into_iter()
                    .filter(|e| !current.contains(e.entity_run_id.as_str())),
            );
        }
        out.extend(active.iter().cloned());
        Ok(out)
    }

    /// `journal.parquet`'s entries and the archive it names.
    fn read_active(&self) -> Result<(Vec<JournalEntry>, Option<String>), JournalError> {
        if let Some(f) = &self.objects {
            return Ok(read_object(f.as_ref(), JOURNAL_FILE)?
                .map(|o| (o.entries, o.archived))
                .unwrap_or_default());
        }
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
            Err(e) => return Err(JournalError::io("open", &self.path, e)),
        };
        read_entries(&self.path.display().to_string(), file)
    }

    /// Archive file names, oldest first.
    fn archives(&self) -> Result<Vec<String>, JournalError> {
        if let Some(f) = &self.objects {
            let mut names = f.list().map_err(JournalError::ObjectRead)?;
            names.retain(|n| is_archive(n));
            names.sort();
            return Ok(names);
        }
        let dir = self.dir_or_cwd();
        let list = match fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(JournalError::io("list the folder of", &dir, e)),
        };
        let mut names: Vec<String> = list
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_archive(n))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Appends `entries` atomically (all or none), serialised with every other appender.
    pub fn append(&self, entries: &[JournalEntry]) -> Result<(), JournalError> {
        self.append_unless_present(&[], entries)
    }

    /// Appends `entries`, preceded by the runs of `recovered` (an entity's earlier
    /// publishes, newest first) that the journal does not hold: those before the newest one
    /// it holds (each journaled run recorded the ones before it), oldest first, in one atomic
    /// append.
    pub fn append_unless_present(
        &self,
        recovered: &[JournalEntry],
        entries: &[JournalEntry],
    ) -> Result<(), JournalError> {
        if entries.is_empty() && recovered.is_empty() {
            return Ok(());
        }
        if let Some(f) = &self.objects {
            return self.append_to_objects(f.as_ref(), recovered, entries);
        }
        let dir = self.dir_or_cwd();
        if !dir.is_dir() {
            fs::create_dir_all(&dir)
                .map_err(|e| JournalError::io("create the folder of", &dir, e))?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
        }
        let lock_path = self.lock_path();
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| JournalError::io("create the lock", &lock_path, e))?;
        lock.lock()
            .map_err(|e| JournalError::io("lock", &lock_path, e))?;

        // Holding the lock: any temp file is a leftover of an append that was killed.
        self.remove_stale_temps(&dir);

        let (mut all, mut archived) = self.read_active()?;
        // A rotation that archived rows but did not get to rewrite `journal.parquet`.
        if let Some(newest) = self.archives()?.pop()
            && archived.as_deref() != Some(newest.as_str())
        {
            let moved: std::collections::HashSet<String> = read_file(&dir.join(&newest))?
                .into_iter()
                .map(|e| e.entity_run_id)
                .collect();
            all.retain(|e| !moved.contains(&e.entity_run_id));
            archived = Some(newest);
        }
        let missing: Vec<&JournalEntry> = recovered
            .iter()
            .take_while(|r| !all.iter().any(|e| e.entity_run_id == r.entity_run_id))
            .collect();
        for r in missing.into_iter().rev() {
            tracing::warn!(
                "{}.{}: a run that published here stopped before journaling it (run {}); its entry is recorded now, from the destination's checkpoint",
                r.flow,
                r.entity,
                r.start_time
            );
            all.push(r.clone());
        }
        all.extend_from_slice(entries);
        if all.len() > self.active_rows {
            let (keep, old) = self.split_for_archive(all);
            let name = next_archive(&self.archives()?);
            self.write_atomically(&dir, &dir.join(&name), &old, None)?;
            tracing::debug!("journal: {} older rows moved to {name}", old.len());
            archived = Some(name);
            all = keep;
        }
        let result = self.write_atomically(&dir, &self.path, &all, archived.as_deref());
        drop(lock); // releases the flock
        result
    }

    /// [`Journal::append_unless_present`] on object storage: read, change, write back if
    /// nobody wrote meanwhile, else again.
    fn append_to_objects(
        &self,
        f: &dyn VersionedFolder,
        recovered: &[JournalEntry],
        entries: &[JournalEntry],
    ) -> Result<(), JournalError> {
        let url = f.url(JOURNAL_FILE);
        let mut pause = std::time::Duration::from_millis(20);
        for attempt in 1..=OBJECT_ATTEMPTS {
            if attempt > 1 {
                OBJECT_CONFLICTS.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(jittered(pause));
                pause = (pause * 2).min(std::time::Duration::from_secs(1));
            }
            let (mut all, mut archived, version) = match read_object(f, JOURNAL_FILE)? {
                Some(o) => (o.entries, o.archived, Some(o.version)),
                None => (Vec::new(), None, None),
            };
            // Every run the journal holds, or held until a rotation moved it.
            let mut present: std::collections::HashSet<String> =
                all.iter().map(|e| e.entity_run_id.clone()).collect();
            let archives = self.archives()?;
            // A rotation that archived rows but did not get to swap `journal.parquet` in.
            if let Some(newest) = archives.last()
                && archived.as_deref() != Some(newest.as_str())
            {
                let moved: std::collections::HashSet<String> = read_object(f, newest)?
                    .map(|o| o.entries)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| e.entity_run_id)
                    .collect();
                all.retain(|e| !moved.contains(&e.entity_run_id));
                present.extend(moved);
                archived = Some(newest.clone());
            }
            let missing: Vec<&JournalEntry> = recovered
                .iter()
                .take_while(|r| !present.contains(&r.entity_run_id))
                .collect();
            let new: Vec<&JournalEntry> = entries
                .iter()
                .filter(|e| !present.contains(&e.entity_run_id))
                .collect();
            if new.is_empty() && missing.is_empty() {
                // An earlier attempt's put reached the server after all.
                return Ok(());
            }
            for r in missing.into_iter().rev() {
                tracing::warn!(
                    "{}.{}: a run that published here stopped before journaling it (run {}); its entry is recorded now, from the destination's checkpoint",
                    r.flow,
                    r.entity,
                    r.start_time
                );
                all.push(r.clone());
            }
            all.extend(new.into_iter().cloned());
            if all.len() > self.active_rows {
                let (keep, old) = self.split_for_archive(all);
                let name = next_archive(&archives);
                let bytes = encode(&old, None).map_err(|detail| JournalError::Write {
                    path: f.url(&name),
                    detail,
                })?;
                match f
                    .put(&name, bytes.into(), None)
                    .map_err(JournalError::ObjectWrite)?
                {
                    Written::Done => {}
                    // Another appender is rotating too: start again from what it wrote.
                    Written::Conflict => continue,
                }
                tracing::debug!(
                    "journal: {} older rows moved to {}",
                    old.len(),
                    f.url(&name)
                );
                archived = Some(name);
                all = keep;
            }
            let bytes =
                encode(&all, archived.as_deref()).map_err(|detail| JournalError::Write {
                    path: url.clone(),
                    detail,
                })?;
            match f
                .put(JOURNAL_FILE, bytes.into(), version.as_ref())
                .map_err(JournalError::ObjectWrite)?
            {
                Written::Done => return Ok(()),
                Written::Conflict => {
                    tracing::debug!("journal {url}: another appender wrote first; reading it again")
                }
            }
        }
        Err(JournalError::Write {
            path: url,
            detail: format!(
                "{OBJECT_ATTEMPTS} attempts in a row found that another appender had written it first"
            ),
        })
    }

    /// Splits the rows (in file order) into those `journal.parquet` keeps and those that
    /// go to an archive, both in file order.
    fn split_for_archive(&self, all: Vec<JournalEntry>) -> (Vec<JournalEntry>, Vec<JournalEntry>) {
        let mut keep = vec![false; all.len()];
        let recent = all.len().saturating_sub(self.keep_recent);
        for k in keep.iter_mut().skip(recent) {
            *k = true;
        }
        // Each entity's latest run of each status: what reconciliation looks for.
        let mut last: std::collections::HashMap<(&str, &str, &str), usize> = Default::default();
        for (i, e) in all.iter().enumerate() {
            last.insert((&e.flow, &e.entity, &e.status), i);
        }
        for i in last.into_values() {
            keep[i] = true;
        }
        let mut seen = std::collections::HashSet::new();
        for e in &all {
            if seen.insert((e.flow.as_str(), e.entity.as_str()))
                && let Some(w) = latest_watermark(&all, &e.flow, &e.entity)
                && let Some(i) = all.iter().position(|x| std::ptr::eq(x, w))
            {
                keep[i] = true;
            }
        }
        let (mut k, mut o) = (Vec::new(), Vec::new());
        for (e, kept) in all.into_iter().zip(keep) {
            if kept { k.push(e) } else { o.push(e) }
        }
        (k, o)
    }

    /// Writes `entries` to `path` through a fsynced temp file renamed over it.
    fn write_atomically(
        &self,
        dir: &Path,
        path: &Path,
        entries: &[JournalEntry],
        archived: Option<&str>,
    ) -> Result<(), JournalError> {
        let tmp = dir.join(format!(
            "{JOURNAL_FILE}.tmp-{}-{}",
            std::process::id(),
            TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let result = write_file(&tmp, entries, archived)
            .and_then(|()| fs::rename(&tmp, path).map_err(|e| JournalError::io("replace", path, e)))
            .and_then(|()| sync_dir(dir));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// The latest `success` entry (by `finish_time`, then file order) for `(flow, entity)`
    /// with a watermark.
    pub fn last_watermark(
        &self,
        flow: &str,
        entity: &str,
    ) -> Result<Option<JournalEntry>, JournalError> {
        Ok(latest_watermark(&self.read()?, flow, entity).cloned())
    }

    fn dir_or_cwd(&self) -> PathBuf {
        if self.dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            self.dir.clone()
        }
    }

    fn remove_stale_temps(&self, dir: &Path) {
        let prefix = format!("{JOURNAL_FILE}.tmp-");
        let Ok(list) = fs::read_dir(dir) else { return };
        for item in list.flatten() {
            if item.file_name().to_string_lossy().starts_with(&prefix) {
                let path = item.path();
                match fs::remove_file(&path) {
                    Ok(()) => tracing::debug!(
                        "removed {} left by an interrupted journal append",
                        path.display()
                    ),
                    Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
                }
            }
        }
    }
}

/// Whether `name` is an archive's file name.
fn is_archive(name: &str) -> bool {
    name.starts_with(ARCHIVE_PREFIX) && name.ends_with(".parquet")
}

/// The name of the archive after the last of `archives` (sorted).
fn next_archive(archives: &[String]) -> String {
    let n = archives
        .last()
        .and_then(|a| {
            a.strip_prefix(ARCHIVE_PREFIX)
                .and_then(|a| a.strip_suffix(".parquet"))
                .and_then(|a| a.parse::<u64>().ok())
        })
        .map_or(1, |n| n + 1);
    format!("{ARCHIVE_PREFIX}{n:06}.parquet")
}

/// `d` give or take half, so appenders that collided do not collide again in step.
fn jittered(d: std::time::Duration) -> std::time::Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_nanos()),
    );
    let r = (h.finish() % 1000) as u32; // 0..1000
    d / 2 + d * r / 1000
}

/// One object of a journal on object storage, as read.
struct ObjectFile {
    entries: Vec<JournalEntry>,
    /// The archive it names.
    archived: Option<String>,
    version: Version,
}

/// One object of a journal on object storage; `None` when it does not exist. A failure to
/// read it is an error naming it.
fn read_object(f: &dyn VersionedFolder, name: &str) -> Result<Option<ObjectFile>, JournalError> {
    let Some((bytes, version)) = f.get(name).map_err(JournalError::ObjectRead)? else {
        return Ok(None);
    };
    let (entries, archived) = read_entries(&f.url(name), bytes)?;
    Ok(Some(ObjectFile {
        entries,
        archived,
        version,
    }))
}

/// The latest `success` entry with a watermark for `(flow, entity)`: greatest `finish_time`,
/// ties (and unparsable times) broken by file order, later wins.
pub fn latest_watermark<'a>(
    entries: &'a [JournalEntry],
    flow: &str,
    entity: &str,
) -> Option<&'a JournalEntry> {
    let mut best: Option<&JournalEntry> = None;
    for e in entries {
        if e.flow != flow || e.entity != entity || e.status != "success" || e.watermark.is_none() {
            continue;
        }
        let newer = match &best {
            None => true,
            Some(b) => match (finish_key(&e.finish_time), finish_key(&b.finish_time)) {
                (Some(x), Some(y)) => x >= y,
                _ => e.finish_time >= b.finish_time,
            },
        };
        if newer {
            best = Some(e);
        }
    }
    best
}

/// An ISO-8601 time as a comparable instant: offsets are converted to UTC, times without an
/// offset (the original's `datetime.isoformat()`) are taken as they are.
fn finish_key(s: &str) -> Option<chrono::NaiveDateTime> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t);
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
    ] {
        if let Ok(t) = chrono::DateTime::parse_from_str(s, fmt) {
            return Some(t.naive_utc());
        }
    }
    None
}

/// The schema hygge writes: the original's 18 columns in its order, then hygge's 7.
pub fn schema() -> SchemaRef {
    let s = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let i = |name: &str, nullable: bool| Field::new(name, DataType::Int64, nullable);
    Arc::new(Schema::new(vec![
        s("entity_run_id", false),
        s("coordinator_run_id", false),
        s("flow_run_id", false),
        s("coordinator", false),
        s("flow", false),
        s("entity", false),
        s("start_time", false),
        s("finish_time", false),
        s("status", false),
        s("run_type", false),
        i("row_count", false),
        Field::new("duration", DataType::Float64, false),
        s("primary_key", true),
        s("watermark_column", true),
        s("watermark_type", true),
        s("watermark", true),
        s("message", true),
        s("schema_version", false),
        i("source_row_count", true),
        i("destination_row_count", true),
        i("bytes", true),
        s("watermark_arrow_type", true),
        s("watermark_exact", true),
        s("watermark_boundary_keys", true),
        s("arrow_schema", true),
    ]))
}

pub(crate) fn to_batch(entries: &[JournalEntry]) -> Result<RecordBatch, arrow::error::ArrowError> {
    fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
        let mut b = StringBuilder::new();
        for v in values {
            b.append_option(v);
        }
        Arc::new(b.finish())
    }
    fn ints(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
        let mut b = Int64Builder::new();
        for v in values {
            b.append_option(v);
        }
        Arc::new(b.finish())
    }
    let req = |f: fn(&JournalEntry) -> &str| strings(entries.iter().map(|e| Some(f(e))));
    let opt = |f: fn(&JournalEntry) -> Option<&str>| strings(entries.iter().map(f));
    let mut duration = Float64Builder::new();
    for e in entries {
        duration.append_value(e.duration);
    }
    let columns: Vec<ArrayRef> = vec![
        req(|e| &e.entity_run_id),
        req(|e| &e.coordinator_run_id),
        req(|e| &e.flow_run_id),
        req(|e| &e.coordinator),
        req(|e| &e.flow),
        req(|e| &e.entity),
        req(|e| &e.start_time),
        req(|e| &e.finish_time),
        req(|e| &e.status),
        req(|e| &e.run_type),
        ints(entries.iter().map(|e| Some(e.row_count))),
        Arc::new(duration.finish()),
        opt(|e| e.primary_key.as_deref()),
        opt(|e| e.watermark_column.as_deref()),
        opt(|e| e.watermark_type.as_deref()),
        opt(|e| e.watermark.as_deref()),
        opt(|e| e.message.as_deref()),
        req(|e| &e.schema_version),
        ints(entries.iter().map(|e| e.source_row_count)),
        ints(entries.iter().map(|e| e.destination_row_count)),
        ints(entries.iter().map(|e| e.bytes)),
        opt(|e| e.watermark_arrow_type.as_deref()),
        opt(|e| e.watermark_exact.as_deref()),
        opt(|e| e.watermark_boundary_keys.as_deref()),
        opt(|e| e.arrow_schema.as_deref()),
    ];
    RecordBatch::try_new(schema(), columns)
}

/// Every entry of one journal file.
fn read_file(path: &Path) -> Result<Vec<JournalEntry>, JournalError> {
    let file = File::open(path).map_err(|e| JournalError::io("open", path, e))?;
    Ok(read_entries(&path.display().to_string(), file)?.0)
}

/// Writes `entries` to a new file at `path` and fsyncs it; `archived` names the last
/// archive in its metadata.
fn write_file(
    path: &Path,
    entries: &[JournalEntry],
    archived: Option<&str>,
) -> Result<(), JournalError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| JournalError::io("create", path, e))?;
    let file = write_to(file, entries, archived).map_err(|detail| JournalError::Write {
        path: path.display().to_string(),
        detail,
    })?;
    file.sync_all()
        .map_err(|e| JournalError::io("sync", path, e))
}

/// `entries` as the bytes of a journal file; `archived` names the last archive in its
/// metadata.
fn encode(entries: &[JournalEntry], archived: Option<&str>) -> Result<Vec<u8>, String> {
    write_to(Vec::new(), entries, archived)
}

/// Writes `entries` as a Parquet file into `w`.
fn write_to<W: std::io::Write + Send>(
    w: W,
    entries: &[JournalEntry],
    archived: Option<&str>,
) -> Result<W, String> {
    let batch = to_batch(entries).map_err(|e| e.to_string())?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(archived.map(|a| {
            vec![parquet::file::metadata::KeyValue::new(
                ARCHIVED_KEY.to_string(),
                a.to_string(),
            )]
        }))
        .build();
    let mut writer = ArrowWriter::try_new(w, schema(), Some(props)).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.into_inner().map_err(|e| e.to_string())
}

/// fsyncs a folder so a rename into it is durable.
fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(|e| JournalError::io("open the folder of", dir, e))?;
        d.sync_all()
            .map_err(|e| JournalError::io("sync the folder of", dir, e))?;
    }
    let _ = dir;
    Ok(())
}

/// Reads every row, leniently: columns are found by name, any type that converts (e.g.
/// `LargeUtf8`/`Utf8View` strings, `Int32` counts) is accepted, missing columns read as
/// null, and a null in a required column as its default (`""`, `0`). Also returns the
/// archive the file names. A damaged file is an error, never a panic (arrow-rs panics on
/// some damaged files).
fn read_entries<R: ChunkReader + 'static>(
    path: &str,
    file: R,
) -> Result<(Vec<JournalEntry>, Option<String>), JournalError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_entries_unguarded(path, file)
    })) {
        Ok(r) => r,
        Err(panic) => Err(JournalError::Unreadable {
            path: path.to_string(),
            detail: format!(
                "the Parquet reader gave up on it ({})",
                panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "damaged file".into())
            ),
        }),
    }
}

fn read_entries_unguarded<R: ChunkReader + 'static>(
    path: &str,
    file: R,
) -> Result<(Vec<JournalEntry>, Option<String>), JournalError> {
    let unreadable = |detail: String| JournalError::Unreadable {
        path: path.to_string(),
        detail,
    };
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(e.to_string()))?;
    let archived = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == ARCHIVED_KEY))
        .and_then(|k| k.value.clone());
    let reader = builder.build().map_err(|e| unreadable(e.to_string()))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| unreadable(e.to_string()))?;
        let cols = Columns {
            batch: &batch,
            path,
        };
        let s = |name| cols.strings(name);
        let (entity_run_id, coordinator_run_id, flow_run_id) = (
            s("entity_run_id")?,
            s("coordinator_run_id")?,
            s("flow_run_id")?,
        );
        let (coordinator, flow, entity) = (s("coordinator")?, s("flow")?, s("entity")?);
        let (start_time, finish_time) = (s("start_time")?, s("finish_time")?);
        let (status, run_type) = (s("status")?, s("run_type")?);
        let row_count = cols.ints("row_count")?;
        let duration = cols.floats("duration")?;
        let (primary_key, watermark_column, watermark_type) = (
            s("primary_key")?,
            s("watermark_column")?,
            s("watermark_type")?,
        );
        let (watermark, message, schema_version) =
            (s("watermark")?, s("message")?, s("schema_version")?);
        let source_row_count = cols.ints("source_row_count")?;
        let destination_row_count = cols.ints("destination_row_count")?;
        let bytes = cols.ints("bytes")?;
        let watermark_arrow_type = s("watermark_arrow_type")?;
        let watermark_exact = s("watermark_exact")?;
        let watermark_boundary_keys = s("watermark_boundary_keys")?;
        let arrow_schema = s("arrow_schema")?;

        let req = |c: &Option<StringArray>, row| opt_str(c, row).unwrap_or_default();
        for row in 0..batch.num_rows() {
            out.push(JournalEntry {
                entity_run_id: req(&entity_run_id, row),
                coordinator_run_id: req(&coordinator_run_id, row),
                flow_run_id: req(&flow_run_id, row),
                coordinator: req(&coordinator, row),
                flow: req(&flow, row),
                entity: req(&entity, row),
                start_time: req(&start_time, row),
                finish_time: req(&finish_time, row),
                status: req(&status, row),
                run_type: req(&run_type, row),
                row_count: opt_int(&row_count, row).unwrap_or(0),
                duration: duration
                    .as_ref()
                    .filter(|a| a.is_valid(row))
                    .map_or(0.0, |a| a.value(row)),
                primary_key: opt_str(&primary_key, row),
                watermark_column: opt_str(&watermark_column, row),
                watermark_type: opt_str(&watermark_type, row),
                watermark: opt_str(&watermark, row),
                message: opt_str(&message, row),
                schema_version: req(&schema_version, row),
                source_row_count: opt_int(&source_row_count, row),
                destination_row_count: opt_int(&destination_row_count, row),
                bytes: opt_int(&bytes, row),
                watermark_arrow_type: opt_str(&watermark_arrow_type, row),
                watermark_exact: opt_str(&watermark_exact, row),
                watermark_boundary_keys: opt_str(&watermark_boundary_keys, row),
                arrow_schema: opt_str(&arrow_schema, row),
            });
        }
    }
    Ok((out, archived))
}

fn opt_str(c: &Option<StringArray>, row: usize) -> Option<String> {
    c.as_ref()
        .filter(|a| a.is_valid(row))
        .map(|a| a.value(row).to_string())
}

fn opt_int(c: &Option<Int64Array>, row: usize) -> Option<i64> {
    c.as_ref().filter(|a| a.is_valid(row)).map(|a| a.value(row))
}

/// One batch's columns, converted by name to the types hygge uses.
struct Columns<'a> {
    batch: &'a RecordBatch,
    path: &'a str,
}

impl Columns<'_> {
    fn converted(&self, name: &str, to: &DataType) -> Result<Option<ArrayRef>, JournalError> {
        let Some(col) = self.batch.column_by_name(name) else {
            return Ok(None);
        };
        if col.data_type() == to {
            return Ok(Some(col.clone()));
        }
        cast(col, to)
            .map(Some)
            .map_err(|e| JournalError::Unreadable {
                path: self.path.to_string(),
                detail: format!(
                    "column `{name}` has type {} which cannot be read as {to}: {e}",
                    col.data_type()
                ),
            })
    }

    fn strings(&self, name: &str) -> Result<Option<StringArray>, JournalError> {
        Ok(self
            .converted(name, &DataType::Utf8)?
            .and_then(|a| a.as_any().downcast_ref::<StringArray>().cloned()))
    }

    fn ints(&self, name: &str) -> Result<Option<Int64Array>, JournalError> {
        Ok(self
            .converted(name, &DataType::Int64)?
            .and_then(|a| a.as_any().downcast_ref::<Int64Array>().cloned()))
    }

    fn floats(&self, name: &str) -> Result<Option<Float64Array>, JournalError> {
        Ok(self
            .converted(name, &DataType::Float64)?
            .and_then(|a| a.as_any().downcast_ref::<Float64Array>().cloned()))
    }
}
