//! Reads a table or a query over TDS, row tokens decoded straight into Arrow batches of
//! `batch_size` rows (fewer when they hold [`MAX_BATCH_BYTES`] of strings and binary);
//! never more than one batch per entity is held here.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use futures::TryStreamExt;
use hygge_core::watermark::Watermark;
use hygge_core::{
    BatchSender, BatchStream, BoxError, Home, MAX_BATCH_BYTES, ReadRequest, ReaderTasks, failpoint,
};

use crate::mssql::connection::{Lease, MsPool, error_text};
use crate::mssql::decode::RowDecoder;
use crate::mssql::sql::{ident, literal};
use crate::mssql::types::{MsColumn, MsType, ReadTypeOptions, arrow_schema};

/// What the home reads.
pub type Source = crate::sql::Source<crate::mssql::sql::TSql>;

/// The SQL Server home.
#[derive(Debug, Clone)]
pub struct MssqlHome {
    pool: Arc<MsPool>,
    source: Source,
    options: ReadTypeOptions,
}

/// One entity's source, resolved.
struct Resolved {
    /// `[s].[t]`, for a table.
    table: Option<String>,
    /// The query, for a query.
    query: Option<String>,
    /// `table s.t` / `query`, for messages.
    what: String,
}

impl MssqlHome {
    /// A home reading `source` through `pool`.
    pub fn new(pool: Arc<MsPool>, source: Source, options: ReadTypeOptions) -> Self {
        MssqlHome {
            pool,
            source,
            options,
        }
    }

    fn resolve(&self, entity: &str) -> Result<Resolved, String> {
        match &self.source {
            Source::Table(t) => {
                let t = t.for_entity(entity);
                Ok(Resolved {
                    table: Some(t.quoted()?),
                    query: None,
                    what: format!("table {}", t.display()),
                })
            }
            Source::Query(q) => {
                let q = q.replace("{entity}", &ident(entity)?);
                let q = q.trim().trim_end_matches(';').trim().to_string();
                Ok(Resolved {
                    table: None,
                    query: Some(q),
                    what: "query".into(),
                })
            }
        }
    }

    fn context(&self, what: &str, e: impl std::fmt::Display) -> BoxError {
        format!("{}, {what}: {e}", self.pool.label()).into()
    }

    /// The result's columns (exact types: precision, scale, fractional digits).
    async fn columns(&self, lease: &mut Lease, r: &Resolved) -> Result<Vec<MsColumn>, String> {
        if let Some(t) = &r.table {
            let meta = lease
                .client()
                .column_metadata(t, &["*"])
                .await
                .map_err(|e| error_text(&e))?;
            return Ok(meta
                .iter()
                .map(|c| MsColumn {
                    name: c.col_name().to_string(),
                    ty: MsType::from_type_info(c.base().ty()),
                })
                .collect());
        }
        let q = r.query.as_deref().unwrap_or_default();
        let sql = format!("EXEC sp_describe_first_result_set @tsql = {}", literal(q));
        let described = async {
            lease
                .client()
                .simple_query(sql)
                .await?
                .into_first_result()
                .await
        }
        .await;
        let rows = match described {
            Ok(rows) => rows,
            // A server without sp_describe_first_result_set (not SQL Server itself).
            Err(tiberius::error::Error::Server(e)) if e.code() == 2812 => {
                return query_columns_by_type(lease, q).await;
            }
            Err(e) => return Err(error_text(&e)),
        };
        let mut cols = Vec::new();
        for row in rows {
            let hidden: Option<bool> = row.try_get("is_hidden").map_err(|e| error_text(&e))?;
            if hidden == Some(true) {
                continue;
            }
            let name: Option<&str> = row.try_get("name").map_err(|e| error_text(&e))?;
            let ty: Option<&str> = row
                .try_get("system_type_name")
                .map_err(|e| error_text(&e))?;
            let (Some(name), Some(ty)) = (name, ty) else {
                return Err(
                    "the query has a column without a name; name every column (`AS name`)".into(),
                );
            };
            cols.push(MsColumn {
                name: name.to_string(),
                ty: MsType::parse(ty),
            });
        }
        if cols.is_empty() {
            return Err("the query returns no columns".into());
        }
        Ok(cols)
    }

    /// The `SELECT` for the entity: named columns, `money` read as `decimal(19,4)` (the
    /// driver reads money as a float), and the watermark predicate when it can be exact.
    fn select(&self, r: &Resolved, cols: &[MsColumn], req: &ReadRequest) -> Result<String, String> {
        let predicate = req
            .after
            .as_ref()
            .and_then(|w| predicate(w, cols, req.after_inclusive, &self.options));
        let base = match (&r.table, &r.query) {
            (Some(t), _) => {
                let list = cols
                    .iter()
                    .map(|c| {
                        let q = ident(&c.name)?;
                        Ok(match c.ty {
                            MsType::Money => format!("CAST({q} AS decimal(19,4)) AS {q}"),
                            MsType::SmallMoney => format!("CAST({q} AS decimal(10,4)) AS {q}"),
                            _ => q,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?
                    .join(", ");
                let sql = format!("SELECT {list} FROM {t}");
                return Ok(match predicate {
                    Some(p) => format!("{sql} WHERE {p}"),
                    None => sql,
                });
            }
            (None, Some(q)) => q.clone(),
            (None, None) => unreachable!("a source is a table or a query"),
        };
        // A derived table may not hold ORDER BY (without TOP): such a query is read whole
        // and the engine filters it.
        let ordered = base
            .to_ascii_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w == ["order", "by"]);
        Ok(match predicate {
            Some(p) if !ordered => format!("SELECT * FROM ({base}) AS hygge_query WHERE {p}"),
            _ => base,
        })
    }
}

/// A query's columns from the result's column types alone, for servers that cannot
/// describe a query. Types whose size the column type does not say are read at their
/// widest (strings as `(max)`, `datetime2` as 7 digits); decimals, whose precision it does
/// not say, are an error asking for a cast.
async fn query_columns_by_type(lease: &mut Lease, q: &str) -> Result<Vec<MsColumn>, String> {
    use tiberius::ColumnType as C;
    let sql = format!("SELECT TOP 0 * FROM ({q}) AS hygge_query");
    let mut stream = lease
        .client()
        .simple_query(sql)
        .await
        .map_err(|e| error_text(&e))?;
    let cols: Vec<MsColumn> = stream
        .columns()
        .await
        .map_err(|e| error_text(&e))?
        .unwrap_or_default()
        .iter()
        .map(|c| MsColumn {
            name: c.name().to_string(),
            ty: match c.column_type() {
                C::Int1 => MsType::TinyInt,
                C::Int2 => MsType::SmallInt,
                C::Int4 => MsType::Int,
                C::Int8 => MsType::BigInt,
                C::Bit | C::Bitn => MsType::Bit,
                C::Float4 => MsType::Real,
                C::Float8 => MsType::Float,
                C::Money => MsType::Money,
                C::Money4 => MsType::SmallMoney,
                C::Datetime | C::Datetimen => MsType::DateTime,
                C::Datetime4 => MsType::SmallDateTime,
                C::Daten => MsType::Date,
                C::Timen => MsType::Time(7),
                C::Datetime2 => MsType::DateTime2(7),
                C::DatetimeOffsetn => MsType::DateTimeOffset(7),
                C::Guid => MsType::Guid,
                C::BigVarChar | C::BigChar | C::NVarchar | C::NChar | C::Text | C::NText => {
                    MsType::String { max: true }
                }
                C::BigVarBin | C::BigBinary | C::Image => MsType::Binary { max: true },
                C::Xml => MsType::Xml,
                other => MsType::Unsupported(format!(
                    "{other:?} (this server cannot describe a query's exact types; CAST the column in the query, or read a `table`)"
                )),
            },
        })
        .collect();
    drop(stream);
    if cols.is_empty() {
        return Err("the query returns no columns".into());
    }
    Ok(cols)
}

/// `[col] > CAST(N'...' AS <the column's own type>)` when the watermark's value can be
/// written exactly in SQL; else `None` (the engine filters every batch either way).
fn predicate(
    w: &Watermark,
    cols: &[MsColumn],
    inclusive: bool,
    o: &ReadTypeOptions,
) -> Option<String> {
    let col = cols.iter().find(|c| c.name == w.column)?;
    let (dt, _) = col.ty.arrow(o).ok()?;
    if &dt != w.data_type() {
        return None;
    }
    let value = match &col.ty {
        MsType::TinyInt | MsType::SmallInt | MsType::Int | MsType::BigInt => {
            let v = w.exact();
            v.parse::<i64>().ok()?;
            v
        }
        // Strings compare by the column's collation on the server (case, accents,
        // trailing spaces), by bytes in the engine: the server could drop rows the engine
        // wants, so string watermarks are never pushed down; the engine filters.
        MsType::Date => format!("CAST({} AS date)", literal(&w.display())),
        MsType::DateTime | MsType::SmallDateTime | MsType::DateTime2(_) => {
            let sql_type = match col.ty {
                MsType::DateTime => "datetime".to_string(),
                MsType::SmallDateTime => "smalldatetime".to_string(),
                MsType::DateTime2(n) => format!("datetime2({n})"),
                _ => unreachable!(),
            };
            // ISO text with at most 7 fractional digits (dropped digits must be zeros).
            let text = w.display();
            let text = match text.split_once('.') {
                Some((head, frac)) if frac.len() > 7 => {
                    if frac[7..].bytes().any(|b| b != b'0') {
                        return None;
                    }
                    format!("{head}.{}", &frac[..7])
                }
                _ => text,
            };
            format!("CAST({} AS {sql_type})", literal(&text))
        }
        _ => return None,
    };
    let op = if inclusive { ">=" } else { ">" };
    Some(format!("{} {op} {value}", ident(&col.name).ok()?))
}

#[async_trait]
impl Home for MssqlHome {
    fn kind(&self) -> &'static str {
        "mssql"
    }

    fn describe(&self, entity: &str) -> String {
        match self.resolve(entity) {
            Ok(r) => format!("{} via {}", r.what, self.pool.label()),
            Err(e) => format!("mssql ({e})"),
        }
    }

    async fn check(&self, entity: &str) -> Result<(), BoxError> {
        let r = self.resolve(entity).map_err(|e| self.context("table", e))?;
        let mut lease = self
            .pool
            .get()
            .await
            .map_err(|e| self.context(&r.what, e))?;
        let cols = self
            .columns(&mut lease, &r)
            .await
            .map_err(|e| self.context(&r.what, e))?;
        arrow_schema(&cols, &self.options).map_err(|e| self.context(&r.what, e))?;
        lease.done();
        Ok(())
    }

    async fn read(&self, req: &ReadRequest) -> Result<(SchemaRef, BatchStream), BoxError> {
        let r = self
            .resolve(&req.entity)
            .map_err(|e| self.context("table", e))?;
        let mut lease = self
            .pool
            .get()
            .await
            .map_err(|e| self.context(&r.what, e))?;
        let cols = self
            .columns(&mut lease, &r)
            .await
            .map_err(|e| self.context(&r.what, e))?;
        let schema = Arc::new(arrow_schema(&cols, &self.options).map_err(|e| {
            self.context(
                &r.what,
                format!("{e} (cast it in a `query`, or leave the column out)"),
            )
        })?);
        let sql = self
            .select(&r, &cols, req)
            .map_err(|e| self.context(&r.what, e))?;
        tracing::debug!("{}: {sql}", req.flow_name);
        let decoder = RowDecoder::new(&cols, schema.clone(), &self.options, req.batch_size);
        let context = format!("{}, {}", self.pool.label(), r.what);
        let batch_size = req.batch_size;
        // The stream ends only when the task finished (a panic, an error or an abort fails
        // the entity).
        let mut tasks = ReaderTasks::new(1);
        tasks.spawn(context.clone(), move |tx| async move {
            pump(lease, sql, decoder, batch_size, tx)
                .await
                .map_err(|e| format!("{context}: {e}").into())
        });
        Ok((schema, tasks.into_stream()))
    }
}

/// Streams the rows of `sql` into batches on `tx`: `batch_size` rows, or fewer once they
/// hold [`MAX_BATCH_BYTES`] of strings and binary. Returning early (the consumer went away)
/// drops the lease unfinished, which closes the connection.
async fn pump(
    mut lease: Lease,
    sql: String,
    mut decoder: RowDecoder,
    batch_size: usize,
    tx: BatchSender,
) -> Result<(), String> {
    {
        let stream = lease
            .client()
            .simple_query(sql)
            .await
            .map_err(|e| error_text(&e))?;
        let mut rows = stream.into_row_stream();
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|e| format!("reading stopped: {}", error_text(&e)))?
        {
            decoder.push(row)?;
            if decoder.len() >= batch_size || decoder.bytes() >= MAX_BATCH_BYTES {
                let batch = decoder.finish()?;
                if tx.send(batch).await.is_err() {
                    return Ok(());
                }
                failpoint::hit("mssql.home.batch")?;
            }
        }
    }
    if !decoder.is_empty() {
        let batch = decoder.finish()?;
        if tx.send(batch).await.is_err() {
            return Ok(());
        }
        failpoint::hit("mssql.home.batch")?;
    }
    lease.done();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<MsColumn> {
        vec![
            MsColumn {
                name: "n".into(),
                ty: MsType::BigInt,
            },
            MsColumn {
                name: "s".into(),
                ty: MsType::String { max: false },
            },
            MsColumn {
                name: "t".into(),
                ty: MsType::DateTime2(7),
            },
            MsColumn {
                name: "d".into(),
                ty: MsType::DateTime,
            },
        ]
    }

    #[test]
    fn watermarks_are_pushed_down_only_where_the_server_compares_like_the_engine() {
        let o = ReadTypeOptions::default();
        let w = Watermark::parse("n", "Int64", "42").unwrap();
        assert_eq!(
            predicate(&w, &cols(), false, &o).as_deref(),
            Some("[n] > 42")
        );
        assert_eq!(
            predicate(&w, &cols(), true, &o).as_deref(),
            Some("[n] >= 42")
        );
        // Strings compare by collation on the server: never pushed down.
        let w = Watermark::parse("s", "Utf8", "B").unwrap();
        assert_eq!(predicate(&w, &cols(), false, &o), None);
        // datetime2(7): all seven digits, in the column's own type.
        let w = Watermark::parse("t", "Timestamp(ns)", "1700000000123456700").unwrap();
        assert_eq!(
            predicate(&w, &cols(), false, &o).as_deref(),
            Some("[t] > CAST(N'2023-11-14T22:13:20.1234567' AS datetime2(7))")
        );
        // A watermark of another type than the column's is left to the engine.
        let w = Watermark::parse("d", "Timestamp(ns)", "1").unwrap();
        assert_eq!(predicate(&w, &cols(), false, &o), None);
    }
}
