//! What the embedded databases (SQLite, DuckDB: one file, a library in the process)
//! share: the in-process lock on each table a run writes, the blocking pool every call
//! into the library runs on, and the Arrow field each column was written from, kept in a
//! `_hygge_columns` table so that reading it back gives the exact type.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::ArrayRef;
use arrow::datatypes::{Field, FieldRef, Schema};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The file's name as the locks know it (absolute, links resolved where it exists).
pub fn key_path(path: &Path) -> PathBuf {
    path.canonicalize()
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

static HELD: Mutex<BTreeSet<(PathBuf, String)>> = Mutex::new(BTreeSet::new());

/// Whether the database file `path`, missing, can be created: its nearest existing
/// folder must be a writable folder.
pub fn creatable(path: &Path) -> Result<(), String> {
    let mut dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    while !dir.as_os_str().is_empty() && !dir.exists() {
        dir = dir.parent().map(Path::to_path_buf).unwrap_or_default();
    }
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let md = std::fs::metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !md.is_dir() || md.permissions().readonly() {
        return Err(format!("{} is not a writable folder", dir.display()));
    }
    Ok(())
}

/// One writer per table of a file in this process: held from `open` until the writer
/// finishes or is dropped. (Across processes, a publish checks that the table's
/// checkpoint is still the one its run started from, so two processes cannot both load
/// the same rows; see the store.)
#[derive(Debug)]
pub struct EntityLock {
    key: (PathBuf, String),
}

impl EntityLock {
    /// The lock on `table` of `path`, or `None` when another run of this process holds it.
    pub fn try_take(path: &Path, table: &str) -> Option<EntityLock> {
        let key = (key_path(path), table.to_string());
        let taken = HELD
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone());
        // (Built only when taken: a lock dropped here would release the other run's.)
        taken.then(|| EntityLock { key })
    }
}

impl Drop for EntityLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.key);
    }
}

/// Runs `f` on the blocking pool; a panic becomes an error naming `what` (the database).
pub async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        if e.is_panic() {
            let p = e.into_panic();
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            format!("the {what} task panicked: {msg}")
        } else {
            format!("the {what} task was cancelled")
        }
    })
}

/// An Arrow IPC stream of `schema` holding `column` as its one batch (or no batch).
pub fn ipc_bytes(schema: &Arc<Schema>, column: Option<ArrayRef>) -> Result<Vec<u8>, String> {
    let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), schema).map_err(err)?;
    if let Some(c) = column {
        let b = arrow::record_batch::RecordBatch::try_new(schema.clone(), vec![c]).map_err(err)?;
        w.write(&b).map_err(err)?;
    }
    w.finish().map_err(err)?;
    w.into_inner().map_err(err)
}

/// The field as the `_hygge_columns` tables keep it: an Arrow IPC schema of that one field.
pub fn field_bytes(f: &Field) -> Result<Vec<u8>, String> {
    ipc_bytes(&Arc::new(Schema::new(vec![f.clone()])), None)
}

/// The field [`field_bytes`] wrote.
pub fn field_from_bytes(b: &[u8]) -> Result<FieldRef, String> {
    let r = arrow::ipc::reader::StreamReader::try_new(Cursor::new(b), None).map_err(err)?;
    r.schema()
        .fields()
        .first()
        .cloned()
        .ok_or_else(|| "an empty field record".to_string())
}

/// What a home's reading task sends: the schema first, then batches, then `Done` (or
/// `Failed`). The channel closing without `Done` is an error, never end-of-data.
pub enum Msg {
    /// The result's schema (sent once, first).
    Schema(arrow::datatypes::SchemaRef),
    /// Rows.
    Batch(arrow::record_batch::RecordBatch),
    /// The read failed.
    Failed(String),
    /// Every row was sent.
    Done,
}

/// The schema and the stream of batches a reading task sends on `rx`; errors start with
/// `label`.
pub async fn receive(
    mut rx: tokio::sync::mpsc::Receiver<Msg>,
    label: String,
) -> Result<(arrow::datatypes::SchemaRef, hygge_core::BatchStream), hygge_core::BoxError> {
    let schema = match rx.recv().await {
        Some(Msg::Schema(s)) => s,
        Some(Msg::Failed(e)) => return Err(format!("{label}: {e}").into()),
        _ => return Err(format!("{label}: the reader ended without finishing").into()),
    };
    let stream = futures::stream::unfold(Some((rx, label)), |state| async move {
        let (mut rx, label) = state?;
        match rx.recv().await {
            Some(Msg::Batch(b)) => Some((Ok(b), Some((rx, label)))),
            Some(Msg::Done) => None,
            Some(Msg::Failed(e)) => Some((Err(format!("{label}: {e}").into()), None)),
            Some(Msg::Schema(_)) | None => Some((
                Err(format!("{label}: the reader ended without finishing").into()),
                None,
            )),
        }
    });
    Ok((schema, Box::pin(stream)))
}
