//! Newline-delimited JSON decoding and encoding (arrow-json).

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek};
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::json::{LineDelimitedWriter, ReaderBuilder};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

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
    /// Infers the schema from the file's first lines.
    pub fn infer_schema(&self, path: &Path) -> Result<SchemaRef, FileError> {
        let file = File::open(path).map_err(|e| FileError::io("open", path, e))?;
        let mut reader = BufReader::new(file);
        let limit = self.infer_schema_length.filter(|n| *n > 0);
        let (schema, _) = arrow::json::reader::infer_json_schema_from_seekable(&mut reader, limit)
            .map_err(|e| FileError::read(path, e))?;
        reader
            .rewind()
            .map_err(|e| FileError::io("read", path, e))?;
        Ok(Arc::new(schema))
    }

    /// Opens a file for lazy decoding with a known schema.
    pub fn open(
        &self,
        path: &Path,
        schema: SchemaRef,
        batch_size: usize,
    ) -> Result<BatchIter, FileError> {
        let file = File::open(path).map_err(|e| FileError::io("open", path, e))?;
        // Strict: a field the schema (inferred from the first lines) does not have is an
        // error naming the file, never silently dropped.
        let reader = ReaderBuilder::new(schema)
            .with_batch_size(batch_size)
            .with_strict_mode(true)
            .build(BufReader::with_capacity(1 << 20, file))
            .map_err(|e| FileError::read(path, e))?;
        Ok(Box::new(reader))
    }
}

/// Writes one NDJSON file.
pub struct NdjsonFileWriter {
    out: Output,
    writer: LineDelimitedWriter<BufWriter<File>>,
}

impl NdjsonFileWriter {
    /// A writer into `file` (already created at `path`).
    pub fn new(out: Output, file: File) -> Self {
        NdjsonFileWriter {
            out,
            writer: LineDelimitedWriter::new(BufWriter::with_capacity(1 << 20, file)),
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
