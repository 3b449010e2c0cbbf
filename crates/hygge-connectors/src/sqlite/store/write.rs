//! Writes one entity run:
//!
//! 1. `open`: take the table's lock in this process (another run holding it is an error at
//!    once); open the database file (created if missing, WAL mode); create `_hygge_state`
//!    and `_hygge_columns` if missing; read the table's checkpoint.
//! 2. `begin`/`write`: stage the rows in a file of their own next to the database
//!    (`.<file>.hygge-stage-<table>-<run>`, no journal: it is thrown away on any failure),
//!    so staging takes no lock on the database and other entities load at the same time.
//! 3. `finish`: attach the staging file and, in one `BEGIN IMMEDIATE` transaction: check
//!    the checkpoint is still the one read at `open` (another process did not publish in
//!    between); replace = create `<table>_hygge_new`, copy the staged rows into it, drop the
//!    old table and rename the new one into its place; append = insert the staged rows into
//!    the table (created if missing); record each column's Arrow field in `_hygge_columns`;
//!    upsert the run's checkpoint into `_hygge_state`; `COMMIT`.
//!
//! Nothing is visible before the commit, and any failure rolls it back: the table and its
//! checkpoint are exactly as before (SQLite's journal also covers a killed process or a
//! power cut). The staging file is removed on abort, on drop and after publishing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use hygge_core::{
    BoxError, Checkpoint, Publish, RunType, Store, StoreWriter, WriteReport, WriteTarget,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::config::IfExists;
use crate::sql::{STATE_TABLE, WriteMode};
use crate::sqlite::db::{EntityLock, blocking, open_rw};
use crate::sqlite::sql::{TableName, ident};
use crate::sqlite::types::{COLUMNS_TABLE, bind, declared, field_bytes, field_from_bytes};

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    table: TableName,
    if_exists: Option<IfExists>,
    batch_size: usize,
    lock_timeout: Duration,
}

impl SqliteStore {
    /// A store writing `table` (`{entity}` allowed) of the database file `path`.
    pub fn new(
        path: PathBuf,
        table: TableName,
        if_exists: Option<IfExists>,
        batch_size: usize,
        lock_timeout: Duration,
    ) -> Self {
        SqliteStore {
            path,
            table,
            if_exists,
            batch_size,
            lock_timeout,
        }
    }

    /// The entity's table.
    pub fn table(&self, entity: &str) -> TableName {
        self.table.for_entity(entity)
    }

    /// What a run of `run_type` would do (reads nothing).
    pub fn preview(&self, entity: &str, run_type: RunType) -> String {
        let t = format!(
            "{} in {}",
            self.table(entity).display(),
            self.path.display()
        );
        WriteMode::of(self.if_exists, run_type).preview(&t)
    }

    fn label(&self, t: &TableName) -> String {
        format!("sqlite {}, table {}", self.path.display(), t.display())
    }
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `.<file>.hygge-stage-` and, with a table, `<table>-`: how staging files start.
fn stage_prefix(db: &Path, table: Option<&str>) -> String {
    let file = db
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    match table {
        Some(t) => format!(".{file}.hygge-stage-{}-", clean(t)),
        None => format!(".{file}.hygge-stage-"),
    }
}

/// The staging file of run `run_id` of `table` beside the database `db` (ending in this
/// process's id).
pub fn staging_path(db: &Path, table: &str, run_id: &str) -> PathBuf {
    db.with_file_name(format!(
        "{}{}-{}",
        stage_prefix(db, Some(table)),
        clean(run_id),
        std::process::id()
    ))
}

/// The staging files next to `db` (for tests: none may be left when no writer is open).
pub fn staging_files(db: &Path) -> Vec<PathBuf> {
    staging_files_of(db, &stage_prefix(db, None))
}

fn staging_files_of(db: &Path, prefix: &str) -> Vec<PathBuf> {
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Removes the staging files of `table` a run that did not finish left (a killed
/// process): those of a process that is gone, and this process's own (its lock on the
/// table says no writer of it is open here).
fn remove_stale_staging(db: &Path, table: &str) {
    let me = std::process::id().to_string();
    for p in staging_files_of(db, &stage_prefix(db, Some(table))) {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let pid = name
            .trim_end_matches("-journal")
            .rsplit('-')
            .next()
            .unwrap_or_default();
        if pid.is_empty() || !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if pid == me || !Path::new(&format!("/proc/{pid}")).exists() {
            tracing::info!(
                "removing {}, left by a run that did not finish",
                p.display()
            );
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// A staging file, removed (with its journal) when dropped.
struct StageFile(PathBuf);

impl Drop for StageFile {
    fn drop(&mut self) {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

struct Stage {
    conn: Option<Connection>,
    file: StageFile,
    schema: SchemaRef,
    mode: WriteMode,
    /// `schema: {mode: adapt}`: an append may add the source's new columns.
    evolve: bool,
}

fn sql_err(e: rusqlite::Error) -> String {
    e.to_string()
}

fn ensure_tables(c: &Connection) -> Result<(), String> {
    c.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {} (table_name TEXT PRIMARY KEY, checkpoint TEXT NOT NULL, updated_at TEXT NOT NULL); \
         CREATE TABLE IF NOT EXISTS {} (table_name TEXT NOT NULL, position INTEGER NOT NULL, column_name TEXT NOT NULL, \
         arrow_type TEXT NOT NULL, arrow_field BLOB NOT NULL, PRIMARY KEY (table_name, position));",
        ident(STATE_TABLE)?,
        ident(COLUMNS_TABLE)?
    ))
    .map_err(sql_err)
}

fn read_checkpoint(c: &Connection, table: &str) -> Result<Option<String>, String> {
    c.query_row(
        &format!(
            "SELECT checkpoint FROM {} WHERE table_name = ?1",
            ident(STATE_TABLE)?
        ),
        [table],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql_err)
}

fn table_exists(c: &Connection, schema: &str, table: &str) -> Result<bool, String> {
    c.query_row(
        &format!(
            "SELECT count(*) FROM {}.sqlite_master WHERE type = 'table' AND name = ?1",
            ident(schema)?
        ),
        [table],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .map_err(sql_err)
}

/// The Arrow fields hygge recorded for `table`, in column order (empty if none).
pub fn recorded_fields(
    c: &Connection,
    table: &str,
) -> Result<Vec<arrow::datatypes::FieldRef>, String> {
    let exists = table_exists(c, "main", COLUMNS_TABLE)?;
    if !exists {
        return Ok(vec![]);
    }
    let mut st = c
        .prepare(&format!(
            "SELECT arrow_field FROM {} WHERE table_name = ?1 ORDER BY position",
            ident(COLUMNS_TABLE)?
        ))
        .map_err(sql_err)?;
    let rows = st
        .query_map([table], |r| r.get::<_, Vec<u8>>(0))
        .map_err(sql_err)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(field_from_bytes(&r.map_err(sql_err)?)?);
    }
    Ok(out)
}

/// The column names of `table` in `schema`, in order.
pub fn table_columns(c: &Connection, schema: &str, table: &str) -> Result<Vec<String>, String> {
    let mut st = c
        .prepare("SELECT name FROM pragma_table_info(?1, ?2) ORDER BY cid")
        .map_err(sql_err)?;
    let rows = st
        .query_map([table, schema], |r| r.get::<_, String>(0))
        .map_err(sql_err)?;
    rows.collect::<Result<_, _>>().map_err(sql_err)
}

fn column_defs(schema: &SchemaRef) -> Result<String, String> {
    let mut cols = Vec::new();
    for f in schema.fields() {
        let d = declared(f.data_type());
        cols.push(format!("{} {d}", ident(f.name())?).trim_end().to_string());
    }
    Ok(cols.join(", "))
}

/// Appending `schema` to an existing table: the columns must be the ones recorded (same
/// names, same Arrow types), or for a table hygge did not write, the same names.
fn check_append(c: &Connection, table: &str, schema: &SchemaRef) -> Result<(), String> {
    let recorded = recorded_fields(c, table)?;
    let names: Vec<String> = if recorded.is_empty() {
        table_columns(c, "main", table)?
    } else {
        recorded.iter().map(|f| f.name().clone()).collect()
    };
    let incoming: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    if names.iter().collect::<Vec<_>>() != incoming {
        return Err(format!(
            "schema mismatch: the table has columns ({}), this run has ({})",
            names.join(", "),
            incoming
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if recorded.is_empty() {
        // A table hygge did not write: its declared types decide how values are stored.
        let mut st = c
            .prepare("SELECT name, type FROM pragma_table_info(?1, 'main') ORDER BY cid")
            .map_err(sql_err)?;
        let decls = st
            .query_map([table], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(sql_err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql_err)?;
        for ((name, decl), f) in decls.iter().zip(schema.fields()) {
            if let Some(why) = crate::sqlite::types::lossy_into(f.data_type(), decl) {
                return Err(format!(
                    "column `{name}` is declared `{decl}` ({} affinity) in a table hygge did not write, and this run's values are {}: {why}; nothing was appended. Declare the column {} or let hygge create the table (`if_exists: replace`)",
                    crate::sqlite::types::affinity(decl),
                    f.data_type(),
                    declared(f.data_type())
                ));
            }
        }
    }
    for (r, f) in recorded.iter().zip(schema.fields()) {
        if r.data_type() != f.data_type() {
            return Err(format!(
                "schema mismatch: column `{}` is {} in the table, {} in this run",
                f.name(),
                r.data_type(),
                f.data_type()
            ));
        }
    }
    Ok(())
}

/// A widening (`hygge_core::schema::widens`) whose values SQLite stores the same way, so
/// the rows already in the table read back right as the wider type: integers into a wider
/// integer kept as INTEGER (not uint64, kept as text), floats, text, blobs, and decimals
/// (text). A finer time unit or date, or integers into floats, would change how the old
/// values read: such a column is refused as a changed type.
fn stored_alike(from: &arrow::datatypes::DataType, to: &arrow::datatypes::DataType) -> bool {
    use arrow::datatypes::DataType as D;
    let int = |d: &D| {
        matches!(
            d,
            D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32
        )
    };
    let same_kind = (int(from) && int(to))
        || matches!(
            (from, to),
            (D::Float16 | D::Float32, D::Float32 | D::Float64)
                | (D::Utf8, D::LargeUtf8 | D::Utf8View)
                | (D::Binary, D::LargeBinary | D::BinaryView)
                | (
                    D::Decimal32(..) | D::Decimal64(..) | D::Decimal128(..) | D::Decimal256(..),
                    D::Decimal32(..) | D::Decimal64(..) | D::Decimal128(..) | D::Decimal256(..)
                )
        );
    same_kind && hygge_core::schema::widens(from, to)
}

/// For `schema: {mode: adapt}`: the part of `schema` the table already has, which
/// [`check_append`] then checks (a column hygge recorded may be widened: it is checked as
/// its recorded type). The source's new columns must come after the table's, in order.
fn evolved(c: &Connection, table: &str, schema: &SchemaRef) -> Result<SchemaRef, String> {
    let cols = table_columns(c, "main", table)?;
    let incoming: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    if incoming.len() < cols.len()
        || incoming[..cols.len()]
            .iter()
            .zip(&cols)
            .any(|(a, b)| *a != b)
    {
        return Err(format!(
            "schema adapt adds the source's new columns after the table's, in order: the table has ({}), this run has ({}); nothing was written. Run with --full-drop to replace the table",
            cols.join(", "),
            incoming
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let recorded = recorded_fields(c, table)?;
    let fields: Vec<arrow::datatypes::FieldRef> = schema.fields()[..cols.len()]
        .iter()
        .enumerate()
        .map(|(i, f)| match recorded.get(i) {
            Some(r) if stored_alike(r.data_type(), f.data_type()) => r.clone(),
            _ => f.clone(),
        })
        .collect();
    Ok(std::sync::Arc::new(arrow::datatypes::Schema::new(fields)))
}

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn describe(&self, entity: &str) -> String {
        format!(
            "table {} in {}",
            self.table(entity).display(),
            self.path.display()
        )
    }

    async fn check(&self, entity: &str) -> Result<(), BoxError> {
        let t = self.table(entity);
        let label = self.label(&t);
        t.quoted().map_err(|e| format!("{label}: {e}"))?;
        let path = self.path.clone();
        blocking(move || -> Result<(), String> {
            if path.exists() {
                let c = open_rw(&path, Duration::from_secs(5))?;
                c.execute_batch("BEGIN IMMEDIATE; ROLLBACK")
                    .map_err(sql_err)?;
                return Ok(());
            }
            crate::embedded::creatable(&path)
        })
        .await?
        .map_err(|e| format!("{label}: {e}").into())
    }

    async fn open(&self, target: &WriteTarget) -> Result<Box<dyn StoreWriter>, BoxError> {
        let t = self.table(&target.entity);
        let label = self.label(&t);
        t.quoted().map_err(|e| format!("{label}: {e}"))?;
        let Some(lock) = EntityLock::try_take(&self.path, &t.table) else {
            return Err(format!(
                "{label}: another run is writing this table right now; try again when it has finished"
            )
            .into());
        };
        let (path, busy, table) = (self.path.clone(), self.lock_timeout, t.table.clone());
        let (conn, committed) = blocking(move || -> Result<_, String> {
            remove_stale_staging(&path, &table);
            let c = open_rw(&path, busy)?;
            // Renaming the new table into place must not re-check views over the old one.
            c.execute_batch("PRAGMA legacy_alter_table = ON")
                .map_err(sql_err)?;
            ensure_tables(&c)?;
            let committed = read_checkpoint(&c, &table)?;
            Ok((c, committed))
        })
        .await?
        .map_err(|e| format!("{label}: {e}"))?;
        Ok(Box::new(SqliteWriter {
            conn: Some(conn),
            committed,
            if_exists: self.if_exists,
            path: self.path.clone(),
            table: t.table.clone(),
            run_id: target.run_id.clone(),
            batch_size: self.batch_size,
            stage: None,
            rows: 0,
            label,
            _lock: lock,
        }))
    }
}

struct SqliteWriter {
    conn: Option<Connection>,
    committed: Option<String>,
    if_exists: Option<IfExists>,
    path: PathBuf,
    table: String,
    run_id: String,
    batch_size: usize,
    stage: Option<Stage>,
    rows: u64,
    label: String,
    _lock: EntityLock,
}

impl SqliteWriter {
    fn fail(&self, e: impl std::fmt::Display) -> BoxError {
        format!("{}: {e}", self.label).into()
    }
}

#[async_trait]
impl StoreWriter for SqliteWriter {
    fn committed(&self) -> Option<&str> {
        self.committed.as_deref()
    }

    async fn begin(&mut self, schema: SchemaRef, publish: Publish) -> Result<(), BoxError> {
        let mode = WriteMode::publishing(self.if_exists, publish);
        let evolve = publish.evolve;
        let conn = self
            .conn
            .take()
            .ok_or_else(|| self.fail("the writer is closed"))?;
        let stage_path = staging_path(&self.path, &self.table, &self.run_id);
        let (table, s2, sp) = (self.table.clone(), schema.clone(), stage_path.clone());
        let (conn, r) = blocking(move || {
            let stage_path = sp;
            let r = (|| -> Result<Connection, String> {
                let exists = table_exists(&conn, "main", &table)?;
                match mode {
                    WriteMode::FailIfExists if exists => {
                        return Err(
                            "the table exists (if_exists: fail); nothing was written".into()
                        );
                    }
                    WriteMode::Append if exists && evolve => {
                        check_append(&conn, &table, &evolved(&conn, &table, &s2)?)?
                    }
                    WriteMode::Append if exists => check_append(&conn, &table, &s2)?,
                    _ => {}
                }
                let file = StageFile(stage_path.clone());
                drop(file); // a leftover of this very run id and process: start clean
                let st = Connection::open(&stage_path).map_err(sql_err)?;
                st.execute_batch(&format!(
                    "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; CREATE TABLE data ({});",
                    column_defs(&s2)?
                ))
                .map_err(sql_err)?;
                Ok(st)
            })();
            (conn, r)
        })
        .await?;
        self.conn = Some(conn);
        let st = r.map_err(|e| self.fail(e))?;
        self.stage = Some(Stage {
            conn: Some(st),
            file: StageFile(stage_path),
            schema,
            mode,
            evolve,
        });
        Ok(())
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<(), BoxError> {
        let stage = self.stage.as_mut().ok_or("write before begin")?;
        let conn = stage
            .conn
            .take()
            .ok_or("the staging connection is closed")?;
        let schema = stage.schema.clone();
        let batch_size = self.batch_size;
        let n = batch.num_rows();
        let (conn, r) = blocking(move || {
            let r = (|| -> Result<(), String> {
                let cols = schema
                    .fields()
                    .iter()
                    .zip(batch.columns())
                    .map(|(f, a)| bind(f, a))
                    .collect::<Result<Vec<_>, _>>()?;
                let marks = vec!["?"; cols.len()].join(", ");
                let mut start = 0;
                while start < n {
                    let end = (start + batch_size).min(n);
                    conn.execute_batch("BEGIN").map_err(sql_err)?;
                    {
                        let mut st = conn
                            .prepare(&format!("INSERT INTO data VALUES ({marks})"))
                            .map_err(sql_err)?;
                        for i in start..end {
                            for (j, c) in cols.iter().enumerate() {
                                st.raw_bind_parameter(
                                    j + 1,
                                    rusqlite::types::ToSqlOutput::Borrowed(c.value(i)),
                                )
                                .map_err(sql_err)?;
                            }
                            st.raw_execute().map_err(sql_err)?;
                        }
                    }
                    conn.execute_batch("COMMIT").map_err(sql_err)?;
                    start = end;
                }
                Ok(())
            })();
            (conn, r)
        })
        .await?;
        let stage = self.stage.as_mut().expect("staged");
        stage.conn = Some(conn);
        r.map_err(|e| self.fail(e))?;
        self.rows += n as u64;
        Ok(())
    }

    fn staged_rows(&self) -> u64 {
        self.rows
    }

    async fn finish(mut self: Box<Self>, checkpoint: &Checkpoint) -> Result<WriteReport, BoxError> {
        let conn = self
            .conn
            .take()
            .ok_or_else(|| self.fail("the writer is closed"))?;
        let mut stage = self.stage.take();
        if let Some(s) = &mut stage {
            drop(s.conn.take()); // closed, so every staged row is in the file
        }
        let (table, committed) = (self.table.clone(), self.committed.clone());
        let text = checkpoint.to_json();
        let r = blocking(move || {
            let r = publish(&conn, &table, committed.as_deref(), &text, stage.as_ref());
            let bytes = stage
                .as_ref()
                .and_then(|s| std::fs::metadata(&s.file.0).ok())
                .map_or(0, |m| m.len());
            drop(stage);
            r.map(|()| bytes)
        })
        .await?;
        let bytes = r.map_err(|e| self.fail(e))?;
        Ok(WriteReport {
            rows: self.rows,
            bytes,
            outputs: vec![self.table.clone()],
            destination: format!("table {} in {}", self.table, self.path.display()),
        })
    }

    async fn abort(self: Box<Self>) {
        // Dropping the staging file and the connection is all there is to undo.
        let me = *self;
        let _ = blocking(move || drop(me)).await;
    }
}

/// Publishes the staged rows (if any) and the checkpoint in one transaction.
fn publish(
    c: &Connection,
    table: &str,
    committed: Option<&str>,
    checkpoint: &str,
    stage: Option<&Stage>,
) -> Result<(), String> {
    if let Some(s) = stage {
        c.execute(
            "ATTACH DATABASE ?1 AS hygge_stage",
            [s.file.0.to_string_lossy()],
        )
        .map_err(sql_err)?;
    }
    c.execute_batch("BEGIN IMMEDIATE").map_err(sql_err)?;
    let r = (|| -> Result<(), String> {
        if read_checkpoint(c, table)?.as_deref() != committed {
            return Err(
                "another run published this table while this one was loading; nothing was written (run again)"
                    .into(),
            );
        }
        if let Some(s) = stage {
            load(c, table, s)?;
        }
        c.execute(
            &format!(
                "INSERT INTO {} (table_name, checkpoint, updated_at) VALUES (?1, ?2, datetime('now')) \
                 ON CONFLICT (table_name) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at",
                ident(STATE_TABLE)?
            ),
            params![table, checkpoint],
        )
        .map_err(sql_err)?;
        hygge_core::failpoint::hit("sqlite.publish")?;
        c.execute_batch("COMMIT").map_err(sql_err)
    })();
    if r.is_err() {
        let _ = c.execute_batch("ROLLBACK");
    }
    if stage.is_some() {
        let _ = c.execute_batch("DETACH DATABASE hygge_stage");
    }
    r
}

fn load(c: &Connection, table: &str, s: &Stage) -> Result<(), String> {
    let q = ident(table)?;
    let exists = table_exists(c, "main", table)?;
    let names = s
        .schema
        .fields()
        .iter()
        .map(|f| ident(f.name()))
        .collect::<Result<Vec<_>, _>>()?
        .join(", ");
    let record = |c: &Connection| -> Result<(), String> {
        c.execute(
            &format!(
                "DELETE FROM {} WHERE table_name = ?1",
                ident(COLUMNS_TABLE)?
            ),
            [table],
        )
        .map_err(sql_err)?;
        let mut st = c
            .prepare(&format!(
                "INSERT INTO {} (table_name, position, column_name, arrow_type, arrow_field) VALUES (?1, ?2, ?3, ?4, ?5)",
                ident(COLUMNS_TABLE)?
            ))
            .map_err(sql_err)?;
        for (i, f) in s.schema.fields().iter().enumerate() {
            st.execute(params![
                table,
                i as i64,
                f.name(),
                f.data_type().to_string(),
                field_bytes(f)?
            ])
            .map_err(sql_err)?;
        }
        Ok(())
    };
    match s.mode {
        WriteMode::Append if exists && s.evolve => {
            // schema: {mode: adapt}: the source's new columns (after the table's) are added;
            // a widened type needs no change of storage here, only its record.
            let old = evolved(c, table, &s.schema)?;
            check_append(c, table, &old)?;
            for f in &s.schema.fields()[old.fields().len()..] {
                c.execute_batch(&format!(
                    "ALTER TABLE main.{q} ADD COLUMN {} {}",
                    ident(f.name())?,
                    declared(f.data_type())
                ))
                .map_err(sql_err)?;
            }
            c.execute_batch(&format!(
                "INSERT INTO main.{q} ({names}) SELECT {names} FROM hygge_stage.data"
            ))
            .map_err(sql_err)?;
            if !recorded_fields(c, table)?.is_empty() {
                record(c)?;
            }
        }
        WriteMode::Append if exists => {
            check_append(c, table, &s.schema)?;
            c.execute_batch(&format!(
                "INSERT INTO main.{q} ({names}) SELECT {names} FROM hygge_stage.data"
            ))
            .map_err(sql_err)?;
        }
        WriteMode::FailIfExists if exists => {
            return Err("the table exists (if_exists: fail); nothing was written".into());
        }
        WriteMode::Append | WriteMode::FailIfExists => {
            c.execute_batch(&format!(
                "CREATE TABLE main.{q} ({}); INSERT INTO main.{q} ({names}) SELECT {names} FROM hygge_stage.data",
                column_defs(&s.schema)?
            ))
            .map_err(sql_err)?;
            record(c)?;
        }
        WriteMode::Replace => {
            let new = ident(&format!("{table}_hygge_new"))?;
            c.execute_batch(&format!(
                "DROP TABLE IF EXISTS main.{new}; CREATE TABLE main.{new} ({}); \
                 INSERT INTO main.{new} ({names}) SELECT {names} FROM hygge_stage.data; \
                 DROP TABLE IF EXISTS main.{q}; ALTER TABLE main.{new} RENAME TO {q};",
                column_defs(&s.schema)?
            ))
            .map_err(sql_err)?;
            record(c)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod adapt_tests {
    use super::stored_alike;
    use arrow::datatypes::{DataType as D, TimeUnit};

    #[test]
    fn only_widenings_stored_alike_are_taken() {
        assert!(stored_alike(&D::Int32, &D::Int64));
        assert!(stored_alike(&D::UInt32, &D::Int64));
        assert!(stored_alike(&D::Float32, &D::Float64));
        assert!(stored_alike(&D::Decimal128(10, 2), &D::Decimal128(12, 3)));
        assert!(
            !stored_alike(&D::UInt32, &D::UInt64),
            "uint64 is kept as text"
        );
        assert!(
            !stored_alike(&D::Int32, &D::Float64),
            "INTEGER values, REAL column"
        );
        assert!(!stored_alike(
            &D::Timestamp(TimeUnit::Second, None),
            &D::Timestamp(TimeUnit::Millisecond, None)
        ));
        assert!(!stored_alike(&D::Date32, &D::Date64));
        assert!(!stored_alike(&D::Int64, &D::Int32));
    }
}
