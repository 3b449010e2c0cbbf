//! Schema drift: what changed between the schema an entity was last written with (or the
//! one a user committed) and the one its home gives now, and what the entity's policy
//! does about it.
//!
//! [`diff`] classifies each difference by column: added, removed, renamed-looking (a
//! column gone and one of the same type added at the same position), type widened (every
//! old value fits the new type exactly), type narrowed or changed, nullability changed.
//! [`SchemaPolicy::check`] applies the mode: `strict` fails on any change, `warn` logs and
//! goes on, `adapt` goes on for changes a destination can take without losing anything
//! (added columns, widened types, a column becoming nullable) and fails on the others.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// One difference between two schemas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new column.
    Added { column: String, data_type: DataType },
    /// A column that is no longer there.
    Removed { column: String, data_type: DataType },
    /// A column gone and another of the same type added at its position.
    Renamed {
        from: String,
        to: String,
        data_type: DataType,
    },
    /// A type every old value fits exactly (int32 -> int64, decimal precision up, ...).
    Widened {
        column: String,
        from: DataType,
        to: DataType,
    },
    /// Any other type change (narrowed, or of another kind).
    Retyped {
        column: String,
        from: DataType,
        to: DataType,
    },
    /// NULLs now allowed (`true`) or no longer allowed (`false`).
    Nullability { column: String, nullable: bool },
}

impl Change {
    /// The column the change is about (the new name of a renamed one).
    pub fn column(&self) -> &str {
        match self {
            Change::Added { column, .. }
            | Change::Removed { column, .. }
            | Change::Widened { column, .. }
            | Change::Retyped { column, .. }
            | Change::Nullability { column, .. } => column,
            Change::Renamed { to, .. } => to,
        }
    }

    /// What `adapt` may take as it is: nothing dropped, narrowed or changed.
    pub fn adaptable(&self) -> bool {
        matches!(
            self,
            Change::Added { .. }
                | Change::Widened { .. }
                | Change::Nullability { nullable: true, .. }
        )
    }

    /// The kind of change, as the table of changes prints it.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Added { .. } => "added",
            Change::Removed { .. } => "removed",
            Change::Renamed { .. } => "renamed?",
            Change::Widened { .. } => "type widened",
            Change::Retyped { .. } => "type changed",
            Change::Nullability { nullable: true, .. } => "now nullable",
            Change::Nullability {
                nullable: false, ..
            } => "now not null",
        }
    }

    /// What changed, in a few words.
    pub fn detail(&self) -> String {
        match self {
            Change::Added { data_type, .. } | Change::Removed { data_type, .. } => {
                data_type.to_string()
            }
            Change::Renamed {
                from, data_type, ..
            } => format!("was `{from}` ({data_type})"),
            Change::Widened { from, to, .. } | Change::Retyped { from, to, .. } => {
                format!("{from} -> {to}")
            }
            Change::Nullability { .. } => String::new(),
        }
    }
}

/// Whether every value of `from` is a value of `to`, exactly.
pub fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType as D;
    let int_rank = |d: &DataType| match d {
        D::Int8 => Some((true, 8)),
        D::Int16 => Some((true, 16)),
        D::Int32 => Some((true, 32)),
        D::Int64 => Some((true, 64)),
        D::UInt8 => Some((false, 8)),
        D::UInt16 => Some((false, 16)),
        D::UInt32 => Some((false, 32)),
        D::UInt64 => Some((false, 64)),
        _ => None,
    };
    if let (Some((fs, fb)), Some((ts, tb))) = (int_rank(from), int_rank(to)) {
        return (fs == ts && tb > fb) || (!fs && ts && tb > fb);
    }
    match (from, to) {
        (D::Float16, D::Float32 | D::Float64) | (D::Float32, D::Float64) => true,
        // Integers a float holds exactly: up to 24 bits in float32, 53 in float64.
        (D::Int8 | D::Int16 | D::UInt8 | D::UInt16, D::Float32 | D::Float64) => true,
        (D::Int32 | D::UInt32, D::Float64) => true,
        (D::Utf8, D::LargeUtf8 | D::Utf8View) | (D::Binary, D::LargeBinary | D::BinaryView) => true,
        (
            D::Decimal32(p1, s1)
            | D::Decimal64(p1, s1)
            | D::Decimal128(p1, s1)
            | D::Decimal256(p1, s1),
            D::Decimal32(p2, s2)
            | D::Decimal64(p2, s2)
            | D::Decimal128(p2, s2)
            | D::Decimal256(p2, s2),
        ) => {
            s2 >= s1
                && (*p2 as i16 - *s2 as i16) >= (*p1 as i16 - *s1 as i16)
                && (p2, s2) != (p1, s1)
        }
        (D::Date32, D::Date64) => true,
        (D::Timestamp(u1, z1), D::Timestamp(u2, z2)) => z1 == z2 && finer(u1, u2),
        (D::Time32(u1), D::Time32(u2) | D::Time64(u2)) | (D::Time64(u1), D::Time64(u2)) => {
            finer(u1, u2)
        }
        _ => false,
    }
}

/// Whether `to` is a finer time unit than `from`.
fn finer(from: &arrow::datatypes::TimeUnit, to: &arrow::datatypes::TimeUnit) -> bool {
    use arrow::datatypes::TimeUnit as U;
    let rank = |u: &U| match u {
        U::Second => 0,
        U::Millisecond => 1,
        U::Microsecond => 2,
        U::Nanosecond => 3,
    };
    rank(to) > rank(from)
}

/// Every difference from `old` to `new`, in `new`'s column order (removed columns last).
pub fn diff(old: &Schema, new: &Schema) -> Vec<Change> {
    let mut out = Vec::new();
    let mut added = Vec::new();
    for (i, f) in new.fields().iter().enumerate() {
        match old.field_with_name(f.name()) {
            Ok(o) => {
                if o.data_type() != f.data_type() {
                    out.push(if widens(o.data_type(), f.data_type()) {
                        Change::Widened {
                            column: f.name().clone(),
                            from: o.data_type().clone(),
                            to: f.data_type().clone(),
                        }
                    } else {
                        Change::Retyped {
                            column: f.name().clone(),
                            from: o.data_type().clone(),
                            to: f.data_type().clone(),
                        }
                    });
                }
                if o.is_nullable() != f.is_nullable() {
                    out.push(Change::Nullability {
                        column: f.name().clone(),
                        nullable: f.is_nullable(),
                    });
                }
            }
            Err(_) => added.push((i, f.clone())),
        }
    }
    let removed: Vec<(usize, &Arc<Field>)> = old
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| new.field_with_name(f.name()).is_err())
        .collect();
    let mut renamed_from = std::collections::HashSet::new();
    for (i, f) in added {
        // A column gone at the same position with the same type: likely a rename.
        let same = removed
            .iter()
            .find(|(j, o)| *j == i && o.data_type() == f.data_type());
        match same {
            Some((_, o)) => {
                renamed_from.insert(o.name().clone());
                out.push(Change::Renamed {
                    from: o.name().clone(),
                    to: f.name().clone(),
                    data_type: f.data_type().clone(),
                });
            }
            None => out.push(Change::Added {
                column: f.name().clone(),
                data_type: f.data_type().clone(),
            }),
        }
    }
    for (_, o) in removed {
        if !renamed_from.contains(o.name()) {
            out.push(Change::Removed {
                column: o.name().clone(),
                data_type: o.data_type().clone(),
            });
        }
    }
    out
}

/// `schema: {mode}`: what a run does when the source's schema differs from the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SchemaMode {
    /// Any change fails the entity before anything is published.
    Strict,
    /// Changes are logged; the run goes on (the store decides what it can take).
    Warn,
    /// Additive changes (new columns, widened types, NULLs allowed) go on; anything that
    /// would drop, narrow or change a column fails the entity first.
    Adapt,
}

impl fmt::Display for SchemaMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SchemaMode::Strict => "strict",
            SchemaMode::Warn => "warn",
            SchemaMode::Adapt => "adapt",
        })
    }
}

/// An entity's schema policy for one run: the mode and the schema to compare against.
#[derive(Debug, Clone)]
pub struct SchemaPolicy {
    /// What to do about changes.
    pub mode: SchemaMode,
    /// The schema the source is expected to have; `None`: nothing to compare with yet
    /// (the entity's first run).
    pub baseline: Option<SchemaRef>,
    /// Where the baseline comes from, for messages (`the last run's schema`,
    /// `expected_schema_path schemas/users.yml`).
    pub baseline_from: String,
}

/// The changes as a short table: one line per column (`  column  change  detail`).
pub fn table(changes: &[Change]) -> String {
    let w = changes
        .iter()
        .map(|c| c.column().len())
        .max()
        .unwrap_or(0)
        .max("column".len());
    let k = changes
        .iter()
        .map(|c| c.kind().len())
        .max()
        .unwrap_or(0)
        .max("change".len());
    let mut out = format!("  {:<w$}  {:<k$}  detail", "column", "change");
    for c in changes {
        out.push_str(&format!(
            "\n  {:<w$}  {:<k$}  {}",
            c.column(),
            c.kind(),
            c.detail()
        ));
    }
    out.trim_end().to_string()
}

/// What a run does about the source's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing changed (or nothing to compare with).
    Same,
    /// Changes to log; the run goes on.
    Goes(String),
    /// The entity fails before anything is published.
    Fails(String),
}

impl SchemaPolicy {
    /// The verdict on `schema`, the source's schema of this run.
    pub fn check(&self, schema: &Schema) -> Verdict {
        let Some(base) = &self.baseline else {
            return Verdict::Same;
        };
        let changes = diff(base, schema);
        if changes.is_empty() {
            return Verdict::Same;
        }
        let n = changes.len();
        let head = format!(
            "the source's schema differs from {} ({n} change{}; schema mode {})",
            self.baseline_from,
            if n == 1 { "" } else { "s" },
            self.mode
        );
        let t = table(&changes);
        match self.mode {
            SchemaMode::Warn => Verdict::Goes(format!("{head}:\n{t}")),
            SchemaMode::Strict => Verdict::Fails(format!(
                "{head}; nothing was written:\n{t}\nSet `schema: {{mode: adapt}}` to take additive changes, or update the expected schema"
            )),
            SchemaMode::Adapt => {
                let refused: Vec<Change> =
                    changes.iter().filter(|c| !c.adaptable()).cloned().collect();
                if refused.is_empty() {
                    Verdict::Goes(format!("{head}, adapting:\n{t}"))
                } else {
                    Verdict::Fails(format!(
                        "{head}; adapt never drops, renames, narrows or changes a column, so nothing was written:\n{}\nRun with --full-drop to replace the destination with the new schema",
                        table(&refused)
                    ))
                }
            }
        }
    }
}

/// A schema as the journal keeps it (and as `expected_schema_path` gives it): a JSON list
/// of `{"name", "type", "nullable"}`, the type as Arrow prints it (`Int64`,
/// `Timestamp(µs, "UTC")`, `Decimal128(38, 10)`).
pub fn to_json(schema: &Schema) -> String {
    let cols: Vec<serde_json::Value> = schema
        .fields()
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name(),
                "type": f.data_type().to_string(),
                "nullable": f.is_nullable(),
            })
        })
        .collect();
    serde_json::Value::Array(cols).to_string()
}

/// The schema [`to_json`] wrote, or a user's: the list, or `{"columns": [...]}`;
/// `nullable` defaults to true.
pub fn from_json(value: &serde_json::Value) -> Result<Schema, String> {
    let list = match value {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(o) => match o.get("columns") {
            Some(serde_json::Value::Array(a)) => a,
            _ => return Err("expected `columns:`, a list of {name, type, nullable}".into()),
        },
        _ => return Err("expected a list of {name, type, nullable}".into()),
    };
    let mut fields = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let name = c
            .get("name")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("column {}: no `name`", i + 1))?;
        let ty = c
            .get("type")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("column `{name}`: no `type`"))?;
        let data_type: DataType = ty.parse().map_err(|e| {
            format!("column `{name}`: `{ty}` is not an Arrow type ({e}); write it as Arrow prints it, e.g. Int64, Utf8, Decimal128(38, 2), Timestamp(µs, \"UTC\")")
        })?;
        let nullable = c.get("nullable").and_then(|v| v.as_bool()).unwrap_or(true);
        fields.push(Field::new(name, data_type, nullable));
    }
    Ok(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::TimeUnit;

    fn s(fields: &[(&str, DataType, bool)]) -> Schema {
        Schema::new(
            fields
                .iter()
                .map(|(n, t, null)| Field::new(*n, t.clone(), *null))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn every_kind_of_change_is_classified() {
        let old = s(&[
            ("id", DataType::Int32, false),
            ("name", DataType::Utf8, false),
            ("price", DataType::Decimal128(10, 2), true),
            ("old", DataType::Int64, true),
            ("gone", DataType::Utf8, true),
            ("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        ]);
        let new = s(&[
            ("id", DataType::Int64, false),
            ("name", DataType::Utf8, true),
            ("price", DataType::Decimal128(8, 2), true),
            ("renamed", DataType::Int64, true),
            ("extra", DataType::Boolean, true),
            ("at", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]);
        let got = diff(&old, &new);
        let kinds: Vec<(&str, &str)> = got.iter().map(|c| (c.column(), c.kind())).collect();
        assert_eq!(
            kinds,
            vec![
                ("id", "type widened"),
                ("name", "now nullable"),
                ("price", "type changed"),
                ("at", "type changed"),
                ("renamed", "renamed?"),
                ("extra", "added"),
                ("gone", "removed"),
            ]
        );
        assert!(widens(&DataType::UInt32, &DataType::Int64));
        assert!(!widens(&DataType::Int64, &DataType::UInt64));
        assert!(
            !widens(&DataType::Int64, &DataType::Float64),
            "not exact past 2^53"
        );
        assert!(widens(
            &DataType::Decimal128(10, 2),
            &DataType::Decimal128(12, 3)
        ));
        assert!(!widens(
            &DataType::Decimal128(10, 2),
            &DataType::Decimal128(10, 3)
        ));
    }

    #[test]
    fn snapshots_round_trip() {
        let schema = s(&[
            ("id", DataType::Int64, false),
            (
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("Europe/Copenhagen".into())),
                true,
            ),
            ("price", DataType::Decimal128(38, 10), true),
            (
                "tags",
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                true,
            ),
        ]);
        let text = to_json(&schema);
        let back = from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, schema, "{text}");
        let user = serde_json::json!({"columns": [{"name": "id", "type": "Int64"}]});
        assert!(from_json(&user).unwrap().field(0).is_nullable());
        let bad = serde_json::json!([{"name": "id", "type": "Integer"}]);
        assert!(
            from_json(&bad)
                .unwrap_err()
                .contains("`Integer` is not an Arrow type")
        );
    }

    #[test]
    fn each_mode_decides_and_says_why() {
        let base = Arc::new(s(&[("id", DataType::Int32, false)]));
        let policy = |mode| SchemaPolicy {
            mode,
            baseline: Some(base.clone()),
            baseline_from: "the last run's schema".into(),
        };
        let added = s(&[("id", DataType::Int32, false), ("x", DataType::Utf8, true)]);
        assert_eq!(policy(SchemaMode::Strict).check(&base), Verdict::Same);
        let Verdict::Fails(m) = policy(SchemaMode::Strict).check(&added) else {
            panic!()
        };
        assert_eq!(
            m,
            "the source's schema differs from the last run's schema (1 change; schema mode strict); nothing was written:\n  column  change  detail\n  x       added   Utf8\nSet `schema: {mode: adapt}` to take additive changes, or update the expected schema"
        );
        assert!(matches!(
            policy(SchemaMode::Warn).check(&added),
            Verdict::Goes(_)
        ));
        assert!(matches!(
            policy(SchemaMode::Adapt).check(&added),
            Verdict::Goes(_)
        ));
        let narrowed = s(&[("id", DataType::Int16, false)]);
        let Verdict::Fails(m) = policy(SchemaMode::Adapt).check(&narrowed) else {
            panic!()
        };
        assert!(m.contains("id      type changed  Int32 -> Int16"), "{m}");
        let first = SchemaPolicy {
            mode: SchemaMode::Strict,
            baseline: None,
            baseline_from: String::new(),
        };
        assert_eq!(first.check(&added), Verdict::Same);
    }
}
