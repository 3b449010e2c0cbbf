//! What the SQL connectors share: table names in a dialect's quotes, a home's `table` or
//! `query`, and for stores `if_exists`, the write modes, the checkpoint table's name and the
//! default lock wait. (Each connector lives in its own folder.)
//!
//! The SQL stores' `describe` and `check` look alike (a table via a pool; quote the name,
//! lease a connection, ask the server for the privileges a load needs), as do the
//! connectors' `resolve`s, but the driver, the lease and the privilege query are each
//! connector's own, so each stays in its folder; what is the same is here.

/// What to do when the target table already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfExists {
    /// Stop with an error (nothing is written).
    Fail,
    /// Add the rows to it.
    Append,
    /// Replace it with the new rows (atomically).
    Replace,
}

/// Seconds a SQL store waits for the locks it needs to publish (`lock_timeout`), in short
/// attempts so that readers queued behind it are not held up for long.
pub const DEFAULT_LOCK_TIMEOUT_SECS: u64 = 60;

/// A SQL store's `lock_timeout` key: seconds, at least 1 (default
/// [`DEFAULT_LOCK_TIMEOUT_SECS`]).
pub fn lock_timeout(key: Option<u64>) -> Result<std::time::Duration, String> {
    match key.unwrap_or(DEFAULT_LOCK_TIMEOUT_SECS) {
        0 => Err("lock_timeout: must be at least 1 second".into()),
        s => Ok(std::time::Duration::from_secs(s)),
    }
}

/// The name of the table, in each target schema, holding the checkpoint published with
/// each table's data (one row per table, updated in the load's own transaction).
pub const STATE_TABLE: &str = "_hygge_state";

/// How a run treats an existing target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace the table's rows (the table itself is replaced).
    Replace,
    /// Insert the rows into the table.
    Append,
    /// Fail if the table exists; create it otherwise.
    FailIfExists,
}

impl WriteMode {
    /// `if_exists` when set, else the run type's.
    pub fn of(if_exists: Option<IfExists>, run_type: hygge_core::RunType) -> WriteMode {
        match (if_exists, run_type) {
            (Some(IfExists::Fail), _) => WriteMode::FailIfExists,
            (Some(IfExists::Append), _) | (None, hygge_core::RunType::Incremental) => {
                WriteMode::Append
            }
            (Some(IfExists::Replace), _) | (None, hygge_core::RunType::FullDrop) => {
                WriteMode::Replace
            }
        }
    }

    /// The mode a run publishes in: [`WriteMode::of`], except that a full reload hygge
    /// decided on replaces even where `if_exists: append` would append (a reload appended
    /// would load every row twice).
    pub fn publishing(if_exists: Option<IfExists>, p: hygge_core::Publish) -> WriteMode {
        match WriteMode::of(if_exists, p.run_type) {
            WriteMode::Append if p.reload => WriteMode::Replace,
            m => m,
        }
    }

    /// What a run in this mode would do to table `t` (for `--dry-run`).
    pub fn preview(self, t: &str) -> String {
        match self {
            WriteMode::Replace => format!("would replace table {t} (created if missing)"),
            WriteMode::Append => format!("would append to table {t} (created if missing)"),
            WriteMode::FailIfExists => {
                format!("would create table {t}; fails if it exists (if_exists: fail)")
            }
        }
    }
}

/// How a SQL dialect writes names: the characters that quote one, and the check of what
/// the database can hold.
pub trait Dialect {
    /// Opens a quoted name (`"`, `[`).
    const OPEN: char;
    /// Closes it; doubled inside a name, it stands for itself.
    const CLOSE: char;
    /// Why a name with an open quote is not one (`has an unclosed ...`).
    const UNCLOSED: &'static str;
    /// How to write a name that contains a dot, for messages.
    const DOT_HINT: &'static str;
    /// The name quoted; an error for a name the database cannot hold.
    fn ident(name: &str) -> Result<String, String>;
}

/// A table name, optionally schema-qualified (`schema.table`), as dialect `D` quotes it:
/// `"My Schema"."My.Table"` in PostgreSQL, `[My Schema].[My.Table]` in SQL Server.
/// Unquoted parts are taken as written (case kept); quoted parts may contain dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName<D> {
    /// The schema, if given (else the database's default).
    pub schema: Option<String>,
    /// The table.
    pub table: String,
    dialect: std::marker::PhantomData<D>,
}

impl<D: Dialect> TableName<D> {
    /// `schema.table` (or `table` without a schema).
    pub fn new(schema: Option<String>, table: String) -> Self {
        TableName {
            schema,
            table,
            dialect: std::marker::PhantomData,
        }
    }

    /// Splits `s` on its one unquoted dot (if any).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts = vec![String::new()];
        let mut quoted = false;
        let mut chars = s.trim().chars().peekable();
        while let Some(c) = chars.next() {
            let part = parts.last_mut().expect("one part");
            if quoted {
                match c {
                    c if c == D::CLOSE && chars.peek() == Some(&D::CLOSE) => {
                        chars.next();
                        part.push(c);
                    }
                    c if c == D::CLOSE => quoted = false,
                    c => part.push(c),
                }
            } else {
                match c {
                    // A quote that is its own closer opens anywhere; a bracket opens a part.
                    c if c == D::OPEN && (D::OPEN == D::CLOSE || part.is_empty()) => quoted = true,
                    '.' => parts.push(String::new()),
                    c => part.push(c),
                }
            }
        }
        if quoted {
            return Err(format!("`{s}` {}", D::UNCLOSED));
        }
        match parts.as_slice() {
            [t] if !t.is_empty() => Ok(Self::new(None, t.clone())),
            [sc, t] if !sc.is_empty() && !t.is_empty() => {
                Ok(Self::new(Some(sc.clone()), t.clone()))
            }
            _ => Err(format!(
                "`{s}` is not a table name: use `table` or `schema.table` ({})",
                D::DOT_HINT
            )),
        }
    }

    /// `{entity}` replaced in both parts.
    pub fn for_entity(&self, entity: &str) -> Self {
        Self::new(
            self.schema.as_ref().map(|s| s.replace("{entity}", entity)),
            self.table.replace("{entity}", entity),
        )
    }

    /// The same schema, another table name.
    pub fn with_table(&self, table: String) -> Self {
        Self::new(self.schema.clone(), table)
    }

    /// The name quoted for SQL: `"schema"."table"`, `[schema].[table]` (or the table alone).
    pub fn quoted(&self) -> Result<String, String> {
        Ok(match &self.schema {
            Some(s) => format!("{}.{}", D::ident(s)?, D::ident(&self.table)?),
            None => D::ident(&self.table)?,
        })
    }

    /// `schema.table` as a person reads it.
    pub fn display(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.table),
            None => self.table.clone(),
        }
    }
}

/// What a SQL home reads: a table or a query.
#[derive(Debug, Clone)]
pub enum Source<D> {
    /// `schema.table` with `{entity}` in either part.
    Table(TableName<D>),
    /// A query with `{entity}`.
    Query(String),
}

impl<D: Dialect> Source<D> {
    /// A home's `table` or `query` (one of them); `example` is a table name to suggest.
    pub fn from_keys(
        table: Option<&str>,
        query: Option<&str>,
        example: &str,
    ) -> Result<Self, String> {
        match (table, query) {
            (Some(t), None) => Ok(Source::Table(
                TableName::parse(t).map_err(|e| format!("table: {e}"))?,
            )),
            (None, Some(q)) if !q.trim().is_empty() => Ok(Source::Query(q.to_string())),
            (None, Some(_)) => Err("query: the query is empty".into()),
            (Some(_), Some(_)) => Err("table: give either `table` or `query`, not both".into()),
            (None, None) => Err(format!(
                "table: say what to read: `table: {example}` or `query: SELECT ...`"
            )),
        }
    }
}

/// Refuses a name no SQL database can hold: empty, or with a NUL character. `database`
/// names the database in the message.
pub fn check_name(name: &str, database: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!(
            "an empty name is not a valid {database} identifier"
        ));
    }
    if name.contains('\0') {
        return Err(format!(
            "`{}` contains a NUL character",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// `"name"`, with embedded quotes doubled (the SQL standard's quoting).
pub fn double_quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
