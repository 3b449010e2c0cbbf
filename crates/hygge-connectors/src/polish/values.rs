//! Values as the original wrote them: a column's values as text the way Polars casts them
//! to `Utf8` (what `hash_ids` hashes), constant columns as `pl.lit` types them, and load
//! times.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, NullArray,
    StringArray, TimestampMicrosecondArray, UInt64Array,
};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, Int64Type, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt64Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};

use super::config::ConstValue;

/// Whether Polars could cast a column of type `t` to text (and so the original could hash
/// it); `Err` says why not.
pub(crate) fn check_text(t: &DataType) -> Result<(), String> {
    use DataType::*;
    match t {
        Null
        | Boolean
        | Int8
        | Int16
        | Int32
        | Int64
        | UInt8
        | UInt16
        | UInt32
        | UInt64
        | Float32
        | Float64
        | Utf8
        | LargeUtf8
        | Utf8View
        | Binary
        | LargeBinary
        | BinaryView
        | Date32
        | Time32(_)
        | Time64(_)
        | Decimal128(_, _)
        | Decimal256(_, _) => Ok(()),
        Timestamp(_, None) => Ok(()),
        Timestamp(_, Some(tz)) => tz
            .parse::<arrow::array::timezone::Tz>()
            .map(|_| ())
            .map_err(|e| format!("its time zone {tz:?} is not known ({e})")),
        Dictionary(_, v) => check_text(v),
        other => Err(format!(
            "it is {other}, which the original hygge could not turn into text to hash"
        )),
    }
}

/// One column's values as text, row by row.
pub(crate) enum Text {
    Null,
    Bool(BooleanArray),
    Int(Int64Array),
    UInt(UInt64Array),
    F32(arrow::array::Float32Array),
    F64(Float64Array),
    Str(StringArray),
    Bin(arrow::array::BinaryArray),
    Date(arrow::array::Date32Array),
    /// Values in `unit`, shown with 3 (ms), 6 (us) or 9 (ns) decimals, in a time zone.
    Ts {
        values: Int64Array,
        unit: TimeUnit,
        tz: Option<arrow::array::timezone::Tz>,
    },
    /// Nanoseconds since midnight, shown to the second (as Polars casts times).
    Time(arrow::array::Time64NanosecondArray),
    /// Decimals, as Arrow shows them (`1.50`, `-0.01`).
    Decimal(ArrayRef),
}

impl Text {
    /// Prepares `a` (whose type passed [`check_text`]) to be read as text.
    pub(crate) fn new(a: &ArrayRef) -> Result<Text, String> {
        use DataType::*;
        let c = |to: &DataType| cast(a, to).map_err(|e| e.to_string());
        Ok(match a.data_type() {
            Null => Text::Null,
            Boolean => Text::Bool(a.as_boolean().clone()),
            Int8 | Int16 | Int32 | Int64 => {
                Text::Int(c(&Int64)?.as_primitive::<Int64Type>().clone())
            }
            UInt8 | UInt16 | UInt32 | UInt64 => {
                Text::UInt(c(&UInt64)?.as_primitive::<UInt64Type>().clone())
            }
            Float32 => Text::F32(a.as_primitive::<Float32Type>().clone()),
            Float64 => Text::F64(a.as_primitive::<Float64Type>().clone()),
            Utf8 => Text::Str(a.as_string::<i32>().clone()),
            LargeUtf8 | Utf8View => Text::Str(c(&Utf8)?.as_string::<i32>().clone()),
            Binary => Text::Bin(a.as_binary::<i32>().clone()),
            LargeBinary | BinaryView => Text::Bin(c(&Binary)?.as_binary::<i32>().clone()),
            Date32 => Text::Date(a.as_primitive::<Date32Type>().clone()),
            Timestamp(unit, tz) => {
                let values = match unit {
                    TimeUnit::Second => a.as_primitive::<TimestampSecondType>().reinterpret_cast(),
                    TimeUnit::Millisecond => a
                        .as_primitive::<TimestampMillisecondType>()
                        .reinterpret_cast(),
                    TimeUnit::Microsecond => a
                        .as_primitive::<TimestampMicrosecondType>()
                        .reinterpret_cast(),
                    TimeUnit::Nanosecond => a
                        .as_primitive::<TimestampNanosecondType>()
                        .reinterpret_cast(),
                };
                let tz = match tz {
                    Some(tz) => Some(tz.parse().map_err(|e| format!("time zone {tz:?}: {e}"))?),
                    None => None,
                };
                Text::Ts {
                    values,
                    unit: *unit,
                    tz,
                }
            }
            Time32(_) | Time64(_) => Text::Time(
                c(&Time64(TimeUnit::Nanosecond))?
                    .as_primitive::<Time64NanosecondType>()
                    .clone(),
            ),
            Decimal128(_, _) | Decimal256(_, _) => Text::Decimal(a.clone()),
            Dictionary(_, v) => Text::new(&c(v)?)?,
            other => return Err(format!("cannot turn {other} into text")),
        })
    }

    /// Whether row `i` is null.
    pub(crate) fn is_null(&self, i: usize) -> bool {
        match self {
            Text::Null => true,
            Text::Bool(a) => a.is_null(i),
            Text::Int(a) => a.is_null(i),
            Text::UInt(a) => a.is_null(i),
            Text::F32(a) => a.is_null(i),
            Text::F64(a) => a.is_null(i),
            Text::Str(a) => a.is_null(i),
            Text::Bin(a) => a.is_null(i),
            Text::Date(a) => a.is_null(i),
            Text::Ts { values, .. } => values.is_null(i),
            Text::Time(a) => a.is_null(i),
            Text::Decimal(a) => a.is_null(i),
        }
    }

    /// Appends row `i` (not null) as Polars writes it as text.
    pub(crate) fn push(&self, i: usize, out: &mut String) -> Result<(), String> {
        use std::fmt::Write;
        match self {
            Text::Null => {}
            Text::Bool(a) => out.push_str(if a.value(i) { "true" } else { "false" }),
            Text::Int(a) => {
                let _ = write!(out, "{}", a.value(i));
            }
            Text::UInt(a) => {
                let _ = write!(out, "{}", a.value(i));
            }
            Text::F32(a) => push_float(out, ryu::Buffer::new().format(a.value(i))),
            Text::F64(a) => push_float(out, ryu::Buffer::new().format(a.value(i))),
            Text::Str(a) => out.push_str(a.value(i)),
            Text::Bin(a) => out.push_str(std::str::from_utf8(a.value(i)).map_err(|_| {
                "holds bytes that are not UTF-8 text (the original cast them to text to hash them)"
                    .to_string()
            })?),
            Text::Date(a) => {
                let d = NaiveDate::from_num_days_from_ce_opt(a.value(i) + 719_163)
                    .ok_or_else(|| format!("row {i}: date out of range"))?;
                let _ = write!(out, "{}", d.format("%Y-%m-%d"));
            }
            Text::Ts { values, unit, tz } => {
                let v = values.value(i);
                let (secs, nanos, digits) = match unit {
                    TimeUnit::Second => (v, 0, 3),
                    TimeUnit::Millisecond => {
                        (v.div_euclid(1_000), v.rem_euclid(1_000) * 1_000_000, 3)
                    }
                    TimeUnit::Microsecond => {
                        (v.div_euclid(1_000_000), v.rem_euclid(1_000_000) * 1_000, 6)
                    }
                    TimeUnit::Nanosecond => {
                        (v.div_euclid(1_000_000_000), v.rem_euclid(1_000_000_000), 9)
                    }
                };
                let utc = DateTime::<Utc>::from_timestamp(secs, nanos as u32)
                    .ok_or_else(|| format!("row {i}: timestamp out of range"))?;
                let frac = match digits {
                    3 => "%Y-%m-%d %H:%M:%S%.3f",
                    6 => "%Y-%m-%d %H:%M:%S%.6f",
                    _ => "%Y-%m-%d %H:%M:%S%.9f",
                };
                match tz {
                    None => {
                        let _ = write!(out, "{}", utc.naive_utc().format(frac));
                    }
                    Some(tz) => {
                        let local = utc.with_timezone(tz);
                        let _ = write!(out, "{}{}", local.format(frac), local.format("%:z"));
                    }
                }
            }
            Text::Time(a) => {
                let v = a.value(i);
                let s = v.div_euclid(1_000_000_000);
                let _ = write!(out, "{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
            }
            Text::Decimal(a) => {
                let f = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())
                    .map_err(|e| e.to_string())?;
                let _ = write!(out, "{}", f.value(i));
            }
        }
        Ok(())
    }
}

/// A float as Polars writes it: the shortest text that reads back the same value, plain
/// between 1e-5 and 1e16 (1e-6 and 1e13 for 32-bit floats), else with an exponent that
/// carries a sign when positive (`1e+16`, `1.5e-10`); `NaN`, `inf`, `-inf`.
fn push_float(out: &mut String, s: &str) {
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => {
            out.push_str(m);
            out.push_str("e+");
            out.push_str(e);
        }
        _ => out.push_str(s),
    }
}

/// The Arrow type of a constant, as `pl.lit` types the Python value.
pub(crate) fn const_type(v: &ConstValue) -> DataType {
    match v {
        ConstValue::Null => DataType::Null,
        ConstValue::Bool(_) => DataType::Boolean,
        ConstValue::Int(i) if i32::try_from(*i).is_ok() => DataType::Int32,
        ConstValue::Int(_) => DataType::Int64,
        ConstValue::UInt(_) => DataType::UInt64,
        ConstValue::Float(_) => DataType::Float64,
        ConstValue::Text(_) => DataType::Utf8,
    }
}

/// A column of `rows` copies of `v`.
pub(crate) fn const_array(v: &ConstValue, rows: usize) -> ArrayRef {
    match v {
        ConstValue::Null => Arc::new(NullArray::new(rows)),
        ConstValue::Bool(b) => Arc::new(BooleanArray::from(vec![*b; rows])),
        ConstValue::Int(i) => match i32::try_from(*i) {
            Ok(x) => Arc::new(Int32Array::from_value(x, rows)),
            Err(_) => Arc::new(Int64Array::from_value(*i, rows)),
        },
        ConstValue::UInt(u) => Arc::new(UInt64Array::from_value(*u, rows)),
        ConstValue::Float(f) => Arc::new(Float64Array::from_value(*f, rows)),
        ConstValue::Text(s) => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            s.as_str(),
            rows,
        ))),
    }
}

/// A load time column: `rows` copies of `micros` (UTC).
pub(crate) fn time_array(micros: i64, rows: usize) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_value(micros, rows).with_timezone("UTC"))
}

/// `rows` copies of `text`.
pub(crate) fn text_array(text: &str, rows: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
        text, rows,
    )))
}

/// The type of a load time column.
pub(crate) fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Python's `strftime` directives, in chrono's: `%f` is microseconds in Python and
/// nanoseconds in chrono.
fn chrono_format(f: &str) -> String {
    let mut out = String::with_capacity(f.len() + 4);
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            match chars.next() {
                Some('f') => out.push_str("6f"),
                Some(n) => out.push(n),
                None => {}
            }
        }
    }
    out
}

/// Whether strftime can use `f`.
pub(crate) fn check_format(f: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    let cf = chrono_format(f);
    if StrftimeItems::new(&cf).any(|i| matches!(i, Item::Error)) {
        return Err("not a strftime format hygge knows (Python's directives: %Y %m %d %H %M %S %f %z %Z %j %a %b ...)".into());
    }
    Ok(())
}

/// A time as text: `format` (strftime) or ISO 8601 as Python's `isoformat` writes it
/// (microseconds only when not zero, the offset as `+00:00`).
pub(crate) fn format_time<Tz: TimeZone>(t: &DateTime<Tz>, format: Option<&str>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    use chrono::Timelike;
    match format {
        Some(f) => t.format(&chrono_format(f)).to_string(),
        None if t.nanosecond() / 1_000 == 0 => t.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        None => t.format("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string(),
    }
}

/// The load time of a run: now, to the microsecond, and as text in UTC or local time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoadTime {
    pub(crate) utc: DateTime<Utc>,
}

impl LoadTime {
    pub(crate) fn now() -> Self {
        let now = Utc::now();
        let micros = now.timestamp_micros();
        LoadTime {
            utc: DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or(now),
        }
    }

    pub(crate) fn micros(&self) -> i64 {
        self.utc.timestamp_micros()
    }

    pub(crate) fn text(&self, local: bool, format: Option<&str>) -> String {
        if local {
            format_time(&self.utc.with_timezone(&Local), format)
        } else {
            format_time(&self.utc, format)
        }
    }
}

/// Digests as the original wrote them: lowercase hex text, or the bytes.
pub(crate) fn digest(algo: super::config::HashAlgo, data: &[u8]) -> Vec<u8> {
    use super::config::HashAlgo::*;
    use sha2::Digest;
    match algo {
        Md5 => md5::Md5::digest(data).to_vec(),
        Sha1 => sha1::Sha1::digest(data).to_vec(),
        Sha224 => sha2::Sha224::digest(data).to_vec(),
        Sha256 => sha2::Sha256::digest(data).to_vec(),
        Sha384 => sha2::Sha384::digest(data).to_vec(),
        Sha512 => sha2::Sha512::digest(data).to_vec(),
    }
}

/// Appends `bytes` as lowercase hex.
pub(crate) fn hex_into(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}
