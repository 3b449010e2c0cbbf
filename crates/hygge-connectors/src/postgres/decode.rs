//! `COPY ... TO STDOUT (FORMAT binary)` bytes -> Arrow record batches.
//!
//! The mapping is documented in [`super::types`]. PostgreSQL sends one CopyData message per
//! row, so [`CopyDecoder::push`] is the hot path: it decodes straight into Arrow builders
//! and only buffers bytes when a row spans chunks.
//!
//! A batch ends at `batch_size` rows, or earlier once its rows reach [`MAX_BATCH_BYTES`]
//! (see [`CopyDecoder::bytes`]): Arrow's `i32` offsets cannot address more than 2 GiB in
//! one column of one batch, and arrow-rs panics when asked to.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::NullBufferBuilder;
use arrow::array::{
    Array, ArrayRef, BinaryBuilder, BooleanBuilder, Decimal128Builder, Decimal256Builder,
    FixedSizeBinaryBuilder, ListArray, PrimitiveBuilder, StringArray, StringBuilder,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, FieldRef, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, IntervalMonthDayNano, IntervalMonthDayNanoType, SchemaRef,
    Time64MicrosecondType, TimestampMicrosecondType, UInt32Type, i256,
};
use arrow::record_batch::RecordBatch;

use hygge_core::MAX_BATCH_BYTES;

use super::types::{PgColumn, PgScalar, PgShape, numeric_typmod, pg_shape};

/// A value or the stream could not be decoded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// Microseconds from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch).
pub(crate) const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;
/// Days from 1970-01-01 to 2000-01-01.
pub(crate) const PG_EPOCH_OFFSET_DAYS: i32 = 10_957;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Most rows the first builders are pre-sized for (after a full batch: `batch_size`).
const MAX_PREALLOC_ROWS: usize = 1 << 16;

/// Decodes a binary COPY stream, fed in chunks of any size, into batches of `batch_size` rows
/// (fewer when they reach [`MAX_BATCH_BYTES`]).
///
/// After an error the decoder holds a partial row: drop it (the stream is not resumable).
pub struct CopyDecoder {
    schema: SchemaRef,
    cols: Vec<Column>,
    batch_size: usize,
    /// Rows in the builders.
    rows: usize,
    /// The size of the rows in the builders (see [`CopyDecoder::bytes`]).
    bytes: usize,
    /// A batch ends once `bytes` reaches this.
    max_bytes: usize,
    /// The columns that render binary values as text (their text is counted in `bytes`).
    text_cols: Vec<usize>,
    /// Full batches not yet taken.
    ready: VecDeque<RecordBatch>,
    /// Bytes of an incomplete header or row.
    buf: Vec<u8>,
    /// `(start, len)` of each field of the row being decoded (reused).
    fields: Vec<(usize, i32)>,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Rows,
    Done,
}

struct Column {
    name: String,
    dec: Dec,
}

impl CopyDecoder {
    /// A decoder for a result with `cols`, read as `schema` (from `types::arrow_schema`).
    pub fn new(
        schema: SchemaRef,
        cols: &[PgColumn],
        batch_size: usize,
    ) -> Result<Self, DecodeError> {
        if schema.fields().len() != cols.len() {
            return Err(DecodeError(format!(
                "the schema has {} fields but the result has {} columns",
                schema.fields().len(),
                cols.len()
            )));
        }
        let batch_size = batch_size.max(1);
        let cap = batch_size.min(MAX_PREALLOC_ROWS);
        let cols = cols
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| {
                let shape = pg_shape(&c.ty).ok_or_else(|| {
                    DecodeError(format!(
                        "column `{}` has type {}, which cannot be read",
                        c.name,
                        c.ty.name()
                    ))
                })?;
                let dec = match shape {
                    PgShape::Scalar(s) => Dec::new(c, s, f.data_type(), cap)?,
                    PgShape::Array(s) => match f.data_type() {
                        DataType::List(item) => Dec::List(Box::new(ListDec {
                            field: item.clone(),
                            offsets: offsets_with_capacity(cap),
                            nulls: NullBufferBuilder::new(cap),
                            inner: Dec::new(c, s, item.data_type(), cap)?,
                        })),
                        other => return Err(mismatch(c, other)),
                    },
                };
                Ok(Column {
                    name: c.name.clone(),
                    dec,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let text_cols = (0..cols.len())
            .filter(|&i| cols[i].dec.renders_text())
            .collect();
        Ok(CopyDecoder {
            schema,
            fields: Vec::with_capacity(cols.len()),
            cols,
            batch_size,
            rows: 0,
            bytes: 0,
            max_bytes: MAX_BATCH_BYTES,
            text_cols,
            ready: VecDeque::new(),
            buf: Vec::new(),
            state: State::Header,
        })
    }

    /// Feeds the next chunk (a CopyData message: usually one row; a row may span chunks).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        let mut chunk = chunk;
        if !self.buf.is_empty() {
            // Complete the pending row with as few of the chunk's bytes as it needs (in
            // growing steps), then decode the rest of the chunk in place: a large chunk is
            // not copied whole behind a few leftover bytes.
            let mut buf = std::mem::take(&mut self.buf);
            let (mut off, mut step) = (0usize, 256usize);
            loop {
                let take = step.min(chunk.len() - off);
                buf.extend_from_slice(&chunk[off..off + take]);
                off += take;
                let used = self.consume(&buf)?;
                if used > 0 {
                    // What is left in `buf` came from `chunk[..off]`.
                    chunk = &chunk[off - (buf.len() - used)..];
                    buf.clear();
                    self.buf = buf;
                    break;
                }
                if off == chunk.len() {
                    self.buf = buf;
                    return Ok(());
                }
                step *= 2;
            }
        }
        let used = self.consume(chunk)?;
        if used < chunk.len() {
            self.buf.extend_from_slice(&chunk[used..]);
        }
        Ok(())
    }

    /// Ends batches at `max_bytes` instead of [`MAX_BATCH_BYTES`] (tests use a small cap to
    /// see batches end early without gigabytes of rows).
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes.max(1);
        self
    }

    /// The size of the batch being decoded: the binary COPY bytes of its rows, plus the
    /// text of values rendered as text (numeric, inet, timetz, macaddr: text that can be
    /// longer than the binary value, numeric's much longer). A row's size is known once
    /// it is parsed, so this costs an addition per row (and one per rendered value), never
    /// a look at the builders. It bounds the data of every column (a string or binary
    /// value's Arrow bytes are its COPY bytes; an array's elements are less than its COPY
    /// value), so when it reaches the cap and the batch ends, no column is more than one
    /// row past the cap: far from the 2 GiB `i32` offsets can address (a PostgreSQL value
    /// is at most 1 GB). It also bounds the batch's memory, however wide the rows.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// A full batch (`batch_size` rows, or fewer that reached the byte cap) if one is
    /// decoded (call until `None`).
    pub fn take_full(&mut self) -> Result<Option<RecordBatch>, DecodeError> {
        Ok(self.ready.pop_front())
    }

    /// At end of stream: checks the trailer was seen and returns the remaining rows (if any).
    ///
    /// Full batches not taken with [`take_full`](Self::take_full) are returned too (joined
    /// with the rest into one batch).
    pub fn finish(&mut self) -> Result<Option<RecordBatch>, DecodeError> {
        if self.state != State::Done {
            return Err(DecodeError(format!(
                "the COPY stream ended before its end-of-data marker ({} bytes of an incomplete {} left)",
                self.buf.len(),
                if self.state == State::Header {
                    "header"
                } else {
                    "row"
                }
            )));
        }
        if self.rows > 0 {
            let batch = self.flush(0)?;
            self.ready.push_back(batch);
        }
        match self.ready.len() {
            0 => Ok(None),
            1 => Ok(self.ready.pop_front()),
            _ => {
                let batches: Vec<_> = self.ready.drain(..).collect();
                arrow::compute::concat_batches(&self.schema, &batches)
                    .map(Some)
                    .map_err(|e| DecodeError(format!("joining batches: {e}")))
            }
        }
    }

    /// The number of decoded rows not yet returned in a batch.
    pub fn buffered_rows(&self) -> usize {
        self.rows + self.ready.iter().map(RecordBatch::num_rows).sum::<usize>()
    }

    /// Decodes what is complete in `data`; returns the bytes used.
    fn consume(&mut self, data: &[u8]) -> Result<usize, DecodeError> {
        let mut pos = 0;
        if self.state == State::Header {
            match parse_header(data)? {
                Some(n) => {
                    pos = n;
                    self.state = State::Rows;
                }
                None => return Ok(0),
            }
        }
        while pos < data.len() {
            if self.state == State::Done {
                return Err(DecodeError(format!(
                    "{} bytes after the COPY end-of-data marker",
                    data.len() - pos
                )));
            }
            match self.row(&data[pos..])? {
                Some(n) => pos += n,
                None => break,
            }
        }
        Ok(pos)
    }

    /// Decodes one row at the start of `data` if it is complete; returns its length.
    #[inline]
    fn row(&mut self, data: &[u8]) -> Result<Option<usize>, DecodeError> {
        if data.len() < 2 {
            return Ok(None);
        }
        let n = i16::from_be_bytes([data[0], data[1]]);
        if n == -1 {
            self.state = State::Done;
            return Ok(Some(2));
        }
        if n < 0 || n as usize != self.cols.len() {
            return Err(DecodeError(format!(
                "a COPY row has {n} fields, expected {}",
                self.cols.len()
            )));
        }
        // Pass 1: is the row complete? (Nothing is appended until it is.)
        self.fields.clear();
        let mut pos = 2usize;
        for _ in 0..n {
            let Some(len) = data.get(pos..pos + 4) else {
                return Ok(None);
            };
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            pos += 4;
            self.fields.push((pos, len));
            if len >= 0 {
                pos += len as usize;
                if pos > data.len() {
                    return Ok(None);
                }
            } else if len != -1 {
                return Err(DecodeError(format!("a COPY field has length {len}")));
            }
        }
        // Pass 2: decode.
        for (col, &(start, len)) in self.cols.iter_mut().zip(&self.fields) {
            let value = if len < 0 {
                None
            } else {
                Some(&data[start..start + len as usize])
            };
            col.dec.append(value, &col.name)?;
        }
        self.rows += 1;
        self.bytes += pos;
        for &i in &self.text_cols {
            self.bytes += self.cols[i].dec.take_rendered();
        }
        if self.rows == self.batch_size || self.bytes >= self.max_bytes {
            let batch = self.flush(self.batch_size)?;
            self.ready.push_back(batch);
        }
        Ok(Some(pos))
    }

    /// Finishes the builders into a batch; the next builders are sized for `cap` rows (a
    /// full batch is usually followed by another).
    fn flush(&mut self, cap: usize) -> Result<RecordBatch, DecodeError> {
        let arrays = self
            .cols
            .iter_mut()
            .map(|c| c.dec.finish(cap, &c.name))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| DecodeError(format!("building a batch: {e}")))
    }
}

fn parse_header(data: &[u8]) -> Result<Option<usize>, DecodeError> {
    if data.len() < 19 {
        if !SIGNATURE.starts_with(&data[..data.len().min(11)]) {
            return Err(DecodeError(
                "not a binary COPY stream (bad signature)".into(),
            ));
        }
        return Ok(None);
    }
    if &data[..11] != SIGNATURE {
        return Err(DecodeError(
            "not a binary COPY stream (bad signature)".into(),
        ));
    }
    let flags = u32::from_be_bytes([data[11], data[12], data[13], data[14]]);
    if flags & 0xffff_0000 != 0 {
        return Err(DecodeError(format!(
            "binary COPY header flags {flags:#x} are not supported (OIDs included?)"
        )));
    }
    let ext = u32::from_be_bytes([data[15], data[16], data[17], data[18]]) as usize;
    if data.len() < 19 + ext {
        return Ok(None);
    }
    Ok(Some(19 + ext))
}

fn mismatch(col: &PgColumn, dt: &DataType) -> DecodeError {
    DecodeError(format!(
        "column `{}` has type {} which cannot be read as {dt}",
        col.name,
        col.ty.name()
    ))
}

fn offsets_with_capacity(cap: usize) -> Vec<i32> {
    let mut v = Vec::with_capacity(cap + 1);
    v.push(0);
    v
}

// ---------------------------------------------------------------------------------------
// Columns
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum TextKind {
    /// numeric, printed exactly as PostgreSQL prints it.
    Numeric,
    TimeTz,
    Inet,
    MacAddr,
    MacAddr8,
}

enum Dec {
    Bool(BooleanBuilder),
    I16(PrimitiveBuilder<Int16Type>),
    I32(PrimitiveBuilder<Int32Type>),
    I64(PrimitiveBuilder<Int64Type>),
    U32(PrimitiveBuilder<UInt32Type>),
    F32(PrimitiveBuilder<Float32Type>),
    F64(PrimitiveBuilder<Float64Type>),
    Dec128 {
        b: Decimal128Builder,
        precision: u8,
        scale: i8,
        max: i128,
        unconstrained: bool,
    },
    Dec256 {
        b: Decimal256Builder,
        precision: u8,
        scale: i8,
        max: i256,
    },
    Text {
        b: StringBuilder,
        kind: TextKind,
        scratch: String,
        /// Bytes of text appended since [`Dec::take_rendered`] last took them.
        rendered: usize,
    },
    /// Text and json(b) as they come: UTF-8 is checked once per batch over the whole
    /// buffer (far cheaper than per value), when the batch is finished.
    Utf8 {
        b: BinaryBuilder,
        jsonb: bool,
    },
    Bytes(BinaryBuilder),
    Uuid(FixedSizeBinaryBuilder),
    Date(PrimitiveBuilder<Date32Type>),
    Time(PrimitiveBuilder<Time64MicrosecondType>),
    Timestamp(PrimitiveBuilder<TimestampMicrosecondType>),
    Interval(PrimitiveBuilder<IntervalMonthDayNanoType>),
    List(Box<ListDec>),
}

struct ListDec {
    field: FieldRef,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
    inner: Dec,
}

fn prim<T: ArrowPrimitiveType>(cap: usize, dt: &DataType) -> PrimitiveBuilder<T> {
    PrimitiveBuilder::<T>::with_capacity(cap).with_data_type(dt.clone())
}

/// Finishes a primitive builder and replaces it with an empty one of `cap` rows.
fn finish_prim<T: ArrowPrimitiveType>(b: &mut PrimitiveBuilder<T>, cap: usize) -> ArrayRef {
    let a = b.finish();
    *b = PrimitiveBuilder::<T>::with_capacity(cap).with_data_type(a.data_type().clone());
    Arc::new(a)
}

fn pow10_i256(p: u8) -> i256 {
    let mut v = i256::ONE;
    for _ in 0..p {
        v = v.wrapping_mul(i256::from_i128(10));
    }
    v
}

impl Dec {
    fn new(col: &PgColumn, s: PgScalar, dt: &DataType, cap: usize) -> Result<Dec, DecodeError> {
        use DataType as D;
        let text = |kind| Dec::Text {
            b: StringBuilder::with_capacity(cap, cap * 16),
            kind,
            scratch: String::new(),
            rendered: 0,
        };
        Ok(match (s, dt) {
            (PgScalar::Bool, D::Boolean) => Dec::Bool(BooleanBuilder::with_capacity(cap)),
            (PgScalar::Int2, D::Int16) => Dec::I16(prim(cap, dt)),
            (PgScalar::Int4, D::Int32) => Dec::I32(prim(cap, dt)),
            (PgScalar::Int8, D::Int64) => Dec::I64(prim(cap, dt)),
            (PgScalar::Oid, D::UInt32) => Dec::U32(prim(cap, dt)),
            (PgScalar::Float4, D::Float32) => Dec::F32(prim(cap, dt)),
            (PgScalar::Float8, D::Float64) => Dec::F64(prim(cap, dt)),
            (PgScalar::Numeric, D::Decimal128(p, s)) => Dec::Dec128 {
                b: Decimal128Builder::with_capacity(cap)
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| DecodeError(format!("column `{}`: {e}", col.name)))?,
                precision: *p,
                scale: *s,
                max: 10i128.pow(*p as u32) - 1,
                unconstrained: numeric_typmod(col.typmod).is_none(),
            },
            (PgScalar::Numeric, D::Decimal256(p, s)) => Dec::Dec256 {
                b: Decimal256Builder::with_capacity(cap)
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| DecodeError(format!("column `{}`: {e}", col.name)))?,
                precision: *p,
                scale: *s,
                max: pow10_i256(*p).wrapping_sub(i256::ONE),
            },
            (PgScalar::Numeric, D::Utf8) => text(TextKind::Numeric),
            (PgScalar::Text | PgScalar::Json, D::Utf8) => Dec::Utf8 {
                b: BinaryBuilder::with_capacity(cap, cap * 16),
                jsonb: false,
            },
            (PgScalar::Jsonb, D::Utf8) => Dec::Utf8 {
                b: BinaryBuilder::with_capacity(cap, cap * 16),
                jsonb: true,
            },
            (PgScalar::TimeTz, D::Utf8) => text(TextKind::TimeTz),
            (PgScalar::Inet | PgScalar::Cidr, D::Utf8) => text(TextKind::Inet),
            (PgScalar::MacAddr, D::Utf8) => text(TextKind::MacAddr),
            (PgScalar::MacAddr8, D::Utf8) => text(TextKind::MacAddr8),
            (PgScalar::Bytea, D::Binary) => Dec::Bytes(BinaryBuilder::with_capacity(cap, cap * 16)),
            (PgScalar::Uuid, D::FixedSizeBinary(16)) => {
                Dec::Uuid(FixedSizeBinaryBuilder::with_capacity(cap, 16))
            }
            (PgScalar::Date, D::Date32) => Dec::Date(prim(cap, dt)),
            (PgScalar::Time, D::Time64(arrow::datatypes::TimeUnit::Microsecond)) => {
                Dec::Time(prim(cap, dt))
            }
            (
                PgScalar::Timestamp | PgScalar::TimestampTz,
                D::Timestamp(arrow::datatypes::TimeUnit::Microsecond, _),
            ) => Dec::Timestamp(prim(cap, dt)),
            (PgScalar::Interval, D::Interval(arrow::datatypes::IntervalUnit::MonthDayNano)) => {
                Dec::Interval(prim(cap, dt))
            }
            _ => return Err(mismatch(col, dt)),
        })
    }

    /// Whether this column renders binary values as text (directly or in an array).
    fn renders_text(&self) -> bool {
        match self {
            Dec::Text { .. } => true,
            Dec::List(l) => l.inner.renders_text(),
            _ => false,
        }
    }

    /// The bytes of text rendered since the last call (0 for other columns).
    #[inline]
    fn take_rendered(&mut self) -> usize {
        match self {
            Dec::Text { rendered, .. } => std::mem::take(rendered),
            Dec::List(l) => l.inner.take_rendered(),
            _ => 0,
        }
    }

    fn append_null(&mut self) {
        match self {
            Dec::Bool(b) => b.append_null(),
            Dec::I16(b) => b.append_null(),
            Dec::I32(b) => b.append_null(),
            Dec::I64(b) => b.append_null(),
            Dec::U32(b) => b.append_null(),
            Dec::F32(b) => b.append_null(),
            Dec::F64(b) => b.append_null(),
            Dec::Dec128 { b, .. } => b.append_null(),
            Dec::Dec256 { b, .. } => b.append_null(),
            Dec::Text { b, .. } => b.append_null(),
            Dec::Bytes(b) | Dec::Utf8 { b, .. } => b.append_null(),
            Dec::Uuid(b) => b.append_null(),
            Dec::Date(b) => b.append_null(),
            Dec::Time(b) => b.append_null(),
            Dec::Timestamp(b) => b.append_null(),
            Dec::Interval(b) => b.append_null(),
            Dec::List(l) => {
                let last = *l.offsets.last().unwrap_or(&0);
                l.offsets.push(last);
                l.nulls.append_null();
            }
        }
    }

    /// Appends one value (`None` = NULL). `col` names the column in errors.
    #[inline]
    fn append(&mut self, value: Option<&[u8]>, col: &str) -> Result<(), DecodeError> {
        let Some(v) = value else {
            self.append_null();
            return Ok(());
        };
        match self {
            Dec::Bool(b) => b.append_value(fixed::<1>(v, col, "boolean")?[0] != 0),
            Dec::I16(b) => b.append_value(i16::from_be_bytes(fixed(v, col, "smallint")?)),
            Dec::I32(b) => b.append_value(i32::from_be_bytes(fixed(v, col, "integer")?)),
            Dec::I64(b) => b.append_value(i64::from_be_bytes(fixed(v, col, "bigint")?)),
            Dec::U32(b) => b.append_value(u32::from_be_bytes(fixed(v, col, "oid")?)),
            Dec::F32(b) => b.append_value(f32::from_be_bytes(fixed(v, col, "real")?)),
            Dec::F64(b) => b.append_value(f64::from_be_bytes(fixed(v, col, "double")?)),
            Dec::Dec128 {
                b,
                precision,
                scale,
                max,
                unconstrained,
            } => {
                let n = numeric_unscaled::<i128>(v, *scale)
                    .and_then(|n| {
                        if n.abs_le(*max) {
                            Ok(n)
                        } else {
                            Err(NumFail::Overflow)
                        }
                    })
                    .map_err(|f| numeric_error(f, v, col, *precision, *scale, *unconstrained))?;
                b.append_value(n);
            }
            Dec::Dec256 {
                b,
                precision,
                scale,
                max,
            } => {
                let n = numeric_unscaled::<i256>(v, *scale)
                    .and_then(|n| {
                        if n.abs_le(*max) {
                            Ok(n)
                        } else {
                            Err(NumFail::Overflow)
                        }
                    })
                    .map_err(|f| numeric_error(f, v, col, *precision, *scale, false))?;
                b.append_value(n);
            }
            Dec::Utf8 { b, jsonb: false } => b.append_value(v),
            Dec::Utf8 { b, jsonb: true } => match v.split_first() {
                Some((1, rest)) => b.append_value(rest),
                _ => return Err(bad(col, "jsonb", v)),
            },
            Dec::Text {
                b,
                kind,
                scratch,
                rendered,
            } => {
                scratch.clear();
                match kind {
                    TextKind::Numeric => {
                        numeric_text(v, scratch).ok_or_else(|| bad(col, "numeric", v))?;
                    }
                    TextKind::TimeTz => {
                        let a = fixed::<12>(v, col, "timetz")?;
                        let micros = be_i64(&a);
                        let zone = i32::from_be_bytes([a[8], a[9], a[10], a[11]]);
                        timetz_text(micros, zone, scratch);
                    }
                    TextKind::Inet => {
                        inet_text(v, scratch).ok_or_else(|| bad(col, "inet", v))?;
                    }
                    TextKind::MacAddr => mac_text(&fixed::<6>(v, col, "macaddr")?, scratch),
                    TextKind::MacAddr8 => mac_text(&fixed::<8>(v, col, "macaddr8")?, scratch),
                }
                // numeric's text can be far longer than its binary value (10^131071 is
                // 10 bytes): counted as the text it is.
                *rendered += scratch.len();
                b.append_value(&*scratch);
            }
            Dec::Bytes(b) => b.append_value(v),
            Dec::Uuid(b) => b
                .append_value(fixed::<16>(v, col, "uuid")?)
                .map_err(|e| DecodeError(format!("column `{col}`: {e}")))?,
            Dec::Date(b) => {
                let d = i32::from_be_bytes(fixed(v, col, "date")?);
                let d = match d {
                    i32::MAX | i32::MIN => d,
                    _ => d
                        .checked_add(PG_EPOCH_OFFSET_DAYS)
                        .ok_or_else(|| bad(col, "date", v))?,
                };
                b.append_value(d);
            }
            Dec::Time(b) => b.append_value(i64::from_be_bytes(fixed(v, col, "time")?)),
            Dec::Timestamp(b) => {
                let t = i64::from_be_bytes(fixed(v, col, "timestamp")?);
                let t = match t {
                    i64::MAX | i64::MIN => t,
                    _ => t
                        .checked_add(PG_EPOCH_OFFSET_MICROS)
                        .ok_or_else(|| bad(col, "timestamp", v))?,
                };
                b.append_value(t);
            }
            Dec::Interval(b) => {
                let a = fixed::<16>(v, col, "interval")?;
                let micros = be_i64(&a);
                let days = i32::from_be_bytes([a[8], a[9], a[10], a[11]]);
                let months = i32::from_be_bytes([a[12], a[13], a[14], a[15]]);
                let nanoseconds = micros.checked_mul(1000).ok_or_else(|| {
                    DecodeError(format!(
                        "column `{col}`: interval of {micros} microseconds (plus {days} days, {months} months) overflows Arrow's nanoseconds; cast it in a `query` (e.g. to text)"
                    ))
                })?;
                b.append_value(IntervalMonthDayNano {
                    months,
                    days,
                    nanoseconds,
                });
            }
            Dec::List(l) => l.append_array(v, col)?,
        }
        Ok(())
    }

    /// Finishes the column into an array and starts an empty one (pre-sized for `cap` rows).
    fn finish(&mut self, cap: usize, col: &str) -> Result<ArrayRef, DecodeError> {
        Ok(match self {
            Dec::Utf8 { b, .. } => {
                let bytes = b.values_slice().len();
                let raw = b.finish();
                *b =
                    BinaryBuilder::with_capacity(cap, if cap == 0 { 0 } else { bytes + bytes / 8 });
                let (offsets, values, nulls) = raw.into_parts();
                match StringArray::try_new(offsets, values, nulls) {
                    Ok(a) => Arc::new(a),
                    Err(e) => {
                        return Err(DecodeError(format!(
                            "column `{col}`: text that is not UTF-8 ({e}); connect with client_encoding UTF8"
                        )));
                    }
                }
            }
            Dec::Bool(b) => {
                let a = b.finish();
                *b = BooleanBuilder::with_capacity(cap);
                Arc::new(a)
            }
            Dec::I16(b) => finish_prim(b, cap),
            Dec::I32(b) => finish_prim(b, cap),
            Dec::I64(b) => finish_prim(b, cap),
            Dec::U32(b) => finish_prim(b, cap),
            Dec::F32(b) => finish_prim(b, cap),
            Dec::F64(b) => finish_prim(b, cap),
            Dec::Dec128 { b, .. } => finish_prim(b, cap),
            Dec::Dec256 { b, .. } => finish_prim(b, cap),
            Dec::Date(b) => finish_prim(b, cap),
            Dec::Time(b) => finish_prim(b, cap),
            Dec::Timestamp(b) => finish_prim(b, cap),
            Dec::Interval(b) => finish_prim(b, cap),
            Dec::Text { b, .. } => {
                let bytes = b.values_slice().len();
                let a = b.finish();
                *b =
                    StringBuilder::with_capacity(cap, if cap == 0 { 0 } else { bytes + bytes / 8 });
                Arc::new(a)
            }
            Dec::Bytes(b) => {
                let bytes = b.values_slice().len();
                let a = b.finish();
                *b =
                    BinaryBuilder::with_capacity(cap, if cap == 0 { 0 } else { bytes + bytes / 8 });
                Arc::new(a)
            }
            Dec::Uuid(b) => {
                let a = b.finish();
                *b = FixedSizeBinaryBuilder::with_capacity(cap, 16);
                Arc::new(a)
            }
            Dec::List(l) => {
                let values = l.inner.finish(cap, col)?;
                let offsets = std::mem::replace(&mut l.offsets, offsets_with_capacity(cap));
                let nulls = l.nulls.finish();
                // The offsets start at 0 and never decrease (each is the previous plus a length).
                let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
                Arc::new(ListArray::new(l.field.clone(), offsets, values, nulls))
            }
        })
    }
}

impl ListDec {
    fn append_array(&mut self, v: &[u8], col: &str) -> Result<(), DecodeError> {
        let header = |i: usize| -> Result<i32, DecodeError> {
            v.get(i..i + 4)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| bad(col, "array", v))
        };
        let ndim = header(0)?;
        let mut pos = 12;
        let count = match ndim {
            0 => 0usize,
            1 => {
                let n = header(12)?;
                pos = 20;
                usize::try_from(n).map_err(|_| bad(col, "array", v))?
            }
            n if n > 1 => {
                return Err(DecodeError(format!(
                    "column `{col}` holds a {n}-dimensional array; only one-dimensional arrays can be read: cast it in a `query` (e.g. `\"{col}\"::text`) or unnest it"
                )));
            }
            _ => return Err(bad(col, "array", v)),
        };
        for _ in 0..count {
            let len = header(pos)?;
            pos += 4;
            if len < 0 {
                self.inner.append_null();
            } else {
                let end = pos + len as usize;
                let elem = v.get(pos..end).ok_or_else(|| bad(col, "array", v))?;
                self.inner.append(Some(elem), col)?;
                pos = end;
            }
        }
        let last = *self.offsets.last().unwrap_or(&0);
        let next = i32::try_from(count)
            .ok()
            .and_then(|c| last.checked_add(c))
            .ok_or_else(|| {
                DecodeError(format!(
                    "column `{col}`: more than 2^31 array elements in one batch; use a smaller batch_size"
                ))
            })?;
        self.offsets.push(next);
        self.nulls.append_non_null();
        Ok(())
    }
}

#[inline]
fn fixed<const N: usize>(v: &[u8], col: &str, ty: &str) -> Result<[u8; N], DecodeError> {
    v.try_into().map_err(|_| {
        DecodeError(format!(
            "column `{col}`: a {ty} value has {} bytes, expected {N}",
            v.len()
        ))
    })
}

/// The big-endian i64 at the start of `a` (at least 8 bytes long).
#[inline]
fn be_i64(a: &[u8]) -> i64 {
    i64::from_be_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]])
}

fn bad(col: &str, ty: &str, v: &[u8]) -> DecodeError {
    let shown: Vec<String> = v.iter().take(32).map(|b| format!("{b:02x}")).collect();
    DecodeError(format!(
        "column `{col}`: malformed binary {ty} value ({} bytes: {}{})",
        v.len(),
        shown.join(""),
        if v.len() > 32 { "…" } else { "" }
    ))
}

// ---------------------------------------------------------------------------------------
// numeric
// ---------------------------------------------------------------------------------------

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;

/// Why a numeric does not fit a decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumFail {
    /// NaN or ±Infinity.
    Special,
    /// Digits below the scale would be lost.
    Inexact,
    /// More digits than the precision.
    Overflow,
    /// Not a binary numeric.
    Malformed,
}

/// An integer type a decimal is accumulated in.
pub(crate) trait DecimalAcc: Copy {
    const ZERO: Self;
    fn mul_add(self, m: u32, a: u32) -> Option<Self>;
    fn mul_pow10(self, e: u32) -> Option<Self>;
    fn negate(self) -> Self;
    fn abs_le(self, max: Self) -> bool;
}

const POW10_U32: [u32; 5] = [1, 10, 100, 1000, 10000];

impl DecimalAcc for i128 {
    const ZERO: Self = 0;
    #[inline]
    fn mul_add(self, m: u32, a: u32) -> Option<Self> {
        self.checked_mul(m as i128)?.checked_add(a as i128)
    }
    #[inline]
    fn mul_pow10(self, e: u32) -> Option<Self> {
        if self == 0 {
            return Some(0);
        }
        self.checked_mul(10i128.checked_pow(e)?)
    }
    #[inline]
    fn negate(self) -> Self {
        -self
    }
    #[inline]
    fn abs_le(self, max: Self) -> bool {
        self <= max && self >= -max
    }
}

impl DecimalAcc for i256 {
    const ZERO: Self = i256::ZERO;
    #[inline]
    fn mul_add(self, m: u32, a: u32) -> Option<Self> {
        self.checked_mul(i256::from_i128(m as i128))?
            .checked_add(i256::from_i128(a as i128))
    }
    #[inline]
    fn mul_pow10(self, e: u32) -> Option<Self> {
        if self == i256::ZERO {
            return Some(self);
        }
        self.checked_mul(i256::from_i128(10).checked_pow(e)?)
    }
    #[inline]
    fn negate(self) -> Self {
        self.wrapping_neg()
    }
    #[inline]
    fn abs_le(self, max: Self) -> bool {
        self <= max && self >= max.wrapping_neg()
    }
}

/// The header of a binary numeric: `(ndigits, weight, sign, dscale)`, checked against the
/// value's length.
fn numeric_header(v: &[u8]) -> Option<(usize, i16, u16, i16)> {
    if v.len() < 8 {
        return None;
    }
    let ndigits = i16::from_be_bytes([v[0], v[1]]);
    let weight = i16::from_be_bytes([v[2], v[3]]);
    let sign = u16::from_be_bytes([v[4], v[5]]);
    let dscale = i16::from_be_bytes([v[6], v[7]]);
    let ndigits = usize::try_from(ndigits).ok()?;
    if v.len() != 8 + 2 * ndigits {
        return None;
    }
    Some((ndigits, weight, sign, dscale))
}

#[inline]
fn digit(v: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([v[8 + 2 * i], v[9 + 2 * i]])
}

/// The unscaled integer of a binary numeric at `scale` (exact, or why not).
pub(crate) fn numeric_unscaled<T: DecimalAcc>(v: &[u8], scale: i8) -> Result<T, NumFail> {
    let (ndigits, weight, sign, _) = numeric_header(v).ok_or(NumFail::Malformed)?;
    let neg = match sign {
        NUMERIC_POS => false,
        NUMERIC_NEG => true,
        NUMERIC_NAN | NUMERIC_PINF | NUMERIC_NINF => return Err(NumFail::Special),
        _ => return Err(NumFail::Malformed),
    };
    let mut acc = T::ZERO;
    // The exponent of the units `acc` counts (None until a digit at or above 10^0).
    let mut unit: Option<i32> = None;
    for i in 0..ndigits {
        let d = digit(v, i);
        if d >= 10000 {
            return Err(NumFail::Malformed);
        }
        let e = 4 * (weight as i32 - i as i32) + scale as i32;
        if e >= 0 {
            acc = acc.mul_add(10000, d as u32).ok_or(NumFail::Overflow)?;
            unit = Some(e);
        } else {
            let r = (-e) as usize;
            if r >= 4 {
                if d != 0 {
                    return Err(NumFail::Inexact);
                }
                continue;
            }
            let p = POW10_U32[r];
            if !(d as u32).is_multiple_of(p) {
                return Err(NumFail::Inexact);
            }
            acc = acc
                .mul_add(POW10_U32[4 - r], d as u32 / p)
                .ok_or(NumFail::Overflow)?;
            unit = Some(0);
        }
    }
    if let Some(u) = unit
        && u > 0
    {
        acc = acc.mul_pow10(u as u32).ok_or(NumFail::Overflow)?;
    }
    Ok(if neg { acc.negate() } else { acc })
}

/// Writes a binary numeric as PostgreSQL prints it (`None` if malformed).
pub(crate) fn numeric_text(v: &[u8], out: &mut String) -> Option<()> {
    let (ndigits, weight, sign, dscale) = numeric_header(v)?;
    match sign {
        NUMERIC_NAN => {
            out.push_str("NaN");
            return Some(());
        }
        NUMERIC_PINF => {
            out.push_str("Infinity");
            return Some(());
        }
        NUMERIC_NINF => {
            out.push_str("-Infinity");
            return Some(());
        }
        NUMERIC_NEG => out.push('-'),
        NUMERIC_POS => {}
        _ => return None,
    }
    let get = |i: i32| -> u16 {
        if i >= 0 && (i as usize) < ndigits {
            digit(v, i as usize)
        } else {
            0
        }
    };
    let weight = weight as i32;
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            let d = get(i);
            if d >= 10000 {
                return None;
            }
            if i == 0 {
                let _ = write!(out, "{d}");
            } else {
                push4(out, d, 4);
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut left = dscale as usize;
        let mut i = weight + 1;
        while left > 0 {
            let d = get(i);
            if d >= 10000 {
                return None;
            }
            let n = left.min(4);
            push4(out, d, n);
            left -= n;
            i += 1;
        }
    }
    Some(())
}

/// The first `n` of the 4 zero-padded decimal digits of `d`.
fn push4(out: &mut String, d: u16, n: usize) {
    let b = [
        b'0' + (d / 1000) as u8,
        b'0' + (d / 100 % 10) as u8,
        b'0' + (d / 10 % 10) as u8,
        b'0' + (d % 10) as u8,
    ];
    for &c in &b[..n] {
        out.push(c as char);
    }
}

fn numeric_error(
    fail: NumFail,
    v: &[u8],
    col: &str,
    precision: u8,
    scale: i8,
    unconstrained: bool,
) -> DecodeError {
    let mut text = String::new();
    if numeric_text(v, &mut text).is_none() || fail == NumFail::Malformed {
        return bad(col, "numeric", v);
    }
    let why = match fail {
        NumFail::Special => "Arrow decimals have no NaN or infinity".to_string(),
        NumFail::Inexact => format!("it has more than {scale} fractional digits"),
        _ => format!(
            "it has more than {} integer digits",
            precision as i32 - scale as i32
        ),
    };
    let hint = if unconstrained {
        format!(
            "set `unconstrained_numeric: text` to read it as exact text, or cast it in a `query` (e.g. `\"{col}\"::numeric(38,12)` or `\"{col}\"::text`)"
        )
    } else {
        format!("cast it in a `query` (e.g. `\"{col}\"::text`)")
    };
    DecodeError(format!(
        "column `{col}`: numeric value {text} does not fit decimal({precision}, {scale}) exactly ({why}); it is never rounded: {hint}"
    ))
}

// ---------------------------------------------------------------------------------------
// Types read as text
// ---------------------------------------------------------------------------------------

/// `HH:MM:SS[.ffffff]±HH:MM[:SS]` (`zone` is PostgreSQL's: seconds *west* of UTC).
fn timetz_text(micros: i64, zone: i32, out: &mut String) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        let mut f = format!("{frac:06}");
        while f.ends_with('0') {
            f.pop();
        }
        out.push('.');
        out.push_str(&f);
    }
    let east = -(zone as i64);
    let abs = east.abs();
    let _ = write!(
        out,
        "{}{:02}:{:02}",
        if east < 0 { '-' } else { '+' },
        abs / 3600,
        abs / 60 % 60
    );
    if abs % 60 != 0 {
        let _ = write!(out, ":{:02}", abs % 60);
    }
}

fn mac_text(b: &[u8], out: &mut String) {
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{x:02x}");
    }
}

/// inet/cidr as PostgreSQL prints them (`network_out`).
fn inet_text(v: &[u8], out: &mut String) -> Option<()> {
    if v.len() < 4 {
        return None;
    }
    let (family, bits, is_cidr, nb) = (v[0], v[1], v[2] != 0, v[3] as usize);
    let addr = v.get(4..4 + nb)?;
    if v.len() != 4 + nb {
        return None;
    }
    let max = match (family, nb) {
        (2, 4) => {
            let _ = write!(out, "{}.{}.{}.{}", addr[0], addr[1], addr[2], addr[3]);
            32
        }
        (3, 16) => {
            ipv6_text(addr, out);
            128
        }
        _ => return None,
    };
    if bits > max {
        return None;
    }
    if bits != max || is_cidr {
        let _ = write!(out, "/{bits}");
    }
    Some(())
}

/// An IPv6 address as PostgreSQL's `inet_net_ntop_ipv6` prints it.
fn ipv6_text(a: &[u8], out: &mut String) {
    let mut w = [0u16; 8];
    for (i, x) in w.iter_mut().enumerate() {
        *x = u16::from_be_bytes([a[2 * i], a[2 * i + 1]]);
    }
    // The first longest run of (at least two) zero words.
    let (mut best, mut best_len) = (usize::MAX, 0usize);
    let mut i = 0;
    while i < 8 {
        if w[i] == 0 {
            let start = i;
            while i < 8 && w[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best = usize::MAX;
    }
    for i in 0..8 {
        if best != usize::MAX && i >= best && i < best + best_len {
            if i == best {
                out.push(':');
            }
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        // An encapsulated IPv4 address (::a.b.c.d or ::ffff:a.b.c.d).
        if i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)) {
            let _ = write!(out, "{}.{}.{}.{}", a[12], a[13], a[14], a[15]);
            break;
        }
        let _ = write!(out, "{:x}", w[i]);
    }
    if best != usize::MAX && best + best_len == 8 {
        out.push(':');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary numeric from its parts.
    fn num(weight: i16, sign: u16, dscale: i16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        v.extend_from_slice(&weight.to_be_bytes());
        v.extend_from_slice(&sign.to_be_bytes());
        v.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    fn text(v: &[u8]) -> String {
        let mut s = String::new();
        numeric_text(v, &mut s).unwrap();
        s
    }

    #[test]
    fn numeric_to_decimal() {
        // 0
        assert_eq!(numeric_unscaled::<i128>(&num(0, 0, 0, &[]), 4), Ok(0));
        // 0.0001 at scale 4 and 10
        assert_eq!(numeric_unscaled::<i128>(&num(-1, 0, 4, &[1]), 4), Ok(1));
        assert_eq!(
            numeric_unscaled::<i128>(&num(-1, 0, 4, &[1]), 10),
            Ok(1_000_000)
        );
        // 1e-10 at scale 10: weight -3, digit 0100 (0.0000 0000 0100)
        assert_eq!(numeric_unscaled::<i128>(&num(-3, 0, 10, &[100]), 10), Ok(1));
        // 1e-10 at scale 9: inexact
        assert_eq!(
            numeric_unscaled::<i128>(&num(-3, 0, 10, &[100]), 9),
            Err(NumFail::Inexact)
        );
        // 10000 (weight 1, digit 1)
        assert_eq!(
            numeric_unscaled::<i128>(&num(1, 0, 0, &[1]), 2),
            Ok(1_000_000)
        );
        // -1
        assert_eq!(
            numeric_unscaled::<i128>(&num(0, NUMERIC_NEG, 0, &[1]), 0),
            Ok(-1)
        );
        // 12345.678 at scale 3: weight 1, digits 1 2345 6780
        assert_eq!(
            numeric_unscaled::<i128>(&num(1, 0, 3, &[1, 2345, 6780]), 3),
            Ok(12_345_678)
        );
        // negative scale: 12300 at scale -2
        assert_eq!(
            numeric_unscaled::<i128>(&num(1, 0, 0, &[1, 2300]), -2),
            Ok(123)
        );
        // 38 nines at scale 10
        let max = num(
            6,
            0,
            10,
            &[9999, 9999, 9999, 9999, 9999, 9999, 9999, 9999, 9999, 9900],
        );
        assert_eq!(numeric_unscaled::<i128>(&max, 10), Ok(10i128.pow(38) - 1));
        assert_eq!(text(&max), "9999999999999999999999999999.9999999999");
        // too large for i128
        let huge = num(10, 0, 0, &[1]);
        assert_eq!(numeric_unscaled::<i128>(&huge, 0), Err(NumFail::Overflow));
        assert_eq!(
            numeric_unscaled::<i256>(&huge, 0),
            Ok(i256::from_i128(10).checked_pow(40).unwrap())
        );
        assert_eq!(
            numeric_unscaled::<i128>(&num(0, NUMERIC_NAN, 0, &[]), 0),
            Err(NumFail::Special)
        );
    }

    #[test]
    fn numeric_to_text() {
        assert_eq!(text(&num(0, 0, 0, &[])), "0");
        assert_eq!(text(&num(0, 0, 3, &[])), "0.000");
        assert_eq!(text(&num(-1, 0, 4, &[1])), "0.0001");
        assert_eq!(text(&num(-3, 0, 10, &[100])), "0.0000000001");
        assert_eq!(text(&num(1, 0, 0, &[1])), "10000");
        assert_eq!(text(&num(1, NUMERIC_NEG, 2, &[1, 2345, 6700])), "-12345.67");
        assert_eq!(text(&num(0, 0, 6, &[1, 5000])), "1.500000");
        assert_eq!(text(&num(0, NUMERIC_NAN, 0, &[])), "NaN");
        assert_eq!(text(&num(0, NUMERIC_PINF, 0, &[])), "Infinity");
        assert_eq!(text(&num(0, NUMERIC_NINF, 0, &[])), "-Infinity");
    }

    #[test]
    fn ipv6_like_postgres() {
        let t = |a: [u16; 8]| {
            let mut b = Vec::new();
            for w in a {
                b.extend_from_slice(&w.to_be_bytes());
            }
            let mut s = String::new();
            ipv6_text(&b, &mut s);
            s
        };
        assert_eq!(t([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), "2001:db8::1");
        assert_eq!(t([0; 8]), "::");
        assert_eq!(t([0, 0, 0, 0, 0, 0, 0, 1]), "::1");
        assert_eq!(t([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]), "::ffff:1.2.3.4");
        assert_eq!(t([0, 0, 0, 0, 0, 0, 0x0102, 0x0304]), "::1.2.3.4");
        assert_eq!(t([1, 0, 2, 0, 0, 3, 0, 0]), "1:0:2::3:0:0");
        assert_eq!(t([1, 0, 0, 2, 0, 0, 3, 4]), "1::2:0:0:3:4");
        assert_eq!(t([1, 2, 3, 4, 5, 6, 7, 0]), "1:2:3:4:5:6:7:0");
        assert_eq!(t([1, 2, 3, 4, 5, 6, 0, 0]), "1:2:3:4:5:6::");
    }

    #[test]
    fn timetz() {
        let mut s = String::new();
        timetz_text(49_500_123_456, -7200, &mut s);
        assert_eq!(s, "13:45:00.123456+02:00");
        s.clear();
        timetz_text(49_500_100_000, 19800 + 1800, &mut s);
        assert_eq!(s, "13:45:00.1-06:00");
        s.clear();
        timetz_text(0, -(5 * 3600 + 30 * 60 + 15), &mut s);
        assert_eq!(s, "00:00:00+05:30:15");
    }
}
