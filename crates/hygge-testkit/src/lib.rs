//! Test-only helpers: in-memory homes and stores, homes that count or fail, stores that
//! stall or fail, and the conformance suite every store must pass.

pub mod cloud;
pub mod conformance;
pub mod homes;
pub mod pg;
pub mod stores;
pub mod tds;
pub mod types;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

/// The schema of [`batch`]: `id int64 not null, name utf8 nullable`.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]))
}

/// A batch with ids `start..start+len`; every 7th name is NULL, names include unicode.
pub fn batch(start: i64, len: usize) -> RecordBatch {
    let ids: Vec<i64> = (start..start + len as i64).collect();
    let names: Vec<Option<String>> = ids
        .iter()
        .map(|i| (i % 7 != 0).then(|| format!("näme-{i}")))
        .collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids)) as ArrayRef,
            Arc::new(StringArray::from(names)) as ArrayRef,
        ],
    )
    .expect("valid batch")
}

/// `(id, name)` rows of batches shaped like [`batch`], sorted by id.
pub fn rows(batches: &[RecordBatch]) -> Vec<(i64, Option<String>)> {
    let mut out = Vec::new();
    for b in batches {
        let ids = b
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("id is int64");
        let names = b
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("name is utf8");
        for i in 0..b.num_rows() {
            let name =
                (!arrow::array::Array::is_null(names, i)).then(|| names.value(i).to_string());
            out.push((ids.value(i), name));
        }
    }
    out.sort();
    out
}

/// The rows [`batch`] would give for ids `range`.
pub fn expected_rows(range: std::ops::Range<i64>) -> Vec<(i64, Option<String>)> {
    rows(&[batch(range.start, (range.end - range.start) as usize)])
}
