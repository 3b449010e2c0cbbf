//! What the SQL stores share: `if_exists`, the write modes, the checkpoint table's name and
//! the default lock wait. (Each connector's store lives in its own folder.)

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
