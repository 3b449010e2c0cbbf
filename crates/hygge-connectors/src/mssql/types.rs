//! SQL Server types <-> Arrow types, exactly.
//!
//! Reading:
//!
//! | SQL Server | Arrow |
//! |---|---|
//! | `bit` | `Boolean` |
//! | `tinyint` / `smallint` / `int` / `bigint` | `UInt8` / `Int16` / `Int32` / `Int64` |
//! | `real` / `float` | `Float32` / `Float64` |
//! | `decimal(p,s)` / `numeric(p,s)` | `Decimal128(p,s)` |
//! | `money` / `smallmoney` | `Decimal128(19,4)` / `Decimal128(10,4)` |
//! | `date` | `Date32` (`0001-01-01` included) |
//! | `time(n)` | `Time64(ns)` |
//! | `datetime`, `smalldatetime` | `Timestamp(ms)` (SQL Server's own rounding of 1/300 s) |
//! | `datetime2(0..6)` / `datetime2(7)` | `Timestamp(µs)` / `Timestamp(ns)` (all 100 ns digits) |
//! | `datetimeoffset(n)` | `Struct{utc: Timestamp(µs or ns, "UTC"), offset_minutes: Int16}`, or with `datetimeoffset: utc` just the instant |
//! | `char`, `varchar`, `nchar`, `nvarchar`, `text`, `ntext`, `xml` | `Utf8` (`LargeUtf8` for `(max)`, `text`, `ntext`, `xml`) |
//! | `binary`, `varbinary`, `image`, `rowversion` | `Binary` (`LargeBinary` for `(max)` and `image`) |
//! | `uniqueidentifier` | `FixedSizeBinary(16)` with extension `arrow.uuid` (RFC byte order), or with `uniqueidentifier: text` the canonical upper-case text SQL Server prints |
//!
//! `sql_variant`, `hierarchyid`, `geography`, `geometry` and other CLR types are an error
//! naming the column: cast them in a `query`.
//!
//! Writing: see [`target_type`].

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use serde::Deserialize;
use tiberius::{FixedLenType, TypeInfo, VarLenType};

/// The Arrow extension name for UUIDs (as the PostgreSQL connector uses).
pub const UUID_EXTENSION: &str = "arrow.uuid";
/// Field names of the `datetimeoffset` struct.
pub const DTO_UTC: &str = "utc";
/// Field names of the `datetimeoffset` struct.
pub const DTO_OFFSET: &str = "offset_minutes";

/// A SQL Server column type, as far as reading it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsType {
    /// `bit`.
    Bit,
    /// `tinyint` (0..255).
    TinyInt,
    /// `smallint`.
    SmallInt,
    /// `int`.
    Int,
    /// `bigint`.
    BigInt,
    /// `real`.
    Real,
    /// `float`.
    Float,
    /// `decimal(p,s)` / `numeric(p,s)`.
    Decimal(u8, u8),
    /// `money`.
    Money,
    /// `smallmoney`.
    SmallMoney,
    /// `date`.
    Date,
    /// `time(n)`.
    Time(u8),
    /// `datetime`.
    DateTime,
    /// `smalldatetime`.
    SmallDateTime,
    /// `datetime2(n)`.
    DateTime2(u8),
    /// `datetimeoffset(n)`.
    DateTimeOffset(u8),
    /// Character data; `max` for `(max)`, `text`, `ntext`.
    String {
        /// Unbounded.
        max: bool,
    },
    /// Binary data; `max` for `(max)` and `image`.
    Binary {
        /// Unbounded.
        max: bool,
    },
    /// `uniqueidentifier`.
    Guid,
    /// `xml`.
    Xml,
    /// A type hygge cannot carry (its SQL name).
    Unsupported(String),
}

/// How `uniqueidentifier` is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuidAs {
    /// `FixedSizeBinary(16)` with `arrow.uuid` (default).
    #[default]
    Uuid,
    /// Canonical upper-case text.
    Text,
}

/// How `datetimeoffset` is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetAs {
    /// `Struct{utc, offset_minutes}`: the instant and the offset (default).
    #[default]
    Struct,
    /// Only the instant, as a UTC timestamp (the offset is not kept).
    Utc,
}

/// Read options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadTypeOptions {
    /// `uniqueidentifier` as.
    pub guid: GuidAs,
    /// `datetimeoffset` as.
    pub offset: OffsetAs,
}

impl MsType {
    /// From the driver's column metadata (what the server sent for a result set).
    pub fn from_type_info(t: &TypeInfo) -> MsType {
        match t {
            TypeInfo::FixedLen(f) => match f {
                FixedLenType::Int1 => MsType::TinyInt,
                FixedLenType::Bit => MsType::Bit,
                FixedLenType::Int2 => MsType::SmallInt,
                FixedLenType::Int4 => MsType::Int,
                FixedLenType::Int8 => MsType::BigInt,
                FixedLenType::Float4 => MsType::Real,
                FixedLenType::Float8 => MsType::Float,
                FixedLenType::Money => MsType::Money,
                FixedLenType::Money4 => MsType::SmallMoney,
                FixedLenType::Datetime => MsType::DateTime,
                FixedLenType::Datetime4 => MsType::SmallDateTime,
                FixedLenType::Null => MsType::Unsupported("null".into()),
            },
            TypeInfo::VarLenSized(ctx) => {
                let len = ctx.len();
                match ctx.r#type() {
                    VarLenType::Intn => match len {
                        1 => MsType::TinyInt,
                        2 => MsType::SmallInt,
                        4 => MsType::Int,
                        _ => MsType::BigInt,
                    },
                    VarLenType::Bitn => MsType::Bit,
                    VarLenType::Floatn => match len {
                        4 => MsType::Real,
                        _ => MsType::Float,
                    },
                    VarLenType::Money => match len {
                        4 => MsType::SmallMoney,
                        _ => MsType::Money,
                    },
                    VarLenType::Datetimen => match len {
                        4 => MsType::SmallDateTime,
                        _ => MsType::DateTime,
                    },
                    VarLenType::Daten => MsType::Date,
                    VarLenType::Timen => MsType::Time(len as u8),
                    VarLenType::Datetime2 => MsType::DateTime2(len as u8),
                    VarLenType::DatetimeOffsetn => MsType::DateTimeOffset(len as u8),
                    VarLenType::Guid => MsType::Guid,
                    VarLenType::BigVarBin | VarLenType::BigBinary => {
                        MsType::Binary { max: len == 0xFFFF }
                    }
                    VarLenType::Image => MsType::Binary { max: true },
                    VarLenType::BigVarChar
                    | VarLenType::BigChar
                    | VarLenType::NVarchar
                    | VarLenType::NChar => MsType::String { max: len == 0xFFFF },
                    VarLenType::Text | VarLenType::NText => MsType::String { max: true },
                    VarLenType::Xml => MsType::Xml,
                    VarLenType::Decimaln | VarLenType::Numericn => MsType::Decimal(38, 0),
                    VarLenType::Udt => MsType::Unsupported("a CLR type".into()),
                    VarLenType::SSVariant => MsType::Unsupported("sql_variant".into()),
                }
            }
            TypeInfo::VarLenSizedPrecision {
                precision, scale, ..
            } => MsType::Decimal(*precision, *scale),
            TypeInfo::Xml { .. } => MsType::Xml,
            TypeInfo::Udt(u) => MsType::Unsupported(u.type_name.clone()),
        }
    }

    /// From a SQL type name as `sp_describe_first_result_set` prints it (`decimal(18,4)`,
    /// `nvarchar(max)`, `datetime2(7)`).
    pub fn parse(name: &str) -> MsType {
        let n = name.trim().to_ascii_lowercase();
        let (base, args) = match n.split_once('(') {
            Some((b, rest)) => (b.trim(), rest.trim_end_matches(')').trim()),
            None => (n.as_str(), ""),
        };
        let nums: Vec<u8> = args
            .split(',')
            .filter_map(|a| a.trim().parse::<u8>().ok())
            .collect();
        let scale = |default: u8| nums.first().copied().unwrap_or(default);
        let max = args == "max";
        match base {
            "bit" => MsType::Bit,
            "tinyint" => MsType::TinyInt,
            "smallint" => MsType::SmallInt,
            "int" => MsType::Int,
            "bigint" => MsType::BigInt,
            "real" => MsType::Real,
            "float" => match nums.first() {
                Some(p) if *p <= 24 => MsType::Real,
                _ => MsType::Float,
            },
            "decimal" | "numeric" => MsType::Decimal(
                nums.first().copied().unwrap_or(18),
                nums.get(1).copied().unwrap_or(0),
            ),
            "money" => MsType::Money,
            "smallmoney" => MsType::SmallMoney,
            "date" => MsType::Date,
            "time" => MsType::Time(scale(7)),
            "datetime" => MsType::DateTime,
            "smalldatetime" => MsType::SmallDateTime,
            "datetime2" => MsType::DateTime2(scale(7)),
            "datetimeoffset" => MsType::DateTimeOffset(scale(7)),
            "char" | "varchar" | "nchar" | "nvarchar" | "sysname" => MsType::String { max },
            "text" | "ntext" => MsType::String { max: true },
            "binary" | "varbinary" | "timestamp" | "rowversion" => MsType::Binary { max },
            "image" => MsType::Binary { max: true },
            "uniqueidentifier" => MsType::Guid,
            "xml" => MsType::Xml,
            _ => MsType::Unsupported(name.trim().to_string()),
        }
    }

    /// The Arrow type it is read as, and its extension name (if any).
    pub fn arrow(&self, o: &ReadTypeOptions) -> Result<(DataType, Option<&'static str>), String> {
        Ok(match self {
            MsType::Bit => (DataType::Boolean, None),
            MsType::TinyInt => (DataType::UInt8, None),
            MsType::SmallInt => (DataType::Int16, None),
            MsType::Int => (DataType::Int32, None),
            MsType::BigInt => (DataType::Int64, None),
            MsType::Real => (DataType::Float32, None),
            MsType::Float => (DataType::Float64, None),
            MsType::Decimal(p, s) => (DataType::Decimal128(*p, *s as i8), None),
            MsType::Money => (DataType::Decimal128(19, 4), None),
            MsType::SmallMoney => (DataType::Decimal128(10, 4), None),
            MsType::Date => (DataType::Date32, None),
            MsType::Time(_) => (DataType::Time64(TimeUnit::Nanosecond), None),
            MsType::DateTime | MsType::SmallDateTime => {
                (DataType::Timestamp(TimeUnit::Millisecond, None), None)
            }
            MsType::DateTime2(s) => (DataType::Timestamp(unit(*s), None), None),
            MsType::DateTimeOffset(s) => {
                let utc = DataType::Timestamp(unit(*s), Some("UTC".into()));
                match o.offset {
                    OffsetAs::Utc => (utc, None),
                    OffsetAs::Struct => (offset_struct(utc), None),
                }
            }
            MsType::String { max: false } => (DataType::Utf8, None),
            MsType::String { max: true } | MsType::Xml => (DataType::LargeUtf8, None),
            MsType::Binary { max: false } => (DataType::Binary, None),
            MsType::Binary { max: true } => (DataType::LargeBinary, None),
            MsType::Guid => match o.guid {
                GuidAs::Uuid => (DataType::FixedSizeBinary(16), Some(UUID_EXTENSION)),
                GuidAs::Text => (DataType::Utf8, None),
            },
            MsType::Unsupported(t) => {
                return Err(format!("type {t} cannot be carried"));
            }
        })
    }
}

/// `datetime2(0..6)` fits microseconds exactly; `(7)` needs nanoseconds.
fn unit(scale: u8) -> TimeUnit {
    if scale <= 6 {
        TimeUnit::Microsecond
    } else {
        TimeUnit::Nanosecond
    }
}

/// `Struct{utc, offset_minutes}`.
pub fn offset_struct(utc: DataType) -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new(DTO_UTC, utc, true),
        Field::new(DTO_OFFSET, DataType::Int16, true),
    ]))
}

/// A result column: its name and SQL Server type.
#[derive(Debug, Clone)]
pub struct MsColumn {
    /// Column name.
    pub name: String,
    /// Its type.
    pub ty: MsType,
}

/// The Arrow schema columns are read as; errors name the column and its type.
pub fn arrow_schema(
    cols: &[MsColumn],
    o: &ReadTypeOptions,
) -> Result<arrow::datatypes::Schema, String> {
    let mut fields = Vec::with_capacity(cols.len());
    for c in cols {
        let (dt, ext) =
            c.ty.arrow(o)
                .map_err(|e| format!("column {}: {e}", c.name))?;
        let mut f = Field::new(&c.name, dt, true);
        if let Some(e) = ext {
            f = f.with_metadata(
                [("ARROW:extension:name".to_string(), e.to_string())]
                    .into_iter()
                    .collect(),
            );
        }
        fields.push(Arc::new(f));
    }
    Ok(arrow::datatypes::Schema::new(fields))
}

/// What an Arrow column is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `bit`.
    Bit,
    /// `tinyint`.
    TinyInt,
    /// `smallint`.
    SmallInt,
    /// `int`.
    Int,
    /// `bigint`.
    BigInt,
    /// `real`.
    Real,
    /// `float`.
    Float,
    /// `decimal(p,s)`.
    Decimal(u8, u8),
    /// `date`.
    Date,
    /// `time(n)`.
    Time(u8),
    /// `datetime2(n)`.
    DateTime2(u8),
    /// `datetimeoffset(n)` (from a zoned timestamp, offset 0, or the offset struct).
    DateTimeOffset(u8),
    /// `nvarchar(max)` while loading; narrowed to the longest value at publish.
    NVarChar,
    /// `varbinary(max)` while loading; narrowed likewise.
    VarBinary,
    /// `uniqueidentifier`.
    Guid,
}

impl Target {
    /// The column type in `CREATE TABLE`.
    pub fn ddl(self) -> String {
        match self {
            Target::Bit => "bit".into(),
            Target::TinyInt => "tinyint".into(),
            Target::SmallInt => "smallint".into(),
            Target::Int => "int".into(),
            Target::BigInt => "bigint".into(),
            Target::Real => "real".into(),
            Target::Float => "float".into(),
            Target::Decimal(p, s) => format!("decimal({p},{s})"),
            Target::Date => "date".into(),
            Target::Time(n) => format!("time({n})"),
            Target::DateTime2(n) => format!("datetime2({n})"),
            Target::DateTimeOffset(n) => format!("datetimeoffset({n})"),
            Target::NVarChar => "nvarchar(max)".into(),
            Target::VarBinary => "varbinary(max)".into(),
            Target::Guid => "uniqueidentifier".into(),
        }
    }
}

fn scale_of(u: &TimeUnit) -> u8 {
    match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 7,
    }
}

/// The SQL Server type an Arrow field is written as; an error says why one cannot be.
pub fn target_type(f: &Field) -> Result<Target, String> {
    use DataType as D;
    let ext = f.metadata().get("ARROW:extension:name").map(String::as_str);
    Ok(match f.data_type() {
        D::Boolean => Target::Bit,
        D::Int8 | D::Int16 => Target::SmallInt,
        D::UInt8 => Target::TinyInt,
        D::Int32 | D::UInt16 => Target::Int,
        D::Int64 | D::UInt32 => Target::BigInt,
        D::UInt64 => Target::Decimal(20, 0),
        D::Float16 | D::Float32 => Target::Real,
        D::Float64 => Target::Float,
        D::Decimal32(p, s) | D::Decimal64(p, s) | D::Decimal128(p, s) | D::Decimal256(p, s) => {
            if *s < 0 {
                return Err(format!(
                    "decimal({p},{s}) has a negative scale, which SQL Server has no type for"
                ));
            }
            if *p > 38 {
                return Err(format!(
                    "decimal({p},{s}) is wider than SQL Server's 38 digits"
                ));
            }
            Target::Decimal(*p, *s as u8)
        }
        D::Date32 | D::Date64 => Target::Date,
        D::Time32(u) | D::Time64(u) => Target::Time(scale_of(u)),
        D::Timestamp(u, None) => Target::DateTime2(scale_of(u)),
        D::Timestamp(u, Some(_)) => Target::DateTimeOffset(scale_of(u)),
        D::Struct(fields) if is_offset_struct(fields) => match fields[0].data_type() {
            D::Timestamp(u, _) => Target::DateTimeOffset(scale_of(u)),
            _ => unreachable!("checked by is_offset_struct"),
        },
        D::Utf8 | D::LargeUtf8 | D::Utf8View => Target::NVarChar,
        D::FixedSizeBinary(16) if ext == Some(UUID_EXTENSION) => Target::Guid,
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => Target::VarBinary,
        D::Dictionary(_, v) => target_type(&Field::new(f.name(), (**v).clone(), true))?,
        other => {
            return Err(format!(
                "type {other} has no SQL Server column type (write it to files, or cast it to text in a query)"
            ));
        }
    })
}

/// `Struct{utc: Timestamp(_, Some(_)), offset_minutes: Int16}`, as `datetimeoffset` is read.
pub fn is_offset_struct(fields: &Fields) -> bool {
    fields.len() == 2
        && fields[0].name() == DTO_UTC
        && matches!(fields[0].data_type(), DataType::Timestamp(_, Some(_)))
        && fields[1].name() == DTO_OFFSET
        && fields[1].data_type() == &DataType::Int16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_names() {
        assert_eq!(MsType::parse("decimal(18,4)"), MsType::Decimal(18, 4));
        assert_eq!(MsType::parse("numeric(38, 10)"), MsType::Decimal(38, 10));
        assert_eq!(MsType::parse("datetime2(7)"), MsType::DateTime2(7));
        assert_eq!(MsType::parse("datetime2(3)"), MsType::DateTime2(3));
        assert_eq!(MsType::parse("time"), MsType::Time(7));
        assert_eq!(MsType::parse("nvarchar(max)"), MsType::String { max: true });
        assert_eq!(MsType::parse("varchar(50)"), MsType::String { max: false });
        assert_eq!(MsType::parse("float(24)"), MsType::Real);
        assert_eq!(MsType::parse("float"), MsType::Float);
        assert_eq!(MsType::parse("timestamp"), MsType::Binary { max: false });
        assert_eq!(
            MsType::parse("hierarchyid"),
            MsType::Unsupported("hierarchyid".into())
        );
    }

    #[test]
    fn exact_arrow_types() {
        let o = ReadTypeOptions::default();
        let a = |t: MsType| t.arrow(&o).unwrap().0;
        assert_eq!(a(MsType::Money), DataType::Decimal128(19, 4));
        assert_eq!(a(MsType::SmallMoney), DataType::Decimal128(10, 4));
        assert_eq!(
            a(MsType::DateTime2(7)),
            DataType::Timestamp(TimeUnit::Nanosecond, None)
        );
        assert_eq!(
            a(MsType::DateTime2(2)),
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert!(matches!(a(MsType::DateTimeOffset(7)), DataType::Struct(_)));
        assert_eq!(
            MsType::Guid.arrow(&o).unwrap(),
            (DataType::FixedSizeBinary(16), Some(UUID_EXTENSION))
        );
        let err = MsType::parse("geography").arrow(&o).unwrap_err();
        assert!(err.contains("geography"), "{err}");
    }

    #[test]
    fn every_read_type_writes_back_as_itself() {
        let o = ReadTypeOptions::default();
        for (t, ddl) in [
            (MsType::Bit, "bit"),
            (MsType::TinyInt, "tinyint"),
            (MsType::SmallInt, "smallint"),
            (MsType::Int, "int"),
            (MsType::BigInt, "bigint"),
            (MsType::Real, "real"),
            (MsType::Float, "float"),
            (MsType::Decimal(38, 10), "decimal(38,10)"),
            (MsType::Money, "decimal(19,4)"),
            (MsType::Date, "date"),
            (MsType::Time(7), "time(7)"),
            (MsType::DateTime, "datetime2(3)"),
            (MsType::DateTime2(7), "datetime2(7)"),
            (MsType::DateTime2(6), "datetime2(6)"),
            (MsType::DateTimeOffset(7), "datetimeoffset(7)"),
            (MsType::String { max: false }, "nvarchar(max)"),
            (MsType::Binary { max: true }, "varbinary(max)"),
            (MsType::Guid, "uniqueidentifier"),
        ] {
            let s = arrow_schema(
                &[MsColumn {
                    name: "c".into(),
                    ty: t.clone(),
                }],
                &o,
            )
            .unwrap();
            assert_eq!(target_type(s.field(0)).unwrap().ddl(), ddl, "{t:?}");
        }
        let list = Field::new(
            "l",
            DataType::List(Arc::new(Field::new("i", DataType::Int32, true))),
            true,
        );
        assert!(target_type(&list).unwrap_err().contains("List"));
    }
}
