//! Stores: where data goes. One folder per connector.

pub mod files;
#[cfg(feature = "mssql")]
pub mod mssql;
#[cfg(feature = "postgres")]
pub mod postgres;

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
