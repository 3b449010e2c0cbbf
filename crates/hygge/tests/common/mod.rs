//! Helpers for end-to-end tests: projects in temp dirs, the real `hygge` binary, Parquet I/O.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The binary under test.
pub fn hygge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hygge"));
    c.env_remove("RUST_LOG").env("NO_COLOR", "1");
    c
}

/// A project in a temp dir.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(hygge_yml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("hygge.yml"), hygge_yml).unwrap();
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn write(&self, rel: &str, text: &str) -> &Self {
        let p = self.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
        self
    }

    /// Runs `hygge <args>` in the project folder.
    pub fn run(&self, args: &[&str]) -> Output {
        hygge()
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap()
    }

    /// Runs `hygge go <args> --output json` and parses the report.
    pub fn go_json(&self, args: &[&str]) -> (Output, serde_json::Value) {
        let mut all = vec!["go", "--output", "json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "no JSON on stdout ({e}); stdout: {} stderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out, json)
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `id int64, name utf8` with ids `start..start+n`.
pub fn batch(start: i64, n: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let ids: Vec<i64> = (start..start + n as i64).collect();
    let names: Vec<Option<String>> = ids
        .iter()
        .map(|i| (i % 5 != 0).then(|| format!("name-{i}")))
        .collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids)) as ArrayRef,
            Arc::new(StringArray::from(names)) as ArrayRef,
        ],
    )
    .unwrap()
}

/// Writes batches to one Parquet file (folders created).
pub fn write_parquet(path: &Path, batches: &[RecordBatch]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batches[0].schema(), None).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

/// Every Parquet file below `dir`, sorted; hidden folders (`.hygge_journal`) are skipped,
/// as dataset readers skip them.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if p.is_dir() {
                out.extend(parquet_files(&p));
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Reads every Parquet file below `dir`.
pub fn read_parquet_dir(dir: &Path) -> Vec<RecordBatch> {
    parquet_files(dir)
        .iter()
        .flat_map(|p| {
            ParquetRecordBatchReaderBuilder::try_new(fs::File::open(p).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Sorted ids of `id int64` batches.
pub fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    let mut v: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("id")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    v.sort();
    v
}

/// The file every published entity folder holds beside its data.
pub const STATE_FILE: &str = ".hygge-state.json";

/// Names of the entries of a folder (sorted), empty if it does not exist, less the state
/// file every published entity folder holds (see [`state`]).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != STATE_FILE)
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The state file of a published entity folder.
pub fn state(dir: &Path) -> serde_json::Value {
    let text = fs::read_to_string(dir.join(STATE_FILE))
        .unwrap_or_else(|e| panic!("{}: no state file: {e}", dir.display()));
    serde_json::from_str(&text).unwrap()
}

/// A project with one parquet -> parquet flow `f` over entities `names`.
pub fn parquet_project(names: &[&str], store_extra: &str) -> Project {
    let p = Project::new("name: t\n");
    p.write(
        "flows/f/flow.yml",
        &format!(
            "home: data\nstore:\n  type: parquet\n  path: out\n{store_extra}entities:\n{}",
            names
                .iter()
                .map(|n| format!("  - {n}\n"))
                .collect::<String>()
        ),
    );
    p
}

/// A client of the Azurite container `container` at `url`, built as the `adls` store
/// builds its own (the emulator's key).
#[cfg(feature = "azure")]
pub fn azurite_client(url: &str, container: &str) -> Arc<dyn object_store::ObjectStore> {
    hygge_connectors::cloud::config::from_json::<hygge_connectors::cloud::AdlsStoreConfig>(
        serde_json::json!({"account_url": url, "filesystem": container}),
    )
    .unwrap()
    .validate(true)
    .unwrap()
    .location
    .build()
    .unwrap()
}

/// A client of the moto bucket `bucket` at `endpoint`, signed with `secret`.
#[cfg(feature = "s3")]
pub fn moto_client(
    bucket: &str,
    endpoint: &str,
    secret: &str,
) -> Arc<dyn object_store::ObjectStore> {
    hygge_connectors::cloud::config::from_json::<hygge_connectors::cloud::S3StoreConfig>(
        serde_json::json!({
            "bucket": bucket, "endpoint": endpoint, "region": "us-east-1",
            "access_key_id": hygge_testkit::cloud::S3_KEY_ID, "secret_access_key": secret,
        }),
    )
    .unwrap()
    .validate(true)
    .unwrap()
    .location
    .build()
    .unwrap()
}

/// `id` int64 and `updated` timestamp(ns, UTC) rows with ids `ids` (the cloud tests' data).
pub fn ts_batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "updated",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
    ]));
    let ts: Vec<i64> = ids.clone().map(|i| 1_700_000_000_000_000_000 + i).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.collect::<Vec<_>>())) as ArrayRef,
            Arc::new(TimestampNanosecondArray::from(ts).with_timezone("UTC")),
        ],
    )
    .unwrap()
}

/// stdout then stderr.
pub fn text(o: &std::process::Output) -> String {
    stdout(o) + &stderr(o)
}

/// An incremental flow of entity `t` from `data`, by watermark `updated`, into `store`.
pub fn incremental_flow(store: &str) -> String {
    format!(
        "home: data\n{store}run_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: updated\nentities: [t]\n"
    )
}
