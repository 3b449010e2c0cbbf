//! Writes one entity run:
//!
//! 1. `open`: take the table's lock in this process (another run holding it is an error at
//!    once); open the file's shared instance (created if missing) and a connection of the
//!    writer's own; create the schema, `_hygge_state` and `_hygge_columns` if missing; read
//!    the table's checkpoint.
//! 2. `begin`: `BEGIN TRANSACTION`; replace = `CREATE OR REPLACE TABLE` (inside the
//!    transaction: every other connection still sees the old table); append = check the
//!    columns (the fields hygge recorded, or for a table hygge did not write, the same
//!    names and DuckDB types), creating the table if missing.
//! 3. `write`: each batch through DuckDB's appender, as whole Arrow batches.
//! 4. `finish`: in the same transaction, check the checkpoint is still the one read at
//!    `open`, record each column's Arrow field, upsert the checkpoint, `COMMIT`.
//!
//! Nothing is visible before the commit; any failure, a dropped writer or a killed process
//! rolls it back (DuckDB's write-ahead log holds no commit for it), so the table and its
//! checkpoint are exactly as before. Publishes of one process to one file take turns
//! (at most `lock_timeout`); the loads themselves run side by side.

use std::path::PathBuf;
use std::time::Duration;

use arrow::datatypes::{FieldRef, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use duckdb::{Connection, OptionalExt, params};
use hygge_core::{
    BoxError, Checkpoint, Publish, RunType, Store, StoreWriter, WriteReport, WriteTarget,
};

use super::config::IfExists;
use crate::duckdb::bridge;
use crate::duckdb::db::{Db, EntityLock, blocking};
use crate::duckdb::sql::{TableName, ident};
use crate::duckdb::types::{COLUMNS_TABLE, Mapping, column_defs, for_append, mappings};
use crate::embedded::{field_bytes, field_from_bytes};
use crate::sql::{STATE_TABLE, WriteMode};

/// The DuckDB store.
#[derive(Debug, Clone)]
pub struct DuckdbStore {
    path: PathBuf,
    table: TableName,
    if_exists: Option<IfExists>,
    lock_timeout: Duration,
}

fn sql_err(e: duckdb::Error) -> String {
    e.to_string()
}

/// `"schema"."name"`.
fn qualified(schema: &str, name: &str) -> Result<String, String> {
    Ok(format!("{}.{}", ident(schema)?, ident(name)?))
}

impl DuckdbStore {
    /// A store writing `table` (`{entity}` allowed, schema set) of the database file `path`.
    pub fn new(
        path: PathBuf,
        table: TableName,
        if_exists: Option<IfExists>,
        lock_timeout: Duration,
    ) -> Self {
        DuckdbStore {
            path,
            table,
            if_exists,
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
        format!("duckdb {}, table {}", self.path.display(), t.display())
    }
}

fn schema_of(t: &TableName) -> &str {
    t.schema
        .as_deref()
        .unwrap_or(crate::duckdb::sql::DEFAULT_SCHEMA)
}

fn ensure_tables(c: &Connection, schema: &str) -> Result<(), String> {
    c.execute_batch(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s}; \
         CREATE TABLE IF NOT EXISTS {st} (table_name VARCHAR NOT NULL, checkpoint VARCHAR NOT NULL, updated_at TIMESTAMPTZ NOT NULL); \
         CREATE TABLE IF NOT EXISTS {ct} (table_name VARCHAR NOT NULL, position INTEGER NOT NULL, column_name VARCHAR NOT NULL, \
         arrow_type VARCHAR NOT NULL, arrow_field BLOB NOT NULL);",
        s = ident(schema)?,
        st = qualified(schema, STATE_TABLE)?,
        ct = qualified(schema, COLUMNS_TABLE)?,
    ))
    .map_err(sql_err)
}

fn read_checkpoint(c: &Connection, t: &TableName) -> Result<Option<String>, String> {
    c.query_row(
        &format!(
            "SELECT checkpoint FROM {} WHERE table_name = ?",
            qualified(schema_of(t), STATE_TABLE)?
        ),
        [&t.table],
        |r| r.get(0),
    )
    .optional()
    .map_err(sql_err)
}

/// Whether `schema.table` exists (a table or a view).
pub fn table_exists(c: &Connection, schema: &str, table: &str) -> Result<bool, String> {
    c.query_row(
        "SELECT count(*) FROM (SELECT 1 FROM duckdb_tables() WHERE schema_name = ? AND table_name = ? \
         UNION ALL SELECT 1 FROM duckdb_views() WHERE schema_name = ? AND view_name = ?)",
        params![schema, table, schema, table],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .map_err(sql_err)
}

/// The columns of `schema.table` and their DuckDB types, in order.
pub fn table_columns(
    c: &Connection,
    schema: &str,
    table: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut st = c
        .prepare(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
        )
        .map_err(sql_err)?;
    let rows = st
        .query_map([schema, table], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(sql_err)?;
    rows.collect::<Result<_, _>>().map_err(sql_err)
}

/// The Arrow fields hygge recorded for `schema.table`, in column order (empty if none).
pub fn recorded_fields(c: &Connection, schema: &str, table: &str) -> Result<Vec<FieldRef>, String> {
    if !table_exists(c, schema, COLUMNS_TABLE)? {
        return Ok(vec![]);
    }
    let mut st = c
        .prepare(&format!(
            "SELECT arrow_field FROM {} WHERE table_name = ? ORDER BY position",
            qualified(schema, COLUMNS_TABLE)?
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

/// Appending `schema` to an existing table: the columns must be the ones hygge recorded
/// (same names, same Arrow types), or for a table hygge did not write, the same names with
/// the DuckDB types this run's values are kept as (DuckDB would otherwise cast them,
/// perhaps with a loss).
fn check_append(
    c: &Connection,
    t: &TableName,
    schema: &SchemaRef,
    maps: &[Mapping],
) -> Result<(), String> {
    let s = schema_of(t);
    let cols = table_columns(c, s, &t.table)?;
    let recorded = recorded_fields(c, s, &t.table)?;
    let recorded_names: Vec<&String> = recorded.iter().map(|f| f.name()).collect();
    let mine = !recorded.is_empty()
        && recorded_names.len() == cols.len()
        && recorded_names.iter().zip(&cols).all(|(a, (b, _))| *a == b);
    let incoming: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    let names: Vec<&String> = cols.iter().map(|(n, _)| n).collect();
    if names != incoming {
        return Err(format!(
            "schema mismatch: the table has columns ({}), this run has ({}); nothing was appended",
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            incoming
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if mine {
        for (r, f) in recorded.iter().zip(schema.fields()) {
            if r.data_type() != f.data_type() {
                return Err(format!(
                    "schema mismatch: column `{}` is {} in the table, {} in this run; nothing was appended",
                    f.name(),
                    r.data_type(),
                    f.data_type()
                ));
            }
        }
        return Ok(());
    }
    for (((name, declared), f), m) in cols.iter().zip(schema.fields()).zip(maps) {
        check_foreign_column(c, name, declared, f, m)?;
    }
    Ok(())
}

/// `schema: {mode: adapt}` appending to an existing table: the source's new columns
/// (after the table's, in order) are added (nullable), and a column hygge recorded is
/// widened where the source's type holds every old value exactly
/// (`hygge_core::schema::widens`); anything else is refused as [`check_append`] refuses it.
/// Runs inside the load's transaction; returns whether the table changed (its columns are
/// then recorded again at the commit).
fn evolve_table(
    c: &Connection,
    t: &TableName,
    schema: &SchemaRef,
    maps: &[Mapping],
) -> Result<bool, String> {
    let s = schema_of(t);
    let cols = table_columns(c, s, &t.table)?;
    let incoming: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    let names: Vec<&String> = cols.iter().map(|(n, _)| n).collect();
    if incoming.len() < names.len() || incoming[..names.len()] != names[..] {
        return Err(format!(
            "schema adapt adds the source's new columns after the table's, in order: the table has ({}), this run has ({}); nothing was written. Run with --full-drop to replace the table",
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            incoming
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let recorded = recorded_fields(c, s, &t.table)?;
    let mine =
        recorded.len() == names.len() && recorded.iter().zip(&names).all(|(f, n)| f.name() == *n);
    let q = t.quoted()?;
    let mut changed = false;
    for (i, (f, m)) in schema.fields().iter().zip(maps).enumerate() {
        let Some((name, declared)) = cols.get(i) else {
            c.execute_batch(&format!(
                "ALTER TABLE {q} ADD COLUMN {} {}",
                ident(f.name())?,
                m.sql
            ))
            .map_err(sql_err)?;
            changed = true;
            continue;
        };
        let old = if mine {
            recorded[i].data_type().clone()
        } else {
            f.data_type().clone() // a table hygge did not write: checked by its DuckDB type
        };
        if &old != f.data_type() && hygge_core::schema::widens(&old, f.data_type()) {
            c.execute_batch(&format!(
                "ALTER TABLE {q} ALTER COLUMN {} SET DATA TYPE {}",
                ident(name)?,
                m.sql
            ))
            .map_err(sql_err)?;
            changed = true;
            continue;
        }
        if mine && &old != f.data_type() {
            return Err(format!(
                "schema mismatch: column `{name}` is {old} in the table, {} in this run, which adapt does not widen to; nothing was appended",
                f.data_type()
            ));
        }
        if !mine {
            check_foreign_column(c, name, declared, f, m)?;
        }
    }
    Ok(changed)
}

/// A column `name`, declared `declared` in a table hygge did not write, must already have
/// the DuckDB type `f`'s values are kept as (DuckDB would otherwise cast them on insert,
/// perhaps with a loss).
fn check_foreign_column(
    c: &Connection,
    name: &str,
    declared: &str,
    f: &arrow::datatypes::Field,
    m: &Mapping,
) -> Result<(), String> {
    let want: String = c
        .query_row(
            &format!("SELECT typeof(CAST(NULL AS {}))", m.sql),
            [],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    if !want.eq_ignore_ascii_case(declared) {
        return Err(format!(
            "column `{name}` is {declared} in a table hygge did not write, and this run's values are {} (kept as {want}); nothing was appended. Make the column {want}, or let hygge create the table (`if_exists: replace`)",
            f.data_type()
        ));
    }
    Ok(())
}

fn record_columns(c: &Connection, t: &TableName, schema: &SchemaRef) -> Result<(), String> {
    let ct = qualified(schema_of(t), COLUMNS_TABLE)?;
    c.execute(
        &format!("DELETE FROM {ct} WHERE table_name = ?"),
        [&t.table],
    )
    .map_err(sql_err)?;
    let mut st = c
        .prepare(&format!(
            "INSERT INTO {ct} (table_name, position, column_name, arrow_type, arrow_field) VALUES (?, ?, ?, ?, ?)"
        ))
        .map_err(sql_err)?;
    for (i, f) in schema.fields().iter().enumerate() {
        st.execute(params![
            t.table,
            i as i32,
            f.name(),
            f.data_type().to_string(),
            field_bytes(f)?
        ])
        .map_err(sql_err)?;
    }
    Ok(())
}

#[async_trait]
impl Store for DuckdbStore {
    fn kind(&self) -> &'static str {
        "duckdb"
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
                let db = Db::open(&path, false)?;
                let c = db.connect()?;
                c.execute_batch("BEGIN TRANSACTION; ROLLBACK")
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
        let Some(lock) = EntityLock::try_take(&self.path, &t.display()) else {
            return Err(format!(
                "{label}: another run is writing this table right now; try again when it has finished"
            )
            .into());
        };
        let (path, t2, wait) = (self.path.clone(), t.clone(), self.lock_timeout);
        let (db, conn, committed) = blocking(move || -> Result<_, String> {
            let db = Db::open(&path, true)?;
            let c = db.connect()?;
            db.publishing(wait, || ensure_tables(&c, schema_of(&t2)))??;
            let committed = read_checkpoint(&c, &t2)?;
            Ok((db, c, committed))
        })
        .await?
        .map_err(|e| format!("{label}: {e}"))?;
        Ok(Box::new(DuckdbWriter {
            db,
            conn: Some(conn),
            committed,
            if_exists: self.if_exists,
            table: t,
            path: self.path.clone(),
            lock_timeout: self.lock_timeout,
            load: None,
            rows: 0,
            bytes: 0,
            label,
            _lock: lock,
        }))
    }
}

/// The load under way (after `begin`): its transaction is open on the writer's connection.
struct Load {
    schema: SchemaRef,
    maps: Vec<Mapping>,
    /// The table was created (or replaced) by this load: its columns are recorded.
    created: bool,
}

struct DuckdbWriter {
    db: Db,
    conn: Option<Connection>,
    committed: Option<String>,
    if_exists: Option<IfExists>,
    table: TableName,
    path: PathBuf,
    lock_timeout: Duration,
    load: Option<Load>,
    rows: u64,
    bytes: u64,
    label: String,
    _lock: EntityLock,
}

impl DuckdbWriter {
    fn fail(&self, e: impl std::fmt::Display) -> BoxError {
        format!("{}: {e}", self.label).into()
    }

    /// Runs `f` with the writer's connection on the blocking pool.
    async fn with_conn<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T, String> + Send + 'static,
    ) -> Result<T, BoxError> {
        let conn = self
            .conn
            .take()
            .ok_or_else(|| self.fail("the writer is closed"))?;
        let (conn, r) = blocking(move || {
            let r = f(&conn);
            (conn, r)
        })
        .await?;
        self.conn = Some(conn);
        r.map_err(|e| self.fail(e))
    }
}

#[async_trait]
impl StoreWriter for DuckdbWriter {
    fn committed(&self) -> Option<&str> {
        self.committed.as_deref()
    }

    async fn begin(&mut self, schema: SchemaRef, publish: Publish) -> Result<(), BoxError> {
        let mode = WriteMode::publishing(self.if_exists, publish);
        let evolve = publish.evolve;
        let maps = mappings(&schema).map_err(|e| self.fail(format!("{e}; nothing was written")))?;
        let (t, s2, m2) = (self.table.clone(), schema.clone(), maps.clone());
        let created = self
            .with_conn(move |c| {
                c.execute_batch("BEGIN TRANSACTION").map_err(sql_err)?;
                let r = (|| -> Result<bool, String> {
                    let q = t.quoted()?;
                    let exists = table_exists(c, schema_of(&t), &t.table)?;
                    let defs = column_defs(&s2, &m2)?;
                    match mode {
                        WriteMode::FailIfExists if exists => {
                            Err("the table exists (if_exists: fail); nothing was written".into())
                        }
                        WriteMode::Append if exists && evolve => evolve_table(c, &t, &s2, &m2),
                        WriteMode::Append if exists => {
                            check_append(c, &t, &s2, &m2)?;
                            Ok(false)
                        }
                        WriteMode::Replace => {
                            c.execute_batch(&format!("CREATE OR REPLACE TABLE {q} ({defs})"))
                                .map_err(sql_err)?;
                            Ok(true)
                        }
                        WriteMode::Append | WriteMode::FailIfExists => {
                            c.execute_batch(&format!("CREATE TABLE {q} ({defs})"))
                                .map_err(sql_err)?;
                            Ok(true)
                        }
                    }
                })();
                if r.is_err() {
                    let _ = c.execute_batch("ROLLBACK");
                }
                r
            })
            .await?;
        self.load = Some(Load {
            schema,
            maps,
            created,
        });
        Ok(())
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<(), BoxError> {
        let load = self.load.as_ref().ok_or("write before begin")?;
        let maps = load.maps.clone();
        let t = self.table.clone();
        let n = batch.num_rows() as u64;
        let bytes = batch.get_array_memory_size() as u64;
        self.with_conn(move |c| {
            let b = for_append(&batch, &maps)?;
            let b = bridge::to_duck(&b)?;
            let mut app = c.appender_to_db(&t.table, schema_of(&t)).map_err(sql_err)?;
            app.append_record_batch(b).map_err(sql_err)?;
            app.flush().map_err(sql_err)?;
            hygge_core::failpoint::hit("duckdb.write")?;
            Ok(())
        })
        .await?;
        self.rows += n;
        self.bytes += bytes;
        Ok(())
    }

    fn staged_rows(&self) -> u64 {
        self.rows
    }

    async fn finish(mut self: Box<Self>, checkpoint: &Checkpoint) -> Result<WriteReport, BoxError> {
        let (t, committed) = (self.table.clone(), self.committed.clone());
        let text = checkpoint.to_json();
        let load = self.load.take();
        let (db, wait) = (self.db.clone(), self.lock_timeout);
        self.with_conn(move |c| {
            db.publishing(wait, || {
                if load.is_none() {
                    c.execute_batch("BEGIN TRANSACTION").map_err(sql_err)?;
                }
                let r = (|| -> Result<(), String> {
                    if read_checkpoint(c, &t)? != committed {
                        return Err(
                            "another run published this table while this one was loading; nothing was written (run again)"
                                .into(),
                        );
                    }
                    if let Some(l) = load.as_ref().filter(|l| l.created) {
                        record_columns(c, &t, &l.schema)?;
                    }
                    let st = qualified(schema_of(&t), STATE_TABLE)?;
                    c.execute(&format!("DELETE FROM {st} WHERE table_name = ?"), [&t.table])
                        .map_err(sql_err)?;
                    c.execute(
                        &format!(
                            "INSERT INTO {st} (table_name, checkpoint, updated_at) VALUES (?, ?, now())"
                        ),
                        params![t.table, text],
                    )
                    .map_err(sql_err)?;
                    hygge_core::failpoint::hit("duckdb.publish")?;
                    c.execute_batch("COMMIT").map_err(sql_err)
                })();
                if r.is_err() {
                    let _ = c.execute_batch("ROLLBACK");
                }
                r
            })?
        })
        .await?;
        Ok(WriteReport {
            rows: self.rows,
            bytes: self.bytes,
            outputs: vec![self.table.display()],
            destination: format!("table {} in {}", self.table.display(), self.path.display()),
        })
    }

    async fn abort(mut self: Box<Self>) {
        if self.load.is_some() {
            let _ = self
                .with_conn(|c| c.execute_batch("ROLLBACK").map_err(sql_err))
                .await;
        }
        let me = *self;
        let _ = blocking(move || drop(me)).await;
    }
}
