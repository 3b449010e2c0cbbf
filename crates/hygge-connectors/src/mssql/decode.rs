//! TDS rows (the driver's `ColumnData`) into Arrow batches, exactly.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    FixedSizeBinaryBuilder, Float32Builder, Float64Builder, Int16Builder, Int32Builder,
    Int64Builder, LargeBinaryBuilder, LargeStringBuilder, StringBuilder, StructArray,
    Time64NanosecondBuilder, TimestampMicrosecondBuilder, TimestampMillisecondBuilder,
    TimestampNanosecondBuilder, UInt8Builder,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Fields, SchemaRef};
use arrow::record_batch::RecordBatch;
use tiberius::ColumnData;
use tiberius::time::{Date, DateTime, DateTime2, SmallDateTime, Time};

use super::types::{GuidAs, MsColumn, MsType, OffsetAs, ReadTypeOptions};

/// Days from 0001-01-01 to 1970-01-01.
pub const DAYS_0001_TO_1970: i64 = 719_162;
/// Days from 1900-01-01 to 1970-01-01.
pub const DAYS_1900_TO_1970: i64 = 25_567;
const NANOS_PER_DAY: i128 = 86_400_000_000_000;

/// One column's builder.
enum Col {
    Bool(BooleanBuilder),
    U8(UInt8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    /// The builder, the described scale, and the largest unscaled value the described
    /// precision holds (`10^p - 1`).
    Dec(Decimal128Builder, u8, i128),
    /// `money` arrives as f64 from the driver; recovered exactly while it fits 2^53.
    Money(Decimal128Builder),
    Date(Date32Builder),
    Time(Time64NanosecondBuilder),
    TsMs(TimestampMillisecondBuilder),
    TsUs(TimestampMicrosecondBuilder),
    TsNs(TimestampNanosecondBuilder),
    Offset {
        ns: bool,
        utc: Vec<Option<i64>>,
        minutes: Vec<Option<i16>>,
        fields: Fields,
        tz: Arc<str>,
    },
    OffsetUtc(
        TimestampMicrosecondBuilder,
        TimestampNanosecondBuilder,
        bool,
    ),
    Str(StringBuilder),
    LargeStr(LargeStringBuilder),
    Bin(BinaryBuilder),
    LargeBin(LargeBinaryBuilder),
    Uuid(FixedSizeBinaryBuilder),
    UuidText(StringBuilder),
}

/// Builds Arrow batches from rows of one result set.
pub struct RowDecoder {
    cols: Vec<Col>,
    names: Vec<String>,
    types: Vec<MsType>,
    schema: SchemaRef,
    rows: usize,
    /// Bytes of strings and binary values buffered (see [`RowDecoder::bytes`]).
    bytes: usize,
}

impl RowDecoder {
    /// A decoder for `cols`, producing batches of `schema` (from [`super::types::arrow_schema`]).
    pub fn new(cols: &[MsColumn], schema: SchemaRef, o: &ReadTypeOptions, capacity: usize) -> Self {
        let built = cols
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| new_col(&c.ty, f.data_type(), o, capacity))
            .collect();
        RowDecoder {
            cols: built,
            names: cols.iter().map(|c| c.name.clone()).collect(),
            types: cols.iter().map(|c| c.ty.clone()).collect(),
            schema,
            rows: 0,
            bytes: 0,
        }
    }

    /// Rows buffered.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Bytes of variable-length data buffered: the sum over every string and binary column
    /// (`(max)` and `xml` included) of the value bytes appended since the last batch,
    /// counted as each value is appended. The home starts a new batch once this reaches
    /// [`hygge_core::MAX_BATCH_BYTES`], so no `i32`-offset column (a sum bounds each one)
    /// comes near Arrow's 2 GiB limit, and a batch's memory stays bounded.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// No rows buffered.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Adds one row; an error names the column and the value's problem.
    pub fn push<I: IntoIterator<Item = ColumnData<'static>>>(
        &mut self,
        row: I,
    ) -> Result<(), String> {
        let mut n = 0;
        let mut bytes = 0;
        for (i, v) in row.into_iter().enumerate() {
            let Some(col) = self.cols.get_mut(i) else {
                return Err(format!(
                    "row has more than the {} columns described",
                    self.cols.len()
                ));
            };
            bytes += push(col, v)
                .map_err(|e| format!("column {} ({:?}): {e}", self.names[i], self.types[i]))?;
            n += 1;
        }
        if n != self.cols.len() {
            return Err(format!(
                "row has {n} values for {} columns",
                self.cols.len()
            ));
        }
        self.rows += 1;
        self.bytes += bytes;
        Ok(())
    }

    /// The buffered rows as a batch (the decoder is empty again).
    pub fn finish(&mut self) -> Result<RecordBatch, String> {
        let arrays: Vec<ArrayRef> = self.cols.iter_mut().map(finish).collect();
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| e.to_string())
    }
}

fn new_col(t: &MsType, dt: &DataType, o: &ReadTypeOptions, cap: usize) -> Col {
    match t {
        MsType::Bit => Col::Bool(BooleanBuilder::with_capacity(cap)),
        MsType::TinyInt => Col::U8(UInt8Builder::with_capacity(cap)),
        MsType::SmallInt => Col::I16(Int16Builder::with_capacity(cap)),
        MsType::Int => Col::I32(Int32Builder::with_capacity(cap)),
        MsType::BigInt => Col::I64(Int64Builder::with_capacity(cap)),
        MsType::Real => Col::F32(Float32Builder::with_capacity(cap)),
        MsType::Float => Col::F64(Float64Builder::with_capacity(cap)),
        MsType::Decimal(p, s) => Col::Dec(
            Decimal128Builder::with_capacity(cap).with_data_type(dt.clone()),
            *s,
            10i128
                .checked_pow(u32::from(*p))
                .map_or(i128::MAX, |m| m - 1),
        ),
        MsType::Money | MsType::SmallMoney => {
            Col::Money(Decimal128Builder::with_capacity(cap).with_data_type(dt.clone()))
        }
        MsType::Date => Col::Date(Date32Builder::with_capacity(cap)),
        MsType::Time(_) => Col::Time(Time64NanosecondBuilder::with_capacity(cap)),
        MsType::DateTime | MsType::SmallDateTime => {
            Col::TsMs(TimestampMillisecondBuilder::with_capacity(cap))
        }
        MsType::DateTime2(s) if *s <= 6 => {
            Col::TsUs(TimestampMicrosecondBuilder::with_capacity(cap))
        }
        MsType::DateTime2(_) => Col::TsNs(TimestampNanosecondBuilder::with_capacity(cap)),
        MsType::DateTimeOffset(s) => {
            let tz: Arc<str> = "UTC".into();
            match (o.offset, dt) {
                (OffsetAs::Struct, DataType::Struct(fields)) => Col::Offset {
                    ns: *s > 6,
                    utc: Vec::with_capacity(cap),
                    minutes: Vec::with_capacity(cap),
                    fields: fields.clone(),
                    tz,
                },
                _ => Col::OffsetUtc(
                    TimestampMicrosecondBuilder::with_capacity(cap).with_timezone(tz.clone()),
                    TimestampNanosecondBuilder::with_capacity(cap).with_timezone(tz),
                    *s > 6,
                ),
            }
        }
        MsType::String { max: false } => Col::Str(StringBuilder::with_capacity(cap, cap * 16)),
        MsType::String { max: true } | MsType::Xml => {
            Col::LargeStr(LargeStringBuilder::with_capacity(cap, cap * 16))
        }
        MsType::Binary { max: false } => Col::Bin(BinaryBuilder::with_capacity(cap, cap * 16)),
        MsType::Binary { max: true } => {
            Col::LargeBin(LargeBinaryBuilder::with_capacity(cap, cap * 16))
        }
        MsType::Guid => match o.guid {
            GuidAs::Uuid => Col::Uuid(FixedSizeBinaryBuilder::with_capacity(cap, 16)),
            GuidAs::Text => Col::UuidText(StringBuilder::with_capacity(cap, cap * 36)),
        },
        // Refused by `arrow_schema` before any decoder is built.
        MsType::Unsupported(_) => Col::LargeStr(LargeStringBuilder::new()),
    }
}

fn mismatch(v: &ColumnData<'_>) -> String {
    let what = match v {
        ColumnData::U8(_) => "tinyint",
        ColumnData::I16(_) => "smallint",
        ColumnData::I32(_) => "int",
        ColumnData::I64(_) => "bigint",
        ColumnData::F32(_) => "real",
        ColumnData::F64(_) => "float",
        ColumnData::Bit(_) => "bit",
        ColumnData::String(_) => "string",
        ColumnData::Guid(_) => "uniqueidentifier",
        ColumnData::Binary(_) => "binary",
        ColumnData::Numeric(_) => "numeric",
        ColumnData::Xml(_) => "xml",
        ColumnData::DateTime(_) => "datetime",
        ColumnData::SmallDateTime(_) => "smalldatetime",
        ColumnData::Time(_) => "time",
        ColumnData::Date(_) => "date",
        ColumnData::DateTime2(_) => "datetime2",
        ColumnData::DateTimeOffset(_) => "datetimeoffset",
    };
    format!("the server sent a {what} value, not the type it described")
}

/// Days since 1970 of a `date`.
pub fn date_days(d: Date) -> i64 {
    d.days() as i64 - DAYS_0001_TO_1970
}

/// Nanoseconds since midnight of a `time(n)` (`n` is at most 7; a server that sends more
/// than 9 digits, or more than a day, is refused rather than wrapped).
pub fn time_nanos(t: Time) -> Result<i64, String> {
    9u32.checked_sub(u32::from(t.scale()))
        .and_then(|e| 10i64.checked_pow(e))
        .and_then(|m| i64::try_from(t.increments()).ok()?.checked_mul(m))
        .filter(|n| *n < NANOS_PER_DAY as i64)
        .ok_or_else(|| {
            format!(
                "a time of {} increments at scale {} is not a time of day",
                t.increments(),
                t.scale()
            )
        })
}

/// Milliseconds since 1970 of a `datetime` (1/300 s ticks, rounded as SQL Server prints).
pub fn datetime_millis(d: DateTime) -> i64 {
    let ms_of_day = (d.seconds_fragments() as i64 * 10 + 1) / 3;
    (d.days() as i64 - DAYS_1900_TO_1970) * 86_400_000 + ms_of_day
}

/// Milliseconds since 1970 of a `smalldatetime` (minutes).
pub fn smalldatetime_millis(d: SmallDateTime) -> i64 {
    (d.days() as i64 - DAYS_1900_TO_1970) * 86_400_000 + d.seconds_fragments() as i64 * 60_000
}

/// Nanoseconds since 1970 of a `datetime2`, as i128 (never overflows; its time must be a
/// time of day).
pub fn datetime2_nanos(d: DateTime2) -> Result<i128, String> {
    Ok(date_days(d.date()) as i128 * NANOS_PER_DAY + time_nanos(d.time())? as i128)
}

fn to_ns(n: i128) -> Result<i64, String> {
    i64::try_from(n).map_err(|_| {
        "the value is outside 1677-09-21..2262-04-11, which nanosecond timestamps cannot hold; \
         cast the column to datetime2(6) in a query"
            .to_string()
    })
}

/// `value * 10^digits`, exactly, or `None` if it does not fit an `i128`.
fn rescale(value: i128, digits: u32) -> Option<i128> {
    10i128
        .checked_pow(digits)
        .and_then(|m| value.checked_mul(m))
}

/// Appends one value; returns the bytes of string or binary data it added (0 for the
/// other types), which the decoder sums to bound a batch in bytes.
fn push(col: &mut Col, v: ColumnData<'static>) -> Result<usize, String> {
    let mut bytes = 0;
    match (col, v) {
        (Col::Bool(b), ColumnData::Bit(x)) => b.append_option(x),
        (Col::U8(b), ColumnData::U8(x)) => b.append_option(x),
        (Col::I16(b), ColumnData::I16(x)) => b.append_option(x),
        (Col::I32(b), ColumnData::I32(x)) => b.append_option(x),
        (Col::I64(b), ColumnData::I64(x)) => b.append_option(x),
        (Col::F32(b), ColumnData::F32(x)) => b.append_option(x),
        (Col::F64(b), ColumnData::F64(x)) => b.append_option(x),
        (Col::Dec(b, s, max), ColumnData::Numeric(x)) => match x {
            None => b.append_null(),
            Some(n) => {
                let v = n.value();
                let v = match n.scale().cmp(s) {
                    std::cmp::Ordering::Equal => Some(v),
                    std::cmp::Ordering::Less => rescale(v, u32::from(*s - n.scale())),
                    std::cmp::Ordering::Greater => {
                        return Err(format!("value {n} has more than {s} decimal places"));
                    }
                };
                // A row whose scale is below the described one (a query whose real result
                // differs from its description) is scaled up: exactly, or refused.
                match v.filter(|v| (-*max..=*max).contains(v)) {
                    Some(v) => b.append_value(v),
                    None => {
                        return Err(format!(
                            "value {n} does not fit the described precision at scale {s}; cast the column in the query"
                        ));
                    }
                }
            }
        },
        (Col::Money(b), ColumnData::F64(x)) => match x {
            None => b.append_null(),
            Some(f) => {
                let scaled = (f * 1e4).round();
                if scaled.abs() > 9_007_199_254_740_992.0 {
                    return Err(format!(
                        "money value {f} is too large to read exactly; cast it to decimal(19,4) in a query"
                    ));
                }
                b.append_value(scaled as i128)
            }
        },
        (Col::Money(b), ColumnData::Numeric(x)) => match x {
            None => b.append_null(),
            Some(n) => {
                let v = 4u32
                    .checked_sub(u32::from(n.scale()))
                    .and_then(|d| rescale(n.value(), d))
                    .ok_or_else(|| format!("money value {n} does not fit decimal(19,4)"))?;
                b.append_value(v)
            }
        },
        (Col::Date(b), ColumnData::Date(x)) => b.append_option(x.map(|d| date_days(d) as i32)),
        (Col::Time(b), ColumnData::Time(x)) => b.append_option(x.map(time_nanos).transpose()?),
        (Col::TsMs(b), ColumnData::DateTime(x)) => b.append_option(x.map(datetime_millis)),
        (Col::TsMs(b), ColumnData::SmallDateTime(x)) => {
            b.append_option(x.map(smalldatetime_millis))
        }
        (Col::TsUs(b), ColumnData::DateTime2(x)) => match x {
            None => b.append_null(),
            Some(d) => b.append_value((datetime2_nanos(d)? / 1000) as i64),
        },
        (Col::TsNs(b), ColumnData::DateTime2(x)) => match x {
            None => b.append_null(),
            Some(d) => b.append_value(to_ns(datetime2_nanos(d)?)?),
        },
        (
            Col::Offset {
                ns, utc, minutes, ..
            },
            ColumnData::DateTimeOffset(x),
        ) => match x {
            None => {
                utc.push(None);
                minutes.push(None);
            }
            Some(d) => {
                let n = datetime2_nanos(d.datetime2())?;
                utc.push(Some(if *ns { to_ns(n)? } else { (n / 1000) as i64 }));
                minutes.push(Some(d.offset()));
            }
        },
        (Col::OffsetUtc(us, nsb, ns), ColumnData::DateTimeOffset(x)) => match (x, *ns) {
            (None, false) => us.append_null(),
            (None, true) => nsb.append_null(),
            (Some(d), false) => us.append_value((datetime2_nanos(d.datetime2())? / 1000) as i64),
            (Some(d), true) => nsb.append_value(to_ns(datetime2_nanos(d.datetime2())?)?),
        },
        (Col::Str(b), ColumnData::String(x)) => {
            bytes = x.as_ref().map_or(0, |v| v.len());
            b.append_option(x)
        }
        (Col::LargeStr(b), ColumnData::String(x)) => {
            bytes = x.as_ref().map_or(0, |v| v.len());
            b.append_option(x)
        }
        (Col::LargeStr(b), ColumnData::Xml(x)) => {
            let x = x.map(|x| x.into_owned().into_string());
            bytes = x.as_ref().map_or(0, String::len);
            b.append_option(x)
        }
        (Col::Bin(b), ColumnData::Binary(x)) => {
            bytes = x.as_ref().map_or(0, |v| v.len());
            b.append_option(x)
        }
        (Col::LargeBin(b), ColumnData::Binary(x)) => {
            bytes = x.as_ref().map_or(0, |v| v.len());
            b.append_option(x)
        }
        (Col::Uuid(b), ColumnData::Guid(x)) => match x {
            None => b.append_null(),
            Some(u) => b.append_value(u.as_bytes()).map_err(|e| e.to_string())?,
        },
        (Col::UuidText(b), ColumnData::Guid(x)) => {
            bytes = if x.is_some() { 36 } else { 0 };
            b.append_option(x.map(|u| u.hyphenated().to_string().to_ascii_uppercase()))
        }
        (_, v) => return Err(mismatch(&v)),
    }
    Ok(bytes)
}

fn finish(col: &mut Col) -> ArrayRef {
    match col {
        Col::Bool(b) => Arc::new(b.finish()),
        Col::U8(b) => Arc::new(b.finish()),
        Col::I16(b) => Arc::new(b.finish()),
        Col::I32(b) => Arc::new(b.finish()),
        Col::I64(b) => Arc::new(b.finish()),
        Col::F32(b) => Arc::new(b.finish()),
        Col::F64(b) => Arc::new(b.finish()),
        Col::Dec(b, _, _) | Col::Money(b) => Arc::new(b.finish()),
        Col::Date(b) => Arc::new(b.finish()),
        Col::Time(b) => Arc::new(b.finish()),
        Col::TsMs(b) => Arc::new(b.finish()),
        Col::TsUs(b) => Arc::new(b.finish()),
        Col::TsNs(b) => Arc::new(b.finish()),
        Col::Offset {
            ns,
            utc,
            minutes,
            fields,
            tz,
        } => {
            let nulls = NullBuffer::from(utc.iter().map(Option::is_some).collect::<Vec<_>>());
            let instants: ArrayRef = if *ns {
                Arc::new(
                    arrow::array::TimestampNanosecondArray::from(std::mem::take(utc))
                        .with_timezone(tz.clone()),
                )
            } else {
                Arc::new(
                    arrow::array::TimestampMicrosecondArray::from(std::mem::take(utc))
                        .with_timezone(tz.clone()),
                )
            };
            let offsets: ArrayRef =
                Arc::new(arrow::array::Int16Array::from(std::mem::take(minutes)));
            let nulls = (nulls.null_count() > 0).then_some(nulls);
            Arc::new(StructArray::new(
                fields.clone(),
                vec![instants, offsets],
                nulls,
            ))
        }
        Col::OffsetUtc(us, ns_b, ns) => {
            if *ns {
                Arc::new(ns_b.finish())
            } else {
                Arc::new(us.finish())
            }
        }
        Col::Str(b) | Col::UuidText(b) => Arc::new(b.finish()),
        Col::LargeStr(b) => Arc::new(b.finish()),
        Col::Bin(b) => Arc::new(b.finish()),
        Col::LargeBin(b) => Arc::new(b.finish()),
        Col::Uuid(b) => Arc::new(b.finish()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mssql::encode::Encoder;
    use crate::mssql::types::{Target, arrow_schema};
    use arrow::array::{
        Array, BinaryArray, BooleanArray, Date32Array, Decimal128Array, FixedSizeBinaryArray,
        Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, LargeStringArray,
        Time64NanosecondArray, TimestampMicrosecondArray, TimestampNanosecondArray, UInt8Array,
    };
    use arrow::datatypes::{Field, Schema, TimeUnit};

    /// The SQL Server type a target column is read back as.
    fn read_back(t: Target) -> MsType {
        match t {
            Target::Bit => MsType::Bit,
            Target::TinyInt => MsType::TinyInt,
            Target::SmallInt => MsType::SmallInt,
            Target::Int => MsType::Int,
            Target::BigInt => MsType::BigInt,
            Target::Real => MsType::Real,
            Target::Float => MsType::Float,
            Target::Decimal(p, s) => MsType::Decimal(p, s),
            Target::Date => MsType::Date,
            Target::Time(n) => MsType::Time(n),
            Target::DateTime2(n) => MsType::DateTime2(n),
            Target::DateTimeOffset(n) => MsType::DateTimeOffset(n),
            Target::NVarChar => MsType::String { max: true },
            Target::VarBinary => MsType::Binary { max: false },
            Target::Guid => MsType::Guid,
        }
    }

    /// Arrow -> bulk-load rows -> (what the server would send back) -> Arrow.
    fn round_trip(batch: &RecordBatch) -> RecordBatch {
        let mut enc = Encoder::new(&batch.schema()).unwrap();
        let cols: Vec<MsColumn> = enc
            .names
            .iter()
            .zip(&enc.targets)
            .map(|(n, t)| MsColumn {
                name: n.clone(),
                ty: read_back(*t),
            })
            .collect();
        let o = ReadTypeOptions::default();
        let schema = Arc::new(arrow_schema(&cols, &o).unwrap());
        let mut dec = RowDecoder::new(&cols, schema, &o, batch.num_rows());
        let prepared = enc.prepare(batch).unwrap();
        let srcs = enc.sources(&prepared).unwrap();
        for i in 0..srcs.rows {
            dec.push(enc.row(&srcs, i).unwrap()).unwrap();
        }
        dec.finish().unwrap()
    }

    #[test]
    fn every_type_round_trips_exactly() {
        let uuid_field = Field::new("g", DataType::FixedSizeBinary(16), true).with_metadata(
            [(
                "ARROW:extension:name".to_string(),
                crate::mssql::types::UUID_EXTENSION.to_string(),
            )]
            .into_iter()
            .collect(),
        );
        let offset_type = crate::mssql::types::offset_struct(DataType::Timestamp(
            TimeUnit::Nanosecond,
            Some("UTC".into()),
        ));
        let offsets = StructArray::new(
            match &offset_type {
                DataType::Struct(f) => f.clone(),
                _ => unreachable!(),
            },
            vec![
                Arc::new(
                    TimestampNanosecondArray::from(vec![
                        Some(1_700_000_000_123_456_700),
                        None,
                        Some(-6_213_559_680_000_000_000),
                    ])
                    .with_timezone("UTC"),
                ),
                Arc::new(arrow::array::Int16Array::from(vec![
                    Some(330),
                    None,
                    Some(-840),
                ])),
            ],
            Some(NullBuffer::from(vec![true, false, true])),
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("b", DataType::Boolean, true),
            Field::new("u8", DataType::UInt8, true),
            Field::new("i16", DataType::Int16, true),
            Field::new("i32", DataType::Int32, true),
            Field::new("i64", DataType::Int64, true),
            Field::new("f32", DataType::Float32, true),
            Field::new("f64", DataType::Float64, true),
            Field::new("d", DataType::Decimal128(38, 10), true),
            Field::new("day", DataType::Date32, true),
            Field::new("t", DataType::Time64(TimeUnit::Nanosecond), true),
            Field::new(
                "ts6",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                true,
            ),
            Field::new("ts7", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
            Field::new("dto", offset_type, true),
            Field::new("s", DataType::LargeUtf8, true),
            Field::new("bin", DataType::Binary, true),
            uuid_field,
        ]));
        let uuid = *b"\x12\x34\x56\x78\x9a\xbc\xde\xf0\x01\x23\x45\x67\x89\xab\xcd\xef";
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
                Arc::new(UInt8Array::from(vec![Some(0), None, Some(255)])),
                Arc::new(Int16Array::from(vec![Some(i16::MIN), None, Some(i16::MAX)])),
                Arc::new(Int32Array::from(vec![Some(i32::MIN), None, Some(i32::MAX)])),
                Arc::new(Int64Array::from(vec![Some(i64::MIN), None, Some(i64::MAX)])),
                Arc::new(Float32Array::from(vec![
                    Some(-1.5e38),
                    None,
                    Some(f32::MIN_POSITIVE),
                ])),
                Arc::new(Float64Array::from(vec![Some(0.1), None, Some(-0.0)])),
                Arc::new(
                    Decimal128Array::from(vec![
                        Some(99_999_999_999_999_999_999_999_999_999_999_999_999i128),
                        None,
                        Some(-1),
                    ])
                    .with_precision_and_scale(38, 10)
                    .unwrap(),
                ),
                // 0001-01-01 stays a date, and so does 9999-12-31.
                Arc::new(Date32Array::from(vec![
                    Some(-719_162),
                    None,
                    Some(2_932_896),
                ])),
                Arc::new(Time64NanosecondArray::from(vec![
                    Some(0),
                    None,
                    Some(86_399_999_999_900),
                ])),
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(-62_135_596_800_000_000),
                    None,
                    Some(253_402_300_799_999_999),
                ])),
                Arc::new(TimestampNanosecondArray::from(vec![
                    Some(1_700_000_000_123_456_700),
                    None,
                    Some(-1_000_000_000_000_000_000),
                ])),
                Arc::new(offsets),
                Arc::new(LargeStringArray::from(vec![
                    Some("ünï ✓ 𝄞"),
                    None,
                    Some(""),
                ])),
                Arc::new(BinaryArray::from(vec![
                    Some(&b"\x00\xff"[..]),
                    None,
                    Some(&b""[..]),
                ])),
                Arc::new(
                    FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                        vec![Some(uuid), None, Some([0u8; 16])].into_iter(),
                        16,
                    )
                    .unwrap(),
                ),
            ],
        )
        .unwrap();
        let back = round_trip(&batch);
        for (i, f) in batch.schema().fields().iter().enumerate() {
            assert_eq!(
                back.column(i).to_data(),
                batch.column(i).to_data(),
                "column {}",
                f.name()
            );
            assert_eq!(
                back.schema().field(i).data_type(),
                f.data_type(),
                "{}",
                f.name()
            );
        }
    }

    #[test]
    fn datetime_ticks_read_as_sql_server_prints_them() {
        // 1900-01-01 00:00:00.003 (1 tick), .007 (2 ticks), 1970-01-01 (day 25567).
        assert_eq!(
            datetime_millis(DateTime::new(0, 1)),
            -25_567 * 86_400_000 + 3
        );
        assert_eq!(
            datetime_millis(DateTime::new(0, 2)),
            -25_567 * 86_400_000 + 7
        );
        assert_eq!(datetime_millis(DateTime::new(25_567, 300)), 1_000);
        assert_eq!(
            smalldatetime_millis(SmallDateTime::new(25_567, 61)),
            61 * 60_000
        );
        let d = DateTime2::new(Date::new(0), Time::new(1, 7));
        assert_eq!(datetime2_nanos(d), Ok(-62_135_596_800_000_000_000 + 100));
    }

    /// A decoder for one column `c` of type `ty`.
    fn one_column(ty: MsType) -> RowDecoder {
        let cols = vec![MsColumn {
            name: "c".into(),
            ty,
        }];
        let o = ReadTypeOptions::default();
        let schema = Arc::new(arrow_schema(&cols, &o).unwrap());
        RowDecoder::new(&cols, schema, &o, 4)
    }

    #[test]
    fn rescaling_that_would_overflow_is_an_error_naming_the_column_not_a_wrapped_value() {
        use tiberius::numeric::Numeric;
        let num = |v: i128, scale: u8| ColumnData::Numeric(Some(Numeric::new_with_scale(v, scale)));
        // A row at scale 0 where decimal(38,10) was described: 10^37 * 10^10 overflows i128.
        let mut d = one_column(MsType::Decimal(38, 10));
        let e = d.push([num(10i128.pow(37), 0)]).unwrap_err();
        assert!(e.contains("column c") && e.contains("does not fit"), "{e}");
        // It fits an i128 but not decimal(10,2): refused too (no invalid Arrow decimal).
        let mut d = one_column(MsType::Decimal(10, 2));
        let e = d.push([num(10i128.pow(9), 0)]).unwrap_err();
        assert!(e.contains("column c") && e.contains("does not fit"), "{e}");
        // Exact rescaling still works: 12.5 at scale 1 read as decimal(10,2) is 1250.
        d.push([num(125, 1)]).unwrap();
        let b = d.finish().unwrap();
        let a = b
            .column(0)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap();
        assert_eq!(a.value(0), 1250);
        // A time scale above 9 (no server sends one) is refused, not wrapped.
        let mut d = one_column(MsType::Time(7));
        let e = d
            .push([ColumnData::Time(Some(Time::new(1, 12)))])
            .unwrap_err();
        assert!(e.contains("column c") && e.contains("scale 12"), "{e}");
        assert_eq!(time_nanos(Time::new(1, 7)), Ok(100));
    }

    #[test]
    fn the_decoder_counts_the_string_and_binary_bytes_it_buffers() {
        let mut d = one_column(MsType::String { max: false });
        d.push([ColumnData::String(Some("héllo".into()))]).unwrap();
        d.push([ColumnData::String(None)]).unwrap();
        assert_eq!(d.bytes(), "héllo".len());
        d.finish().unwrap();
        assert_eq!(d.bytes(), 0, "a new batch starts at 0");
        let mut d = one_column(MsType::Binary { max: true });
        d.push([ColumnData::Binary(Some(vec![0u8; 1000].into()))])
            .unwrap();
        assert_eq!(d.bytes(), 1000);
        let mut d = one_column(MsType::BigInt);
        d.push([ColumnData::I64(Some(1))]).unwrap();
        assert_eq!(d.bytes(), 0, "fixed-width values are not counted");
    }

    #[test]
    fn values_sql_server_cannot_hold_are_errors_naming_the_column() {
        let err = |field: Field, array: ArrayRef| {
            let schema = Arc::new(Schema::new(vec![field]));
            let batch = RecordBatch::try_new(schema.clone(), vec![array]).unwrap();
            let mut enc = match Encoder::new(&schema) {
                Ok(e) => e,
                Err(e) => return e,
            };
            let p = enc.prepare(&batch).unwrap();
            let s = enc.sources(&p).unwrap();
            enc.row(&s, 0).expect_err("an error")
        };
        let e = err(
            Field::new("x", DataType::Float64, true),
            Arc::new(Float64Array::from(vec![f64::NAN])),
        );
        assert!(e.contains("column x") && e.contains("NaN"), "{e}");
        let e = err(
            Field::new("t", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
            Arc::new(TimestampNanosecondArray::from(vec![1_i64])),
        );
        assert!(e.contains("column t") && e.contains("100 ns"), "{e}");
        let e = err(
            Field::new("d", DataType::Date32, true),
            Arc::new(Date32Array::from(vec![-719_163])),
        );
        assert!(e.contains("column d") && e.contains("0001-01-01"), "{e}");
        let e = err(
            Field::new("w", DataType::Decimal256(60, 2), true),
            Arc::new(
                arrow::array::Decimal256Array::from(vec![arrow::datatypes::i256::from(1)])
                    .with_precision_and_scale(60, 2)
                    .unwrap(),
            ),
        );
        assert!(e.contains("column w") && e.contains("38"), "{e}");
        assert!(!e.is_empty());
        let _ = Int32Array::from(vec![1]).len();
    }
}
