//! Arrow <-> SQLite. SQLite has five storage classes (NULL, INTEGER, REAL, TEXT, BLOB) and
//! column *affinities* that convert values on insert; hygge keeps every Arrow type exact:
//!
//! | Arrow | declared | kept as |
//! |---|---|---|
//! | boolean | `BOOLEAN` | INTEGER 0/1 |
//! | int8..int64, uint8..uint32 | `INTEGER` | INTEGER |
//! | uint64 | `TEXT` | decimal text (SQLite's INTEGER is signed) |
//! | float16/32/64 | `DOUBLE BLOB` | REAL; NaN as TEXT `NaN` (no REAL affinity, which turns -0.0 into 0) |
//! | decimal128/256 | `TEXT` | decimal text, every digit of the scale |
//! | utf8, large_utf8, utf8_view | `TEXT` | TEXT |
//! | binary, large_binary, binary_view, fixed_size_binary (UUID) | `BLOB` | BLOB |
//! | date32 / date64 | `INTEGER` | days / milliseconds since 1970-01-01 |
//! | time32/64, timestamp (any unit, any zone), duration | `INTEGER` | count of the unit (since the epoch, UTC) |
//! | dictionary of any of the above | as its values | as its values |
//! | list, struct, map, interval, anything else | `BLOB` | one Arrow IPC stream per value |
//!
//! The exact Arrow field of every column (type, unit, zone, precision, nested fields,
//! extension metadata such as `arrow.uuid`) is written to [`COLUMNS_TABLE`] with the data,
//! and the home reads a table hygge wrote back to those fields.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::*;
use arrow::buffer::NullBuffer;
use arrow::compute::{CastOptions, cast, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, i256};
use rusqlite::types::{Value, ValueRef};

/// The table, in each database file hygge writes, holding the Arrow field of each column
/// of each table it wrote (replaced in the transaction that publishes the table).
pub const COLUMNS_TABLE: &str = "_hygge_columns";

/// How one column is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// INTEGER 0/1.
    Bool,
    /// INTEGER (integers and every temporal type, as counts of their unit).
    Int,
    /// REAL (NaN as TEXT).
    Real,
    /// TEXT.
    Text,
    /// Decimal text.
    Decimal,
    /// Unsigned 64-bit as decimal text.
    UInt64,
    /// BLOB.
    Blob,
    /// One Arrow IPC stream per value.
    Ipc,
    /// Only NULLs.
    Null,
}

/// The physical integer type of a temporal type (`None` for others).
fn physical(dt: &DataType) -> Option<DataType> {
    match dt {
        DataType::Date32 | DataType::Time32(_) => Some(DataType::Int32),
        DataType::Date64
        | DataType::Time64(_)
        | DataType::Timestamp(..)
        | DataType::Duration(_) => Some(DataType::Int64),
        _ => None,
    }
}

/// How a column of `dt` is kept.
pub fn storage(dt: &DataType) -> Storage {
    use DataType as D;
    match dt {
        D::Null => Storage::Null,
        D::Boolean => Storage::Bool,
        D::Int8 | D::Int16 | D::Int32 | D::Int64 | D::UInt8 | D::UInt16 | D::UInt32 => Storage::Int,
        D::UInt64 => Storage::UInt64,
        D::Float16 | D::Float32 | D::Float64 => Storage::Real,
        D::Decimal32(..) | D::Decimal64(..) | D::Decimal128(..) | D::Decimal256(..) => {
            Storage::Decimal
        }
        D::Utf8 | D::LargeUtf8 | D::Utf8View => Storage::Text,
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => Storage::Blob,
        d if physical(d).is_some() => Storage::Int,
        D::Dictionary(_, v) => match storage(v) {
            Storage::Ipc => Storage::Ipc,
            s => s,
        },
        _ => Storage::Ipc,
    }
}

/// A column's type affinity, from its declared type, by SQLite's rules (section 3.1 of
/// "Datatypes In SQLite").
pub fn affinity(declared: &str) -> &'static str {
    let d = declared.to_ascii_uppercase();
    if d.contains("INT") {
        "INTEGER"
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|k| d.contains(k)) {
        "TEXT"
    } else if d.contains("BLOB") || d.trim().is_empty() {
        "BLOB"
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|k| d.contains(k)) {
        "REAL"
    } else {
        "NUMERIC"
    }
}

/// Why values of `dt` would not stay exact in a column declared `declared` (its affinity
/// converts them as they are stored), or None.
pub fn lossy_into(dt: &DataType, declared: &str) -> Option<&'static str> {
    let a = affinity(declared);
    match (storage(dt), a) {
        (Storage::Text | Storage::Decimal | Storage::UInt64, "INTEGER" | "REAL" | "NUMERIC") => {
            Some(
                "its values are kept as text, and this affinity turns text that looks like a number into a number (`1.10` becomes 1.1, `00123` becomes 123, a 38-digit decimal is rounded)",
            )
        }
        (Storage::Int, "REAL") => {
            Some("this affinity turns integers into floating point (exact only up to 2^53)")
        }
        (Storage::Real, "INTEGER" | "NUMERIC") => {
            Some("this affinity turns whole floating-point values into integers (-0.0 becomes 0)")
        }
        (Storage::Real, "TEXT") => {
            Some("this affinity turns floating-point values into text of 15 significant digits")
        }
        _ => None,
    }
}

/// The declared column type for `dt` (its affinity keeps the values as written).
pub fn declared(dt: &DataType) -> &'static str {
    match storage(dt) {
        Storage::Bool => "BOOLEAN",
        Storage::Int => "INTEGER",
        Storage::Real => "DOUBLE BLOB",
        Storage::Text | Storage::Decimal | Storage::UInt64 => "TEXT",
        Storage::Blob | Storage::Ipc => "BLOB",
        Storage::Null => "",
    }
}

/// A column ready to bind, one value per row.
pub enum Bound {
    /// INTEGER.
    Int(Int64Array),
    /// INTEGER 0/1.
    Bool(BooleanArray),
    /// REAL.
    Real(Float64Array),
    /// TEXT.
    Text(LargeStringArray),
    /// BLOB.
    Blob(LargeBinaryArray),
    /// BLOB per value (IPC) or NULL.
    Owned(Vec<Option<Vec<u8>>>),
    /// NULLs.
    Null,
}

impl Bound {
    /// Row `i`'s value.
    pub fn value(&self, i: usize) -> ValueRef<'_> {
        match self {
            Bound::Int(a) => match a.is_null(i) {
                true => ValueRef::Null,
                false => ValueRef::Integer(a.value(i)),
            },
            Bound::Bool(a) => match a.is_null(i) {
                true => ValueRef::Null,
                false => ValueRef::Integer(a.value(i) as i64),
            },
            Bound::Real(a) => match a.is_null(i) {
                true => ValueRef::Null,
                false if a.value(i).is_nan() => ValueRef::Text(b"NaN"),
                false => ValueRef::Real(a.value(i)),
            },
            Bound::Text(a) => match a.is_null(i) {
                true => ValueRef::Null,
                false => ValueRef::Text(a.value(i).as_bytes()),
            },
            Bound::Blob(a) => match a.is_null(i) {
                true => ValueRef::Null,
                false => ValueRef::Blob(a.value(i)),
            },
            Bound::Owned(v) => match &v[i] {
                None => ValueRef::Null,
                Some(b) => ValueRef::Blob(b),
            },
            Bound::Null => ValueRef::Null,
        }
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn reinterpret(a: &ArrayRef, dt: &DataType) -> Result<ArrayRef, String> {
    Ok(make_array(
        a.to_data()
            .into_builder()
            .data_type(dt.clone())
            .build()
            .map_err(err)?,
    ))
}

/// Column `a` (of field `f`) as SQLite values.
pub fn bind(f: &Field, a: &ArrayRef) -> Result<Bound, String> {
    let name = f.name();
    let wrap = |e: String| format!("column `{name}` ({}): {e}", a.data_type());
    let dt = a.data_type();
    let values: ArrayRef = match dt {
        DataType::Dictionary(_, v) if storage(dt) != Storage::Ipc => {
            cast(a, v).map_err(err).map_err(wrap)?
        }
        _ => a.clone(),
    };
    let vdt = values.data_type().clone();
    Ok(match storage(&vdt) {
        Storage::Null => Bound::Null,
        Storage::Bool => Bound::Bool(values.as_boolean().clone()),
        Storage::Int => {
            let ints = match physical(&vdt) {
                Some(p) => reinterpret(&values, &p).map_err(wrap)?,
                None => values,
            };
            Bound::Int(
                cast(&ints, &DataType::Int64)
                    .map_err(err)
                    .map_err(wrap)?
                    .as_primitive()
                    .clone(),
            )
        }
        Storage::Real => Bound::Real(
            cast(&values, &DataType::Float64)
                .map_err(err)
                .map_err(wrap)?
                .as_primitive()
                .clone(),
        ),
        Storage::Text | Storage::Decimal | Storage::UInt64 => Bound::Text(
            cast(&values, &DataType::LargeUtf8)
                .map_err(err)
                .map_err(wrap)?
                .as_string::<i64>()
                .clone(),
        ),
        Storage::Blob => match &vdt {
            DataType::FixedSizeBinary(_) => {
                let fx = values.as_fixed_size_binary();
                Bound::Blob(fx.iter().collect())
            }
            _ => Bound::Blob(
                cast(&values, &DataType::LargeBinary)
                    .map_err(err)
                    .map_err(wrap)?
                    .as_binary::<i64>()
                    .clone(),
            ),
        },
        Storage::Ipc => {
            let schema = Arc::new(Schema::new(vec![Field::new("v", vdt.clone(), true)]));
            let mut out = Vec::with_capacity(values.len());
            for i in 0..values.len() {
                if values.is_null(i) {
                    out.push(None);
                    continue;
                }
                out.push(Some(
                    ipc_bytes(&schema, Some(values.slice(i, 1))).map_err(wrap)?,
                ));
            }
            Bound::Owned(out)
        }
    })
}

pub use crate::embedded::{field_bytes, field_from_bytes, ipc_bytes};

/// The Arrow type of a column SQLite declared `decl` (a table hygge did not write):
/// `None` when undeclared (an expression; the values decide).
pub fn from_declared(decl: Option<&str>) -> Result<Option<DataType>, String> {
    let Some(d) = decl else { return Ok(None) };
    let u = d.to_ascii_uppercase();
    let has = |s: &str| u.contains(s);
    Ok(Some(if has("BOOL") {
        DataType::Boolean
    } else if has("INT") {
        DataType::Int64
    } else if has("CHAR") || has("CLOB") || has("TEXT") {
        DataType::Utf8
    } else if has("REAL") || has("FLOA") || has("DOUB") {
        DataType::Float64
    } else if u.trim().is_empty() || has("BLOB") {
        DataType::Binary
    } else if has("NUMERIC") || has("DECIMAL") {
        let (p, s) = precision(&u).ok_or_else(|| {
            format!(
                "declared `{d}` without a precision: no exact Arrow type; declare NUMERIC(p,s), or CAST the column in a `query`"
            )
        })?;
        match p {
            1..=38 => DataType::Decimal128(p, s),
            39..=76 => DataType::Decimal256(p, s),
            _ => {
                return Err(format!(
                    "declared `{d}`: a precision of {p} does not fit a decimal (at most 76)"
                ));
            }
        }
    } else {
        return Err(format!(
            "declared `{d}`: hygge cannot tell which Arrow type that is (SQLite keeps any value in it); CAST the column in a `query` (AS INTEGER, REAL, TEXT or BLOB)"
        ));
    }))
}

fn precision(u: &str) -> Option<(u8, i8)> {
    let inner = u.split_once('(')?.1.split_once(')')?.0;
    let mut it = inner.split(',').map(|x| x.trim());
    let p: u8 = it.next()?.parse().ok()?;
    let s: i8 = match it.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    (s >= 0 && (s as u8) <= p).then_some((p, s))
}

/// The type the values of an undeclared column suggest.
pub fn from_value(v: &Value) -> Option<DataType> {
    match v {
        Value::Null => None,
        Value::Integer(_) => Some(DataType::Int64),
        Value::Real(_) => Some(DataType::Float64),
        Value::Text(_) => Some(DataType::Utf8),
        Value::Blob(_) => Some(DataType::Binary),
    }
}

fn class(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Integer(_) => "INTEGER",
        Value::Real(_) => "REAL",
        Value::Text(_) => "TEXT",
        Value::Blob(_) => "BLOB",
    }
}

/// `text` as the unscaled digits of a decimal of `scale` with at most `p` digits; an error
/// when it does not fit exactly.
pub fn decimal_digits(text: &str, p: u8, scale: i8) -> Result<String, String> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mant, exp) = match t.split_once(['e', 'E']) {
        Some((m, e)) => (
            m,
            e.parse::<i32>()
                .map_err(|_| format!("`{text}` is not a number"))?,
        ),
        None => (t, 0),
    };
    let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
    if ip.is_empty() && fp.is_empty() || !ip.chars().chain(fp.chars()).all(|c| c.is_ascii_digit()) {
        return Err(format!("`{text}` is not a number"));
    }
    let mut digits: String = format!("{ip}{fp}");
    let shift = scale as i32 + exp - fp.len() as i32;
    if shift >= 0 {
        digits.extend(std::iter::repeat_n('0', shift as usize));
    } else {
        let cut = (-shift) as usize;
        let keep = digits.len().saturating_sub(cut);
        if digits[keep..].chars().any(|c| c != '0') {
            return Err(format!(
                "`{text}` has more decimal places than the scale {scale}"
            ));
        }
        digits.truncate(keep);
    }
    let digits = digits.trim_start_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if digits.len() > p as usize {
        return Err(format!("`{text}` has more digits than the precision {p}"));
    }
    Ok(if neg && digits != "0" {
        format!("-{digits}")
    } else {
        digits.to_string()
    })
}

/// The values of one column (`f`, kept as `storage(f)`) as an Arrow array of `f`'s type.
pub fn column(f: &Field, values: Vec<Value>) -> Result<ArrayRef, String> {
    let name = f.name();
    let dt = f.data_type();
    let wrap = |e: String| format!("column `{name}` ({dt}): {e}");
    let mismatch = |v: &Value| {
        wrap(format!(
            "a {} value where {} was expected",
            class(v),
            declared_class(dt)
        ))
    };
    let n = values.len();
    let values_dt = match dt {
        DataType::Dictionary(_, v) if storage(dt) != Storage::Ipc => v.as_ref().clone(),
        d => d.clone(),
    };
    let strict = CastOptions {
        safe: false,
        ..Default::default()
    };
    let out: ArrayRef = match storage(&values_dt) {
        Storage::Null => {
            if let Some(v) = values.iter().find(|v| !matches!(v, Value::Null)) {
                return Err(mismatch(v));
            }
            new_null_array(&values_dt, n)
        }
        Storage::Bool => {
            let mut b = BooleanBuilder::with_capacity(n);
            for v in &values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Integer(0) => b.append_value(false),
                    Value::Integer(1) => b.append_value(true),
                    v => return Err(mismatch(v)),
                }
            }
            Arc::new(b.finish())
        }
        Storage::Int => {
            let mut b = Int64Builder::with_capacity(n);
            for v in &values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Integer(i) => b.append_value(*i),
                    v => return Err(mismatch(v)),
                }
            }
            let ints: ArrayRef = Arc::new(b.finish());
            match physical(&values_dt) {
                Some(p) => {
                    let p = cast_with_options(&ints, &p, &strict)
                        .map_err(err)
                        .map_err(wrap)?;
                    reinterpret(&p, &values_dt).map_err(wrap)?
                }
                None => cast_with_options(&ints, &values_dt, &strict)
                    .map_err(err)
                    .map_err(wrap)?,
            }
        }
        Storage::Real => {
            let mut b = Float64Builder::with_capacity(n);
            for v in &values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Real(x) => b.append_value(*x),
                    Value::Integer(i) => b.append_value(*i as f64),
                    Value::Text(t) if t == "NaN" => b.append_value(f64::NAN),
                    v => return Err(mismatch(v)),
                }
            }
            cast(&(Arc::new(b.finish()) as ArrayRef), &values_dt)
                .map_err(err)
                .map_err(wrap)?
        }
        Storage::Text => {
            let mut b = LargeStringBuilder::with_capacity(n, 0);
            for v in &values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Text(t) => b.append_value(t),
                    Value::Integer(i) => b.append_value(i.to_string()),
                    Value::Real(x) => b.append_value(x.to_string()),
                    v => return Err(mismatch(v)),
                }
            }
            cast(&(Arc::new(b.finish()) as ArrayRef), &values_dt)
                .map_err(err)
                .map_err(wrap)?
        }
        Storage::UInt64 => {
            let mut b = UInt64Builder::with_capacity(n);
            for v in &values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Text(t) => {
                        b.append_value(t.parse().map_err(|_| {
                            wrap(format!("`{t}` is not an unsigned 64-bit integer"))
                        })?)
                    }
                    Value::Integer(i) if *i >= 0 => b.append_value(*i as u64),
                    v => return Err(mismatch(v)),
                }
            }
            Arc::new(b.finish())
        }
        Storage::Decimal => decimal(&values_dt, &values).map_err(wrap)?,
        Storage::Blob => {
            let mut b = LargeBinaryBuilder::with_capacity(n, 0);
            for v in &values {
                match v {
                    Value::Null => b.append_null(),
                    Value::Blob(x) => b.append_value(x),
                    Value::Text(t) => b.append_value(t.as_bytes()),
                    v => return Err(mismatch(v)),
                }
            }
            let bin = b.finish();
            match &values_dt {
                DataType::FixedSizeBinary(w) => {
                    if let Some(x) = bin.iter().flatten().find(|x| x.len() != *w as usize) {
                        return Err(wrap(format!("a value of {} bytes, not {w}", x.len())));
                    }
                    Arc::new(
                        FixedSizeBinaryArray::try_from_sparse_iter_with_size(bin.iter(), *w)
                            .map_err(err)
                            .map_err(wrap)?,
                    )
                }
                d => cast(&(Arc::new(bin) as ArrayRef), d)
                    .map_err(err)
                    .map_err(wrap)?,
            }
        }
        Storage::Ipc => {
            let mut parts: Vec<ArrayRef> = Vec::with_capacity(n);
            for v in &values {
                match v {
                    Value::Null => parts.push(new_null_array(&values_dt, 1)),
                    Value::Blob(b) => {
                        let mut r = arrow::ipc::reader::StreamReader::try_new(Cursor::new(b), None)
                            .map_err(err)
                            .map_err(wrap)?;
                        let batch = r
                            .next()
                            .ok_or_else(|| wrap("an empty Arrow IPC value".into()))?
                            .map_err(err)
                            .map_err(wrap)?;
                        let c = batch.column(0).clone();
                        if c.data_type() != &values_dt || c.len() != 1 {
                            return Err(wrap(format!("an Arrow IPC value of {}", c.data_type())));
                        }
                        parts.push(c);
                    }
                    v => return Err(mismatch(v)),
                }
            }
            if parts.is_empty() {
                new_empty_array(&values_dt)
            } else {
                let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
                arrow::compute::concat(&refs).map_err(err).map_err(wrap)?
            }
        }
    };
    match dt {
        DataType::Dictionary(..) if &values_dt != dt => cast(&out, dt).map_err(err).map_err(wrap),
        _ => Ok(out),
    }
}

fn declared_class(dt: &DataType) -> &'static str {
    match storage(dt) {
        Storage::Bool => "INTEGER 0 or 1",
        Storage::Int => "INTEGER",
        Storage::Real => "REAL",
        Storage::Text => "TEXT",
        Storage::Decimal => "a decimal number",
        Storage::UInt64 => "an unsigned integer",
        Storage::Blob => "BLOB",
        Storage::Ipc => "an Arrow IPC BLOB",
        Storage::Null => "NULL",
    }
}

fn decimal(dt: &DataType, values: &[Value]) -> Result<ArrayRef, String> {
    let (p, s) = match dt {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => (*p, *s),
        d => return Err(format!("{d} is not a decimal")),
    };
    let text = |v: &Value| -> Result<Option<String>, String> {
        Ok(match v {
            Value::Null => None,
            Value::Text(t) => Some(decimal_digits(t, p, s)?),
            Value::Integer(i) => Some(decimal_digits(&i.to_string(), p, s)?),
            Value::Real(x) if x.is_finite() => Some(decimal_digits(&x.to_string(), p, s)?),
            v => return Err(format!("a {} value is not a decimal", class(v))),
        })
    };
    let mut nulls = Vec::with_capacity(values.len());
    match dt {
        DataType::Decimal256(..) => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                let d = text(v)?;
                nulls.push(d.is_some());
                out.push(match d {
                    Some(d) => i256::from_string(&d)
                        .ok_or_else(|| format!("`{d}` is not a 256-bit integer"))?,
                    None => i256::ZERO,
                });
            }
            Ok(Arc::new(
                Decimal256Array::new(out.into(), Some(NullBuffer::from(nulls)))
                    .with_precision_and_scale(p, s)
                    .map_err(err)?,
            ))
        }
        _ => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                let d = text(v)?;
                nulls.push(d.is_some());
                out.push(match d {
                    Some(d) => d.parse::<i128>().map_err(err)?,
                    None => 0,
                });
            }
            let a: ArrayRef = Arc::new(
                Decimal128Array::new(out.into(), Some(NullBuffer::from(nulls)))
                    .with_precision_and_scale(p.min(38), s)
                    .map_err(err)?,
            );
            match dt {
                DataType::Decimal128(..) => Ok(a),
                d => cast(&a, d).map_err(err),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn affinity_and_what_it_would_change() {
        use super::{affinity, lossy_into};
        use arrow::datatypes::DataType as D;
        for (decl, a) in [
            ("BIGINT", "INTEGER"),
            ("VARCHAR(10)", "TEXT"),
            ("", "BLOB"),
            ("DOUBLE PRECISION", "REAL"),
            ("DECIMAL(10,2)", "NUMERIC"),
            ("DOUBLE BLOB", "BLOB"),
        ] {
            assert_eq!(affinity(decl), a, "{decl}");
        }
        assert!(lossy_into(&D::Decimal128(38, 2), "DECIMAL(38,2)").is_some());
        assert!(lossy_into(&D::Utf8, "NUMERIC").is_some());
        assert!(lossy_into(&D::Utf8, "TEXT").is_none());
        assert!(lossy_into(&D::Int64, "REAL").is_some());
        assert!(lossy_into(&D::Int64, "INTEGER").is_none());
        assert!(lossy_into(&D::Float64, "INT").is_some());
        assert!(lossy_into(&D::Float64, "DOUBLE").is_none());
        assert!(lossy_into(&D::Binary, "INTEGER").is_none());
    }

    use super::*;

    #[test]
    fn decimals_are_parsed_exactly_or_refused() {
        assert_eq!(decimal_digits("123.45", 10, 2).unwrap(), "12345");
        assert_eq!(decimal_digits("-0.5", 10, 3).unwrap(), "-500");
        assert_eq!(decimal_digits("1.2e2", 10, 0).unwrap(), "120");
        assert_eq!(decimal_digits("12", 10, 2).unwrap(), "1200");
        assert!(
            decimal_digits("1.234", 10, 2).is_err(),
            "more places than the scale"
        );
        assert!(
            decimal_digits("123456", 5, 0).is_err(),
            "more digits than the precision"
        );
        assert!(decimal_digits("1.230", 10, 2).is_ok(), "trailing zeros fit");
        assert!(decimal_digits("abc", 10, 2).is_err());
    }

    #[test]
    fn declared_types_map_by_affinity_or_fail_clearly() {
        assert_eq!(
            from_declared(Some("INTEGER")).unwrap(),
            Some(DataType::Int64)
        );
        assert_eq!(
            from_declared(Some("varchar(20)")).unwrap(),
            Some(DataType::Utf8)
        );
        assert_eq!(
            from_declared(Some("REAL")).unwrap(),
            Some(DataType::Float64)
        );
        assert_eq!(from_declared(Some("BLOB")).unwrap(), Some(DataType::Binary));
        assert_eq!(
            from_declared(Some("DECIMAL(10,2)")).unwrap(),
            Some(DataType::Decimal128(10, 2))
        );
        assert_eq!(
            from_declared(Some("NUMERIC(50,5)")).unwrap(),
            Some(DataType::Decimal256(50, 5))
        );
        assert!(
            from_declared(Some("NUMERIC"))
                .unwrap_err()
                .contains("precision")
        );
        assert!(
            from_declared(Some("DATETIME"))
                .unwrap_err()
                .contains("CAST")
        );
        assert_eq!(from_declared(None).unwrap(), None);
    }
}
