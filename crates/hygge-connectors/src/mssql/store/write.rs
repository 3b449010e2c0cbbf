//! Writes one entity run with the TDS bulk-load protocol into `<table>_hygge_tmp`, then
//! publishes it in one transaction:
//!
//! 1. `open`: on one pooled connection, try a session application lock on the target (one
//!    writer per table across processes; another run holding it is an error at once) and
//!    read the table's checkpoint from `<schema>._hygge_state`. `begin`: create the schema
//!    if missing, drop a staging table a crashed run left behind, and create
//!    `<table>_hygge_tmp` from the Arrow schema with exact types (strings and binaries as
//!    `(max)` while loading).
//! 2. Bulk-load every batch into it (`INSERT BULK`, never row-by-row inserts), on up to
//!    `parallel_workers` connections the pool has free; the server's row count of every
//!    bulk statement must match the rows sent.
//! 3. At finish, in one transaction (`XACT_ABORT`): replace = narrow string/binary columns
//!    to the longest value loaded, drop the old table and rename the staging table into its
//!    place; append = add new columns, `INSERT INTO target SELECT ... FROM staging`, drop
//!    the staging table; and upsert the run's checkpoint into `_hygge_state`. Its locks
//!    are waited for in attempts of `SET LOCK_TIMEOUT` 2 s until `lock_timeout`. Then
//!    release the lock.
//!
//! Before the commit nothing is visible in the target; on any failure the transaction rolls
//! back, the staging table is dropped (or, if the connection died, by the next run) and the
//! target is exactly as before. (The original hygge never ran this swap: bug B1.)

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use hygge_core::{
    BoxError, Checkpoint, Held, Publish, RunType, Store, StoreWriter, WriteReport, WriteTarget,
};
use tiberius::SqlBulkCopyOptions;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::mssql::connection::{Lease, MsPool, error_text};
use crate::mssql::encode::Encoder;
use crate::mssql::sql::{TableName, ident, literal};
use crate::mssql::types::Target;
use crate::sql::{IfExists, STATE_TABLE, WriteMode};

/// Longest `nvarchar(n)` / `varbinary(n)` before `(max)`.
const MAX_NVARCHAR: usize = 4_000;
const MAX_VARBINARY: usize = 8_000;

/// The SQL Server store.
#[derive(Debug, Clone)]
pub struct MssqlStore {
    pool: Arc<MsPool>,
    table: TableName,
    if_exists: Option<IfExists>,
    /// Rows per `INSERT BULK` statement.
    batch_size: usize,
    options: SqlBulkCopyOptions,
    workers: usize,
    lock_timeout: std::time::Duration,
}

impl MssqlStore {
    /// A store writing `table` (`{entity}` in either part; schema default `dbo`).
    pub fn new(
        pool: Arc<MsPool>,
        table: TableName,
        if_exists: Option<IfExists>,
        batch_size: usize,
        options: SqlBulkCopyOptions,
        workers: usize,
    ) -> Self {
        MssqlStore {
            pool,
            table,
            if_exists,
            batch_size,
            options,
            workers: workers.max(1),
            lock_timeout: std::time::Duration::from_secs(crate::sql::DEFAULT_LOCK_TIMEOUT_SECS),
        }
    }

    /// Waits at most `d` for the locks publishing needs.
    pub fn with_lock_timeout(mut self, d: std::time::Duration) -> Self {
        self.lock_timeout = d;
        self
    }

    /// The entity's table.
    pub fn table(&self, entity: &str) -> TableName {
        let t = self.table.for_entity(entity);
        TableName::new(Some(t.schema.unwrap_or_else(|| "dbo".into())), t.table)
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

/// Runs a batch of statements and returns its first row, if any.
async fn first_row(lease: &mut Lease, sql: String) -> Result<Option<tiberius::Row>, String> {
    lease
        .client()
        .simple_query(sql)
        .await
        .map_err(|e| error_text(&e))?
        .into_row()
        .await
        .map_err(|e| error_text(&e))
}

/// Runs a batch of statements and returns the first column of the first row, if any.
async fn scalar(lease: &mut Lease, sql: String) -> Result<Option<i64>, String> {
    Ok(first_row(lease, sql).await?.and_then(|r| {
        r.try_get::<i64, _>(0)
            .ok()
            .flatten()
            .or_else(|| r.try_get::<i32, _>(0).ok().flatten().map(i64::from))
    }))
}

/// Runs a batch and returns the first column of its first row as text, if any.
async fn text(lease: &mut Lease, sql: String) -> Result<Option<String>, String> {
    Ok(first_row(lease, sql)
        .await?
        .and_then(|r| r.try_get::<&str, _>(0).ok().flatten().map(str::to_string)))
}

async fn execute(lease: &mut Lease, sql: String) -> Result<(), String> {
    lease
        .client()
        .simple_query(sql)
        .await
        .map_err(|e| error_text(&e))?
        .into_results()
        .await
        .map_err(|e| error_text(&e))?;
    Ok(())
}

fn lock_sql(t: &TableName, take: bool) -> Result<String, String> {
    let resource = literal(&format!("hygge:{}", t.quoted()?));
    Ok(if take {
        format!(
            "DECLARE @r int; EXEC @r = sp_getapplock @Resource = {resource}, @LockMode = 'Exclusive', \
             @LockOwner = 'Session', @LockTimeout = 0; SELECT CAST(@r AS bigint)"
        )
    } else {
        format!("EXEC sp_releaseapplock @Resource = {resource}, @LockOwner = 'Session'")
    })
}

/// A query that finds the `hygge_staging` mark hygge puts on the staging tables it makes.
fn staging_mark(staging: &TableName) -> Result<String, String> {
    Ok(format!(
        "SELECT 1 FROM sys.extended_properties WHERE class = 1 AND minor_id = 0 \
         AND major_id = OBJECT_ID({}) AND name = N'hygge_staging'",
        staging.literal()?
    ))
}

/// Drops the staging table if it exists and hygge made it.
fn drop_staging_sql(staging: &TableName) -> Result<String, String> {
    Ok(format!(
        "IF OBJECT_ID({}, N'U') IS NOT NULL AND EXISTS ({}) DROP TABLE {}; ",
        staging.literal()?,
        staging_mark(staging)?,
        staging.quoted()?
    ))
}

/// A target table's column.
struct Existing {
    name: String,
    nullable: bool,
    filled: bool,
}

#[async_trait]
impl Store for MssqlStore {
    fn kind(&self) -> &'static str {
        "mssql"
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
        let mut lease = self.pool.get().await.map_err(|e| self.context(&t, e))?;
        let can = scalar(
            &mut lease,
            "SELECT CAST(HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE TABLE') AS bigint)"
                .into(),
        )
        .await
        .map_err(|e| self.context(&t, e))?;
        lease.done();
        if can != Some(1) {
            return Err(self.context(
                &t,
                "the login may not create tables in this database (CREATE TABLE permission); hygge loads into a staging table",
            ));
        }
        Ok(())
    }

    async fn open(&self, target: &WriteTarget) -> Result<Box<dyn StoreWriter>, BoxError> {
        let t = self.table(&target.entity);
        let fail = |e: String| self.context(&t, e);
        let quoted = t.quoted().map_err(fail)?;
        let staging = t.with_table(format!("{}_hygge_tmp", t.table));
        let staging_q = staging.quoted().map_err(fail)?;
        let state = t.with_table(STATE_TABLE.to_string());
        let mut main = self.pool.get().await.map_err(fail)?;
        let got = scalar(&mut main, lock_sql(&t, true).map_err(fail)?)
            .await
            .map_err(fail)?;
        match got {
            Some(r) if r >= 0 => {}
            Some(-1) => {
                main.done();
                return Err(fail(
                    "another run is loading this table right now; try again when it has finished"
                        .into(),
                ));
            }
            other => {
                return Err(fail(format!(
                    "could not lock the table for loading (sp_getapplock returned {other:?})"
                )));
            }
        }
        let read = async {
            let sl = state.literal()?;
            text(
                &mut main,
                format!(
                    "IF OBJECT_ID({sl}, N'U') IS NOT NULL \
                     SELECT [checkpoint] FROM {} WHERE [table_name] = {}",
                    state.quoted()?,
                    literal(&quoted)
                ),
            )
            .await
        }
        .await;
        let committed = match read {
            Ok(c) => c,
            Err(e) => {
                if execute(&mut main, lock_sql(&t, false).map_err(fail)?)
                    .await
                    .is_ok()
                {
                    main.done();
                }
                return Err(fail(e));
            }
        };
        Ok(Box::new(MssqlWriter {
            store: self.clone(),
            label: format!("{}, table {}", self.pool.label(), t.display()),
            table: t.clone(),
            quoted,
            staging,
            staging_q,
            state,
            committed,
            flow_name: target.flow_name.clone(),
            mode: WriteMode::of(self.if_exists, target.run_type),
            exists: false,
            add: Vec::new(),
            names: Vec::new(),
            targets: Vec::new(),
            loaders: Vec::new(),
            main: Some(main),
            next: 0,
            staged: 0,
            bytes: 0,
        }))
    }
}

impl MssqlWriter {
    /// Creates the schema if missing and the staging table, and starts the loaders.
    async fn prepare(&mut self, schema: SchemaRef, publish: Publish) -> Result<(), String> {
        let encoder = Encoder::new(&schema)?;
        let mode = WriteMode::publishing(self.store.if_exists, publish);
        self.mode = mode;
        let t = self.table.clone();
        let Some(mut main) = self.main.take() else {
            return Err("no connection (a bug in hygge)".into());
        };
        let prepared = async {
            let schema_name = t.schema.clone().unwrap_or_else(|| "dbo".into());
            let exists = scalar(
                &mut main,
                format!(
                    "IF SCHEMA_ID({sl}) IS NULL EXEC({create}); \
                     SELECT CAST(CASE WHEN OBJECT_ID({tl}, N'U') IS NULL THEN 0 ELSE 1 END AS bigint)",
                    sl = literal(&schema_name),
                    create = literal(&format!("CREATE SCHEMA {}", ident(&schema_name)?)),
                    tl = t.literal()?,
                ),
            )
            .await?
                == Some(1);
            if exists && mode == WriteMode::FailIfExists {
                return Err(
                    "the table exists and `if_exists: fail` says not to touch it (use `replace` or `append`)"
                        .to_string(),
                );
            }
            let mut add = Vec::new();
            if exists && mode == WriteMode::Append {
                let cols = existing_columns(&mut main, &t).await?;
                for (name, target) in encoder.names.iter().zip(&encoder.targets) {
                    if !cols.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
                        add.push(format!("{} {} NULL", ident(name)?, target.ddl()));
                    }
                }
                for c in &cols {
                    if encoder.names.iter().any(|n| n.eq_ignore_ascii_case(&c.name)) {
                        continue;
                    }
                    if !c.nullable && !c.filled {
                        return Err(format!(
                            "column {} of the table is NOT NULL and the data has no such column",
                            c.name
                        ));
                    }
                    tracing::warn!(
                        "table {}: column {} is not in the data; appended rows get NULL or its default",
                        t.display(),
                        c.name
                    );
                }
            }
            let columns = encoder
                .names
                .iter()
                .zip(&encoder.targets)
                .map(|(n, tt)| Ok(format!("{} {} NULL", ident(n)?, tt.ddl())))
                .collect::<Result<Vec<_>, String>>()?
                .join(", ");
            // A staging table a crashed run left is dropped, but only one hygge made (it
            // carries the `hygge_staging` extended property): a table of that name made by
            // anyone else is refused, never dropped.
            execute(
                &mut main,
                format!(
                    "IF OBJECT_ID({sl}, N'U') IS NOT NULL AND NOT EXISTS ({mark}) \
                     THROW 50001, {refuse}, 1; \
                     {drop}CREATE TABLE {staging_q} ({columns}); \
                     EXEC sys.sp_addextendedproperty @name = N'hygge_staging', @value = N'1', \
                     @level0type = N'SCHEMA', @level0name = {schema}, @level1type = N'TABLE', @level1name = {name}",
                    sl = self.staging.literal()?,
                    mark = staging_mark(&self.staging)?,
                    refuse = literal(&format!(
                        "a table named {} exists that hygge did not create (hygge loads into it); rename or drop it",
                        self.staging.display()
                    )),
                    drop = drop_staging_sql(&self.staging)?,
                    staging_q = self.staging_q,
                    schema = literal(&schema_name),
                    name = literal(&self.staging.table),
                ),
            )
            .await?;
            Ok((exists, add))
        }
        .await;
        let (exists, add) = match prepared {
            Ok(p) => p,
            Err(e) => {
                self.main = Some(main);
                self.clean_up().await;
                return Err(e);
            }
        };
        self.exists = exists;
        self.add = add;
        self.names = encoder.names.clone();
        self.targets = encoder.targets.clone();
        let mut extra = Vec::new();
        while extra.len() + 1 < self.store.workers {
            match self.store.pool.try_get().await {
                Some(l) => extra.push(l),
                None => break,
            }
        }
        let (options, per_statement) = (self.store.options, self.store.batch_size);
        let spawn = |lease: Lease, staging_q: String| {
            let (tx, rx) = mpsc::channel(1);
            let handle = tokio::spawn(load(
                lease,
                staging_q,
                encoder.clone(),
                rx,
                options,
                per_statement,
            ));
            Loader {
                tx: Some(tx),
                handle,
            }
        };
        self.loaders.push(spawn(main, self.staging_q.clone()));
        for l in extra {
            self.loaders.push(spawn(l, self.staging_q.clone()));
        }
        if self.loaders.len() > 1 {
            tracing::info!(
                "{}: loading over {} connections",
                self.flow_name,
                self.loaders.len()
            );
        }
        Ok(())
    }
}

async fn existing_columns(lease: &mut Lease, t: &TableName) -> Result<Vec<Existing>, String> {
    let sql = format!(
        "SELECT c.name, CAST(c.is_nullable AS int), \
         CAST(CASE WHEN c.default_object_id <> 0 OR c.is_identity = 1 OR c.is_computed = 1 THEN 1 ELSE 0 END AS int) \
         FROM sys.columns c WHERE c.object_id = OBJECT_ID({})",
        t.literal()?
    );
    let rows = lease
        .client()
        .simple_query(sql)
        .await
        .map_err(|e| error_text(&e))?
        .into_first_result()
        .await
        .map_err(|e| error_text(&e))?;
    Ok(rows
        .iter()
        .map(|r| Existing {
            name: r.get::<&str, _>(0).unwrap_or_default().to_string(),
            nullable: r.get::<i32, _>(1) == Some(1),
            filled: r.get::<i32, _>(2) == Some(1),
        })
        .collect())
}

/// What a loader did: its connection back, rows the server counted, longest values.
type Loaded = (Lease, u64, Vec<usize>);

/// Why a loader stopped, and its connection when it is still in step with the server (a
/// server error ends the request cleanly; a broken or half-sent request does not).
type LoadError = (String, Option<Lease>);

struct Loader {
    tx: Option<mpsc::Sender<(RecordBatch, Option<Held>)>>,
    handle: JoinHandle<Result<Loaded, LoadError>>,
}

/// A server error leaves the connection usable; anything else (I/O) does not.
fn after(e: &tiberius::error::Error) -> bool {
    matches!(e, tiberius::error::Error::Server(_))
}

/// Bulk-loads the batches it receives into `staging`, `per_statement` rows per
/// `INSERT BULK`; every statement's server row count must equal the rows sent. A batch is
/// encoded whole before any of it is sent, so a value that cannot be written ends the
/// statement cleanly and the connection can still drop the staging table.
async fn load(
    mut lease: Lease,
    staging: String,
    mut enc: Encoder,
    mut rx: mpsc::Receiver<(RecordBatch, Option<Held>)>,
    options: SqlBulkCopyOptions,
    per_statement: usize,
) -> Result<Loaded, LoadError> {
    let mut total = 0u64;
    let mut next = rx.recv().await;
    while next.is_some() {
        let started = lease
            .client()
            .bulk_insert_with_options(&staging, &["*"], options, &[])
            .await;
        let mut req = match started {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("bulk load could not start: {}", error_text(&e));
                return Err((msg, after(&e).then_some(lease)));
            }
        };
        let mut sent = 0u64;
        let mut bad = None;
        // `_held` keeps the batch's bytes in the flow's memory budget until its rows are
        // sent (the encoded rows live as long).
        while let Some((batch, _held)) = next.take() {
            let rows = enc.prepare(&batch).and_then(|cols| {
                let srcs = enc.sources(&cols)?;
                (0..srcs.rows)
                    .map(|i| enc.row(&srcs, i))
                    .collect::<Result<Vec<_>, _>>()
            });
            let rows = match rows {
                Ok(rows) => rows,
                Err(e) => {
                    bad = Some(e);
                    break;
                }
            };
            for row in rows {
                if let Err(e) = req.send(row).await {
                    return Err((format!("bulk load stopped: {}", error_text(&e)), None));
                }
            }
            sent += batch.num_rows() as u64;
            if sent as usize >= per_statement {
                break;
            }
            next = rx.recv().await;
        }
        let done = req.finalize().await;
        if let Some(e) = bad {
            // The rows sent so far went into the staging table, which is dropped.
            let usable = match &done {
                Ok(_) => true,
                Err(e) => after(e),
            };
            return Err((e, usable.then_some(lease)));
        }
        let res = match done {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("bulk load failed: {}", error_text(&e));
                return Err((msg, after(&e).then_some(lease)));
            }
        };
        let counted = res.total();
        if counted != sent {
            let msg = format!("the server counted {counted} rows in a bulk load of {sent}");
            return Err((msg, Some(lease)));
        }
        total += sent;
        if next.is_none() {
            next = rx.recv().await;
        }
    }
    Ok((lease, total, enc.max_len))
}

struct MssqlWriter {
    store: MssqlStore,
    label: String,
    table: TableName,
    quoted: String,
    staging: TableName,
    staging_q: String,
    /// `<schema>._hygge_state`.
    state: TableName,
    /// The checkpoint `_hygge_state` held for the table when the run opened it.
    committed: Option<String>,
    flow_name: String,
    mode: WriteMode,
    exists: bool,
    /// `[col] type NULL` to add to an existing table (append).
    add: Vec<String>,
    names: Vec<String>,
    targets: Vec<Target>,
    loaders: Vec<Loader>,
    /// The locking connection, once its loader is done.
    main: Option<Lease>,
    next: usize,
    staged: u64,
    bytes: u64,
}

impl MssqlWriter {
    /// Waits for every loader; the first loader's connection (it holds the lock) is kept.
    async fn join(&mut self) -> Result<(u64, Vec<usize>), String> {
        let mut total = 0;
        let mut max_len = vec![0; self.names.len()];
        let mut first_err = None;
        for (i, mut l) in std::mem::take(&mut self.loaders).into_iter().enumerate() {
            l.tx.take();
            match l.handle.await {
                Ok(Ok((lease, rows, lens))) => {
                    total += rows;
                    for (m, v) in max_len.iter_mut().zip(lens) {
                        *m = (*m).max(v);
                    }
                    if i == 0 {
                        self.main = Some(lease);
                    } else {
                        lease.done();
                    }
                }
                Ok(Err((e, lease))) => {
                    // The locking connection, if still usable, drops the staging table.
                    if i == 0 {
                        self.main = lease;
                    }
                    first_err.get_or_insert(e);
                }
                Err(e) => {
                    first_err.get_or_insert(format!("a bulk-load task failed: {e}"));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok((total, max_len)),
        }
    }

    /// The checkpoint's upsert into `_hygge_state` (created if missing, serialised per
    /// schema by a transaction-owned application lock), inside the publishing transaction.
    fn state_sql(&self, checkpoint: &str, lock_ms: u128) -> Result<String, String> {
        let schema = self.state.schema.clone().unwrap_or_else(|| "dbo".into());
        let s = self.state.quoted()?;
        Ok(format!(
            "DECLARE @sl int; EXEC @sl = sp_getapplock @Resource = {res}, @LockMode = 'Exclusive', \
             @LockOwner = 'Transaction', @LockTimeout = {lock_ms}; \
             IF @sl < 0 THROW 51222, N'timed out waiting for the state table lock', 1; \
             IF OBJECT_ID({sl}, N'U') IS NULL CREATE TABLE {s} ([table_name] nvarchar(450) NOT NULL PRIMARY KEY, \
             [checkpoint] nvarchar(max) NOT NULL, [updated_at] datetime2 NOT NULL); \
             DECLARE @c nvarchar(max) = {c}; \
             UPDATE {s} SET [checkpoint] = @c, [updated_at] = SYSUTCDATETIME() WHERE [table_name] = {t}; \
             IF @@ROWCOUNT = 0 INSERT INTO {s} ([table_name], [checkpoint], [updated_at]) VALUES ({t}, @c, SYSUTCDATETIME()); ",
            res = literal(&format!("hygge:state:{}", ident(&schema)?)),
            sl = self.state.literal()?,
            c = literal(checkpoint),
            t = literal(&self.quoted),
        ))
    }

    fn publish_sql(
        &self,
        max_len: &[usize],
        checkpoint: &str,
        lock_ms: u128,
    ) -> Result<String, String> {
        let mut sql = format!("SET LOCK_TIMEOUT {lock_ms}; SET XACT_ABORT ON; BEGIN TRANSACTION; ");
        let tl = self.table.literal()?;
        let appending = self.exists && self.mode == WriteMode::Append;
        if appending {
            for a in &self.add {
                sql.push_str(&format!("ALTER TABLE {} ADD {a}; ", self.quoted));
            }
            let cols = self
                .names
                .iter()
                .map(|n| ident(n))
                .collect::<Result<Vec<_>, _>>()?
                .join(", ");
            sql.push_str(&format!(
                "DECLARE @n bigint; INSERT INTO {t} ({cols}) SELECT {cols} FROM {s}; SET @n = ROWCOUNT_BIG(); \
                 DROP TABLE {s}; {state}COMMIT TRANSACTION; SET LOCK_TIMEOUT -1; SELECT @n;",
                t = self.quoted,
                s = self.staging_q,
                state = self.state_sql(checkpoint, lock_ms)?,
            ));
            return Ok(sql);
        }
        for ((name, target), len) in self.names.iter().zip(&self.targets).zip(max_len) {
            let narrow = match target {
                Target::NVarChar if *len <= MAX_NVARCHAR => {
                    Some(format!("nvarchar({})", len.max(&1)))
                }
                Target::VarBinary if *len <= MAX_VARBINARY => {
                    Some(format!("varbinary({})", len.max(&1)))
                }
                _ => None,
            };
            if let Some(ty) = narrow {
                sql.push_str(&format!(
                    "ALTER TABLE {} ALTER COLUMN {} {ty} NULL; ",
                    self.staging_q,
                    ident(name)?
                ));
            }
        }
        if self.mode == WriteMode::FailIfExists {
            sql.push_str(&format!(
                "IF OBJECT_ID({tl}, N'U') IS NOT NULL THROW 50000, N'the table was created by someone else during the load (if_exists: fail)', 1; "
            ));
        } else {
            sql.push_str(&format!(
                "IF OBJECT_ID({tl}, N'U') IS NOT NULL DROP TABLE {}; ",
                self.quoted
            ));
        }
        sql.push_str(&format!(
            "EXEC sp_rename {}, {}, N'OBJECT'; \
             EXEC sys.sp_dropextendedproperty @name = N'hygge_staging', @level0type = N'SCHEMA', \
             @level0name = {}, @level1type = N'TABLE', @level1name = {}; \
             {}COMMIT TRANSACTION; SET LOCK_TIMEOUT -1; SELECT CAST(-1 AS bigint);",
            self.staging.literal()?,
            literal(&self.table.table),
            literal(self.table.schema.as_deref().unwrap_or("dbo")),
            literal(&self.table.table),
            self.state_sql(checkpoint, lock_ms)?,
        ));
        Ok(sql)
    }

    /// Drops the staging table and releases the lock on the locking connection, if it is
    /// still usable; otherwise the server drops the lock with the session and the next
    /// run drops the staging table.
    async fn clean_up(&mut self) {
        let Some(mut main) = self.main.take() else {
            return;
        };
        let (Ok(drop), Ok(unlock)) = (
            drop_staging_sql(&self.staging),
            lock_sql(&self.table, false),
        ) else {
            return;
        };
        let sql = format!(
            "IF XACT_STATE() <> 0 ROLLBACK TRANSACTION; SET LOCK_TIMEOUT -1; {drop}{unlock}"
        );
        if execute(&mut main, sql).await.is_ok() {
            main.done();
        }
    }
}

/// SQL Server's "lock request time out period exceeded", and the state table lock's own.
fn lock_timed_out(e: &str) -> bool {
    e.contains("SQL Server error 1222:") || e.contains("SQL Server error 51222:")
}

#[async_trait]
impl StoreWriter for MssqlWriter {
    fn committed(&self) -> Option<&str> {
        self.committed.as_deref()
    }

    async fn begin(&mut self, schema: SchemaRef, publish: Publish) -> Result<(), BoxError> {
        self.prepare(schema, publish)
            .await
            .map_err(|e| format!("{}: {e}", self.label).into())
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<(), BoxError> {
        self.send(batch, None).await
    }

    async fn write_held(&mut self, batch: RecordBatch, held: Held) -> Result<(), BoxError> {
        self.send(batch, Some(held)).await
    }

    fn staged_rows(&self) -> u64 {
        self.staged
    }

    async fn finish(mut self: Box<Self>, checkpoint: &Checkpoint) -> Result<WriteReport, BoxError> {
        self.finish_load(checkpoint).await
    }

    async fn abort(mut self: Box<Self>) {
        // Stop the loaders: a connection in the middle of a bulk load is closed (its
        // lease is dropped unfinished), which ends the load on the server.
        let _ = self.join().await;
        self.clean_up().await;
    }
}

impl MssqlWriter {
    /// Hands a batch to the next loader (round robin), with the budget it holds.
    async fn send(&mut self, batch: RecordBatch, held: Option<Held>) -> Result<(), BoxError> {
        let rows = batch.num_rows() as u64;
        if rows == 0 {
            return Ok(());
        }
        if self.loaders.is_empty() {
            return Err(format!(
                "{}: written before the run began (a bug in hygge)",
                self.label
            )
            .into());
        }
        let bytes = batch.get_array_memory_size() as u64;
        let i = self.next % self.loaders.len();
        self.next += 1;
        let sent = match &self.loaders[i].tx {
            Some(tx) => tx.send((batch, held)).await.is_ok(),
            None => false,
        };
        if !sent {
            // The loader stopped: its error says why.
            let e = match self.join().await {
                Err(e) => e,
                Ok(_) => "a bulk-load connection stopped".into(),
            };
            return Err(format!("{}: {e}", self.label).into());
        }
        self.staged += rows;
        self.bytes += bytes;
        Ok(())
    }

    /// Joins the loaders and publishes, with the checkpoint, in one transaction.
    async fn finish_load(
        mut self: Box<Self>,
        checkpoint: &Checkpoint,
    ) -> Result<WriteReport, BoxError> {
        let label = self.label.clone();
        let (loaded, max_len) = match self.join().await {
            Ok(v) => v,
            Err(e) => {
                self.clean_up().await;
                return Err(format!("{label}: {e}").into());
            }
        };
        if loaded != self.staged {
            self.clean_up().await;
            return Err(format!(
                "{label}: the server counted {loaded} rows loaded, {} were sent; nothing was published",
                self.staged
            )
            .into());
        }
        let checkpoint = checkpoint.to_json();
        let mut main = self
            .main
            .take()
            .ok_or_else(|| format!("{label}: no connection"))?;
        let deadline = std::time::Instant::now() + self.store.lock_timeout;
        let mut pause = std::time::Duration::from_millis(50);
        let inserted = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let wait = left
                .min(std::time::Duration::from_secs(2))
                .max(std::time::Duration::from_millis(1));
            let sql = self
                .publish_sql(&max_len, &checkpoint, wait.as_millis())
                .map_err(|e| format!("{label}: {e}"))?;
            match scalar(&mut main, sql).await {
                Ok(n) => break n,
                Err(e) if lock_timed_out(&e) && std::time::Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(1));
                }
                Err(e) => {
                    self.main = Some(main);
                    self.clean_up().await;
                    let why = if lock_timed_out(&e) {
                        format!(
                            "publishing waited {}s (lock_timeout) for other sessions using the table to let go of it, and gave up; nothing was published. Raise `lock_timeout` on the store, or run when the table is not in use ({e})",
                            self.store.lock_timeout.as_secs()
                        )
                    } else {
                        format!("publishing failed, the table is unchanged: {e}")
                    };
                    return Err(format!("{label}: {why}").into());
                }
            }
        };
        if let Some(n) = inserted.filter(|n| *n >= 0)
            && n as u64 != loaded
        {
            // Already committed: say so loudly (it cannot be undone here).
            tracing::error!("{label}: {n} rows were appended, {loaded} were loaded");
        }
        if let Ok(unlock) = lock_sql(&self.table, false)
            && execute(&mut main, unlock).await.is_ok()
        {
            main.done();
        }
        Ok(WriteReport {
            rows: loaded,
            bytes: self.bytes,
            outputs: vec![self.table.display()],
            destination: format!("table {}", self.table.display()),
        })
    }
}
