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

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
use parquet::file::metadata::{ColumnChunkMetaData, PageIndexPolicy};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::SchemaDescriptor;

use super::BatchIter;
use crate::error::FileError;

/// The `format` name of encoded Parquet row groups (`Store::takes_encoded`).
pub const FORMAT: &str = "parquet";

/// One row group of a source file, handed from a file home to a Parquet store.
#[derive(Clone)]
pub struct RowGroupSource {
    /// The source file, for messages.
    pub path: PathBuf,
    /// The open source file.
    pub file: Arc<File>,
    /// Its footer (with the page index, when the file has one) and Arrow schema.
    pub metadata: ArrowReaderMetadata,
    /// Which row group.
    pub index: usize,
    /// The entity's announced schema (equal to the file's, field for field).
    pub schema: SchemaRef,
    /// Rows per batch when the row group has to be decoded.
    pub batch_size: usize,
}

impl RowGroupSource {
    /// Opens `path` and returns its row groups, after checking that the file's Arrow
    /// schema is `schema`, field for field.
    pub fn open_all(
        path: &Path,
        schema: &SchemaRef,
        batch_size: usize,
    ) -> std::result::Result<Vec<Self>, FileError> {
        let file = File::open(path).map_err(|e| FileError::io("open", path, e))?;
        let metadata = ArrowReaderMetadata::load(
            &file,
            ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional),
        )
        .map_err(|e| FileError::read(path, e))?;
        if metadata.schema().fields() != schema.fields() {
            return Err(FileError::read(
                path,
                std::io::Error::other("its schema changed while it was being read"),
            ));
        }
        let file = Arc::new(file);
        Ok((0..metadata.metadata().num_row_groups())
            .map(|index| RowGroupSource {
                path: path.to_path_buf(),
                file: file.clone(),
                metadata: metadata.clone(),
                index,
                schema: schema.clone(),
                batch_size,
            })
            .collect())
    }

    /// Rows in the row group.
    pub fn rows(&self) -> usize {
        self.metadata.metadata().row_group(self.index).num_rows() as usize
    }

    /// Bytes a copy holds in memory at most: the largest column chunk, which is assembled
    /// in memory when it is recompressed (a page at a time is read).
    pub fn memory(&self) -> usize {
        self.metadata
            .metadata()
            .row_group(self.index)
            .columns()
            .iter()
            .map(|c| c.compressed_size().max(0) as usize)
            .max()
            .unwrap_or(0)
    }

    /// The source file's Parquet schema.
    pub fn parquet_schema(&self) -> &SchemaDescriptor {
        self.metadata.metadata().file_metadata().schema_descr()
    }

    /// Decodes the row group into batches (the fallback). Their fields are the entity's:
    /// [`RowGroupSource::open_all`] checked the file's schema.
    pub fn decode(&self) -> std::result::Result<BatchIter, FileError> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| FileError::io("open", &self.path, e))?;
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_row_groups(vec![self.index])
                .with_batch_size(self.batch_size.max(1))
                .build()
                .map_err(|e| FileError::read(&self.path, e))?;
        Ok(Box::new(reader))
    }
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

/// Appends `src` (which must be [`copyable`]) to `out` as one row group. The output file
/// must have been created with the source's Parquet schema. Column chunks already in
/// `codec` (with `recompress` false) whose source has an offset index are copied byte for
/// byte, after checking that every page decompresses; the others are decompressed and
/// compressed again page by page.
pub fn copy_row_group<W: Write + Send>(
    out: &mut SerializedFileWriter<W>,
    src: &RowGroupSource,
    codec: Compression,
    recompress: bool,
) -> Result<()> {
    let metadata = src.metadata.metadata();
    let row_group = metadata.row_group(src.index);
    let rows = row_group.num_rows() as usize;
    let mut writer = out.next_row_group()?;
    for (c, column) in row_group.columns().iter().enumerate() {
        let column_index = page_index(src, metadata.column_index(), c)
            .filter(|i| !matches!(i, ColumnIndexMetaData::NONE))
            .cloned();
        match offset_index(src, c) {
            Some(offsets) if !recompress && same_codec(column.compression(), codec) => {
                // The bytes are copied as they are, but every page is decompressed first,
                // so that a damaged source fails here as it would when decoded.
                let mut pages = SerializedPageReader::new(src.file.clone(), column, rows, None)?;
                while pages.get_next_page()?.is_some() {}
                let close = ColumnCloseResult {
                    bytes_written: column.compressed_size() as u64,
                    rows_written: rows as u64,
                    metadata: column.clone(),
                    bloom_filter: None,
                    column_index,
                    offset_index: Some(offsets.clone()),
                };
                writer.append_column(src.file.as_ref(), close)?;
            }
            offsets => {
                let (bytes, mut close) = transcode(&src.file, column, rows, offsets, codec)?;
                close.column_index = column_index;
                writer.append_column(&bytes, close)?;
            }
        }
    }
    writer.close()?;
    Ok(())
}

/// One column chunk's pages, decompressed and compressed again with `codec`, as the bytes
/// of the new chunk (offsets from 0) and what the row group writer needs to append it.
fn transcode(
    file: &Arc<File>,
    column: &ColumnChunkMetaData,
    rows: usize,
    offset_index: Option<&OffsetIndexMetaData>,
    codec: Compression,
) -> Result<(Bytes, ColumnCloseResult)> {
    let mut compressor = PageCompressor::new(codec)?;
    let mut pages = SerializedPageReader::new(file.clone(), column, rows, None)?;
    let mut sink = TrackedWrite::new(Vec::with_capacity(column.compressed_size() as usize));
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
    // The offset index: where pages start in rows, from the source's index, or counted
    // from the pages of a flat column (the caller never sends a nested one without).
    let offset_index = match offset_index {
        Some(src) if src.page_locations().len() == locations.len() => {
            for (new, old) in locations.iter_mut().zip(src.page_locations()) {
                new.first_row_index = old.first_row_index;
            }
            OffsetIndexMetaData {
                page_locations: locations,
                unencoded_byte_array_data_bytes: src.unencoded_byte_array_data_bytes().cloned(),
            }
        }
        None if first_row.is_some() => OffsetIndexMetaData {
            page_locations: locations,
            unencoded_byte_array_data_bytes: None,
        },
        _ => {
            return Err(ParquetError::General(format!(
                "where the pages of column `{}` start cannot be told without decoding",
                column.column_path()
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
