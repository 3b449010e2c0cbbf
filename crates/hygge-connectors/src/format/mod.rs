//! File formats shared by file (and later cloud) homes and stores: decoding files into
//! Arrow batches lazily, and encoding batches into files.

pub mod csv;
pub mod csv_read;
pub mod input;
pub mod ndjson;
pub mod parquet;
pub mod parquet_copy;

use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::error::FileError;

/// A file format. Read from YAML in any case (`CSV`, `Parquet`), as the original hygge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Apache Parquet.
    #[default]
    Parquet,
    /// Comma (or otherwise) separated values.
    Csv,
    /// Newline-delimited JSON: one object per line.
    Ndjson,
}

impl<'de> Deserialize<'de> for FileFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: &[&str] = &["parquet", "csv", "ndjson"];
        let text = String::deserialize(d)?;
        match text.to_ascii_lowercase().as_str() {
            "parquet" => Ok(FileFormat::Parquet),
            "csv" => Ok(FileFormat::Csv),
            "ndjson" => Ok(FileFormat::Ndjson),
            _ => Err(serde::de::Error::unknown_variant(&text, NAMES)),
        }
    }
}

impl FileFormat {
    /// The name used in YAML and messages.
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Ndjson => "ndjson",
        }
    }

    /// The extension of files this format writes.
    pub fn extension(self) -> &'static str {
        self.name()
    }

    /// Extensions recognised when reading a folder.
    pub fn read_extensions(self) -> &'static [&'static str] {
        match self {
            FileFormat::Parquet => &["parquet"],
            FileFormat::Csv => &["csv"],
            FileFormat::Ndjson => &["ndjson", "jsonl", "json"],
        }
    }
}

/// Batches decoded from one file, lazily.
pub type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>;

/// Encodes batches into one file.
pub trait FileWriter: Send {
    /// Appends a batch.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), FileError>;
    /// Appends a Parquet row group as it is encoded. `false`: this file cannot take it
    /// (another format, or other column types), and the caller decodes it instead.
    fn copy_row_group(&mut self, _src: &parquet_copy::RowGroupSource) -> Result<bool, FileError> {
        Ok(false)
    }
    /// Completes the file, flushes it to disk (fsync) and returns its size in bytes.
    fn finish(self: Box<Self>) -> Result<u64, FileError>;
}

/// Runs `f`, turning a panic (arrow-rs panics on some damaged Parquet files instead of
/// returning an error) into an error that names `path`.
pub(crate) fn panic_names_file<T>(
    path: &Path,
    f: impl FnOnce() -> Result<T, FileError>,
) -> Result<T, FileError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(FileError::read(
            path,
            std::io::Error::other(format!(
                "the Parquet reader failed on it ({why}); the file is probably damaged"
            )),
        ))
    })
}

/// Lists the files of `format` at `path`: the file itself, or every matching file below the
/// folder (recursively, sorted, skipping names starting with `.` or `_`).
pub fn list_files(path: &Path, format: FileFormat) -> Result<Vec<PathBuf>, FileError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => FileError::NotFound {
            path: path.to_path_buf(),
        },
        _ => FileError::io("read", path, e),
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut visited = std::collections::HashSet::new();
    walk(path, format, &mut files, &mut visited)?;
    files.sort();
    if files.is_empty() {
        return Err(FileError::NoFiles {
            path: path.to_path_buf(),
            format: format.name(),
            ext: format.read_extensions()[0],
        });
    }
    Ok(files)
}

/// Lists the files of `format` below `dir`, following links to folders but entering each
/// folder once (two links to `.` would otherwise make the walk exponential, or endless).
fn walk(
    dir: &Path,
    format: FileFormat,
    out: &mut Vec<PathBuf>,
    visited: &mut std::collections::HashSet<(u64, u64)>,
) -> Result<(), FileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(dir).map_err(|e| FileError::io("stat", dir, e))?;
        if !visited.insert((md.dev(), md.ino())) {
            return Ok(());
        }
    }
    #[cfg(not(unix))]
    let _ = &visited;
    let entries = std::fs::read_dir(dir).map_err(|e| FileError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| FileError::io("list", dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| FileError::io("stat", &path, e))?;
        let is_dir = if kind.is_symlink() {
            path.is_dir()
        } else {
            kind.is_dir()
        };
        if is_dir {
            walk(&path, format, out, visited)?;
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            format
                .read_extensions()
                .contains(&e.to_ascii_lowercase().as_str())
        }) {
            out.push(path);
        }
    }
    Ok(())
}

/// Checks that `other`'s schema has the same column names and types as `first`'s.
/// Nullability and metadata may differ. Returns the first difference.
pub fn schema_difference(first: &SchemaRef, other: &SchemaRef) -> Option<String> {
    let (a, b) = (first.fields(), other.fields());
    for (i, fa) in a.iter().enumerate() {
        match b.get(i) {
            None => return Some(format!("column `{}` is missing", fa.name())),
            Some(fb) if fb.name() != fa.name() => {
                return Some(format!(
                    "column {} is `{}` instead of `{}`",
                    i + 1,
                    fb.name(),
                    fa.name()
                ));
            }
            Some(fb) if fb.data_type() != fa.data_type() => {
                return Some(format!(
                    "column `{}` is {} instead of {}",
                    fa.name(),
                    fb.data_type(),
                    fa.data_type()
                ));
            }
            _ => {}
        }
    }
    b.get(a.len())
        .map(|extra| format!("it has an extra column `{}`", extra.name()))
}

/// Creates the writer for one output file. With `durable`, the file is flushed to disk
/// (fsync) before `finish` returns.
pub fn create_writer(
    path: &Path,
    schema: SchemaRef,
    options: &WriteOptions,
    durable: bool,
) -> Result<Box<dyn FileWriter>, FileError> {
    let file = std::fs::File::create(path).map_err(|e| FileError::io("create", path, e))?;
    let out = Output {
        path: path.to_path_buf(),
        durable,
    };
    Ok(match options {
        WriteOptions::Parquet(o) => {
            Box::new(parquet::ParquetFileWriter::new(out, file, schema, o)?)
        }
        WriteOptions::Csv(o) => Box::new(csv::CsvFileWriter::new(out, file, schema, o)?),
        WriteOptions::Ndjson => Box::new(ndjson::NdjsonFileWriter::new(out, file)),
    })
}

/// Where a writer writes, and whether it must reach the disk.
#[derive(Debug, Clone)]
pub struct Output {
    /// The file.
    pub path: PathBuf,
    /// fsync before `finish` returns.
    pub durable: bool,
}

impl Output {
    /// Completes a written file: fsync when durable; returns its size.
    pub(crate) fn complete(&self, file: std::fs::File) -> Result<u64, FileError> {
        if self.durable {
            file.sync_all()
                .map_err(|e| FileError::io("sync", &self.path, e))?;
        }
        let len = file
            .metadata()
            .map_err(|e| FileError::io("stat", &self.path, e))?
            .len();
        Ok(len)
    }
}

/// How to encode files, per format.
#[derive(Debug, Clone)]
pub enum WriteOptions {
    /// Parquet options.
    Parquet(parquet::ParquetWriteOptions),
    /// CSV options.
    Csv(csv::CsvWriteOptions),
    /// NDJSON has no options.
    Ndjson,
}

impl WriteOptions {
    /// Whether a source row group is copied as it is encoded (page by page) into a file
    /// that already holds `in_file` of at most `rows_per_file` rows; otherwise it is
    /// decoded and written like any batch. Row groups far smaller than the store's are
    /// merged by decoding them, so that a source of many small row groups does not make an
    /// output of many small ones; and a recompressing copy assembles a whole column chunk
    /// in memory, so a row group with a larger one is decoded instead, a batch at a time.
    pub fn copies(
        &self,
        src: &parquet_copy::RowGroupSource,
        in_file: usize,
        rows_per_file: usize,
    ) -> bool {
        let rows = src.rows();
        match self {
            WriteOptions::Parquet(o) => {
                rows <= o.row_group_size
                    && rows >= o.row_group_size / 4
                    && in_file + rows <= rows_per_file
                    && src.memory() <= parquet_copy::MAX_COPIED_CHUNK
            }
            _ => false,
        }
    }

    /// The format these options encode.
    pub fn format(&self) -> FileFormat {
        match self {
            WriteOptions::Parquet(_) => FileFormat::Parquet,
            WriteOptions::Csv(_) => FileFormat::Csv,
            WriteOptions::Ndjson => FileFormat::Ndjson,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FileFormat;

    #[test]
    fn formats_are_read_in_any_case_and_unknown_ones_are_named() {
        for (text, want) in [
            ("\"CSV\"", FileFormat::Csv),
            ("\"Parquet\"", FileFormat::Parquet),
            ("\"ndjson\"", FileFormat::Ndjson),
        ] {
            assert_eq!(serde_json::from_str::<FileFormat>(text).unwrap(), want);
        }
        let e = serde_json::from_str::<FileFormat>("\"xml\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown variant `xml`, expected one of `parquet`, `csv`, `ndjson`"),
            "{e}"
        );
        assert_eq!(serde_json::to_string(&FileFormat::Csv).unwrap(), "\"csv\"");
    }
}
