//! Arrow batches into TDS bulk-load rows, exactly; a value SQL Server cannot hold is an
//! error naming the column, never a silent change.

use std::borrow::Cow;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, FixedSizeBinaryArray, GenericBinaryArray,
    GenericStringArray, PrimitiveArray, StructArray,
};
use arrow::compute::cast;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Decimal32Type, Decimal64Type,
    Decimal128Type, Decimal256Type, Float16Type, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, Schema, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::record_batch::RecordBatch;
use tiberius::numeric::Numeric;
use tiberius::time::{Date, DateTime2, DateTimeOffset, Time};
use tiberius::{ColumnData, TokenRow, Uuid};

use super::decode::DAYS_0001_TO_1970;
use super::types::{Target, target_type};

/// Days from 0001-01-01 to 9999-12-31.
const MAX_DATE_DAYS: i64 = 3_652_058;

/// The columns of a staged table, and what each Arrow column is written as.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// Per column.
    pub targets: Vec<Target>,
    /// Column names.
    pub names: Vec<String>,
    /// Longest value seen per column (bytes; UTF-8 bytes bound UTF-16 units from above).
    pub max_len: Vec<usize>,
}

/// One column of a batch, downcast once.
enum Src<'a> {
    Bool(&'a BooleanArray),
    U8(&'a PrimitiveArray<UInt8Type>),
    I8(&'a PrimitiveArray<Int8Type>),
    I16(&'a PrimitiveArray<Int16Type>),
    U16(&'a PrimitiveArray<UInt16Type>),
    I32(&'a PrimitiveArray<Int32Type>),
    U32(&'a PrimitiveArray<UInt32Type>),
    I64(&'a PrimitiveArray<Int64Type>),
    U64(&'a PrimitiveArray<UInt64Type>),
    F16(&'a PrimitiveArray<Float16Type>),
    F32(&'a PrimitiveArray<Float32Type>),
    F64(&'a PrimitiveArray<Float64Type>),
    /// Any decimal, widened per value; the scale.
    Dec(&'a dyn Array, u8),
    Date32(&'a PrimitiveArray<Date32Type>),
    Date64(&'a PrimitiveArray<Date64Type>),
    /// Time of day in `unit`s.
    Time(&'a dyn Array, TimeUnit),
    /// Instant in `unit`s; `offsets` for the offset struct.
    Ts(
        &'a dyn Array,
        TimeUnit,
        Option<&'a PrimitiveArray<Int16Type>>,
        Option<&'a StructArray>,
    ),
    Str(&'a GenericStringArray<i32>),
    LargeStr(&'a GenericStringArray<i64>),
    StrView(&'a arrow::array::StringViewArray),
    Bin(&'a GenericBinaryArray<i32>),
    LargeBin(&'a GenericBinaryArray<i64>),
    BinView(&'a arrow::array::BinaryViewArray),
    Fixed(&'a FixedSizeBinaryArray),
}

impl Encoder {
    /// The targets for `schema`; an error names the column that cannot be written.
    pub fn new(schema: &Schema) -> Result<Encoder, String> {
        let mut targets = Vec::with_capacity(schema.fields().len());
        for f in schema.fields() {
            targets.push(target_type(f).map_err(|e| format!("column {}: {e}", f.name()))?);
        }
        Ok(Encoder {
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            max_len: vec![0; targets.len()],
            targets,
        })
    }

    /// Dictionary columns decoded to their values (everything else as is).
    pub fn prepare(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>, String> {
        batch
            .columns()
            .iter()
            .zip(&self.names)
            .map(|(a, name)| match a.data_type() {
                DataType::Dictionary(_, v) => cast(a, v).map_err(|e| format!("column {name}: {e}")),
                _ => Ok(a.clone()),
            })
            .collect()
    }

    /// The columns of a prepared batch, ready for [`Encoder::row`].
    pub fn sources<'a>(&self, cols: &'a [ArrayRef]) -> Result<Sources<'a>, String> {
        let srcs = cols
            .iter()
            .zip(&self.names)
            .map(|(a, n)| src(a.as_ref()).map_err(|e| format!("column {n}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Sources {
            srcs,
            rows: cols.first().map_or(0, |a| a.len()),
        })
    }

    /// Row `i` as a bulk-load row; an error names the column and row.
    pub fn row(&mut self, s: &Sources<'_>, i: usize) -> Result<TokenRow<'static>, String> {
        let mut row = TokenRow::with_capacity(s.srcs.len());
        for (c, src) in s.srcs.iter().enumerate() {
            let v = value(src, self.targets[c], i, &mut self.max_len[c])
                .map_err(|e| format!("column {}, row {}: {e}", self.names[c], i + 1))?;
            row.push(v);
        }
        Ok(row)
    }
}

/// A batch's columns, downcast once.
pub struct Sources<'a> {
    srcs: Vec<Src<'a>>,
    /// Rows in the batch.
    pub rows: usize,
}

fn src(a: &dyn Array) -> Result<Src<'_>, String> {
    use DataType as D;
    Ok(match a.data_type() {
        D::Boolean => Src::Bool(a.as_boolean()),
        D::UInt8 => Src::U8(a.as_primitive()),
        D::Int8 => Src::I8(a.as_primitive()),
        D::Int16 => Src::I16(a.as_primitive()),
        D::UInt16 => Src::U16(a.as_primitive()),
        D::Int32 => Src::I32(a.as_primitive()),
        D::UInt32 => Src::U32(a.as_primitive()),
        D::Int64 => Src::I64(a.as_primitive()),
        D::UInt64 => Src::U64(a.as_primitive()),
        D::Float16 => Src::F16(a.as_primitive()),
        D::Float32 => Src::F32(a.as_primitive()),
        D::Float64 => Src::F64(a.as_primitive()),
        D::Decimal32(_, s) | D::Decimal64(_, s) | D::Decimal128(_, s) | D::Decimal256(_, s) => {
            Src::Dec(a, *s as u8)
        }
        D::Date32 => Src::Date32(a.as_primitive()),
        D::Date64 => Src::Date64(a.as_primitive()),
        D::Time32(u) | D::Time64(u) => Src::Time(a, *u),
        D::Timestamp(u, _) => Src::Ts(a, *u, None, None),
        D::Struct(_) => {
            let s = a.as_struct();
            let utc = s.column(0).as_ref();
            let D::Timestamp(u, _) = utc.data_type() else {
                return Err("struct columns cannot be written to SQL Server".into());
            };
            Src::Ts(utc, *u, Some(s.column(1).as_primitive()), Some(s))
        }
        D::Utf8 => Src::Str(a.as_string()),
        D::LargeUtf8 => Src::LargeStr(a.as_string()),
        D::Utf8View => Src::StrView(a.as_string_view()),
        D::Binary => Src::Bin(a.as_binary()),
        D::LargeBinary => Src::LargeBin(a.as_binary()),
        D::BinaryView => Src::BinView(a.as_binary_view()),
        D::FixedSizeBinary(_) => Src::Fixed(a.as_fixed_size_binary()),
        other => return Err(format!("type {other} cannot be written to SQL Server")),
    })
}

fn opt<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, i: usize) -> Option<T::Native> {
    a.is_valid(i).then(|| a.value(i))
}

fn finite<F: Into<f64> + Copy>(v: Option<F>) -> Result<Option<F>, String> {
    match v {
        Some(x) if !x.into().is_finite() => Err(format!(
            "{} cannot be stored: SQL Server floats hold no NaN or infinity",
            x.into()
        )),
        v => Ok(v),
    }
}

fn decimal(a: &dyn Array, i: usize) -> Option<i128> {
    if a.is_null(i) {
        return None;
    }
    Some(match a.data_type() {
        DataType::Decimal32(..) => a.as_primitive::<Decimal32Type>().value(i) as i128,
        DataType::Decimal64(..) => a.as_primitive::<Decimal64Type>().value(i) as i128,
        DataType::Decimal128(..) => a.as_primitive::<Decimal128Type>().value(i),
        _ => {
            // Precision <= 38 was checked, so the value fits i128.
            a.as_primitive::<Decimal256Type>().value(i).as_i128()
        }
    })
}

/// `(units since midnight, units per second)` of a time-of-day column value.
fn time_units(a: &dyn Array, u: TimeUnit, i: usize) -> i64 {
    match u {
        TimeUnit::Second => a.as_primitive::<Time32SecondType>().value(i) as i64,
        TimeUnit::Millisecond => a.as_primitive::<Time32MillisecondType>().value(i) as i64,
        TimeUnit::Microsecond => a.as_primitive::<Time64MicrosecondType>().value(i),
        TimeUnit::Nanosecond => a.as_primitive::<Time64NanosecondType>().value(i),
    }
}

fn ts_units(a: &dyn Array, u: TimeUnit, i: usize) -> i64 {
    match u {
        TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(i),
        TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(i),
        TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
        TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i),
    }
}

/// A value in `u`s as SQL Server increments of scale 0/3/6/7 (ns -> 100 ns, exactly).
fn increments(v: i64, u: TimeUnit) -> Result<(i64, u8, i64), String> {
    Ok(match u {
        TimeUnit::Second => (v, 0, 1),
        TimeUnit::Millisecond => (v, 3, 1_000),
        TimeUnit::Microsecond => (v, 6, 1_000_000),
        TimeUnit::Nanosecond => {
            if v % 100 != 0 {
                return Err(format!(
                    "{v} ns is not a whole number of 100 ns, SQL Server's finest time unit"
                ));
            }
            (v / 100, 7, 10_000_000)
        }
    })
}

fn date(days_since_1970: i64) -> Result<Date, String> {
    let d = days_since_1970 + DAYS_0001_TO_1970;
    if !(0..=MAX_DATE_DAYS).contains(&d) {
        return Err(format!(
            "day {days_since_1970} after 1970-01-01 is outside SQL Server's 0001-01-01..9999-12-31"
        ));
    }
    Ok(Date::new(d as u32))
}

fn datetime2(v: i64, u: TimeUnit) -> Result<DateTime2, String> {
    let (inc, scale, per_sec) = increments(v, u)?;
    let per_day = per_sec * 86_400;
    let days = inc.div_euclid(per_day);
    let rem = inc.rem_euclid(per_day);
    Ok(DateTime2::new(date(days)?, Time::new(rem as u64, scale)))
}

fn value(
    s: &Src<'_>,
    t: Target,
    i: usize,
    max_len: &mut usize,
) -> Result<ColumnData<'static>, String> {
    Ok(match s {
        Src::Bool(a) => ColumnData::Bit(a.is_valid(i).then(|| a.value(i))),
        Src::U8(a) => ColumnData::U8(opt(a, i)),
        Src::I8(a) => ColumnData::I16(opt(a, i).map(i16::from)),
        Src::I16(a) => ColumnData::I16(opt(a, i)),
        Src::U16(a) => ColumnData::I32(opt(a, i).map(i32::from)),
        Src::I32(a) => ColumnData::I32(opt(a, i)),
        Src::U32(a) => ColumnData::I64(opt(a, i).map(i64::from)),
        Src::I64(a) => ColumnData::I64(opt(a, i)),
        Src::U64(a) => {
            ColumnData::Numeric(opt(a, i).map(|v| Numeric::new_with_scale(v as i128, 0)))
        }
        Src::F16(a) => ColumnData::F32(finite(opt(a, i).map(f32::from))?),
        Src::F32(a) => ColumnData::F32(finite(opt(a, i))?),
        Src::F64(a) => ColumnData::F64(finite(opt(a, i))?),
        Src::Dec(a, scale) => {
            ColumnData::Numeric(decimal(*a, i).map(|v| Numeric::new_with_scale(v, *scale)))
        }
        Src::Date32(a) => ColumnData::Date(opt(a, i).map(|d| date(d as i64)).transpose()?),
        Src::Date64(a) => ColumnData::Date(
            opt(a, i)
                .map(|ms| date(ms.div_euclid(86_400_000)))
                .transpose()?,
        ),
        Src::Time(a, u) => ColumnData::Time(if a.is_null(i) {
            None
        } else {
            let (inc, scale, _) = increments(time_units(*a, *u, i), *u)?;
            Some(Time::new(inc as u64, scale))
        }),
        Src::Ts(a, u, offsets, parent) => {
            if a.is_null(i) || parent.is_some_and(|p| p.is_null(i)) {
                match t {
                    Target::DateTimeOffset(_) => ColumnData::DateTimeOffset(None),
                    _ => ColumnData::DateTime2(None),
                }
            } else {
                let d = datetime2(ts_units(*a, *u, i), *u)?;
                match t {
                    Target::DateTimeOffset(_) => {
                        let off = offsets.and_then(|o| opt(o, i)).unwrap_or(0);
                        if !(-840..=840).contains(&off) {
                            return Err(format!(
                                "offset {off} minutes is outside SQL Server's -14:00..+14:00"
                            ));
                        }
                        ColumnData::DateTimeOffset(Some(DateTimeOffset::new(d, off)))
                    }
                    _ => ColumnData::DateTime2(Some(d)),
                }
            }
        }
        Src::Str(a) => string(a.is_valid(i).then(|| a.value(i)), max_len),
        Src::LargeStr(a) => string(a.is_valid(i).then(|| a.value(i)), max_len),
        Src::StrView(a) => string(a.is_valid(i).then(|| a.value(i)), max_len),
        Src::Bin(a) => binary(a.is_valid(i).then(|| a.value(i)), max_len),
        Src::LargeBin(a) => binary(a.is_valid(i).then(|| a.value(i)), max_len),
        Src::BinView(a) => binary(a.is_valid(i).then(|| a.value(i)), max_len),
        Src::Fixed(a) => match t {
            Target::Guid => ColumnData::Guid(a.is_valid(i).then(|| {
                let mut b = [0u8; 16];
                b.copy_from_slice(a.value(i));
                Uuid::from_bytes(b)
            })),
            _ => binary(a.is_valid(i).then(|| a.value(i)), max_len),
        },
    })
}

/// Values are copied: the driver's bulk-load rows outlive the batch they came from.
fn string(v: Option<&str>, max_len: &mut usize) -> ColumnData<'static> {
    if let Some(s) = v {
        *max_len = (*max_len).max(s.len());
    }
    ColumnData::String(v.map(|s| Cow::Owned(s.to_string())))
}

fn binary(v: Option<&[u8]>, max_len: &mut usize) -> ColumnData<'static> {
    if let Some(b) = v {
        *max_len = (*max_len).max(b.len());
    }
    ColumnData::Binary(v.map(|b| Cow::Owned(b.to_vec())))
}
