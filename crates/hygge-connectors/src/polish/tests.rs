//! The transforms, each against what the original hygge computes. Expected hashes were
//! computed the original's way (Polars 2.1: `concat_str` of the columns cast to `Utf8`
//! with `|`, `hashlib` per value); see `polish_hash_ids_match_the_original`.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int8Array, Int32Array, Int64Array, StringArray,
    Time64MicrosecondArray, TimestampMicrosecondArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::*;
use crate::tree::{Node, from_node};

fn config(json: serde_json::Value) -> Result<PolishConfig, String> {
    let node = Node::from_json(&json, &crate::tree::Loc::default());
    from_node::<PolishConfig>(&node).map_err(|e| e.to_string())
}

fn polish(json: serde_json::Value) -> Polish {
    Polish::new(config(json).expect("valid polish"))
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter(cols).unwrap()
}

fn names(b: &RecordBatch) -> Vec<String> {
    b.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn strings(a: &ArrayRef) -> Vec<Option<String>> {
    a.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

fn run(p: &Polish, b: &RecordBatch) -> RecordBatch {
    let plan = p.plan(&b.schema()).unwrap();
    let out = plan.apply(b).unwrap();
    assert_eq!(out.schema(), *plan.schema());
    out
}

fn days(y: i32, m: u32, d: u32) -> i32 {
    (chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
        - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
    .num_days() as i32
}

fn micros(s: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

/// Every type the original could hash, one row with a null, values at the edges of how
/// Polars writes them as text.
fn typed_batch() -> RecordBatch {
    let ts = TimestampMicrosecondArray::from(vec![
        micros("2024-01-02 03:04:05.123456"),
        micros("1969-12-31 23:59:59.999999"),
        micros("2000-01-01 00:00:00"),
        micros("2024-06-01 12:00:00.000001"),
    ]);
    let tsz = TimestampMillisecondArray::from(vec![
        micros("2024-01-02 03:04:05.12") / 1000,
        micros("2024-07-01 00:00:00") / 1000,
        micros("2000-01-01 00:00:00") / 1000,
        micros("2024-06-01 12:00:00") / 1000,
    ])
    .with_timezone("UTC");
    let paris = TimestampMicrosecondArray::from(vec![
        micros("2024-01-02 03:04:05"),
        micros("2024-07-01 00:00:00"),
        micros("2000-01-01 00:00:00"),
        micros("2024-06-01 12:00:00"),
    ])
    .with_timezone("Europe/Paris");
    let dec = Decimal128Array::from(vec![150, -1, 12300, 0])
        .with_precision_and_scale(10, 2)
        .unwrap();
    let t = Time64MicrosecondArray::from(vec![3_723_000_456, 0, 86_399_999_999, 43_200_000_000]);
    batch(vec![
        (
            "id",
            Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(4)])),
        ),
        (
            "name",
            Arc::new(StringArray::from(vec!["a", "Zoë", "c", ""])),
        ),
        (
            "amount",
            Arc::new(Float64Array::from(vec![1.0, 0.1, 1e16, 2.5e-7])),
        ),
        (
            "flag",
            Arc::new(BooleanArray::from(vec![true, false, true, false])),
        ),
        (
            "day",
            Arc::new(Date32Array::from(vec![
                days(2024, 1, 2),
                days(1969, 12, 31),
                days(2000, 2, 29),
                days(9999, 12, 31),
            ])),
        ),
        ("ts", Arc::new(ts)),
        ("tsz", Arc::new(tsz)),
        ("paris", Arc::new(paris)),
        ("dec", Arc::new(dec)),
        (
            "f32",
            Arc::new(Float32Array::from(vec![0.1, 1e15, 1e-6, 3.25])),
        ),
        ("small", Arc::new(Int8Array::from(vec![-1, 0, 127, 5]))),
        ("t", Arc::new(t)),
    ])
}

#[test]
fn polish_values_as_polars_writes_them_as_text() {
    let b = typed_batch();
    let text = |col: &str| -> Vec<Option<String>> {
        let t = values::Text::new(b.column_by_name(col).unwrap()).unwrap();
        (0..b.num_rows())
            .map(|i| {
                (!t.is_null(i)).then(|| {
                    let mut s = String::new();
                    t.push(i, &mut s).unwrap();
                    s
                })
            })
            .collect()
    };
    let some =
        |v: &[&str]| -> Vec<Option<String>> { v.iter().map(|s| Some(s.to_string())).collect() };
    assert_eq!(
        text("id"),
        vec![Some("1".into()), Some("2".into()), None, Some("4".into())]
    );
    assert_eq!(text("amount"), some(&["1.0", "0.1", "1e+16", "2.5e-7"]));
    assert_eq!(text("flag"), some(&["true", "false", "true", "false"]));
    assert_eq!(
        text("day"),
        some(&["2024-01-02", "1969-12-31", "2000-02-29", "9999-12-31"])
    );
    assert_eq!(
        text("ts"),
        some(&[
            "2024-01-02 03:04:05.123456",
            "1969-12-31 23:59:59.999999",
            "2000-01-01 00:00:00.000000",
            "2024-06-01 12:00:00.000001"
        ])
    );
    assert_eq!(
        text("tsz"),
        some(&[
            "2024-01-02 03:04:05.120+00:00",
            "2024-07-01 00:00:00.000+00:00",
            "2000-01-01 00:00:00.000+00:00",
            "2024-06-01 12:00:00.000+00:00"
        ])
    );
    assert_eq!(
        text("paris"),
        some(&[
            "2024-01-02 04:04:05.000000+01:00",
            "2024-07-01 02:00:00.000000+02:00",
            "2000-01-01 01:00:00.000000+01:00",
            "2024-06-01 14:00:00.000000+02:00"
        ])
    );
    assert_eq!(text("dec"), some(&["1.50", "-0.01", "123.00", "0.00"]));
    assert_eq!(text("f32"), some(&["0.1", "1e+15", "0.000001", "3.25"]));
    assert_eq!(text("small"), some(&["-1", "0", "127", "5"]));
    assert_eq!(
        text("t"),
        some(&["01:02:03", "00:00:00", "23:59:59", "12:00:00"])
    );

    // Floats at the edges of plain and exponent forms (Polars 2.1's text of each).
    let floats = [
        (1e15, "1000000000000000.0"),
        (9999999999999998.0, "9999999999999998.0"),
        (1e16, "1e+16"),
        (1e-5, "0.00001"),
        (9.9e-6, "9.9e-6"),
        (-0.0, "-0.0"),
        (f64::NAN, "NaN"),
        (f64::NEG_INFINITY, "-inf"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (1.0 / 3.0, "0.3333333333333333"),
    ];
    let a: ArrayRef = Arc::new(Float64Array::from(
        floats.iter().map(|f| f.0).collect::<Vec<_>>(),
    ));
    let t = values::Text::new(&a).unwrap();
    for (i, (_, want)) in floats.iter().enumerate() {
        let mut s = String::new();
        t.push(i, &mut s).unwrap();
        assert_eq!(&s, want);
    }
}

#[test]
fn polish_hash_ids_match_the_original() {
    let b = typed_batch();
    let all = [
        "id", "name", "amount", "flag", "day", "ts", "tsz", "paris", "dec", "f32", "small", "t",
    ];
    let p = polish(serde_json::json!({"hash_ids": [
        {"name": "all", "from_columns": all},
        {"name": "raw", "from_columns": ["name", "flag"], "algo": "md5", "hex": false},
        {"name": "s1", "from_columns": ["name"], "algo": "sha1"},
        {"name": "s512", "from_columns": ["name"], "algo": "SHA512"},
        {"name": "s224", "from_columns": ["name"], "algo": "sha224"},
        {"name": "s384", "from_columns": ["name"], "algo": "sha384"},
    ]}));
    let out = run(&p, &b);
    // Each new hash column goes first: the last rule's leads.
    assert_eq!(
        &names(&out)[..7],
        ["s384", "s224", "s512", "s1", "raw", "all", "id"]
    );
    assert_eq!(out.schema().field(0).data_type(), &DataType::Utf8);
    assert_eq!(out.schema().field(4).data_type(), &DataType::Binary);
    assert_eq!(
        strings(out.column_by_name("all").unwrap()),
        vec![
            Some("e15f96baaabc773a93e40d7d16478c78916c8539fdcbdf21eaf60d5714f6f906".into()),
            Some("9c6f42eb7f9ff9238d6289485e3ef680d90901e677e4e6703a138a17e413f47f".into()),
            None, // a null among the columns: a null hash
            Some("2826b03b4d5b51e84b87290c019d1d481620e7ccc86bca55a2f518113072107b".into()),
        ]
    );
    let raw = out.column_by_name("raw").unwrap().as_binary::<i32>();
    let hex: Vec<String> = raw
        .iter()
        .map(|v| {
            let mut s = String::new();
            values::hex_into(v.unwrap(), &mut s);
            s
        })
        .collect();
    assert_eq!(
        hex,
        [
            "b720a4a14af58a1ed515e757c41beada",
            "9c170edd3c91dcc0ea5417e36fe9b698",
            "1e0532eaacd750872a52f5d28a13940d",
            "e907c550a64115073d87484b7b5b9d90"
        ]
    );
    assert_eq!(
        strings(out.column_by_name("s1").unwrap()),
        [
            "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8",
            "4771a7b47db3a5a31ed1e4375e91e7cdc675060b",
            "84a516841ba77a5b4648de2cd0dfcb30ea46dbb4",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        ]
        .map(|s| Some(s.to_string()))
    );
    assert_eq!(
        strings(out.column_by_name("s512").unwrap())[0].as_deref(),
        Some(
            "1f40fc92da241694750979ee6cf582f2d5d7d28e18335de05abc54d0560e0f5302860c652bf08d560252aa5e74210546f369fbbbce8c12cfc7957b2652fe9a75"
        )
    );
    assert_eq!(
        strings(out.column_by_name("s224").unwrap())[0].as_deref(),
        Some("abd37534c7d9a2efb9465de931cd7055ffdb8879563ae98078d6d6d5")
    );
    assert_eq!(
        strings(out.column_by_name("s384").unwrap())[0].as_deref(),
        Some(
            "54a59b9f22b0b80880d8427e548b7c23abd873486e1f035dce9cd697e85175033caa88e6d57bc35efae0b5afd3145f31"
        )
    );
    // The columns polish does not change are the input's arrays, not copies.
    for name in all {
        let a = b.column_by_name(name).unwrap();
        let o = out.column_by_name(name).unwrap();
        assert!(Arc::ptr_eq(a, o), "{name} was copied");
    }
}

#[test]
fn polish_hash_ids_skip_existing_and_missing_columns_and_find_normalised_names() {
    let b = batch(vec![
        (
            "EmployeeNumber",
            Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
        ),
        (
            "Effective Date",
            Arc::new(StringArray::from(vec!["x", "y"])),
        ),
        (
            "UserIdHash",
            Arc::new(StringArray::from(vec!["existing", "values"])),
        ),
    ]);
    let p = polish(serde_json::json!({
        "columns": {"case": "pascal", "remove_special": true},
        "hash_ids": [
            // exists already: kept as it is
            {"name": "UserIdHash", "from_columns": ["EmployeeNumber"]},
            // a source column missing: skipped (with a warning)
            {"name": "Skipped", "from_columns": ["EmployeeNumber", "Nope"]},
            // found under their case-normalised names, then renamed itself
            {"name": "employee history id", "from_columns": ["Employee Number", "EffectiveDate"]},
        ]
    }));
    let out = run(&p, &b);
    assert_eq!(
        names(&out),
        [
            "EmployeeHistoryId",
            "EmployeeNumber",
            "EffectiveDate",
            "UserIdHash"
        ]
    );
    assert_eq!(
        strings(out.column(3)),
        [Some("existing".to_string()), Some("values".to_string())]
    );
    let want = |s: &str| {
        let mut h = String::new();
        values::hex_into(&values::digest(HashAlgo::Sha256, s.as_bytes()), &mut h);
        Some(h)
    };
    assert_eq!(strings(out.column(0)), [want("1|x"), want("2|y")]);

    // Without a case: the same name once spaces, `_` and `-` are gone.
    let p = polish(serde_json::json!({"hash_ids": [
        {"name": "h", "from_columns": ["Employee_Number", "EffectiveDate"]},
    ]}));
    let out = run(&p, &b);
    assert_eq!(strings(out.column(0)), [want("1|x"), want("2|y")]);
    // ... but not in another case.
    let p = polish(serde_json::json!({"hash_ids": [
        {"name": "h", "from_columns": ["employee number"]},
    ]}));
    assert_eq!(names(&run(&p, &b)), names(&b));
}

#[test]
fn polish_a_later_hash_can_hash_an_earlier_one() {
    let b = batch(vec![(
        "a",
        Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
    )]);
    let p = polish(serde_json::json!({"hash_ids": [
        {"name": "h1", "from_columns": ["a"]},
        {"name": "h2", "from_columns": ["h1", "a"], "algo": "md5"},
    ]}));
    let out = run(&p, &b);
    assert_eq!(names(&out), ["h2", "h1", "a"]);
    let h1 = strings(out.column(1))[0].clone().unwrap();
    let mut want = String::new();
    values::hex_into(
        &values::digest(HashAlgo::Md5, format!("{h1}|x").as_bytes()),
        &mut want,
    );
    assert_eq!(strings(out.column(0))[0].as_deref(), Some(want.as_str()));
}

#[test]
fn polish_a_column_that_cannot_be_hashed_fails_naming_the_rule_and_column() {
    let b = batch(vec![(
        "d",
        Arc::new(arrow::array::DurationMicrosecondArray::from(vec![1])) as ArrayRef,
    )]);
    let p = polish(serde_json::json!({"hash_ids": [{"name": "h", "from_columns": ["d"]}]}));
    let e = p.plan(&b.schema()).unwrap_err();
    assert_eq!(e.transform, "hash_ids `h`");
    assert_eq!(e.column, "d");
    assert!(
        e.to_string()
            .starts_with("polish hash_ids `h`, column `d`: "),
        "{e}"
    );

    // Binary that is not UTF-8 text: the original's cast failed; here the entity fails.
    let b = batch(vec![(
        "bin",
        Arc::new(BinaryArray::from(vec![
            b"ok".as_ref(),
            b"\xff\xfe".as_ref(),
        ])) as ArrayRef,
    )]);
    let p = polish(serde_json::json!({"hash_ids": [{"name": "h", "from_columns": ["bin"]}]}));
    let plan = p.plan(&b.schema()).unwrap();
    let e = plan.apply(&b).unwrap_err();
    assert_eq!(e.column, "bin");
    assert!(e.detail.contains("not UTF-8"), "{e}");
}

#[test]
fn polish_columns_rename_every_column_keeping_arrays_and_types() {
    let b = batch(vec![
        (
            "Employee Number",
            Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef,
        ),
        (
            "Effective-Date (UTC)",
            Arc::new(StringArray::from(vec!["a", "b"])),
        ),
        ("Employee-ID", Arc::new(Int32Array::from(vec![3, 4]))),
        ("EmployeeID", Arc::new(Int32Array::from(vec![5, 6]))),
    ]);
    let p = polish(
        serde_json::json!({"columns": {"remove_special": true, "remove_spaces": true, "case": "pascal"}}),
    );
    let out = run(&p, &b);
    assert_eq!(
        names(&out),
        [
            "EmployeeNumber",
            "EffectiveDateUtc",
            "EmployeeId",
            "EmployeeId_1"
        ]
    );
    for i in 0..4 {
        assert!(Arc::ptr_eq(b.column(i), out.column(i)));
        assert_eq!(
            b.schema().field(i).data_type(),
            out.schema().field(i).data_type()
        );
    }
    let p = polish(serde_json::json!({"columns": {"case": "snake"}}));
    assert_eq!(
        names(&run(&p, &b)),
        [
            "employee_number",
            "effective_date_(utc)",
            "employee_id",
            "employee_id_1"
        ]
    );
    let p = polish(serde_json::json!({"columns": {"case": "camel", "remove_special": true}}));
    assert_eq!(
        names(&run(&p, &b)),
        [
            "employeeNumber",
            "effectiveDateUtc",
            "employeeId",
            "employeeId_1"
        ]
    );
}

#[test]
fn polish_a_collision_left_after_suffixes_fails_the_plan() {
    let b = batch(vec![
        ("a b", Arc::new(Int32Array::from(vec![1])) as ArrayRef),
        ("ab", Arc::new(Int32Array::from(vec![1]))),
        ("ab_1", Arc::new(Int32Array::from(vec![1]))),
    ]);
    let p = polish(serde_json::json!({"columns": {"remove_spaces": true}}));
    let e = p.plan(&b.schema()).unwrap_err();
    assert_eq!(e.transform, "columns");
    assert!(e.to_string().contains("would both be named `ab_1`"), "{e}");
}

#[test]
fn polish_constants_and_row_marker_typed_as_polars_types_literals() {
    let b = batch(vec![(
        "v",
        Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
    )]);
    let p = polish(serde_json::json!({
        "constants": [
            {"name": "small", "value": 7},
            {"name": "big", "value": 5_000_000_000i64},
            {"name": "f", "value": 1.5},
            {"name": "s", "value": "x"},
            {"name": "b", "value": true},
            {"name": "n", "value": null},
            {"name": "v", "value": 9},
        ],
        "add_row_marker": {"enabled": true},
    }));
    let out = run(&p, &b);
    assert_eq!(
        names(&out),
        ["v", "small", "big", "f", "s", "b", "n", "__rowMarker__"]
    );
    let types: Vec<DataType> = out
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Int64, // the existing `v` is kept
            DataType::Int32,
            DataType::Int64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Boolean,
            DataType::Null,
            DataType::Int32,
        ]
    );
    assert_eq!(
        out.column(0)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .values(),
        &[1, 2]
    );
    let marker = out.column(7).as_primitive::<arrow::datatypes::Int32Type>();
    assert_eq!(marker.values(), &[4, 4]);
    assert_eq!(
        strings(out.column(4)),
        [Some("x".to_string()), Some("x".to_string())]
    );
    assert_eq!(out.column(6).logical_null_count(), 2);

    // A `__rowMarker__` constant wins over add_row_marker; its value is the alias's own.
    let c = config(serde_json::json!({
        "constants": [{"name": "__rowMarker__", "value": 1}],
        "add_row_marker": {"enabled": true, "value": 2},
    }))
    .unwrap();
    assert_eq!(c.constants.len(), 1);
    assert_eq!(c.constants[0].value, ConstValue::Int(1));
    let c = config(serde_json::json!({"add_row_marker": {"enabled": true, "value": "2"}})).unwrap();
    assert_eq!(c.constants[0].value, ConstValue::Int(2));
    let c = config(serde_json::json!({"add_row_marker": {"value": 2}})).unwrap();
    assert!(c.constants.is_empty(), "not enabled: no marker");
}

#[test]
fn polish_timestamps_utc_and_text() {
    let b = batch(vec![(
        "v",
        Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
    )]);
    let before = chrono::Utc::now().timestamp_micros();
    let p = polish(serde_json::json!({"timestamps": [
        {"name": "__LastLoadedAt__"},
        {"name": "local", "source": "now_local"},
        {"name": "iso", "type": "string"},
        {"name": "day", "type": "string", "format": "%Y-%m-%d %H:%M:%S.%f"},
        {"name": "v"},
    ]}));
    let plan = p.plan(&b.schema()).unwrap();
    let after = chrono::Utc::now().timestamp_micros();
    let out = plan.apply(&b).unwrap();
    assert_eq!(
        names(&out),
        ["v", "__LastLoadedAt__", "local", "iso", "day"]
    );
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    assert_eq!(out.schema().field(1).data_type(), &utc);
    assert_eq!(out.schema().field(2).data_type(), &utc);
    let t = out
        .column(1)
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    let at = t.value(0);
    assert!(before <= at && at <= after);
    assert!(t.values().iter().all(|&v| v == at), "one time for the run");
    let local = out
        .column(2)
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    assert_eq!(local.value(0), at, "now_local is the same instant");
    let when = chrono::DateTime::from_timestamp_micros(at).unwrap();
    let iso = strings(out.column(3))[0].clone().unwrap();
    let frac = if at % 1_000_000 == 0 {
        String::new()
    } else {
        format!(".{:06}", at.rem_euclid(1_000_000))
    };
    assert_eq!(
        iso,
        format!("{}{frac}+00:00", when.format("%Y-%m-%dT%H:%M:%S"))
    );
    assert_eq!(
        strings(out.column(4))[0].as_deref(),
        Some(when.format("%Y-%m-%d %H:%M:%S.%6f").to_string().as_str())
    );
    // Another batch of the run: the same time.
    let again = plan.apply(&b).unwrap();
    assert_eq!(
        again
            .column(1)
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
            .value(0),
        at
    );
    // Python's isoformat leaves out a zero fraction.
    let t = chrono::DateTime::from_timestamp(1_704_067_200, 0).unwrap();
    assert_eq!(values::format_time(&t, None), "2024-01-01T00:00:00+00:00");
}

#[test]
fn polish_order_hash_then_names_then_constants_then_timestamps() {
    let b = batch(vec![
        (
            "Employee Number",
            Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
        ),
        (
            "Effective-Date",
            Arc::new(StringArray::from(vec!["2024-01-01", "2024-01-02"])),
        ),
    ]);
    let p = polish(serde_json::json!({
        "hash_ids": [{"name": "User Hash ID", "from_columns": ["Employee Number", "Effective-Date"]}],
        "columns": {"remove_special": true, "case": "pascal", "remove_spaces": true},
        "constants": [{"name": "__rowMarker__", "value": 4}],
        "timestamps": [{"name": "__LastLoadedAt__"}],
    }));
    let out = run(&p, &b);
    assert_eq!(
        names(&out),
        [
            "UserHashId",
            "EmployeeNumber",
            "EffectiveDate",
            "__rowMarker__",
            "__LastLoadedAt__"
        ]
    );
    // Empty batches too: same schema.
    let empty = b.slice(0, 0);
    let plan = p.plan(&b.schema()).unwrap();
    let e = plan.apply(&empty).unwrap();
    assert_eq!(e.num_rows(), 0);
    assert_eq!(e.schema(), *plan.schema());
}

#[test]
fn polish_a_batch_of_another_schema_is_refused() {
    let b = batch(vec![("a", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]);
    let plan = polish(serde_json::json!({"constants": [{"name": "c", "value": 1}]}))
        .plan(&b.schema())
        .unwrap();
    let other = batch(vec![(
        "a",
        Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
    )]);
    let e = plan.apply(&other).unwrap_err();
    assert_eq!(e.column, "a");
    assert!(e.detail.contains("planned for `a` Int64"), "{e}");
}

#[test]
fn polish_keys_are_checked_where_they_are_written() {
    let e = config(serde_json::json!({"colums": {}})).unwrap_err();
    assert!(e.contains("unknown field `colums`"), "{e}");
    let e = config(serde_json::json!({"columns": {"case": "kebab"}})).unwrap_err();
    assert!(
        e.contains("at `columns.case`") && e.contains("pascal"),
        "{e}"
    );
    let e = config(
        serde_json::json!({"hash_ids": [{"name": "h", "from_columns": ["a"], "algo": "sha265"}]}),
    )
    .unwrap_err();
    assert!(
        e.contains("hash_ids[0].algo") && e.contains("sha256"),
        "{e}"
    );
    let e =
        config(serde_json::json!({"hash_ids": [{"name": "h", "from_columns": []}]})).unwrap_err();
    assert!(e.contains("from_columns: empty"), "{e}");
    let e = config(serde_json::json!({"hash_ids": [{"name": "h"}]})).unwrap_err();
    assert!(e.contains("from_columns"), "{e}");
    let e = config(serde_json::json!({"constants": [{"name": "c"}]})).unwrap_err();
    assert!(e.contains("missing field `value`"), "{e}");
    let e = config(serde_json::json!({"constants": [{"name": "c", "value": [1]}]})).unwrap_err();
    assert!(e.contains("a number, text, true/false or null"), "{e}");
    let e = config(
        serde_json::json!({"constants": [{"name": "c", "value": 1}, {"name": "c", "value": 2}]}),
    )
    .unwrap_err();
    assert!(e.contains("constants[1].name: `c` is named twice"), "{e}");
    let e =
        config(serde_json::json!({"timestamps": [{"name": "t", "source": "now"}]})).unwrap_err();
    assert!(e.contains("now_utc"), "{e}");
    let e = config(serde_json::json!({"timestamps": [{"name": "t", "type": "date"}]})).unwrap_err();
    assert!(e.contains("datetime"), "{e}");
    let e = config(
        serde_json::json!({"timestamps": [{"name": "t", "type": "string", "format": "%Q"}]}),
    )
    .unwrap_err();
    assert!(e.contains("timestamps[0].format"), "{e}");
    let e = config(serde_json::json!({"add_row_marker": {"enable": true}})).unwrap_err();
    assert!(e.contains("unknown field `enable`"), "{e}");
    // The original's defaults.
    let c = config(serde_json::json!({"hash_ids": [{"name": "h", "from_columns": ["a"]}], "timestamps": [{"name": "t"}]}))
        .unwrap();
    assert_eq!(c.hash_ids[0].algo, HashAlgo::Sha256);
    assert!(c.hash_ids[0].hex);
    assert_eq!(c.timestamps[0].source, TimeSource::NowUtc);
    assert_eq!(c.timestamps[0].kind, TimeKind::Datetime);
    assert!(config(serde_json::json!({})).unwrap().is_noop());
}

#[test]
fn polish_keeps_field_metadata_and_nullability() {
    let mut md = std::collections::HashMap::new();
    md.insert("k".to_string(), "v".to_string());
    let schema = Arc::new(Schema::new(vec![
        Field::new("A b", DataType::Int32, false).with_metadata(md.clone()),
    ]));
    let p = polish(serde_json::json!({"columns": {"case": "snake"}}));
    let plan = p.plan(&schema).unwrap();
    let f = plan.schema().field(0);
    assert_eq!(f.name(), "a_b");
    assert!(!f.is_nullable());
    assert_eq!(f.metadata(), &md);
}
