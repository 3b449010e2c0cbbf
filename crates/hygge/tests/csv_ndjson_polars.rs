//! CSV and NDJSON homes read files as Polars (the original hygge's reader) does: issue 21's
//! table, one test per row, through the real binary (local CSV/NDJSON home → Parquet store).

mod common;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Decimal128Type, TimeUnit};
use arrow::record_batch::RecordBatch;
use common::*;

/// Reads `file` (named `in/t/<name>`) through a local home of `format` with
/// `format_options` (YAML lines, indented by 4) into a Parquet store; returns its batches.
fn load(format: &str, name: &str, text: &str, options: &str) -> Vec<RecordBatch> {
    let p = Project::new("name: t\n");
    let opts = if options.is_empty() {
        String::new()
    } else {
        format!("  format_options:\n{options}")
    };
    p.write(
        "flows/f/flow.yml",
        &format!("home:\n  type: local\n  path: in\n  format: {format}\n{opts}store: out\nentities: [t]\n"),
    );
    p.write(&format!("in/t/{name}"), text);
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    read_parquet_dir(&p.join("out/t"))
}

fn names(b: &[RecordBatch]) -> Vec<String> {
    b[0].schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn types(b: &[RecordBatch]) -> Vec<DataType> {
    b[0].schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect()
}

fn texts(b: &RecordBatch, col: usize) -> Vec<Option<String>> {
    let a = b.column(col).as_string::<i32>();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect()
}

#[test]
fn date_times_are_text_as_in_polars_and_typed_with_try_parse_dates() {
    let csv = "a,b,c\n2024-01-02T03:04:05,2024-01-02T03:04:05Z,2024-01-02 03:04:05.123+02:00\n";
    let b = load("csv", "x.csv", csv, "");
    assert_eq!(types(&b), vec![DataType::Utf8; 3]);
    assert_eq!(texts(&b[0], 0), vec![Some("2024-01-02T03:04:05".into())]);
    assert_eq!(texts(&b[0], 1), vec![Some("2024-01-02T03:04:05Z".into())]);

    let b = load("csv", "x.csv", csv, "    try_parse_dates: true\n");
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    assert_eq!(
        types(&b),
        vec![
            DataType::Timestamp(TimeUnit::Microsecond, None),
            utc.clone(),
            utc
        ]
    );
    let micros = |c: usize| {
        b[0].column(c)
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
            .value(0)
    };
    assert_eq!(micros(0), 1_704_164_645_000_000);
    assert_eq!(micros(1), 1_704_164_645_000_000);
    assert_eq!(micros(2), 1_704_157_445_123_000); // 01:04:05.123 UTC
}

#[test]
fn duplicate_headers_get_polars_names() {
    let b = load("csv", "x.csv", "a,a,b,a\n1,2,3,4\n", "");
    assert_eq!(names(&b), ["a", "a_duplicated_0", "b", "a_duplicated_1"]);
}

#[test]
fn a_quoted_empty_field_is_the_empty_string_an_unquoted_one_null() {
    let b = load("csv", "x.csv", "a,b\n\"\",1\n,2\n\"x\",3\n", "");
    assert_eq!(types(&b), vec![DataType::Utf8, DataType::Int64]);
    assert_eq!(
        texts(&b[0], 0),
        vec![Some(String::new()), None, Some("x".into())]
    );
}

#[test]
fn dates_are_text_as_in_polars_and_dates_with_try_parse_dates() {
    let csv = "d\n2024-01-02\n1970-01-01\n";
    let b = load("csv", "x.csv", csv, "");
    assert_eq!(types(&b), vec![DataType::Utf8]);
    assert_eq!(texts(&b[0], 0)[0].as_deref(), Some("2024-01-02"));
    let b = load("csv", "x.csv", csv, "    try_parse_dates: true\n");
    assert_eq!(types(&b), vec![DataType::Date32]);
    let d = b[0]
        .column(0)
        .as_primitive::<arrow::datatypes::Date32Type>();
    assert_eq!((d.value(0), d.value(1)), (19724, 0));
}

#[test]
fn integers_beyond_i64_are_exact_decimals() {
    // Polars: Int128 (whose Parquet other readers refuse); here Decimal128(38, 0), exact.
    let big = "170141183460469231731687303715884105";
    let csv = format!("a,b\n1,{big}\n-99999999999999999999,2\n");
    let b = load("csv", "x.csv", &csv, "");
    assert_eq!(
        types(&b),
        vec![DataType::Decimal128(38, 0), DataType::Decimal128(38, 0)]
    );
    let a = b[0].column(0).as_primitive::<Decimal128Type>();
    assert_eq!((a.value(0), a.value(1)), (1, -99_999_999_999_999_999_999));
    let c = b[0].column(1).as_primitive::<Decimal128Type>();
    assert_eq!(c.value(0), big.parse::<i128>().unwrap());
    // 39 digits and more do not fit: text (Polars fails on them).
    let b = load("csv", "x.csv", &format!("a\n{}\n", "9".repeat(39)), "");
    assert_eq!(types(&b), vec![DataType::Utf8]);

    let nd = format!("{{\"id\":1,\"v\":{big}}}\n{{\"id\":2,\"v\":3}}\n");
    let b = load("ndjson", "x.ndjson", &nd, "");
    assert_eq!(
        types(&b),
        vec![DataType::Int64, DataType::Decimal128(38, 0)]
    );
    let v = b[0].column(1).as_primitive::<Decimal128Type>();
    assert_eq!((v.value(0), v.value(1)), (big.parse::<i128>().unwrap(), 3));
}

#[test]
fn ndjson_columns_come_in_polars_order() {
    let nd = "{\"id\":1,\"t\":\"x\",\"n\":2}\n{\"id\":2,\"z\":true,\"n\":3}\n";
    let b = load("ndjson", "x.ndjson", nd, "");
    assert_eq!(names(&b), ["id", "t", "n", "z"]);
    // A line with more keys than the columns so far puts its order first (Polars 2.1).
    let nd = "{\"a\":1,\"b\":2}\n{\"c\":1,\"b\":2,\"d\":3}\n";
    let b = load("ndjson", "x.ndjson", nd, "");
    assert_eq!(names(&b), ["c", "b", "d", "a"]);
}

// The Parquet writer guard: no column reaches a Parquet store as a type other readers would
// read without its meaning.

fn parquet_project(batch: RecordBatch) -> Project {
    let p = Project::new("name: t\n");
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore: out\nentities: [t]\n",
    );
    write_parquet(&p.join("data/t/x.parquet"), &[batch]);
    p
}

#[test]
fn timestamps_in_seconds_are_stored_as_millisecond_timestamps() {
    use arrow::array::TimestampSecondArray;
    use parquet::basic::{LogicalType, TimeUnit as PqUnit};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let ts = TimestampSecondArray::from(vec![Some(1_704_164_645), None]).with_timezone("+02:00");
    let batch = RecordBatch::try_from_iter(vec![(
        "t",
        std::sync::Arc::new(ts) as arrow::array::ArrayRef,
    )])
    .unwrap();
    let p = parquet_project(batch);
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let files = parquet_files(&p.join("out/t"));
    let reader = SerializedFileReader::new(std::fs::File::open(&files[0]).unwrap()).unwrap();
    let column = reader.metadata().file_metadata().schema_descr().column(0);
    assert_eq!(
        column.logical_type_ref(),
        Some(&LogicalType::timestamp(true, PqUnit::MILLIS))
    );
    let b = read_parquet_dir(&p.join("out/t"));
    assert_eq!(
        types(&b),
        vec![DataType::Timestamp(
            TimeUnit::Millisecond,
            Some("+02:00".into())
        )]
    );
    let t = b[0]
        .column(0)
        .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
    assert_eq!(t.value(0), 1_704_164_645_000);
    assert!(t.is_null(1));
}

#[test]
fn intervals_and_repeated_names_are_refused_naming_the_column() {
    use arrow::array::{ArrayRef, Int64Array, IntervalYearMonthArray};
    let i: ArrayRef = std::sync::Arc::new(IntervalYearMonthArray::from(vec![5]));
    let p = parquet_project(RecordBatch::try_from_iter(vec![("every", i)]).unwrap());
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(1));
    let err = format!("{}{}", stdout(&out), stderr(&out));
    assert!(err.contains("column `every`"), "{err}");
    assert!(!p.join("out/t").exists() || parquet_files(&p.join("out/t")).is_empty());

    let a: ArrayRef = std::sync::Arc::new(Int64Array::from(vec![1]));
    let p = parquet_project(RecordBatch::try_from_iter(vec![("a", a.clone()), ("a", a)]).unwrap());
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(1));
    let err = format!("{}{}", stdout(&out), stderr(&out));
    assert!(err.contains("two columns are named `a`"), "{err}");
}

// The writers: what a CSV or NDJSON store writes reads back, in Polars, as the rows written.

fn written(format: &str) -> String {
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    let s: ArrayRef =
        std::sync::Arc::new(StringArray::from(vec![Some(""), None, Some("a,\"b\"\nc")]));
    let n: ArrayRef = std::sync::Arc::new(Int64Array::from(vec![None, None, Some(3)]));
    let p = parquet_project(RecordBatch::try_from_iter(vec![("s", s), ("n", n)]).unwrap());
    p.write(
        "flows/f/flow.yml",
        &format!(
            "home: data\nstore:\n  type: local\n  path: out\n  format: {format}\nentities: [t]\n"
        ),
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = p.join("out/t");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|e| e == format))
        .unwrap();
    std::fs::read_to_string(file).unwrap()
}

#[test]
fn the_csv_store_writes_the_empty_string_quoted_and_null_empty_as_polars() {
    // Byte for byte what Polars 2.1's write_csv writes for these rows.
    assert_eq!(written("csv"), "s,n\n\"\",\n,\n\"a,\"\"b\"\"\nc\",3\n");
}

#[test]
fn the_ndjson_store_writes_nulls_as_polars() {
    // Byte for byte what Polars 2.1's write_ndjson writes for these rows.
    assert_eq!(
        written("ndjson"),
        "{\"s\":\"\",\"n\":null}\n{\"s\":null,\"n\":null}\n{\"s\":\"a,\\\"b\\\"\\nc\",\"n\":3}\n"
    );
}

#[test]
fn a_csv_store_file_of_no_rows_keeps_its_header() {
    let p = Project::new("name: t\n");
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: local\n  path: in\n  format: csv\nstore:\n  type: local\n  path: out\n  format: csv\nentities: [t]\n",
    );
    p.write("in/t/x.csv", "id,name\n");
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = std::fs::read_dir(p.join("out/t"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|e| e == "csv"))
        .expect("a file of no rows");
    assert_eq!(std::fs::read_to_string(file).unwrap(), "id,name\n");
}

#[test]
fn mixed_ndjson_values_are_text_and_null_columns_stay_null_in_csv() {
    // `"a"` then `1`: Polars reads the text "1"; a key that is always null is a Null column,
    // written to CSV as empty (NULL), never as `""`.
    let p = Project::new("name: t\n");
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: local\n  path: in\n  format: ndjson\nstore:\n  type: local\n  path: out\n  format: csv\nentities: [t]\n",
    );
    p.write(
        "in/t/x.ndjson",
        "{\"v\":\"a\",\"n\":null}\n{\"v\":1,\"n\":null}\n{\"v\":true}\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = std::fs::read_dir(p.join("out/t"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|e| e == "csv"))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(file).unwrap(),
        "v,n\na,\n1,\ntrue,\n"
    );
}

#[test]
fn the_csv_store_writes_date_times_as_polars_write_csv() {
    use arrow::array::{ArrayRef, TimestampMicrosecondArray, TimestampMillisecondArray};
    let zoned: ArrayRef = std::sync::Arc::new(
        TimestampMicrosecondArray::from(vec![1_000_000]).with_timezone("Europe/Copenhagen"),
    );
    let naive: ArrayRef = std::sync::Arc::new(TimestampMillisecondArray::from(vec![1_500]));
    let p = parquet_project(RecordBatch::try_from_iter(vec![("z", zoned), ("n", naive)]).unwrap());
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: local\n  path: out\n  format: csv\nentities: [t]\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = std::fs::read_dir(p.join("out/t"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|e| e == "csv"))
        .unwrap();
    // Byte for byte Polars 2.1's write_csv (local time in the column's zone, its offset).
    assert_eq!(
        std::fs::read_to_string(file).unwrap(),
        "z,n\n1970-01-01T01:00:01.000000+0100,1970-01-01T00:00:01.500\n"
    );
}

#[test]
fn the_ndjson_store_writes_date_times_as_polars_write_ndjson() {
    use arrow::array::{ArrayRef, TimestampMicrosecondArray, TimestampMillisecondArray};
    let zoned: ArrayRef = std::sync::Arc::new(
        TimestampMicrosecondArray::from(vec![1_000_000, 1_123_456])
            .with_timezone("Europe/Copenhagen"),
    );
    let naive: ArrayRef = std::sync::Arc::new(TimestampMillisecondArray::from(vec![1_000, 1_123]));
    let p = parquet_project(RecordBatch::try_from_iter(vec![("a", zoned), ("d", naive)]).unwrap());
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: local\n  path: out\n  format: ndjson\nentities: [t]\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = std::fs::read_dir(p.join("out/t"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|e| e == "ndjson"))
        .unwrap();
    // Byte for byte Polars 2.1's write_ndjson.
    assert_eq!(
        std::fs::read_to_string(file).unwrap(),
        "{\"a\":\"1970-01-01T01:00:01+01:00\",\"d\":\"1970-01-01 00:00:01\"}\n\
         {\"a\":\"1970-01-01T01:00:01.123456+01:00\",\"d\":\"1970-01-01 00:00:01.123\"}\n"
    );
}

#[test]
fn the_csv_store_writes_floats_as_polars_write_csv() {
    let p = Project::new("name: t\n");
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: local\n  path: in\n  format: csv\nstore:\n  type: local\n  path: out\n  format: csv\nentities: [t]\n",
    );
    let floats = "f\n1.0\n1e+20\n1.5e-7\ninf\nNaN\n-0.0\n1e+16\n123456789012345.6\n";
    p.write("in/t/x.csv", floats);
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let file = std::fs::read_dir(p.join("out/t"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|e| e == "csv"))
        .unwrap();
    // Byte for byte Polars 2.1's write_csv of these floats.
    assert_eq!(std::fs::read_to_string(file).unwrap(), floats);
}
