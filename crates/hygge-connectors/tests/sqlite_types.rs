//! Every Arrow type the Parquet store carries round-trips exactly through the SQLite store
//! and back through the SQLite home (hygge's column records), also behind a `query`; a
//! table hygge did not write is typed by its declared types.
#![cfg(feature = "sqlite")]

use std::sync::Arc;

use arrow::array::*;
use arrow::compute::concat_batches;
use arrow::datatypes::*;
use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use hygge_connectors::registry::{home_from_json, store_from_json};
use hygge_core::{Checkpoint, Publish, ReadRequest, RunType, WriteTarget};

use hygge_testkit::types::{N, all_types, opt};

/// The extra columns SQLite needs to keep exact beyond the Parquet set: a UUID (fixed
/// 16 bytes with the `arrow.uuid` extension), float16, NaN and -0.0, a map, u64 extremes.
fn extra_types() -> RecordBatch {
    let uuid = FixedSizeBinaryArray::try_from_sparse_iter_with_size(
        opt((0..N).map(|x| [(x % 251) as u8; 16]).collect()).into_iter(),
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
            .map(|x| match x % 4 {
                0 => Some(f64::NAN),
                1 => Some(-0.0),
                2 => None,
                _ => Some(f64::NEG_INFINITY),
            })
            .collect::<Vec<_>>(),
    );
    let u64s = UInt64Array::from(
        (0..N)
            .map(|x| [0, u64::MAX, 1 << 63][x % 3])
            .collect::<Vec<_>>(),
    );
    let ts_s_tz = TimestampSecondArray::from(opt((0..N as i64).map(|x| x * 86_399).collect()))
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

fn req(entity: &str) -> ReadRequest {
    ReadRequest {
        flow_name: "t".into(),
        entity: entity.into(),
        batch_size: 128,
        after: None,
        after_inclusive: false,
    }
}

async fn write(db: &std::path::Path, entity: &str, input: &RecordBatch) {
    let store = store_from_json(serde_json::json!({"type": "sqlite", "path": db}), false)
        .unwrap()
        .build();
    let target = WriteTarget {
        flow: "f".into(),
        entity: entity.into(),
        flow_name: format!("f_{entity}"),
        run_type: RunType::FullDrop,
        run_id: "r1".into(),
    };
    let mut w = store.open(&target).await.unwrap();
    w.begin(
        input.schema(),
        Publish {
            run_type: RunType::FullDrop,
            reload: false,
            evolve: false,
        },
    )
    .await
    .unwrap();
    w.write(input.slice(0, 100)).await.unwrap();
    w.write(input.slice(100, input.num_rows() - 100))
        .await
        .unwrap();
    let cp = Checkpoint {
        hygge_checkpoint: hygge_core::checkpoint::VERSION,
        run_id: "r1".into(),
        flow: "f".into(),
        entity: entity.into(),
        run_type: RunType::FullDrop,
        started_at: chrono::Utc::now(),
        published_at: chrono::Utc::now(),
        rows: input.num_rows() as u64,
        watermark: None,
        previous: vec![],
    };
    w.finish(&cp).await.unwrap();
}

async fn read(db: &std::path::Path, home: serde_json::Value, entity: &str) -> RecordBatch {
    let mut home = home;
    home["type"] = "sqlite".into();
    home["path"] = db.display().to_string().into();
    let home = home_from_json(home, false).unwrap().build();
    let (schema, stream) = home.read(&req(entity)).await.unwrap();
    let batches: Vec<RecordBatch> = stream.try_collect().await.unwrap();
    assert!(batches.iter().all(|b| b.num_rows() <= 128));
    concat_batches(&schema, &batches).unwrap()
}

fn assert_same(input: &RecordBatch, output: &RecordBatch, how: &str) {
    assert_eq!(output.num_rows(), input.num_rows(), "{how}");
    for (i, field) in input.schema().fields().iter().enumerate() {
        let got = output.schema().field(i).clone();
        assert_eq!(got.name(), field.name(), "{how}");
        assert_eq!(
            got.data_type(),
            field.data_type(),
            "{how}: type of `{}`",
            field.name()
        );
        assert_eq!(
            got.metadata(),
            field.metadata(),
            "{how}: metadata of `{}`",
            field.name()
        );
        let (a, b) = (input.column(i), output.column(i));
        if field.name() == "nan" {
            // NaN != NaN: compare bits.
            let (a, b) = (
                a.as_primitive::<Float64Type>(),
                b.as_primitive::<Float64Type>(),
            );
            for r in 0..a.len() {
                assert_eq!(a.is_null(r), b.is_null(r));
                assert_eq!(
                    a.value(r).to_bits(),
                    b.value(r).to_bits(),
                    "{how}: row {r} of nan"
                );
            }
            continue;
        }
        assert_eq!(
            a.as_ref(),
            b.as_ref(),
            "{how}: values of `{}`",
            field.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_parquet_type_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.sqlite");
    for (entity, input) in [("typed", all_types()), ("extra", extra_types())] {
        write(&db, entity, &input).await;
        let out = read(&db, serde_json::json!({"table": "{entity}"}), entity).await;
        assert_same(&input, &out, "table");
        let out = read(
            &db,
            serde_json::json!({"query": "SELECT * FROM {entity}"}),
            entity,
        )
        .await;
        assert_same(&input, &out, "query");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_hygge_did_not_write_is_typed_by_its_declared_types() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.sqlite");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE t (i INTEGER, r REAL, s VARCHAR(10), b BLOB, d DECIMAL(10,2), ok BOOLEAN); \
         INSERT INTO t VALUES (1, 1.5, 'a', x'00ff', 12.34, 1), (NULL, NULL, NULL, NULL, NULL, NULL), \
         (-5, 2, 'ü', x'', 7, 0); \
         CREATE TABLE bad (when_ DATETIME); INSERT INTO bad VALUES ('2024-01-01'); \
         CREATE TABLE inexact (d DECIMAL(10,2)); INSERT INTO inexact VALUES (1.234);",
    )
    .unwrap();
    let out = read(&db, serde_json::json!({"table": "t"}), "t").await;
    let types: Vec<DataType> = out
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        vec![
            DataType::Int64,
            DataType::Float64,
            DataType::Utf8,
            DataType::Binary,
            DataType::Decimal128(10, 2),
            DataType::Boolean
        ]
    );
    let d = out.column(4).as_primitive::<Decimal128Type>();
    assert_eq!((d.value(0), d.is_null(1), d.value(2)), (1234, true, 700));
    // An expression: typed by its values.
    let out = read(
        &db,
        serde_json::json!({"query": "SELECT count(*) AS n, 'x' || s AS s2 FROM t"}),
        "t",
    )
    .await;
    assert_eq!(out.schema().field(0).data_type(), &DataType::Int64);
    let home = |t: &str| {
        home_from_json(
            serde_json::json!({"type": "sqlite", "path": db, "table": t}),
            false,
        )
        .unwrap()
        .build()
    };
    let err = match home("bad").read(&req("bad")).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("DATETIME read"),
    };
    assert!(err.contains("when_") && err.contains("DATETIME"), "{err}");
    let (_, stream) = home("inexact").read(&req("inexact")).await.unwrap();
    let err = stream
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("`d`") && err.contains("1.234"), "{err}");
}

/// Appending rows of another type, or loading with `if_exists: fail` into an existing
/// table, fails naming the column or the table's existence; the table is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_column_type_or_if_exists_fail_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.sqlite");
    let ints = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)])),
        vec![Arc::new(Int64Array::from(
            (0..N as i64).collect::<Vec<_>>(),
        ))],
    )
    .unwrap();
    write(&db, "m", &ints).await;
    let texts = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, true)])),
        vec![Arc::new(StringArray::from(vec!["x"; N]))],
    )
    .unwrap();
    let schema = texts.schema();
    let open = |if_exists: &str| {
        let schema = schema.clone();
        let store = store_from_json(
            serde_json::json!({"type": "sqlite", "path": db, "if_exists": if_exists}),
            false,
        )
        .unwrap()
        .build();
        async move {
            let target = WriteTarget {
                flow: "f".into(),
                entity: "m".into(),
                flow_name: "f_m".into(),
                run_type: RunType::Incremental,
                run_id: "r2".into(),
            };
            let mut w = store.open(&target).await.unwrap();
            w.begin(
                schema,
                Publish {
                    run_type: RunType::Incremental,
                    reload: false,
                    evolve: false,
                },
            )
            .await
            .map(|_| w)
        }
    };
    let err = open("append")
        .await
        .err()
        .expect("a type change")
        .to_string();
    assert!(
        err.contains("`a`") && err.contains("Int64") && err.contains("Utf8"),
        "{err}"
    );
    let err = open("fail")
        .await
        .err()
        .expect("the table exists")
        .to_string();
    assert!(err.contains("if_exists: fail"), "{err}");
    let out = read(&db, serde_json::json!({"table": "m"}), "m").await;
    assert_eq!(out.column(0).as_ref(), ints.column(0).as_ref(), "unchanged");
}
