//! End to end through the `hygge` binary on real files in temp dirs.

mod common;

use std::fs;

use common::*;

fn seed(p: &Project, entity: &str, files: &[(&str, i64, usize)]) {
    for (rel, start, n) in files {
        write_parquet(
            &p.join(&format!("data/{entity}/{rel}")),
            &[batch(*start, *n)],
        );
    }
}

#[test]
fn four_entities_run_in_parallel_each_into_its_own_folder() {
    let p = parquet_project(&["a", "b", "c", "d"], "  batch_size: 1000\n");
    seed(&p, "a", &[("x.parquet", 0, 2500)]);
    seed(
        &p,
        "b",
        &[
            ("2024/01/x.parquet", 0, 100),
            ("2024/02/y.parquet", 100, 100),
        ],
    );
    seed(&p, "c", &[("deep/er/still/x.parquet", 0, 1)]);
    seed(&p, "d", &[("x.parquet", 0, 3000), ("y.parquet", 3000, 10)]);
    let (out, report) = p.go_json(&["--concurrency", "4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let totals = &report["report"]["totals"];
    assert_eq!(totals["ok"], 4);
    assert_eq!(totals["rows"], 2500 + 200 + 1 + 3010);
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/a"))),
        (0..2500).collect::<Vec<_>>()
    );
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/b"))),
        (0..200).collect::<Vec<_>>()
    );
    assert_eq!(ids(&read_parquet_dir(&p.join("out/c"))), vec![0]);
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/d"))),
        (0..3010).collect::<Vec<_>>()
    );
    assert_eq!(
        listing(&p.join("out/a")),
        vec![
            "00000000000000000001.parquet",
            "00000000000000000002.parquet",
            "00000000000000000003.parquet"
        ],
        "batch_size rows per file, the original's file names"
    );
    // The human lines are dbt-style and name every entity flow.
    let err = stderr(&out);
    for e in ["f_a", "f_b", "f_c", "f_d"] {
        assert!(err.contains(&format!("START {e}")), "{err}");
        assert!(err.contains(&format!("OK {e} (")), "{err}");
    }
    assert!(err.contains("Finished 4 entities"), "{err}");
}

#[test]
fn text_output_prints_lines_and_a_summary_on_stdout() {
    let p = parquet_project(&["a"], "");
    seed(&p, "a", &[("x.parquet", 0, 10)]);
    let out = p.run(&["go"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("[1 of 1] START f_a"), "{text}");
    assert!(text.contains("[1 of 1] OK f_a (10 rows,"), "{text}");
    assert!(
        text.contains("1 ok, 0 failed, 0 skipped · 10 rows"),
        "{text}"
    );
    assert!(text.contains("All flows completed successfully!"), "{text}");
}

#[test]
fn full_drop_twice_gives_the_rows_once_b2() {
    let p = parquet_project(&["t"], "");
    seed(&p, "t", &[("x.parquet", 0, 1000)]);
    for _ in 0..2 {
        let out = p.run(&["go"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/t"))),
        (0..1000).collect::<Vec<_>>()
    );
    assert_eq!(listing(&p.join("out/t")).len(), 1);
}

#[test]
fn incremental_appends_and_continues_the_sequence() {
    let p = parquet_project(&["t"], "  batch_size: 400\n");
    seed(&p, "t", &[("x.parquet", 0, 1000)]);
    assert!(p.run(&["go"]).status.success());
    assert_eq!(listing(&p.join("out/t")).len(), 3);
    fs::remove_file(p.join("data/t/x.parquet")).unwrap();
    seed(&p, "t", &[("y.parquet", 1000, 500)]);
    let out = p.run(&["go", "--incremental"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/t"))),
        (0..1500).collect::<Vec<_>>()
    );
    assert_eq!(
        listing(&p.join("out/t")),
        (1..=5)
            .map(|i| format!("{i:020}.parquet"))
            .collect::<Vec<_>>()
    );
    // --full-drop replaces everything again.
    let out = p.run(&["go", "--full-drop"]);
    assert!(out.status.success());
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/t"))),
        (1000..1500).collect::<Vec<_>>()
    );
}

#[test]
fn no_staging_folder_is_left_in_the_destination_b9() {
    let p = parquet_project(&["t"], "");
    seed(&p, "t", &[("x.parquet", 0, 50)]);
    assert!(p.run(&["go"]).status.success());
    assert_eq!(
        listing(&p.join("out/t")),
        vec!["00000000000000000001.parquet"]
    );
    // Beside the entity folders only the hidden .hygge folder, holding no staging data.
    assert_eq!(listing(&p.join("out")), vec![".hygge", "t"]);
    assert!(
        listing(&p.join("out/.hygge")).iter().all(|n| n == "locks"),
        "{:?}",
        listing(&p.join("out/.hygge"))
    );
}

#[test]
fn a_truncated_file_fails_its_entity_only_and_keeps_its_old_data() {
    let p = parquet_project(&["good", "bad"], "");
    seed(&p, "good", &[("x.parquet", 0, 100)]);
    seed(&p, "bad", &[("x.parquet", 0, 100), ("y.parquet", 100, 100)]);
    assert!(p.run(&["go"]).status.success());
    let before = listing(&p.join("out/bad"));
    let old_ids = ids(&read_parquet_dir(&p.join("out/bad")));

    // Cut the second file in half, and change the good entity's data.
    let y = p.join("data/bad/y.parquet");
    let bytes = fs::read(&y).unwrap();
    fs::write(&y, &bytes[..bytes.len() / 2]).unwrap();
    seed(&p, "good", &[("x.parquet", 500, 20)]);

    let (out, report) = p.go_json(&[]);
    assert_eq!(out.status.code(), Some(1), "a failed entity fails the run");
    let flows = report["report"]["flows"].as_array().unwrap();
    let bad = flows.iter().find(|f| f["entity"] == "bad").unwrap();
    let good = flows.iter().find(|f| f["entity"] == "good").unwrap();
    assert_eq!(bad["status"], "failed");
    let err = bad["error"].as_str().unwrap();
    assert!(err.contains("y.parquet"), "the error names the file: {err}");
    assert!(stderr(&out).contains("FAILED f_bad"), "{}", stderr(&out));
    assert_eq!(good["status"], "success", "the other entity completes");
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/good"))),
        (500..520).collect::<Vec<_>>()
    );
    assert_eq!(
        listing(&p.join("out/bad")),
        before,
        "old destination untouched"
    );
    assert_eq!(ids(&read_parquet_dir(&p.join("out/bad"))), old_ids);
    assert!(
        listing(&p.join("out/.hygge/staging")).is_empty(),
        "no staging leftovers"
    );
}

#[test]
fn a_missing_source_path_is_a_clear_error() {
    let p = parquet_project(&["ghost"], "");
    let (out, report) = p.go_json(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = report["report"]["flows"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("data/ghost") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!p.join("out/ghost").exists(), "nothing was created");
}

#[test]
fn files_with_different_schemas_are_named_in_the_error() {
    let p = parquet_project(&["mixed"], "");
    seed(&p, "mixed", &[("a.parquet", 0, 10)]);
    let other = arrow::record_batch::RecordBatch::try_from_iter(vec![(
        "id",
        std::sync::Arc::new(arrow::array::StringArray::from(vec!["x"])) as arrow::array::ArrayRef,
    )])
    .unwrap();
    write_parquet(&p.join("data/mixed/b.parquet"), &[other]);
    let (out, report) = p.go_json(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = report["report"]["flows"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("a.parquet") && err.contains("b.parquet"),
        "{err}"
    );
    assert!(err.contains("column `id`"), "{err}");
}

#[test]
fn csv_round_trip() {
    // parquet -> csv -> parquet gives the same rows.
    let p = Project::new("name: t\n");
    p.write(
        "flows/to_csv/flow.yml",
        "home: data\nstore:\n  type: local\n  path: csv\n  format: csv\n  batch_size: 300\nentities: [t]\n",
    );
    p.write(
        "flows/from_csv/flow.yml",
        "home:\n  type: local\n  path: csv\n  format: csv\nstore: back\nentities: [t]\n",
    );
    seed(&p, "t", &[("x.parquet", 0, 1000)]);
    let out = p.run(&["go", "--flow", "to_csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(listing(&p.join("csv/t")).len(), 4);
    let first = fs::read_to_string(p.join("csv/t/00000000000000000001.csv")).unwrap();
    assert!(first.starts_with("id,name\n0,\n1,name-1\n"), "{first}");
    let out = p.run(&["go", "--flow", "from_csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let back = read_parquet_dir(&p.join("back/t"));
    assert_eq!(ids(&back), (0..1000).collect::<Vec<_>>());
    let names: Vec<Option<String>> = back
        .iter()
        .flat_map(|b| {
            let a = b
                .column(1)
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap();
            (0..arrow::array::Array::len(a))
                .map(|i| (!arrow::array::Array::is_null(a, i)).then(|| a.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(names[0], None);
    assert_eq!(names[7].as_deref(), Some("name-7"));
}

#[test]
fn ndjson_round_trip() {
    let p = Project::new("name: t\n");
    p.write(
        "flows/out/flow.yml",
        "home: data\nstore:\n  type: local\n  path: json\n  format: ndjson\nentities: [t]\n",
    );
    p.write(
        "flows/back/flow.yml",
        "home:\n  type: local\n  path: json\n  format: ndjson\n  batch_size: 77\nstore: back\nentities: [t]\n",
    );
    seed(&p, "t", &[("x.parquet", 0, 500)]);
    assert!(p.run(&["go", "--flow", "out"]).status.success());
    let text = fs::read_to_string(p.join("json/t/00000000000000000001.ndjson")).unwrap();
    assert_eq!(text.lines().count(), 500);
    assert!(
        text.lines().nth(1).unwrap().contains("\"name\":\"name-1\""),
        "{text}"
    );
    let out = p.run(&["go", "--flow", "back"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("back/t"))),
        (0..500).collect::<Vec<_>>()
    );
}

#[test]
fn csv_options_are_honoured() {
    let p = Project::new("name: t\n");
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: local\n  path: in\n  format: csv\n  format_options:\n    separator: \";\"\n    null_values: [\"NA\"]\nstore: out\nentities: [t]\n",
    );
    p.write("in/t/a.csv", "id;name\n1;x\n2;NA\n");
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let b = read_parquet_dir(&p.join("out/t"));
    assert_eq!(ids(&b), vec![1, 2]);
    assert!(arrow::array::Array::is_null(b[0].column(1).as_ref(), 1));
}

#[test]
fn a_csv_store_refuses_nested_columns_by_name() {
    let p = Project::new("name: t\n");
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: local\n  path: out\n  format: csv\nentities: [t]\n",
    );
    let list =
        arrow::array::ListArray::from_iter_primitive::<arrow::datatypes::Int32Type, _, _>(vec![
            Some(vec![Some(1)]),
        ]);
    let b = arrow::record_batch::RecordBatch::try_from_iter(vec![(
        "tags",
        std::sync::Arc::new(list) as arrow::array::ArrayRef,
    )])
    .unwrap();
    write_parquet(&p.join("data/t/x.parquet"), &[b]);
    let (out, report) = p.go_json(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = report["report"]["flows"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("column `tags`") && err.contains("CSV cannot carry"),
        "{err}"
    );
}

#[test]
fn the_quickstart_example_runs() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&src, tmp.path());
    let _ = fs::remove_dir_all(tmp.path().join("lake"));
    // Run from a subfolder: hygge.yml is found by walking up.
    let out = hygge()
        .args(["go"])
        .current_dir(tmp.path().join("flows"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("8 ok, 0 failed"), "{}", stdout(&out));
    assert_eq!(
        ids_named(
            &read_parquet_dir(&tmp.path().join("lake/shop/orders")),
            "order_id"
        )
        .len(),
        5000
    );
    assert_eq!(
        listing(&tmp.path().join("lake/events/clicks")),
        vec!["00000000000000000001.csv"]
    );
    #[cfg(feature = "duckdb")]
    {
        let c = duckdb::Connection::open(tmp.path().join("lake/shop.duckdb")).unwrap();
        let n: i64 = c
            .query_row("SELECT count(DISTINCT order_id) FROM orders", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 5000);
    }
}

fn ids_named(batches: &[arrow::record_batch::RecordBatch], col: &str) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name(col)
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect()
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            fs::copy(e.path(), dst).unwrap();
        }
    }
}

#[test]
fn every_example_project_runs() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut ran = 0;
    for e in fs::read_dir(&examples).unwrap().flatten() {
        if !e.path().join("hygge.yml").is_file() {
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(&e.path(), tmp.path());
        let plan = hygge()
            .args(["go", "--dry-run", "--verbose"])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(
            plan.status.success(),
            "{}: {}",
            e.path().display(),
            stderr(&plan)
        );
        let out = hygge()
            .args(["go"])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}{}",
            e.path().display(),
            stdout(&out),
            stderr(&out)
        );
        assert!(stdout(&out).contains("All flows completed successfully!"));
        ran += 1;
    }
    assert!(ran >= 2, "examples found: {ran}");
}

#[test]
fn the_original_style_example_writes_its_rows() {
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/original_style");
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&src, tmp.path());
    let out = hygge()
        .args(["go"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // defaults.batch_size (500 rows per file) reached the store; the legacy keys warned.
    assert_eq!(listing(&tmp.path().join("data/destination/users")).len(), 4);
    assert!(
        stderr(&out).contains("`key_column` is accepted for compatibility"),
        "{}",
        stderr(&out)
    );
    let rows: usize = read_parquet_dir(&tmp.path().join("data/destination/users"))
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 2000);
}

#[test]
fn csv_files_with_other_columns_and_json_fields_beyond_the_schema_are_errors() {
    let p = Project::new("name: t\n");
    p.write(
        "flows/c/flow.yml",
        "home:\n  type: local\n  path: csv\n  format: csv\nstore: out_c\nentities: [t]\n",
    );
    p.write(
        "flows/j/flow.yml",
        "home:\n  type: local\n  path: json\n  format: ndjson\n  format_options:\n    infer_schema_length: 2\nstore: out_j\nentities: [t]\n",
    );
    p.write("csv/t/a.csv", "id,name\n1,x\n");
    p.write("csv/t/b.csv", "name,id\ny,2\n");
    let mut lines = String::new();
    for i in 0..5 {
        lines.push_str(&format!("{{\"id\": {i}}}\n"));
    }
    lines.push_str("{\"id\": 9, \"surprise\": \"lost?\"}\n");
    p.write("json/t/a.ndjson", &lines);
    let (out, report) = p.go_json(&[]);
    assert_eq!(out.status.code(), Some(1));
    let flows = report["report"]["flows"].as_array().unwrap();
    let csv = flows.iter().find(|f| f["flow"] == "c").unwrap()["error"]
        .as_str()
        .unwrap();
    assert!(
        csv.contains("a.csv")
            && csv.contains("b.csv")
            && csv.contains("[name, id] instead of [id, name]"),
        "{csv}"
    );
    let json = flows.iter().find(|f| f["flow"] == "j").unwrap()["error"]
        .as_str()
        .unwrap();
    assert!(
        json.contains("a.ndjson") && json.contains("surprise"),
        "{json}"
    );
    assert!(!p.join("out_c/t").exists() && !p.join("out_j/t").exists());
}

#[test]
fn without_rename_exchange_the_manifest_publication_replaces_and_appends() {
    let p = parquet_project(&["t"], "  batch_size: 400\n");
    seed(&p, "t", &[("x.parquet", 0, 1000)]);
    let go = |args: &[&str]| {
        hygge()
            .args(args)
            .current_dir(p.path())
            .env("HYGGE_DISABLE_RENAME_EXCHANGE", "1")
            .output()
            .unwrap()
    };
    for _ in 0..2 {
        let out = go(&["go"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/t"))),
        (0..1000).collect::<Vec<_>>()
    );
    fs::remove_file(p.join("data/t/x.parquet")).unwrap();
    seed(&p, "t", &[("y.parquet", 1000, 100)]);
    assert!(go(&["go", "--incremental"]).status.success());
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/t"))),
        (0..1100).collect::<Vec<_>>()
    );
    assert!(
        listing(&p.join("out/.hygge")).iter().all(|n| n == "locks"),
        "{:?}",
        listing(&p.join("out/.hygge"))
    );
}

/// An entity keeps the number of its START line on its OK line, whatever order the
/// entities finish in (issue 19): one large entity and tiny ones, two at a time, so
/// they finish in another order than they start.
#[test]
fn an_entity_keeps_its_start_number_on_its_end_line() {
    let p = parquet_project(&["a", "b", "c", "d", "e"], "");
    seed(&p, "a", &[("x.parquet", 0, 400_000)]);
    for e in ["b", "c", "d", "e"] {
        seed(&p, e, &[("x.parquet", 0, 5)]);
    }
    let out = p.run(&["go", "--concurrency", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let number = |word: &str, e: &str| {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("] {word} f_{e}")))
            .unwrap_or_else(|| panic!("no {word} line for {e}: {text}"));
        let at = line.find('[').expect("a [i of N]") + 1;
        line[at..].split(' ').next().unwrap().to_string()
    };
    let mut starts = Vec::new();
    for e in ["a", "b", "c", "d", "e"] {
        assert_eq!(number("START", e), number("OK", e), "{e}: {text}");
        starts.push(number("START", e));
    }
    starts.sort();
    assert_eq!(starts, ["1", "2", "3", "4", "5"], "{text}");
}
