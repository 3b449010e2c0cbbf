//! Reads a table or a query on one blocking task, which hands batches over through a
//! channel of one (so nothing is read ahead of the flow) and ends with an explicit
//! "finished" message: the channel closing without it is an error, never end-of-data.
//!
//! Types: a column hygge wrote (found through `_hygge_columns`, also behind a `query`, by
//! the column's origin) reads back to the Arrow field it was written from; any other
//! column by its declared type ([`crate::sqlite::types::from_declared`]); a column with
//! no declared type (an expression) by the first value the first batch holds.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use hygge_core::watermark::Watermark;
use hygge_core::{BatchStream, BoxError, Home, MAX_BATCH_BYTES, ReadRequest};
use rusqlite::Connection;
use rusqlite::types::Value;
use tokio::sync::mpsc;

use crate::embedded::Msg;

use crate::sql::Source;
use crate::sqlite::db::{blocking, open_ro};
use crate::sqlite::sql::{Sqlite, TableName, ident};
use crate::sqlite::store::{recorded_fields, table_columns};
use crate::sqlite::types::{column, from_declared, from_value};

/// The SQLite home.
#[derive(Debug, Clone)]
pub struct SqliteHome {
    path: PathBuf,
    source: Source<Sqlite>,
}

impl SqliteHome {
    /// A home reading `source` from the database file `path`.
    pub fn new(path: PathBuf, source: Source<Sqlite>) -> Self {
        SqliteHome { path, source }
    }

    fn label(&self, entity: &str) -> String {
        match &self.source {
            Source::Table(t) => format!(
                "sqlite {}, table {}",
                self.path.display(),
                t.for_entity(entity).display()
            ),
            Source::Query(_) => format!("sqlite {}, query of {entity}", self.path.display()),
        }
    }

    /// The statement reading `entity`, after checking what it reads is there.
    fn sql(&self, c: &Connection, entity: &str) -> Result<(String, Option<String>), String> {
        match &self.source {
            Source::Table(t) => {
                let t: TableName = t.for_entity(entity);
                let n: i64 = c
                    .query_row(
                        "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?1",
                        [&t.table],
                        |r| r.get(0),
                    )
                    .map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err(format!("no table or view `{}` in the database", t.table));
                }
                Ok((format!("SELECT * FROM {}", ident(&t.table)?), Some(t.table)))
            }
            Source::Query(q) => Ok((q.replace("{entity}", &ident(entity)?), None)),
        }
    }
}

/// Reads every row of `sql` (only those after `after`, where the comparison can be left
/// to SQLite exactly), sending the schema, then batches, then `Done`.
fn read_all(
    c: &Connection,
    sql: &str,
    table: Option<&str>,
    batch_size: usize,
    after: Option<(&Watermark, bool)>,
    tx: &mpsc::Sender<Msg>,
) -> Result<(), String> {
    let e = |e: rusqlite::Error| e.to_string();
    let mut st = c.prepare(sql).map_err(e)?;
    let n = st.column_count();
    // The fields hygge recorded, per origin table.
    let mut recorded: HashMap<String, HashMap<String, FieldRef>> = HashMap::new();
    let origins: Vec<(Option<String>, Option<String>, Option<String>)> = st
        .columns_with_metadata()
        .map(|m| {
            (
                m.database_name().map(str::to_string),
                m.table_name().map(str::to_string),
                m.origin_name().map(str::to_string),
            )
        })
        .collect();
    let decls: Vec<(String, Option<String>)> = st
        .columns()
        .map(|c| (c.name().to_string(), c.decl_type().map(str::to_string)))
        .collect();
    let mut fields: Vec<Option<Field>> = Vec::with_capacity(n);
    let mut recorded_by_hygge = vec![false; n];
    for (i, (name, decl)) in decls.iter().enumerate() {
        let mut field = None;
        if let (Some(db), Some(t), Some(col)) = &origins[i]
            && db == "main"
        {
            if !recorded.contains_key(t) {
                let fs = recorded_fields(c, t)?;
                // Only while the table still has the columns hygge wrote.
                let cols = table_columns(c, "main", t)?;
                let names: Vec<&String> = fs.iter().map(|f| f.name()).collect();
                let ok = names.len() == cols.len() && names.iter().zip(&cols).all(|(a, b)| *a == b);
                let map = if ok {
                    fs.into_iter().map(|f| (f.name().clone(), f)).collect()
                } else {
                    HashMap::new()
                };
                recorded.insert(t.clone(), map);
            }
            field = recorded[t]
                .get(col)
                .map(|f| f.as_ref().clone().with_name(name.clone()));
            recorded_by_hygge[i] = field.is_some();
        }
        if field.is_none() {
            field = from_declared(decl.as_deref())
                .map_err(|e| format!("column `{name}`: {e}"))?
                .map(|dt| Field::new(name.clone(), dt, true));
        }
        fields.push(field);
    }
    let _ = table;
    let mut schema: Option<SchemaRef> = None;
    let pushed = after
        .and_then(|(w, inclusive)| pushdown(w, inclusive, &decls, &fields, &recorded_by_hygge));
    // A query the wrapping does not fit (a `;` before a trailing comment, ...) is read whole
    // and filtered by the engine, as without a pushdown.
    let wrapped = pushed.and_then(|(predicate, value)| {
        let inner = sql.trim_end().trim_end_matches(';');
        let text = format!("SELECT * FROM (\n{inner}\n) WHERE {predicate}");
        let mut f = c.prepare(&text).ok()?;
        f.raw_bind_parameter(1, value).ok()?;
        tracing::debug!("the watermark is compared in SQLite: WHERE {predicate}");
        Some(f)
    });
    let mut filtered;
    let mut rows = match wrapped {
        Some(f) => {
            filtered = f;
            filtered.raw_query()
        }
        None => st.raw_query(),
    };
    let mut done = false;
    while !done {
        let mut cols: Vec<Vec<Value>> = (0..n).map(|_| Vec::new()).collect();
        let (mut count, mut bytes) = (0usize, 0usize);
        while count < batch_size && bytes < MAX_BATCH_BYTES {
            let Some(row) = rows.next().map_err(e)? else {
                done = true;
                break;
            };
            for (i, col) in cols.iter_mut().enumerate() {
                let v = Value::try_from(row.get_ref(i).map_err(e)?)
                    .map_err(|err| format!("column `{}`: {err}", decls[i].0))?;
                bytes += match &v {
                    Value::Text(t) => t.len(),
                    Value::Blob(b) => b.len(),
                    _ => 8,
                };
                col.push(v);
            }
            count += 1;
        }
        let schema = match &schema {
            Some(s) => s.clone(),
            None => {
                let fs: Vec<Field> = fields
                    .iter()
                    .zip(&cols)
                    .zip(&decls)
                    .map(|((f, vals), (name, _))| {
                        f.clone().unwrap_or_else(|| {
                            let dt = vals.iter().find_map(from_value).unwrap_or(DataType::Utf8);
                            Field::new(name.clone(), dt, true)
                        })
                    })
                    .collect();
                let s = Arc::new(Schema::new(fs));
                if tx.blocking_send(Msg::Schema(s.clone())).is_err() {
                    return Ok(());
                }
                schema = Some(s.clone());
                s
            }
        };
        if count == 0 {
            break;
        }
        let arrays = schema
            .fields()
            .iter()
            .zip(cols)
            .map(|(f, vals)| column(f, vals))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?;
        hygge_core::failpoint::hit("sqlite.home.batch")?;
        if tx.blocking_send(Msg::Batch(batch)).is_err() {
            return Ok(());
        }
    }
    let _ = tx.blocking_send(Msg::Done);
    Ok(())
}

/// The predicate (`"col" > ?1`) and its value, when SQLite compares the watermark column
/// exactly as Arrow does: a column of the watermark's own type stored as integers (the
/// integer types, and temporal ones in their unit: values of another storage class
/// compare greater, so they are kept and the engine decides), or as text in a table
/// hygge wrote (binary collation). Otherwise the engine alone filters.
fn pushdown(
    w: &Watermark,
    inclusive: bool,
    decls: &[(String, Option<String>)],
    fields: &[Option<Field>],
    recorded_by_hygge: &[bool],
) -> Option<(String, Value)> {
    let names: std::collections::HashSet<&str> = decls.iter().map(|(n, _)| n.as_str()).collect();
    if names.len() != decls.len() {
        return None; // `SELECT *` of a subquery would rename duplicates
    }
    let i = decls.iter().position(|(n, _)| *n == w.column)?;
    let f = fields[i].as_ref()?;
    if f.data_type() != w.data_type() {
        return None;
    }
    let value = match crate::sqlite::types::storage(f.data_type()) {
        crate::sqlite::types::Storage::Int => Value::Integer(w.exact().parse().ok()?),
        crate::sqlite::types::Storage::Text if recorded_by_hygge[i] => Value::Text(w.exact()),
        _ => return None,
    };
    let op = if inclusive { ">=" } else { ">" };
    Some((format!("{} {op} ?1", ident(&w.column).ok()?), value))
}

#[async_trait]
impl Home for SqliteHome {
    fn kind(&self) -> &'static str {
        "sqlite"
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
        blocking(move || -> Result<(), String> {
            let c = open_ro(&me.path)?;
            let (sql, _) = me.sql(&c, &entity)?;
            c.prepare(&sql).map_err(|e| e.to_string())?;
            Ok(())
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
                let c = open_ro(&me.path)?;
                let (sql, table) = me.sql(&c, &entity)?;
                let after = after.as_ref().map(|w| (w, inclusive));
                read_all(&c, &sql, table.as_deref(), batch_size, after, &tx)
            })();
            if let Err(e) = r {
                let _ = tx.blocking_send(Msg::Failed(e));
            }
        });
        crate::embedded::receive(rx, label).await
    }
}
