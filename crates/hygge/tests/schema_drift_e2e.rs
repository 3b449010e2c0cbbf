//! Schema drift through the real binary (Parquet home -> Parquet store, a journal): each
//! successful run snapshots the source's schema in the journal; the next incremental run
//! compares the source with it and, by `schema: {mode}`, fails before writing (`strict`),
//! goes on saying what changed (`warn`, the default), or goes on only for changes nothing
//! is lost by (`adapt`). A full_drop takes the new schema; `expected_schema_path` checks
//! against a committed schema instead; `hygge journal --schema` shows the history.

mod common;

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use common::*;

/// `id`, `name` and, with `extra`, a Boolean column `extra`; `id` as Int32 with `narrow`.
fn rows(start: i64, n: usize, extra: bool, narrow: bool) -> RecordBatch {
    let ids: Vec<i64> = (start..start + n as i64).collect();
    let mut fields = vec![
        Field::new(
            "id",
            if narrow {
                DataType::Int32
            } else {
                DataType::Int64
            },
            false,
        ),
        Field::new("name", DataType::Utf8, true),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        if narrow {
            Arc::new(Int32Array::from_iter_values(ids.iter().map(|i| *i as i32)))
        } else {
            Arc::new(Int64Array::from(ids.clone()))
        },
        Arc::new(StringArray::from_iter_values(
            ids.iter().map(|i| format!("n{i}")),
        )),
    ];
    if extra {
        fields.push(Field::new("extra", DataType::Boolean, true));
        cols.push(Arc::new(BooleanArray::from_iter(
            ids.iter().map(|i| Some(i % 2 == 0)),
        )));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

fn flow(mode: Option<&str>, run_type: &str) -> String {
    let schema = mode.map_or(String::new(), |m| format!("schema:\n  mode: {m}\n"));
    format!(
        "home: data\nstore:\n  type: parquet\n  path: lake\nrun_type: {run_type}\n{schema}entities: [t]\n"
    )
}

/// Replaces the source's files with one file of `batch`.
fn source(p: &Project, name: &str, batch: &RecordBatch) {
    let _ = std::fs::remove_dir_all(p.join("data/t"));
    write_parquet(
        &p.join(&format!("data/t/{name}.parquet")),
        std::slice::from_ref(batch),
    );
}

fn lake_rows(p: &Project) -> usize {
    read_parquet_dir(&p.join("lake/t"))
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

#[test]
fn each_mode_meets_an_added_a_narrowed_and_a_committed_schema() {
    let p = Project::new("name: drift\njournal:\n  path: .hygge_journal\n");
    p.write("flows/f/flow.yml", &flow(None, "incremental"));
    source(&p, "p1", &rows(0, 10, false, false));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));

    // A column added. strict: the entity fails before writing, saying what changed; the
    // dry run says so first (from the file's footer).
    source(&p, "p2", &rows(10, 5, true, false));
    p.write("flows/f/flow.yml", &flow(Some("strict"), "incremental"));
    let out = p.run(&["go", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("    schema: 1 change(s) against the last run's schema (the journal's snapshot) in ")
            && stdout(&out).contains("(mode strict: the entity would fail before writing):\n      column  change  detail\n      extra   added   Boolean\n"),
        "{}",
        stdout(&out)
    );
    let (out, report) = p.go_json(&[]);
    assert!(!out.status.success());
    let err = report["report"]["flows"][0]["error"].as_str().unwrap();
    assert_eq!(
        err,
        "schema drift: the source's schema differs from the last run's schema (the journal's snapshot) (1 change; schema mode strict); nothing was written:\n  column  change  detail\n  extra   added   Boolean\nSet `schema: {mode: adapt}` to take additive changes, or update the expected schema"
    );
    assert_eq!(lake_rows(&p), 10, "nothing written");

    // warn (the default): goes on, saying so.
    p.write("flows/f/flow.yml", &flow(None, "incremental"));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("the source's schema differs from the last run's schema (the journal's snapshot) (1 change; schema mode warn):"),
        "{}",
        text(&out)
    );
    assert_eq!(lake_rows(&p), 15);

    // The snapshot moved on: the same schema again is no change, under strict.
    source(&p, "p3", &rows(15, 5, true, false));
    p.write("flows/f/flow.yml", &flow(Some("strict"), "incremental"));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(lake_rows(&p), 20);

    // id narrowed to Int32 and `extra` dropped: adapt refuses both, naming them.
    source(&p, "p4", &rows(20, 5, false, true));
    p.write("flows/f/flow.yml", &flow(Some("adapt"), "incremental"));
    let (out, report) = p.go_json(&[]);
    assert!(!out.status.success());
    let err = report["report"]["flows"][0]["error"].as_str().unwrap();
    assert_eq!(
        err,
        "schema drift: the source's schema differs from the last run's schema (the journal's snapshot) (2 changes; schema mode adapt); adapt never drops, renames, narrows or changes a column, so nothing was written:\n  column  change        detail\n  id      type changed  Int64 -> Int32\n  extra   removed       Boolean\nRun with --full-drop to replace the destination with the new schema"
    );
    assert_eq!(lake_rows(&p), 20);

    // A full reload takes the new schema, and records it.
    let out = p.run(&["go", "--full-drop"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(lake_rows(&p), 5);

    // adapt takes an added column.
    source(&p, "p5", &rows(25, 5, true, true));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("adapting:"), "{}", text(&out));

    // The history, newest first.
    let out = p.run(&["journal", "--schema", "--entity", "f.t", "-n", "10"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("first snapshot, 2 columns:\n    id  Int64 not null\n    name  Utf8"),
        "{shown}"
    );
    assert!(
        shown.contains("  1 change(s):\n    column  change  detail\n    extra   added   Boolean\n"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "\n    id      type changed  Int64 -> Int32\n    extra   removed       Boolean\n"
        ),
        "{shown}"
    );
    assert!(shown.contains("  unchanged (3 columns)"), "{shown}");

    // expected_schema_path: the source is checked against the committed schema.
    p.write(
        "schemas/t.yml",
        "columns:\n  - {name: id, type: Int32, nullable: false}\n  - {name: name, type: Utf8}\n",
    );
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: parquet\n  path: lake\nrun_type: incremental\nschema:\n  mode: strict\n  expected_schema_path: schemas/t.yml\nentities: [t]\n",
    );
    source(&p, "p6", &rows(30, 5, true, true));
    let (out, report) = p.go_json(&[]);
    assert!(!out.status.success());
    let err = report["report"]["flows"][0]["error"].as_str().unwrap();
    assert!(
        err.starts_with("schema drift: the source's schema differs from expected_schema_path schemas/t.yml (1 change; schema mode strict)"),
        "{err}"
    );
    source(&p, "p7", &rows(35, 5, false, true));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));

    // A bad expected schema is a configuration error naming the file and the column.
    p.write("schemas/t.yml", "columns:\n  - {name: id, type: Integer}\n");
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("column `id`: `Integer` is not an Arrow type"),
        "{}",
        text(&out)
    );
}

/// An incremental Parquet entity whose source gains a column, under `adapt`: DuckDB,
/// Polars and pyarrow read the whole entity folder as one table with their usual options
/// for evolving schemas (DuckDB `union_by_name`, Polars `missing_columns="insert"` over the
/// newest file's schema, a unified pyarrow dataset schema); the old rows are NULL in the
/// new column.
#[test]
fn an_adapted_parquet_entity_reads_as_one_table_in_duckdb_polars_and_pyarrow() {
    let python = std::env::var("HYGGE_POLARS_PYTHON")
        .expect("HYGGE_POLARS_PYTHON: a python with polars, pyarrow and duckdb (scripts/test.sh installs it)");
    let p = Project::new("name: drift\njournal:\n  path: .hygge_journal\n");
    p.write("flows/f/flow.yml", &flow(Some("adapt"), "incremental"));
    source(&p, "p1", &rows(0, 10, false, false));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    source(&p, "p2", &rows(10, 5, true, false));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("adapting:"), "{}", text(&out));
    let script = r#"
import glob, sys
import duckdb, polars as pl, pyarrow as pa, pyarrow.dataset as ds, pyarrow.parquet as pq
files = sorted(glob.glob(sys.argv[1] + "/*.parquet"))
d = duckdb.sql(f"SELECT count(*), count(extra), count(*) FILTER (WHERE extra IS NULL AND id < 10) FROM read_parquet({files!r}, union_by_name = true)").fetchone()
print("duckdb", *d)
newest = pq.read_schema(files[-1])
p = pl.read_parquet(files, schema=pl.from_arrow(newest.empty_table()).schema, missing_columns="insert")
print("polars", p.height, p["extra"].count(), p.filter(pl.col("extra").is_null() & (pl.col("id") < 10)).height)
t = ds.dataset(files, schema=pa.unify_schemas([pq.read_schema(f) for f in files])).to_table()
extra = t.column("extra")
old = [e for i, e in zip(t.column("id").to_pylist(), extra.to_pylist()) if i < 10]
print("pyarrow", t.num_rows, len(extra) - extra.null_count, sum(e is None for e in old))
"#;
    let out = std::process::Command::new(&python)
        .args(["-c", script, p.join("lake/t").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        stdout(&out),
        "duckdb 15 5 10\npolars 15 5 10\npyarrow 15 5 10\n",
        "{}",
        stderr(&out)
    );
}

/// `adapt` on a DuckDB table: the source's id widened from Int32 to Int64 and a column
/// added; the append widens the column and adds the new one (nullable) in its
/// transaction, old rows NULL in it; a column dropped from the source is refused before
/// anything is written.
#[cfg(feature = "duckdb")]
#[test]
fn adapt_widens_and_adds_columns_of_a_duckdb_table() {
    let p = Project::new("name: drift\njournal:\n  path: .hygge_journal\n");
    let flow = "home: data\nstore:\n  type: duckdb\n  path: w.duckdb\nrun_type: incremental\nschema:\n  mode: adapt\nentities: [t]\n";
    p.write("flows/f/flow.yml", flow);
    source(&p, "p1", &rows(0, 10, false, true));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    source(&p, "p2", &rows(10, 5, true, false));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("adapting:"), "{}", text(&out));
    let db = p.join("w.duckdb");
    {
        let c = duckdb::Connection::open(&db).unwrap();
        let types: Vec<(String, String)> = c
            .prepare("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't' ORDER BY column_index")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let names: Vec<(&str, &str)> = types
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            names,
            [("id", "BIGINT"), ("name", "VARCHAR"), ("extra", "BOOLEAN")]
        );
        let (n, with_extra, old_null): (i64, i64, i64) = c
            .query_row(
                "SELECT count(*), count(extra), count(*) FILTER (WHERE id < 10 AND extra IS NULL) FROM t",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((n, with_extra, old_null), (15, 5, 10));
    }
    // The table reads back with the widened type (the recorded fields moved on).
    p.write(
        "flows/back/flow.yml",
        "home:\n  type: duckdb\n  path: w.duckdb\nstore:\n  type: parquet\n  path: back\nentities: [t]\n",
    );
    let out = p.run(&["go", "--flow", "back"]);
    assert!(out.status.success(), "{}", text(&out));
    let batches = read_parquet_dir(&p.join("back/t"));
    assert_eq!(batches[0].schema().field(0).data_type(), &DataType::Int64);
    assert_eq!(ids(&batches).len(), 15);

    // The source loses `extra`: adapt refuses it before anything is written.
    source(&p, "p3", &rows(15, 5, false, false));
    let (out, report) = p.go_json(&["--flow", "f"]);
    assert!(!out.status.success());
    let err = report["report"]["flows"][0]["error"].as_str().unwrap();
    assert!(err.contains("  extra   removed  Boolean"), "{err}");
    let n: i64 = duckdb::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 15);
}

/// `adapt` on a PostgreSQL table: the source gains a column; the publish adds it (nullable)
/// in its transaction, old rows NULL in it. Under `warn` the same change is refused by the
/// store (the table lacks the column) and the table is unchanged.
#[cfg(feature = "postgres")]
#[test]
fn adapt_adds_a_column_to_a_postgres_table_and_warn_leaves_it() {
    let db = hygge_testkit::pg::TestDb::create("drift_adapt");
    let p = Project::new(&format!(
        "name: drift\njournal:\n  path: .hygge_journal\nconnections:\n  pg:\n    type: postgres\n    url: \"{}\"\n",
        db.conn_str()
    ));
    let flow = |mode: &str| {
        format!(
            "home: data\nstore:\n  type: postgres\n  connection: pg\nrun_type: incremental\nschema:\n  mode: {mode}\nentities: [t]\n"
        )
    };
    p.write("flows/f/flow.yml", &flow("adapt"));
    source(&p, "p1", &rows(0, 10, false, false));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));

    source(&p, "p2", &rows(10, 5, true, false));
    p.write("flows/f/flow.yml", &flow("warn"));
    let out = p.run(&["go"]);
    assert!(
        !out.status.success(),
        "warn: the store refuses the new column"
    );
    assert!(text(&out).contains("extra"), "{}", text(&out));
    assert_eq!(
        db.query("SELECT count(*) FROM t")[0][0].as_deref(),
        Some("10")
    );

    p.write("flows/f/flow.yml", &flow("adapt"));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    let got = db.query(
        "SELECT count(*), count(extra), count(*) FILTER (WHERE id < 10 AND extra IS NULL) FROM t",
    );
    assert_eq!(
        got[0],
        vec![
            Some("15".to_string()),
            Some("5".to_string()),
            Some("10".to_string())
        ]
    );
    let ty = db.query("SELECT data_type FROM information_schema.columns WHERE table_name = 't' AND column_name = 'extra'");
    assert_eq!(ty[0][0].as_deref(), Some("boolean"));
}

/// `adapt` on a SQLite table: id widened from Int32 to Int64 and a column added; the new
/// column is added in the publishing transaction, old rows NULL in it, and the table reads
/// back with the widened type.
#[cfg(feature = "sqlite")]
#[test]
fn adapt_widens_and_adds_columns_of_a_sqlite_table() {
    let p = Project::new("name: drift\njournal:\n  path: .hygge_journal\n");
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: sqlite\n  path: w.db\nrun_type: incremental\nschema:\n  mode: adapt\nentities: [t]\n",
    );
    source(&p, "p1", &rows(0, 10, false, true));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    source(&p, "p2", &rows(10, 5, true, false));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    let c = rusqlite::Connection::open(p.join("w.db")).unwrap();
    let (n, with_extra, old_null): (i64, i64, i64) = c
        .query_row(
            "SELECT count(*), count(extra), sum(id < 10 AND extra IS NULL) FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((n, with_extra, old_null), (15, 5, 10));
    p.write(
        "flows/back/flow.yml",
        "home:\n  type: sqlite\n  path: w.db\n  table: t\nstore:\n  type: parquet\n  path: back\nentities: [t]\n",
    );
    let out = p.run(&["go", "--flow", "back"]);
    assert!(out.status.success(), "{}", text(&out));
    let batches = read_parquet_dir(&p.join("back/t"));
    let schema = batches[0].schema();
    assert_eq!(schema.field(0).data_type(), &DataType::Int64);
    assert_eq!(schema.field(2).data_type(), &DataType::Boolean);
    assert_eq!(ids(&batches).len(), 15);
}
