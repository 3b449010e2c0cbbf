//! SQLite end to end through the real `hygge` binary: an original-style project with a
//! `sqlite` store (full_drop, then an incremental append, then a failed run that leaves the
//! table and its checkpoint as they were), several entities loading one file at once, and
//! SQLite -> Parquet with the types hygge wrote.
#![cfg(feature = "sqlite")]

mod common;

use std::path::Path;

use arrow::array::Array;
use common::*;

fn sqlite_ids(db: &Path, table: &str) -> Vec<i64> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare(&format!("SELECT id FROM \"{table}\" ORDER BY id"))
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn checkpoint(db: &Path, table: &str) -> String {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(
        "SELECT checkpoint FROM _hygge_state WHERE table_name = ?1",
        [table],
        |r| r.get(0),
    )
    .unwrap()
}

fn flow(run_type: &str) -> String {
    format!(
        "home: data\nstore:\n  type: sqlite\n  path: out.db\n  table: \"{{entity}}\"\n  batch_size: 1000\nrun_type: {run_type}\nentities: [t, u, v]\n"
    )
}

#[test]
fn parquet_to_sqlite_full_drop_append_and_a_failed_run_keeps_the_table() {
    let p = Project::new("name: lite\n");
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
    let db = p.join("out.db");
    // Three entities load one database file at once (concurrency 8).
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["report"]["totals"]["rows"], 9_000);
    assert_eq!(sqlite_ids(&db, "t"), (0..3_000).collect::<Vec<_>>());
    assert_eq!(sqlite_ids(&db, "v"), (20_000..23_000).collect::<Vec<_>>());

    // full_drop again replaces (no duplicates).
    let (out, _) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sqlite_ids(&db, "t").len(), 3_000);

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
    assert_eq!(sqlite_ids(&db, "t"), (0..3_700).collect::<Vec<_>>());
    let before = checkpoint(&db, "t");

    // A run that fails half-way (a corrupt input file after a good one) leaves the table
    // and its checkpoint exactly as they were, for replace and for append alike.
    std::fs::write(
        p.join("data/t/part-3.parquet"),
        b"PAR1 this is not parquet PAR1",
    )
    .unwrap();
    for rt in ["full_drop", "incremental"] {
        p.write("flows/f/flow.yml", &flow(rt));
        let (out, _) = p.go_json(&[]);
        assert!(!out.status.success(), "{rt}: a corrupt file fails the run");
        assert_eq!(sqlite_ids(&db, "t"), (0..3_700).collect::<Vec<_>>(), "{rt}");
        assert_eq!(checkpoint(&db, "t"), before, "{rt}: checkpoint unchanged");
    }
    let leftovers: Vec<_> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("hygge-stage"))
        .collect();
    assert!(leftovers.is_empty(), "staging files left: {leftovers:?}");
}

#[test]
fn sqlite_to_parquet_reads_back_what_hygge_wrote() {
    let p = Project::new("name: lite\n");
    p.write("flows/f/flow.yml", &flow("full_drop"));
    for e in ["t", "u", "v"] {
        write_parquet(
            &p.join(&format!("data/{e}/part-1.parquet")),
            &[batch(0, 1_234)],
        );
    }
    let (out, _) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    p.write(
        "flows/back/flow.yml",
        "home:\n  type: sqlite\n  path: out.db\n  table: \"{entity}\"\n  batch_size: 500\nstore:\n  type: parquet\n  path: back\nentities: [t]\n",
    );
    let (out, report) = p.go_json(&["--flow", "back"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["report"]["totals"]["rows"], 1_234);
    let batches = read_parquet_dir(&p.join("back/t"));
    assert_eq!(ids(&batches), (0..1_234).collect::<Vec<_>>());
    let want = batch(0, 1);
    assert_eq!(
        batches[0].schema().fields()[1].data_type(),
        want.schema().fields()[1].data_type()
    );
    // The same rows, value by value.
    let all = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let names = all
        .column(1)
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    let ids_col = all
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap();
    for r in 0..all.num_rows() {
        let i = ids_col.value(r);
        let want = (i % 5 != 0).then(|| format!("name-{i}"));
        assert_eq!(names.is_valid(r).then(|| names.value(r).to_string()), want);
    }
}

/// A process killed just before the publishing transaction commits leaves the table and
/// its checkpoint as they were; the next run cleans the staging file it left and loads.
#[test]
fn a_kill_at_publish_leaves_the_old_table_and_the_next_run_cleans_up() {
    let p = Project::new("name: lite\n");
    p.write("flows/f/flow.yml", &flow("full_drop"));
    for e in ["t", "u", "v"] {
        write_parquet(
            &p.join(&format!("data/{e}/part-1.parquet")),
            &[batch(0, 100)],
        );
    }
    let db = p.join("out.db");
    let (out, _) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = checkpoint(&db, "t");
    write_parquet(&p.join("data/t/part-2.parquet"), &[batch(100, 50)]);
    let out = hygge()
        .args(["go", "--entity", "f.t"])
        .current_dir(p.path())
        .env("HYGGE_FAILPOINTS", "sqlite.publish=abort")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failpoint")
            || out.status.code().is_none()
            || out.status.code() != Some(0),
        "killed at publish"
    );
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(sqlite_ids(&db, "t"), (0..100).collect::<Vec<_>>());
    assert_eq!(checkpoint(&db, "t"), before);
    let (out, _) = p.go_json(&["--entity", "f.t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sqlite_ids(&db, "t"), (0..150).collect::<Vec<_>>());
    let leftovers: Vec<_> = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("hygge-stage"))
        .collect();
    assert!(leftovers.is_empty(), "staging files left: {leftovers:?}");
}

/// An incremental SQLite home leaves the watermark comparison to SQLite where SQLite
/// orders as Arrow does (an integer column: `WHERE "id" > ?1`), and not where it would
/// not: a text column of a table hygge did not write may collate otherwise (`NOCASE`
/// puts `a` before `Z`, Arrow after it), and a row the engine would keep must never be
/// dropped at the source. A query (its trailing `;` too) is wrapped as a subquery. Each
/// run loads the new rows once.
#[test]
fn the_watermark_is_pushed_down_only_where_sqlite_compares_exactly() {
    let p = Project::new("name: lite\njournal:\n  path: .hygge_journal\n");
    let db = p.join("src.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE ev (id INTEGER NOT NULL, code TEXT COLLATE NOCASE);
         INSERT INTO ev VALUES (1, 'A'), (2, 'Z');",
    )
    .unwrap();
    for (flow, column, source) in [
        ("by_id", "id", "table: ev"),
        ("by_code", "code", "table: ev"),
        (
            "by_query",
            "id",
            "query: \"SELECT * FROM {entity} WHERE id > 0;\"",
        ),
    ] {
        p.write(
            &format!("flows/{flow}/flow.yml"),
            &format!(
                "home:\n  type: sqlite\n  path: src.db\n  {source}\nstore:\n  type: parquet\n  path: out/{flow}\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: {column}\nentities: [ev]\n"
            ),
        );
    }
    let out = p.run(&["go", "-vv"]);
    assert!(out.status.success(), "{}", text(&out));
    c.execute_batch("INSERT INTO ev VALUES (3, 'a');").unwrap();
    for (flow, pushed) in [("by_id", true), ("by_code", false), ("by_query", true)] {
        let out = p.run(&["go", "-vv", "--flow", flow]);
        let all = text(&out);
        assert!(out.status.success(), "{all}");
        assert_eq!(
            all.contains("the watermark is compared in SQLite"),
            pushed,
            "{flow}:\n{all}"
        );
        let mut got = ids(&read_parquet_dir(&p.join(&format!("out/{flow}/ev"))));
        got.sort();
        assert_eq!(got, [1, 2, 3], "{flow}: every row once");
    }
}

/// Appending decimals to a table hygge did not write: a column whose declared type has
/// numeric affinity would store `1.10` as 1.1 and round long decimals, so the entity fails
/// before anything is appended, naming the column and what to do; declared TEXT, the
/// values arrive exactly.
#[test]
fn appending_decimals_to_a_foreign_numeric_column_is_refused_and_to_text_is_exact() {
    use std::sync::Arc;
    let p = Project::new("name: lite\n");
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("price", arrow::datatypes::DataType::Decimal128(38, 2), true),
    ]));
    let prices = arrow::array::Decimal128Array::from(vec![
        Some(110),
        Some(12345678901234567890123456789012345678),
        None,
    ])
    .with_precision_and_scale(38, 2)
    .unwrap();
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema,
        vec![
            Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3])),
            Arc::new(prices),
        ],
    )
    .unwrap();
    write_parquet(&p.join("data/prices/a.parquet"), &[batch]);
    let db = p.join("out.db");
    for (decl, refused) in [("DECIMAL(38,2)", true), ("TEXT", false)] {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(&format!(
            "DROP TABLE IF EXISTS prices; CREATE TABLE prices (id INTEGER, price {decl}); INSERT INTO prices VALUES (0, '9.90');"
        ))
        .unwrap();
        p.write(
            "flows/f/flow.yml",
            "home: data\nstore:\n  type: sqlite\n  path: out.db\n  table: prices\n  if_exists: append\nentities: [prices]\n",
        );
        let out = p.run(&["go"]);
        let all = text(&out);
        let texts: Vec<Option<String>> = c
            .prepare("SELECT CAST(price AS TEXT) FROM prices ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        if refused {
            assert!(!out.status.success(), "{all}");
            assert!(
                all.contains("column `price`")
                    && all.contains("DECIMAL(38,2)")
                    && all.contains("NUMERIC affinity"),
                "{all}"
            );
            // (SQLite itself stored the test's own '9.90' as 9.9: the loss refused here.)
            assert_eq!(texts, [Some("9.9".to_string())], "nothing appended");
        } else {
            assert!(out.status.success(), "{all}");
            assert_eq!(
                texts,
                [
                    Some("9.90".to_string()),
                    Some("1.10".to_string()),
                    Some("123456789012345678901234567890123456.78".to_string()),
                    None
                ]
            );
        }
    }
}
