//! Newline-delimited JSON decoding and encoding (arrow-json).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufWriter};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::json::{LineDelimitedWriter, ReaderBuilder};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::input::Input;
use super::{BatchIter, FileWriter, Output};
use crate::error::FileError;

/// `format_options` of an NDJSON home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NdjsonReadOptions {
    /// Lines used to infer the schema, default 100; 0 reads every line.
    pub infer_schema_length: Option<usize>,
}

impl Default for NdjsonReadOptions {
    fn default() -> Self {
        NdjsonReadOptions {
            infer_schema_length: Some(100),
        }
    }
}

impl NdjsonReadOptions {
    /// Infers the schema from the file's first lines, as Polars: columns in Polars' order
    /// (see [`Keys`]; arrow-json sorts them), and integers beyond i64 as
    /// Decimal128(38, 0) (Polars: Int128; arrow-json: a lossy Float64).
    pub fn infer_schema(&self, input: &Input) -> Result<SchemaRef, FileError> {
        let path = input.name();
        let limit = self.infer_schema_length.filter(|n| *n > 0);
        let (schema, _) =
            arrow::json::reader::infer_json_schema(&mut input.open_read(1 << 16)?, limit)
                .map_err(|e| FileError::read(path, e))?;
        // Read again from the start (an object cannot seek back).
        let mut reader = input.open_read(1 << 16)?;
        let keys = first_seen_keys(&mut reader, limit)
            .map_err(|e| FileError::read(path, std::io::Error::other(e)))?;
        let mut fields: Vec<Field> = Vec::with_capacity(schema.fields().len());
        for key in &keys.order {
            if let Ok(f) = schema.field_with_name(key) {
                let wide = keys.wide.contains(key)
                    && !keys.fractional.contains(key)
                    && matches!(f.data_type(), DataType::Float64 | DataType::Int64);
                let mut f = f.clone();
                if wide {
                    f = f.with_data_type(DataType::Decimal128(38, 0));
                }
                fields.push(f);
            }
        }
        // Anything arrow-json saw that the key scan did not (it should not happen).
        for f in schema.fields() {
            if !keys.order.contains(f.name()) {
                fields.push(f.as_ref().clone());
            }
        }
        Ok(Arc::new(Schema::new_with_metadata(
            fields,
            schema.metadata().clone(),
        )))
    }

    /// Opens a file for lazy decoding with a known schema.
    pub fn open(
        &self,
        input: &Input,
        schema: SchemaRef,
        batch_size: usize,
    ) -> Result<BatchIter, FileError> {
        let path = input.name();
        // Strict: a field the schema (inferred from the first lines) does not have is an
        // error naming the file, never silently dropped.
        // Coerced: a number or boolean in a text column (`"a"` then `1`) is read as its
        // text (`"1"`), as Polars reads it.
        let reader = ReaderBuilder::new(schema)
            .with_batch_size(batch_size)
            .with_strict_mode(true)
            .with_coerce_primitive(true)
            .build(input.open_read(1 << 20)?)
            .map_err(|e| FileError::read(path, e))?;
        Ok(Box::new(reader))
    }
}

/// The top-level keys of the first lines, in Polars' order, and which keys hold integers
/// beyond i64 (or numbers with a fraction or exponent).
///
/// Polars merges each line's keys into the columns so far: when the line has more keys than
/// there are columns, its order comes first and the other columns follow; otherwise the
/// columns keep their order and the line's new keys follow (`{a,b}` then `{c,b,d}` gives
/// `c, b, d, a`; `{id,t,n}` then `{id,z,n}` gives `id, t, n, z`).
#[derive(Default)]
struct Keys {
    order: Vec<String>,
    row: Vec<String>,
    wide: HashSet<String>,
    fractional: HashSet<String>,
}

impl Keys {
    fn merge_row(&mut self) {
        let row = std::mem::take(&mut self.row);
        let (first, second) = if row.len() > self.order.len() {
            (row, std::mem::take(&mut self.order))
        } else {
            (std::mem::take(&mut self.order), row)
        };
        let mut seen: HashSet<String> = first.iter().cloned().collect();
        self.order = first;
        for k in second {
            if seen.insert(k.clone()) {
                self.order.push(k);
            }
        }
    }
}

impl<'de> serde::de::Visitor<'de> for &mut Keys {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let raw: &serde_json::value::RawValue = map.next_value()?;
            let text = raw.get();
            let digits = text.strip_prefix('-').unwrap_or(text);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                if text.parse::<i64>().is_err() && digits.len() <= 38 {
                    self.wide.insert(key.clone());
                }
            } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
                self.fractional.insert(key.clone());
            }
            if !self.row.contains(&key) {
                self.row.push(key);
            }
        }
        Ok(())
    }
}

fn first_seen_keys(reader: &mut impl BufRead, limit: Option<usize>) -> Result<Keys, String> {
    let mut keys = Keys::default();
    let mut line = String::new();
    let mut rows = 0;
    while limit.is_none_or(|l| rows < l) {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        rows += 1;
        let mut de = serde_json::Deserializer::from_str(&line);
        serde::Deserializer::deserialize_map(&mut de, &mut keys).map_err(|e| e.to_string())?;
        keys.merge_row();
    }
    Ok(keys)
}

/// Writes one NDJSON file. NULLs are written (`"n":null`), as Polars writes them, so that
/// every line has every column and a column of NULLs only is not lost on the way back;
/// date-times are written as Polars writes them.
pub struct NdjsonFileWriter {
    out: Output,
    writer: LineDelimitedWriter<BufWriter<File>>,
}

impl NdjsonFileWriter {
    /// A writer into `file` (already created at `path`).
    pub fn new(out: Output, file: File) -> Self {
        NdjsonFileWriter {
            out,
            // Date-times as Polars' write_ndjson writes them: naive ones with a space,
            // zoned ones in their zone with the offset; the fraction only when not zero.
            writer: arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .with_timestamp_format("%Y-%m-%d %H:%M:%S%.f".into())
                .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.f%:z".into())
                .build(BufWriter::with_capacity(1 << 20, file)),
        }
    }
}

impl FileWriter for NdjsonFileWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), FileError> {
        self.writer.write(batch).map_err(|e| FileError::Write {
            path: self.out.path.clone(),
            source: Box::new(e),
        })
    }

    fn finish(mut self: Box<Self>) -> Result<u64, FileError> {
        self.writer.finish().map_err(|e| FileError::Write {
            path: self.out.path.clone(),
            source: Box::new(e),
        })?;
        let file = self
            .writer
            .into_inner()
            .into_inner()
            .map_err(|e| FileError::io("write", &self.out.path, e.into_error()))?;
        self.out.complete(file)
    }
}
