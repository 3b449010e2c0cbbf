//! Writes one entity run in one transaction on one pooled connection:
//!
//! 1. `open`: create the schema and its `_hygge_state` table if missing (their own short
//!    transaction); `BEGIN`; try a transaction-scoped advisory lock on the target (one
//!    writer per table across processes: another run holding it is an error at once); read
//!    the checkpoint in `_hygge_state` for the table.
//! 2. `begin`: create a staging table from the Arrow schema with exact types (a `TEMP`
//!    table when appending to an existing table, else a table beside the target) and
//!    stream every batch into it with `COPY ... FROM STDIN (FORMAT binary)`.
//! 3. `finish`: replace = drop the old table and rename the staging table into its place;
//!    append = `INSERT INTO target SELECT ... FROM staging`; upsert the run's checkpoint
//!    into `_hygge_state`; `COMMIT`. The locks this needs are waited for in short attempts
//!    (so readers queued behind the swap are not held up) for at most `lock_timeout`.
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
use hygge_core::{
    BoxError, Checkpoint, Publish, RunType, Store, StoreWriter, WriteReport, WriteTarget,
};
use tokio_postgres::CopyInSink;

use super::config::IfExists;
use crate::postgres::connection::{Lease, PgPool, pg_error};
use crate::postgres::encode::CopyEncoder;
use crate::postgres::sql::{MAX_IDENT, TableName, ident, literal};
use crate::postgres::types::pg_column_type;
use crate::sql::STATE_TABLE;

/// Bytes of COPY data sent per message: batches are encoded a slice of rows at a time so
/// that no more than about this much encoded data is held per writer (plus what the driver
/// has in flight: one message queued, one being written).
const SEND_CHUNK: usize = 256 << 10;

pub use crate::sql::WriteMode;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: Arc<PgPool>,
    table: TableName,
    if_exists: Option<IfExists>,
    lock_timeout: std::time::Duration,
}

impl PostgresStore {
    /// A store writing `table` (`{entity}` in either part; schema default `public`),
    /// waiting at most `lock_timeout` for the locks publishing needs.
    pub fn new(
        pool: Arc<PgPool>,
        table: TableName,
        if_exists: Option<IfExists>,
        lock_timeout: std::time::Duration,
    ) -> Self {
        PostgresStore {
            pool,
            table,
            if_exists,
            lock_timeout,
        }
    }

    /// The entity's table.
    pub fn table(&self, entity: &str) -> TableName {
        let t = self.table.for_entity(entity);
        TableName::new(Some(t.schema.unwrap_or_else(|| "public".into())), t.table)
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

    async fn open(&self, target: &WriteTarget) -> Result<Box<dyn StoreWriter>, BoxError> {
        let t = self.table(&target.entity);
        let err = |e: String| self.context(&t, e);
        let quoted = t.quoted().map_err(err)?;
        let schema_name = t.schema.clone().unwrap_or_else(|| "public".into());
        let q_schema = ident(&schema_name).map_err(err)?;
        let state = format!("{q_schema}.{}", ident(STATE_TABLE).map_err(err)?);

        let lease = Lease::new(self.pool.get().await?);
        let c = lease.client();
        let sql_err = |e: tokio_postgres::Error| self.context(&t, pg_error(&e));
        let ready: bool = c
            .query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&state])
            .await
            .map_err(sql_err)?
            .get(0);
        if !ready {
            // Their own short transaction (entities starting together would otherwise
            // collide on them), serialised by an advisory lock.
            c.batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended({}, 7)); \
                 CREATE SCHEMA IF NOT EXISTS {q_schema}; \
                 CREATE TABLE IF NOT EXISTS {state} (table_name text PRIMARY KEY, \
                 checkpoint text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now()); \
                 COMMIT",
                literal(&format!("hygge schema {q_schema}"))
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
        let committed: Option<String> = c
            .query_opt(
                &format!("SELECT checkpoint FROM {state} WHERE table_name = $1"),
                &[&quoted],
            )
            .await
            .map_err(sql_err)?
            .map(|r| r.get(0));
        Ok(Box::new(PgWriter {
            lease,
            committed,
            if_exists: self.if_exists,
            lock_timeout: self.lock_timeout,
            target: t.clone(),
            quoted,
            state,
            run_id: target.run_id.clone(),
            load: None,
            rows: 0,
            bytes: 0,
            rows_per_chunk: 1024,
            label: format!("{}, table {}", self.pool.label(), t.display()),
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
    committed: Option<String>,
    if_exists: Option<IfExists>,
    lock_timeout: std::time::Duration,
    target: TableName,
    quoted: String,
    /// `<schema>._hygge_state`, quoted.
    state: String,
    run_id: String,
    /// Set by `begin`.
    load: Option<Load>,
    rows: u64,
    bytes: u64,
    /// Rows encoded per slice, adapted so a slice is about [`SEND_CHUNK`] bytes.
    rows_per_chunk: usize,
    label: String,
}

/// A COPY into the staging table, and what publishing it takes.
struct Load {
    sink: Pin<Box<CopyInSink<Bytes>>>,
    encoder: CopyEncoder,
    buf: BytesMut,
    finish_sql: Vec<String>,
}

/// PostgreSQL's `lock_not_available`: a statement gave up waiting for a lock.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// The longest one attempt at the publishing locks waits: readers that queue behind it
/// wait at most this long.
const LOCK_ATTEMPT: std::time::Duration = std::time::Duration::from_secs(2);

impl PgWriter {
    fn fail(&self, e: impl std::fmt::Display) -> BoxError {
        format!("{}: {e}", self.label).into()
    }

    fn load(&mut self) -> Result<&mut Load, BoxError> {
        let label = self.label.clone();
        self.load
            .as_mut()
            .ok_or_else(|| format!("{label}: written before the run began (a bug in hygge)").into())
    }

    /// Sends what is encoded once it reaches [`SEND_CHUNK`] (or everything, with `all`).
    async fn send(&mut self, all: bool) -> Result<(), BoxError> {
        let load = self.load()?;
        if load.buf.is_empty() || (!all && load.buf.len() < SEND_CHUNK) {
            return Ok(());
        }
        let chunk = load.buf.split().freeze();
        let n = chunk.len() as u64;
        if let Err(e) = load.sink.send(chunk).await {
            return Err(self.fail(format!("loading stopped: {}", pg_error(&e))));
        }
        self.bytes += n;
        Ok(())
    }

    /// Runs the publishing statements and the checkpoint's upsert, in attempts of at most
    /// [`LOCK_ATTEMPT`] for the locks they need, until `lock_timeout` has passed.
    async fn publish(&self, finish_sql: &[String], checkpoint: &str) -> Result<(), BoxError> {
        let c = self.lease.client();
        let deadline = std::time::Instant::now() + self.lock_timeout;
        let mut pause = std::time::Duration::from_millis(50);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let wait = left
                .min(LOCK_ATTEMPT)
                .max(std::time::Duration::from_millis(1));
            let attempt = async {
                c.batch_execute(&format!(
                    "SAVEPOINT hygge_publish; SET LOCAL lock_timeout = '{}ms'",
                    wait.as_millis()
                ))
                .await?;
                for sql in finish_sql {
                    c.batch_execute(sql).await?;
                }
                c.execute(
                    &format!(
                        "INSERT INTO {} (table_name, checkpoint, updated_at) VALUES ($1, $2, now()) \
                         ON CONFLICT (table_name) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, \
                         updated_at = EXCLUDED.updated_at",
                        self.state
                    ),
                    &[&self.quoted, &checkpoint],
                )
                .await?;
                c.batch_execute("SET LOCAL lock_timeout = 0; RELEASE SAVEPOINT hygge_publish")
                    .await
            };
            let e = match attempt.await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let busy = e.code().is_some_and(|c| c.code() == LOCK_NOT_AVAILABLE);
            if !busy {
                return Err(self.fail(format!("publishing failed: {}", pg_error(&e))));
            }
            if std::time::Instant::now() + pause >= deadline {
                return Err(self.fail(format!(
                    "publishing waited {}s (lock_timeout) for other sessions using the table to let go of it, {attempts} times, and gave up; nothing was published. Raise `lock_timeout` on the store, or run when the table is not in use",
                    self.lock_timeout.as_secs()
                )));
            }
            c.batch_execute("ROLLBACK TO SAVEPOINT hygge_publish")
                .await
                .map_err(|e| self.fail(format!("publishing failed: {}", pg_error(&e))))?;
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(1));
        }
    }
}

#[async_trait]
impl StoreWriter for PgWriter {
    fn committed(&self) -> Option<&str> {
        self.committed.as_deref()
    }

    async fn begin(&mut self, schema: SchemaRef, publish: Publish) -> Result<(), BoxError> {
        let t = self.target.clone();
        let label = self.label.clone();
        let err = |e: String| -> BoxError { format!("{label}: {e}").into() };
        let quoted = self.quoted.clone();
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
        let mode = WriteMode::publishing(self.if_exists, publish);
        let c = self.lease.client();
        let sql_err = |e: tokio_postgres::Error| err(pg_error(&e));
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
                let mut fin = vec![];
                if publish.evolve {
                    // schema: {mode: adapt}: the source's new columns are added (nullable)
                    // in the publishing transaction; the INSERT names its columns, so
                    // their order in the table does not matter.
                    let have: Vec<String> = c
                        .query(
                            "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped",
                            &[&quoted],
                        )
                        .await
                        .map_err(sql_err)?
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    for (f, def) in schema.fields().iter().zip(&ddl) {
                        if !have.iter().any(|h| h == f.name()) {
                            fin.push(format!("ALTER TABLE {quoted} ADD COLUMN {def}"));
                        }
                    }
                }
                fin.push(insert);
                (stage, fin)
            }
            (_, exists) => {
                let stage_name = staging_name(&t.table, &self.run_id);
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
        self.load = Some(Load {
            sink: Box::pin(sink),
            encoder,
            buf,
            finish_sql,
        });
        Ok(())
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<(), BoxError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let n = self.rows_per_chunk.min(batch.num_rows() - offset);
            let load = self.load()?;
            let before = load.buf.len();
            let encoded = load.encoder.encode(&batch.slice(offset, n), &mut load.buf);
            let after = load.buf.len();
            encoded.map_err(|e| self.fail(e))?;
            let per_row = ((after - before) / n).max(1);
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

    async fn finish(mut self: Box<Self>, checkpoint: &Checkpoint) -> Result<WriteReport, BoxError> {
        let load = self.load()?;
        load.encoder.trailer(&mut load.buf);
        self.send(true).await?;
        let mut load = self.load.take().expect("checked above");
        let copied = match load.sink.as_mut().finish().await {
            Ok(n) => n,
            Err(e) => return Err(self.fail(format!("loading stopped: {}", pg_error(&e)))),
        };
        if copied != self.rows {
            return Err(self.fail(format!(
                "the server received {copied} rows but {} were sent; nothing was published",
                self.rows
            )));
        }
        self.publish(&load.finish_sql, &checkpoint.to_json())
            .await?;
        hygge_core::failpoint::hit("postgres.commit").map_err(|e| self.fail(e))?;
        self.lease
            .client()
            .batch_execute("COMMIT")
            .await
            .map_err(|e| self.fail(format!("commit failed: {}", pg_error(&e))))?;
        let PgWriter {
            lease,
            rows,
            bytes,
            label,
            target,
            ..
        } = *self;
        lease.release();
        Ok(WriteReport {
            rows,
            bytes,
            outputs: vec![target.display()],
            destination: label,
        })
    }

    async fn abort(mut self: Box<Self>) {
        // Dropping the COPY's sink aborts the COPY; a ROLLBACK the server confirms then
        // ends the transaction (staging table and lock included) before this returns, and
        // the connection can be reused. If it cannot be confirmed, dropping the lease
        // unreleased closes the connection, and the server rolls back on its own.
        self.load = None;
        let rolled_back = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.lease.client().batch_execute("ROLLBACK"),
        )
        .await;
        if let Ok(Ok(())) = rolled_back {
            let PgWriter { lease, .. } = *self;
            lease.release();
        }
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
