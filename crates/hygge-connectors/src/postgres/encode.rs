//! Arrow record batches -> `COPY ... FROM STDIN (FORMAT binary)` bytes.
//!
//! The mapping is documented in [`super::types`]. Each batch is downcast once per column
//! into a [`Col`] writer; rows are then written field by field into one `BytesMut`
//! reserved up front.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, BooleanArray, FixedSizeBinaryArray,
    LargeBinaryArray, LargeStringArray, StringArray, StringViewArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Decimal32Type, Decimal64Type,
    Decimal128Type, Decimal256Type, DurationMicrosecondType, DurationMillisecondType,
    DurationNanosecondType, DurationSecondType, Field, Float16Type, Float32Type, Float64Type,
    Int8Type, Int16Type, Int32Type, Int64Type, IntervalDayTime, IntervalDayTimeType,
    IntervalMonthDayNano, IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType, Schema,
    Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type, i256,
};
use arrow::record_batch::RecordBatch;
use bytes::{BufMut, BytesMut};

use super::decode::{PG_EPOCH_OFFSET_DAYS, PG_EPOCH_OFFSET_MICROS};
use super::types::{PgTarget, TypeError, field_target};

/// A value could not be encoded (the message names the column, the row and the value).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct EncodeError(pub String);

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// PostgreSQL's timestamp range, in microseconds since 2000-01-01: [MIN, END).
const PG_MIN_TIMESTAMP: i64 = -211_813_488_000_000_000;
const PG_END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;
/// PostgreSQL's date range, in days since 2000-01-01: [MIN, END).
const PG_MIN_DATE: i32 = -2_451_545;
const PG_END_DATE: i32 = 2_147_483_494 - 2_451_545;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Encodes batches of one schema as binary COPY data for a table created with
/// `types::pg_column_type` of each field (in schema order).
pub struct CopyEncoder {
    cols: Vec<ColPlan>,
    /// Rows encoded so far (error messages count rows from 1 across batches).
    rows_done: u64,
    /// Bytes per row of the last batch (to reserve the next one).
    bytes_per_row: usize,
}

struct ColPlan {
    name: String,
    /// The field's type as the schema gives it.
    dt: DataType,
    /// The type written (dictionaries replaced by their values), if it differs.
    cast_to: Option<DataType>,
    target: PgTarget,
}

/// `dt` with every dictionary replaced by its value type.
fn undictionary(dt: &DataType) -> DataType {
    let field = |f: &Arc<Field>| {
        Arc::new(
            Field::new(f.name(), undictionary(f.data_type()), f.is_nullable())
                .with_metadata(f.metadata().clone()),
        )
    };
    match dt {
        DataType::Dictionary(_, v) => undictionary(v),
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        other => other.clone(),
    }
}

impl CopyEncoder {
    /// Checks every field can be written.
    pub fn new(schema: &Schema) -> Result<Self, TypeError> {
        let cols = schema
            .fields()
            .iter()
            .map(|f| {
                let (target, _) = field_target(f)?;
                let plain = undictionary(f.data_type());
                Ok(ColPlan {
                    name: f.name().clone(),
                    dt: f.data_type().clone(),
                    cast_to: (&plain != f.data_type()).then_some(plain),
                    target,
                })
            })
            .collect::<Result<Vec<_>, TypeError>>()?;
        Ok(CopyEncoder {
            cols,
            rows_done: 0,
            bytes_per_row: 0,
        })
    }

    /// The 19-byte file header (signature, flags, extension length).
    pub fn header(&self, out: &mut BytesMut) {
        out.reserve(19);
        out.put_slice(SIGNATURE);
        out.put_i32(0);
        out.put_i32(0);
    }

    /// Appends every row of `batch`.
    pub fn encode(&mut self, batch: &RecordBatch, out: &mut BytesMut) -> Result<(), EncodeError> {
        if batch.num_columns() != self.cols.len() {
            return Err(EncodeError(format!(
                "a batch has {} columns, the table {}",
                batch.num_columns(),
                self.cols.len()
            )));
        }
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.cols.len());
        for (plan, array) in self.cols.iter().zip(batch.columns()) {
            if array.data_type() != &plan.dt {
                return Err(EncodeError(format!(
                    "column `{}` has type {} in a batch but {} in the schema",
                    plan.name,
                    array.data_type(),
                    plan.dt
                )));
            }
            arrays.push(match &plan.cast_to {
                Some(dt) => arrow::compute::cast(array, dt).map_err(|e| {
                    EncodeError(format!(
                        "column `{}`: decoding its dictionary: {e}",
                        plan.name
                    ))
                })?,
                None => array.clone(),
            });
        }
        let writers = self
            .cols
            .iter()
            .zip(&arrays)
            .map(|(plan, a)| Col::new(a.as_ref(), &plan.name, plan.target))
            .collect::<Result<Vec<_>, _>>()?;

        let estimate = if self.bytes_per_row > 0 {
            self.bytes_per_row
        } else {
            2 + writers.iter().map(|w| 4 + w.estimate(rows)).sum::<usize>()
        };
        out.reserve(estimate.saturating_mul(rows).saturating_add(64));
        let start = out.len();
        let ncols = self.cols.len() as i16;
        for i in 0..rows {
            out.put_i16(ncols);
            let row = self.rows_done + i as u64 + 1;
            for w in &writers {
                w.write(i, row, out)?;
            }
        }
        self.rows_done += rows as u64;
        self.bytes_per_row = (out.len() - start) / rows + 1;
        Ok(())
    }

    /// The trailer (`-1` as int16).
    pub fn trailer(&self, out: &mut BytesMut) {
        out.put_i16(-1);
    }
}

// ---------------------------------------------------------------------------------------
// Column writers
// ---------------------------------------------------------------------------------------

enum Offsets<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
    Fixed(usize),
}

impl Offsets<'_> {
    #[inline]
    fn range(&self, i: usize) -> (usize, usize) {
        match self {
            Offsets::I32(o) => (o[i] as usize, o[i + 1] as usize),
            Offsets::I64(o) => (o[i] as usize, o[i + 1] as usize),
            Offsets::Fixed(n) => (i * n, (i + 1) * n),
        }
    }
}

enum W<'a> {
    Null,
    Bool(&'a BooleanArray),
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
    U64(&'a [u64]),
    F16(&'a [<Float16Type as ArrowPrimitiveType>::Native]),
    F32(&'a [f32]),
    F64(&'a [f64]),
    Dec32(&'a [i32], u8),
    Dec64(&'a [i64], u8),
    Dec128(&'a [i128], u8),
    Dec256(&'a [i256], u8),
    /// The flag: jsonb (a version byte before the text).
    Str(&'a StringArray, bool),
    LargeStr(&'a LargeStringArray, bool),
    StrView(&'a StringViewArray, bool),
    Bin(&'a BinaryArray),
    LargeBin(&'a LargeBinaryArray),
    BinView(&'a BinaryViewArray),
    FixedBin(&'a FixedSizeBinaryArray),
    Date32(&'a [i32]),
    Date64(&'a [i64]),
    /// Time32 values and their unit.
    Time32(&'a [i32], TimeUnit),
    Time64(&'a [i64], TimeUnit),
    Timestamp(&'a [i64], TimeUnit),
    Duration(&'a [i64], TimeUnit),
    YearMonth(&'a [i32]),
    DayTime(&'a [IntervalDayTime]),
    MonthDayNano(&'a [IntervalMonthDayNano]),
    List {
        offsets: Offsets<'a>,
        child: Box<Col<'a>>,
        oid: u32,
    },
}

/// One column of one batch, ready to write.
struct Col<'a> {
    name: &'a str,
    /// The array's length.
    len: usize,
    nulls: Option<&'a NullBuffer>,
    w: W<'a>,
}

fn unit_name(u: TimeUnit) -> &'static str {
    match u {
        TimeUnit::Second => "seconds",
        TimeUnit::Millisecond => "milliseconds",
        TimeUnit::Microsecond => "microseconds",
        TimeUnit::Nanosecond => "nanoseconds",
    }
}

impl<'a> Col<'a> {
    fn new(a: &'a dyn Array, name: &'a str, target: PgTarget) -> Result<Col<'a>, EncodeError> {
        use DataType as D;
        let jsonb = target == PgTarget::Jsonb;
        let w = match a.data_type() {
            D::Null => W::Null,
            D::Boolean => W::Bool(a.as_boolean()),
            D::Int8 => W::I8(a.as_primitive::<Int8Type>().values()),
            D::Int16 => W::I16(a.as_primitive::<Int16Type>().values()),
            D::Int32 => W::I32(a.as_primitive::<Int32Type>().values()),
            D::Int64 => W::I64(a.as_primitive::<Int64Type>().values()),
            D::UInt8 => W::U8(a.as_primitive::<UInt8Type>().values()),
            D::UInt16 => W::U16(a.as_primitive::<UInt16Type>().values()),
            D::UInt32 => W::U32(a.as_primitive::<UInt32Type>().values()),
            D::UInt64 => W::U64(a.as_primitive::<UInt64Type>().values()),
            D::Float16 => W::F16(a.as_primitive::<Float16Type>().values()),
            D::Float32 => W::F32(a.as_primitive::<Float32Type>().values()),
            D::Float64 => W::F64(a.as_primitive::<Float64Type>().values()),
            D::Decimal32(_, s) => W::Dec32(a.as_primitive::<Decimal32Type>().values(), *s as u8),
            D::Decimal64(_, s) => W::Dec64(a.as_primitive::<Decimal64Type>().values(), *s as u8),
            D::Decimal128(_, s) => W::Dec128(a.as_primitive::<Decimal128Type>().values(), *s as u8),
            D::Decimal256(_, s) => W::Dec256(a.as_primitive::<Decimal256Type>().values(), *s as u8),
            D::Utf8 => W::Str(a.as_string::<i32>(), jsonb),
            D::LargeUtf8 => W::LargeStr(a.as_string::<i64>(), jsonb),
            D::Utf8View => W::StrView(a.as_string_view(), jsonb),
            D::Binary => W::Bin(a.as_binary::<i32>()),
            D::LargeBinary => W::LargeBin(a.as_binary::<i64>()),
            D::BinaryView => W::BinView(a.as_binary_view()),
            D::FixedSizeBinary(_) => W::FixedBin(a.as_fixed_size_binary()),
            D::Date32 => W::Date32(a.as_primitive::<Date32Type>().values()),
            D::Date64 => W::Date64(a.as_primitive::<Date64Type>().values()),
            D::Time32(TimeUnit::Second) => W::Time32(
                a.as_primitive::<Time32SecondType>().values(),
                TimeUnit::Second,
            ),
            D::Time32(TimeUnit::Millisecond) => W::Time32(
                a.as_primitive::<Time32MillisecondType>().values(),
                TimeUnit::Millisecond,
            ),
            D::Time64(TimeUnit::Microsecond) => W::Time64(
                a.as_primitive::<Time64MicrosecondType>().values(),
                TimeUnit::Microsecond,
            ),
            D::Time64(TimeUnit::Nanosecond) => W::Time64(
                a.as_primitive::<Time64NanosecondType>().values(),
                TimeUnit::Nanosecond,
            ),
            D::Timestamp(u, _) => W::Timestamp(
                match u {
                    TimeUnit::Second => a.as_primitive::<TimestampSecondType>().values(),
                    TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().values(),
                    TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().values(),
                    TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().values(),
                },
                *u,
            ),
            D::Duration(u) => W::Duration(
                match u {
                    TimeUnit::Second => a.as_primitive::<DurationSecondType>().values(),
                    TimeUnit::Millisecond => a.as_primitive::<DurationMillisecondType>().values(),
                    TimeUnit::Microsecond => a.as_primitive::<DurationMicrosecondType>().values(),
                    TimeUnit::Nanosecond => a.as_primitive::<DurationNanosecondType>().values(),
                },
                *u,
            ),
            D::Interval(IntervalUnit::YearMonth) => {
                W::YearMonth(a.as_primitive::<IntervalYearMonthType>().values())
            }
            D::Interval(IntervalUnit::DayTime) => {
                W::DayTime(a.as_primitive::<IntervalDayTimeType>().values())
            }
            D::Interval(IntervalUnit::MonthDayNano) => {
                W::MonthDayNano(a.as_primitive::<IntervalMonthDayNanoType>().values())
            }
            D::List(_) => {
                let l = a.as_list::<i32>();
                W::List {
                    offsets: Offsets::I32(l.value_offsets()),
                    child: Box::new(Col::new(l.values().as_ref(), name, target)?),
                    oid: target.oid(),
                }
            }
            D::LargeList(_) => {
                let l = a.as_list::<i64>();
                W::List {
                    offsets: Offsets::I64(l.value_offsets()),
                    child: Box::new(Col::new(l.values().as_ref(), name, target)?),
                    oid: target.oid(),
                }
            }
            D::FixedSizeList(_, n) => {
                let l = a.as_fixed_size_list();
                W::List {
                    offsets: Offsets::Fixed(*n as usize),
                    child: Box::new(Col::new(l.values().as_ref(), name, target)?),
                    oid: target.oid(),
                }
            }
            other => {
                return Err(EncodeError(format!(
                    "column `{name}` has type {other}, which the postgres store cannot write"
                )));
            }
        };
        if matches!(w, W::List { ref child, .. } if matches!(child.w, W::List { .. })) {
            return Err(EncodeError(format!(
                "column `{name}` is a nested list, which the postgres store cannot write"
            )));
        }
        Ok(Col {
            name,
            len: a.len(),
            nulls: a.nulls(),
            w,
        })
    }

    /// A guess of the bytes per value (without the length word).
    fn estimate(&self, rows: usize) -> usize {
        let var = |bytes: usize| bytes / rows.max(1) + 1;
        match &self.w {
            W::Null => 0,
            W::Bool(_) => 1,
            W::I8(_) | W::U8(_) | W::I16(_) => 2,
            W::I32(_) | W::U16(_) | W::F16(_) | W::F32(_) | W::Date32(_) | W::Date64(_) => 4,
            W::I64(_)
            | W::U32(_)
            | W::F64(_)
            | W::Time32(..)
            | W::Time64(..)
            | W::Timestamp(..) => 8,
            W::U64(_) | W::Dec32(..) | W::Dec64(..) => 16,
            W::Dec128(..) => 28,
            W::Dec256(..) => 48,
            W::Duration(..) | W::YearMonth(_) | W::DayTime(_) | W::MonthDayNano(_) => 16,
            W::Str(a, _) => var(a.values().len()),
            W::LargeStr(a, _) => var(a.values().len()),
            W::Bin(a) => var(a.values().len()),
            W::LargeBin(a) => var(a.values().len()),
            W::StrView(a, _) => var(a.get_buffer_memory_size()),
            W::BinView(a) => var(a.get_buffer_memory_size()),
            W::FixedBin(a) => a.value_length() as usize,
            W::List { child, .. } => {
                let per_row = child.len / rows.max(1) + 1;
                20 + per_row * (4 + child.estimate(child.len))
            }
        }
    }

    #[inline]
    fn is_null(&self, i: usize) -> bool {
        matches!(self.w, W::Null) || self.nulls.is_some_and(|n| n.is_null(i))
    }

    fn err(&self, row: u64, what: String) -> EncodeError {
        EncodeError(format!("column `{}`, row {row}: {what}", self.name))
    }

    /// Writes value `i` (length word included); `row` (from 1) is for error messages.
    #[inline]
    fn write(&self, i: usize, row: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.is_null(i) {
            out.put_i32(-1);
            return Ok(());
        }
        match &self.w {
            W::Null => out.put_i32(-1),
            W::Bool(a) => {
                put_val(out, [a.value(i) as u8]);
            }
            W::I8(v) => {
                put_val(out, (v[i] as i16).to_be_bytes());
            }
            W::U8(v) => {
                put_val(out, (v[i] as i16).to_be_bytes());
            }
            W::I16(v) => {
                put_val(out, v[i].to_be_bytes());
            }
            W::I32(v) => {
                put_val(out, v[i].to_be_bytes());
            }
            W::U16(v) => {
                put_val(out, (v[i] as i32).to_be_bytes());
            }
            W::I64(v) => {
                put_val(out, v[i].to_be_bytes());
            }
            W::U32(v) => {
                put_val(out, (v[i] as i64).to_be_bytes());
            }
            W::U64(v) => put_numeric(out, false, v[i], 0),
            W::F16(v) => {
                put_val(out, v[i].to_f32().to_be_bytes());
            }
            W::F32(v) => {
                put_val(out, v[i].to_be_bytes());
            }
            W::F64(v) => {
                put_val(out, v[i].to_be_bytes());
            }
            W::Dec32(v, s) => put_decimal_i128(out, v[i] as i128, *s),
            W::Dec64(v, s) => put_decimal_i128(out, v[i] as i128, *s),
            W::Dec128(v, s) => put_decimal_i128(out, v[i], *s),
            W::Dec256(v, s) => {
                let x = v[i];
                match x.to_i128() {
                    Some(x) => put_decimal_i128(out, x, *s),
                    None => {
                        let mag = x.wrapping_abs();
                        if mag.is_negative() {
                            return Err(self.err(row, format!("decimal {x} is out of range")));
                        }
                        put_numeric(out, x.is_negative(), mag, *s);
                    }
                }
            }
            W::Str(a, jsonb) => self.put_text(a.value(i), *jsonb, row, out)?,
            W::LargeStr(a, jsonb) => self.put_text(a.value(i), *jsonb, row, out)?,
            W::StrView(a, jsonb) => self.put_text(a.value(i), *jsonb, row, out)?,
            W::Bin(a) => self.put_bytes(a.value(i), row, out)?,
            W::LargeBin(a) => self.put_bytes(a.value(i), row, out)?,
            W::BinView(a) => self.put_bytes(a.value(i), row, out)?,
            W::FixedBin(a) => self.put_bytes(a.value(i), row, out)?,
            W::Date32(v) => {
                let d = v[i];
                let pg = match d {
                    i32::MAX | i32::MIN => d,
                    _ => self.pg_date(d.checked_sub(PG_EPOCH_OFFSET_DAYS), d, "days", row)?,
                };
                put_val(out, pg.to_be_bytes());
            }
            W::Date64(v) => {
                let ms = v[i];
                let pg = match ms {
                    i64::MAX => i32::MAX,
                    i64::MIN => i32::MIN,
                    _ => {
                        if ms % 86_400_000 != 0 {
                            return Err(self.err(
                                row,
                                format!("date64 value {ms} (milliseconds since 1970-01-01) is not a whole day; PostgreSQL dates have no time of day"),
                            ));
                        }
                        let days = ms / 86_400_000;
                        let pg = i32::try_from(days)
                            .ok()
                            .and_then(|d| d.checked_sub(PG_EPOCH_OFFSET_DAYS));
                        self.pg_date(pg, ms, "milliseconds", row)?
                    }
                };
                put_val(out, pg.to_be_bytes());
            }
            W::Time32(v, u) => {
                let t = v[i] as i64;
                let micros = self.micros(t, *u, "time", row)?;
                self.put_time(micros, t, *u, row, out)?;
            }
            W::Time64(v, u) => {
                let t = v[i];
                let micros = self.micros(t, *u, "time", row)?;
                self.put_time(micros, t, *u, row, out)?;
            }
            W::Timestamp(v, u) => {
                let t = v[i];
                let pg = match t {
                    i64::MAX | i64::MIN => t,
                    _ => {
                        let micros = self.micros(t, *u, "timestamp", row)?;
                        match micros.checked_sub(PG_EPOCH_OFFSET_MICROS) {
                            Some(pg) if (PG_MIN_TIMESTAMP..PG_END_TIMESTAMP).contains(&pg) => pg,
                            _ => {
                                return Err(self.err(
                                    row,
                                    format!(
                                        "timestamp value {t} ({} since 1970-01-01) is outside PostgreSQL's range (4713 BC to 294276 AD)",
                                        unit_name(*u)
                                    ),
                                ));
                            }
                        }
                    }
                };
                put_val(out, pg.to_be_bytes());
            }
            W::Duration(v, u) => {
                let micros = self.micros(v[i], *u, "duration", row)?;
                put_interval(out, micros, 0, 0);
            }
            W::YearMonth(v) => put_interval(out, 0, 0, v[i]),
            W::DayTime(v) => {
                let x = v[i];
                put_interval(out, x.milliseconds as i64 * 1000, x.days, 0);
            }
            W::MonthDayNano(v) => {
                let x = v[i];
                if x.nanoseconds % 1000 != 0 {
                    return Err(self.err(
                        row,
                        format!(
                            "interval value ({} months, {} days, {} nanoseconds) has a sub-microsecond part: PostgreSQL keeps microseconds; this value would be truncated",
                            x.months, x.days, x.nanoseconds
                        ),
                    ));
                }
                put_interval(out, x.nanoseconds / 1000, x.days, x.months);
            }
            W::List {
                offsets,
                child,
                oid,
            } => {
                let (start, end) = offsets.range(i);
                let len_at = out.len();
                out.put_i32(0);
                if start == end {
                    out.put_i32(0); // ndim
                    out.put_i32(0); // has nulls
                    out.put_u32(*oid);
                } else {
                    let count = i32::try_from(end - start)
                        .map_err(|_| self.err(row, "a list has more than 2^31 elements".into()))?;
                    out.put_i32(1);
                    let flag_at = out.len();
                    out.put_i32(0);
                    out.put_u32(*oid);
                    out.put_i32(count);
                    out.put_i32(1); // lower bound
                    let mut has_null = false;
                    for j in start..end {
                        has_null |= child.is_null(j);
                        child.write(j, row, out)?;
                    }
                    if has_null {
                        out[flag_at..flag_at + 4].copy_from_slice(&1i32.to_be_bytes());
                    }
                }
                let len = out.len() - len_at - 4;
                let len = i32::try_from(len)
                    .map_err(|_| self.err(row, format!("an array of {len} bytes is too large")))?;
                out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
        Ok(())
    }

    #[inline]
    fn put_text(
        &self,
        s: &str,
        jsonb: bool,
        row: u64,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let b = s.as_bytes();
        if b.contains(&0) {
            let shown: String = s.chars().take(60).collect();
            return Err(self.err(
                row,
                format!(
                    "text {:?}{} contains a NUL (\\0) character, which PostgreSQL text cannot hold",
                    shown,
                    if shown.len() < s.len() { "…" } else { "" }
                ),
            ));
        }
        let len = b.len() + jsonb as usize;
        let len = i32::try_from(len)
            .map_err(|_| self.err(row, format!("a value of {len} bytes is too large")))?;
        out.put_i32(len);
        if jsonb {
            out.put_u8(1);
        }
        out.put_slice(b);
        Ok(())
    }

    #[inline]
    fn put_bytes(&self, b: &[u8], row: u64, out: &mut BytesMut) -> Result<(), EncodeError> {
        let len = i32::try_from(b.len())
            .map_err(|_| self.err(row, format!("a value of {} bytes is too large", b.len())))?;
        out.put_i32(len);
        out.put_slice(b);
        Ok(())
    }

    fn pg_date(
        &self,
        pg: Option<i32>,
        value: impl std::fmt::Display,
        unit: &str,
        row: u64,
    ) -> Result<i32, EncodeError> {
        match pg {
            Some(pg) if (PG_MIN_DATE..PG_END_DATE).contains(&pg) => Ok(pg),
            _ => Err(self.err(
                row,
                format!("date value {value} ({unit} since 1970-01-01) is outside PostgreSQL's range (4713 BC to 5874897 AD)"),
            )),
        }
    }

    /// `t` in `unit` as whole microseconds (an error names a sub-microsecond part).
    #[inline]
    fn micros(&self, t: i64, unit: TimeUnit, what: &str, row: u64) -> Result<i64, EncodeError> {
        let r = match unit {
            TimeUnit::Second => t.checked_mul(1_000_000),
            TimeUnit::Millisecond => t.checked_mul(1_000),
            TimeUnit::Microsecond => Some(t),
            TimeUnit::Nanosecond => {
                if t % 1000 != 0 {
                    return Err(self.err(
                        row,
                        format!(
                            "{what} value {t} (nanoseconds) has a sub-microsecond part: PostgreSQL keeps microseconds; this value would be truncated"
                        ),
                    ));
                }
                Some(t / 1000)
            }
        };
        r.ok_or_else(|| {
            self.err(
                row,
                format!(
                    "{what} value {t} ({}) overflows microseconds",
                    unit_name(unit)
                ),
            )
        })
    }

    fn put_time(
        &self,
        micros: i64,
        t: i64,
        u: TimeUnit,
        row: u64,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        if !(0..=MICROS_PER_DAY).contains(&micros) {
            return Err(self.err(
                row,
                format!(
                    "time value {t} ({} since midnight) is not within a day",
                    unit_name(u)
                ),
            ));
        }
        put_val(out, micros.to_be_bytes());
        Ok(())
    }
}

/// Writes a fixed-size value with its length word, in one copy.
#[inline(always)]
fn put_val<const N: usize>(out: &mut BytesMut, v: [u8; N]) {
    let mut b = [0u8; 20];
    b[..4].copy_from_slice(&(N as i32).to_be_bytes());
    b[4..4 + N].copy_from_slice(&v);
    out.put_slice(&b[..4 + N]);
}

#[inline]
fn put_interval(out: &mut BytesMut, micros: i64, days: i32, months: i32) {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&micros.to_be_bytes());
    b[8..12].copy_from_slice(&days.to_be_bytes());
    b[12..].copy_from_slice(&months.to_be_bytes());
    put_val(out, b);
}

// ---------------------------------------------------------------------------------------
// numeric
// ---------------------------------------------------------------------------------------

/// A non-negative integer split into base-10000 digits.
trait Magnitude: Copy {
    fn is_zero(self) -> bool;
    /// `(self / d, self % d)`.
    fn div_rem(self, d: u32) -> (Self, u16);
}

impl Magnitude for u64 {
    #[inline]
    fn is_zero(self) -> bool {
        self == 0
    }
    #[inline]
    fn div_rem(self, d: u32) -> (Self, u16) {
        (self / d as u64, (self % d as u64) as u16)
    }
}

impl Magnitude for u128 {
    #[inline]
    fn is_zero(self) -> bool {
        self == 0
    }
    #[inline]
    fn div_rem(self, d: u32) -> (Self, u16) {
        (self / d as u128, (self % d as u128) as u16)
    }
}

impl Magnitude for i256 {
    fn is_zero(self) -> bool {
        self == i256::ZERO
    }
    fn div_rem(self, d: u32) -> (Self, u16) {
        let d = i256::from_i128(d as i128);
        (self.wrapping_div(d), self.wrapping_rem(d).as_i128() as u16)
    }
}

#[inline]
fn put_decimal_i128(out: &mut BytesMut, v: i128, scale: u8) {
    let neg = v < 0;
    let mag = v.unsigned_abs();
    match u64::try_from(mag) {
        Ok(m) => put_numeric(out, neg, m, scale),
        Err(_) => put_numeric(out, neg, mag, scale),
    }
}

/// Writes `±mag × 10^-scale` as a binary numeric (length word included) with dscale `scale`.
fn put_numeric<M: Magnitude>(out: &mut BytesMut, neg: bool, mut mag: M, scale: u8) {
    const POW10: [u32; 5] = [1, 10, 100, 1000, 10000];
    // Base-10000 digits, least significant first; at most 19 fractional + 20 integer.
    let mut d = [0u16; 48];
    let mut k = 0;
    let scale_u = scale as usize;
    let mut frac_groups = scale_u.div_ceil(4);
    let r = scale_u % 4;
    if r != 0 {
        let (q, low) = mag.div_rem(POW10[r]);
        d[k] = low * POW10[4 - r] as u16;
        k += 1;
        mag = q;
        frac_groups -= 1;
    }
    for _ in 0..frac_groups {
        let (q, x) = mag.div_rem(10000);
        d[k] = x;
        k += 1;
        mag = q;
    }
    let mut weight: i32 = -1;
    while !mag.is_zero() && k < d.len() {
        let (q, x) = mag.div_rem(10000);
        d[k] = x;
        k += 1;
        mag = q;
        weight += 1;
    }
    let mut hi = k;
    while hi > 0 && d[hi - 1] == 0 {
        hi -= 1;
        weight -= 1;
    }
    let mut lo = 0;
    while lo < hi && d[lo] == 0 {
        lo += 1;
    }
    let ndigits = hi - lo;
    if ndigits == 0 {
        weight = 0;
    }
    // Length word, header and digits in one copy.
    let mut b = [0u8; 12 + 2 * 48];
    b[..4].copy_from_slice(&(8 + 2 * ndigits as i32).to_be_bytes());
    b[4..6].copy_from_slice(&(ndigits as i16).to_be_bytes());
    b[6..8].copy_from_slice(&(weight as i16).to_be_bytes());
    let sign: u16 = if neg && ndigits > 0 { 0x4000 } else { 0 };
    b[8..10].copy_from_slice(&sign.to_be_bytes());
    b[10..12].copy_from_slice(&(scale as i16).to_be_bytes());
    for (n, j) in (lo..hi).rev().enumerate() {
        b[12 + 2 * n..14 + 2 * n].copy_from_slice(&d[j].to_be_bytes());
    }
    out.put_slice(&b[..12 + 2 * ndigits]);
}

#[cfg(test)]
mod tests {
    use super::super::decode::{numeric_text, numeric_unscaled};
    use super::*;

    fn roundtrip(v: i128, scale: u8) -> (String, i128) {
        let mut out = BytesMut::new();
        put_decimal_i128(&mut out, v, scale);
        let len = i32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(len, out.len() - 4);
        let mut s = String::new();
        numeric_text(&out[4..], &mut s).unwrap();
        (s, numeric_unscaled::<i128>(&out[4..], scale as i8).unwrap())
    }

    #[test]
    fn numeric_edge_cases() {
        let cases: &[(i128, u8, &str)] = &[
            (0, 0, "0"),
            (0, 4, "0.0000"),
            (1, 4, "0.0001"),
            (1, 10, "0.0000000001"),
            (10000, 0, "10000"),
            (-1, 0, "-1"),
            (123_456, 3, "123.456"),
            (-123_450, 3, "-123.450"),
            (1, 38, "0.00000000000000000000000000000000000001"),
            (
                10i128.pow(38) - 1,
                10,
                "9999999999999999999999999999.9999999999",
            ),
            (
                -(10i128.pow(38) - 1),
                10,
                "-9999999999999999999999999999.9999999999",
            ),
            (
                10i128.pow(38) - 1,
                0,
                "99999999999999999999999999999999999999",
            ),
            (100_000_000, 4, "10000.0000"),
            (5, 1, "0.5"),
        ];
        for &(v, s, text) in cases {
            assert_eq!(roundtrip(v, s), (text.to_string(), v), "{v} scale {s}");
        }
    }

    #[test]
    fn numeric_i256() {
        let v = i256::from_string("-12345678901234567890123456789012345678901234567890").unwrap();
        let mut out = BytesMut::new();
        put_numeric(&mut out, true, v.wrapping_abs(), 5);
        let mut s = String::new();
        numeric_text(&out[4..], &mut s).unwrap();
        assert_eq!(s, "-123456789012345678901234567890123456789012345.67890");
        assert_eq!(numeric_unscaled::<i256>(&out[4..], 5), Ok(v));
    }

    #[test]
    fn u64_numeric() {
        let mut out = BytesMut::new();
        put_numeric(&mut out, false, u64::MAX, 0);
        let mut s = String::new();
        numeric_text(&out[4..], &mut s).unwrap();
        assert_eq!(s, u64::MAX.to_string());
    }
}
