//! Parquet decoding and encoding (arrow-rs).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use super::{BatchIter, FileWriter, Output};
use crate::error::FileError;

/// Reads a file's Arrow schema from its footer (no data pages are read).
pub fn read_schema(path: &Path) -> Result<SchemaRef, FileError> {
    let file = File::open(path).map_err(|e| FileError::io("open", path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| FileError::read(path, e))?;
    Ok(builder.schema().clone())
}

/// Opens a file for lazy decoding in batches of `batch_size` rows.
pub fn open(path: &Path, batch_size: usize) -> Result<BatchIter, FileError> {
    let file = File::open(path).map_err(|e| FileError::io("open", path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| FileError::read(path, e))?
        .with_batch_size(batch_size)
        .build()
        .map_err(|e| FileError::read(path, e))?;
    Ok(Box::new(reader))
}

/// Parquet compression codecs, as named in YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// Snappy (the default, like the original).
    #[default]
    Snappy,
    /// Zstandard.
    Zstd,
    /// Gzip.
    Gzip,
    /// LZ4 (raw).
    Lz4,
    /// Brotli.
    Brotli,
    /// No compression.
    #[serde(alias = "uncompressed")]
    None,
}

/// How Parquet files are encoded.
#[derive(Debug, Clone)]
pub struct ParquetWriteOptions {
    /// Compression codec.
    pub codec: Codec,
    /// Codec level, where the codec has levels.
    pub level: Option<i32>,
    /// Rows per row group.
    pub row_group_size: usize,
}

impl ParquetWriteOptions {
    /// Validates the codec level.
    pub fn compression(&self) -> Result<Compression, String> {
        let bad = |e: parquet::errors::ParquetError| e.to_string();
        Ok(match self.codec {
            Codec::Snappy => Compression::SNAPPY,
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::None => Compression::UNCOMPRESSED,
            Codec::Zstd => Compression::ZSTD(match self.level {
                Some(l) => ZstdLevel::try_new(l).map_err(bad)?,
                None => ZstdLevel::default(),
            }),
            Codec::Gzip => Compression::GZIP(match self.level {
                Some(l) => GzipLevel::try_new(l.max(0) as u32).map_err(bad)?,
                None => GzipLevel::default(),
            }),
            Codec::Brotli => Compression::BROTLI(match self.level {
                Some(l) => BrotliLevel::try_new(l.max(0) as u32).map_err(bad)?,
                None => BrotliLevel::default(),
            }),
        })
    }
}

/// Writes one Parquet file. The encoder is created at the first batch, so that encoding
/// choices can look at the data: dictionary encoding is switched off for columns whose
/// first values are (nearly) all distinct, where it would only cost CPU and space.
pub struct ParquetFileWriter {
    out: Output,
    file: Option<File>,
    schema: SchemaRef,
    options: ParquetWriteOptions,
    writer: Option<ArrowWriter<BufWriter<File>>>,
    synced: usize,
}

/// Written bytes after which a file is flushed to disk while it is still being written, so
/// that the disk works while the CPU encodes, and the fsync at the end finds little to do.
const SYNC_EVERY: usize = 16 << 20;

impl ParquetFileWriter {
    /// A writer into `file` (already created at `path`).
    pub fn new(out: Output, file: File, schema: SchemaRef, options: &ParquetWriteOptions) -> Self {
        ParquetFileWriter {
            out,
            file: Some(file),
            schema,
            options: options.clone(),
            writer: None,
            synced: 0,
        }
    }

    fn start(&mut self, sample: Option<&RecordBatch>) -> Result<(), FileError> {
        let compression = self
            .options
            .compression()
            .map_err(|e| self.write_err(std::io::Error::other(e)))?;
        let mut props = WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(self.options.row_group_size.max(1)));
        if let Some(batch) = sample {
            for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
                if mostly_distinct(column.as_ref()) {
                    props = props.set_column_dictionary_enabled(
                        ColumnPath::from(field.name().as_str()),
                        false,
                    );
                }
            }
        }
        let file = self.file.take().expect("writer started once");
        let out = BufWriter::with_capacity(1 << 20, file);
        let writer = ArrowWriter::try_new(out, self.schema.clone(), Some(props.build()))
            .map_err(|e| self.write_err(e))?;
        self.writer = Some(writer);
        Ok(())
    }

    fn write_err(&self, e: impl std::error::Error + Send + Sync + 'static) -> FileError {
        FileError::Write {
            path: self.out.path.clone(),
            source: Box::new(e),
        }
    }
}

impl FileWriter for ParquetFileWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), FileError> {
        if self.writer.is_none() {
            self.start(Some(batch))?;
        }
        let w = self.writer.as_mut().expect("started");
        w.write(batch).map_err(|e| FileError::Write {
            path: self.out.path.clone(),
            source: Box::new(e),
        })?;
        if self.out.durable && w.bytes_written() >= self.synced + SYNC_EVERY {
            self.synced = w.bytes_written();
            let out = w.inner_mut();
            out.flush()
                .and_then(|_| out.get_ref().sync_data())
                .map_err(|e| FileError::io("sync", &self.out.path, e))?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, FileError> {
        if self.writer.is_none() {
            self.start(None)?; // an empty file that still carries the schema
        }
        let w = self.writer.take().expect("started");
        let out = w.into_inner().map_err(|e| self.write_err(e))?;
        let file = out
            .into_inner()
            .map_err(|e| self.write_err(e.into_error()))?;
        self.out.complete(file)
    }
}

/// True when a sample of the column's values is more than half distinct: dictionary
/// encoding would not pay. Only flat primitive and string columns are judged.
fn mostly_distinct(column: &dyn Array) -> bool {
    const SAMPLE: usize = 4096;
    let n = column.len().min(SAMPLE);
    if n < 64 {
        return false;
    }
    let col = column.slice(0, n);
    let distinct = match col.data_type() {
        DataType::Utf8 => count_distinct(col.as_string::<i32>().iter()),
        DataType::LargeUtf8 => count_distinct(col.as_string::<i64>().iter()),
        DataType::Utf8View => count_distinct(col.as_string_view().iter()),
        dt if dt.is_primitive() => {
            // Compare the raw little-endian bytes of each value.
            let data = col.to_data();
            let width = dt.primitive_width().unwrap_or(8);
            let bytes = &data.buffers()[0].as_slice()[data.offset() * width..];
            count_distinct(
                (0..n).map(|i| (!col.is_null(i)).then(|| &bytes[i * width..(i + 1) * width])),
            )
        }
        _ => return false,
    };
    distinct * 2 > n
}

fn count_distinct<T: std::hash::Hash + Eq>(values: impl Iterator<Item = Option<T>>) -> usize {
    values.flatten().collect::<HashSet<_>>().len()
}
