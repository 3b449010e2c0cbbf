//! PostgreSQL home and store, end to end through the real `hygge` binary against the real
//! server (`HYGGE_TEST_PG`, default 127.0.0.1:5432 user postgres; `scripts/test.sh` starts
//! or installs it). Every test works in a database of its own.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Decimal256Array,
    FixedSizeBinaryArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    Int64Builder, ListBuilder, StringArray, StringBuilder, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit, i256};
use arrow::record_batch::RecordBatch;
use common::*;
use hygge_testkit::pg::{TestDb, admin_query};

/// `hygge.yml` with a `pg` connection to `db`, plus `extra`.
fn pg_project(db: &TestDb, pool_size: usize, extra: &str) -> Project {
    Project::new(&format!(
        "name: pgtest\nconnections:\n  pg:\n    type: postgres\n    url: \"{}\"\n    pool_size: {pool_size}\n{extra}",
        db.conn_str()
    ))
}

fn uuid_field(name: &str) -> Field {
    Field::new(name, DataType::FixedSizeBinary(16), true)
        .with_metadata([("ARROW:extension:name".to_string(), "arrow.uuid".to_string())].into())
}

fn json_field(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
        .with_metadata([("ARROW:extension:name".to_string(), "arrow.json".to_string())].into())
}

/// One row per case; row 3 is NULL in every column. (`interval` is not here: Parquet
/// writers cannot hold Arrow's month-day-nano intervals; the codec tests cover it.)
fn all_types() -> RecordBatch {
    let n = 5;
    let null_row = |i: usize| i == 3;
    let utc: Arc<str> = "UTC".into();
    let list_field = Arc::new(Field::new("item", DataType::Int64, true));
    let text_list_field = Arc::new(Field::new("item", DataType::Utf8, true));
    let mut ints = ListBuilder::new(Int64Builder::new()).with_field(list_field.clone());
    let mut texts = ListBuilder::new(StringBuilder::new()).with_field(text_list_field.clone());
    for i in 0..n {
        if null_row(i) {
            ints.append_null();
            texts.append_null();
        } else {
            for j in 0..i {
                if j == 1 {
                    ints.values().append_null();
                    texts.values().append_null();
                } else {
                    ints.values().append_value(j as i64 * 1_000_000_007);
                    texts.values().append_value(format!("é{j}\"'"));
                }
            }
            ints.append(true);
            texts.append(true);
        }
    }
    let opt = |v: Vec<i64>| -> Vec<Option<i64>> {
        v.into_iter()
            .enumerate()
            .map(|(i, x)| (!null_row(i)).then_some(x))
            .collect()
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("b", DataType::Boolean, true),
        Field::new("i16", DataType::Int16, true),
        Field::new("i32", DataType::Int32, true),
        Field::new("i64", DataType::Int64, true),
        Field::new("f32", DataType::Float32, true),
        Field::new("f64", DataType::Float64, true),
        Field::new("dec18_4", DataType::Decimal128(18, 4), true),
        Field::new("dec38_10", DataType::Decimal128(38, 10), true),
        Field::new("dec50_5", DataType::Decimal256(50, 5), true),
        Field::new("text", DataType::Utf8, true),
        json_field("doc"),
        Field::new("bytes", DataType::Binary, true),
        uuid_field("id"),
        Field::new("day", DataType::Date32, true),
        Field::new("clock", DataType::Time64(TimeUnit::Microsecond), true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new(
            "tstz",
            DataType::Timestamp(TimeUnit::Microsecond, Some(utc.clone())),
            true,
        ),
        Field::new("ints", DataType::List(list_field), true),
        Field::new("texts", DataType::List(text_list_field), true),
    ]));
    let max38 = 10i128.pow(38) - 1;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            Some(true),
            None,
            Some(false),
        ])),
        Arc::new(Int16Array::from(vec![
            Some(i16::MIN),
            Some(0),
            Some(i16::MAX),
            None,
            Some(-1),
        ])),
        Arc::new(Int32Array::from(vec![
            Some(i32::MIN),
            Some(0),
            Some(i32::MAX),
            None,
            Some(7),
        ])),
        Arc::new(Int64Array::from(opt(vec![i64::MIN, 0, i64::MAX, 0, 42]))),
        Arc::new(Float32Array::from(vec![
            Some(f32::NAN),
            Some(-0.5),
            Some(f32::INFINITY),
            None,
            Some(1e-30),
        ])),
        Arc::new(Float64Array::from(vec![
            Some(f64::NEG_INFINITY),
            Some(f64::NAN),
            Some(1.0e300),
            None,
            Some(-2.5e-300),
        ])),
        Arc::new(
            Decimal128Array::from(vec![
                Some(1_234_567_890_123),
                Some(-1),
                Some(0),
                None,
                Some(999_999_999_999_999_999),
            ])
            .with_precision_and_scale(18, 4)
            .unwrap(),
        ),
        Arc::new(
            Decimal128Array::from(vec![
                Some(max38),
                Some(-max38),
                Some(1),
                None,
                Some(10_000_000_000),
            ])
            .with_precision_and_scale(38, 10)
            .unwrap(),
        ),
        Arc::new(
            Decimal256Array::from(vec![
                Some(
                    i256::from_string("12345678901234567890123456789012345678901234567890")
                        .unwrap(),
                ),
                Some(i256::from_i128(-5)),
                Some(i256::ZERO),
                None,
                Some(i256::from_i128(100_000)),
            ])
            .with_precision_and_scale(50, 5)
            .unwrap(),
        ),
        Arc::new(StringArray::from(vec![
            Some("héllo wörld 🦀"),
            Some(""),
            Some("漢字 'quote' \"dq\" \\ back"),
            None,
            Some("tab\tnew\nline"),
        ])),
        Arc::new(StringArray::from(vec![
            Some(r#"{"a": 1, "b": [true, null]}"#),
            Some("[]"),
            Some(r#""text""#),
            None,
            Some("null"),
        ])),
        Arc::new(BinaryArray::from(vec![
            Some(&b"\x00\x01\xff"[..]),
            Some(&b""[..]),
            Some(&b"abc"[..]),
            None,
            Some(&b"\x00"[..]),
        ])),
        Arc::new(
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                vec![
                    Some(*b"\x12\x34\x56\x78\x9a\xbc\xde\xf0\x12\x34\x56\x78\x9a\xbc\xde\xf0"),
                    Some([0u8; 16]),
                    Some([0xffu8; 16]),
                    None,
                    Some(*b"0123456789abcdef"),
                ]
                .into_iter(),
                16,
            )
            .unwrap(),
        ),
        // 0001-01-01, the Unix epoch, 9999-12-31, NULL, 2024-02-29
        Arc::new(Date32Array::from(vec![
            Some(-719_162),
            Some(0),
            Some(2_932_896),
            None,
            Some(19_782),
        ])),
        Arc::new(Time64MicrosecondArray::from(vec![
            Some(0),
            Some(86_399_999_999),
            Some(45_296_789_012),
            None,
            Some(1),
        ])),
        Arc::new(TimestampMicrosecondArray::from(vec![
            Some(-62_135_596_800_000_000), // 0001-01-01
            Some(253_402_300_799_999_999), // 9999-12-31 23:59:59.999999
            Some(i64::MAX),                // infinity
            None,
            Some(1_700_000_000_123_456),
        ])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![
                Some(i64::MIN),
                Some(0),
                Some(1_700_000_000_000_001),
                None,
                Some(-1),
            ])
            .with_timezone(utc),
        ),
        Arc::new(ints.finish()),
        Arc::new(texts.finish()),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

#[test]
fn every_type_round_trips_parquet_to_postgres_to_parquet_exactly() {
    let db = TestDb::create("types");
    let p = pg_project(&db, 2, "");
    let input = all_types();
    write_parquet(
        &p.join("data/typed/part-1.parquet"),
        std::slice::from_ref(&input),
    );
    write_parquet(&p.join("data/typed/part-2.parquet"), &[input.slice(1, 3)]);
    p.write(
        "flows/load/flow.yml",
        "home: data\nstore:\n  type: postgres\n  connection: pg\n  schema: landing\nentities: [typed]\n",
    );
    p.write(
        "flows/unload/flow.yml",
        "home:\n  type: postgres\n  connection: pg\n  table: landing.{entity}\n  batch_size: 2\nstore: out\nentities: [typed]\n",
    );
    let out = p.run(&["go", "--flow", "load"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(db.count("landing.typed"), 8);
    let types = db.query(
        "SELECT column_name || ' ' || format_type(atttypid, atttypmod) FROM information_schema.columns c \
         JOIN pg_attribute a ON a.attrelid = 'landing.typed'::regclass AND a.attname = c.column_name \
         WHERE table_schema = 'landing' AND table_name = 'typed' ORDER BY ordinal_position",
    );
    let types: Vec<String> = types.into_iter().map(|r| r[0].clone().unwrap()).collect();
    for want in [
        "dec18_4 numeric(18,4)",
        "dec38_10 numeric(38,10)",
        "dec50_5 numeric(50,5)",
        "doc jsonb",
        "id uuid",
        "ts timestamp without time zone",
        "tstz timestamp with time zone",
        "ints bigint[]",
    ] {
        assert!(types.contains(&want.to_string()), "{want} not in {types:?}");
    }
    let inf = db.query("SELECT ts::text, (SELECT tstz::text FROM landing.typed WHERE tstz < '1000-01-01' LIMIT 1) FROM landing.typed WHERE ts > '10000-01-01' LIMIT 1");
    assert_eq!(inf[0][0].as_deref(), Some("infinity"));
    assert_eq!(inf[0][1].as_deref(), Some("-infinity"));

    let out = p.run(&["go", "--flow", "unload"]);
    assert!(out.status.success(), "{}", text(&out));
    let back = read_parquet_dir(&p.join("out/typed"));
    let back = arrow::compute::concat_batches(&back[0].schema(), &back).unwrap();
    let expected =
        arrow::compute::concat_batches(&input.schema(), &[input.clone(), input.slice(1, 3)])
            .unwrap();
    assert_eq!(back.schema(), expected.schema());
    // Rows come back in table order (one COPY stream for a small table).
    assert_eq!(back, expected);
}

/// Counts hygge's connections to `db` while `run` runs; returns (max seen, run's result).
fn max_connections<T>(db: &TestDb, run: impl FnOnce() -> T) -> (i64, T) {
    let done = Arc::new(AtomicBool::new(false));
    let max = Arc::new(AtomicI64::new(0));
    let watcher = {
        let (done, max, name) = (done.clone(), max.clone(), db.name.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let n = admin_query(&format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}' AND application_name = 'hygge'"
                ));
                let n: i64 = n[0][0].as_deref().unwrap().parse().unwrap();
                max.fetch_max(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let out = run();
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    (max.load(Ordering::Relaxed), out)
}

#[test]
fn fifty_tables_share_a_pool_of_three_connections() {
    let db = TestDb::create("pool");
    let mut setup = String::new();
    for i in 0..50 {
        setup.push_str(&format!(
            "CREATE TABLE src_{i} AS SELECT g::bigint AS id, 'row ' || g AS name FROM generate_series(1, {}) g;",
            1000 + i * 100
        ));
    }
    db.query(&setup);
    let names: Vec<String> = (0..50).map(|i| format!("src_{i}")).collect();
    let p = pg_project(&db, 3, "options:\n  concurrency: 8\n");
    p.write(
        "flows/out/flow.yml",
        &format!(
            "home:\n  type: postgres\n  connection: pg\n  table: public.{{entity}}\nstore: out\nentities: [{}]\n",
            names.join(", ")
        ),
    );
    p.write(
        "flows/back/flow.yml",
        &format!(
            "home: out\nstore:\n  type: postgres\n  connection: pg\n  schema: copy\nentities: [{}]\n",
            names.join(", ")
        ),
    );
    let (max, out) = max_connections(&db, || p.run(&["go", "--flow", "out"]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        (1..=3).contains(&max),
        "home pool: {max} connections open at once"
    );
    let (max, out) = max_connections(&db, || p.run(&["go", "--flow", "back"]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        (1..=3).contains(&max),
        "store pool: {max} connections open at once"
    );
    for i in [0, 17, 49] {
        assert_eq!(db.count(&format!("copy.src_{i}")), 1000 + i * 100);
        assert_eq!(
            ids(&read_parquet_dir(&p.join(&format!("out/src_{i}")))),
            (1..=1000 + i * 100).collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_connection_killed_mid_copy_fails_the_entity_and_leaves_the_target_unchanged() {
    let db = TestDb::create("kill");
    db.query("CREATE TABLE public.big AS SELECT g::bigint AS id, 'old' AS name FROM generate_series(1, 10) g");
    let p = pg_project(&db, 2, "");
    let batches: Vec<RecordBatch> = (0..40).map(|i| batch(i * 50_000, 50_000)).collect();
    write_parquet(&p.join("data/big/part.parquet"), &batches);
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: postgres\n  connection: pg\nentities: [big]\n",
    );
    let killed = Arc::new(AtomicBool::new(false));
    let killer = {
        let (killed, name) = (killed.clone(), db.name.clone());
        std::thread::spawn(move || {
            for _ in 0..6000 {
                let r = admin_query(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' \
                     AND application_name = 'hygge' AND query LIKE 'COPY %FROM STDIN%'"
                ));
                if !r.is_empty() {
                    killed.store(true, Ordering::Relaxed);
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let out = p.run(&["go"]);
    killer.join().unwrap();
    assert!(
        killed.load(Ordering::Relaxed),
        "the COPY was never seen running"
    );
    assert!(!out.status.success());
    let err = stderr(&out) + &stdout(&out);
    assert!(err.contains("public.big"), "{err}");
    // Killed mid-COPY the driver sees the socket close; killed between the COPY and the
    // commit it may read the server's FATAL message first. Either way the entity fails.
    assert!(
        err.contains("connection was closed") || err.contains("terminating connection"),
        "{err}"
    );
    assert_eq!(db.count("public.big"), 10, "the old rows are all there");
    assert_eq!(
        db.query(
            "SELECT count(*) FROM pg_class WHERE relname LIKE '%hygge%' AND relname NOT LIKE '\\_hygge\\_state%'"
        )[0][0]
            .as_deref(),
        Some("0"),
        "no staging table left"
    );
}

#[test]
fn connection_errors_name_connection_and_entity_and_other_entities_go_on() {
    let db = TestDb::create("errors");
    db.query("CREATE TABLE present AS SELECT 1::bigint AS id, 'x' AS name");
    let p = Project::new(&format!(
        "name: e\nconnections:\n  pg:\n    type: postgres\n    url: \"{}\"\n  nobody:\n    type: postgres\n    url: \"{} user=no_such_role\"\n  nowhere:\n    type: postgres\n    host: 127.0.0.1\n    port: 1\n    connect_timeout: 2\n",
        db.conn_str(),
        db.conn_str()
    ));
    p.write(
        "flows/good/flow.yml",
        "home:\n  type: postgres\n  connection: pg\n  table: public.{entity}\nstore: out\nentities: [present, missing]\n",
    );
    p.write(
        "flows/auth/flow.yml",
        "home:\n  type: postgres\n  connection: nobody\n  table: public.{entity}\nstore: out\nentities: [present]\n",
    );
    p.write(
        "flows/down/flow.yml",
        "home:\n  type: postgres\n  connection: nowhere\n  table: public.{entity}\nstore: out\nentities: [present]\n",
    );
    let (out, report) = p.go_json(&[]);
    assert!(!out.status.success());
    let flows = report["report"]["flows"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"));
    let status = |name: &str| {
        flows
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))
            .clone()
    };
    assert_eq!(status("good_present")["status"], "success");
    let missing = status("good_missing");
    let msg = missing["error"].as_str().unwrap();
    assert!(
        msg.contains("connection `pg`")
            && msg.contains("public.missing")
            && msg.contains("does not exist"),
        "{msg}"
    );
    let auth = status("auth_present")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        auth.contains("connection `nobody`") && auth.contains("no_such_role"),
        "{auth}"
    );
    let down = status("down_present")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        down.contains("connection `nowhere`") && down.contains("127.0.0.1:1"),
        "{down}"
    );
    assert_eq!(ids(&read_parquet_dir(&p.join("out/present"))), vec![1]);
}

#[test]
fn entity_names_with_quotes_and_spaces_cannot_inject_sql() {
    let db = TestDb::create("inject");
    db.query("CREATE TABLE victim (x int)");
    let p = pg_project(&db, 2, "");
    let evil = "x\"; DROP TABLE victim; --";
    for name in [evil, "with space", "MixedCase"] {
        write_parquet(&p.join(&format!("data/{name}/p.parquet")), &[batch(0, 3)]);
    }
    p.write(
        "flows/in/flow.yml",
        "home: data\nstore:\n  type: postgres\n  connection: pg\nentities:\n  - 'x\"; DROP TABLE victim; --'\n  - with space\n  - MixedCase\n",
    );
    p.write(
        "flows/out/flow.yml",
        "home:\n  type: postgres\n  connection: pg\n  query: SELECT * FROM public.{entity} WHERE id > 0\nstore: back\nentities:\n  - 'x\"; DROP TABLE victim; --'\n  - with space\n",
    );
    let out = p.run(&["go", "--flow", "in"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = p.run(&["go", "--flow", "out"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(db.count("victim"), 0, "victim still exists");
    assert_eq!(db.count("public.\"x\"\"; DROP TABLE victim; --\""), 3);
    assert_eq!(db.count("public.\"with space\""), 3);
    assert_eq!(db.count("public.\"MixedCase\""), 3);
    assert_eq!(
        ids(&read_parquet_dir(&p.join(&format!("back/{evil}")))),
        vec![1, 2]
    );
}

#[test]
fn full_drop_replaces_incremental_appends_and_if_exists_fail_refuses() {
    let db = TestDb::create("modes");
    let p = pg_project(&db, 2, "");
    write_parquet(&p.join("data/t/p.parquet"), &[batch(0, 100)]);
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: postgres\n  connection: pg\nentities: [t]\n",
    );
    for _ in 0..2 {
        let out = p.run(&["go"]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(db.count("public.t"), 100, "full_drop replaces");
    }
    db.query("CREATE INDEX t_id ON public.t (id)");
    let out = p.run(&["go", "--incremental"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(db.count("public.t"), 200, "incremental appends");
    assert_eq!(
        db.query("SELECT count(*) FROM pg_indexes WHERE indexname = 't_id'")[0][0].as_deref(),
        Some("1"),
        "append keeps the table (and its indexes)"
    );
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: postgres\n  connection: pg\n  if_exists: fail\nentities: [t]\n",
    );
    let out = p.run(&["go"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("if_exists"), "{}", text(&out));
    assert_eq!(db.count("public.t"), 200, "nothing written");
}

#[test]
fn dry_run_connects_to_nothing_and_debug_checks_every_connection() {
    let db = TestDb::create("debug");
    db.query("CREATE TABLE present AS SELECT 1::bigint AS id");
    let p = Project::new(&format!(
        "name: d\nconnections:\n  pg:\n    type: postgres\n    url: \"{}\"\n    password: hunter2-secret\n  nowhere:\n    type: postgres\n    host: 127.0.0.1\n    port: 1\n    connect_timeout: 2\n",
        db.conn_str()
    ));
    p.write(
        "flows/a/flow.yml",
        "home:\n  type: postgres\n  connection: pg\n  table: public.{entity}\nstore:\n  type: postgres\n  connection: nowhere\nentities: [present, absent]\n",
    );
    let out = p.run(&["go", "--dry-run", "--verbose"]);
    assert!(out.status.success(), "{}", text(&out));
    let text = stdout(&out) + &stderr(&out);
    assert!(
        text.contains("would replace table public.present"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "a secret was printed: {text}");

    let out = p.run(&["debug"]);
    assert!(!out.status.success());
    let text = stdout(&out) + &stderr(&out);
    assert!(
        text.contains("public.absent") && text.contains("does not exist"),
        "{text}"
    );
    assert!(
        text.contains("✓ connection pg") && text.contains("PostgreSQL 1"),
        "{text}"
    );
    assert!(
        text.contains("✗ connection nowhere") && text.contains("127.0.0.1:1"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "a secret was printed: {text}");
}

#[test]
fn a_large_table_is_read_in_block_ranges_of_one_snapshot() {
    let db = TestDb::create("ranges");
    db.query(
        "CREATE TABLE wide AS SELECT g::bigint AS id, repeat('x', 200) AS name FROM generate_series(1, 60000) g",
    );
    let p = pg_project(&db, 4, "");
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: postgres\n  connection: pg\n  table: public.{entity}\n  parallel: 4\nstore: out\nentities: [wide]\n",
    );
    let out = hygge()
        .args(["go", "-v"])
        .env("HYGGE_PG_RANGE_PAGES", "100")
        .current_dir(p.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let text = stderr(&out) + &stdout(&out);
    assert!(text.contains("4 streams"), "{text}");
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/wide"))),
        (1..=60000).collect::<Vec<_>>(),
        "every row exactly once"
    );
}

/// Everything the run printed.
fn text(o: &std::process::Output) -> String {
    stdout(o) + &stderr(o)
}

/// The rows of a COPY reach the decoder through the connection's tap (plain and over TLS)
/// or, with the tap switched off, through the driver a message per row: the same rows.
#[test]
fn a_copy_reads_the_same_rows_through_the_tap_over_tls_and_through_the_driver() {
    let db = TestDb::create("tap");
    db.query(
        "CREATE TABLE wide AS SELECT i AS id, md5(i::text) || repeat('é', i % 50) AS s, \
         (i * 1.25)::numeric(12,2) AS n, CASE WHEN i % 7 = 0 THEN NULL ELSE i::float8 / 3 END AS f, \
         timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' AS ts \
         FROM generate_series(1, 30000) i",
    );
    let ssl_on = db.query("SHOW ssl")[0][0].as_deref() == Some("on");
    let p = pg_project(&db, 2, "");
    let flow = |name: &str, extra: &str| {
        p.write(
            &format!("flows/{name}/flow.yml"),
            &format!(
                "home:\n  type: postgres\n  connection: pg\n  table: public.{{entity}}\n  batch_size: 1000\n{extra}\
                 store:\n  type: parquet\n  path: out_{name}\nentities: [wide]\n"
            ),
        );
    };
    flow("plain", "");
    flow(
        "tls",
        if ssl_on {
            "  sslmode: require\n"
        } else {
            "  sslmode: prefer\n"
        },
    );
    flow("driver", "");
    let run = |name: &str, tap: &str| {
        let out = hygge()
            .args(["go", "-v", "--flow", name])
            .env("HYGGE_PG_TAP", tap)
            .current_dir(p.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let log = text(&out);
        let rows = read_parquet_dir(&p.join(&format!("out_{name}/wide")));
        let rows = arrow::compute::concat_batches(&rows[0].schema(), &rows).unwrap();
        let order = arrow::compute::sort_to_indices(rows.column(0), None, None).unwrap();
        (
            arrow::compute::take_record_batch(&rows, &order).unwrap(),
            log,
        )
    };
    let (plain, log) = run("plain", "on");
    assert_eq!(plain.num_rows(), 30_000);
    assert!(
        log.contains("through the connection's tap, 0 through the driver"),
        "{log}"
    );
    let (driver, log) = run("driver", "off");
    assert!(
        log.contains("0 bytes of rows through the connection's tap"),
        "{log}"
    );
    assert_eq!(driver, plain);
    let (tls, log) = run("tls", "on");
    assert_eq!(tls, plain);
    if ssl_on {
        assert!(
            log.contains("through the connection's tap, 0 through the driver"),
            "{log}"
        );
    } else {
        eprintln!("NOTE: the server has ssl off: the TLS tap was not exercised");
    }
}

/// A COPY the server stops with an error part-way (after rows were sent through the tap)
/// fails the entity with the server's message, and publishes nothing.
#[test]
fn a_server_error_mid_copy_fails_the_entity_with_its_message() {
    let db = TestDb::create("tap_error");
    let p = pg_project(&db, 2, "");
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: postgres\n  connection: pg\n  query: \"SELECT i, 1 / (i - 60000) AS boom, repeat('x', 40) AS pad FROM generate_series(1, 70000) i\"\n  batch_size: 1000\nstore:\n  type: parquet\n  path: out\nentities: [e]\n",
    );
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let log = text(&out);
    assert!(log.contains("division by zero"), "{log}");
    assert!(!p.join("out/e").exists(), "nothing is published: {log}");
}

#[test]
fn a_text_watermark_cannot_leave_its_literal_when_the_database_has_standard_conforming_strings_off()
{
    // A legacy database setting makes `\` an escape in '...' literals; hygge's sessions
    // turn it on again, so the newest watermark (source data) stays one literal.
    let db = TestDb::create("scs");
    db.query(&format!(
        "ALTER DATABASE \"{}\" SET standard_conforming_strings = off",
        db.name
    ));
    db.query("CREATE TABLE public.t (id bigint PRIMARY KEY, w text NOT NULL)");
    db.query(r"INSERT INTO public.t VALUES (1, 'aa'), (2, 'bb'), (3, $v$zz\' OR true OR '$v$)");
    assert_eq!(
        db.query("SHOW standard_conforming_strings")[0][0].as_deref(),
        Some("off")
    );
    let p = Project::new(&format!(
        "name: scs\njournal:\n  path: .hygge_journal\nconnections:\n  pg:\n    type: postgres\n    url: \"{}\"\n    pool_size: 2\n",
        db.conn_str()
    ));
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: postgres\n  connection: pg\n  table: public.{entity}\nstore: lake\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: w\nentities: [t]\n",
    );
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report["report"]["totals"]["rows"], 3, "{report}");
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        report["report"]["totals"]["rows"], 0,
        "the watermark predicate was widened: {report}"
    );
    assert_eq!(ids(&read_parquet_dir(&p.join("lake/t"))), vec![1, 2, 3]);
}

/// Every file below `dir` with its bytes, by path relative to `dir`.
fn files_with_bytes(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for f in parquet_files(dir) {
        let rel = f.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
        out.push((rel, std::fs::read(&f).unwrap()));
    }
    out
}

/// A PG table `t` (1,000 rows) copied to Parquet `out/t` by flow `f` with `batch_size: 100`
/// (and `home_extra`); a first run succeeds; then 1,000 more rows are added and the flow is
/// run again with `HYGGE_FAILPOINTS` (and `env`): it must fail naming the panic, and leave
/// the first run's files byte for byte.
fn a_panicking_reader_keeps_the_old_files(db: &TestDb, home_extra: &str, env: &[(&str, &str)]) {
    db.query(
        "CREATE TABLE t AS SELECT g::bigint AS id, 'name ' || g AS name FROM generate_series(1, 1000) g",
    );
    let p = pg_project(db, 4, "");
    p.write(
        "flows/f/flow.yml",
        &format!(
            "home:\n  type: postgres\n  connection: pg\n  table: public.{{entity}}\n  batch_size: 100\n{home_extra}\
             store:\n  type: parquet\n  path: out\nentities: [t]\n"
        ),
    );
    let run = |failpoints: Option<&str>| {
        let mut cmd = hygge();
        cmd.args(["go", "-v"]).current_dir(p.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(f) = failpoints {
            cmd.env("HYGGE_FAILPOINTS", f);
        }
        cmd.output().unwrap()
    };
    let out = run(None);
    assert!(out.status.success(), "{}", text(&out));
    let before = files_with_bytes(&p.join("out/t"));
    assert_eq!(ids(&read_parquet_dir(&p.join("out/t"))).len(), 1000);

    db.query("INSERT INTO t SELECT g, 'name ' || g FROM generate_series(1001, 2000) g");
    let out = run(Some("postgres.home.batch=panic@3"));
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    if !home_extra.is_empty() {
        assert!(log.contains("reading in 4 streams"), "{log}");
    }
    let failed = log
        .lines()
        .find(|l| l.contains("FAILED f_t"))
        .unwrap_or_else(|| panic!("no FAILED line for f_t:\n{log}"));
    assert!(
        failed.contains("public.t")
            && failed.contains("reader task panicked")
            && failed.contains("failpoint postgres.home.batch (hit 3)"),
        "{failed}"
    );
    assert_eq!(
        files_with_bytes(&p.join("out/t")),
        before,
        "the destination holds the first run's files, byte for byte"
    );
}

/// C1: a COPY stream's task that panics after two batches fails the entity; it is never
/// read as the end of the table (which published the rows read so far as a success).
#[test]
fn a_postgres_reader_that_panics_mid_table_fails_the_entity_and_keeps_the_old_files() {
    let db = TestDb::create("reader_panic");
    a_panicking_reader_keeps_the_old_files(&db, "", &[]);
}

/// C1, block ranges: one range's task panicking fails the entity (the other ranges'
/// rows are not published without it).
#[test]
fn a_block_range_reader_that_panics_fails_the_entity_and_keeps_the_old_files() {
    let db = TestDb::create("range_panic");
    // Ranges of 2 blocks: the 2,000-row table (~13 blocks) is read in 4 streams.
    a_panicking_reader_keeps_the_old_files(
        &db,
        "  parallel: 4\n",
        &[("HYGGE_PG_RANGE_PAGES", "2")],
    );
}

/// C1 / M5: 12,000 values of 200 KB with `batch_size: 12000` are 2.4 GB in one column of
/// one batch, past the 2 GiB Arrow's i32 offsets can hold (arrow-rs panics there). Batches
/// end at 64 MiB of data instead, and every row arrives.
#[test]
fn values_too_large_for_one_arrow_batch_are_read_in_batches_bounded_in_bytes() {
    let db = TestDb::create("byte_cap");
    let rows = 12_000u64;
    let width = 200_000u64;
    assert!(
        rows * width > 1 << 31,
        "one batch of it would overflow i32 offsets"
    );
    let p = pg_project(&db, 2, "");
    p.write(
        "flows/f/flow.yml",
        &format!(
            "home:\n  type: postgres\n  connection: pg\n  query: \"SELECT g::bigint AS id, repeat('x', {width}) AS s FROM generate_series(1, {rows}) g\"\n  batch_size: {rows}\n\
             store:\n  type: parquet\n  path: out\nentities: [big]\n"
        ),
    );
    let start = std::time::Instant::now();
    let out = p.run(&["go", "-v"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    eprintln!("2.4 GB through PG -> Parquet in {:?}", start.elapsed());
    // The home logs how many batches it made: at least 2.4 GB / 64 MiB of them.
    let batches: u64 = log
        .lines()
        .find_map(|l| {
            let (head, _) = l.split_once(" batches, ")?;
            head.rsplit(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no batch count in the log:\n{log}"));
    assert!(
        batches >= rows * width / (64 << 20),
        "{batches} batches:\n{log}"
    );
    let files = parquet_files(&p.join("out/big"));
    let mut n = 0;
    for f in &files {
        let r = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(f).unwrap())
            .unwrap();
        n += parquet::file::reader::FileReader::metadata(&r)
            .file_metadata()
            .num_rows();
    }
    assert_eq!(n as u64, rows, "every row, exactly once");
}
