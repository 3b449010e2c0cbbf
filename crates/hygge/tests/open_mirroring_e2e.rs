//! The `open_mirroring` store end to end through the binary, on Azurite with the landing
//! zone's OneLake-shaped paths (`<mirror>/Files/LandingZone/<table>/`): an original Open
//! Mirroring project (4 entities, key columns per entity, sequential and timestamp file
//! detection) through a full_drop, two incremental runs and a second full_drop, the landing
//! zone checked file by file after each; a process killed at each step of a publish (the
//! next run finishes it: every row once, the sequence contiguous); and the errors a user
//! meets (keys that change, a missing row_marker, a file hygge did not write).
#![cfg(feature = "azure")]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, Int32Array, TimestampMicrosecondArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use common::*;
use futures::TryStreamExt;
use hygge_testkit::cloud;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};

const MIRROR: &str = "0f1e2d3c-mirror";

/// Every object below `prefix`: relative name → bytes.
async fn objects(client: &Arc<dyn ObjectStore>, prefix: &str) -> BTreeMap<String, bytes::Bytes> {
    let metas: Vec<_> = (client.list(Some(&Key::from(prefix))).try_collect().await).unwrap();
    let mut out = BTreeMap::new();
    for m in metas {
        let rel = m.location.as_ref()[prefix.len() + 1..].to_string();
        let b = client
            .get(&m.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.insert(rel, b);
    }
    out
}

fn batches(b: &bytes::Bytes) -> Vec<RecordBatch> {
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(b.clone())
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A table folder as the format requires it: `_metadata.json` with `keys`, `_schema.json`,
/// data files named by `detection` and nothing else; every data file non-empty, its last
/// columns `__LastLoadedAt__` (UTC) and `__rowMarker__` = `marker`. Returns the ids in file
/// order and the data files' sequence numbers.
fn check_table(
    objs: &BTreeMap<String, bytes::Bytes>,
    keys: &[&str],
    sequential: bool,
    marker: i32,
    ctx: &str,
) -> (Vec<i64>, Vec<u64>) {
    let meta: serde_json::Value = serde_json::from_slice(
        objs.get("_metadata.json")
            .unwrap_or_else(|| panic!("{ctx}: no _metadata.json in {:?}", objs.keys())),
    )
    .unwrap();
    let mut want = serde_json::json!({"keyColumns": keys});
    if !sequential {
        want["fileDetectionStrategy"] = "LastUpdateTimeFileDetection".into();
    }
    if marker == 4 {
        want["isUpsertDefaultRowMarker"] = true.into();
    }
    assert_eq!(meta, want, "{ctx}: _metadata.json");
    let schema: serde_json::Value = serde_json::from_slice(&objs["_schema.json"]).unwrap();
    let cols: Vec<&str> = schema["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        ["id", "updated", "__LastLoadedAt__", "__rowMarker__"],
        "{ctx}"
    );
    let (mut ids_out, mut seqs) = (vec![], vec![]);
    for (name, b) in objs {
        if name.starts_with('_') {
            assert!(
                name == "_metadata.json" || name == "_schema.json",
                "{ctx}: {name} left in the table folder"
            );
            continue;
        }
        let stem = name
            .strip_suffix(".parquet")
            .unwrap_or_else(|| panic!("{ctx}: {name}"));
        let seq = if sequential {
            assert_eq!(stem.len(), 20, "{ctx}: {name} is not 20 digits");
            stem.parse::<u64>().unwrap()
        } else {
            let parts: Vec<&str> = stem.split('_').collect();
            assert_eq!(parts.len(), 4, "{ctx}: {name}");
            assert_eq!(
                (
                    parts[0].len(),
                    parts[1].len(),
                    parts[2].len(),
                    parts[3].len()
                ),
                (8, 6, 6, 6),
                "{ctx}: {name}"
            );
            parts[3].parse::<u64>().unwrap()
        };
        seqs.push(seq);
        let bs = batches(b);
        let rows: usize = bs.iter().map(|b| b.num_rows()).sum();
        assert!(rows > 0, "{ctx}: {name} is empty");
        for batch in &bs {
            let s = batch.schema();
            let n = s.fields().len();
            assert_eq!(s.field(n - 1).name(), "__rowMarker__", "{ctx}: {name}");
            assert_eq!(s.field(n - 2).name(), "__LastLoadedAt__", "{ctx}: {name}");
            assert_eq!(
                s.field(n - 2).data_type(),
                &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()))
            );
            let m = batch
                .column(n - 1)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap();
            assert!(m.iter().all(|v| v == Some(marker)), "{ctx}: {name} markers");
            let t = batch
                .column(n - 2)
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap();
            assert_eq!(t.null_count(), 0);
        }
        ids_out.extend(ids(&bs));
    }
    seqs.sort();
    (ids_out, seqs)
}

fn contiguous(seqs: &[u64], from: u64, ctx: &str) {
    let want: Vec<u64> = (from..from + seqs.len() as u64).collect();
    assert_eq!(
        seqs, want,
        "{ctx}: the sequence must be contiguous from {from}"
    );
}

fn project(url: &str, container: &str, extra: &str) -> Project {
    let p = Project::new("name: om\njournal:\n  location: store\n");
    let store = format!(
        "store:\n  type: open_mirroring\n  account_url: {url}\n  filesystem: {container}\n  mirror_name: {MIRROR}\n  credential: managed_identity\n  row_marker: 4\n  key_columns: id\n  batch_size: 40\n  folder_deletion_wait_seconds: 0\n{extra}"
    );
    p.write(
        "flows/seq/flow.yml",
        &format!(
            "home: data\n{store}  file_detection: sequential\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: updated\nentities:\n  - name: a\n  - name: b\n    store:\n      key_columns: [id, updated]\n"
        ),
    );
    p.write(
        "flows/ts/flow.yml",
        &format!(
            "home: data\n{store}  schema: sales\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: updated\nentities:\n  - name: c\n  - name: d\n    store:\n      key_columns: [updated]\n"
        ),
    );
    p
}

const TABLES: [(&str, &str, &[&str], bool); 4] = [
    ("a", "Files/LandingZone/a", &["id"], true),
    ("b", "Files/LandingZone/b", &["id", "updated"], true),
    ("c", "Files/LandingZone/sales.schema/c", &["id"], false),
    ("d", "Files/LandingZone/sales.schema/d", &["updated"], false),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_open_mirroring_project_rebuilds_appends_and_rebuilds_on_azurite() {
    let url = cloud::azurite_url();
    let container = cloud::unique_name("om");
    cloud::create_container(&url, &container).await;
    let client = azurite_client(&url, &container);
    let p = project(
        &url,
        &container,
        "  partner_name: hygge-tests\n  source_type: SQL\n",
    );
    for (e, ..) in TABLES {
        write_parquet(&p.join(&format!("data/{e}/a.parquet")), &[ts_batch(0..100)]);
    }
    // What each table should hold, and the files published so far.
    let mut want: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let steps: [(&str, std::ops::Range<i64>); 4] = [
        ("full_drop", 0..100),
        ("incremental", 100..150),
        ("incremental", 150..230),
        ("full_drop", 0..230),
    ];
    for (step, (kind, new)) in steps.iter().enumerate() {
        if step > 0 && *kind == "incremental" {
            for (e, ..) in TABLES {
                write_parquet(
                    &p.join(&format!("data/{e}/{step}.parquet")),
                    &[ts_batch(new.clone())],
                );
            }
        }
        let out = if *kind == "full_drop" {
            p.run(&["go", "--full-drop"])
        } else {
            p.run(&["go"])
        };
        let ctx = format!("step {step} ({kind})");
        assert!(out.status.success(), "{ctx}: {}", text(&out));
        for (e, dir, keys, sequential) in TABLES {
            let ctx = format!("{ctx}, table {e}");
            let objs = objects(&client, &format!("{MIRROR}/{dir}")).await;
            let (mut got, seqs) = check_table(&objs, keys, sequential, 4, &ctx);
            let w = want.entry(e).or_default();
            if *kind == "full_drop" {
                *w = new.clone().collect();
            } else {
                w.extend(new.clone());
            }
            got.sort();
            assert_eq!(&got, w, "{ctx}: every row once");
            contiguous(&seqs, 1, &ctx);
            let files = seqs.len();
            let rows = w.len();
            assert_eq!(
                files,
                match (*kind, step) {
                    ("full_drop", _) => rows.div_ceil(40),
                    (_, 1) => 3 + 2, // 100 rows in 3 files, then 50 in 2
                    _ => 3 + 2 + 2,  // then 80 in 2
                },
                "{ctx}: files of at most batch_size rows"
            );
        }
        // hygge's own objects: the state per table, nothing staged, no lock.
        let own = objects(&client, &format!("{MIRROR}/Files/_hygge")).await;
        let names: Vec<&String> = own.keys().collect();
        assert_eq!(
            names,
            [
                "a/state.json",
                "b/state.json",
                "sales.schema/c/state.json",
                "sales.schema/d/state.json"
            ],
            "{ctx}"
        );
        for b in own.values() {
            let st: serde_json::Value = serde_json::from_slice(b).unwrap();
            assert!(st["pending"].is_null(), "{ctx}: {st}");
        }
        let partner = objects(&client, &format!("{MIRROR}/Files/LandingZone")).await;
        let ev: serde_json::Value =
            serde_json::from_slice(&partner["_partnerEvents.json"]).unwrap();
        assert_eq!(
            ev,
            serde_json::json!({"partnerName": "hygge-tests", "sourceInfo": {"sourceType": "SQL"}})
        );
    }
}
