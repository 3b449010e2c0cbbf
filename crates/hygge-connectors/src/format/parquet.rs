//! Parquet decoding and encoding (arrow-rs).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{
    ArrowColumnWriter, ArrowRowGroupWriterFactory, ArrowWriterOptions, compute_leaves,
};
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use parquet::schema::types::SchemaDescriptor;
use serde::{Deserialize, Serialize};

use super::input::Input;
use super::parquet_copy::{self, RowGroupSource};
use super::{BatchIter, FileWriter, Output};
use crate::error::FileError;

/// Reads a file's Arrow schema from its footer (no data pages are read).
pub fn read_schema(input: &Input) -> Result<SchemaRef, FileError> {
    let path = input.name();
    let builder = ParquetRecordBatchReaderBuilder::try_new(input.chunks()?)
        .map_err(|e| FileError::read(path, e))?;
    Ok(builder.schema().clone())
}

/// Opens a file for lazy decoding in batches of `batch_size` rows.
pub fn open(input: &Input, batch_size: usize) -> Result<BatchIter, FileError> {
    let path = input.name();
    let chunks = input.chunks()?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(chunks.clone())
        .map_err(|e| FileError::read(path, e))?;
    chunks.plan_windows(builder.metadata());
    let reader = builder
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
    /// Copy source row groups page by page where they fit (`copy_row_groups`).
    pub copy_row_groups: bool,
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
///
/// A file takes batches ([`FileWriter::write`]) and copied row groups
/// ([`FileWriter::copy_row_group`]) in any order. Batches are buffered into row groups of
/// `row_group_size` rows (the buffered row group is closed before a copied one).
pub struct ParquetFileWriter {
    out: Output,
    file: Option<File>,
    schema: SchemaRef,
    options: ParquetWriteOptions,
    writer: Option<Encoder>,
    synced: usize,
    /// Batches arrive with types Parquet would store without their meaning, and are
    /// converted to `schema` (see [`storable_schema`]).
    convert: bool,
}

/// The file being written, and the row group being buffered.
struct Encoder {
    file: SerializedFileWriter<BufWriter<File>>,
    columns: ArrowRowGroupWriterFactory,
    /// Column writers of the buffered row group, and its rows.
    buffered: Option<(Vec<ArrowColumnWriter>, usize)>,
}

/// Written bytes after which a file is flushed to disk while it is still being written, so
/// that the disk works while the CPU encodes, and the fsync at the end finds little to do.
const SYNC_EVERY: usize = 16 << 20;

impl ParquetFileWriter {
    /// A writer into `file` (already created at `path`) for batches of `schema`; a column
    /// Parquet cannot store with its meaning is converted (see [`storable_schema`]) or
    /// refused, naming it.
    pub fn new(
        out: Output,
        file: File,
        schema: SchemaRef,
        options: &ParquetWriteOptions,
    ) -> Result<Self, FileError> {
        let storable = storable_schema(&schema).map_err(|detail| FileError::Unsupported {
            path: out.path.clone(),
            detail,
        })?;
        Ok(ParquetFileWriter {
            out,
            file: Some(file),
            convert: storable != schema,
            schema: storable,
            options: options.clone(),
            writer: None,
            synced: 0,
        })
    }

    /// Creates the file's encoder: with `parquet_schema`, the file takes that Parquet schema
    /// (the schema of the row groups it will copy) instead of the one derived from Arrow.
    fn start(
        &mut self,
        sample: Option<&RecordBatch>,
        parquet_schema: Option<SchemaDescriptor>,
    ) -> Result<(), FileError> {
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
        let mut options = ArrowWriterOptions::new().with_properties(props.build());
        if let Some(descr) = parquet_schema {
            options = options.with_parquet_schema(descr);
        }
        let (file, columns) = ArrowWriter::try_new_with_options(out, self.schema.clone(), options)
            .and_then(|w| w.into_serialized_writer())
            .map_err(|e| self.write_err(e))?;
        self.writer = Some(Encoder {
            file,
            columns,
            buffered: None,
        });
        Ok(())
    }

    fn write_err(&self, e: impl std::error::Error + Send + Sync + 'static) -> FileError {
        FileError::Write {
            path: self.out.path.clone(),
            source: Box::new(e),
        }
    }

    /// Buffers `batch` into row groups, closing each one that is full.
    fn encode(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        let limit = self.options.row_group_size.max(1);
        let w = self.writer.as_mut().expect("started");
        let mut offset = 0;
        while offset < batch.num_rows() {
            let (columns, rows) = match &mut w.buffered {
                Some(b) => b,
                empty => empty.insert((
                    w.columns
                        .create_column_writers(w.file.flushed_row_groups().len())?,
                    0,
                )),
            };
            let n = (limit - *rows).min(batch.num_rows() - offset);
            let slice = batch.slice(offset, n);
            let mut writers = columns.iter_mut();
            for (field, column) in self.schema.fields().iter().zip(slice.columns()) {
                for leaf in compute_leaves(field.as_ref(), column)? {
                    writers
                        .next()
                        .ok_or_else(|| ParquetError::General("more leaves than columns".into()))?
                        .write(&leaf)?;
                }
            }
            *rows += n;
            offset += n;
            if *rows >= limit {
                w.close_row_group()?;
            }
        }
        Ok(())
    }

    /// Flushes the file to disk every `SYNC_EVERY` bytes while it is being written.
    fn sync_now_and_then(&mut self) -> Result<(), FileError> {
        let w = self.writer.as_mut().expect("started");
        if self.out.durable && w.file.bytes_written() >= self.synced + SYNC_EVERY {
            self.synced = w.file.bytes_written();
            let out = w.file.inner_mut();
            out.flush()
                .and_then(|_| out.get_ref().sync_data())
                .map_err(|e| FileError::io("sync", &self.out.path, e))?;
        }
        Ok(())
    }
}

impl Encoder {
    /// Writes the buffered row group, if any, into the file.
    fn close_row_group(&mut self) -> Result<(), ParquetError> {
        if let Some((columns, _)) = self.buffered.take() {
            let mut row_group = self.file.next_row_group()?;
            for column in columns {
                column.close()?.append_to_row_group(&mut row_group)?;
            }
            row_group.close()?;
        }
        Ok(())
    }
}

impl FileWriter for ParquetFileWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), FileError> {
        let converted;
        let batch = if self.convert {
            converted = to_storable(batch, &self.schema).map_err(|e| self.write_err(e))?;
            &converted
        } else {
            batch
        };
        if self.writer.is_none() {
            self.start(Some(batch), None)?;
        }
        self.encode(batch).map_err(|e| self.write_err(e))?;
        self.sync_now_and_then()
    }

    fn copy_row_group(&mut self, src: &RowGroupSource) -> Result<bool, FileError> {
        if self.convert || !parquet_copy::copyable(src) {
            return Ok(false);
        }
        match &self.writer {
            // A file that starts with a copy takes the source's Parquet schema, if batches
            // can be written into it too (rows decoded later may end in this file).
            None if parquet_copy::arrow_can_write(&self.schema, src.parquet_schema()) => {
                self.start(None, Some(src.parquet_schema().clone()))?
            }
            None => return Ok(false),
            // The file's columns must be the source's, type for type.
            Some(w)
                if w.file.schema_descr().root_schema() != src.parquet_schema().root_schema() =>
            {
                return Ok(false);
            }
            Some(_) => {}
        }
        let codec = self
            .options
            .compression()
            .map_err(|e| self.write_err(std::io::Error::other(e)))?;
        let recompress = self.options.level.is_some();
        let w = self.writer.as_mut().expect("started");
        if let Err(e) = w.close_row_group() {
            return Err(self.write_err(e));
        }
        let copied =
            parquet_copy::copy_row_group(&mut w.file, src, codec, recompress).map_err(|e| {
                FileError::Copy {
                    from: src.path.clone(),
                    row_group: src.index,
                    detail: e.to_string(),
                }
            })?;
        if copied {
            self.sync_now_and_then()?;
        }
        Ok(copied)
    }

    fn finish(mut self: Box<Self>) -> Result<u64, FileError> {
        if self.writer.is_none() {
            self.start(None, None)?; // an empty file that still carries the schema
        }
        let mut w = self.writer.take().expect("started");
        let out = w
            .close_row_group()
            .and_then(|_| w.file.into_inner())
            .map_err(|e| self.write_err(e))?;
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

/// The schema a Parquet store writes for rows of `schema`: types the Parquet writer would
/// store without their meaning (as bare integers DuckDB, pyarrow and Spark read as numbers)
/// become types it stores with it, each value kept: Timestamp(Second) → Timestamp(ms) (same
/// instant, same zone), Time32(Second) → Time32(ms), Date64 → Date32. Intervals, which
/// Parquet readers cannot read as intervals, and repeated column names are refused, naming
/// the column. Duration, which Parquet has no type for, is written as Polars and pyarrow
/// write it (INT64, with the Arrow schema that Polars and pyarrow read back as a duration).
pub fn storable_schema(schema: &SchemaRef) -> Result<SchemaRef, String> {
    let mut seen = HashSet::new();
    let mut changed = false;
    let mut fields = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        if !seen.insert(f.name().as_str()) {
            return Err(format!(
                "two columns are named `{}`; Parquet readers (pyarrow's datasets, Spark) \
                 refuse such files: rename one (in a `query`, or `polish: columns`)",
                f.name()
            ));
        }
        let t = storable_type(f.name(), f.data_type())?;
        changed |= &t != f.data_type();
        fields.push(f.as_ref().clone().with_data_type(t));
    }
    Ok(if changed {
        std::sync::Arc::new(arrow::datatypes::Schema::new_with_metadata(
            fields,
            schema.metadata().clone(),
        ))
    } else {
        schema.clone()
    })
}

fn storable_type(column: &str, t: &DataType) -> Result<DataType, String> {
    use arrow::datatypes::TimeUnit;
    let refuse = |why: &str| {
        Err(format!(
            "column `{column}` is {t}, {why}; cast it (e.g. to text or a number) in a `query`, \
             or write csv or ndjson"
        ))
    };
    Ok(match t {
        DataType::Timestamp(TimeUnit::Second, tz) => {
            DataType::Timestamp(TimeUnit::Millisecond, tz.clone())
        }
        DataType::Time32(TimeUnit::Second) => DataType::Time32(TimeUnit::Millisecond),
        DataType::Date64 => DataType::Date32,
        DataType::Interval(_) => {
            return refuse("which Parquet readers cannot read as an interval");
        }
        DataType::Struct(children) => {
            for c in children {
                let inner = storable_type(&format!("{column}.{}", c.name()), c.data_type())?;
                if &inner != c.data_type() {
                    return refuse(&format!(
                        "whose field `{}` is {}, which Parquet would store without its meaning",
                        c.name(),
                        c.data_type()
                    ));
                }
            }
            t.clone()
        }
        DataType::List(c)
        | DataType::LargeList(c)
        | DataType::FixedSizeList(c, _)
        | DataType::ListView(c)
        | DataType::LargeListView(c)
        | DataType::Map(c, _) => {
            let inner = storable_type(&format!("{column}[]"), c.data_type())?;
            if &inner != c.data_type() {
                return refuse(&format!(
                    "whose items are {}, which Parquet would store without their meaning",
                    c.data_type()
                ));
            }
            t.clone()
        }
        DataType::Dictionary(_, v) => {
            let inner = storable_type(column, v)?;
            if &inner != v.as_ref() {
                inner
            } else {
                t.clone()
            }
        }
        other => other.clone(),
    })
}

/// Converts `batch` to `schema` (from [`storable_schema`]), keeping every value: a Date64
/// that is not a whole number of days is an error naming the column.
pub fn to_storable(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        if c.data_type() == f.data_type() {
            columns.push(c.clone());
            continue;
        }
        if let DataType::Date64 = c.data_type() {
            let d = c.as_primitive::<arrow::datatypes::Date64Type>();
            if let Some(v) = d.iter().flatten().find(|v| v % 86_400_000 != 0) {
                return Err(arrow::error::ArrowError::InvalidArgumentError(format!(
                    "column `{}` is Date64 with a value ({v} ms) that is not a whole day, \
                     which Parquet cannot store as a date",
                    f.name()
                )));
            }
        }
        let opts = arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        };
        let cast = arrow::compute::cast_with_options(c, f.data_type(), &opts).map_err(|e| {
            arrow::error::ArrowError::InvalidArgumentError(format!(
                "column `{}`: converting {} to {} for Parquet: {e}",
                f.name(),
                c.data_type(),
                f.data_type()
            ))
        })?;
        columns.push(cast);
    }
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
}

#[cfg(test)]
mod storable_tests {
    use std::sync::Arc;

    use arrow::array::{Date64Array, DurationSecondArray, Int64Array, TimestampSecondArray};
    use arrow::datatypes::{Field, Schema, TimeUnit};

    use super::*;

    fn schema(fields: Vec<Field>) -> SchemaRef {
        Arc::new(Schema::new(fields))
    }

    #[test]
    fn seconds_become_milliseconds_at_the_same_instant_and_zone() {
        let s = schema(vec![
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Second, Some("+02:00".into())),
                true,
            ),
            Field::new("d", DataType::Date64, true),
            Field::new("n", DataType::Int64, true),
        ]);
        let out = storable_schema(&s).unwrap();
        assert_eq!(
            out.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("+02:00".into()))
        );
        assert_eq!(out.field(1).data_type(), &DataType::Date32);
        let batch = RecordBatch::try_new(
            s.clone(),
            vec![
                Arc::new(
                    TimestampSecondArray::from(vec![Some(1_704_164_645), None])
                        .with_timezone("+02:00"),
                ),
                Arc::new(Date64Array::from(vec![Some(86_400_000), None])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        let b = to_storable(&batch, &out).unwrap();
        let t = b
            .column(0)
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        assert_eq!(t.value(0), 1_704_164_645_000);
        assert!(t.is_null(1));
        assert_eq!(
            b.column(1)
                .as_primitive::<arrow::datatypes::Date32Type>()
                .value(0),
            1
        );
        // A Date64 that is not a whole day is refused, naming the column.
        let bad = RecordBatch::try_new(
            schema(vec![Field::new("d", DataType::Date64, true)]),
            vec![Arc::new(Date64Array::from(vec![1]))],
        )
        .unwrap();
        let e = to_storable(&bad, &storable_schema(&bad.schema()).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("column `d`"), "{e}");
        // Unchanged schemas are the same schema.
        let plain = schema(vec![Field::new("n", DataType::Int64, true)]);
        assert!(Arc::ptr_eq(&storable_schema(&plain).unwrap(), &plain));
    }

    #[test]
    fn intervals_and_repeated_names_are_refused_by_name() {
        let d = DurationSecondArray::from(vec![1]);
        let kept = schema(vec![Field::new("took", d.data_type().clone(), true)]);
        assert!(Arc::ptr_eq(&storable_schema(&kept).unwrap(), &kept));
        let e = storable_schema(&schema(vec![Field::new(
            "i",
            DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano),
            true,
        )]))
        .unwrap_err();
        assert!(e.contains("column `i`"), "{e}");
        let e = storable_schema(&schema(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("a", DataType::Utf8, true),
        ]))
        .unwrap_err();
        assert!(e.contains("two columns are named `a`"), "{e}");
        let e = storable_schema(&schema(vec![Field::new(
            "s",
            DataType::Struct(
                vec![Field::new(
                    "t",
                    DataType::Timestamp(TimeUnit::Second, None),
                    true,
                )]
                .into(),
            ),
            true,
        )]))
        .unwrap_err();
        assert!(e.contains("column `s`"), "{e}");
    }
}
