//! Incremental loads by watermark, end to end through the binary: the journal, exact
//! watermarks, and a randomized model test (files and PostgreSQL) where the destination must
//! equal the source after every run — no row lost, none duplicated.

mod common;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use common::*;
use hygge_testkit::pg::TestDb;
use rand::{Rng, SeedableRng};

fn ts_batch(ids: &[i64], ts: &[i64]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "updated",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
            Arc::new(TimestampNanosecondArray::from(ts.to_vec()).with_timezone("UTC")),
        ],
    )
    .unwrap()
}

fn incremental_flow(home: &str) -> String {
    format!(
        "home: {home}\nstore: lake\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: updated\nentities: [t]\n"
    )
}

fn text(o: &std::process::Output) -> String {
    stdout(o) + &stderr(o)
}

/// The original's B8: a watermark truncated to microseconds re-reads (or, rounded up, loses)
/// rows that differ in the 100 ns digit. Here every run appends rows whose timestamps differ
/// from the previous maximum by as little as 100 ns, several rows share a timestamp within a
/// run, and some runs add nothing; after each of 200 runs the destination equals the source.
#[test]
fn two_hundred_random_incremental_runs_from_files_lose_and_duplicate_nothing() {
    let p = Project::new("name: inc\njournal:\n  path: .hygge_journal\n");
    p.write("flows/f/flow.yml", &incremental_flow("data"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut source: Vec<i64> = Vec::new();
    let mut ts = 1_700_000_000_000_000_000i64;
    let mut next_id = 0i64;
    for run in 0..200 {
        let n = rng.random_range(0..4);
        if n > 0 {
            let mut ids = vec![];
            let mut stamps = vec![];
            for _ in 0..n {
                // 100 ns steps, or the same instant as the previous row of this run.
                if stamps.is_empty() || rng.random_bool(0.7) {
                    ts += 100 * rng.random_range(1..3);
                }
                ids.push(next_id);
                stamps.push(ts);
                next_id += 1;
            }
            source.extend(&ids);
            write_parquet(
                &p.join(&format!("data/t/part-{run:04}.parquet")),
                &[ts_batch(&ids, &stamps)],
            );
        }
        if source.is_empty() {
            continue;
        }
        let out = p.run(&["go", "-q"]);
        assert!(out.status.success(), "run {run}: {}", text(&out));
        let got = ids(&read_parquet_dir(&p.join("lake/t")));
        assert_eq!(got, source, "after run {run}");
    }
    // The journal holds the watermark at full precision.
    let out = p.run(&["go", "--dry-run"]);
    let t = text(&out);
    assert!(t.contains("rows with updated >= "), "{t}");
    let expected = chrono::DateTime::from_timestamp_nanos(ts)
        .format("%Y-%m-%dT%H:%M:%S%.9f")
        .to_string();
    assert!(t.contains(&expected), "{expected} in {t}");
}

#[test]
fn two_hundred_random_incremental_runs_from_postgres_lose_and_duplicate_nothing() {
    let db = TestDb::create("incremental");
    db.query("CREATE TABLE t (id bigint PRIMARY KEY, updated timestamptz NOT NULL, note text)");
    let p = Project::new(&format!(
        "name: inc\njournal:\n  path: .hygge_journal\nconnections:\n  pg:\n    type: postgres\n    url: \"{}\"\n    pool_size: 2\n",
        db.conn_str()
    ));
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: postgres\n  connection: pg\n  table: public.{entity}\nstore: lake\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: updated\nentities: [t]\n",
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut next_id = 0i64;
    let mut micros = 0i64;
    for run in 0..200 {
        let n = rng.random_range(0..4);
        if n > 0 {
            let mut values = vec![];
            for _ in 0..n {
                if values.is_empty() || rng.random_bool(0.7) {
                    micros += rng.random_range(1..3); // 1 µs apart, PostgreSQL's precision
                }
                values.push(format!(
                    "({next_id}, '2024-01-01 00:00:00+00'::timestamptz + interval '{micros} microseconds', 'r{run}')"
                ));
                next_id += 1;
            }
            db.query(&format!("INSERT INTO t VALUES {}", values.join(", ")));
        }
        if next_id == 0 {
            continue;
        }
        let out = p.run(&["go", "-q"]);
        assert!(out.status.success(), "run {run}: {}", text(&out));
        let got = ids(&read_parquet_dir(&p.join("lake/t")));
        assert_eq!(got, (0..next_id).collect::<Vec<_>>(), "after run {run}");
    }
}

#[test]
fn incremental_by_watermark_without_a_journal_is_an_error_not_a_silent_full_load() {
    let p = Project::new("name: inc\n");
    p.write("flows/f/flow.yml", &incremental_flow("data"));
    write_parquet(&p.join("data/t/a.parquet"), &[ts_batch(&[1], &[10])]);
    let out = p.run(&["go"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("no journal is configured"), "{t}");
    assert!(!p.join("lake").exists(), "nothing was written");
}

#[test]
fn a_changed_watermark_column_reloads_fully_and_full_drop_restarts_the_watermark() {
    let p = Project::new("name: inc\njournal:\n  path: .hygge_journal\n");
    p.write("flows/f/flow.yml", &incremental_flow("data"));
    write_parquet(&p.join("data/t/a.parquet"), &[ts_batch(&[1, 2], &[10, 20])]);
    assert!(p.run(&["go", "-q"]).status.success());
    // The watermark definition changes: a full reload that replaces (no duplicates).
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore: lake\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: id\nentities: [t]\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("the watermark changed"),
        "{}",
        text(&out)
    );
    assert_eq!(ids(&read_parquet_dir(&p.join("lake/t"))), vec![1, 2]);
    // Next run continues from id 2.
    write_parquet(&p.join("data/t/b.parquet"), &[ts_batch(&[3], &[5])]);
    assert!(p.run(&["go", "-q"]).status.success());
    assert_eq!(ids(&read_parquet_dir(&p.join("lake/t"))), vec![1, 2, 3]);
    // --full-drop replaces everything and records the new watermark.
    let out = p.run(&["go", "--full-drop", "-q"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ids(&read_parquet_dir(&p.join("lake/t"))), vec![1, 2, 3]);
    let plan = text(&p.run(&["go", "--dry-run"]));
    // The inclusive boundary (the default): rows at 3 are read too, less the one written.
    assert!(
        plan.contains("rows with id >= 3 (less 1 already written at it)"),
        "{plan}"
    );
    // `hygge journal` lists the runs, newest first.
    let out = p.run(&["journal", "-n", "2"]);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<String> = stdout(&out).lines().map(String::from).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[1].starts_with("f_t") && lines[1].contains("full_drop"),
        "{lines:?}"
    );
    assert!(
        lines[2].contains("incremental") && lines[2].ends_with(" 3"),
        "{lines:?}"
    );
}

/// With `boundary: inclusive`, rows that arrive after a run with the same watermark value
/// as the last one written are still read, exactly once (de-duplicated by primary key).
#[test]
fn an_inclusive_boundary_reads_late_rows_that_tie_the_watermark_exactly_once() {
    let db = TestDb::create("inclusive");
    db.query("CREATE TABLE t (id bigint PRIMARY KEY, updated timestamp NOT NULL)");
    let p = Project::new(&format!(
        "name: inc\njournal:\n  path: .hygge_journal\nconnections:\n  pg:\n    type: postgres\n    url: \"{}\"\n",
        db.conn_str()
    ));
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: postgres\n  connection: pg\n  table: public.{entity}\nstore: lake\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: updated\n  boundary: inclusive\nentities: [t]\n",
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut next_id = 0i64;
    let mut micros = 0i64;
    for run in 0..120 {
        let n = rng.random_range(0..4);
        let mut values = vec![];
        for _ in 0..n {
            // Often the same instant as the newest row already loaded: a late tie.
            if rng.random_bool(0.4) {
                micros += 1;
            }
            values.push(format!(
                "({next_id}, '2024-01-01'::timestamp + interval '{micros} microseconds')"
            ));
            next_id += 1;
        }
        if !values.is_empty() {
            db.query(&format!("INSERT INTO t VALUES {}", values.join(", ")));
        }
        if next_id == 0 {
            continue;
        }
        let out = p.run(&["go", "-q"]);
        assert!(out.status.success(), "run {run}: {}", text(&out));
        let got = ids(&read_parquet_dir(&p.join("lake/t")));
        assert_eq!(got, (0..next_id).collect::<Vec<_>>(), "after run {run}");
    }
    let plan = text(&p.run(&["go", "--dry-run"]));
    assert!(plan.contains("already written at it"), "{plan}");
}

/// A text watermark compares by bytes in hygge; a column with a linguistic collation
/// sorts `a` before `B` on the server. The pushed-down predicate must not let the server
/// drop a row hygge counts as new: `a` comes after the watermark `B` byte-wise.
#[test]
fn a_text_watermark_under_a_linguistic_collation_loses_no_row() {
    let db = TestDb::create("collation");
    db.query("CREATE TABLE t (id bigint PRIMARY KEY, updated text COLLATE \"und-x-icu\" NOT NULL)");
    db.query("INSERT INTO t VALUES (0, 'B')");
    let p = Project::new(&format!(
        "name: inc\njournal:\n  path: .hygge_journal\nconnections:\n  pg:\n    type: postgres\n    url: \"{}\"\n    pool_size: 2\n",
        db.conn_str()
    ));
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: postgres\n  connection: pg\n  table: public.{entity}\nstore: lake\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: updated\nentities: [t]\n",
    );
    let out = p.run(&["go", "-q"]);
    assert!(out.status.success(), "{}", text(&out));
    // The server's collation puts `a` before `B`; bytes put it after.
    let server_order = db.query("SELECT 'a' COLLATE \"und-x-icu\" > 'B' COLLATE \"und-x-icu\"");
    assert_eq!(server_order[0][0].as_deref(), Some("f"));
    db.query("INSERT INTO t VALUES (1, 'a')");
    let out = p.run(&["go", "-q"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ids(&read_parquet_dir(&p.join("lake/t"))), vec![0, 1]);
}
