//! Writes an entity's files into staging and publishes them atomically at `finish`.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use hygge_core::{
    BoxError, Checkpoint, Encoded, Publish, RunType, Store, StoreWriter, WriteReport, WriteTarget,
};

use super::pattern::FilePattern;
use super::publish::{Staging, link_tree, remove_all};
use crate::error::FileError;
use crate::format::parquet_copy::{self, RowGroupSource};
use crate::format::{self, FileWriter, WriteOptions};
use crate::polish::{Polish, PolishPlan};

/// A validated file store for one entity folder.
#[derive(Debug, Clone)]
pub struct FileStoreSettings {
    /// `parquet` or `local`.
    pub kind: &'static str,
    /// The store's folder (`path`).
    pub dir: PathBuf,
    /// Whether each entity gets its own subfolder `<path>/<entity>` (entity flows), or
    /// writes to `path` itself (a flow without entities).
    pub entity_folder: bool,
    /// How files are encoded.
    pub write: WriteOptions,
    /// File names.
    pub pattern: FilePattern,
    /// Rows per file.
    pub rows_per_file: usize,
    /// fsync files and folders before publishing (`fsync`, default true).
    pub durable: bool,
    /// Last-mile transforms applied to every batch before it is encoded.
    pub polish: Option<Polish>,
}

/// A store over local files.
#[derive(Debug, Clone)]
pub struct FileStore {
    settings: Arc<FileStoreSettings>,
}

impl FileStoreSettings {
    /// The visible folder of `entity`.
    pub fn entity_dir(&self, entity: &str) -> PathBuf {
        if self.entity_folder {
            self.dir.join(entity)
        } else {
            self.dir.clone()
        }
    }
}

impl FileStore {
    /// One line for plans: format, encoding and where the entity is written.
    pub fn summary(&self, entity: &str) -> String {
        let s = &self.settings;
        let encoding = match &s.write {
            WriteOptions::Parquet(o) => format!(
                "{}, row groups of {} rows{}, ",
                format!("{:?}", o.codec).to_lowercase(),
                o.row_group_size,
                if o.copy_row_groups {
                    " (a Parquet source's that fit are copied)"
                } else {
                    ""
                }
            ),
            _ => String::new(),
        };
        let polish = match &s.polish {
            Some(p) => format!(", polish: {}", p.summary()),
            None => String::new(),
        };
        format!(
            "{} ({} files: {encoding}{} rows per file, {}{}{polish}) {}",
            s.kind,
            s.write.format().name(),
            s.rows_per_file,
            s.pattern,
            if s.durable { "" } else { ", fsync off" },
            s.entity_dir(entity).display()
        )
    }

    /// What a run would do to the entity's folder, read from the folder as it is now.
    /// `flow_name` is `<flow>_<entity>`, for `{flow_name}` in `file_pattern`.
    pub fn preview(&self, entity: &str, flow_name: &str, run_type: RunType) -> String {
        let dir = self.settings.entity_dir(entity);
        let names: Vec<String> = match fs::read_dir(&dir) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => return format!("creates {}", dir.display()),
        };
        let store = store_name(flow_name);
        let max = self.settings.pattern.max_sequence(
            names.iter().map(String::as_str),
            &[&store, entity],
            flow_name,
        );
        let listed = read_state(&dir).map(|s| s.files).unwrap_or_default();
        if let Ok(Some((entry, why))) =
            foreign_entry(&dir, &listed, &self.settings.pattern, entity, flow_name)
        {
            return format!(
                "refuses to replace {}: it holds {entry}{why}, which this store did not write",
                dir.display()
            );
        }
        let names: Vec<String> = names.into_iter().filter(|n| n != STATE_FILE).collect();
        match run_type {
            RunType::FullDrop => format!(
                "replaces the {} file{} now in {}",
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                dir.display()
            ),
            RunType::Incremental => format!(
                "appends to the {} file{} now in {}, from sequence {}",
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                dir.display(),
                max.map_or(1, |m| m + 1)
            ),
        }
    }

    /// For `hygge debug`: writes nothing. The entity folder, or the nearest folder above it
    /// that exists, must be a writable folder holding nothing this store would not have
    /// written. `flow_name` is `<flow>_<entity>` (for `{name}` and `{flow_name}` in
    /// `file_pattern`); empty when unknown, and then names made from it are not checked.
    pub async fn check_flow(&self, entity: &str, flow_name: &str) -> Result<(), BoxError> {
        let dir = self.settings.entity_dir(entity);
        let s = self.settings.clone();
        let entity = entity.to_string();
        let flow_name = flow_name.to_string();
        blocking(move || {
            if dir.is_dir() {
                let listed = read_state(&dir).map(|s| s.files).unwrap_or_default();
                let unknown =
                    flow_name.is_empty() && (s.pattern.uses_flow_name() || s.pattern.uses_name());
                if let Some((entry, why)) =
                    foreign_entry(&dir, &listed, &s.pattern, &entity, &flow_name)?
                    && !unknown
                {
                    return Err(FileError::Foreign {
                        dir: dir.clone(),
                        entry,
                        why,
                    });
                }
            }
            let mut cur = dir.as_path();
            loop {
                if cur.exists() {
                    if !cur.is_dir() {
                        return Err(FileError::Unsupported {
                            path: cur.to_path_buf(),
                            detail: "is a file, but the store needs a folder here".into(),
                        });
                    }
                    return writable(cur);
                }
                match cur.parent() {
                    Some(p) if !p.as_os_str().is_empty() => cur = p,
                    _ => return writable(std::path::Path::new(".")),
                }
            }
        })
        .await
    }

    /// A store with validated settings.
    pub fn new(settings: FileStoreSettings) -> Self {
        FileStore {
            settings: Arc::new(settings),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FileError> + Send + 'static,
) -> Result<T, BoxError> {
    let span = tracing::Span::current();
    match tokio::task::spawn_blocking(move || span.in_scope(f)).await {
        Ok(r) => r.map_err(BoxError::from),
        Err(e) => Err(BoxError::from(format!("file writer task failed: {e}"))),
    }
}

#[async_trait]
impl Store for FileStore {
    fn kind(&self) -> &'static str {
        self.settings.kind
    }

    fn describe(&self, entity: &str) -> String {
        self.settings.entity_dir(entity).display().to_string()
    }

    async fn check(&self, entity: &str) -> Result<(), BoxError> {
        self.check_flow(entity, "").await
    }

    fn takes_encoded(&self) -> Option<&'static str> {
        match self.settings.write {
            WriteOptions::Parquet(ref o) if o.copy_row_groups => Some(parquet_copy::FORMAT),
            _ => None,
        }
    }

    async fn open(&self, target: &WriteTarget) -> Result<Box<dyn StoreWriter>, BoxError> {
        let s = self.settings.clone();
        let target = target.clone();
        let run = blocking(move || Run::lock(s, target)).await?;
        Ok(Box::new(FileStoreWriter { run: Some(run) }))
    }
}

fn writable(dir: &std::path::Path) -> Result<(), FileError> {
    #[cfg(unix)]
    rustix::fs::access(dir, rustix::fs::Access::WRITE_OK)
        .map_err(|e| FileError::io("write into", dir, e.into()))?;
    Ok(())
}

/// What `{name}` in `file_pattern` stands for: the store's name, `<entity flow>_store`, as
/// in the original hygge (`<flow>_<entity>_store`, or `<flow>_store` for a flow without
/// entities). Earlier versions of this hygge wrote the entity's name there; such files are
/// still recognised as the store's own, and an incremental run continues their sequence.
pub fn store_name(flow_name: &str) -> String {
    format!("{flow_name}_store")
}

/// The file in every published entity folder that says what hygge published there: the
/// data files, and the checkpoint of the run that published them. Hidden (a leading dot),
/// so dataset readers (pyarrow, Spark, DuckDB globs of `*.parquet`) and hygge's own file
/// home skip it.
pub const STATE_FILE: &str = ".hygge-state.json";

/// Where the original hygge (and hygge before 0.2) kept the journal of a flow without
/// entities: inside its store folder. Carried over when the folder is replaced, never
/// deleted.
const LEGACY_JOURNAL: &str = ".hygge_journal";

/// The content of [`STATE_FILE`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StateFile {
    hygge_state: u32,
    /// The data files of the folder, all written by hygge.
    files: Vec<String>,
    /// The checkpoint of the run that published the folder.
    checkpoint: serde_json::Value,
}

/// What a folder's state file says: its files, and the checkpoint as text (or, if the file
/// cannot be parsed, its raw text, which the engine then refuses with a named error).
struct State {
    files: Vec<String>,
    checkpoint: Option<String>,
}

fn read_state(dir: &std::path::Path) -> Option<State> {
    let text = fs::read_to_string(dir.join(STATE_FILE)).ok()?;
    Some(match serde_json::from_str::<StateFile>(&text) {
        Ok(f) => State {
            files: f.files,
            checkpoint: Some(f.checkpoint.to_string()),
        },
        Err(e) => State {
            files: vec![],
            checkpoint: Some(format!(
                "{text}\n(in {}: {e})",
                dir.join(STATE_FILE).display()
            )),
        },
    })
}

/// The first entry of `dir` that this store did not write, and what it is: anything but its
/// state file, the legacy journal folder, and files listed in the state file or named as
/// `file_pattern` names them.
fn foreign_entry(
    dir: &std::path::Path,
    listed: &[String],
    pattern: &FilePattern,
    entity: &str,
    flow_name: &str,
) -> Result<Option<(String, String)>, FileError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FileError::io("list", dir, e)),
    };
    let store = store_name(flow_name);
    let names = [store.as_str(), entity];
    let mut found: Vec<(String, String)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| FileError::io("list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == STATE_FILE || name == LEGACY_JOURNAL {
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| FileError::io("stat", entry.path(), e))?;
        let ours = kind.is_file()
            && (listed.contains(&name)
                || pattern
                    .max_sequence(std::iter::once(name.as_str()), &names, flow_name)
                    .is_some());
        if !ours {
            let why = if kind.is_dir() {
                " (a folder)"
            } else if kind.is_symlink() {
                " (a symbolic link)"
            } else if kind.is_file() {
                ""
            } else {
                " (not a regular file)"
            };
            found.push((name, why.to_string()));
        }
    }
    found.sort();
    Ok(found.into_iter().next())
}

/// One run's state. Dropping it unfinished removes its staging folder.
struct Run {
    s: Arc<FileStoreSettings>,
    target: WriteTarget,
    schema: Option<SchemaRef>,
    /// The run's polish, settled from the rows' schema at `begin`.
    polish: Option<PolishPlan>,
    publish: Publish,
    staging: Staging,
    /// The visible entity folder.
    entity_dir: PathBuf,
    /// This run's staging folder: the entity's complete new folder once finished.
    dir: PathBuf,
    _lock: fs::File,
    /// The checkpoint published with the folder's data, as its state file holds it.
    committed: Option<String>,
    /// The data files the state file lists.
    listed: Vec<String>,
    next_sequence: u64,
    current: Option<(Box<dyn FileWriter>, usize)>,
    outputs: Vec<String>,
    rows: u64,
    bytes: u64,
    /// Source row groups copied as they were encoded, and decoded instead.
    copied: usize,
    decoded: usize,
    done: bool,
}

impl Run {
    /// Takes the entity's lock and reads what the published folder holds. Refuses a store
    /// path that is a file or a link, and a folder holding anything this store did not
    /// write (a run replaces the whole folder).
    fn lock(s: Arc<FileStoreSettings>, target: WriteTarget) -> Result<Self, FileError> {
        let entity_dir = s.entity_dir(&target.entity);
        match fs::symlink_metadata(&entity_dir) {
            Ok(md) if md.file_type().is_symlink() => {
                return Err(FileError::Unsupported {
                    path: entity_dir,
                    detail: "is a symbolic link; a run replaces the folder it names, so point the store at the real folder".into(),
                });
            }
            Ok(md) if !md.is_dir() => {
                return Err(FileError::Unsupported {
                    path: entity_dir,
                    detail: "is a file, but the store writes a folder here; move the file, or point the store at a folder".into(),
                });
            }
            _ => {}
        }
        let staging = Staging::for_dir(&entity_dir)?;
        let lock = staging.begin()?;
        let state = read_state(&entity_dir);
        let listed = state.as_ref().map(|s| s.files.clone()).unwrap_or_default();
        if let Some((entry, why)) = foreign_entry(
            &entity_dir,
            &listed,
            &s.pattern,
            &target.entity,
            &target.flow_name,
        )? {
            return Err(FileError::Foreign {
                dir: entity_dir,
                entry,
                why,
            });
        }
        let dir = staging.run_dir(&target.run_id);
        Ok(Run {
            s,
            publish: Publish {
                run_type: target.run_type,
                reload: false,
                evolve: false,
            },
            target,
            schema: None,
            polish: None,
            staging,
            entity_dir,
            dir,
            _lock: lock,
            committed: state.and_then(|s| s.checkpoint),
            listed,
            next_sequence: 1,
            current: None,
            outputs: vec![],
            rows: 0,
            bytes: 0,
            copied: 0,
            decoded: 0,
            done: false,
        })
    }

    /// Creates this run's staging folder for rows of `schema`.
    fn begin(&mut self, schema: SchemaRef, publish: Publish) -> Result<(), FileError> {
        // The files hold the polished rows: their schema is settled here, once.
        if let Some(p) = &self.s.polish {
            let plan = p.plan(&schema).map_err(|e| FileError::Polish {
                path: self.entity_dir.clone(),
                source: e,
            })?;
            self.polish = Some(plan);
        }
        let schema = match &self.polish {
            Some(plan) => plan.schema().clone(),
            None => schema,
        };
        let refused = match self.s.write {
            WriteOptions::Csv(_) => format::csv::check_schema(&schema).err(),
            // Refused before anything is written (the writer converts what it can).
            WriteOptions::Parquet(_) => format::parquet::storable_schema(&schema).err(),
            WriteOptions::Ndjson => None,
        };
        if let Some(detail) = refused {
            return Err(FileError::Unsupported {
                path: self.entity_dir.clone(),
                detail,
            });
        }
        fs::create_dir_all(&self.dir).map_err(|e| FileError::io("create", &self.dir, e))?;
        self.next_sequence = match publish.run_type {
            RunType::FullDrop => 1,
            RunType::Incremental => {
                existing_max(&self.s, &self.entity_dir, &self.target)?.map_or(1, |m| m + 1)
            }
        };
        self.schema = Some(schema);
        self.publish = publish;
        Ok(())
    }

    fn open_file(&mut self) -> Result<(), FileError> {
        let name = self.s.pattern.render(
            self.next_sequence,
            &store_name(&self.target.flow_name),
            &self.target.flow_name,
        );
        self.next_sequence += 1;
        let path = self.dir.join(&name);
        let schema = self.schema.clone().ok_or_else(|| FileError::Unsupported {
            path: path.clone(),
            detail: "written before the run began (a bug in hygge)".into(),
        })?;
        let w = format::create_writer(&path, schema, &self.s.write, self.s.durable)?;
        self.outputs.push(name);
        self.current = Some((w, 0));
        Ok(())
    }

    fn close_file(&mut self) -> Result<(), FileError> {
        if let Some((w, _)) = self.current.take() {
            self.bytes += w.finish()?;
        }
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), FileError> {
        let polished;
        let batch = match &self.polish {
            Some(plan) => {
                polished = plan.apply(batch).map_err(|e| FileError::Polish {
                    path: self.entity_dir.clone(),
                    source: e,
                })?;
                &polished
            }
            None => batch,
        };
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.current.is_none() {
                self.open_file()?;
            }
            let (w, in_file) = self.current.as_mut().expect("open");
            let n = (self.s.rows_per_file - *in_file).min(batch.num_rows() - offset);
            w.write(&batch.slice(offset, n))?;
            *in_file += n;
            offset += n;
            if *in_file >= self.s.rows_per_file {
                self.close_file()?;
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Stages a source row group: copied as it is encoded when it fits the store's row
    /// groups and the current file, otherwise decoded and written like any batch.
    fn write_encoded(&mut self, src: &RowGroupSource) -> Result<(), FileError> {
        let rows = src.rows();
        let in_file = self.current.as_ref().map_or(0, |(_, n)| *n);
        let fits = self.s.write.copies(src, in_file, self.s.rows_per_file);
        if fits {
            if self.current.is_none() {
                self.open_file()?;
            }
            let (w, in_file) = self.current.as_mut().expect("open");
            if w.copy_row_group(src)? {
                self.copied += 1;
                *in_file += rows;
                self.rows += rows as u64;
                if *in_file >= self.s.rows_per_file {
                    self.close_file()?;
                }
                return Ok(());
            }
        }
        self.decoded += 1;
        for batch in src.decode()? {
            let batch = batch.map_err(|e| FileError::read(&src.path, e))?;
            self.write(&batch)?;
        }
        Ok(())
    }

    fn finish(mut self, checkpoint: &Checkpoint) -> Result<WriteReport, FileError> {
        let incremental = self.publish.run_type == RunType::Incremental;
        if self.rows == 0 && incremental {
            // Nothing new: the published folder (and its checkpoint) stays exactly as it is.
            self.discard();
            return Ok(self.report(vec![]));
        }
        if self.outputs.is_empty() {
            self.open_file()?; // full_drop of an empty source: one empty file keeps the schema
        }
        self.close_file()?;
        if self.entity_dir.exists() {
            // The folder may have changed since the run opened it: checked again, as it
            // is about to be swapped out.
            if let Some((entry, why)) = foreign_entry(
                &self.entity_dir,
                &self.listed,
                &self.s.pattern,
                &self.target.entity,
                &self.target.flow_name,
            )? {
                return Err(FileError::Foreign {
                    dir: self.entity_dir.clone(),
                    entry,
                    why,
                });
            }
            if incremental {
                link_tree(&self.entity_dir, &self.dir, &[STATE_FILE])?;
            } else if self.entity_dir.join(LEGACY_JOURNAL).is_dir() {
                let to = self.dir.join(LEGACY_JOURNAL);
                fs::create_dir_all(&to).map_err(|e| FileError::io("create", &to, e))?;
                link_tree(&self.entity_dir.join(LEGACY_JOURNAL), &to, &[])?;
            }
        }
        self.write_state(checkpoint)?;
        hygge_core::failpoint::hit("files.publish")
            .map_err(|e| FileError::io("publish", &self.entity_dir, std::io::Error::other(e)))?;
        let old = self.staging.publish(&self.target.run_id, self.s.durable)?;
        self.done = true;
        if let Some(old) = old
            && let Err(e) = remove_all(&old)
        {
            // Published already: a leftover of the old data is not a failure of this run.
            tracing::warn!("published, but could not remove the previous data: {e}");
        }
        self.staging.tidy();
        tracing::debug!(
            "published {} rows in {} new file(s) to {}",
            self.rows,
            self.outputs.len(),
            self.entity_dir.display()
        );
        if self.copied + self.decoded > 0 {
            tracing::debug!(
                "of the source's row groups, {} were copied page by page and {} decoded",
                self.copied,
                self.decoded
            );
        }
        let outputs = self
            .outputs
            .iter()
            .map(|n| self.entity_dir.join(n).display().to_string())
            .collect();
        Ok(self.report(outputs))
    }

    /// Writes the state file into the staged folder: every data file in it, and the run's
    /// checkpoint, published with them in the same swap.
    fn write_state(&self, checkpoint: &Checkpoint) -> Result<(), FileError> {
        use std::io::Write;
        let mut files: Vec<String> = fs::read_dir(&self.dir)
            .map_err(|e| FileError::io("list", &self.dir, e))?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != STATE_FILE)
            .collect();
        files.sort();
        let state = StateFile {
            hygge_state: 1,
            files,
            checkpoint: serde_json::to_value(checkpoint).expect("a checkpoint serialises"),
        };
        let path = self.dir.join(STATE_FILE);
        let mut f = fs::File::create(&path).map_err(|e| FileError::io("create", &path, e))?;
        f.write_all(&serde_json::to_vec_pretty(&state).expect("state serialises"))
            .map_err(|e| FileError::io("write", &path, e))?;
        if self.s.durable {
            // The folder itself is synced by `publish`, once, with everything in it.
            f.sync_all().map_err(|e| FileError::io("sync", &path, e))?;
        }
        Ok(())
    }

    fn report(&self, outputs: Vec<String>) -> WriteReport {
        WriteReport {
            rows: self.rows,
            bytes: self.bytes,
            outputs,
            destination: self.entity_dir.display().to_string(),
        }
    }

    fn discard(&mut self) {
        self.current = None;
        if !self.done {
            self.done = true;
            if self.schema.is_none() {
                return; // never began: nothing staged
            }
            if let Err(e) = remove_all(&self.dir) {
                tracing::warn!("could not remove staging folder: {e}");
            }
            self.staging.tidy();
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.discard();
    }
}

fn existing_max(
    s: &FileStoreSettings,
    dir: &std::path::Path,
    target: &WriteTarget,
) -> Result<Option<u64>, FileError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FileError::io("list", dir, e)),
    };
    let names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let store = store_name(&target.flow_name);
    Ok(s.pattern.max_sequence(
        names.iter().map(String::as_str),
        &[&store, &target.entity],
        &target.flow_name,
    ))
}

/// The writer handed to the engine; the run moves to the blocking pool for each call.
struct FileStoreWriter {
    run: Option<Run>,
}

impl FileStoreWriter {
    fn take(&mut self) -> Result<Run, BoxError> {
        self.run
            .take()
            .ok_or_else(|| BoxError::from("file writer used after a failed write"))
    }
}

#[async_trait]
impl StoreWriter for FileStoreWriter {
    fn committed(&self) -> Option<&str> {
        self.run.as_ref().and_then(|r| r.committed.as_deref())
    }

    async fn begin(&mut self, schema: SchemaRef, publish: Publish) -> Result<(), BoxError> {
        let mut run = self.take()?;
        let run = blocking(move || run.begin(schema, publish).map(|_| run)).await?;
        self.run = Some(run);
        Ok(())
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<(), BoxError> {
        let mut run = self.take()?;
        let run = blocking(move || run.write(&batch).map(|_| run)).await?;
        self.run = Some(run);
        Ok(())
    }

    async fn write_encoded(&mut self, chunk: Encoded) -> Result<(), BoxError> {
        let src = chunk
            .payload
            .downcast::<RowGroupSource>()
            .map_err(|_| BoxError::from("the file store takes only Parquet row groups"))?;
        let mut run = self.take()?;
        let run = blocking(move || {
            format::panic_names_file(&src.path, || run.write_encoded(&src)).map(|_| run)
        })
        .await?;
        self.run = Some(run);
        Ok(())
    }

    fn staged_rows(&self) -> u64 {
        self.run.as_ref().map_or(0, |r| r.rows)
    }

    async fn finish(mut self: Box<Self>, checkpoint: &Checkpoint) -> Result<WriteReport, BoxError> {
        let run = self.take()?;
        let checkpoint = checkpoint.clone();
        blocking(move || run.finish(&checkpoint)).await
    }

    async fn abort(mut self: Box<Self>) {
        if let Some(run) = self.run.take() {
            let _ = tokio::task::spawn_blocking(move || drop(run)).await;
        }
    }
}
