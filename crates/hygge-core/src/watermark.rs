//! Watermarks at full precision: the maximum of a column over what a run wrote, kept as a
//! one-row Arrow array of the column's exact type, and the filter that makes the next run
//! read only rows strictly after it.
//!
//! Supported column types: every integer, `Date32`/`Date64`, `Timestamp` of any unit with or
//! without a time zone, and strings. The exact text form ([`Watermark::exact`]) is the raw
//! integer of the Arrow value (epoch units for dates and timestamps), so nothing is ever
//! rounded: a `datetime2(7)` read as nanoseconds stays nanoseconds.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, LargeStringArray, StringArray, UInt64Array};
use arrow::compute::kernels::cmp;
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::checkpoint::BoundaryKeys;

/// A watermark: the column and its value (one row, never null).
#[derive(Debug, Clone)]
pub struct Watermark {
    /// The watermark column.
    pub column: String,
    value: ArrayRef,
}

/// The kinds of columns a watermark can be kept on (the original's `watermark_type`).
pub fn kind(dt: &DataType) -> Option<&'static str> {
    use DataType::*;
    match dt {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Some("int"),
        Date32 | Date64 | Timestamp(_, _) => Some("datetime"),
        Utf8 | LargeUtf8 => Some("string"),
        _ => None,
    }
}

impl Watermark {
    /// The value's Arrow type.
    pub fn data_type(&self) -> &DataType {
        self.value.data_type()
    }

    /// `int`, `datetime` or `string`.
    pub fn kind(&self) -> &'static str {
        kind(self.data_type()).unwrap_or("string")
    }

    /// The value, exactly: the raw integer (epoch units for temporal types) or the string.
    pub fn exact(&self) -> String {
        match self.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 => self.display(),
            DataType::UInt64 => self.display(),
            _ => cast(&self.value, &DataType::Int64)
                .ok()
                .and_then(|a| {
                    a.as_any()
                        .downcast_ref::<Int64Array>()
                        .map(|a| a.value(0).to_string())
                })
                .unwrap_or_default(),
        }
    }

    /// The value as a person (and SQL) reads it: ISO-8601 for dates and timestamps, at the
    /// type's full precision.
    pub fn display(&self) -> String {
        let opts = FormatOptions::default();
        ArrayFormatter::try_new(self.value.as_ref(), &opts)
            .map(|f| f.value(0).to_string())
            .unwrap_or_default()
    }

    /// Rebuilds a watermark from the journal: its Arrow type (as `DataType`'s `Display`
    /// prints it) and [`Watermark::exact`].
    pub fn parse(column: &str, arrow_type: &str, exact: &str) -> Result<Watermark, String> {
        let dt: DataType = arrow_type
            .parse()
            .map_err(|e| format!("watermark type `{arrow_type}`: {e}"))?;
        let bad = |e: &dyn std::fmt::Display| {
            format!("watermark `{exact}` is not a valid {arrow_type} value: {e}")
        };
        let value: ArrayRef = match &dt {
            DataType::Utf8 => Arc::new(StringArray::from(vec![exact])),
            DataType::LargeUtf8 => Arc::new(LargeStringArray::from(vec![exact])),
            DataType::UInt64 => Arc::new(UInt64Array::from(vec![
                exact.parse::<u64>().map_err(|e| bad(&e))?,
            ])),
            dt if kind(dt).is_some() => {
                let raw: ArrayRef = Arc::new(Int64Array::from(vec![
                    exact.parse::<i64>().map_err(|e| bad(&e))?,
                ]));
                cast(&raw, dt).map_err(|e| bad(&e))?
            }
            other => return Err(format!("a watermark cannot be kept on a {other} column")),
        };
        if value.null_count() > 0 {
            return Err(bad(&"out of range"));
        }
        Ok(Watermark {
            column: column.to_string(),
            value,
        })
    }

    /// The greater of `self` and the maximum of `column` in `batch` (if any row is not null).
    pub fn max_with(
        current: Option<Watermark>,
        batch: &RecordBatch,
        column: &str,
    ) -> Result<Option<Watermark>, String> {
        let col = column_of(batch, column)?;
        let Some(m) = max(col)? else {
            return Ok(current);
        };
        let candidate = Watermark {
            column: column.to_string(),
            value: m,
        };
        Ok(Some(match current {
            Some(c) if !greater(&candidate.value, &c.value)? => c,
            _ => candidate,
        }))
    }

    /// `batch` less the rows whose `column` is not strictly greater than the watermark
    /// (rows where it is NULL are dropped too: they can never be ordered after it).
    pub fn filter(&self, batch: &RecordBatch) -> Result<RecordBatch, String> {
        let col = column_of(batch, &self.column)?;
        let after = self.value_as(col.data_type())?;
        let keep = cmp::gt(col, &arrow::array::Scalar::new(after))
            .map_err(|e| format!("watermark column `{}`: {e}", self.column))?;
        if keep.true_count() == batch.num_rows() {
            return Ok(batch.clone());
        }
        filter_record_batch(batch, &keep).map_err(|e| e.to_string())
    }

    /// Inclusive boundary: rows whose column is greater, or equal and whose primary key
    /// (as text) is not among `seen` (the rows at the watermark a previous run wrote).
    /// `seen` must be sealed.
    pub fn filter_inclusive(
        &self,
        batch: &RecordBatch,
        primary_key: &str,
        seen: &BoundaryKeys,
    ) -> Result<RecordBatch, String> {
        let col = column_of(batch, &self.column)?;
        let after = arrow::array::Scalar::new(self.value_as(col.data_type())?);
        let gt = cmp::gt(col, &after).map_err(|e| e.to_string())?;
        let eq = cmp::eq(col, &after).map_err(|e| e.to_string())?;
        if eq.true_count() == 0 {
            return filter_record_batch(batch, &gt).map_err(|e| e.to_string());
        }
        let keys = key_texts(batch, primary_key)?;
        let keep: arrow::array::BooleanArray = (0..batch.num_rows())
            .map(|i| {
                Some(
                    (gt.is_valid(i) && gt.value(i))
                        || (eq.is_valid(i) && eq.value(i) && !seen.contains(&keys(i))),
                )
            })
            .collect();
        filter_record_batch(batch, &keep).map_err(|e| e.to_string())
    }

    /// The primary keys (as text) of the rows of `batch` whose column equals this value.
    pub fn keys_at(&self, batch: &RecordBatch, primary_key: &str) -> Result<BoundaryKeys, String> {
        let col = column_of(batch, &self.column)?;
        let at = arrow::array::Scalar::new(self.value_as(col.data_type())?);
        let eq = cmp::eq(col, &at).map_err(|e| e.to_string())?;
        let mut out = BoundaryKeys::new();
        if eq.true_count() == 0 {
            return Ok(out);
        }
        let keys = key_texts(batch, primary_key)?;
        for i in (0..batch.num_rows()).filter(|&i| eq.is_valid(i) && eq.value(i)) {
            out.insert(&keys(i));
        }
        Ok(out)
    }

    /// How this watermark compares with `other` (of the same column).
    pub fn compare(&self, other: &Watermark) -> Result<std::cmp::Ordering, String> {
        Ok(if greater(&self.value, &other.value)? {
            std::cmp::Ordering::Greater
        } else if greater(&other.value, &self.value)? {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Equal
        })
    }

    /// The value in the data's type (the data may read a column at another precision than
    /// the run that stored the watermark); refuses a conversion that would change it.
    fn value_as(&self, dt: &DataType) -> Result<ArrayRef, String> {
        if self.value.data_type() == dt {
            return Ok(self.value.clone());
        }
        let v = cast(&self.value, dt).map_err(|e| {
            format!(
                "watermark column `{}` is now {dt}, but the stored watermark is {}: {e}",
                self.column,
                self.value.data_type()
            )
        })?;
        let back = cast(&v, self.value.data_type()).map_err(|e| e.to_string())?;
        if v.null_count() > 0 || back.as_ref() != self.value.as_ref() {
            return Err(format!(
                "watermark column `{}` is now {dt}, which cannot hold the stored watermark {} ({}) exactly; run with --full-drop to start over",
                self.column,
                self.display(),
                self.value.data_type()
            ));
        }
        Ok(v)
    }
}

/// A function giving the text of row `i`'s primary key (how boundary keys are stored).
fn key_texts<'a>(
    batch: &'a RecordBatch,
    primary_key: &str,
) -> Result<impl Fn(usize) -> String + 'a, String> {
    let col = batch
        .column_by_name(primary_key)
        .ok_or_else(|| format!("primary key column `{primary_key}` is not in the data"))?;
    let f = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default())
        .map_err(|e| format!("primary key column `{primary_key}`: {e}"))?;
    Ok(move |i: usize| f.value(i).to_string())
}

fn column_of<'a>(batch: &'a RecordBatch, column: &str) -> Result<&'a ArrayRef, String> {
    let col = batch.column_by_name(column).ok_or_else(|| {
        let names: Vec<&str> = batch
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        format!(
            "watermark column `{column}` is not in the data (columns: {})",
            names.join(", ")
        )
    })?;
    if kind(col.data_type()).is_none() {
        return Err(format!(
            "watermark column `{column}` is {}; a watermark needs an integer, date, timestamp or string column",
            col.data_type()
        ));
    }
    Ok(col)
}

/// The maximum non-null value of `col`, as a one-row array of its type.
fn max(col: &ArrayRef) -> Result<Option<ArrayRef>, String> {
    use arrow::compute::{max as max_int, max_string};
    let dt = col.data_type();
    let one: ArrayRef = match dt {
        DataType::Utf8 => {
            let a = col.as_any().downcast_ref::<StringArray>().expect("utf8");
            match max_string(a) {
                Some(v) => Arc::new(StringArray::from(vec![v])),
                None => return Ok(None),
            }
        }
        DataType::LargeUtf8 => {
            let a = col
                .as_any()
                .downcast_ref::<LargeStringArray>()
                .expect("large utf8");
            match max_string(a) {
                Some(v) => Arc::new(LargeStringArray::from(vec![v])),
                None => return Ok(None),
            }
        }
        DataType::UInt64 => {
            let a = col.as_any().downcast_ref::<UInt64Array>().expect("uint64");
            match max_int(a) {
                Some(v) => Arc::new(UInt64Array::from(vec![v])),
                None => return Ok(None),
            }
        }
        _ => {
            // Every other supported type is an integer underneath (dates and timestamps
            // in epoch units): the maximum of the raw integers, cast back exactly.
            let raw = cast(col, &DataType::Int64).map_err(|e| e.to_string())?;
            let raw = raw.as_any().downcast_ref::<Int64Array>().expect("int64");
            match max_int(raw) {
                Some(v) => cast(&(Arc::new(Int64Array::from(vec![v])) as ArrayRef), dt)
                    .map_err(|e| e.to_string())?,
                None => return Ok(None),
            }
        }
    };
    Ok(Some(one))
}

fn greater(a: &ArrayRef, b: &ArrayRef) -> Result<bool, String> {
    let b = if a.data_type() == b.data_type() {
        b.clone()
    } else {
        cast(b, a.data_type()).map_err(|e| e.to_string())?
    };
    let r = cmp::gt(a, &b).map_err(|e| e.to_string())?;
    Ok(r.is_valid(0) && r.value(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::TimestampNanosecondArray;
    use arrow::datatypes::{Field, Schema};

    fn batch(col: ArrayRef) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "w",
                col.data_type().clone(),
                true,
            )])),
            vec![col],
        )
        .unwrap()
    }

    #[test]
    fn nanosecond_timestamps_keep_every_digit() {
        let ts: ArrayRef = Arc::new(
            TimestampNanosecondArray::from(vec![
                Some(1_700_000_000_123_456_700),
                None,
                Some(1_700_000_000_123_456_789),
                Some(1_700_000_000_123_456_788),
            ])
            .with_timezone("UTC"),
        );
        let b = batch(ts);
        let w = Watermark::max_with(None, &b, "w").unwrap().unwrap();
        assert_eq!(w.exact(), "1700000000123456789");
        assert_eq!(w.kind(), "datetime");
        assert!(
            w.display().contains("2023-11-14T22:13:20.123456789"),
            "{}",
            w.display()
        );
        let back = Watermark::parse("w", &w.data_type().to_string(), &w.exact()).unwrap();
        assert_eq!(back.data_type(), w.data_type());
        assert_eq!(back.exact(), w.exact());
        // Rows at or before the watermark (and NULLs) are dropped; 1 ns later is kept.
        let later: ArrayRef = Arc::new(
            TimestampNanosecondArray::from(vec![
                Some(1_700_000_000_123_456_789),
                Some(1_700_000_000_123_456_790),
                None,
            ])
            .with_timezone("UTC"),
        );
        assert_eq!(back.filter(&batch(later)).unwrap().num_rows(), 1);
    }

    #[test]
    fn integers_strings_and_max_across_batches() {
        let w = Watermark::max_with(None, &batch(Arc::new(Int64Array::from(vec![3, 9, 1]))), "w")
            .unwrap();
        let w = Watermark::max_with(w, &batch(Arc::new(Int64Array::from(vec![4, 8]))), "w")
            .unwrap()
            .unwrap();
        assert_eq!(w.exact(), "9");
        let u = Watermark::max_with(
            None,
            &batch(Arc::new(UInt64Array::from(vec![u64::MAX, 1]))),
            "w",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            Watermark::parse("w", "UInt64", &u.exact()).unwrap().exact(),
            u.exact()
        );
        let s = Watermark::max_with(
            None,
            &batch(Arc::new(StringArray::from(vec![
                Some("b"),
                None,
                Some("ab"),
            ]))),
            "w",
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.exact(), "b");
        assert!(Watermark::parse("w", "Float64", "1").is_err());
        let err = Watermark::max_with(None, &batch(Arc::new(Int64Array::from(vec![1]))), "nope")
            .unwrap_err();
        assert!(err.contains("not in the data"), "{err}");
    }

    #[test]
    fn a_coarser_column_cannot_silently_round_the_watermark() {
        let w = Watermark::parse("w", "Timestamp(ns)", "1700000000123456789")
            .or_else(|_| {
                Watermark::parse("w", "Timestamp(Nanosecond, None)", "1700000000123456789")
            })
            .unwrap();
        let micros: ArrayRef = Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![
            1_700_000_000_123_457,
        ]));
        let err = w.filter(&batch(micros)).unwrap_err();
        assert!(err.contains("cannot hold"), "{err}");
    }
}
