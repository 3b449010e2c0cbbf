//! Errors of the file connectors. Every variant names the file or folder involved.

use std::path::PathBuf;

/// An error reading or writing files.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The configured path does not exist.
    #[error(
        "{path} does not exist; check the `path` of this home (and that the entity name is right)"
    )]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// A folder holds no file of the expected format.
    #[error("{path} holds no {format} files (looked for *.{ext}, recursively)")]
    NoFiles {
        /// The folder.
        path: PathBuf,
        /// The format looked for.
        format: &'static str,
        /// The extension looked for.
        ext: &'static str,
    },
    /// A file could not be read or decoded.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Two files of one entity have different schemas.
    #[error(
        "{other} does not have the same schema as {first}: {detail}. All files of one entity must share a schema; move the odd file elsewhere or split the entity"
    )]
    SchemaMismatch {
        /// The file whose schema was taken.
        first: PathBuf,
        /// The file that differs.
        other: PathBuf,
        /// The first difference.
        detail: String,
    },
    /// A file system operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done (`create`, `rename`, ...).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Encoding a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A `polish` transform failed on the rows bound for a destination.
    #[error("cannot write {path}: {source}")]
    Polish {
        /// The destination (entity folder, or the cloud folder's URL).
        path: PathBuf,
        /// Which transform, which column, why.
        #[source]
        source: crate::polish::PolishError,
    },
    /// Copying a Parquet row group's pages into a new file failed.
    #[error(
        "cannot copy row group {row_group} of {from}: {detail} (is the file damaged? a reader of it would fail too)"
    )]
    Copy {
        /// The source file.
        from: PathBuf,
        /// Which row group (from 0).
        row_group: usize,
        /// Why.
        detail: String,
    },
    /// Another process holds the entity's lock.
    #[error(
        "another hygge run is writing {path} right now (lock {lock} is held); wait for it to finish"
    )]
    Locked {
        /// The entity folder.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The folder a run would replace holds something this store did not write.
    #[error(
        "{dir} holds {entry}{why}, which this store did not write; hygge replaces a folder only \
         when everything in it is its own output, so nothing else is ever deleted. Move {entry} \
         out of {dir}, or point the store's `path` at a folder of its own"
    )]
    Foreign {
        /// The folder that would be replaced.
        dir: PathBuf,
        /// The first entry that is not the store's.
        entry: String,
        /// What it is, when known (` (a folder)`, ...).
        why: String,
    },
    /// hygge's own working folder is not safe to act on.
    #[error("{path}: {detail}; hygge will not use it (remove or fix it, then run again)")]
    Unsafe {
        /// The folder or file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A value that the format cannot carry.
    #[error("{path}: {detail}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What cannot be carried.
        detail: String,
    },
}

impl FileError {
    /// A file that could not be read or decoded, with why.
    pub fn read(
        path: impl Into<PathBuf>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        FileError::Read {
            path: path.into(),
            source: Box::new(source),
        }
    }

    /// An I/O error with its operation and path.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FileError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// A `check` (for `hygge debug`) that failed and knows what to do about it: `hygge debug`
/// prints `fix` instead of its generic hint. Neither holds a secret.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CheckFailed {
    /// What failed, naming the place (URL, container, key).
    pub message: String,
    /// What to do.
    pub fix: String,
}
