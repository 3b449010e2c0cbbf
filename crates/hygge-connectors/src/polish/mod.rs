//! `polish`: the original hygge's last-mile transforms (`core/polish.py`), applied by a
//! file or cloud store to every batch before it is encoded. Store-agnostic: a store types
//! `polish:` as a [`PolishConfig`], makes a [`Polish`] of it when it validates, and for
//! each entity run settles a [`PolishPlan`] from the rows' schema ([`Polish::plan`]) and
//! passes every batch through [`PolishPlan::apply`].
//!
//! The original's order, names, defaults and types:
//!
//! 1. `hash_ids`: per rule, a column of the hash of the `from_columns` values cast to text
//!    (as Polars casts them) and joined with `|`; a row with a null among them gets a null
//!    hash. Hex text (`hex: true`, default) or binary. Each new column is placed first. A
//!    rule whose column exists already is skipped; one whose source columns are missing is
//!    skipped with a warning, unless they are found under their `columns`-normalised names.
//! 2. `columns`: every name (the hash columns' too) rewritten: `remove_special`,
//!    `remove_spaces`, `case`; names that collide get `_1`, `_2`, ... in column order.
//! 3. `constants`, then 4. `timestamps`: appended, each skipped if its name exists.
//!
//! Where hygge differs from the original, on purpose:
//!
//! - A transform that fails fails the entity, with a message naming the transform and the
//!   column; the original logged it at DEBUG and wrote the rows unpolished.
//! - The schema is settled once per entity run, from the source's schema: an empty run
//!   writes the polished columns too (the original did not polish an empty frame), and
//!   `timestamps` hold one time for the whole run (the original took the time per write).
//! - `timestamps` of `type: datetime` are UTC instants (microseconds, time zone `UTC`) for
//!   both sources; `now_local` (the original: the local wall-clock time without a zone,
//!   which readers take for UTC) differs only as text, which is then the local time with
//!   its offset.
//! - `algo` is checked when the configuration is (md5, sha1, sha224, sha256, sha384,
//!   sha512); the original skipped a rule with an unknown one.

mod config;
mod names;
mod values;

use std::sync::Arc;

use arrow::array::{ArrayRef, BinaryBuilder, RecordBatch, RecordBatchOptions, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

pub use config::{
    Case, ColumnRules, ConstValue, ConstantRule, HashAlgo, HashIdRule, PolishConfig, ROW_MARKER,
    TimeKind, TimeSource, TimestampRule,
};

use values::{LoadTime, Text};

/// A transform that could not be applied: which one, to which column, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("polish {transform}, column `{column}`: {detail}")]
pub struct PolishError {
    /// `columns`, `hash_ids `<name>``, ...
    pub transform: String,
    /// The column concerned.
    pub column: String,
    /// Why.
    pub detail: String,
}

/// A validated `polish:`, shared by every entity of a store.
#[derive(Debug, Clone, PartialEq)]
pub struct Polish {
    config: Arc<PolishConfig>,
}

/// Where an output column comes from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// A column of the input, unchanged (its array is reused).
    Input(usize),
    /// The `n`th hash column computed.
    Hash(usize),
    /// A constant.
    Const(ConstValue),
    /// The run's load time (microseconds, UTC).
    Time(i64),
    /// The run's load time as text.
    TimeText(String),
}

/// One hash column to compute.
#[derive(Debug, Clone)]
struct HashPlan {
    rule: String,
    algo: HashAlgo,
    hex: bool,
    /// The hashed columns: where each comes from, and its name.
    from: Vec<(Source, String)>,
}

/// The transforms of one entity run, settled from its rows' schema: the output schema is
/// fixed, and [`PolishPlan::apply`] checks every batch against the input schema.
#[derive(Debug, Clone)]
pub struct PolishPlan {
    input: SchemaRef,
    output: SchemaRef,
    hashes: Vec<HashPlan>,
    out: Vec<Source>,
}

impl Polish {
    /// A polish of `config` (already checked when it was typed).
    pub fn new(config: PolishConfig) -> Self {
        Polish {
            config: Arc::new(config),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PolishConfig {
        &self.config
    }

    /// A short description for plans (`hash_ids 1, columns pascal, constants 1`).
    pub fn summary(&self) -> String {
        let c = &self.config;
        let mut parts = vec![];
        if !c.hash_ids.is_empty() {
            parts.push(format!("hash_ids {}", c.hash_ids.len()));
        }
        if c.columns.any() {
            let mut what = vec![];
            if c.columns.remove_special {
                what.push("remove_special".to_string());
            }
            if c.columns.remove_spaces {
                what.push("remove_spaces".to_string());
            }
            if let Some(case) = c.columns.case {
                what.push(format!("{case:?}").to_lowercase());
            }
            parts.push(format!("columns {}", what.join("+")));
        }
        if !c.constants.is_empty() {
            parts.push(format!("constants {}", c.constants.len()));
        }
        if !c.timestamps.is_empty() {
            parts.push(format!("timestamps {}", c.timestamps.len()));
        }
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }

    /// Settles the transforms for rows of `input`: the output columns, their names and
    /// types, the load time. Fails if a column cannot be hashed or two columns would get
    /// one name.
    pub fn plan(&self, input: &SchemaRef) -> Result<PolishPlan, PolishError> {
        let c = &self.config;
        let mut cols: Vec<(String, Source)> = input
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name().clone(), Source::Input(i)))
            .collect();
        // 1. hash ids
        let mut hashes: Vec<HashPlan> = vec![];
        for rule in &c.hash_ids {
            let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
            let mut from = vec![];
            let mut missing = vec![];
            for want in &rule.from_columns {
                let found = names
                    .iter()
                    .position(|n| n == want)
                    .or_else(|| alternative(want, &names, c.columns.case));
                match found {
                    Some(k) => from.push((cols[k].1.clone(), cols[k].0.clone())),
                    None => missing.push(want.as_str()),
                }
            }
            if !missing.is_empty() {
                tracing::warn!(
                    "polish: skipping hash_ids `{}`: source columns {missing:?} not found; the columns are {names:?}",
                    rule.name
                );
                continue;
            }
            if names.contains(&rule.name.as_str()) {
                tracing::debug!(
                    "polish: hash_ids `{}`: the column exists already; kept as it is",
                    rule.name
                );
                continue;
            }
            for (src, name) in &from {
                let t = match src {
                    Source::Input(i) => input.field(*i).data_type().clone(),
                    _ => DataType::Utf8,
                };
                values::check_text(&t).map_err(|detail| PolishError {
                    transform: format!("hash_ids `{}`", rule.name),
                    column: name.clone(),
                    detail,
                })?;
            }
            cols.insert(0, (rule.name.clone(), Source::Hash(hashes.len())));
            hashes.push(HashPlan {
                rule: rule.name.clone(),
                algo: rule.algo,
                hex: rule.hex,
                from,
            });
        }
        // 2. names
        if c.columns.any() {
            let old: Vec<String> = cols.iter().map(|(n, _)| n.clone()).collect();
            let new = names::rename_all(&old, &c.columns).map_err(|detail| PolishError {
                transform: "columns".into(),
                column: old.join("`, `"),
                detail,
            })?;
            for (col, n) in cols.iter_mut().zip(new) {
                col.0 = n;
            }
        }
        // 3. constants, 4. timestamps: each skipped if its name is taken already
        let existing: Vec<String> = cols.iter().map(|(n, _)| n.clone()).collect();
        for r in &c.constants {
            if existing.contains(&r.name) {
                tracing::debug!("polish: constant `{}` exists already; kept", r.name);
            } else {
                cols.push((r.name.clone(), Source::Const(r.value.clone())));
            }
        }
        let now = LoadTime::now();
        let existing: Vec<String> = cols.iter().map(|(n, _)| n.clone()).collect();
        for r in &c.timestamps {
            if existing.contains(&r.name) {
                tracing::debug!("polish: timestamp `{}` exists already; kept", r.name);
                continue;
            }
            let src = match r.kind {
                TimeKind::Datetime => Source::Time(now.micros()),
                TimeKind::String => Source::TimeText(
                    now.text(r.source == TimeSource::NowLocal, r.format.as_deref()),
                ),
            };
            cols.push((r.name.clone(), src));
        }
        let hash_type = |j: usize| {
            if hashes[j].hex {
                DataType::Utf8
            } else {
                DataType::Binary
            }
        };
        let fields: Vec<Field> = cols
            .iter()
            .map(|(name, src)| match src {
                Source::Input(i) => input.field(*i).clone().with_name(name),
                Source::Hash(j) => Field::new(name, hash_type(*j), true),
                Source::Const(v) => Field::new(name, values::const_type(v), true),
                Source::Time(_) => Field::new(name, values::time_type(), true),
                Source::TimeText(_) => Field::new(name, DataType::Utf8, true),
            })
            .collect();
        let output = Arc::new(Schema::new_with_metadata(fields, input.metadata().clone()));
        Ok(PolishPlan {
            input: input.clone(),
            output,
            hashes,
            out: cols.into_iter().map(|(_, s)| s).collect(),
        })
    }
}

/// A file or cloud store's `polish` and `copy_row_groups`, checked together: the polish
/// (none for an absent or empty one) and whether Parquet row groups may be copied as they
/// are encoded, which a polish rules out (it changes the columns; it is the default off
/// then, and asking for it is an error).
pub fn for_store(
    polish: &Option<PolishConfig>,
    copy_row_groups: Option<bool>,
) -> Result<(Option<Polish>, bool), String> {
    let polish = polish
        .as_ref()
        .filter(|p| !p.is_noop())
        .cloned()
        .map(Polish::new);
    match (&polish, copy_row_groups) {
        (Some(_), Some(true)) => Err(
            "copy_row_groups: a store with `polish` writes the polished rows, so it cannot copy a source's row groups as they are; remove `copy_row_groups`"
                .into(),
        ),
        (Some(_), _) => Ok((polish, false)),
        (None, c) => Ok((None, c.unwrap_or(true))),
    }
}

/// The original's second chance for a hash source column not found by name: a column whose
/// name is the same under the configured `case` (or, without one, the same once spaces,
/// `_` and `-` are dropped: the original also compared them in lower case, but then kept
/// only an exact match); the first such column.
fn alternative(want: &str, names: &[&str], case: Option<Case>) -> Option<usize> {
    let strip = |s: &str| s.replace([' ', '_', '-'], "");
    names.iter().position(|have| match case {
        Some(case) => names::to_case(have, case) == names::to_case(want, case),
        None => strip(have) == strip(want),
    })
}

impl PolishPlan {
    /// The schema of the polished rows.
    pub fn schema(&self) -> &SchemaRef {
        &self.output
    }

    /// The schema the plan was settled for.
    pub fn input_schema(&self) -> &SchemaRef {
        &self.input
    }

    /// Polishes one batch of the planned input schema. Columns kept are the input's arrays
    /// (not copied); new columns are built.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch, PolishError> {
        self.check(batch)?;
        let rows = batch.num_rows();
        let mut hashes: Vec<ArrayRef> = Vec::with_capacity(self.hashes.len());
        for h in &self.hashes {
            let a = self.hash(h, batch, &hashes)?;
            hashes.push(a);
        }
        let columns: Vec<ArrayRef> = self
            .out
            .iter()
            .map(|s| match s {
                Source::Input(i) => batch.column(*i).clone(),
                Source::Hash(j) => hashes[*j].clone(),
                Source::Const(v) => values::const_array(v, rows),
                Source::Time(m) => values::time_array(*m, rows),
                Source::TimeText(t) => values::text_array(t, rows),
            })
            .collect();
        RecordBatch::try_new_with_options(
            self.output.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| PolishError {
            transform: "plan".into(),
            column: String::new(),
            detail: format!(
                "the polished rows do not fit the planned schema (a bug in hygge): {e}"
            ),
        })
    }

    fn check(&self, batch: &RecordBatch) -> Result<(), PolishError> {
        let got = batch.schema();
        let (a, b) = (self.input.fields(), got.fields());
        let differ = |detail: String, column: &str| PolishError {
            transform: "plan".into(),
            column: column.to_string(),
            detail,
        };
        if a.len() != b.len() {
            return Err(differ(
                format!(
                    "a batch has {} columns, but the polish was planned for {}",
                    b.len(),
                    a.len()
                ),
                "",
            ));
        }
        for (x, y) in a.iter().zip(b.iter()) {
            if x.name() != y.name() || x.data_type() != y.data_type() {
                return Err(differ(
                    format!(
                        "a batch has `{}` {} where the polish was planned for `{}` {}",
                        y.name(),
                        y.data_type(),
                        x.name(),
                        x.data_type()
                    ),
                    x.name(),
                ));
            }
        }
        Ok(())
    }

    fn hash(
        &self,
        h: &HashPlan,
        batch: &RecordBatch,
        done: &[ArrayRef],
    ) -> Result<ArrayRef, PolishError> {
        let fail = |column: &str, detail: String| PolishError {
            transform: format!("hash_ids `{}`", h.rule),
            column: column.to_string(),
            detail,
        };
        let mut texts = Vec::with_capacity(h.from.len());
        for (src, name) in &h.from {
            let a = match src {
                Source::Input(i) => batch.column(*i),
                Source::Hash(j) => &done[*j],
                _ => unreachable!("hash sources are columns"),
            };
            texts.push((Text::new(a).map_err(|e| fail(name, e))?, name.as_str()));
        }
        let rows = batch.num_rows();
        let mut hex = StringBuilder::with_capacity(rows, if h.hex { rows * 64 } else { 0 });
        let mut raw = BinaryBuilder::with_capacity(if h.hex { 0 } else { rows }, 0);
        let mut joined = String::new();
        let mut digest_hex = String::new();
        for row in 0..rows {
            if texts.iter().any(|(t, _)| t.is_null(row)) {
                if h.hex {
                    hex.append_null();
                } else {
                    raw.append_null();
                }
                continue;
            }
            joined.clear();
            for (k, (t, name)) in texts.iter().enumerate() {
                if k > 0 {
                    joined.push('|');
                }
                t.push(row, &mut joined).map_err(|e| fail(name, e))?;
            }
            let d = values::digest(h.algo, joined.as_bytes());
            if h.hex {
                digest_hex.clear();
                values::hex_into(&d, &mut digest_hex);
                hex.append_value(&digest_hex);
            } else {
                raw.append_value(&d);
            }
        }
        Ok(if h.hex {
            Arc::new(hex.finish())
        } else {
            Arc::new(raw.finish())
        })
    }
}

#[cfg(test)]
mod tests;
