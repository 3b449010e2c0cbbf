//! CSV decoding and encoding (arrow-csv). Option names follow Polars, which the original
//! hygge passed `format_options` to.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use arrow::csv::WriterBuilder;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::csv_read::{Dialect, ReadSpec};
use super::{BatchIter, FileWriter, Output};
use crate::error::FileError;

/// A single character, or a list of strings, as YAML allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One string.
    One(String),
    /// Several strings.
    Many(Vec<String>),
}

/// `format_options` of a CSV home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvReadOptions {
    /// Field separator (one byte), default `,`.
    pub separator: String,
    /// Whether the first line names the columns, default true.
    pub has_header: bool,
    /// Quote character, default `"`.
    pub quote_char: Option<String>,
    /// Escape character inside quoted fields, default none (quotes are doubled).
    pub escape_char: Option<String>,
    /// Lines starting with this character are skipped.
    pub comment_prefix: Option<String>,
    /// Values read as NULL (default: only the empty field).
    pub null_values: Option<OneOrMany>,
    /// Rows used to infer column types, default 100 (like Polars); 0 reads every column as text.
    pub infer_schema_length: Option<usize>,
    /// Accept rows with fewer fields than the header (missing ones become NULL) or more
    /// (the extra ones are dropped).
    pub truncate_ragged_lines: bool,
    /// Infer ISO dates as Date32 and ISO date-times as Timestamp(µs) (UTC when they carry
    /// an offset), as Polars' `try_parse_dates`; default false: they are text.
    pub try_parse_dates: bool,
}

impl Default for CsvReadOptions {
    fn default() -> Self {
        CsvReadOptions {
            separator: ",".into(),
            has_header: true,
            quote_char: Some("\"".into()),
            escape_char: None,
            comment_prefix: None,
            null_values: None,
            infer_schema_length: Some(100),
            truncate_ragged_lines: false,
            try_parse_dates: false,
        }
    }
}

/// Checks that an option is a single ASCII character.
pub fn one_byte(key: &str, value: &str) -> Result<u8, String> {
    match value.as_bytes() {
        [b] if b.is_ascii() => Ok(*b),
        _ => Err(format!(
            "`{key}` must be a single ASCII character, got {value:?}"
        )),
    }
}

impl CsvReadOptions {
    /// Validates the options (purely).
    pub fn validate(&self) -> Result<(), String> {
        self.spec().map(|_| ())
    }

    fn spec(&self) -> Result<ReadSpec, String> {
        let dialect = Dialect {
            separator: one_byte("separator", &self.separator)?,
            quote: self
                .quote_char
                .as_deref()
                .map(|q| one_byte("quote_char", q))
                .transpose()?,
            escape: self
                .escape_char
                .as_deref()
                .map(|e| one_byte("escape_char", e))
                .transpose()?,
            comment: self
                .comment_prefix
                .as_deref()
                .map(|c| one_byte("comment_prefix", c))
                .transpose()?,
        };
        let null_values = match &self.null_values {
            None => vec![],
            Some(OneOrMany::One(s)) => vec![s.clone()],
            Some(OneOrMany::Many(v)) => v.clone(),
        };
        Ok(ReadSpec {
            dialect,
            has_header: self.has_header,
            null_values,
            infer_rows: self.infer_schema_length,
            try_parse_dates: self.try_parse_dates,
            truncate_ragged_lines: self.truncate_ragged_lines,
        })
    }

    /// Infers the schema of a file from its first `infer_schema_length` rows, as Polars.
    pub fn infer_schema(&self, path: &Path) -> Result<SchemaRef, FileError> {
        let spec = self.spec().map_err(|e| bad_options(path, e))?;
        spec.infer_schema(path)
            .map_err(|e| FileError::read(path, e))
    }

    /// Opens a file for lazy decoding with a known schema.
    pub fn open(
        &self,
        path: &Path,
        schema: SchemaRef,
        batch_size: usize,
    ) -> Result<BatchIter, FileError> {
        let spec = self.spec().map_err(|e| bad_options(path, e))?;
        let decoder = spec
            .open(path, schema, batch_size)
            .map_err(|e| FileError::read(path, e))?;
        Ok(Box::new(decoder))
    }
}

fn bad_options(path: &Path, e: String) -> FileError {
    FileError::Read {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// `format_options` of a CSV store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvWriteOptions {
    /// Field separator, default `,`.
    pub separator: String,
    /// Write a header line, default true.
    pub include_header: bool,
    /// Quote character, default `"`.
    pub quote_char: String,
    /// Text written for NULL, default empty.
    pub null_value: String,
    /// chrono format for dates (default ISO 8601).
    pub date_format: Option<String>,
    /// chrono format for timestamps (default RFC 3339).
    pub datetime_format: Option<String>,
    /// chrono format for times.
    pub time_format: Option<String>,
}

impl Default for CsvWriteOptions {
    fn default() -> Self {
        CsvWriteOptions {
            separator: ",".into(),
            include_header: true,
            quote_char: "\"".into(),
            null_value: String::new(),
            date_format: None,
            datetime_format: None,
            time_format: None,
        }
    }
}

impl CsvWriteOptions {
    /// Validates the options (purely).
    pub fn validate(&self) -> Result<(), String> {
        self.builder().map(|_| ())
    }

    fn builder(&self) -> Result<WriterBuilder, String> {
        let mut b = WriterBuilder::new()
            .with_header(self.include_header)
            .with_delimiter(one_byte("separator", &self.separator)?)
            .with_quote(one_byte("quote_char", &self.quote_char)?)
            .with_null(self.null_value.clone());
        if let Some(f) = &self.date_format {
            b = b.with_date_format(f.clone());
        }
        if let Some(f) = &self.datetime_format {
            b = b
                .with_datetime_format(f.clone())
                .with_timestamp_format(f.clone());
        }
        if let Some(f) = &self.time_format {
            b = b.with_time_format(f.clone());
        }
        Ok(b)
    }
}

/// Writes one CSV file.
pub struct CsvFileWriter {
    out: Output,
    writer: arrow::csv::Writer<BufWriter<File>>,
}

impl CsvFileWriter {
    /// A writer into `file` (already created at `path`).
    pub fn new(out: Output, file: File, options: &CsvWriteOptions) -> Result<Self, FileError> {
        let builder = options.builder().map_err(|e| FileError::Write {
            path: out.path.clone(),
            source: e.into(),
        })?;
        Ok(CsvFileWriter {
            out,
            writer: builder.build(BufWriter::with_capacity(1 << 20, file)),
        })
    }
}

/// Rejects columns CSV cannot carry, naming them.
pub fn check_schema(schema: &SchemaRef) -> Result<(), String> {
    for f in schema.fields() {
        if f.data_type().is_nested() {
            return Err(format!(
                "column `{}` has type {}, which CSV cannot carry; write parquet or ndjson instead",
                f.name(),
                f.data_type()
            ));
        }
    }
    Ok(())
}

impl FileWriter for CsvFileWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), FileError> {
        self.writer.write(batch).map_err(|e| FileError::Write {
            path: self.out.path.clone(),
            source: Box::new(e),
        })
    }

    fn finish(self: Box<Self>) -> Result<u64, FileError> {
        let file = self
            .writer
            .into_inner()
            .into_inner()
            .map_err(|e| FileError::io("write", &self.out.path, e.into_error()))?;
        self.out.complete(file)
    }
}
