//! `polish:` as written in a store's configuration: the original hygge's keys and defaults
//! (`core/polish.py`), checked while the tree is typed, so every error carries its file,
//! line and key path.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};

/// `polish: {columns, hash_ids, constants, timestamps, add_row_marker}`. Checked as it is
/// typed ([`PolishConfig::check`]); `add_row_marker` is folded into `constants` then.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(try_from = "PolishKeys")]
pub struct PolishConfig {
    /// Column names: `remove_special`, `remove_spaces`, `case`.
    pub columns: ColumnRules,
    /// Row hash columns, each placed first.
    pub hash_ids: Vec<HashIdRule>,
    /// Constant columns, appended (with `__rowMarker__` of `add_row_marker`).
    pub constants: Vec<ConstantRule>,
    /// Load time columns, appended after the constants.
    pub timestamps: Vec<TimestampRule>,
}

/// The keys as written, before [`PolishConfig::check`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolishKeys {
    #[serde(default)]
    columns: ColumnRules,
    #[serde(default)]
    hash_ids: Vec<HashIdRule>,
    #[serde(default)]
    constants: Vec<ConstantRule>,
    #[serde(default)]
    timestamps: Vec<TimestampRule>,
    #[serde(default)]
    add_row_marker: Option<RowMarkerAlias>,
}

/// `columns:` how column names are rewritten (all off by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRules {
    /// Drop parentheses (their words are appended) and every character but ASCII letters,
    /// digits, whitespace, `_` and `-`.
    #[serde(default)]
    pub remove_special: bool,
    /// Drop spaces.
    #[serde(default)]
    pub remove_spaces: bool,
    /// `pascal`, `camel` or `snake` (none by default).
    #[serde(default)]
    pub case: Option<Case>,
}

impl ColumnRules {
    /// Whether any rule is on.
    pub fn any(&self) -> bool {
        self.remove_special || self.remove_spaces || self.case.is_some()
    }

    /// The name these rules give one column, before collisions with other columns are
    /// resolved (for a store that names columns in its own keys, e.g. key columns).
    pub fn rename(&self, name: &str) -> String {
        super::names::rename(name, self)
    }
}

/// `columns.case`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Case {
    /// `EmployeeNumber`.
    Pascal,
    /// `employeeNumber`.
    Camel,
    /// `employee_number`.
    Snake,
}

/// One of `hash_ids:`: a column holding the hash of some columns' values as text, joined
/// with `|` (a row with a null in any of them gets a null hash).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashIdRule {
    /// The new column (its name is rewritten by `columns` like every other).
    pub name: String,
    /// The columns hashed, as named by the source (or as `columns` would name them).
    pub from_columns: Vec<String>,
    /// `sha256` (default), `sha1`, `sha224`, `sha384`, `sha512` or `md5`.
    #[serde(default)]
    pub algo: HashAlgo,
    /// true (default): the hex digest as text; false: the digest's bytes (binary).
    #[serde(default = "yes")]
    pub hex: bool,
}

fn yes() -> bool {
    true
}

/// `hash_ids[].algo`: Python's `hashlib` names (in lower or upper case) that hygge computes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgo {
    /// MD5.
    #[serde(alias = "MD5")]
    Md5,
    /// SHA-1.
    #[serde(alias = "SHA1")]
    Sha1,
    /// SHA-224.
    #[serde(alias = "SHA224")]
    Sha224,
    /// SHA-256 (the default).
    #[default]
    #[serde(alias = "SHA256")]
    Sha256,
    /// SHA-384.
    #[serde(alias = "SHA384")]
    Sha384,
    /// SHA-512.
    #[serde(alias = "SHA512")]
    Sha512,
}

/// One of `constants:`: a column holding one value on every row.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantRule {
    /// The new column (skipped if the rows already have a column of that name).
    pub name: String,
    /// A number, text, true/false or null.
    pub value: ConstValue,
}

/// A constant's value, typed as Polars types a Python literal (`pl.lit`).
#[derive(Debug, Clone, PartialEq)]
pub enum ConstValue {
    /// `null`: a column of Arrow's null type.
    Null,
    /// `true` / `false`: boolean.
    Bool(bool),
    /// A whole number: Int32 when it fits, else Int64.
    Int(i64),
    /// A whole number above Int64's range: UInt64.
    UInt(u64),
    /// A number with a fraction: Float64.
    Float(f64),
    /// Text: Utf8.
    Text(String),
}

impl<'de> Deserialize<'de> for ConstValue {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ConstValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, text, true/false or null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ConstValue, E> {
                Ok(ConstValue::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<ConstValue, E> {
                Ok(ConstValue::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ConstValue, E> {
                Ok(ConstValue::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ConstValue, E> {
                Ok(ConstValue::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ConstValue, E> {
                Ok(match i64::try_from(v) {
                    Ok(i) => ConstValue::Int(i),
                    Err(_) => ConstValue::UInt(v),
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ConstValue, E> {
                Ok(ConstValue::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ConstValue, E> {
                Ok(ConstValue::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One of `timestamps:`: a column holding the time of the load.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimestampRule {
    /// The new column (skipped if the rows already have a column of that name).
    pub name: String,
    /// `now_utc` (default) or `now_local`.
    #[serde(default)]
    pub source: TimeSource,
    /// `datetime` (default): a UTC timestamp (microseconds); `string`: text.
    #[serde(default, rename = "type")]
    pub kind: TimeKind,
    /// For `type: string`: a `strftime` format (Python's directives); default ISO 8601.
    #[serde(default)]
    pub format: Option<String>,
}

/// `timestamps[].source`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// The time in UTC.
    #[default]
    NowUtc,
    /// The same instant; as text, in the machine's time zone with its offset.
    NowLocal,
}

/// `timestamps[].type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeKind {
    /// A timestamp (microseconds, UTC).
    #[default]
    Datetime,
    /// Text.
    String,
}

/// `add_row_marker: {enabled, value}`: the original's older spelling of a `__rowMarker__`
/// constant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RowMarkerAlias {
    #[serde(default)]
    enabled: bool,
    #[serde(default = "upsert")]
    value: i64,
}

fn upsert() -> i64 {
    4
}

fn unique_names<'a>(key: &str, names: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen: Vec<&str> = vec![];
    for (i, n) in names.enumerate() {
        if n.is_empty() {
            return Err(format!("{key}[{i}].name: empty"));
        }
        if seen.contains(&n) {
            return Err(format!(
                "{key}[{i}].name: `{n}` is named twice in `{key}`; give each column its own name"
            ));
        }
        seen.push(n);
    }
    Ok(())
}

/// The column `add_row_marker` adds.
pub const ROW_MARKER: &str = "__rowMarker__";

impl TryFrom<PolishKeys> for PolishConfig {
    type Error = String;

    fn try_from(k: PolishKeys) -> Result<Self, String> {
        let mut c = PolishConfig {
            columns: k.columns,
            hash_ids: k.hash_ids,
            constants: k.constants,
            timestamps: k.timestamps,
        };
        if let Some(alias) = k.add_row_marker
            && alias.enabled
            && !c.constants.iter().any(|r| r.name == ROW_MARKER)
        {
            c.constants.push(ConstantRule {
                name: ROW_MARKER.into(),
                value: ConstValue::Int(alias.value),
            });
        }
        c.check()?;
        Ok(c)
    }
}

impl PolishConfig {
    /// What the original let through and then failed on while writing (and so wrote the
    /// rows unpolished): empty names, a hash of no columns, two new columns of one name, a
    /// `format` strftime cannot read.
    pub fn check(&self) -> Result<(), String> {
        for (i, r) in self.hash_ids.iter().enumerate() {
            if r.name.is_empty() {
                return Err(format!("hash_ids[{i}].name: empty"));
            }
            if r.from_columns.is_empty() {
                return Err(format!(
                    "hash_ids[{i}].from_columns: empty; name the columns whose values `{}` hashes",
                    r.name
                ));
            }
        }
        let constants = self.constants.iter().map(|r| r.name.as_str());
        let timestamps = self.timestamps.iter().map(|r| r.name.as_str());
        unique_names("constants", constants)?;
        unique_names("timestamps", timestamps)?;
        for (i, r) in self.timestamps.iter().enumerate() {
            if let Some(f) = &r.format {
                super::values::check_format(f)
                    .map_err(|e| format!("timestamps[{i}].format {f:?}: {e}"))?;
                if r.kind == TimeKind::Datetime {
                    tracing::debug!(
                        "polish timestamps[{i}]: `format` is used only with `type: string`"
                    );
                }
            }
        }
        Ok(())
    }

    /// Whether the polish changes anything at all.
    pub fn is_noop(&self) -> bool {
        !self.columns.any()
            && self.hash_ids.is_empty()
            && self.constants.is_empty()
            && self.timestamps.is_empty()
    }
}
