//! Reads Parquet, CSV or NDJSON files lazily, one batch at a time, on the blocking pool:
//! local files, or objects a cloud connector lists ([`RemoteFiles`]).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use hygge_core::{BatchStream, BoxError, Encoded, EncodedStream, Home, ReadRequest};

use super::config::ReadFormat;
use crate::error::FileError;
use crate::format::input::Input;
use crate::format::parquet_copy::{self, RowGroupSource};
use crate::format::{self, BatchIter, FileFormat};

/// Files somewhere else than on this machine (a cloud container): who lists an entity's
/// files, each read through [`crate::format::input::RemoteObject`].
#[async_trait]
pub trait RemoteFiles: Send + Sync + std::fmt::Debug {
    /// Where `entity` is read from (a URL), for plans and messages.
    fn describe(&self, entity: &str) -> String;
    /// The entity's files of `format`, in reading order; [`FileError::NotFound`] or
    /// [`FileError::NoFiles`] when there are none.
    async fn list(&self, entity: &str, format: FileFormat) -> Result<Vec<Input>, FileError>;
}

/// Where a file home's files are.
#[derive(Debug, Clone)]
enum Files {
    /// `path` (a file or a folder), or `<path>/<entity>` with `entity_folder`.
    Local { path: PathBuf, entity_folder: bool },
    /// Listed by a cloud connector.
    Remote(Arc<dyn RemoteFiles>),
}

/// A home over files.
#[derive(Debug, Clone)]
pub struct FileHome {
    kind: &'static str,
    files: Files,
    read: ReadFormat,
}

impl FileHome {
    /// A home reading `path` (a file or a folder) in `read`'s format; with `entity_folder`,
    /// each entity is read from `<path>/<entity>`.
    pub fn new(kind: &'static str, path: PathBuf, entity_folder: bool, read: ReadFormat) -> Self {
        FileHome {
            kind,
            files: Files::Local {
                path,
                entity_folder,
            },
            read,
        }
    }

    /// A home reading the files `files` lists, in `read`'s format.
    pub fn remote(kind: &'static str, files: Arc<dyn RemoteFiles>, read: ReadFormat) -> Self {
        FileHome {
            kind,
            files: Files::Remote(files),
            read,
        }
    }

    /// One line for plans: format and where the entity is read from.
    pub fn summary(&self, entity: &str) -> String {
        format!(
            "{} ({} files) {}",
            self.kind,
            self.read.format().name(),
            self.describe_entity(entity)
        )
    }

    /// Where `entity` is read from: a path or a URL.
    fn describe_entity(&self, entity: &str) -> String {
        match &self.files {
            Files::Local { .. } => self
                .entity_path(entity)
                .unwrap_or_default()
                .display()
                .to_string(),
            Files::Remote(r) => r.describe(entity),
        }
    }

    /// The local path `entity` is read from (`None` for remote files).
    pub fn entity_path(&self, entity: &str) -> Option<PathBuf> {
        match &self.files {
            Files::Local {
                path,
                entity_folder: true,
            } => Some(path.join(entity)),
            Files::Local { path, .. } => Some(path.clone()),
            Files::Remote(_) => None,
        }
    }

    /// The path, or `<path>.<ext>` when only that exists (`users` -> `users.parquet`).
    fn resolve(&self, path: PathBuf) -> PathBuf {
        if !path.exists() {
            let ext = self.read.format().extension();
            let mut with_ext = path.clone().into_os_string();
            with_ext.push(".");
            with_ext.push(ext);
            let with_ext = PathBuf::from(with_ext);
            if with_ext.is_file() {
                return with_ext;
            }
        }
        path
    }

    /// The entity's files.
    async fn list(&self, entity: &str) -> Result<Vec<Input>, BoxError> {
        let format = self.read.format();
        match self.entity_path(entity) {
            Some(path) => {
                let path = self.resolve(path);
                let listed = tokio::task::spawn_blocking(move || format::list_files(&path, format))
                    .await
                    .map_err(|e| BoxError::from(e.to_string()))??;
                Ok(listed.into_iter().map(Input::Local).collect())
            }
            None => match &self.files {
                Files::Remote(r) => Ok(r.list(entity, format).await?),
                Files::Local { .. } => unreachable!("a local home has a path"),
            },
        }
    }

    /// Settles the schema the files share; `true` when every file has that schema exactly
    /// (Parquet files may differ in nullability, which the schema widens).
    fn settle(&self, files: &[Input]) -> Result<(SchemaRef, bool), FileError> {
        let first = files[0].name();
        let schema = self.schema_of(&files[0])?;
        let mut nullable: Vec<bool> = schema.fields().iter().map(|f| f.is_nullable()).collect();
        let mut uniform = true;
        match self.read {
            ReadFormat::Parquet => {}
            // CSV files are read by position: columns named differently would be misread.
            ReadFormat::Csv(_) => {
                for other in &files[1..] {
                    let s = self.schema_of(other)?;
                    let names = |s: &SchemaRef| {
                        s.fields()
                            .iter()
                            .map(|f| f.name().clone())
                            .collect::<Vec<_>>()
                    };
                    if names(&s) != names(&schema) {
                        return Err(FileError::SchemaMismatch {
                            first: first.to_path_buf(),
                            other: other.name().to_path_buf(),
                            detail: format!(
                                "its columns are [{}] instead of [{}]",
                                names(&s).join(", "),
                                names(&schema).join(", ")
                            ),
                        });
                    }
                }
            }
            // NDJSON is read by name, strictly: a field not in the schema is an error.
            ReadFormat::Ndjson(_) => {}
        }
        if let ReadFormat::Parquet = self.read {
            for other in &files[1..] {
                let s = self.schema_of(other)?;
                if let Some(detail) = format::schema_difference(&schema, &s) {
                    return Err(FileError::SchemaMismatch {
                        first: first.to_path_buf(),
                        other: other.name().to_path_buf(),
                        detail,
                    });
                }
                for (n, f) in nullable.iter_mut().zip(s.fields()) {
                    *n |= f.is_nullable();
                }
                uniform &= s.fields() == schema.fields();
            }
        }
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .zip(nullable)
            .map(|(f, n)| f.as_ref().clone().with_nullable(n))
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        Ok((schema, uniform))
    }

    /// Lists the entity's files and settles their schema (on the blocking pool: it reads
    /// every file's footer or header).
    async fn plan(&self, entity: &str) -> Result<(SchemaRef, Vec<Input>, bool), BoxError> {
        let files = self.list(entity).await?;
        let me = self.clone();
        let planned = tokio::task::spawn_blocking(move || {
            me.settle(&files)
                .map(|(schema, uniform)| (schema, files, uniform))
        })
        .await
        .map_err(|e| BoxError::from(e.to_string()))??;
        Ok(planned)
    }

    fn schema_of(&self, input: &Input) -> Result<SchemaRef, FileError> {
        match &self.read {
            ReadFormat::Parquet => format::parquet::read_schema(input),
            ReadFormat::Csv(o) => o.infer_schema(input),
            ReadFormat::Ndjson(o) => o.infer_schema(input),
        }
    }

    fn open(
        &self,
        input: &Input,
        schema: &SchemaRef,
        batch_size: usize,
    ) -> Result<BatchIter, FileError> {
        match &self.read {
            ReadFormat::Parquet => format::parquet::open(input, batch_size),
            ReadFormat::Csv(o) => o.open(input, schema.clone(), batch_size),
            ReadFormat::Ndjson(o) => o.open(input, schema.clone(), batch_size),
        }
    }
}

/// Where a lazy read is.
struct Cursor {
    home: FileHome,
    schema: SchemaRef,
    batch_size: usize,
    files: VecDeque<Input>,
    current: Option<(Input, BatchIter)>,
    failed: bool,
}

impl Cursor {
    /// Decodes the next batch (blocking).
    fn next_batch(&mut self) -> Option<Result<RecordBatch, FileError>> {
        if self.failed {
            return None;
        }
        loop {
            if self.current.is_none() {
                let path = self.files.pop_front()?;
                match self.home.open(&path, &self.schema, self.batch_size) {
                    Ok(iter) => self.current = Some((path, iter)),
                    Err(e) => return self.fail(e),
                }
            }
            let (input, iter) = self.current.as_mut().expect("opened");
            let path = input.name();
            let next = format::panic_names_file(path, || Ok(iter.next()));
            match next {
                Ok(None) => self.current = None,
                Err(e) => return self.fail(e),
                Ok(Some(Err(e))) => {
                    let e = FileError::read(path, e);
                    return self.fail(e);
                }
                Ok(Some(Ok(batch))) => {
                    let path = path.to_path_buf();
                    return Some(self.conform(batch, &path));
                }
            }
        }
    }

    fn fail(&mut self, e: FileError) -> Option<Result<RecordBatch, FileError>> {
        self.failed = true;
        Some(Err(e))
    }

    /// Gives the batch the announced schema (same columns; nullability widened).
    fn conform(&mut self, batch: RecordBatch, path: &Path) -> Result<RecordBatch, FileError> {
        if batch.schema().fields() == self.schema.fields() {
            return Ok(batch);
        }
        RecordBatch::try_new(self.schema.clone(), batch.columns().to_vec()).map_err(|e| {
            self.failed = true;
            FileError::read(path, e)
        })
    }
}

#[async_trait]
impl Home for FileHome {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn describe(&self, entity: &str) -> String {
        self.describe_entity(entity)
    }

    async fn check(&self, entity: &str) -> Result<(), BoxError> {
        self.plan(entity).await.map(|_| ())
    }

    async fn read(&self, req: &ReadRequest) -> Result<(SchemaRef, BatchStream), BoxError> {
        let (schema, files, _) = self.plan(&req.entity).await?;
        tracing::debug!(
            "reading {} {} file(s) from {}",
            files.len(),
            self.read.format().name(),
            self.describe_entity(&req.entity)
        );
        let cursor = Cursor {
            home: self.clone(),
            schema: schema.clone(),
            batch_size: req.batch_size,
            files: files.into(),
            current: None,
            failed: false,
        };
        // Pull-based: each poll decodes exactly one batch on the blocking pool, so a stalled
        // store stops the reading (no read-ahead beyond the flow's queue).
        let stream = futures::stream::unfold(Some(cursor), |cursor| async move {
            let mut cursor = cursor?;
            let span = tracing::Span::current();
            let decoded = tokio::task::spawn_blocking(move || {
                let _entered = span.enter();
                let item = cursor.next_batch();
                (cursor, item)
            })
            .await;
            match decoded {
                Ok((cursor, item)) => item.map(|r| (r.map_err(BoxError::from), Some(cursor))),
                // Never end silently: a failed decoder task is an error.
                Err(e) => Some((
                    Err(BoxError::from(format!("file reader task failed: {e}"))),
                    None,
                )),
            }
        });
        Ok((schema, Box::pin(stream)))
    }

    async fn read_encoded(
        &self,
        req: &ReadRequest,
        format: &'static str,
    ) -> Result<Option<(SchemaRef, EncodedStream)>, BoxError> {
        if format != parquet_copy::FORMAT || !matches!(self.read, ReadFormat::Parquet) {
            return Ok(None);
        }
        let (schema, files, uniform) = self.plan(&req.entity).await?;
        if !uniform {
            tracing::debug!("the files differ in nullability: their rows are decoded");
            return Ok(None);
        }
        tracing::debug!(
            "reading {} parquet file(s) from {} as row groups, for the store to copy",
            files.len(),
            self.describe_entity(&req.entity)
        );
        let batch_size = req.batch_size;
        let files: VecDeque<Input> = files.into();
        let row_groups = VecDeque::<RowGroupSource>::new();
        let announced = schema.clone();
        // One file's footer is read when its row groups are needed; each row group is one
        // chunk, read by the store.
        let stream = futures::stream::unfold(Some((files, row_groups)), move |state| {
            let schema = announced.clone();
            async move {
                let (mut files, mut row_groups) = state?;
                loop {
                    if let Some(src) = row_groups.pop_front() {
                        let chunk = Encoded {
                            format: parquet_copy::FORMAT,
                            rows: src.rows() as u64,
                            memory: src.memory(),
                            payload: Box::new(src),
                        };
                        return Some((Ok(chunk), Some((files, row_groups))));
                    }
                    let input = files.pop_front()?;
                    let schema = schema.clone();
                    let opened = tokio::task::spawn_blocking(move || {
                        RowGroupSource::open_all(&input, &schema, batch_size)
                    })
                    .await;
                    match opened {
                        Ok(Ok(all)) => row_groups.extend(all),
                        Ok(Err(e)) => return Some((Err(BoxError::from(e)), None)),
                        Err(e) => {
                            return Some((
                                Err(BoxError::from(format!("file reader task failed: {e}"))),
                                None,
                            ));
                        }
                    }
                }
            }
        });
        Ok(Some((schema, Box::pin(stream))))
    }
}
