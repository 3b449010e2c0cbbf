//! Arrow <-> DuckDB: the column type each Arrow type is kept as, the conversion a batch
//! goes through before DuckDB's appender takes it, and the way back.
//!
//! | Arrow | DuckDB column | read back by any reader as |
//! |---|---|---|
//! | `Boolean`, `Int8`..`Int64`, `UInt8`..`UInt64`, `Float32`, `Float64` | `BOOLEAN`, `TINYINT`..`BIGINT`, `UTINYINT`..`UBIGINT`, `FLOAT`, `DOUBLE` | the same |
//! | `Float16` | `FLOAT` (exact) | `Float32` |
//! | `Utf8`, `LargeUtf8`, `Utf8View` | `VARCHAR` | `Utf8` |
//! | `Binary`, `LargeBinary`, `BinaryView`, `FixedSizeBinary` | `BLOB` | `Binary` |
//! | `FixedSizeBinary(16)` with `arrow.uuid` | `UUID` | `FixedSizeBinary(16)`, `arrow.uuid` |
//! | `Decimal32/64/128(p, s)`, `Decimal256` with p <= 38 | `DECIMAL(p, s)` | `Decimal128(p, s)` |
//! | `Decimal256` with p > 38, or a negative scale | `VARCHAR`: the exact decimal text | `Utf8` |
//! | `Date32` / `Date64` | `DATE` / `TIMESTAMP_MS` | `Date32` / `Timestamp(ms)` |
//! | `Time32`, `Time64(us)` | `TIME` | `Time64(us)` |
//! | `Time64(ns)` | `BIGINT`: nanoseconds since midnight | `Int64` |
//! | `Timestamp(s / ms / us / ns)` without time zone | `TIMESTAMP_S` / `TIMESTAMP_MS` / `TIMESTAMP` / `TIMESTAMP_NS` | the same |
//! | `Timestamp(s / ms / us, tz)` | `TIMESTAMPTZ` (the instant, in us) | `Timestamp(us, "UTC")` |
//! | `Timestamp(ns, tz)` | `TIMESTAMP_NS`: the UTC instant (DuckDB's `TIMESTAMPTZ` has microseconds) | `Timestamp(ns)` |
//! | `Duration` | `BIGINT`: the count of its unit | `Int64` |
//! | `Interval` | refused: the `duckdb` crate's appender turns NULL intervals into zero | |
//! | `List`, `LargeList`, `FixedSizeList`, `Struct`, `Map` | `T[]`, `T[n]`, `STRUCT(..)`, `MAP(K, V)` of the types above kept as they are | the same |
//! | `Dictionary(K, V)` | the column of `V` | `V` |
//! | `Null` | `INTEGER` (all NULL) | `Int32` |
//!
//! Every column's Arrow field is recorded in `_hygge_columns` (in the table's schema) in
//! the transaction that publishes it, so hygge reading a table it wrote gets each column
//! back as the exact Arrow field (time zone, unit, `Float16`, `Decimal256`, dictionary,
//! metadata). Anything else (`Union`, `RunEndEncoded`, an interval, nested values
//! that need a conversion) fails the entity naming the
//! column, before anything is written.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{
    DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit, TimestampNanosecondType,
};
use arrow::record_batch::RecordBatch;

use super::sql::ident;

/// The `_hygge_columns` table (in each target schema): each column's Arrow field.
pub const COLUMNS_TABLE: &str = "_hygge_columns";

const EXTENSION: &str = "ARROW:extension:name";

fn is_uuid(f: &Field) -> bool {
    matches!(f.data_type(), DataType::FixedSizeBinary(16))
        && f.metadata().get(EXTENSION).map(String::as_str) == Some("arrow.uuid")
}

/// The DuckDB type of a field DuckDB's appender takes as it is; `None` when it needs a
/// conversion first (or cannot be kept).
fn native(f: &Field) -> Option<String> {
    use DataType as D;
    Some(match f.data_type() {
        D::Boolean => "BOOLEAN".into(),
        D::Int8 => "TINYINT".into(),
        D::Int16 => "SMALLINT".into(),
        D::Int32 => "INTEGER".into(),
        D::Int64 => "BIGINT".into(),
        D::UInt8 => "UTINYINT".into(),
        D::UInt16 => "USMALLINT".into(),
        D::UInt32 => "UINTEGER".into(),
        D::UInt64 => "UBIGINT".into(),
        D::Float32 => "FLOAT".into(),
        D::Float64 => "DOUBLE".into(),
        D::Utf8 | D::LargeUtf8 | D::Utf8View => "VARCHAR".into(),
        D::FixedSizeBinary(16) if is_uuid(f) => "UUID".into(),
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => "BLOB".into(),
        D::Decimal32(p, s) | D::Decimal64(p, s) | D::Decimal128(p, s)
            if *s >= 0 && (*s as u8) <= *p && *p <= 38 =>
        {
            format!("DECIMAL({p}, {s})")
        }
        D::Date32 => "DATE".into(),
        D::Time64(TimeUnit::Microsecond) => "TIME".into(),
        D::Timestamp(TimeUnit::Second, None) => "TIMESTAMP_S".into(),
        D::Timestamp(TimeUnit::Millisecond, None) => "TIMESTAMP_MS".into(),
        D::Timestamp(TimeUnit::Microsecond, None) => "TIMESTAMP".into(),
        D::Timestamp(TimeUnit::Nanosecond, None) => "TIMESTAMP_NS".into(),
        D::Timestamp(TimeUnit::Nanosecond, Some(_)) => return None,
        D::Timestamp(_, Some(_)) => "TIMESTAMPTZ".into(),
        D::List(c) | D::LargeList(c) => format!("{}[]", native(c)?),
        D::FixedSizeList(c, n) if *n > 0 => format!("{}[{n}]", native(c)?),
        D::Struct(fs) if !fs.is_empty() => {
            let mut parts = Vec::with_capacity(fs.len());
            for c in fs {
                parts.push(format!("{} {}", ident(c.name()).ok()?, native(c)?));
            }
            format!("STRUCT({})", parts.join(", "))
        }
        D::Map(entries, _) => match entries.data_type() {
            D::Struct(kv) if kv.len() == 2 => {
                format!("MAP({}, {})", native(&kv[0])?, native(&kv[1])?)
            }
            _ => return None,
        },
        _ => return None,
    })
}

/// How one column is kept: its DuckDB type, and the Arrow type the appender is given
/// when it is not the column's own.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// The column's DuckDB type.
    pub sql: String,
    /// The Arrow type the values are converted to before appending (`None`: as they are).
    pub append_as: Option<DataType>,
}

/// How `f` is kept in DuckDB, or why it cannot be kept exactly.
pub fn mapping(f: &Field) -> Result<Mapping, String> {
    use DataType as D;
    if let Some(sql) = native(f) {
        return Ok(Mapping {
            sql,
            append_as: None,
        });
    }
    let via = |sql: &str, dt: DataType| {
        Ok(Mapping {
            sql: sql.into(),
            append_as: Some(dt),
        })
    };
    match f.data_type() {
        D::Float16 => via("FLOAT", D::Float32),
        D::Decimal256(p, s) if *s >= 0 && (*s as u8) <= *p && *p <= 38 => {
            via(&format!("DECIMAL({p}, {s})"), D::Decimal128(*p, *s))
        }
        D::Decimal32(..) | D::Decimal64(..) | D::Decimal128(..) | D::Decimal256(..) => {
            via("VARCHAR", D::Utf8)
        }
        D::Date64 => via("TIMESTAMP_MS", D::Timestamp(TimeUnit::Millisecond, None)),
        D::Time32(_) => via("TIME", D::Time64(TimeUnit::Microsecond)),
        D::Time64(TimeUnit::Nanosecond) | D::Duration(_) => via("BIGINT", D::Int64),
        D::Interval(_) => Err(
            "an interval cannot be appended to DuckDB exactly (the duckdb crate's appender turns NULL intervals into zero); cast it to text or to its parts in a query"
                .into(),
        ),
        D::Timestamp(TimeUnit::Nanosecond, Some(_)) => {
            via("TIMESTAMP_NS", D::Timestamp(TimeUnit::Nanosecond, None))
        }
        D::Null => via("INTEGER", D::Int32),
        D::Dictionary(_, v) => {
            let inner = mapping(&Field::new(f.name(), v.as_ref().clone(), true))?;
            Ok(Mapping {
                sql: inner.sql,
                append_as: Some(inner.append_as.unwrap_or_else(|| v.as_ref().clone())),
            })
        }
        D::List(_) | D::LargeList(_) | D::FixedSizeList(..) | D::Struct(_) | D::Map(..) => Err(
            format!(
                "{} holds values DuckDB cannot keep as they are (a Float16, Decimal256, nanosecond time or time zone, dictionary or empty struct inside a nested type); cast it in a query or flatten it",
                f.data_type()
            ),
        ),
        other => Err(format!("{other} has no DuckDB type that keeps it exactly")),
    }
}

/// The mapping of every field of `schema`; the error names the column.
pub fn mappings(schema: &Schema) -> Result<Vec<Mapping>, String> {
    schema
        .fields()
        .iter()
        .map(|f| mapping(f).map_err(|e| format!("column `{}`: {e}", f.name())))
        .collect()
}

/// `"name" TYPE, ...` for a CREATE TABLE of `schema`.
pub fn column_defs(schema: &Schema, maps: &[Mapping]) -> Result<String, String> {
    let mut cols = Vec::with_capacity(maps.len());
    for (f, m) in schema.fields().iter().zip(maps) {
        cols.push(format!("{} {}", ident(f.name())?, m.sql));
    }
    Ok(cols.join(", "))
}

fn exact() -> CastOptions<'static> {
    CastOptions {
        safe: false,
        ..Default::default()
    }
}

/// `batch` as DuckDB's appender takes it (see [`mappings`]).
pub fn for_append(batch: &RecordBatch, maps: &[Mapping]) -> Result<RecordBatch, String> {
    if maps.iter().all(|m| m.append_as.is_none()) {
        return Ok(batch.clone());
    }
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(maps.len());
    let mut cols = Vec::with_capacity(maps.len());
    for ((f, a), m) in schema.fields().iter().zip(batch.columns()).zip(maps) {
        let Some(dt) = &m.append_as else {
            fields.push(f.clone());
            cols.push(a.clone());
            continue;
        };
        let out: ArrayRef = match (a.data_type(), dt) {
            (DataType::Timestamp(TimeUnit::Nanosecond, Some(_)), DataType::Timestamp(_, None)) => {
                // The same instants, without the zone (a cast would shift them to wall time).
                Arc::new(
                    a.as_primitive::<TimestampNanosecondType>()
                        .clone()
                        .with_timezone_opt(None::<String>),
                )
            }
            _ => cast_with_options(a, dt, &exact())
                .map_err(|e| format!("column `{}`: {e}", f.name()))?,
        };
        fields.push(Arc::new(Field::new(f.name(), dt.clone(), f.is_nullable())));
        cols.push(out);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| e.to_string())
}

/// A column read from DuckDB as the Arrow field hygge wrote it from.
pub fn restore(a: &ArrayRef, to: &FieldRef) -> Result<ArrayRef, String> {
    let want = to.data_type();
    if a.data_type() == want {
        return Ok(a.clone());
    }
    match (a.data_type(), want) {
        (
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            DataType::Timestamp(TimeUnit::Nanosecond, tz),
        ) => Ok(Arc::new(
            a.as_primitive::<TimestampNanosecondType>()
                .clone()
                .with_timezone_opt(tz.clone()),
        )),
        _ => cast_with_options(a, want, &exact()).map_err(|e| e.to_string()),
    }
}

/// `batch` with every column read back as `schema` says (the fields hygge recorded).
pub fn restore_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let cols = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(a, f)| restore(a, f).map_err(|e| format!("column `{}`: {e}", f.name())))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_a_column_or_a_clear_refusal() {
        let m = |dt: DataType| mapping(&Field::new("c", dt, true));
        assert_eq!(m(DataType::Int64).unwrap().sql, "BIGINT");
        assert_eq!(
            m(DataType::Decimal256(40, 2)).unwrap(),
            Mapping {
                sql: "VARCHAR".into(),
                append_as: Some(DataType::Utf8)
            }
        );
        assert_eq!(
            m(DataType::Timestamp(
                TimeUnit::Nanosecond,
                Some("UTC".into())
            ))
            .unwrap()
            .sql,
            "TIMESTAMP_NS"
        );
        let nested = DataType::List(Arc::new(Field::new_list_field(DataType::Float16, true)));
        assert!(m(nested).unwrap_err().contains("nested"));
        let s = DataType::Struct(vec![Field::new("a b", DataType::Int32, true)].into());
        assert_eq!(m(s).unwrap().sql, "STRUCT(\"a b\" INTEGER)");
        assert!(
            m(DataType::Interval(
                arrow::datatypes::IntervalUnit::MonthDayNano
            ))
            .unwrap_err()
            .contains("NULL intervals")
        );
        assert!(
            m(DataType::Union(
                arrow::datatypes::UnionFields::empty(),
                arrow::datatypes::UnionMode::Dense
            ))
            .is_err()
        );
    }
}
