//! Reads a table or a query on one blocking task: DuckDB streams the result as Arrow
//! (DuckDB's own conversion, one vector of 2,048 rows at a time); the task gathers
//! `batch_size` rows, moves them to hygge's Arrow and hands them over through a channel of
//! one (so nothing is read ahead of the flow), and ends with an explicit "finished"
//! message: the channel closing without it is an error, never end-of-data.
//!
//! Types: a table hygge wrote (its columns still the ones recorded in `_hygge_columns`)
//! reads back as the exact Arrow fields it was written from; anything else as DuckDB
//! exports it (with `arrow_lossless_conversion`: a `UUID` stays a UUID).

use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use duckdb::Connection;
use duckdb::arrow::record_batch::RecordBatch as RecordBatch58;
use hygge_core::watermark::Watermark;
use hygge_core::{BatchStream, BoxError, Home, MAX_BATCH_BYTES, ReadRequest};
use tokio::sync::mpsc;

use crate::embedded::Msg;

use crate::duckdb::bridge;
use crate::duckdb::db::Db;
use crate::duckdb::sql::{Duck, TableName, ident};
use crate::duckdb::store::recorded_fields;
use crate::duckdb::types::restore_batch;
use crate::sql::Source;

/// The DuckDB home.
#[derive(Debug, Clone)]
pub struct DuckdbHome {
    path: PathBuf,
    source: Source<Duck>,
}

fn sql_err(e: duckdb::Error) -> String {
    e.to_string()
}

impl DuckdbHome {
    /// A home reading `source` from the database file `path`.
    pub fn new(path: PathBuf, source: Source<Duck>) -> Self {
        DuckdbHome { path, source }
    }

    fn label(&self, entity: &str) -> String {
        match &self.source {
            Source::Table(t) => format!(
                "duckdb {}, table {}",
                self.path.display(),
                t.for_entity(entity).display()
            ),
            Source::Query(_) => format!("duckdb {}, query of {entity}", self.path.display()),
        }
    }

    /// The statement reading `entity` and the table it reads (after checking it is there).
    fn sql(&self, c: &Connection, entity: &str) -> Result<(String, Option<TableName>), String> {
        match &self.source {
            Source::Table(t) => {
                let t: TableName = t.for_entity(entity);
                let schema = t
                    .schema
                    .as_deref()
                    .unwrap_or(crate::duckdb::sql::DEFAULT_SCHEMA);
                if !crate::duckdb::store::table_exists(c, schema, &t.table)? {
                    return Err(format!(
                        "no table or view `{}` in the database",
                        t.display()
                    ));
                }
                Ok((format!("SELECT * FROM {}", t.quoted()?), Some(t)))
            }
            Source::Query(q) => Ok((q.replace("{entity}", &ident(entity)?), None)),
        }
    }
}

fn connect(path: &std::path::Path) -> Result<(Db, Connection), String> {
    let db = Db::open(path, false)?;
    let c = db.connect()?;
    c.execute_batch("SET arrow_lossless_conversion = true")
        .map_err(sql_err)?;
    Ok((db, c))
}

/// The Arrow schema of `sql`'s result (the query runs with no rows).
fn result_schema(c: &Connection, sql: &str) -> Result<SchemaRef, String> {
    let inner = sql.trim_end().trim_end_matches(';');
    let mut st = c
        .prepare(&format!("SELECT * FROM (\n{inner}\n) LIMIT 0"))
        .map_err(sql_err)?;
    let arrow = st.query_arrow([]).map_err(sql_err)?;
    bridge::schema_from_duck(&arrow.get_schema())
}

/// DuckDB's export as hygge hands it on: with `arrow_lossless_conversion` a `BOOLEAN`
/// comes out as the `arrow.bool8` extension (8-bit integers); it is read as a boolean.
fn readable(exported: &SchemaRef) -> SchemaRef {
    let bool8 = |f: &arrow::datatypes::Field| {
        f.data_type() == &DataType::Int8
            && f.metadata().get("ARROW:extension:name").map(String::as_str) == Some("arrow.bool8")
    };
    if !exported.fields().iter().any(|f| bool8(f)) {
        return exported.clone();
    }
    let fields: Vec<arrow::datatypes::Field> = exported
        .fields()
        .iter()
        .map(|f| {
            if bool8(f) {
                arrow::datatypes::Field::new(f.name(), DataType::Boolean, f.is_nullable())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The predicate and its value when DuckDB compares the watermark column exactly as Arrow
/// does (integers; text, which DuckDB compares byte by byte); otherwise the engine alone
/// filters.
fn pushdown(
    w: &Watermark,
    inclusive: bool,
    schema: &Schema,
) -> Option<(String, duckdb::types::Value)> {
    use duckdb::types::Value;
    let f = schema.field_with_name(&w.column).ok()?;
    if f.data_type() != w.data_type() {
        return None;
    }
    let value = match f.data_type() {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            Value::BigInt(w.exact().parse().ok()?)
        }
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            Value::UBigInt(w.exact().parse().ok()?)
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Value::Text(w.exact()),
        _ => return None,
    };
    let op = if inclusive { ">=" } else { ">" };
    Some((format!("{} {op} ?", ident(&w.column).ok()?), value))
}

/// `batches` (at least one, one schema) as one batch.
fn concat(mut batches: Vec<RecordBatch>) -> Result<RecordBatch, String> {
    if batches.len() == 1 {
        return Ok(batches.pop().expect("one batch"));
    }
    let schema = batches
        .first()
        .map(|b| b.schema())
        .ok_or("no batch to concatenate")?;
    arrow::compute::concat_batches(&schema, &batches).map_err(|e| e.to_string())
}

/// Reads every row of `sql` (only those after `after`, where DuckDB compares exactly),
/// sending the schema, then batches, then `Done`.
fn read_all(
    c: &Connection,
    sql: &str,
    table: Option<&TableName>,
    batch_size: usize,
    after: Option<(&Watermark, bool)>,
    tx: &mpsc::Sender<Msg>,
) -> Result<(), String> {
    let exported = result_schema(c, sql)?;
    // The fields hygge recorded, while the table still has the columns hygge wrote.
    let mut schema = exported.clone();
    if let Some(t) = table {
        let s = t
            .schema
            .as_deref()
            .unwrap_or(crate::duckdb::sql::DEFAULT_SCHEMA);
        let fields = recorded_fields(c, s, &t.table)?;
        let names: Vec<&String> = fields.iter().map(|f| f.name()).collect();
        let cols: Vec<&String> = exported.fields().iter().map(|f| f.name()).collect();
        if !fields.is_empty() && names == cols {
            schema = Arc::new(Schema::new(fields));
        }
    }
    if schema == exported {
        schema = readable(&exported);
    }
    let restoring = schema != exported;
    let pushed = after.and_then(|(w, inclusive)| pushdown(w, inclusive, &schema));
    let inner = sql.trim_end().trim_end_matches(';');
    let mut st = match &pushed {
        Some((predicate, _)) => {
            tracing::debug!("the watermark is compared in DuckDB: WHERE {predicate}");
            c.prepare(&format!("SELECT * FROM (\n{inner}\n) WHERE {predicate}"))
        }
        None => c.prepare(sql),
    }
    .map_err(sql_err)?;
    match &pushed {
        Some((_, v)) => drop(st.stream_arrow([v]).map_err(sql_err)?),
        None => drop(st.stream_arrow([]).map_err(sql_err)?),
    }
    let schema58 = st.schema();
    if tx.blocking_send(Msg::Schema(schema.clone())).is_err() {
        return Ok(());
    }
    // DuckDB hands over vectors of 2,048 rows: gathered to `batch_size` rows (or
    // MAX_BATCH_BYTES), moved to hygge's Arrow in one go, and cut at `batch_size`; what is
    // left over starts the next batch.
    let mut carry: Option<RecordBatch> = None;
    let mut done = false;
    while !done {
        let mut chunks: Vec<RecordBatch58> = Vec::new();
        let mut rows = carry.as_ref().map_or(0, |b| b.num_rows());
        let mut bytes = carry.as_ref().map_or(0, |b| b.get_array_memory_size());
        while rows < batch_size && bytes < MAX_BATCH_BYTES {
            match st.step().map_err(sql_err)? {
                Some(a) => {
                    let b = RecordBatch58::from(&a);
                    rows += b.num_rows();
                    bytes += b.get_array_memory_size();
                    chunks.push(b);
                }
                None => {
                    done = true;
                    break;
                }
            }
        }
        let mut batches: Vec<RecordBatch> = carry.take().into_iter().collect();
        if !chunks.is_empty() {
            let fresh = bridge::from_duck(&schema58, &chunks)?;
            drop(chunks);
            let fresh = concat(fresh)?;
            batches.push(if restoring {
                restore_batch(&fresh, &schema)?
            } else {
                fresh
            });
        }
        if rows == 0 || batches.is_empty() {
            break;
        }
        let all = concat(batches)?;
        let last = done || bytes >= MAX_BATCH_BYTES;
        let mut off = 0;
        while off < all.num_rows() {
            let n = batch_size.min(all.num_rows() - off);
            if n < batch_size && !last {
                carry = Some(all.slice(off, n));
                break;
            }
            hygge_core::failpoint::hit("duckdb.home.batch")?;
            if tx.blocking_send(Msg::Batch(all.slice(off, n))).is_err() {
                return Ok(());
            }
            off += n;
        }
    }
    let _ = tx.blocking_send(Msg::Done);
    Ok(())
}

#[async_trait]
impl Home for DuckdbHome {
    fn kind(&self) -> &'static str {
        "duckdb"
    }

    fn describe(&self, entity: &str) -> String {
        match &self.source {
            Source::Table(t) => format!(
                "table {} in {}",
                t.for_entity(entity).display(),
                self.path.display()
            ),
            Source::Query(_) => format!("a query in {}", self.path.display()),
        }
    }

    async fn check(&self, entity: &str) -> Result<(), BoxError> {
        let me = self.clone();
        let entity = entity.to_string();
        let label = self.label(&entity);
        crate::duckdb::db::blocking(move || -> Result<(), String> {
            let (_db, c) = connect(&me.path)?;
            let (sql, _) = me.sql(&c, &entity)?;
            result_schema(&c, &sql).map(|_| ())
        })
        .await?
        .map_err(|e| format!("{label}: {e}").into())
    }

    async fn read(&self, req: &ReadRequest) -> Result<(SchemaRef, BatchStream), BoxError> {
        let me = self.clone();
        let entity = req.entity.clone();
        let batch_size = req.batch_size.max(1);
        let (after, inclusive) = (req.after.clone(), req.after_inclusive);
        let label = self.label(&entity);
        let (tx, rx) = mpsc::channel::<Msg>(1);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _g = span.enter();
            let r = (|| -> Result<(), String> {
                let (_db, c) = connect(&me.path)?;
                let (sql, table) = me.sql(&c, &entity)?;
                let after = after.as_ref().map(|w| (w, inclusive));
                read_all(&c, &sql, table.as_ref(), batch_size, after, &tx)
            })();
            if let Err(e) = r {
                let _ = tx.blocking_send(Msg::Failed(e));
            }
        });
        crate::embedded::receive(rx, label).await
    }
}
