//! Reads a table or a query with `COPY (...) TO STDOUT (FORMAT binary)`, decoded straight
//! into Arrow batches; a large table is read over several pooled connections at once, in
//! block (`ctid`) ranges of one exported snapshot, so the result is exactly what one
//! `SELECT` at one moment would return.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use futures::StreamExt;
use hygge_core::{BatchSender, BatchStream, BoxError, Home, ReadRequest, ReaderTasks, failpoint};

use crate::postgres::connection::{Lease, PgPool, pg_error};
use crate::postgres::decode::CopyDecoder;
use crate::postgres::sql::{ident, literal};
use crate::postgres::tap::Expect;
use crate::postgres::types::{PgColumn, ReadTypeOptions, arrow_schema};

/// A table is split into ranges of at least this many 8 KiB blocks (64 MiB) per stream
/// (`HYGGE_PG_RANGE_PAGES` changes it, for tuning and tests).
const MIN_PAGES_PER_STREAM: i64 = 8_192;

fn min_pages_per_stream() -> i64 {
    std::env::var("HYGGE_PG_RANGE_PAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &i64| *n > 0)
        .unwrap_or(MIN_PAGES_PER_STREAM)
}
/// TID range scans (PostgreSQL 14+) make block ranges cheap; older servers read one stream.
const TID_RANGE_SCAN_VERSION: i32 = 140_000;

/// What the home reads.
pub type Source = crate::sql::Source<crate::postgres::sql::Postgres>;

/// The PostgreSQL home.
#[derive(Debug, Clone)]
pub struct PostgresHome {
    pool: Arc<PgPool>,
    source: Source,
    options: ReadTypeOptions,
    parallel: usize,
}

/// One entity's source, resolved.
struct Resolved {
    /// `SELECT * FROM "s"."t"`, or the query.
    select: String,
    /// The quoted table, for a table source.
    table: Option<String>,
    /// `table s.t` / `query`, for messages.
    what: String,
}

impl PostgresHome {
    /// A home reading `source` through `pool`, with up to `parallel` streams per table.
    pub fn new(
        pool: Arc<PgPool>,
        source: Source,
        options: ReadTypeOptions,
        parallel: usize,
    ) -> Self {
        PostgresHome {
            pool,
            source,
            options,
            parallel: parallel.max(1),
        }
    }

    fn resolve(&self, entity: &str) -> Result<Resolved, String> {
        match &self.source {
            Source::Table(t) => {
                let t = t.for_entity(entity);
                let quoted = t.quoted()?;
                Ok(Resolved {
                    select: format!("SELECT * FROM {quoted}"),
                    table: Some(quoted),
                    what: format!("table {}", t.display()),
                })
            }
            Source::Query(q) => {
                let q = q.replace("{entity}", &ident(entity)?);
                let q = q.trim().trim_end_matches(';').trim().to_string();
                Ok(Resolved {
                    select: q,
                    table: None,
                    what: "query".into(),
                })
            }
        }
    }

    fn context(&self, what: &str, e: impl std::fmt::Display) -> BoxError {
        format!("{}, {what}: {e}", self.pool.label()).into()
    }

    /// The columns of the entity's result, and the Arrow schema they are read as.
    async fn describe_columns(
        &self,
        lease: &Lease,
        r: &Resolved,
    ) -> Result<(Vec<PgColumn>, SchemaRef), BoxError> {
        let stmt = lease
            .client()
            .prepare(&r.select)
            .await
            .map_err(|e| self.context(&r.what, pg_error(&e)))?;
        let cols: Vec<PgColumn> = stmt
            .columns()
            .iter()
            .map(|c| PgColumn {
                name: c.name().to_string(),
                ty: c.type_().clone(),
                typmod: c.type_modifier(),
            })
            .collect();
        let schema = arrow_schema(&cols, &self.options).map_err(|e| {
            self.context(
                &r.what,
                format!("{e} (cast it in a `query`, or leave the column out)"),
            )
        })?;
        Ok((cols, Arc::new(schema)))
    }

    /// Block ranges for a table big enough to split, with a connection for each range
    /// after the first (only connections the pool has free right now).
    async fn split(&self, first: &Lease, table: &str) -> Vec<(Option<i64>, Option<i64>, Lease)> {
        if self.parallel < 2 {
            return vec![];
        }
        let row = first
            .client()
            .query_one(
                "SELECT (pg_relation_size($1::text::regclass) / current_setting('block_size')::bigint)::bigint, \
                 current_setting('server_version_num')::int",
                &[&table],
            )
            .await;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                tracing::debug!("{table}: not split into block ranges: {}", pg_error(&e));
                return vec![];
            }
        };
        let (pages, version): (i64, i32) = (row.get(0), row.get(1));
        if version < TID_RANGE_SCAN_VERSION {
            return vec![];
        }
        let want = (pages / min_pages_per_stream()).min(self.parallel as i64);
        let mut extra = Vec::new();
        while (extra.len() as i64) + 1 < want {
            match self.pool.try_get().await {
                Some(c) => extra.push(Lease::new(c)),
                None => break,
            }
        }
        if extra.is_empty() {
            return vec![];
        }
        let k = extra.len() as i64 + 1;
        let step = pages / k;
        extra
            .into_iter()
            .enumerate()
            .map(|(i, lease)| {
                let lo = step * (i as i64 + 1);
                let hi = (i as i64 + 2 < k).then(|| step * (i as i64 + 2));
                (Some(lo), hi, lease)
            })
            .collect()
    }
}

#[async_trait]
impl Home for PostgresHome {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn describe(&self, entity: &str) -> String {
        match self.resolve(entity) {
            Ok(r) => format!("{} via {}", r.what, self.pool.label()),
            Err(e) => format!("postgres ({e})"),
        }
    }

    async fn check(&self, entity: &str) -> Result<(), BoxError> {
        let r = self.resolve(entity).map_err(|e| self.context("table", e))?;
        let lease = Lease::new(self.pool.get().await?);
        lease
            .client()
            .simple_query("SELECT 1")
            .await
            .map_err(|e| self.context(&r.what, pg_error(&e)))?;
        self.describe_columns(&lease, &r).await?;
        lease.release();
        Ok(())
    }

    async fn read(&self, req: &ReadRequest) -> Result<(SchemaRef, BatchStream), BoxError> {
        let r = self
            .resolve(&req.entity)
            .map_err(|e| self.context("table", e))?;
        let first = Lease::new(self.pool.get().await?);
        let (cols, schema) = self.describe_columns(&first, &r).await?;
        // Push the watermark down when the server compares it exactly (same type as the
        // stored watermark); the engine filters every batch again either way.
        let predicate = req.after.as_ref().and_then(|w| {
            let f = schema.field_with_name(&w.column).ok()?;
            let op = if req.after_inclusive { ">=" } else { ">" };
            if f.data_type() != w.data_type() {
                return None;
            }
            let column = ident(&w.column).ok()?;
            // Text compares by the column's collation on the server, by bytes in the engine:
            // only `COLLATE "C"` (byte order) makes the server's rows a superset of the
            // engine's. Other string types (char(n) padding, citext, enums) are not pushed.
            let column = match f.data_type() {
                arrow::datatypes::DataType::Utf8 | arrow::datatypes::DataType::LargeUtf8 => {
                    let pg = cols.iter().find(|c| c.name == w.column)?;
                    if pg.ty != tokio_postgres::types::Type::TEXT
                        && pg.ty != tokio_postgres::types::Type::VARCHAR
                    {
                        return None;
                    }
                    format!("{column} COLLATE \"C\"")
                }
                _ => column,
            };
            Some(format!("{column} {op} {}", literal(&w.display())))
        });
        let r = match &predicate {
            Some(p) if r.table.is_some() => Resolved {
                select: format!("{} WHERE {p}", r.select),
                ..r
            },
            Some(p) => Resolved {
                select: format!("SELECT * FROM ({}) AS hygge_query WHERE {p}", r.select),
                ..r
            },
            None => r,
        };
        let ranges = match &r.table {
            Some(t) => self.split(&first, t).await,
            None => vec![],
        };
        let cols = Arc::new(cols);
        // One task per COPY stream; the stream the engine reads ends only when every one
        // of them finished (a panic, an error or an abort fails the entity).
        let mut tasks = ReaderTasks::new(ranges.len() + 1);
        let what = Arc::new(r.what.clone());
        let label = Arc::new(self.pool.label());
        let name = format!("{label}, {what}");
        let table = r.table.clone().unwrap_or_default();
        let pump = |lease: Lease, sql: String| Pump {
            lease,
            sql,
            schema: schema.clone(),
            cols: cols.clone(),
            batch_size: req.batch_size,
            what: what.clone(),
            label: label.clone(),
        };
        if ranges.is_empty() {
            let sql = format!("COPY ({}) TO STDOUT (FORMAT binary)", r.select);
            let p = pump(first, sql);
            tasks.spawn(name, |tx| p.run(tx, None));
        } else {
            // One snapshot for every range: together they read exactly one SELECT's rows.
            let begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
            let snapshot: String = async {
                first.client().batch_execute(begin).await?;
                let row = first
                    .client()
                    .query_one("SELECT pg_export_snapshot()", &[])
                    .await?;
                Ok::<_, tokio_postgres::Error>(row.get(0))
            }
            .await
            .map_err(|e| self.context(&r.what, pg_error(&e)))?;
            let range_sql = |lo: Option<i64>, hi: Option<i64>| {
                let mut conds = vec![];
                if let Some(lo) = lo {
                    conds.push(format!("ctid >= '({lo},0)'::tid"));
                }
                if let Some(hi) = hi {
                    conds.push(format!("ctid < '({hi},0)'::tid"));
                }
                if let Some(p) = &predicate {
                    conds.push(p.clone());
                }
                format!(
                    "COPY (SELECT * FROM {table} WHERE {}) TO STDOUT (FORMAT binary)",
                    conds.join(" AND ")
                )
            };
            let blocks = |lo: Option<i64>, hi: Option<i64>| {
                let end = hi.map(|h| h.to_string()).unwrap_or_default();
                format!("{name} (blocks {}..{end})", lo.unwrap_or(0))
            };
            let first_hi = ranges.first().and_then(|(lo, _, _)| *lo);
            let mut pumps = vec![(
                blocks(None, first_hi),
                pump(first, range_sql(None, first_hi)),
            )];
            for (lo, hi, lease) in ranges {
                lease
                    .client()
                    .batch_execute(&format!(
                        "{begin}; SET TRANSACTION SNAPSHOT {}",
                        literal(&snapshot)
                    ))
                    .await
                    .map_err(|e| self.context(&r.what, pg_error(&e)))?;
                pumps.push((blocks(lo, hi), pump(lease, range_sql(lo, hi))));
            }
            tracing::info!(
                "{}: reading in {} streams (block ranges of one snapshot)",
                r.what,
                pumps.len()
            );
            for (name, p) in pumps {
                tasks.spawn(name, |tx| p.run(tx, Some("COMMIT")));
            }
        }
        Ok((schema, tasks.into_stream()))
    }
}

/// One COPY stream: decodes into batches and sends them to the entity's channel.
struct Pump {
    lease: Lease,
    sql: String,
    schema: SchemaRef,
    cols: Arc<Vec<PgColumn>>,
    batch_size: usize,
    what: Arc<String>,
    label: Arc<String>,
}

impl Pump {
    /// Runs the COPY to its end; an error names the connection and the table or query.
    async fn run(self, tx: BatchSender, end: Option<&'static str>) -> Result<(), BoxError> {
        let (label, what) = (self.label.clone(), self.what.clone());
        self.copy(&tx, end)
            .await
            .map_err(|e| format!("{label}, {what}: {e}").into())
    }

    async fn copy(self, tx: &BatchSender, end: Option<&'static str>) -> Result<(), String> {
        let Pump {
            lease,
            sql,
            schema,
            cols,
            batch_size,
            what,
            ..
        } = self;
        let mut decoder = CopyDecoder::new(schema, &cols, batch_size).map_err(|e| e.to_string())?;
        // The connection's tap delivers the rows in chunks; a connection without one
        // delivers them through the driver, a message per row. Both are read.
        let mut expect = Expect::new();
        let sql = format!("{} {sql}", expect.marker());
        let stream = lease
            .client()
            .copy_out(sql.as_str())
            .await
            .map_err(|e| pg_error(&e))?;
        let mut stream = std::pin::pin!(stream);
        let (mut tapped, mut messages) = (true, true);
        let (mut tap_bytes, mut driver_bytes) = (0usize, 0usize);
        let mut batches = 0usize;
        while tapped || messages {
            let chunk = tokio::select! {
                biased;
                c = expect.rx.recv(), if tapped => match c {
                    Some(c) => {
                        tap_bytes += c.len();
                        c
                    }
                    None => {
                        tapped = false;
                        continue;
                    }
                },
                m = stream.next(), if messages => match m {
                    Some(m) => {
                        let m = m.map_err(|e| format!("reading stopped: {}", pg_error(&e)))?;
                        driver_bytes += m.len();
                        m
                    }
                    None => {
                        // The driver saw the COPY complete; a tap has sent every row by
                        // then. Without a tap, this ends `expect.rx`.
                        messages = false;
                        expect.withdraw();
                        continue;
                    }
                },
            };
            decoder.push(&chunk).map_err(|e| e.to_string())?;
            while let Some(batch) = decoder.take_full().map_err(|e| e.to_string())? {
                if tx.send(batch).await.is_err() {
                    // Nobody reads any more: the lease is dropped unreleased, which closes
                    // the connection, so the server stops sending.
                    return Ok(());
                }
                batches += 1;
                failpoint::hit("postgres.home.batch")?;
            }
        }
        if let Some(batch) = decoder.finish().map_err(|e| e.to_string())? {
            if tx.send(batch).await.is_err() {
                return Ok(());
            }
            batches += 1;
            failpoint::hit("postgres.home.batch")?;
        }
        tracing::debug!(
            "{what}: {batches} batches, {tap_bytes} bytes of rows through the connection's tap, {driver_bytes} through the driver"
        );
        if let Some(end) = end {
            lease
                .client()
                .batch_execute(end)
                .await
                .map_err(|e| pg_error(&e))?;
        }
        lease.release();
        Ok(())
    }
}
