//! Writes one entity run in one transaction on one pooled connection:
//!
//! 1. Create the schema if missing (its own short transaction); `BEGIN`; take a
//!    transaction-scoped advisory lock on the target (one writer per table across processes).
//! 2. Create a staging table from the Arrow schema with exact types (a `TEMP` table when
//!    appending to an existing table, else a table beside the target) and stream every
//!    batch into it with `COPY ... FROM STDIN (FORMAT binary)`.
//! 3. At finish: replace = drop the old table and rename the staging table into its place;
//!    append = `INSERT INTO target SELECT ... FROM staging`; then `COMMIT`.
//!
//! Nothing is visible to anyone before the commit, and any failure (an error, a cancelled
//! run, a killed connection or process) rolls the whole transaction back: the target is
//! exactly as before and the staging table never existed.

use std::pin::Pin;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::SinkExt;
use hygge_core::{BoxError, RunType, Store, StoreWriter, WriteReport, WriteTarget};
use tokio_postgres::CopyInSink;

use super::config::IfExists;
use crate::postgres::connection::{Lease, PgPool, pg_error};
use crate::postgres::encode::CopyEncoder;
use crate::postgres::sql::{MAX_IDENT, TableName, ident};
use crate::postgres::types::pg_column_type;

/// Bytes of COPY data sent per message: batches are encoded a slice of rows at a time so
/// that no more than about this much encoded data is held per writer (plus what the driver
/// has in flight: one message queued, one being written).
const SEND_CHUNK: usize = 256 << 10;

pub use crate::stores::WriteMode;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: Arc<PgPool>,
    table: TableName,
    if_exists: Option<IfExists>,
}

impl PostgresStore {
    /// A store writing `table` (`{entity}` in either part; schema default `public`).
    pub fn new(pool: Arc<PgPool>, table: TableName, if_exists: Option<IfExists>) -> Self {
        PostgresStore {
            pool,
            table,
            if_exists,
        }
    }

    /// The entity's table.
    pub fn table(&self, entity: &str) -> TableName {
        TableName {
            schema: Some(
                self.table
                    .schema
                    .as_deref()
                    .unwrap_or("public")
                    .replace("{entity}", entity),
            ),
            table: self.table.table.replace("{entity}", entity),
        }
    }

    /// What a run of `run_type` would do (reads nothing).
    pub fn preview(&self, entity: &str, run_type: RunType) -> String {
        let t = self.table(entity).display();
        WriteMode::of(self.if_exists, run_type).preview(&t)
    }

    fn context(&self, t: &TableName, e: impl std::fmt::Display) -> BoxError {
        format!("{}, table {}: {e}", self.pool.label(), t.display()).into()
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn describe(&self, entity: &str) -> String {
        format!(
            "table {} via {}",
            self.table(entity).display(),
            self.pool.label()
        )
    }

    async fn check(&self, entity: &str) -> Result<(), BoxError> {
        let t = self.table(entity);
        t.quoted().map_err(|e| self.context(&t, e))?;
        let lease = Lease::new(self.pool.get().await?);
        let row = lease
            .client()
            .query_one(
                "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1::text) \
                 THEN has_schema_privilege($1::text, 'CREATE') \
                 ELSE has_database_privilege(current_database(), 'CREATE') END",
                &[&t.schema],
            )
            .await
            .map_err(|e| self.context(&t, pg_error(&e)))?;
        lease.release();
        if !row.get::<_, bool>(0) {
            return Err(self.context(
                &t,
                format!(
                    "the user may not create tables in schema `{}`; grant CREATE on it",
                    t.schema.as_deref().unwrap_or("public")
                ),
            ));
        }
        Ok(())
    }

    async fn open(
        &self,
        target: &WriteTarget,
        schema: SchemaRef,
    ) -> Result<Box<dyn StoreWriter>, BoxError> {
        let t = self.table(&target.entity);
        let err = |e: String| self.context(&t, e);
        let quoted = t.quoted().map_err(err)?;
        let schema_name = t.schema.clone().unwrap_or_else(|| "public".into());
        let mut columns = Vec::new();
        let mut ddl = Vec::new();
        for f in schema.fields() {
            let name = ident(f.name()).map_err(|e| err(format!("column {e}")))?;
            let ty = pg_column_type(f).map_err(|e| err(e.to_string()))?;
            ddl.push(format!("{name} {ty}"));
            columns.push(name);
        }
        if columns.is_empty() {
            return Err(err("the data has no columns".into()));
        }
        let encoder = CopyEncoder::new(&schema).map_err(|e| err(e.to_string()))?;
        let mode = WriteMode::of(self.if_exists, target.run_type);

        let lease = Lease::new(self.pool.get().await?);
        let c = lease.client();
        let sql_err = |e: tokio_postgres::Error| self.context(&t, pg_error(&e));
        let schema_exists: bool = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1::text)",
                &[&schema_name],
            )
            .await
            .map_err(sql_err)?
            .get(0);
        if !schema_exists {
            // Its own short transaction (entities starting together would otherwise collide
            // on it), serialised by an advisory lock.
            let q = ident(&schema_name).map_err(err)?;
            c.batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended({}, 7)); \
                 CREATE SCHEMA IF NOT EXISTS {q}; COMMIT",
                crate::postgres::sql::literal(&format!("hygge schema {q}"))
            ))
            .await
            .map_err(sql_err)?;
        }
        c.batch_execute("BEGIN").await.map_err(sql_err)?;
        let locked: bool = c
            .query_one(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7))",
                &[&format!("hygge store {quoted}")],
            )
            .await
            .map_err(sql_err)?
            .get(0);
        if !locked {
            return Err(err(
                "another run is writing this table right now; try again when it has finished"
                    .into(),
            ));
        }
        let exists: bool = c
            .query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&quoted])
            .await
            .map_err(sql_err)?
            .get(0);
        let column_list = columns.join(", ");
        let (stage, finish_sql) = match (mode, exists) {
            (WriteMode::FailIfExists, true) => {
                return Err(err(
                    "the table already exists and if_exists is `fail`; drop it, or set if_exists to append or replace"
                        .into(),
                ));
            }
            (WriteMode::Append, true) => {
                // Session-local, never WAL-logged, dropped at commit.
                let stage = "\"hygge_stage\"".to_string();
                c.batch_execute(&format!(
                    "CREATE TEMP TABLE {stage} ({}) ON COMMIT DROP",
                    ddl.join(", ")
                ))
                .await
                .map_err(sql_err)?;
                let insert = format!(
                    "INSERT INTO {quoted} ({column_list}) SELECT {column_list} FROM {stage}"
                );
                (stage, vec![insert])
            }
            (_, exists) => {
                let stage_name = staging_name(&t.table, &target.run_id);
                let stage = format!(
                    "{}.{}",
                    ident(&schema_name).map_err(err)?,
                    ident(&stage_name).map_err(err)?
                );
                c.batch_execute(&format!("CREATE TABLE {stage} ({})", ddl.join(", ")))
                    .await
                    .map_err(sql_err)?;
                let mut fin = vec![];
                if exists {
                    fin.push(format!("DROP TABLE {quoted}"));
                }
                fin.push(format!(
                    "ALTER TABLE {stage} RENAME TO {}",
                    ident(&t.table).map_err(err)?
                ));
                (stage, fin)
            }
        };
        let sink = c
            .copy_in::<_, Bytes>(&format!(
                "COPY {stage} ({column_list}) FROM STDIN (FORMAT binary)"
            ))
            .await
            .map_err(sql_err)?;
        let mut buf = BytesMut::with_capacity(SEND_CHUNK);
        encoder.header(&mut buf);
        Ok(Box::new(PgWriter {
            lease,
            sink: Box::pin(sink),
            encoder,
            buf,
            finish_sql,
            rows: 0,
            bytes: 0,
            rows_per_chunk: 1024,
            label: format!("{}, table {}", self.pool.label(), t.display()),
            table: t.display(),
        }))
    }
}

/// `<table>_hygge_<run>`, cut to fit PostgreSQL's 63-byte names.
fn staging_name(table: &str, run_id: &str) -> String {
    let run: String = run_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let suffix = format!("_hygge_{run}");
    let mut base = table.to_string();
    while base.len() + suffix.len() > MAX_IDENT {
        base.pop();
    }
    format!("{base}{suffix}")
}

struct PgWriter {
    lease: Lease,
    sink: Pin<Box<CopyInSink<Bytes>>>,
    encoder: CopyEncoder,
    buf: BytesMut,
    finish_sql: Vec<String>,
    rows: u64,
    bytes: u64,
    /// Rows encoded per slice, adapted so a slice is about [`SEND_CHUNK`] bytes.
    rows_per_chunk: usize,
    label: String,
    table: String,
}

impl PgWriter {
    fn fail(&self, e: impl std::fmt::Display) -> BoxError {
        format!("{}: {e}", self.label).into()
    }

    /// Sends what is encoded once it reaches [`SEND_CHUNK`] (or everything, with `all`).
    async fn send(&mut self, all: bool) -> Result<(), BoxError> {
        if self.buf.is_empty() || (!all && self.buf.len() < SEND_CHUNK) {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.bytes += chunk.len() as u64;
        if let Err(e) = self.sink.send(chunk).await {
            return Err(self.fail(format!("loading stopped: {}", pg_error(&e))));
        }
        Ok(())
    }
}

#[async_trait]
impl StoreWriter for PgWriter {
    async fn write(&mut self, batch: RecordBatch) -> Result<(), BoxError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let n = self.rows_per_chunk.min(batch.num_rows() - offset);
            let before = self.buf.len();
            self.encoder
                .encode(&batch.slice(offset, n), &mut self.buf)
                .map_err(|e| self.fail(e))?;
            let per_row = ((self.buf.len() - before) / n).max(1);
            self.rows_per_chunk = (SEND_CHUNK / per_row).clamp(64, 1 << 16);
            offset += n;
            self.rows += n as u64;
            self.send(false).await?;
        }
        Ok(())
    }

    fn staged_rows(&self) -> u64 {
        self.rows
    }

    async fn finish(mut self: Box<Self>) -> Result<WriteReport, BoxError> {
        self.encoder.trailer(&mut self.buf);
        self.send(true).await?;
        let copied = match self.sink.as_mut().finish().await {
            Ok(n) => n,
            Err(e) => return Err(self.fail(format!("loading stopped: {}", pg_error(&e)))),
        };
        if copied != self.rows {
            return Err(self.fail(format!(
                "the server received {copied} rows but {} were sent; nothing was published",
                self.rows
            )));
        }
        let c = self.lease.client();
        for sql in &self.finish_sql {
            c.batch_execute(sql)
                .await
                .map_err(|e| self.fail(format!("publishing failed: {}", pg_error(&e))))?;
        }
        c.batch_execute("COMMIT")
            .await
            .map_err(|e| self.fail(format!("commit failed: {}", pg_error(&e))))?;
        let PgWriter {
            lease,
            rows,
            bytes,
            label,
            table,
            ..
        } = *self;
        lease.release();
        Ok(WriteReport {
            rows,
            bytes,
            outputs: vec![table],
            destination: label,
        })
    }

    async fn abort(self: Box<Self>) {
        // Dropping the lease unreleased closes the connection: the server rolls the
        // transaction back, staging table included.
        drop(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_fit_and_stay_unique_per_run() {
        let long = "t".repeat(63);
        let s = staging_name(&long, "20261125T120000Z-abcdef123456");
        assert!(s.len() <= MAX_IDENT, "{s}");
        assert!(s.ends_with("_hygge_abcdef123456"), "{s}");
        assert_eq!(staging_name("orders", "run1"), "orders_hygge_run1");
        let multibyte = "é".repeat(40);
        assert!(staging_name(&multibyte, "r").len() <= MAX_IDENT);
    }

    #[test]
    fn if_exists_wins_over_the_run_type() {
        use RunType::*;
        assert_eq!(WriteMode::of(None, FullDrop), WriteMode::Replace);
        assert_eq!(WriteMode::of(None, Incremental), WriteMode::Append);
        assert_eq!(
            WriteMode::of(Some(IfExists::Append), FullDrop),
            WriteMode::Append
        );
        assert_eq!(
            WriteMode::of(Some(IfExists::Fail), Incremental),
            WriteMode::FailIfExists
        );
    }
}
