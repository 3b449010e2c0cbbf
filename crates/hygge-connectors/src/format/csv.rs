//! CSV decoding and encoding (arrow-csv). Option names follow Polars, which the original
//! hygge passed `format_options` to.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use std::io::Write;

use arrow::array::Array;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::{Deserialize, Serialize};

use super::csv_read::{Dialect, ReadSpec};
use super::input::Input;
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
    /// One string per column (Polars' `{column: value}`).
    PerColumn(std::collections::BTreeMap<String, String>),
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
    /// Values read as NULL besides the unquoted empty field: one, a list, or one per
    /// column (`{column: value}`), as Polars takes them.
    pub null_values: Option<OneOrMany>,
    /// Records skipped before the header (or the first row), as Polars' `skip_rows`
    /// (quotes and comments respected).
    pub skip_rows: usize,
    /// Lines skipped before anything else, by line breaks only, as Polars' `skip_lines`.
    pub skip_lines: usize,
    /// Types of some columns, by Polars name (`String`, `Int64`, `Int128`, `Float64`,
    /// `Boolean`, `Date`, `Datetime`), instead of inferring them (`dtypes` in older Polars).
    #[serde(alias = "dtypes")]
    pub schema_overrides: std::collections::BTreeMap<String, String>,
    /// Rows used to infer column types, default 100 (like Polars); 0 reads every column as text.
    pub infer_schema_length: Option<usize>,
    /// Accept rows with more fields than the header (the extra ones are dropped). Rows with
    /// fewer are always accepted, the missing fields NULL, as in Polars.
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
            skip_rows: 0,
            skip_lines: 0,
            schema_overrides: Default::default(),
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
        let (null_values, column_nulls) = match &self.null_values {
            None => (vec![], Default::default()),
            Some(OneOrMany::One(s)) => (vec![s.clone()], Default::default()),
            Some(OneOrMany::Many(v)) => (v.clone(), Default::default()),
            Some(OneOrMany::PerColumn(m)) => (vec![], m.clone()),
        };
        Ok(ReadSpec {
            dialect,
            has_header: self.has_header,
            null_values,
            column_nulls,
            skip_rows: self.skip_rows,
            skip_lines: self.skip_lines,
            overrides: self
                .schema_overrides
                .iter()
                .map(|(c, t)| Ok((c.clone(), super::csv_read::polars_type(t)?)))
                .collect::<Result<_, String>>()?,
            infer_rows: self.infer_schema_length,
            try_parse_dates: self.try_parse_dates,
            truncate_ragged_lines: self.truncate_ragged_lines,
        })
    }

    /// Infers the schema of a file from its first `infer_schema_length` rows, as Polars.
    pub fn infer_schema(&self, input: &Input) -> Result<SchemaRef, FileError> {
        let path = input.name();
        let spec = self.spec().map_err(|e| bad_options(path, e))?;
        spec.infer_schema(input.open_read(1 << 20)?)
            .map_err(|e| FileError::read(path, e))
    }

    /// Opens a file for lazy decoding with a known schema.
    pub fn open(
        &self,
        input: &Input,
        schema: SchemaRef,
        batch_size: usize,
    ) -> Result<BatchIter, FileError> {
        let path = input.name();
        let spec = self.spec().map_err(|e| bad_options(path, e))?;
        let decoder = spec
            .open(input.open_read(1 << 20)?, schema, batch_size)
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
        one_byte("separator", &self.separator)?;
        one_byte("quote_char", &self.quote_char)?;
        Ok(())
    }

    fn format_options(&self) -> FormatOptions<'_> {
        FormatOptions::default()
            .with_null(&self.null_value)
            .with_date_format(self.date_format.as_deref())
            .with_datetime_format(self.datetime_format.as_deref())
            .with_timestamp_format(self.datetime_format.as_deref())
            .with_timestamp_tz_format(self.datetime_format.as_deref())
            .with_time_format(self.time_format.as_deref())
    }
}

/// Writes one CSV file as Polars writes one: a field is quoted when it holds the separator,
/// the quote (doubled inside) or a line break, **and when it is the empty string** (`""`),
/// so that it reads back as the empty string while NULL (written as `null_value`, empty by
/// default) reads back as NULL.
pub struct CsvFileWriter {
    out: Output,
    writer: BufWriter<File>,
    options: CsvWriteOptions,
    separator: u8,
    quote: u8,
    schema: SchemaRef,
    beginning: bool,
    line: Vec<u8>,
    text: String,
}

impl CsvFileWriter {
    /// A writer into `file` (already created at `path`) for rows of `schema`.
    pub fn new(
        out: Output,
        file: File,
        schema: SchemaRef,
        options: &CsvWriteOptions,
    ) -> Result<Self, FileError> {
        let bad = |e: String| FileError::Write {
            path: out.path.clone(),
            source: e.into(),
        };
        let separator = one_byte("separator", &options.separator).map_err(bad)?;
        let quote = one_byte("quote_char", &options.quote_char).map_err(bad)?;
        Ok(CsvFileWriter {
            writer: BufWriter::with_capacity(1 << 20, file),
            out,
            options: options.clone(),
            separator,
            quote,
            schema,
            beginning: true,
            line: Vec::with_capacity(1024),
            text: String::with_capacity(256),
        })
    }

    fn push_field(&mut self, value: &[u8], first: bool) {
        if !first {
            self.line.push(self.separator);
        }
        let needs_quotes = value.is_empty()
            || value
                .iter()
                .any(|b| *b == self.separator || *b == self.quote || *b == b'\n' || *b == b'\r');
        if !needs_quotes {
            self.line.extend_from_slice(value);
            return;
        }
        self.line.push(self.quote);
        for b in value {
            if *b == self.quote {
                self.line.push(self.quote);
            }
            self.line.push(*b);
        }
        self.line.push(self.quote);
    }

    /// Writes the header line (once), even for a file of no rows, so that it keeps its
    /// columns.
    fn header(&mut self) -> Result<(), ArrowError> {
        if self.beginning {
            self.beginning = false;
            if self.options.include_header && !self.schema.fields().is_empty() {
                self.line.clear();
                let schema = self.schema.clone();
                for (i, f) in schema.fields().iter().enumerate() {
                    self.push_field(f.name().as_bytes(), i == 0);
                }
                self.line.push(b'\n');
                self.writer.write_all(&self.line)?;
            }
        }
        Ok(())
    }

    fn encode(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        self.header()?;
        let options = self.options.clone();
        let format = options.format_options();
        // Without `datetime_format`, date-times are written as Polars' write_csv writes
        // them: the fraction to the column's unit, and the offset when zoned
        // (`2024-01-02T03:04:05.000000`, `2024-01-02T01:04:05.000000+0000`).
        let polars_formats: Vec<Option<&'static str>> = batch
            .columns()
            .iter()
            .map(|a| match a.data_type() {
                DataType::Timestamp(unit, tz) if options.datetime_format.is_none() => {
                    Some(polars_datetime_format(unit, tz.is_some()))
                }
                _ => None,
            })
            .collect();
        let formatters = batch
            .columns()
            .iter()
            .zip(&polars_formats)
            .map(|(a, polars)| {
                if a.data_type().is_nested() {
                    Err(ArrowError::CsvError(format!(
                        "Nested type {} is not supported in CSV",
                        a.data_type()
                    )))
                } else if let Some(f) = polars {
                    let format = format
                        .clone()
                        .with_timestamp_format(Some(f))
                        .with_timestamp_tz_format(Some(f));
                    ArrayFormatter::try_new(a.as_ref(), &format)
                } else {
                    ArrayFormatter::try_new(a.as_ref(), &format)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Logical NULLs: a Null-typed column has no null buffer, yet every value is NULL.
        let nulls: Vec<_> = batch.columns().iter().map(|c| c.logical_nulls()).collect();
        let floats: Vec<bool> = batch
            .columns()
            .iter()
            .map(|c| c.data_type().is_floating())
            .collect();
        for row in 0..batch.num_rows() {
            self.line.clear();
            for (i, (f, nulls)) in formatters.iter().zip(&nulls).enumerate() {
                if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                    if i > 0 {
                        self.line.push(self.separator);
                    }
                    self.line.extend_from_slice(options.null_value.as_bytes());
                    continue;
                }
                let mut text = std::mem::take(&mut self.text);
                text.clear();
                f.value(row).write(&mut text).map_err(|e| {
                    ArrowError::CsvError(format!("row {}, column {}: {e}", row + 1, i + 1))
                })?;
                if floats[i] {
                    // Polars writes a positive exponent with its sign: `1e+20`.
                    if let Some(e) = text.find('e').filter(|e| !text[e + 1..].starts_with('-')) {
                        text.insert(e + 1, '+');
                    }
                }
                self.push_field(text.as_bytes(), i == 0);
                self.text = text;
            }
            self.line.push(b'\n');
            self.writer.write_all(&self.line)?;
        }
        Ok(())
    }
}

/// The chrono format Polars' write_csv uses for date-times of `unit`.
fn polars_datetime_format(unit: &TimeUnit, zoned: bool) -> &'static str {
    match (unit, zoned) {
        (TimeUnit::Second, false) => "%Y-%m-%dT%H:%M:%S",
        (TimeUnit::Second, true) => "%Y-%m-%dT%H:%M:%S%z",
        (TimeUnit::Millisecond, false) => "%Y-%m-%dT%H:%M:%S%.3f",
        (TimeUnit::Millisecond, true) => "%Y-%m-%dT%H:%M:%S%.3f%z",
        (TimeUnit::Microsecond, false) => "%Y-%m-%dT%H:%M:%S%.6f",
        (TimeUnit::Microsecond, true) => "%Y-%m-%dT%H:%M:%S%.6f%z",
        (TimeUnit::Nanosecond, false) => "%Y-%m-%dT%H:%M:%S%.9f",
        (TimeUnit::Nanosecond, true) => "%Y-%m-%dT%H:%M:%S%.9f%z",
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
        self.encode(batch).map_err(|e| FileError::Write {
            path: self.out.path.clone(),
            source: Box::new(e),
        })
    }

    fn finish(mut self: Box<Self>) -> Result<u64, FileError> {
        self.header().map_err(|e| FileError::Write {
            path: self.out.path.clone(),
            source: Box::new(e),
        })?;
        let file = self
            .writer
            .into_inner()
            .map_err(|e| FileError::io("write", &self.out.path, e.into_error()))?;
        self.out.complete(file)
    }
}
