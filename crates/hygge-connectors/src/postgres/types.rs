//! PostgreSQL <-> Arrow type mapping (both directions).
//!
//! # Reading (PostgreSQL -> Arrow), see [`arrow_schema`]
//!
//! Domains are unwrapped to their base type; every field is nullable.
//!
//! | PostgreSQL | Arrow |
//! |---|---|
//! | `boolean` | `Boolean` |
//! | `smallint`, `integer`, `bigint` | `Int16`, `Int32`, `Int64` |
//! | `oid` | `UInt32` |
//! | `real`, `double precision` | `Float32`, `Float64` (NaN and ±Infinity kept) |
//! | `numeric(p,s)` | `Decimal128(p,s)` if p ≤ 38, else `Decimal256(p,s)` (p ≤ 76) |
//! | `numeric` | [`UnconstrainedNumeric`]: `Decimal128(38,10)` (exact or an error) or `Utf8` |
//! | `text`, `varchar`, `bpchar` (padding kept), `name`, `citext`, `unknown`, enums | `Utf8` |
//! | `bytea` | `Binary` |
//! | `date` | `Date32` (±infinity = `i32::MAX` / `i32::MIN`) |
//! | `time` | `Time64(µs)` |
//! | `timetz` | `Utf8` such as `13:45:00.123456+02:00` (no Arrow type carries the offset) |
//! | `timestamp` | `Timestamp(µs, None)` (±infinity = `i64::MAX` / `i64::MIN`) |
//! | `timestamptz` | `Timestamp(µs, "UTC")` (±infinity = `i64::MAX` / `i64::MIN`) |
//! | `interval` | `Interval(MonthDayNano)` |
//! | `uuid` | `FixedSizeBinary(16)`, extension `arrow.uuid` |
//! | `json`, `jsonb` | `Utf8`, extension `arrow.json` |
//! | `inet`, `cidr`, `macaddr`, `macaddr8` | `Utf8` in PostgreSQL's text form |
//! | one-dimensional arrays of the above | `List(item)` (NULL elements kept) |
//!
//! Anything else (money, xml, geometric types, ranges, composites, bit strings, …) is a
//! [`TypeError`] that suggests casting it to text in a `query`.
//!
//! # Writing (Arrow -> PostgreSQL), see [`pg_column_type`]
//!
//! | Arrow | PostgreSQL |
//! |---|---|
//! | `Boolean` | `boolean` |
//! | `Int8`, `Int16`, `UInt8` | `smallint` |
//! | `Int32`, `UInt16` | `integer` |
//! | `Int64`, `UInt32` | `bigint` |
//! | `UInt64` | `numeric(20,0)` |
//! | `Float16`, `Float32` / `Float64` | `real` / `double precision` |
//! | `Decimal32/64/128/256(p,s)` | `numeric(p,s)` (s ≥ 0) |
//! | `Utf8`, `LargeUtf8`, `Utf8View` | `text` (`jsonb` with extension `arrow.json`) |
//! | `Binary`, `LargeBinary`, `BinaryView`, `FixedSizeBinary` | `bytea` (`uuid` for `FixedSizeBinary(16)` with `arrow.uuid`) |
//! | `Date32`, `Date64` | `date` |
//! | `Time32`, `Time64` | `time` |
//! | `Timestamp(_, None)` / `Timestamp(_, Some(_))` | `timestamp` / `timestamptz` |
//! | `Duration`, `Interval` | `interval` |
//! | `List`, `LargeList`, `FixedSizeList` of the above | `<elem>[]` |
//! | `Dictionary(K, V)` | as `V` |
//! | `Null` | `text` |

use arrow::datatypes::{DataType, Field, Schema};
use serde::Deserialize;
use tokio_postgres::types::{Kind, Type};

/// The field metadata key naming an Arrow extension type.
pub const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
/// The extension name of UUID columns (`FixedSizeBinary(16)`).
pub const UUID_EXTENSION: &str = "arrow.uuid";
/// The extension name of JSON text columns (`Utf8`).
pub const JSON_EXTENSION: &str = "arrow.json";

/// One column of a PostgreSQL result, as the server describes it.
#[derive(Debug, Clone)]
pub struct PgColumn {
    /// Column name.
    pub name: String,
    /// The column's type (tokio-postgres resolves enums, domains, arrays and extension
    /// types such as citext through the catalog).
    pub ty: Type,
    /// The type modifier (`atttypmod`): numeric precision/scale, varchar length; -1 if none.
    pub typmod: i32,
}

/// What to do with `numeric` columns that have no precision/scale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnconstrainedNumeric {
    /// `decimal128(38, 10)`; a value that does not fit exactly (more than 10 fractional
    /// digits, more than 28 integer digits, NaN or infinity) is an error, never rounded.
    #[default]
    Decimal,
    /// Text with the exact digits PostgreSQL printed (`NaN`, `Infinity` included).
    Text,
}

/// Options for reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadTypeOptions {
    /// Policy for `numeric` without precision.
    pub unconstrained_numeric: UnconstrainedNumeric,
}

/// A column whose type cannot be carried.
#[derive(Debug, Clone, thiserror::Error)]
#[error("column `{column}` has type {pg_type}: {reason}")]
pub struct TypeError {
    /// The column.
    pub column: String,
    /// The type (PostgreSQL's name when reading, Arrow's when writing).
    pub pg_type: String,
    /// Why, and what to do.
    pub reason: String,
}

/// Precision and scale of `numeric` with an unconstrained typmod read as decimal.
pub const UNCONSTRAINED_PRECISION: u8 = 38;
/// See [`UNCONSTRAINED_PRECISION`].
pub const UNCONSTRAINED_SCALE: i8 = 10;

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// A PostgreSQL scalar type the decoder knows (domains already unwrapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PgScalar {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    /// text, varchar, bpchar, name, citext, unknown, enums: the binary form is the text.
    Text,
    Bytea,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    Json,
    Jsonb,
    Inet,
    Cidr,
    MacAddr,
    MacAddr8,
}

/// A column's shape: a scalar or a one-dimensional array of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PgShape {
    Scalar(PgScalar),
    Array(PgScalar),
}

/// Follows domains down to their base type.
fn unwrap_domain(mut ty: &Type) -> &Type {
    while let Kind::Domain(base) = ty.kind() {
        ty = base;
    }
    ty
}

fn scalar_of(ty: &Type) -> Option<PgScalar> {
    let ty = unwrap_domain(ty);
    match ty.kind() {
        Kind::Enum(_) => return Some(PgScalar::Text),
        Kind::Simple => {}
        _ => return None,
    }
    Some(match ty.oid() {
        16 => PgScalar::Bool,
        21 => PgScalar::Int2,
        23 => PgScalar::Int4,
        20 => PgScalar::Int8,
        26 => PgScalar::Oid,
        700 => PgScalar::Float4,
        701 => PgScalar::Float8,
        1700 => PgScalar::Numeric,
        // text, name, unknown, bpchar, varchar
        25 | 19 | 705 | 1042 | 1043 => PgScalar::Text,
        17 => PgScalar::Bytea,
        1082 => PgScalar::Date,
        1083 => PgScalar::Time,
        1266 => PgScalar::TimeTz,
        1114 => PgScalar::Timestamp,
        1184 => PgScalar::TimestampTz,
        1186 => PgScalar::Interval,
        2950 => PgScalar::Uuid,
        114 => PgScalar::Json,
        3802 => PgScalar::Jsonb,
        869 => PgScalar::Inet,
        650 => PgScalar::Cidr,
        829 => PgScalar::MacAddr,
        774 => PgScalar::MacAddr8,
        // citext is an extension type (its OID differs per database); binary = text.
        _ if ty.name() == "citext" => PgScalar::Text,
        _ => return None,
    })
}

/// The shape of a column type, or `None` if it cannot be read.
pub(crate) fn pg_shape(ty: &Type) -> Option<PgShape> {
    let base = unwrap_domain(ty);
    if let Kind::Array(elem) = base.kind() {
        return scalar_of(elem).map(PgShape::Array);
    }
    scalar_of(base).map(PgShape::Scalar)
}

/// `(precision, scale)` of a numeric typmod, or `None` when unconstrained.
pub(crate) fn numeric_typmod(typmod: i32) -> Option<(i32, i32)> {
    if typmod < 4 {
        return None;
    }
    let t = typmod - 4;
    let precision = (t >> 16) & 0xffff;
    // PostgreSQL 15+ keeps the scale in 11 bits, sign-extended (it may be negative).
    let scale = ((t & 0x7ff) ^ 1024) - 1024;
    Some((precision, scale))
}

fn type_error(col: &PgColumn, reason: impl Into<String>) -> TypeError {
    TypeError {
        column: col.name.clone(),
        pg_type: col.ty.name().to_string(),
        reason: reason.into(),
    }
}

fn cast_hint(col: &str) -> String {
    format!("read it with a `query:` that casts it, e.g. `SELECT \"{col}\"::text AS \"{col}\" ...`")
}

fn ext_metadata(name: &str) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([(EXTENSION_NAME_KEY.to_string(), name.to_string())])
}

/// The Arrow type (and extension name) of one PostgreSQL scalar.
fn scalar_arrow(
    col: &PgColumn,
    scalar: PgScalar,
    opts: &ReadTypeOptions,
) -> Result<(DataType, Option<&'static str>), TypeError> {
    use arrow::datatypes::{IntervalUnit, TimeUnit};
    Ok(match scalar {
        PgScalar::Bool => (DataType::Boolean, None),
        PgScalar::Int2 => (DataType::Int16, None),
        PgScalar::Int4 => (DataType::Int32, None),
        PgScalar::Int8 => (DataType::Int64, None),
        PgScalar::Oid => (DataType::UInt32, None),
        PgScalar::Float4 => (DataType::Float32, None),
        PgScalar::Float8 => (DataType::Float64, None),
        PgScalar::Numeric => match numeric_typmod(col.typmod) {
            None => match opts.unconstrained_numeric {
                UnconstrainedNumeric::Decimal => (
                    DataType::Decimal128(UNCONSTRAINED_PRECISION, UNCONSTRAINED_SCALE),
                    None,
                ),
                UnconstrainedNumeric::Text => (DataType::Utf8, None),
            },
            Some((p, s)) => {
                // Arrow wants 1 <= precision <= 76, scale <= precision, |scale| small.
                let precision = p.max(s);
                if precision > 76 || !(-128..=76).contains(&s) || precision < 1 {
                    return Err(type_error(
                        col,
                        format!(
                            "numeric({p},{s}) does not fit an Arrow decimal (at most 76 digits); {}",
                            cast_hint(&col.name)
                        ),
                    ));
                }
                let (p, s) = (precision as u8, s as i8);
                if p <= 38 {
                    (DataType::Decimal128(p, s), None)
                } else {
                    (DataType::Decimal256(p, s), None)
                }
            }
        },
        PgScalar::Text => (DataType::Utf8, None),
        PgScalar::Bytea => (DataType::Binary, None),
        PgScalar::Date => (DataType::Date32, None),
        PgScalar::Time => (DataType::Time64(TimeUnit::Microsecond), None),
        PgScalar::TimeTz => (DataType::Utf8, None),
        PgScalar::Timestamp => (DataType::Timestamp(TimeUnit::Microsecond, None), None),
        PgScalar::TimestampTz => (
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            None,
        ),
        PgScalar::Interval => (DataType::Interval(IntervalUnit::MonthDayNano), None),
        PgScalar::Uuid => (DataType::FixedSizeBinary(16), Some(UUID_EXTENSION)),
        PgScalar::Json | PgScalar::Jsonb => (DataType::Utf8, Some(JSON_EXTENSION)),
        PgScalar::Inet | PgScalar::Cidr | PgScalar::MacAddr | PgScalar::MacAddr8 => {
            (DataType::Utf8, None)
        }
    })
}

/// The Arrow field one column is read as.
pub fn arrow_field(col: &PgColumn, opts: &ReadTypeOptions) -> Result<Field, TypeError> {
    let shape = pg_shape(&col.ty).ok_or_else(|| {
        type_error(
            col,
            format!(
                "hygge has no Arrow mapping for it; {}",
                cast_hint(&col.name)
            ),
        )
    })?;
    Ok(match shape {
        PgShape::Scalar(s) => {
            let (dt, ext) = scalar_arrow(col, s, opts)?;
            let f = Field::new(&col.name, dt, true);
            match ext {
                Some(e) => f.with_metadata(ext_metadata(e)),
                None => f,
            }
        }
        PgShape::Array(s) => {
            let (dt, ext) = scalar_arrow(col, s, opts)?;
            let mut item = Field::new("item", dt, true);
            if let Some(e) = ext {
                item = item.with_metadata(ext_metadata(e));
            }
            Field::new(&col.name, DataType::List(item.into()), true)
        }
    })
}

/// The Arrow schema a result with these columns is read as.
pub fn arrow_schema(cols: &[PgColumn], opts: &ReadTypeOptions) -> Result<Schema, TypeError> {
    let fields = cols
        .iter()
        .map(|c| arrow_field(c, opts))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Schema::new(fields))
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// The PostgreSQL type a (scalar) Arrow value is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PgTarget {
    Bool,
    Int2,
    Int4,
    Int8,
    /// numeric(precision, scale)
    Numeric(u8, u8),
    Float4,
    Float8,
    Text,
    Jsonb,
    Bytea,
    Uuid,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Interval,
}

impl PgTarget {
    pub(crate) fn ddl(self) -> String {
        match self {
            PgTarget::Bool => "boolean".into(),
            PgTarget::Int2 => "smallint".into(),
            PgTarget::Int4 => "integer".into(),
            PgTarget::Int8 => "bigint".into(),
            PgTarget::Numeric(p, s) => format!("numeric({p},{s})"),
            PgTarget::Float4 => "real".into(),
            PgTarget::Float8 => "double precision".into(),
            PgTarget::Text => "text".into(),
            PgTarget::Jsonb => "jsonb".into(),
            PgTarget::Bytea => "bytea".into(),
            PgTarget::Uuid => "uuid".into(),
            PgTarget::Date => "date".into(),
            PgTarget::Time => "time".into(),
            PgTarget::Timestamp => "timestamp".into(),
            PgTarget::TimestampTz => "timestamptz".into(),
            PgTarget::Interval => "interval".into(),
        }
    }

    /// The type's OID (the element OID written in binary arrays).
    pub(crate) fn oid(self) -> u32 {
        match self {
            PgTarget::Bool => 16,
            PgTarget::Int2 => 21,
            PgTarget::Int4 => 23,
            PgTarget::Int8 => 20,
            PgTarget::Numeric(..) => 1700,
            PgTarget::Float4 => 700,
            PgTarget::Float8 => 701,
            PgTarget::Text => 25,
            PgTarget::Jsonb => 3802,
            PgTarget::Bytea => 17,
            PgTarget::Uuid => 2950,
            PgTarget::Date => 1082,
            PgTarget::Time => 1083,
            PgTarget::Timestamp => 1114,
            PgTarget::TimestampTz => 1184,
            PgTarget::Interval => 1186,
        }
    }
}

fn extension_name(field: &Field) -> Option<&str> {
    field.metadata().get(EXTENSION_NAME_KEY).map(String::as_str)
}

fn write_error(field: &Field, dt: &DataType, reason: impl Into<String>) -> TypeError {
    TypeError {
        column: field.name().clone(),
        pg_type: dt.to_string(),
        reason: reason.into(),
    }
}

const FLATTEN: &str =
    "not supported by the postgres store; flatten it or cast it to a JSON string first";

/// The target of a scalar Arrow type (`field` gives the name and the extension metadata).
fn scalar_target(field: &Field, dt: &DataType) -> Result<PgTarget, TypeError> {
    use DataType as D;
    Ok(match dt {
        D::Null => PgTarget::Text,
        D::Boolean => PgTarget::Bool,
        D::Int8 | D::Int16 | D::UInt8 => PgTarget::Int2,
        D::Int32 | D::UInt16 => PgTarget::Int4,
        D::Int64 | D::UInt32 => PgTarget::Int8,
        D::UInt64 => PgTarget::Numeric(20, 0),
        D::Float16 | D::Float32 => PgTarget::Float4,
        D::Float64 => PgTarget::Float8,
        D::Decimal32(p, s) | D::Decimal64(p, s) | D::Decimal128(p, s) | D::Decimal256(p, s) => {
            if *s < 0 {
                return Err(write_error(
                    field,
                    dt,
                    "a negative decimal scale cannot be written as PostgreSQL numeric; cast it to a scale >= 0 first",
                ));
            }
            PgTarget::Numeric(*p, *s as u8)
        }
        D::Utf8 | D::LargeUtf8 | D::Utf8View => {
            if extension_name(field) == Some(JSON_EXTENSION) {
                PgTarget::Jsonb
            } else {
                PgTarget::Text
            }
        }
        D::FixedSizeBinary(16) if extension_name(field) == Some(UUID_EXTENSION) => PgTarget::Uuid,
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => PgTarget::Bytea,
        D::Date32 | D::Date64 => PgTarget::Date,
        D::Time32(_) | D::Time64(_) => PgTarget::Time,
        D::Timestamp(_, None) => PgTarget::Timestamp,
        D::Timestamp(_, Some(_)) => PgTarget::TimestampTz,
        D::Duration(_) | D::Interval(_) => PgTarget::Interval,
        D::Dictionary(_, v) => scalar_target(field, v)?,
        D::List(_)
        | D::LargeList(_)
        | D::FixedSizeList(..)
        | D::ListView(_)
        | D::LargeListView(_)
        | D::Struct(_)
        | D::Map(..)
        | D::Union(..)
        | D::RunEndEncoded(..) => return Err(write_error(field, dt, FLATTEN)),
        #[allow(unreachable_patterns)]
        _ => return Err(write_error(field, dt, FLATTEN)),
    })
}

/// What a field is written as: a scalar, or a one-dimensional array of scalars.
pub(crate) fn field_target(field: &Field) -> Result<(PgTarget, bool), TypeError> {
    let mut dt = field.data_type();
    while let DataType::Dictionary(_, v) = dt {
        dt = v;
    }
    match dt {
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) => {
            let mut inner = item.data_type();
            while let DataType::Dictionary(_, v) = inner {
                inner = v;
            }
            if matches!(
                inner,
                DataType::List(_)
                    | DataType::LargeList(_)
                    | DataType::FixedSizeList(..)
                    | DataType::ListView(_)
                    | DataType::LargeListView(_)
            ) {
                return Err(write_error(
                    field,
                    field.data_type(),
                    format!("nested lists are {FLATTEN}"),
                ));
            }
            let t = scalar_target(item, inner).map_err(|e| TypeError {
                column: field.name().clone(),
                pg_type: field.data_type().to_string(),
                reason: e.reason,
            })?;
            Ok((t, true))
        }
        _ => Ok((scalar_target(field, dt)?, false)),
    }
}

/// The PostgreSQL column type (DDL, e.g. `numeric(18,4)`, `timestamptz`, `bigint[]`) an
/// Arrow field is written as.
pub fn pg_column_type(field: &Field) -> Result<String, TypeError> {
    let (t, array) = field_target(field)?;
    let mut ddl = t.ddl();
    if array {
        ddl.push_str("[]");
    }
    Ok(ddl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::TimeUnit;
    use std::sync::Arc;

    #[test]
    fn numeric_typmods() {
        let tm = |p: i32, s: i32| ((p << 16) | (s & 0x7ff)) + 4;
        assert_eq!(numeric_typmod(-1), None);
        assert_eq!(numeric_typmod(tm(18, 4)), Some((18, 4)));
        assert_eq!(numeric_typmod(tm(50, 5)), Some((50, 5)));
        assert_eq!(numeric_typmod(tm(5, -2)), Some((5, -2)));
        assert_eq!(numeric_typmod(tm(1000, 0)), Some((1000, 0)));
    }

    #[test]
    fn ddl() {
        let f = |dt: DataType| pg_column_type(&Field::new("c", dt, true)).unwrap();
        assert_eq!(f(DataType::UInt64), "numeric(20,0)");
        assert_eq!(f(DataType::Decimal128(18, 4)), "numeric(18,4)");
        assert_eq!(
            f(DataType::Timestamp(
                TimeUnit::Nanosecond,
                Some("Europe/Paris".into())
            )),
            "timestamptz"
        );
        assert_eq!(
            f(DataType::List(Arc::new(Field::new(
                "item",
                DataType::Int64,
                true
            )))),
            "bigint[]"
        );
        assert_eq!(
            f(DataType::Dictionary(
                Box::new(DataType::Int32),
                Box::new(DataType::Utf8)
            )),
            "text"
        );
        let uuid = Field::new("u", DataType::FixedSizeBinary(16), true)
            .with_metadata(ext_metadata(UUID_EXTENSION));
        assert_eq!(pg_column_type(&uuid).unwrap(), "uuid");
        let nested = DataType::List(Arc::new(Field::new(
            "item",
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        )));
        assert!(pg_column_type(&Field::new("n", nested, true)).is_err());
        assert!(pg_column_type(&Field::new("d", DataType::Decimal128(10, -2), true)).is_err());
    }
}
