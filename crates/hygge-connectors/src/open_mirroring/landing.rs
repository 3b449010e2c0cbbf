//! What the landing zone's format asks of a table folder: file names, `_metadata.json`,
//! `_schema.json`, and the two columns every row ends with (`__LastLoadedAt__`, then
//! `__rowMarker__` last). Pure: no I/O.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int32Array, TimestampMicrosecondArray};
use arrow::compute::kernels::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use super::config::FileDetection;

/// The row marker column: always last.
pub const ROW_MARKER: &str = "__rowMarker__";
/// When hygge loaded the row (UTC): second to last.
pub const LAST_LOADED_AT: &str = "__LastLoadedAt__";
/// Every table folder's metadata.
pub const METADATA: &str = "_metadata.json";
/// The table's columns, for Fabric.
pub const SCHEMA: &str = "_schema.json";
/// The mirrored database's partner information, at the landing zone's root.
pub const PARTNER_EVENTS: &str = "_partnerEvents.json";

/// The name of data file number `seq`: exactly 20 digits (`sequential`), or the UTC time
/// and six digits (`timestamp`, the original's `YYYYMMDD_HHMMSS_ffffff_NNNNNN`).
pub fn file_name(detection: FileDetection, seq: u64, at: chrono::DateTime<chrono::Utc>) -> String {
    match detection {
        FileDetection::Sequential => format!("{seq:020}.parquet"),
        FileDetection::Timestamp => {
            format!("{}_{seq:06}.parquet", at.format("%Y%m%d_%H%M%S_%6f"))
        }
    }
}

/// The sequence number of a data file name of `detection`'s form (None: another name).
pub fn sequence_of(detection: FileDetection, name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".parquet")?;
    let digits = match detection {
        FileDetection::Sequential => (stem.len() == 20).then_some(stem)?,
        FileDetection::Timestamp => {
            let parts: Vec<&str> = stem.split('_').collect();
            let [d, t, f, n] = parts[..] else {
                return None;
            };
            let shape = [(d, 8), (t, 6), (f, 6)];
            if !shape.iter().all(|(p, len)| p.len() == *len) || n.len() < 6 {
                return None;
            }
            if ![d, t, f]
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
            {
                return None;
            }
            n
        }
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `_metadata.json`: the keys, the detection strategy (timestamp), and upsert as the
/// default marker (row_marker 4), as the original writes them.
pub fn metadata(keys: &[String], detection: FileDetection, row_marker: i32) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("keyColumns".into(), keys.into());
    if detection == FileDetection::Timestamp {
        m.insert(
            "fileDetectionStrategy".into(),
            "LastUpdateTimeFileDetection".into(),
        );
    }
    if row_marker == 4 {
        m.insert("isUpsertDefaultRowMarker".into(), true.into());
    }
    serde_json::Value::Object(m)
}

/// The `keyColumns` of a `_metadata.json`.
pub fn key_columns_of(doc: &serde_json::Value) -> Option<Vec<String>> {
    let keys = doc.get("keyColumns")?.as_array()?;
    keys.iter().map(|k| k.as_str().map(String::from)).collect()
}

/// Fabric's type for an Arrow type (`_schema.json`): string, long, double, datetime,
/// decimal or boolean; anything else is described as string (as the original does).
pub fn fabric_type(t: &DataType) -> &'static str {
    use DataType::*;
    match t {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => "long",
        Float16 | Float32 | Float64 => "double",
        Timestamp(..) | Date32 | Date64 => "datetime",
        Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => "decimal",
        Boolean => "boolean",
        _ => "string",
    }
}

/// `_schema.json` of the columns written (the table's own; the original wrote the
/// journal's columns for every table).
pub fn schema_doc(schema: &Schema) -> serde_json::Value {
    let columns: Vec<serde_json::Value> = (schema.fields().iter())
        .map(|f| {
            serde_json::json!({"name": f.name(), "type": fabric_type(f.data_type()), "nullable": true})
        })
        .collect();
    serde_json::json!({ "columns": columns })
}

/// How each batch becomes the landing zone's rows: its columns (less any
/// `__LastLoadedAt__` / `__rowMarker__`), then `__LastLoadedAt__` (the batch's own, or the
/// run's load time in UTC), then `__rowMarker__` (the batch's own, checked to be 0, 1, 2
/// or 4, or the configured marker).
#[derive(Debug, Clone)]
pub struct Columns {
    output: SchemaRef,
    data: Vec<usize>,
    loaded_at: Option<usize>,
    marker: Option<usize>,
    row_marker: i32,
    load_time: i64,
}

impl Columns {
    /// The plan for rows of `input` (after polish); `keys` must all be among them.
    pub fn plan(
        input: &SchemaRef,
        keys: &[String],
        row_marker: i32,
        load_time: chrono::DateTime<chrono::Utc>,
    ) -> Result<Columns, String> {
        let missing: Vec<&str> = (keys.iter())
            .filter(|k| input.field_with_name(k).is_err())
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let have: Vec<&str> = input.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(format!(
                "key_columns: {} not among the columns written ({})",
                missing.join(", "),
                have.join(", ")
            ));
        }
        let find = |n: &str| input.index_of(n).ok();
        let (loaded_at, marker) = (find(LAST_LOADED_AT), find(ROW_MARKER));
        if let Some(i) = marker {
            let t = input.field(i).data_type();
            if !t.is_integer() {
                return Err(format!(
                    "{ROW_MARKER}: the rows carry it as {t}; it must be an integer (0, 1, 2 or 4)"
                ));
            }
        }
        if let Some(i) = loaded_at
            && !matches!(input.field(i).data_type(), DataType::Timestamp(..))
        {
            return Err(format!(
                "{LAST_LOADED_AT}: the rows carry it as {}; it must be a timestamp",
                input.field(i).data_type()
            ));
        }
        let data: Vec<usize> = (0..input.fields().len())
            .filter(|i| Some(*i) != loaded_at && Some(*i) != marker)
            .collect();
        let mut fields: Vec<Arc<Field>> = data.iter().map(|i| input.fields()[*i].clone()).collect();
        fields.push(match loaded_at {
            Some(i) => input.fields()[i].clone(),
            None => Arc::new(Field::new(
                LAST_LOADED_AT,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            )),
        });
        fields.push(Arc::new(Field::new(
            ROW_MARKER,
            DataType::Int32,
            marker.is_some_and(|i| input.field(i).is_nullable()),
        )));
        Ok(Columns {
            output: Arc::new(Schema::new_with_metadata(fields, input.metadata().clone())),
            data,
            loaded_at,
            marker,
            row_marker,
            load_time: load_time.timestamp_micros(),
        })
    }

    /// The columns written.
    pub fn schema(&self) -> &SchemaRef {
        &self.output
    }

    /// The batch as written (the data columns are not copied).
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch, String> {
        let n = batch.num_rows();
        let mut cols: Vec<ArrayRef> = self.data.iter().map(|i| batch.column(*i).clone()).collect();
        cols.push(match self.loaded_at {
            Some(i) => batch.column(i).clone(),
            None => Arc::new(
                TimestampMicrosecondArray::from(vec![self.load_time; n]).with_timezone("UTC"),
            ),
        });
        cols.push(match self.marker {
            Some(i) => {
                let m = cast::cast(batch.column(i), &DataType::Int32)
                    .map_err(|e| format!("{ROW_MARKER}: {e}"))?;
                let ints = m.as_any().downcast_ref::<Int32Array>().expect("cast to Int32");
                if let Some(bad) = ints.iter().find(|v| !matches!(v, Some(0 | 1 | 2 | 4))) {
                    return Err(format!(
                        "{ROW_MARKER}: a row carries {}; valid markers are 0 (insert), 1 (update), 2 (delete) and 4 (upsert)",
                        bad.map_or("NULL".to_string(), |v| v.to_string())
                    ));
                }
                m
            }
            None => Arc::new(Int32Array::from(vec![self.row_marker; n])),
        });
        RecordBatch::try_new(self.output.clone(), cols).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn at() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-12-02T10:11:12.345678Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn names_and_their_sequence() {
        let s = file_name(FileDetection::Sequential, 42, at());
        assert_eq!(s, "00000000000000000042.parquet");
        assert_eq!(sequence_of(FileDetection::Sequential, &s), Some(42));
        let t = file_name(FileDetection::Timestamp, 7, at());
        assert_eq!(t, "20261202_101112_345678_000007.parquet");
        assert_eq!(sequence_of(FileDetection::Timestamp, &t), Some(7));
        for other in [
            "0000000000000000042.parquet",
            "_00000000000000000042.parquet",
            "00000000000000000042.csv",
            "20261202_101112_000007.parquet",
            "x0261202_101112_345678_000007.parquet",
        ] {
            assert_eq!(
                sequence_of(FileDetection::Sequential, other),
                None,
                "{other}"
            );
            assert_eq!(
                sequence_of(FileDetection::Timestamp, other),
                None,
                "{other}"
            );
        }
    }

    #[test]
    fn metadata_as_the_original_writes_it() {
        let keys = vec!["Id".to_string()];
        assert_eq!(
            metadata(&keys, FileDetection::Timestamp, 4),
            serde_json::json!({"keyColumns": ["Id"], "fileDetectionStrategy": "LastUpdateTimeFileDetection", "isUpsertDefaultRowMarker": true})
        );
        assert_eq!(
            metadata(&keys, FileDetection::Sequential, 0),
            serde_json::json!({"keyColumns": ["Id"]})
        );
        assert_eq!(
            key_columns_of(&metadata(&keys, FileDetection::Sequential, 1)),
            Some(keys)
        );
    }

    #[test]
    fn columns_end_with_load_time_and_marker() {
        let input = Arc::new(Schema::new(vec![
            Field::new("Id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            input.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a"), None])),
            ],
        )
        .unwrap();
        let c = Columns::plan(&input, &["Id".into()], 4, at()).unwrap();
        let out = c.apply(&batch).unwrap();
        let schema = out.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["Id", "name", LAST_LOADED_AT, ROW_MARKER]);
        let m = out.column(3).as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(m.values().to_vec(), [4, 4]);
        let t = out
            .column(2)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(t.value(0), at().timestamp_micros());
        assert_eq!(t.timezone(), Some("UTC"));
        assert!(
            Arc::ptr_eq(out.column(0), batch.column(0)),
            "data columns are not copied"
        );

        let err = Columns::plan(&input, &["ID".into()], 4, at()).unwrap_err();
        assert!(
            err.contains("ID not among") && err.contains("Id, name"),
            "{err}"
        );
    }

    #[test]
    fn a_marker_the_rows_carry_moves_last_and_is_checked() {
        let input = Arc::new(Schema::new(vec![
            Field::new(ROW_MARKER, DataType::Int64, false),
            Field::new("Id", DataType::Int64, false),
        ]));
        let batch = |m: Vec<i64>| {
            RecordBatch::try_new(
                input.clone(),
                vec![
                    Arc::new(Int64Array::from(m)),
                    Arc::new(Int64Array::from(vec![1, 2])),
                ],
            )
            .unwrap()
        };
        let c = Columns::plan(&input, &["Id".into()], 4, at()).unwrap();
        let out = c.apply(&batch(vec![2, 0])).unwrap();
        assert_eq!(out.schema().field(2).name(), ROW_MARKER);
        let m = out.column(2).as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(m.values().to_vec(), [2, 0]);
        let err = c.apply(&batch(vec![4, 3])).unwrap_err();
        assert!(err.contains("carries 3"), "{err}");
        let text = Arc::new(Schema::new(vec![
            Field::new(ROW_MARKER, DataType::Utf8, false),
            Field::new("Id", DataType::Int64, false),
        ]));
        assert!(
            Columns::plan(&text, &["Id".into()], 4, at())
                .unwrap_err()
                .contains("integer")
        );
    }

    #[test]
    fn fabric_types() {
        let s = Schema::new(vec![
            Field::new("a", DataType::Int32, false),
            Field::new("b", DataType::Decimal128(38, 4), true),
            Field::new("c", DataType::Binary, true),
        ]);
        assert_eq!(
            schema_doc(&s),
            serde_json::json!({"columns": [
                {"name": "a", "type": "long", "nullable": true},
                {"name": "b", "type": "decimal", "nullable": true},
                {"name": "c", "type": "string", "nullable": true}
            ]})
        );
    }
}
