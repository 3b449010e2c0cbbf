//! DuckDB end to end through the real `hygge` binary: Parquet -> DuckDB -> Parquet with
//! every type the Parquet tests cover, compared value by value; several entities loading
//! one file at once, replaced twice, appended, and a failed or killed load that leaves the
//! old table and its checkpoint; an incremental DuckDB home with a journal; and a file
//! another process holds.
#![cfg(feature = "duckdb")]

mod common;

use std::path::Path;
use std::sync::Arc;

use arrow::array::*;
use arrow::compute::concat_batches;
use arrow::datatypes::*;
use arrow::record_batch::RecordBatch;
use common::*;
use hygge_testkit::types::{N, all_types};

/// A connection of the test's own (hygge is not running on the file).
fn duck(db: &Path) -> duckdb::Connection {
    duckdb::Connection::open(db).unwrap()
}

fn duck_ids(db: &Path, table: &str) -> Vec<i64> {
    let c = duck(db);
    let mut st = c
        .prepare(&format!("SELECT id FROM \"{table}\" ORDER BY id"))
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn checkpoint(db: &Path, table: &str) -> String {
    duck(db)
        .query_row(
            "SELECT checkpoint FROM _hygge_state WHERE table_name = ?",
            [table],
            |r| r.get(0),
        )
        .unwrap()
}

/// Types the Parquet tests add to [`all_types`]: UUID, Float16, NaN and signed zeros,
/// UInt64 edges, seconds with a named zone, and an interval.
fn extra_types() -> RecordBatch {
    let uuid = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
        (0..N)
            .map(|x| (x % 5 != 0).then_some([(x % 251) as u8; 16]))
            .collect::<Vec<_>>()
            .into_iter(),
        16,
    )
    .unwrap();
    let mut md = std::collections::HashMap::new();
    md.insert("ARROW:extension:name".to_string(), "arrow.uuid".to_string());
    let f16 = arrow::compute::cast(
        &Float32Array::from((0..N).map(|x| x as f32 * 0.5).collect::<Vec<_>>()),
        &DataType::Float16,
    )
    .unwrap();
    let nan = Float64Array::from(
        (0..N)
            .map(|x| [Some(f64::NAN), Some(-0.0), None, Some(f64::NEG_INFINITY)][x % 4])
            .collect::<Vec<_>>(),
    );
    let u64s = UInt64Array::from(
        (0..N)
            .map(|x| [0, u64::MAX, 1 << 63][x % 3])
            .collect::<Vec<_>>(),
    );
    let ts_s_tz = TimestampSecondArray::from((0..N as i64).map(|x| x * 86_399).collect::<Vec<_>>())
        .with_timezone("America/New_York");
    let schema = Schema::new(vec![
        Field::new("uuid", DataType::FixedSizeBinary(16), true).with_metadata(md),
        Field::new("f16", DataType::Float16, true),
        Field::new("nan", DataType::Float64, true),
        Field::new("u64_edges", DataType::UInt64, false),
        Field::new("ts_s_tz", ts_s_tz.data_type().clone(), true),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(uuid),
            f16,
            Arc::new(nan),
            Arc::new(u64s),
            Arc::new(ts_s_tz),
        ],
    )
    .unwrap()
}

#[test]
fn parquet_to_duckdb_to_parquet_round_trips_every_type_value_by_value() {
    let p = Project::new("name: duck\n");
    p.write(
        "flows/into/flow.yml",
        "home: data\nstore:\n  type: duckdb\n  path: lake.duckdb\nentities: [typed, extra]\n",
    );
    p.write(
        "flows/back/flow.yml",
        "home:\n  type: duckdb\n  path: lake.duckdb\n  batch_size: 128\nstore:\n  type: parquet\n  path: back\nentities: [typed, extra]\n",
    );
    let inputs = [("typed", all_types()), ("extra", extra_types())];
    for (e, input) in &inputs {
        write_parquet(
            &p.join(&format!("data/{e}/part-1.parquet")),
            &[input.slice(0, 100)],
        );
        write_parquet(
            &p.join(&format!("data/{e}/part-2.parquet")),
            &[input.slice(100, N - 100)],
        );
    }
    let (out, report) = p.go_json(&["--flow", "into"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["report"]["totals"]["rows"], 2 * N as u64);

    // What other DuckDB readers see: DuckDB's own types, exact values.
    {
        let c = duck(&p.join("lake.duckdb"));
        let types: Vec<(String, String)> = c
            .prepare("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name IN ('typed', 'extra')")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let ty = |c: &str| types.iter().find(|(n, _)| n == c).unwrap().1.clone();
        assert_eq!(ty("dec128"), "DECIMAL(38,10)");
        assert_eq!(ty("uuid"), "UUID");
        assert_eq!(ty("ts_us_tz"), "TIMESTAMP WITH TIME ZONE");
        assert_eq!(ty("list_i32"), "INTEGER[]");
        assert_eq!(ty("u64_edges"), "UBIGINT");
        let max: String = c
            .query_row("SELECT max(dec128)::VARCHAR FROM typed", [], |r| r.get(0))
            .unwrap();
        assert_eq!(max, "9999999999999999999999999999.9999999999");
        let big: String = c
            .query_row("SELECT max(u64_edges)::VARCHAR FROM extra", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(big, u64::MAX.to_string());
    }

    let (out, report) = p.go_json(&["--flow", "back"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["report"]["totals"]["rows"], 2 * N as u64);
    for (e, input) in &inputs {
        let batches = read_parquet_dir(&p.join(&format!("back/{e}")));
        let output = concat_batches(&batches[0].schema(), &batches).unwrap();
        assert_eq!(output.num_rows(), N, "{e}");
        for (i, field) in input.schema().fields().iter().enumerate() {
            let got = output.schema().field(i).clone();
            assert_eq!(got.name(), field.name());
            // Timestamp(Second), which Parquet stores as a bare INT64, is stored in
            // milliseconds with the timestamp type: the same instants (as Parquet ->
            // Parquet does).
            let want = match field.data_type() {
                DataType::Timestamp(TimeUnit::Second, tz) => arrow::compute::cast(
                    input.column(i),
                    &DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
                )
                .unwrap(),
                _ => input.column(i).clone(),
            };
            assert_eq!(
                got.data_type(),
                want.data_type(),
                "type of `{}`",
                field.name()
            );
            assert_eq!(
                got.metadata(),
                field.metadata(),
                "metadata of `{}`",
                field.name()
            );
            assert_eq!(
                output.column(i).as_ref(),
                want.as_ref(),
                "values of `{}`",
                field.name()
            );
        }
    }
}

fn flow(run_type: &str) -> String {
    format!(
        "home: data\nstore:\n  type: duckdb\n  path: out.duckdb\n  table: \"{{entity}}\"\nrun_type: {run_type}\nentities: [t, u, v]\n"
    )
}

#[test]
fn parquet_to_duckdb_replace_twice_append_and_a_failed_or_killed_load_keeps_the_table() {
    let p = Project::new("name: duck\n");
    p.write("flows/f/flow.yml", &flow("full_drop"));
    for (i, e) in ["t", "u", "v"].iter().enumerate() {
        write_parquet(
            &p.join(&format!("data/{e}/part-1.parquet")),
            &[
                batch(i as i64 * 10_000, 2_500),
                batch(i as i64 * 10_000 + 2_500, 500),
            ],
        );
    }
    let db = p.join("out.duckdb");
    // Three entities load one database file at once (one instance, a connection each).
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["report"]["totals"]["rows"], 9_000);
    assert_eq!(duck_ids(&db, "t"), (0..3_000).collect::<Vec<_>>());
    assert_eq!(duck_ids(&db, "v"), (20_000..23_000).collect::<Vec<_>>());

    // full_drop again replaces (no duplicates), twice.
    for _ in 0..2 {
        let (out, _) = p.go_json(&[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(duck_ids(&db, "t"), (0..3_000).collect::<Vec<_>>());
    }

    // incremental appends the new file's rows.
    p.write("flows/f/flow.yml", &flow("incremental"));
    for e in ["t", "u", "v"] {
        std::fs::remove_file(p.join(&format!("data/{e}/part-1.parquet"))).unwrap();
    }
    write_parquet(&p.join("data/t/part-2.parquet"), &[batch(3_000, 700)]);
    write_parquet(&p.join("data/u/part-2.parquet"), &[batch(13_000, 1)]);
    write_parquet(&p.join("data/v/part-2.parquet"), &[batch(23_000, 1)]);
    let (out, _) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(duck_ids(&db, "t"), (0..3_700).collect::<Vec<_>>());
    let before = checkpoint(&db, "t");

    // A run that fails half-way (a corrupt input file after a good one) leaves the table
    // and its checkpoint exactly as they were, for replace and for append alike; the other
    // entities go on.
    std::fs::write(
        p.join("data/t/part-3.parquet"),
        b"PAR1 this is not parquet PAR1",
    )
    .unwrap();
    for rt in ["full_drop", "incremental"] {
        p.write("flows/f/flow.yml", &flow(rt));
        let (out, report) = p.go_json(&[]);
        assert!(!out.status.success(), "{rt}: a corrupt file fails the run");
        assert_eq!(duck_ids(&db, "t"), (0..3_700).collect::<Vec<_>>(), "{rt}");
        assert_eq!(checkpoint(&db, "t"), before, "{rt}: checkpoint unchanged");
        assert_eq!(
            report["report"]["totals"]["ok"], 2,
            "{rt}: u and v still load: {report}"
        );
    }
    std::fs::remove_file(p.join("data/t/part-3.parquet")).unwrap();

    // Killed just before the commit: the old table and checkpoint stay; the next run loads.
    p.write("flows/f/flow.yml", &flow("incremental"));
    std::fs::remove_file(p.join("data/t/part-2.parquet")).unwrap();
    write_parquet(&p.join("data/t/part-4.parquet"), &[batch(3_700, 50)]);
    let out = hygge()
        .args(["go", "--entity", "f.t"])
        .current_dir(p.path())
        .env("HYGGE_FAILPOINTS", "duckdb.publish=abort")
        .output()
        .unwrap();
    assert!(
        out.status.code().is_none() || out.status.code() != Some(0),
        "killed at publish"
    );
    assert!(
        stderr(&out).contains("failpoint duckdb.publish"),
        "{}",
        stderr(&out)
    );
    assert_eq!(duck_ids(&db, "t"), (0..3_700).collect::<Vec<_>>());
    assert_eq!(checkpoint(&db, "t"), before);
    let (out, _) = p.go_json(&["--entity", "f.t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(duck_ids(&db, "t"), (0..3_750).collect::<Vec<_>>());
}

/// An incremental DuckDB home with a journal: each run reads only the rows past the
/// watermark (compared in DuckDB for an integer column), and every row lands once.
#[test]
fn an_incremental_duckdb_home_with_a_journal_loads_each_row_once() {
    let p = Project::new("name: duck\njournal:\n  path: .hygge_journal\n");
    let db = p.join("src.duckdb");
    {
        let c = duck(&db);
        c.execute_batch(
            "CREATE SCHEMA app; CREATE TABLE app.ev AS SELECT i::BIGINT AS id, 'e' || i AS name, \
             make_timestamp(1767225600000000 + i) AS at, i % 2 = 0 AS flag FROM range(0, 1000) t(i);",
        )
        .unwrap();
    }
    for (flow, column, source) in [
        ("by_id", "id", "schema: app\n  table: \"{entity}\""),
        ("by_time", "at", "query: \"SELECT * FROM app.{entity};\""),
    ] {
        p.write(
            &format!("flows/{flow}/flow.yml"),
            &format!(
                "home:\n  type: duckdb\n  path: src.duckdb\n  {source}\n  batch_size: 300\nstore:\n  type: parquet\n  path: out/{flow}\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: {column}\nentities: [ev]\n"
            ),
        );
    }
    let out = p.run(&["go", "-vv"]);
    assert!(out.status.success(), "{}", text(&out));
    {
        let c = duck(&db);
        c.execute_batch(
            "INSERT INTO app.ev SELECT i, 'e' || i, make_timestamp(1767225600000000 + i), i % 2 = 0 FROM range(1000, 1500) t(i);",
        )
        .unwrap();
    }
    for (flow, pushed) in [("by_id", true), ("by_time", false)] {
        let out = p.run(&["go", "-vv", "--flow", flow]);
        let all = text(&out);
        assert!(out.status.success(), "{all}");
        assert_eq!(
            all.contains("the watermark is compared in DuckDB"),
            pushed,
            "{flow}:\n{all}"
        );
        let mut got = ids(&read_parquet_dir(&p.join(&format!("out/{flow}/ev"))));
        got.sort();
        assert_eq!(
            got,
            (0..1_500).collect::<Vec<_>>(),
            "{flow}: every row once"
        );
    }
    let journal = p.run(&["journal", "--entity", "by_id.ev"]);
    assert!(journal.status.success(), "{}", text(&journal));
    assert!(stdout(&journal).contains("500"), "{}", stdout(&journal));
}

/// A database file another process holds: the entity fails at once saying so (and what
/// to do); the table is untouched and the run's other entities load.
#[test]
fn a_file_held_by_another_process_fails_the_entity_clearly() {
    let p = Project::new("name: duck\n");
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: duckdb\n  path: held.duckdb\nentities: [t]\n",
    );
    p.write(
        "flows/g/flow.yml",
        "home: data\nstore:\n  type: parquet\n  path: out\nentities: [t]\n",
    );
    write_parquet(&p.join("data/t/part-1.parquet"), &[batch(0, 10)]);
    let db = p.join("held.duckdb");
    let (out, _) = p.go_json(&["--flow", "f"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Another process (a python3 child would do; the test's own process is one) holds it.
    let holder = duck(&db);
    let (out, report) = p.go_json(&[]);
    assert!(!out.status.success());
    let all = serde_json::to_string(&report).unwrap() + &stderr(&out);
    assert!(all.contains("in use by another process"), "{all}");
    assert!(all.contains("held.duckdb"), "{all}");
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/t"))).len(),
        10,
        "flow g loads"
    );
    drop(holder);
    assert_eq!(duck_ids(&db, "t"), (0..10).collect::<Vec<_>>());
}

/// Appending to a table hygge did not write: the columns must already have the DuckDB
/// types the run's values are kept as (DuckDB would cast them on insert, perhaps with a
/// loss); otherwise the entity fails naming the column and nothing is appended. An
/// interval column, which the appender cannot carry exactly, fails naming the column too.
#[test]
fn a_foreign_table_is_appended_to_only_with_matching_types_and_intervals_are_refused() {
    let p = Project::new("name: duck\n");
    let db = p.join("w.duckdb");
    {
        let c = duck(&db);
        c.execute_batch(
            "CREATE TABLE good (id BIGINT, name VARCHAR); INSERT INTO good VALUES (-1, 'x');
             CREATE TABLE narrow (id INTEGER, name VARCHAR); INSERT INTO narrow VALUES (-1, 'x');",
        )
        .unwrap();
    }
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: duckdb\n  path: w.duckdb\n  if_exists: append\nentities: [good, narrow]\n",
    );
    write_parquet(&p.join("data/good/part-1.parquet"), &[batch(0, 10)]);
    write_parquet(&p.join("data/narrow/part-1.parquet"), &[batch(0, 10)]);
    let (out, report) = p.go_json(&[]);
    assert!(!out.status.success());
    let all = serde_json::to_string(&report).unwrap();
    assert!(
        all.contains("column `id` is INTEGER in a table hygge did not write, and this run's values are Int64 (kept as BIGINT); nothing was appended"),
        "{all}"
    );
    assert_eq!(duck_ids(&db, "good"), (-1..10).collect::<Vec<_>>());
    assert_eq!(duck_ids(&db, "narrow"), vec![-1]);

    let iv = IntervalDayTimeArray::from(vec![Some(IntervalDayTime::new(1, 2)), None]);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("wait", iv.data_type().clone(), true),
    ]));
    let b = RecordBatch::try_new(
        schema,
        vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(iv)],
    )
    .unwrap();
    write_parquet(&p.join("data/iv/part-1.parquet"), &[b]);
    p.write(
        "flows/g/flow.yml",
        "home: data\nstore:\n  type: duckdb\n  path: w.duckdb\nentities: [iv]\n",
    );
    let (out, report) = p.go_json(&["--flow", "g"]);
    assert!(!out.status.success());
    let all = serde_json::to_string(&report).unwrap();
    assert!(
        all.contains("column `wait`: an interval cannot be appended"),
        "{all}"
    );
    let n: i64 = duck(&db)
        .query_row(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'iv'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0, "nothing was created");
}
