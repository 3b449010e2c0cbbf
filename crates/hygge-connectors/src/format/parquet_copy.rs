//! Parquet to Parquet without decoding a value: a row group's pages are copied as they
//! are, or decompressed and compressed again when the codec changes.
//!
//! A file home hands its row groups over as [`RowGroupSource`]s (when the store takes
//! them, see `FileHome::read_encoded`), and the Parquet store copies each one into its
//! output file with [`copy_row_group`]. The encodings, dictionaries, page statistics,
//! column chunk statistics and the column index stay what the writer of the source file
//! made them; the offset index is written anew for the new page positions. What cannot be
//! copied (a row group that does not fit the store's row groups or files, or whose Parquet
//! schema differs from the output file's) is decoded with [`RowGroupSource::decode`] and
//! written like any batch.
//!
//! Memory: one page of the source at a time, and the recompressed column chunk being
//! assembled (at most one column chunk of one row group). Raw copies stream from the file.
//!
//! A footer is not trusted: every column chunk's byte range must lie inside the file
//! ([`RowGroupSource::open_all`] refuses the file otherwise), so no size taken from it can
//! exceed the file's, and a source's offset index is written only when it describes the
//! pages actually walked (else it is counted from them, or the row group is decoded).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::arrow_writer::{ArrowWriterOptions, compute_leaves};
use parquet::basic::{Compression, ConvertedType, LogicalType, Type as PhysicalType};
use parquet::column::page::{CompressedPage, Page, PageReader, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnChunkMetaData, PageIndexPolicy, ParquetMetaData};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::SchemaDescriptor;

use super::BatchIter;
use super::input::{ChunkRead, Chunks, Input};
use crate::error::FileError;

/// The `format` name of encoded Parquet row groups (`Store::takes_encoded`).
pub const FORMAT: &str = "parquet";

/// The largest column chunk (bytes, as stored) a row group may have to be copied: a
/// recompressing copy assembles a chunk in memory, so larger ones are decoded a batch at a
/// time instead (review M5).
pub const MAX_COPIED_CHUNK: usize = 64 << 20;

/// One row group of a source file, handed from a file home to a Parquet store.
#[derive(Clone)]
pub struct RowGroupSource {
    /// The source file, for messages.
    pub path: PathBuf,
    /// The open source file (a local file, or a remote object read by ranges).
    pub file: Chunks,
    /// Its footer (with the page index, when the file has one) and Arrow schema.
    pub metadata: ArrowReaderMetadata,
    /// Which row group.
    pub index: usize,
    /// The entity's announced schema (equal to the file's, field for field).
    pub schema: SchemaRef,
    /// Rows per batch when the row group has to be decoded.
    pub batch_size: usize,
    /// The file's length when it was opened: every column chunk lies within it.
    file_len: u64,
}

impl RowGroupSource {
    /// Opens `path` and returns its row groups, after checking that the file's Arrow
    /// schema is `schema`, field for field.
    pub fn open_all(
        input: &Input,
        schema: &SchemaRef,
        batch_size: usize,
    ) -> std::result::Result<Vec<Self>, FileError> {
        let path = input.name();
        let file = input.chunks()?;
        let metadata = ArrowReaderMetadata::load(
            &file,
            ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional),
        )
        .map_err(|e| FileError::read(path, e))?;
        let file_len = file.len();
        check_byte_ranges(metadata.metadata(), file_len)
            .map_err(|e| FileError::read(path, std::io::Error::other(e)))?;
        file.plan_windows(metadata.metadata());
        if metadata.schema().fields() != schema.fields() {
            return Err(FileError::read(
                path,
                std::io::Error::other("its schema changed while it was being read"),
            ));
        }
        Ok((0..metadata.metadata().num_row_groups())
            .map(|index| RowGroupSource {
                path: path.to_path_buf(),
                file: file.clone(),
                metadata: metadata.clone(),
                index,
                schema: schema.clone(),
                batch_size,
                file_len,
            })
            .collect())
    }

    /// Rows in the row group.
    pub fn rows(&self) -> usize {
        self.metadata.metadata().row_group(self.index).num_rows() as usize
    }

    /// Bytes a copy holds in memory at most: the largest column chunk, which is assembled
    /// in memory when it is recompressed (a page at a time is read), plus, for a remote
    /// file, the row group's bytes (held while its pages are read). Never more than the
    /// file (`open_all` checked every chunk against its length).
    pub fn memory(&self) -> usize {
        let chunks = self.metadata.metadata().row_group(self.index).columns();
        let size = |c: &ColumnChunkMetaData| (c.compressed_size().max(0) as u64).min(self.file_len);
        let largest = chunks.iter().map(size).max().unwrap_or(0);
        let held = if self.file.is_remote() {
            chunks
                .iter()
                .map(size)
                .sum::<u64>()
                .min(super::input::MAX_WINDOW)
        } else {
            0
        };
        (largest + held) as usize
    }

    /// The source file's Parquet schema.
    pub fn parquet_schema(&self) -> &SchemaDescriptor {
        self.metadata.metadata().file_metadata().schema_descr()
    }

    /// Decodes the row group into batches (the fallback). Their fields are the entity's:
    /// [`RowGroupSource::open_all`] checked the file's schema.
    pub fn decode(&self) -> std::result::Result<BatchIter, FileError> {
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
            self.file.clone(),
            self.metadata.clone(),
        )
        .with_row_groups(vec![self.index])
        .with_batch_size(self.batch_size.max(1))
        .build()
        .map_err(|e| FileError::read(&self.path, e))?;
        Ok(Box::new(reader))
    }
}

/// Checks that every column chunk of `metadata` lies within a file of `file_len` bytes
/// (its start, its length, its first data page), so that no size or offset taken from the
/// footer later reads, or allocates, past the file. The error names the row group and
/// column.
fn check_byte_ranges(metadata: &ParquetMetaData, file_len: u64) -> std::result::Result<(), String> {
    for (g, row_group) in metadata.row_groups().iter().enumerate() {
        for column in row_group.columns() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or_else(|| column.data_page_offset());
            let len = column.compressed_size();
            let data = column.data_page_offset();
            let end = start.checked_add(len);
            let fits = start >= 0
                && len > 0
                && end.is_some_and(|end| end as u64 <= file_len)
                && data >= start
                && end.is_some_and(|end| data < end);
            if !fits {
                return Err(format!(
                    "damaged or crafted Parquet file: row group {g}, column `{}` claims bytes \
                     {start}..{} (first data page at {data}), which do not lie within the \
                     file's {file_len} bytes",
                    column.column_path().string(),
                    end.map_or_else(|| "overflow".to_string(), |e| e.to_string()),
                ));
            }
        }
    }
    Ok(())
}

/// True when the Arrow column writers can write batches of `schema` into a file whose
/// Parquet schema is `parquet` (a source's, when a file starts with a copied row group and
/// later takes decoded rows too). Not for every pair: arrow-rs cannot write INT96
/// timestamps or decimals stored as plain byte arrays, and it panics (`unreachable!`) on
/// some: those are refused first, then an empty batch of each column is tried (a panic
/// caught all the same).
pub fn arrow_can_write(schema: &SchemaRef, parquet: &SchemaDescriptor) -> bool {
    let unwritable = parquet.columns().iter().any(|c| {
        c.physical_type() == PhysicalType::INT96
            || (c.physical_type() == PhysicalType::BYTE_ARRAY
                && (c.converted_type() == ConvertedType::DECIMAL
                    || matches!(c.logical_type_ref(), Some(LogicalType::Decimal { .. }))))
    });
    if unwritable {
        return false;
    }
    let probe = || -> Result<()> {
        let options = ArrowWriterOptions::new().with_parquet_schema(parquet.clone());
        let (_file, columns) =
            ArrowWriter::try_new_with_options(Vec::new(), schema.clone(), options)?
                .into_serialized_writer()?;
        let mut writers = columns.create_column_writers(0)?.into_iter();
        for field in schema.fields() {
            let empty = arrow::array::new_empty_array(field.data_type());
            for leaf in compute_leaves(field, &empty)? {
                let mut w = writers
                    .next()
                    .ok_or_else(|| ParquetError::General("more leaves than columns".into()))?;
                w.write(&leaf)?;
            }
        }
        Ok(())
    };
    matches!(std::panic::catch_unwind(probe), Ok(Ok(())))
}

/// True when `a` and `b` are the same codec (levels are not recorded in Parquet files).
fn same_codec(a: Compression, b: Compression) -> bool {
    std::mem::discriminant(&a) == std::mem::discriminant(&b)
}

/// Whether `src` can be copied at all: no column stored in another file, and every nested
/// column with an offset index in the source (where a nested column's pages start in rows
/// is unknown without decoding, and every column chunk of the output gets an offset index;
/// a flat column's are counted from its pages).
pub fn copyable(src: &RowGroupSource) -> bool {
    let metadata = src.metadata.metadata();
    let row_group = metadata.row_group(src.index);
    row_group.columns().iter().enumerate().all(|(c, column)| {
        column.file_path().is_none()
            && (column.column_descr().max_rep_level() == 0 || offset_index(src, c).is_some())
    })
}

/// Column `c`'s entry of the source row group's page index (`index`: the file's column or
/// offset index, per row group, per column), if the file has one.
fn page_index<'a, T>(
    src: &RowGroupSource,
    index: Option<&'a Vec<Vec<T>>>,
    c: usize,
) -> Option<&'a T> {
    index.and_then(|i| i.get(src.index)).and_then(|r| r.get(c))
}

/// The source's offset index of column `c`, if it has one.
fn offset_index(src: &RowGroupSource, c: usize) -> Option<&OffsetIndexMetaData> {
    page_index(src, src.metadata.metadata().offset_index(), c)
        .filter(|o| !o.page_locations().is_empty())
}

/// Appends `src` (which must be [`copyable`]) to `out` as one row group, and returns true;
/// or returns false, having written nothing, when the source's page index does not
/// describe its pages and where they start in rows cannot be told without decoding (the
/// caller decodes the row group instead). The output file must have been created with the
/// source's Parquet schema. Column chunks already in `codec` (with `recompress` false)
/// whose source has an offset index are copied byte for byte, after checking that every
/// page decompresses and that the offset index is the pages' (else it is counted from
/// them); the others are decompressed and compressed again page by page.
pub fn copy_row_group<W: Write + Send>(
    out: &mut SerializedFileWriter<W>,
    src: &RowGroupSource,
    codec: Compression,
    recompress: bool,
) -> Result<bool> {
    let metadata = src.metadata.metadata();
    let row_group = metadata.row_group(src.index);
    let rows = row_group.num_rows();
    // First every column's plan, so that nothing is written when one must be decoded.
    let mut plans = Vec::with_capacity(row_group.columns().len());
    for (c, column) in row_group.columns().iter().enumerate() {
        let source = offset_index(src, c);
        let flat = column.column_descr().max_rep_level() == 0;
        let plan = if source.is_some() && !recompress && same_codec(column.compression(), codec) {
            // The bytes are copied as they are, but every page is decompressed first, so
            // that a damaged source fails here as it would when decoded.
            let walked = walk_pages(src, column, true)?;
            match checked_offset_index(source, &walked, rows) {
                Some(index) if chunk_starts_match(column, &walked) => Plan::Raw(index),
                Some(index) => Plan::Transcode(Some(index)),
                None => return Ok(false),
            }
        } else if flat {
            Plan::Transcode(None) // rows counted from the pages
        } else {
            let walked = walk_pages(src, column, false)?;
            match checked_offset_index(source, &walked, rows) {
                Some(index) => Plan::Transcode(Some(index)),
                None => return Ok(false),
            }
        };
        plans.push(plan);
    }
    let mut writer = out.next_row_group()?;
    for ((c, column), plan) in row_group.columns().iter().enumerate().zip(plans) {
        let column_index = page_index(src, metadata.column_index(), c)
            .filter(|i| !matches!(i, ColumnIndexMetaData::NONE))
            .cloned();
        match plan {
            Plan::Raw(offsets) => {
                let close = ColumnCloseResult {
                    bytes_written: column.compressed_size() as u64,
                    rows_written: rows as u64,
                    metadata: column.clone(),
                    bloom_filter: None,
                    column_index,
                    offset_index: Some(offsets),
                };
                writer.append_column(&src.file, close)?;
            }
            Plan::Transcode(offsets) => {
                let (bytes, mut close) = transcode(src, column, offsets.as_ref(), codec)?;
                close.column_index = column_index;
                writer.append_column(&bytes, close)?;
            }
        }
    }
    writer.close()?;
    Ok(true)
}

/// How one column chunk is copied.
enum Plan {
    /// Byte for byte, with this offset index (in the source file's offsets).
    Raw(OffsetIndexMetaData),
    /// Recompressed; where pages start in rows counted from them, or from this (checked)
    /// offset index where they cannot be counted.
    Transcode(Option<OffsetIndexMetaData>),
}

/// One page of a source column chunk, as walked from its page headers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    /// Where its header starts in the file.
    offset: i64,
    /// Its header and data, in bytes.
    size: i64,
    /// Rows, where the page says (a data page of a flat column, any v2 data page).
    rows: Option<i64>,
    /// A dictionary page.
    dictionary: bool,
}

/// A file that notes where the page reader reads: the start of the last header read
/// (`get_read`) and the end of the last page data read (`get_bytes`).
struct Recorder {
    file: Chunks,
    start: AtomicU64,
    end: AtomicU64,
}

impl Length for Recorder {
    fn len(&self) -> u64 {
        self.file.len()
    }
}

impl ChunkReader for Recorder {
    type T = ChunkRead;

    fn get_read(&self, start: u64) -> Result<Self::T> {
        self.start.store(start, Ordering::Relaxed);
        self.file.get_read(start)
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        self.end
            .store(start.saturating_add(length as u64), Ordering::Relaxed);
        self.file.get_bytes(start, length)
    }
}

/// Walks the pages of a column chunk from its headers: every page decompressed
/// (`decompress`), or only the headers read.
fn walk_pages(
    src: &RowGroupSource,
    column: &ColumnChunkMetaData,
    decompress: bool,
) -> Result<Vec<Span>> {
    let rows = src.rows();
    let flat = column.column_descr().max_rep_level() == 0;
    let recorder = Arc::new(Recorder {
        file: src.file.clone(),
        start: AtomicU64::new(0),
        end: AtomicU64::new(0),
    });
    let mut pages = SerializedPageReader::new(recorder.clone(), column, rows, None)?;
    let mut spans = Vec::new();
    if decompress {
        while let Some(page) = pages.get_next_page()? {
            let offset = recorder.start.load(Ordering::Relaxed) as i64;
            let end = recorder.end.load(Ordering::Relaxed) as i64;
            let rows = match &page {
                Page::DataPage { num_values, .. } if flat => Some(*num_values as i64),
                Page::DataPageV2 { num_rows, .. } => Some(*num_rows as i64),
                _ => None,
            };
            spans.push(Span {
                offset,
                size: end - offset,
                rows,
                dictionary: page.is_dictionary_page(),
            });
        }
    } else {
        while let Some(page) = pages.peek_next_page()? {
            let offset = recorder.start.load(Ordering::Relaxed) as i64;
            spans.push(Span {
                offset,
                size: 0,
                rows: page.num_rows.map(|r| r as i64).or(if flat {
                    page.num_levels.map(|r| r as i64)
                } else {
                    None
                }),
                dictionary: page.is_dict,
            });
            pages.skip_next_page()?;
        }
        // The pages tile the chunk (the reader stops where its length ends).
        let (start, len) = column.byte_range();
        let mut next = (start + len) as i64;
        for span in spans.iter_mut().rev() {
            span.size = next - span.offset;
            next = span.offset;
        }
    }
    Ok(spans)
}

/// True when the column chunk's metadata says where its walked pages start (a raw copy
/// keeps that metadata).
fn chunk_starts_match(column: &ColumnChunkMetaData, walked: &[Span]) -> bool {
    let dictionary = walked.first().filter(|s| s.dictionary).map(|s| s.offset);
    let data = walked.iter().find(|s| !s.dictionary).map(|s| s.offset);
    column.dictionary_page_offset() == dictionary && Some(column.data_page_offset()) == data
}

/// The offset index to write for a column chunk of `rows` rows whose pages were `walked`:
/// the source's, when it describes exactly those data pages (same offsets and sizes, first
/// rows from 0 upwards, below `rows`, and equal to the counted ones where pages say their
/// rows); else one counted from the pages, when every data page says its rows and they add
/// up to `rows`; else none (the row group must be decoded).
fn checked_offset_index(
    source: Option<&OffsetIndexMetaData>,
    walked: &[Span],
    rows: i64,
) -> Option<OffsetIndexMetaData> {
    let data: Vec<&Span> = walked.iter().filter(|s| !s.dictionary).collect();
    let size = |s: &Span| i32::try_from(s.size).ok();
    // Where each data page starts in rows, when every page says its rows; pages that say
    // they hold other than the row group's rows are damaged.
    let counted = (|| {
        let mut firsts = Vec::with_capacity(data.len());
        let mut next = 0i64;
        for s in &data {
            firsts.push(next);
            next = next.checked_add(s.rows?)?;
        }
        Some((firsts, next))
    })();
    let counted = match counted {
        Some((_, total)) if total != rows => return None,
        Some((firsts, _)) => Some(firsts),
        None => None,
    };
    if data.is_empty() || data.iter().any(|s| size(s).is_none() || s.size <= 0) {
        return None;
    }
    if let Some(source) = source {
        let locations = source.page_locations();
        let matches = locations.len() == data.len()
            && locations.iter().zip(&data).enumerate().all(|(i, (l, s))| {
                l.offset == s.offset
                    && Some(l.compressed_page_size) == size(s)
                    && l.first_row_index < rows.max(1)
                    && if i == 0 {
                        l.first_row_index == 0
                    } else {
                        l.first_row_index >= locations[i - 1].first_row_index
                    }
                    && counted.as_ref().is_none_or(|c| c[i] == l.first_row_index)
            });
        if matches {
            return Some(OffsetIndexMetaData {
                page_locations: locations.to_vec(),
                unencoded_byte_array_data_bytes: source
                    .unencoded_byte_array_data_bytes()
                    .filter(|u| u.len() == data.len())
                    .cloned(),
            });
        }
    }
    let counted = counted?;
    Some(OffsetIndexMetaData {
        page_locations: data
            .iter()
            .zip(counted)
            .map(|(s, first_row_index)| PageLocation {
                offset: s.offset,
                compressed_page_size: s.size as i32,
                first_row_index,
            })
            .collect(),
        unencoded_byte_array_data_bytes: None,
    })
}

/// The most a recompressed column chunk's buffer is sized for in advance.
const MAX_PREALLOCATION: u64 = 64 << 20;

/// One column chunk's pages, decompressed and compressed again with `codec`, as the bytes
/// of the new chunk (offsets from 0) and what the row group writer needs to append it.
/// Where pages start in rows is counted from them, or taken from `offset_index` (checked
/// against the pages) where they do not say.
fn transcode(
    src: &RowGroupSource,
    column: &ColumnChunkMetaData,
    offset_index: Option<&OffsetIndexMetaData>,
    codec: Compression,
) -> Result<(Bytes, ColumnCloseResult)> {
    let rows = src.rows();
    let mut compressor = PageCompressor::new(codec)?;
    let mut pages = SerializedPageReader::new(Arc::new(src.file.clone()), column, rows, None)?;
    // Sized from the footer, bounded by what `open_all` checked (the file) and a cap.
    let capacity = (column.compressed_size().max(0) as u64)
        .min(src.file_len)
        .min(MAX_PREALLOCATION);
    let mut sink = TrackedWrite::new(Vec::with_capacity(capacity as usize));
    let mut writer = SerializedPageWriter::new(&mut sink);
    let flat = column.column_descr().max_rep_level() == 0;
    let (mut dictionary_offset, mut data_offset) = (None, None);
    let (mut compressed, mut uncompressed) = (0i64, 0i64);
    let mut locations = Vec::new();
    let mut first_row = Some(0i64);
    let mut out = Vec::new();
    while let Some(mut page) = pages.get_next_page()? {
        let uncompressed_len = page.buffer().len();
        // Where this data page's rows start, when it can be known without decoding.
        let page_rows = match &page {
            Page::DataPage { num_values, .. } if flat => Some(*num_values as i64),
            Page::DataPageV2 { num_rows, .. } => Some(*num_rows as i64),
            _ => None,
        };
        let mut compress = |data: &[u8], keep: usize| -> Result<Bytes> {
            if !compressor.compresses() {
                return Ok(Bytes::copy_from_slice(data));
            }
            out.clear();
            out.extend_from_slice(&data[..keep]);
            compressor.compress(&data[keep..], &mut out)?;
            Ok(Bytes::copy_from_slice(&out))
        };
        let is_data = page.is_data_page();
        match &mut page {
            Page::DataPage { buf, .. } | Page::DictionaryPage { buf, .. } => {
                *buf = compress(buf, 0)?;
            }
            Page::DataPageV2 {
                buf,
                def_levels_byte_len,
                rep_levels_byte_len,
                is_compressed,
                ..
            } => {
                // Levels stay uncompressed in a v2 page; only the values are compressed.
                let levels = (*def_levels_byte_len + *rep_levels_byte_len) as usize;
                if levels > buf.len() {
                    return Err(ParquetError::General(
                        "a data page's level lengths exceed the page".into(),
                    ));
                }
                *buf = compress(buf, levels)?;
                *is_compressed = compressor.compresses();
            }
        }
        let spec = writer.write_page(CompressedPage::new(page, uncompressed_len))?;
        compressed += spec.compressed_size as i64;
        uncompressed += spec.uncompressed_size as i64;
        if is_data {
            data_offset.get_or_insert(spec.offset as i64);
            locations.push(PageLocation {
                offset: spec.offset as i64,
                compressed_page_size: spec.compressed_size as i32,
                first_row_index: first_row.unwrap_or(0),
            });
            first_row = first_row.zip(page_rows).map(|(a, b)| a + b);
        } else {
            dictionary_offset.get_or_insert(spec.offset as i64);
        }
    }
    writer.close()?;
    let bytes = Bytes::from(sink.into_inner()?);
    let data_offset = data_offset
        .ok_or_else(|| ParquetError::General("a column chunk without data pages".into()))?;
    // The offset index: where pages start in rows, counted from the pages, or from the
    // source's checked index (the caller never sends a nested column without one).
    let offset_index = match (first_row, offset_index) {
        (Some(total), _) if total == rows as i64 => OffsetIndexMetaData {
            unencoded_byte_array_data_bytes: offset_index
                .and_then(|o| o.unencoded_byte_array_data_bytes())
                .filter(|u| u.len() == locations.len())
                .cloned(),
            page_locations: locations,
        },
        (Some(total), _) => {
            return Err(ParquetError::General(format!(
                "the pages of column `{}` hold {total} rows, the row group {rows}",
                column.column_path().string()
            )));
        }
        (None, Some(src)) if src.page_locations().len() == locations.len() => {
            for (new, old) in locations.iter_mut().zip(src.page_locations()) {
                new.first_row_index = old.first_row_index;
            }
            OffsetIndexMetaData {
                page_locations: locations,
                unencoded_byte_array_data_bytes: src.unencoded_byte_array_data_bytes().cloned(),
            }
        }
        _ => {
            return Err(ParquetError::General(format!(
                "where the pages of column `{}` start cannot be told without decoding",
                column.column_path().string()
            )));
        }
    };
    let metadata = column
        .clone()
        .into_builder()
        .set_compression(codec)
        .set_total_compressed_size(compressed)
        .set_total_uncompressed_size(uncompressed)
        .set_data_page_offset(data_offset)
        .set_dictionary_page_offset(dictionary_offset)
        .set_index_page_offset(None)
        .build()?;
    let close = ColumnCloseResult {
        bytes_written: bytes.len() as u64,
        rows_written: rows as u64,
        metadata,
        bloom_filter: None,
        column_index: None,
        offset_index: Some(offset_index),
    };
    Ok((bytes, close))
}

/// Compresses pages with one of the codecs a store writes, as parquet's own writer does
/// (same crates, same framing: LZ4 is LZ4_RAW, a bare block).
enum PageCompressor {
    None,
    Snappy(Box<snap::raw::Encoder>),
    Zstd(zstd::bulk::Compressor<'static>),
    Gzip(u32),
    Lz4Raw,
    Brotli(u32),
}

impl PageCompressor {
    fn new(codec: Compression) -> Result<Self> {
        Ok(match codec {
            Compression::UNCOMPRESSED => PageCompressor::None,
            Compression::SNAPPY => PageCompressor::Snappy(Box::new(snap::raw::Encoder::new())),
            Compression::ZSTD(level) => PageCompressor::Zstd(
                zstd::bulk::Compressor::new(level.compression_level())
                    .map_err(|e| ParquetError::External(Box::new(e)))?,
            ),
            Compression::GZIP(level) => PageCompressor::Gzip(level.compression_level()),
            Compression::LZ4_RAW => PageCompressor::Lz4Raw,
            Compression::BROTLI(level) => PageCompressor::Brotli(level.compression_level()),
            other => {
                return Err(ParquetError::NYI(format!("copying pages into {other:?}")));
            }
        })
    }

    fn compresses(&self) -> bool {
        !matches!(self, PageCompressor::None)
    }

    /// Appends `input`, compressed, to `out`.
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let external = |e: std::io::Error| ParquetError::External(Box::new(e));
        match self {
            PageCompressor::None => out.extend_from_slice(input),
            PageCompressor::Snappy(encoder) => {
                let at = out.len();
                out.resize(at + snap::raw::max_compress_len(input.len()), 0);
                let n = encoder
                    .compress(input, &mut out[at..])
                    .map_err(|e| ParquetError::External(Box::new(e)))?;
                out.truncate(at + n);
            }
            PageCompressor::Zstd(c) => {
                // Written after what `out` holds (a Vec itself would be written from 0).
                let at = out.len();
                out.reserve(zstd::zstd_safe::compress_bound(input.len()));
                let mut cursor = std::io::Cursor::new(out);
                cursor.set_position(at as u64);
                c.compress_to_buffer(input, &mut cursor).map_err(external)?;
            }
            PageCompressor::Gzip(level) => {
                let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::new(*level));
                e.write_all(input).map_err(external)?;
                e.try_finish().map_err(external)?;
            }
            PageCompressor::Lz4Raw => {
                let at = out.len();
                out.resize(
                    at + lz4_flex::block::get_maximum_output_size(input.len()),
                    0,
                );
                let n = lz4_flex::block::compress_into(input, &mut out[at..])
                    .map_err(|e| ParquetError::External(Box::new(e)))?;
                out.truncate(at + n);
            }
            PageCompressor::Brotli(level) => {
                // Parquet's brotli writer: 4 KiB buffer, window 22.
                let mut e = brotli::CompressorWriter::new(out, 4096, *level, 22);
                e.write_all(input).map_err(external)?;
                e.flush().map_err(external)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, ListArray};
    use arrow::datatypes::{DataType, Field, Int32Type, Schema};
    use arrow::record_batch::RecordBatch;
    use parquet::file::metadata::ParquetMetaDataReader;
    use parquet::file::properties::WriterProperties;
    use std::fs::File;
    use std::path::Path;

    fn span(offset: i64, size: i64, rows: Option<i64>) -> Span {
        Span {
            offset,
            size,
            rows,
            dictionary: false,
        }
    }

    fn index(locations: &[(i64, i32, i64)]) -> OffsetIndexMetaData {
        OffsetIndexMetaData {
            page_locations: locations
                .iter()
                .map(
                    |&(offset, compressed_page_size, first_row_index)| PageLocation {
                        offset,
                        compressed_page_size,
                        first_row_index,
                    },
                )
                .collect(),
            unencoded_byte_array_data_bytes: None,
        }
    }

    #[test]
    fn an_offset_index_is_kept_only_when_it_describes_the_walked_pages() {
        let dictionary = Span {
            dictionary: true,
            ..span(4, 20, None)
        };
        let flat = [dictionary, span(24, 100, Some(60)), span(124, 90, Some(40))];
        let good = index(&[(24, 100, 0), (124, 90, 60)]);
        let kept = checked_offset_index(Some(&good), &flat, 100).unwrap();
        assert_eq!(kept.page_locations(), good.page_locations());

        // Wrong first rows, offsets or sizes of a flat column: counted from the pages.
        for bad in [
            index(&[(24, 100, 0), (124, 90, 61)]),
            index(&[(24, 100, 0), (130, 90, 60)]),
            index(&[(24, 100, 0), (124, 1 << 30, 60)]),
            index(&[(24, 100, 0)]),
        ] {
            let rebuilt = checked_offset_index(Some(&bad), &flat, 100).unwrap();
            assert_eq!(rebuilt.page_locations(), good.page_locations());
        }
        // No index: counted.
        let counted = checked_offset_index(None, &flat, 100).unwrap();
        assert_eq!(counted.page_locations(), good.page_locations());
        // Pages whose rows do not add up to the row group's: nothing to trust.
        assert!(checked_offset_index(Some(&good), &flat, 101).is_none());

        // A nested column (v1 pages do not say their rows): the source's index, checked
        // for offsets, sizes and rising first rows below the row group's, or nothing.
        let nested = [span(24, 100, None), span(124, 90, None)];
        let good = index(&[(24, 100, 0), (124, 90, 70)]);
        assert!(checked_offset_index(Some(&good), &nested, 100).is_some());
        for bad in [
            index(&[(24, 100, 0), (124, 90, 100)]),
            index(&[(24, 100, 5), (124, 90, 70)]),
            index(&[(24, 100, 70), (124, 90, 0)]),
            index(&[(24, 100, 0), (124, 91, 70)]),
            index(&[(24, 100, 0), (123, 90, 70)]),
            index(&[(24, 100, 0)]),
        ] {
            assert!(checked_offset_index(Some(&bad), &nested, 100).is_none());
        }
        assert!(checked_offset_index(None, &nested, 100).is_none());

        // Unencoded sizes are kept only with one per page.
        let mut sized = good.clone();
        sized.unencoded_byte_array_data_bytes = Some(vec![1, 2, 3]);
        let kept = checked_offset_index(Some(&sized), &nested, 100).unwrap();
        assert_eq!(kept.unencoded_byte_array_data_bytes(), None);
    }

    /// A file of one row group of 1,000 rows (`id` and a list `tags`), pages of 100 rows.
    fn source(dir: &Path) -> RowGroupSource {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new_list("tags", Field::new_list_field(DataType::Int32, true), true),
        ]));
        let ids: Vec<i64> = (0..1000).collect();
        let tags = ListArray::from_iter_primitive::<Int32Type, _, _>(
            (0..1000i32).map(|i| Some(vec![Some(i); (i % 3) as usize])),
        );
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)) as ArrayRef,
                Arc::new(tags) as ArrayRef,
            ],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_data_page_row_count_limit(100)
            .set_write_batch_size(100)
            .build();
        let path = dir.join("src.parquet");
        let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), schema.clone(), Some(props))
            .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        RowGroupSource::open_all(&Input::Local(path), &schema, 1000)
            .unwrap()
            .remove(0)
    }

    /// `src` with column `c`'s offset index changed by `tamper`.
    fn tampered(
        src: &RowGroupSource,
        c: usize,
        tamper: impl Fn(&mut OffsetIndexMetaData),
    ) -> RowGroupSource {
        let meta = src.metadata.metadata().as_ref().clone();
        let mut offsets = meta.offset_index().unwrap().clone();
        tamper(&mut offsets[0][c]);
        let meta = meta.into_builder().set_offset_index(Some(offsets)).build();
        RowGroupSource {
            metadata: ArrowReaderMetadata::try_new(Arc::new(meta), ArrowReaderOptions::new())
                .unwrap(),
            ..src.clone()
        }
    }

    /// Copies `src` into a new file; whether it was copied, and the new file's offset
    /// index of row group 0 (if any).
    fn copy(src: &RowGroupSource) -> (bool, Option<Vec<OffsetIndexMetaData>>) {
        let mut out = SerializedFileWriter::new(
            Vec::new(),
            src.parquet_schema().root_schema_ptr(),
            Arc::new(WriterProperties::builder().build()),
        )
        .unwrap();
        let copied = copy_row_group(&mut out, src, Compression::SNAPPY, false).unwrap();
        let bytes = Bytes::from(out.into_inner().unwrap());
        let meta = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(&bytes)
            .unwrap();
        (copied, meta.offset_index().and_then(|o| o.first()).cloned())
    }

    fn first_rows(o: &OffsetIndexMetaData) -> Vec<i64> {
        o.page_locations()
            .iter()
            .map(|l| l.first_row_index)
            .collect()
    }

    #[test]
    fn a_copied_offset_index_is_checked_against_the_pages_walked() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(dir.path());
        let original = src.metadata.metadata().offset_index().unwrap()[0].clone();
        assert!(original[0].page_locations().len() > 1, "several pages");

        // As it is: copied, the first rows the source's.
        let (copied, index) = copy(&src);
        assert!(copied);
        let index = index.unwrap();
        for c in 0..2 {
            assert_eq!(first_rows(&index[c]), first_rows(&original[c]));
        }

        // A flat column's wrong first rows: counted again from its pages.
        let bad = tampered(&src, 0, |o| o.page_locations[1].first_row_index += 7);
        let (copied, index) = copy(&bad);
        assert!(copied);
        assert_eq!(first_rows(&index.unwrap()[0]), first_rows(&original[0]));

        // A flat column's index pointing at other bytes: rebuilt from the pages walked.
        let bad = tampered(&src, 0, |o| o.page_locations[1].offset += 3);
        let (copied, index) = copy(&bad);
        assert!(copied);
        let index = index.unwrap();
        let sizes = |o: &OffsetIndexMetaData| {
            o.page_locations()
                .iter()
                .map(|l| l.compressed_page_size)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(&index[0]), sizes(&original[0]));

        // A nested column's index that does not match its pages: where its pages start in
        // rows cannot be told, so nothing is copied (the caller decodes the row group).
        for tamper in [
            (|o: &mut OffsetIndexMetaData| o.page_locations[1].first_row_index = 999_999)
                as fn(&mut OffsetIndexMetaData),
            |o| o.page_locations[1].offset += 1,
            |o| {
                o.page_locations.pop();
            },
        ] {
            let bad = tampered(&src, 1, tamper);
            let (copied, index) = copy(&bad);
            assert!(!copied);
            assert!(index.is_none(), "nothing written");
        }
    }
}
