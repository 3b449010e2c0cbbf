//! `polish` end to end: the real binary on projects in temp dirs, the files it writes read
//! back value by value. Expected hashes were computed the original hygge's way (Polars
//! 2.1 `concat_str` of the columns cast to text with `|`, then `hashlib`). The `adls` test
//! runs on the Azurite emulator scripts/test.sh starts (it fails, never skips, without it).
//!
//! Ports the original's `tests/unit/hygge/core/test_polish.py` cases through a project:
//! `test_polisher_column_normalization_pascal_and_remove_special`,
//! `test_polisher_order_hash_ids_before_normalization`,
//! `test_polisher_hash_id_matches_normalized_columns`,
//! `test_polisher_column_name_collision_deduplication`,
//! `test_polisher_constants_and_timestamps`.

mod common;

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Int32Type, TimeUnit, TimestampMicrosecondType};

use common::*;

fn source() -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        (
            "Employee Number",
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
        ),
        (
            "Effective-Date (UTC)",
            Arc::new(StringArray::from(vec![
                Some("2024-01-01"),
                Some("2024-01-02"),
                None,
                Some("2024-01-04"),
            ])),
        ),
        (
            "first name",
            Arc::new(StringArray::from(vec!["Ann", "Bo", "Cy", "Di"])),
        ),
        (
            "Salary ($)",
            Arc::new(Float64Array::from(vec![1000.5, 2000.0, 0.1, 1e16])),
        ),
    ])
    .unwrap()
}

const POLISH: &str = "  polish:
    hash_ids:
      - name: Employee Key
        from_columns: [Employee Number, Effective-Date (UTC)]
      - name: pay_hash
        from_columns: [EmployeeNumber, Salary ($)]
        algo: md5
    columns:
      remove_special: true
      remove_spaces: true
      case: pascal
    constants:
      - {name: Source, value: hr}
    add_row_marker: {enabled: true}
    timestamps:
      - name: __LastLoadedAt__
";

fn texts(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    b.column_by_name(col)
        .unwrap_or_else(|| panic!("no column {col}"))
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

fn one(batches: Vec<RecordBatch>) -> RecordBatch {
    assert!(!batches.is_empty());
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

#[test]
fn a_parquet_store_writes_the_polished_rows() {
    let p = parquet_project(&["people"], POLISH);
    write_parquet(&p.join("data/people/part-0.parquet"), &[source()]);
    let before = chrono::Utc::now().timestamp_micros();
    let (out, report) = p.go_json(&[]);
    let after = chrono::Utc::now().timestamp_micros();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["report"]["flows"][0]["rows_written"], 4);

    let got = one(read_parquet_dir(&p.join("out/people")));
    let schema = got.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    // Hash ids first (the last rule's leads), every name rewritten, then the constants
    // (the row marker last of them), then the load time.
    assert_eq!(
        names,
        [
            "PayHash",
            "EmployeeKey",
            "EmployeeNumber",
            "EffectiveDateUtc",
            "Firstname",
            "Salary$",
            "Source",
            "__rowMarker__",
            "__LastLoadedAt__"
        ]
    );
    let s = |v: &[Option<&str>]| -> Vec<Option<String>> {
        v.iter().map(|x| x.map(str::to_string)).collect()
    };
    assert_eq!(
        texts(&got, "EmployeeKey"),
        s(&[
            Some("faaad643d363367ad24339da389635e698b7f5760d38727701a586cb90d50f6e"),
            Some("c450c0fd9f02a91e6ff5cbc6e8f0c72a796e7629ce864c923e140667ab2df787"),
            None, // a null date: a null hash
            Some("66213d0e3ddde07f4a6291c7b1bdaa659932151bab709f47682e0d8c7ea97a9c"),
        ])
    );
    // `EmployeeNumber` is found as `Employee Number` (the same name in PascalCase); the
    // float as Polars writes it (`1e+16`).
    assert_eq!(
        texts(&got, "PayHash"),
        s(&[
            Some("2d389b4e7eecde8010ab2b5c4fe5bb82"),
            Some("0b0adaa93d52b0273d090faef018e687"),
            Some("33e4a97b6abe81c6d285967a2ab05cda"),
            Some("1abf14f78294924f3a9244ec9ef60c89"),
        ])
    );
    // The source's columns, value by value, under their new names.
    let src = source();
    for (old, new) in [
        ("Employee Number", "EmployeeNumber"),
        ("Effective-Date (UTC)", "EffectiveDateUtc"),
        ("first name", "Firstname"),
        ("Salary ($)", "Salary$"),
    ] {
        assert_eq!(
            src.column_by_name(old).unwrap().to_data(),
            got.column_by_name(new).unwrap().to_data(),
            "{old} -> {new}"
        );
    }
    assert_eq!(texts(&got, "Source"), s(&[Some("hr"); 4]));
    let marker = got.column_by_name("__rowMarker__").unwrap();
    assert_eq!(marker.data_type(), &DataType::Int32);
    assert_eq!(marker.as_primitive::<Int32Type>().values(), &[4, 4, 4, 4]);
    let at = got.column_by_name("__LastLoadedAt__").unwrap();
    assert_eq!(
        at.data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    let at = at.as_primitive::<TimestampMicrosecondType>();
    let t = at.value(0);
    assert!(before <= t && t <= after, "{before} <= {t} <= {after}");
    assert!(at.values().iter().all(|&v| v == t));
}

#[test]
fn polish_turns_the_row_group_copy_off_and_a_second_run_appends_the_same_columns() {
    // A Parquet source would be copied row group by row group; with polish it is decoded,
    // polished and encoded, in every file of the entity.
    let p = parquet_project(&["people"], &format!("  batch_size: 2\n{POLISH}"));
    write_parquet(&p.join("data/people/part-0.parquet"), &[source()]);
    let (out, _) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let files = parquet_files(&p.join("out/people"));
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let b = one(read_parquet_dir(f.parent().unwrap()));
        assert_eq!(b.schema().field(0).name(), "PayHash");
    }
    let (out, _) = p.go_json(&["--incremental"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = read_parquet_dir(&p.join("out/people"));
    let rows: usize = all.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 8);
    assert!(
        all.iter()
            .all(|b| b.schema().fields().len() == 9 && b.schema().field(1).name() == "EmployeeKey")
    );
}

#[test]
fn a_failing_transform_fails_the_entity_with_its_name_and_keeps_the_old_destination() {
    let polish = "  polish:
    hash_ids:
      - name: h
        from_columns: [id, payload]
";
    let p = parquet_project(&["bad", "good"], polish);
    let b = |payload: Vec<&[u8]>| {
        let n = payload.len() as i64;
        RecordBatch::try_from_iter(vec![
            (
                "id",
                Arc::new(Int64Array::from((0..n).collect::<Vec<_>>())) as ArrayRef,
            ),
            ("payload", Arc::new(BinaryArray::from(payload))),
        ])
        .unwrap()
    };
    write_parquet(&p.join("data/bad/x.parquet"), &[b(vec![b"ok", b"fine"])]);
    write_parquet(&p.join("data/good/x.parquet"), &[b(vec![b"a"])]);
    let (out, _) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = listing(&p.join("out/bad"));
    let old = one(read_parquet_dir(&p.join("out/bad")));
    assert_eq!(old.schema().field(0).name(), "h");

    // Bytes that are not UTF-8 text: the original could not cast them to text for the
    // hash, logged it at DEBUG and wrote the rows unpolished. hygge fails the entity.
    write_parquet(
        &p.join("data/bad/x.parquet"),
        &[b(vec![b"ok", b"\xff\xfe", b"more"])],
    );
    write_parquet(&p.join("data/good/x.parquet"), &[b(vec![b"a", b"b"])]);
    let (out, report) = p.go_json(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let flows = report["report"]["flows"].as_array().unwrap();
    let bad = flows.iter().find(|f| f["entity"] == "bad").unwrap();
    let good = flows.iter().find(|f| f["entity"] == "good").unwrap();
    assert_eq!(bad["status"], "failed");
    let err = bad["error"].as_str().unwrap();
    assert!(
        err.contains("polish hash_ids `h`, column `payload`") && err.contains("not UTF-8"),
        "{err}"
    );
    assert_eq!(good["status"], "success");
    assert_eq!(one(read_parquet_dir(&p.join("out/good"))).num_rows(), 2);
    assert_eq!(
        listing(&p.join("out/bad")),
        before,
        "old destination untouched"
    );
    assert_eq!(one(read_parquet_dir(&p.join("out/bad"))), old);
}

#[test]
fn polish_keys_are_checked_with_their_file_and_line() {
    let p = parquet_project(
        &["people"],
        "  polish:\n    columns:\n      case: kebab\n    hash_ids:\n      - {name: h, from_columns: [a]}\n",
    );
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("flow.yml:7"), "{err}");
    assert!(err.contains("polish.columns.case"), "{err}");
    assert!(err.contains("pascal"), "{err}");

    let p = parquet_project(&["people"], "  polish:\n    colums: {case: snake}\n");
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("unknown key `colums`; did you mean `columns`?"),
        "{err}"
    );
    assert!(err.contains("flow.yml:"), "{err}");

    let p = parquet_project(
        &["people"],
        "  copy_row_groups: true\n  polish:\n    columns: {case: snake}\n",
    );
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("copy_row_groups"), "{}", stderr(&out));
}

#[test]
fn an_entity_can_set_its_own_polish() {
    let p = Project::new("name: t\n");
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: parquet\n  path: out\n  polish:\n    columns: {case: snake}\n",
    );
    p.write(
        "flows/f/entities/people.yml",
        "name: people\nstore:\n  polish:\n    columns: {case: camel, remove_special: true}\n",
    );
    p.write("flows/f/entities/other.yml", "name: other\n");
    write_parquet(&p.join("data/people/x.parquet"), &[source()]);
    write_parquet(&p.join("data/other/x.parquet"), &[source()]);
    let (out, _) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let names = |e: &str| -> Vec<String> {
        one(read_parquet_dir(&p.join(&format!("out/{e}"))))
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    };
    assert_eq!(
        names("people"),
        ["employeeNumber", "effectiveDateUtc", "firstName", "salary$"]
    );
    assert_eq!(
        names("other"),
        [
            "employee_number",
            "effective_date_(utc)",
            "first_name",
            "salary_($)"
        ]
    );
}

#[test]
fn an_empty_source_gets_the_polished_columns_too() {
    let p = parquet_project(&["people"], POLISH);
    write_parquet(&p.join("data/people/x.parquet"), &[source().slice(0, 0)]);
    let (out, _) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let files = parquet_files(&p.join("out/people"));
    assert_eq!(files.len(), 1);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&files[0]).unwrap(),
    )
    .unwrap();
    let schema = reader.schema().clone();
    assert_eq!(schema.fields().len(), 9);
    assert_eq!(schema.field(0).name(), "PayHash");
}

/// An original-style `adls` project (on Azurite) with polish: the objects hold the polished
/// rows, as the parquet store's files do.
#[cfg(feature = "azure")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adls_store_writes_the_polished_rows() {
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    use object_store::path::Path as Key;

    let url = hygge_testkit::cloud::azurite_url();
    let container = hygge_testkit::cloud::unique_name("p");
    hygge_testkit::cloud::create_container(&url, &container).await;
    let p = Project::new("name: t\njournal:\n  path: .hygge_journal\n");
    p.write(
        "flows/f/flow.yml",
        &format!(
            "home: data\nstore:\n  type: adls\n  account_url: {url}\n  filesystem: {container}\n  path: raw/{{entity}}/\n{POLISH}entities: [people]\n"
        ),
    );
    write_parquet(&p.join("data/people/part-0.parquet"), &[source()]);
    let (out, _) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let client = azurite_client(&url, &container);
    let metas: Vec<_> = client
        .list(Some(&Key::from("raw/people")))
        .try_collect()
        .await
        .unwrap();
    let mut batches = vec![];
    for m in metas {
        if m.location.filename().is_none_or(|n| n.starts_with('_'))
            || m.location.as_ref().contains("/_")
        {
            continue;
        }
        let bytes = client
            .get(&m.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        batches.extend(
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap()),
        );
    }
    let got = one(batches);
    assert_eq!(got.num_rows(), 4);
    assert_eq!(got.schema().field(0).name(), "PayHash");
    assert_eq!(
        texts(&got, "EmployeeKey")[0].as_deref(),
        Some("faaad643d363367ad24339da389635e698b7f5760d38727701a586cb90d50f6e")
    );
    assert_eq!(got.schema().fields().len(), 9);
}
