//! The cloud stores pass the store conformance suite on emulators: `adls` on Azurite and
//! `s3` on a moto server (both started by scripts/test.sh; a test fails, never skips, when
//! its emulator cannot be reached). Each test gets a container or bucket of its own. Also
//! what object storage adds: cleanup after a crashed run, foreign files, an expired lock,
//! multipart uploads, secrets kept out of errors.
#![cfg(all(feature = "azure", feature = "s3"))]

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::TryStreamExt;
use hygge_connectors::registry::{home_from_json, store_from_json};
use hygge_core::{Home, Publish, ReadRequest, RunType, Store, WriteTarget};
use hygge_testkit::cloud;
use hygge_testkit::conformance::{HomeHarness, StoreHarness};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

struct Cloud {
    config: serde_json::Value,
    client: Arc<dyn ObjectStore>,
    /// The folder holding the entities' folders.
    root: String,
}

impl Cloud {
    async fn azurite(format: &str) -> Self {
        let url = cloud::azurite_url();
        let container = cloud::unique_name("c");
        cloud::create_container(&url, &container).await;
        let config = serde_json::json!({
            "type": "adls",
            "account_url": url,
            "filesystem": container,
            "path": "lake/{entity}/",
            "format": format,
            "batch_size": 70,
        });
        Self::new(config)
    }

    async fn moto(format: &str) -> Self {
        let endpoint = cloud::s3_endpoint();
        let bucket = cloud::unique_name("b");
        cloud::create_bucket(&endpoint, &bucket).await;
        let config = serde_json::json!({
            "type": "s3",
            "bucket": bucket,
            "endpoint": endpoint,
            "region": "us-east-1",
            "access_key_id": cloud::S3_KEY_ID,
            "secret_access_key": cloud::S3_SECRET,
            "path": "lake/{entity}",
            "format": format,
            "batch_size": 70,
        });
        Self::new(config)
    }

    fn new(config: serde_json::Value) -> Self {
        // The harness looks at the container through a client of the same location.
        let mut c = config.as_object().unwrap().clone();
        let root = c["path"].as_str().unwrap().replace("/{entity}", "");
        let root = root.trim_end_matches('/').to_string();
        let client =
            match c.remove("type").unwrap().as_str().unwrap() {
                "adls" => hygge_connectors::cloud::config::from_json::<
                    hygge_connectors::cloud::AdlsStoreConfig,
                >(serde_json::Value::Object(c))
                .unwrap()
                .validate(true)
                .unwrap(),
                "gcs" => hygge_connectors::cloud::config::from_json::<
                    hygge_connectors::cloud::GcsStoreConfig,
                >(serde_json::Value::Object(c))
                .unwrap()
                .validate(true)
                .unwrap(),
                _ => hygge_connectors::cloud::config::from_json::<
                    hygge_connectors::cloud::S3StoreConfig,
                >(serde_json::Value::Object(c))
                .unwrap()
                .validate(true)
                .unwrap(),
            }
            .location
            .build()
            .unwrap();
        Cloud {
            config,
            client,
            root,
        }
    }

    fn with(&self, key: &str, v: serde_json::Value) -> serde_json::Value {
        let mut c = self.config.clone();
        c.as_object_mut().unwrap().insert(key.into(), v);
        c
    }

    /// Names below the entity's folder.
    async fn names(&self, entity: &str) -> Vec<String> {
        let prefix = format!("{}/{entity}", self.root);
        self.client
            .list(Some(&Key::from(prefix.as_str())))
            .map_ok(|m| m.location.as_ref()[prefix.len() + 1..].to_string())
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    }

    async fn put(&self, key: &str, body: &'static [u8]) {
        self.client
            .put(&Key::from(key), PutPayload::from_static(body))
            .await
            .unwrap();
    }
}

fn read_file(bytes: Bytes, format: &str) -> Vec<RecordBatch> {
    match format {
        "parquet" => parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap(),
        "ndjson" => arrow::json::ReaderBuilder::new(hygge_testkit::schema())
            .build(std::io::Cursor::new(bytes))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap(),
        other => panic!("{other}"),
    }
}

#[async_trait::async_trait]
impl StoreHarness for Cloud {
    async fn store(&self) -> Arc<dyn Store> {
        store_from_json(self.config.clone(), true).unwrap().build()
    }

    /// What a reader that lists the folder sees (skipping `_` names, as Spark does).
    async fn published(&self, entity: &str) -> Vec<RecordBatch> {
        let format = self.config["format"].as_str().unwrap().to_string();
        let mut out = vec![];
        for n in self.names(entity).await {
            if n.starts_with('_') {
                continue;
            }
            let key = Key::from(format!("{}/{entity}/{n}", self.root));
            let bytes = self.client.get(&key).await.unwrap().bytes().await.unwrap();
            out.extend(read_file(bytes, &format));
        }
        out
    }

    /// hygge's objects other than the committed state: staging files and the lock.
    async fn leftovers(&self, entity: &str) -> Vec<String> {
        self.names(entity)
            .await
            .into_iter()
            .filter(|n| n.starts_with("_hygge/") && n != "_hygge/state.json")
            .collect()
    }
}

mod adls_parquet {
    use super::*;
    hygge_testkit::store_conformance!(Cloud::azurite("parquet").await);
}

// The cloud homes read what the cloud stores publish (by the folder's state) and what
// others put there (by listing): the home suite on both emulators and every format.
#[async_trait::async_trait]
impl HomeHarness for Cloud {
    async fn home(&self) -> Arc<dyn Home> {
        home_from_json(self.config.clone(), true).unwrap().build()
    }

    async fn seed(&self, entity: &str, ids: std::ops::Range<i64>) {
        load(self, entity, RunType::FullDrop, "seed", ids).await;
    }

    fn encoded(&self) -> Option<&'static str> {
        (self.config["format"] == "parquet").then_some("parquet")
    }
}

mod adls_parquet_home {
    use super::*;
    hygge_testkit::home_conformance!(Cloud::azurite("parquet").await);
}

mod adls_csv_home {
    use super::*;
    hygge_testkit::home_conformance!(Cloud::azurite("csv").await);
}

mod s3_parquet_home {
    use super::*;
    hygge_testkit::home_conformance!(Cloud::moto("parquet").await);
}

mod s3_ndjson_home {
    use super::*;
    hygge_testkit::home_conformance!(Cloud::moto("ndjson").await);
}

mod adls_ndjson {
    use super::*;
    hygge_testkit::store_conformance!(Cloud::azurite("ndjson").await);
}

mod s3_parquet {
    use super::*;
    hygge_testkit::store_conformance!(Cloud::moto("parquet").await);
}

fn target(entity: &str, run_type: RunType, run: &str) -> WriteTarget {
    WriteTarget {
        flow: "f".into(),
        entity: entity.into(),
        flow_name: format!("f_{entity}"),
        run_type,
        run_id: run.into(),
    }
}

async fn load(h: &Cloud, entity: &str, run_type: RunType, run: &str, ids: std::ops::Range<i64>) {
    let store = h.store().await;
    let mut w = store.open(&target(entity, run_type, run)).await.unwrap();
    w.begin(
        hygge_testkit::schema(),
        Publish {
            run_type,
            reload: false,
            evolve: false,
        },
    )
    .await
    .unwrap();
    w.write(hygge_testkit::batch(
        ids.start,
        (ids.end - ids.start) as usize,
    ))
    .await
    .unwrap();
    let rows = w.staged_rows();
    w.finish(&hygge_testkit::conformance::checkpoint(
        entity, run_type, 1, rows,
    ))
    .await
    .unwrap();
}

async fn assert_rows(h: &Cloud, entity: &str, ids: std::ops::Range<i64>, why: &str) {
    assert_eq!(
        hygge_testkit::rows(&h.published(entity).await),
        hygge_testkit::expected_rows(ids),
        "{why}"
    );
}

/// `polish` on a cloud store: every file holds the polished rows (names rewritten, a
/// constant appended), on both emulators.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polish_is_applied_to_every_file() {
    for mut h in [
        Cloud::azurite("parquet").await,
        Cloud::moto("parquet").await,
    ] {
        h.config["polish"] = serde_json::json!({
            "columns": {"case": "pascal"},
            "constants": [{"name": "__rowMarker__", "value": 4}],
        });
        load(&h, "e", RunType::FullDrop, "r1", 0..150).await;
        let files = h.published("e").await;
        assert!(files.len() >= 3, "70 rows per file");
        for b in &files {
            let schema = b.schema();
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            assert_eq!(names, ["Id", "Name", "__rowMarker__"]);
        }
        let ids: Vec<i64> = files
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(ids, (0..150).collect::<Vec<_>>());
    }
}

/// A run that died after copying some of its files but before its commit: the next run
/// removes those copies and the staging (the state never listed them), then publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_runs_copies_and_staging_are_removed_by_the_next_run() {
    for h in [
        Cloud::azurite("parquet").await,
        Cloud::moto("parquet").await,
    ] {
        load(&h, "e", RunType::FullDrop, "r1", 0..50).await;
        // What the crashed run left: a staged file, its copy in the folder, a lock.
        let names = h.names("e").await;
        let data = names.iter().find(|n| !n.starts_with('_')).unwrap().clone();
        let body = h
            .client
            .get(&Key::from(format!("lake/e/{data}")))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let crashed = "00000000000000000099.parquet";
        for key in [
            format!("lake/e/_hygge/staging/dead/{crashed}"),
            format!("lake/e/{crashed}"),
        ] {
            h.client
                .put(&Key::from(key), PutPayload::from(body.clone()))
                .await
                .unwrap();
        }
        assert_eq!(
            hygge_testkit::rows(&h.published("e").await).len(),
            100,
            "a lister sees the uncommitted copy (the documented window)"
        );
        let store = h.store().await;
        let w = store
            .open(&target("e", RunType::Incremental, "r2"))
            .await
            .unwrap();
        w.abort().await;
        assert_rows(&h, "e", 0..50, "the copy is gone, the old data stays").await;
        assert!(
            h.leftovers("e").await.is_empty(),
            "{:?}",
            h.leftovers("e").await
        );
    }
}

/// A folder holding a file hygge did not write is refused (a run replaces the folder),
/// naming the file; a file named as the pattern names files is taken as hygge's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_files_are_refused() {
    let h = Cloud::azurite("parquet").await;
    h.put("lake/f/notes.txt", b"mine").await;
    let store = h.store().await;
    let err = match store.open(&target("f", RunType::FullDrop, "r1")).await {
        Ok(_) => panic!("a folder with a foreign file was taken"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("notes.txt") && err.contains("did not write"),
        "{err}"
    );
    assert!(h.leftovers("f").await.is_empty(), "the lock was released");
}

/// A lock whose lease expired (its run died without releasing it) is taken over; a live
/// one is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lock_is_taken_over() {
    let h = Cloud::moto("parquet").await;
    h.put(
        "lake/g/_hygge/lock.json",
        br#"{"run_id":"dead","host":"h","pid":1,"expires_at":"2020-01-01T00:00:00Z"}"#,
    )
    .await;
    load(&h, "g", RunType::FullDrop, "r1", 0..10).await;
    assert_rows(&h, "g", 0..10, "published after taking the lock over").await;
    h.put(
        "lake/g/_hygge/lock.json",
        br#"{"run_id":"alive","host":"h","pid":1,"expires_at":"2999-01-01T00:00:00Z"}"#,
    )
    .await;
    let store = h.store().await;
    let err = match store.open(&target("g", RunType::FullDrop, "r2")).await {
        Ok(_) => panic!("a live lock was ignored"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("another hygge run (alive"), "{err}");
}

/// Files larger than a part go up in parts (multipart) and arrive whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_files_are_uploaded_in_parts() {
    for h in [Cloud::azurite("ndjson").await, Cloud::moto("ndjson").await] {
        let config = h.with("batch_size", serde_json::json!(1_000_000));
        let store = store_from_json(config, true).unwrap().build();
        let mut w = store
            .open(&target("big", RunType::FullDrop, "r1"))
            .await
            .unwrap();
        w.begin(
            hygge_testkit::schema(),
            Publish {
                run_type: RunType::FullDrop,
                reload: false,
                evolve: false,
            },
        )
        .await
        .unwrap();
        // ~30 bytes a row: 400,000 rows make a file of about 12 MiB (two parts).
        for start in (0..400_000).step_by(50_000) {
            w.write(hygge_testkit::batch(start, 50_000)).await.unwrap();
        }
        let rows = w.staged_rows();
        let report = w
            .finish(&hygge_testkit::conformance::checkpoint(
                "big",
                RunType::FullDrop,
                1,
                rows,
            ))
            .await
            .unwrap();
        assert!(report.bytes > 8 * 1024 * 1024, "{}", report.bytes);
        assert_rows(&h, "big", 0..400_000, "every row of the multipart file").await;
    }
}

/// Errors name the account, container and key, never a secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_place_and_never_a_secret() {
    let h = Cloud::azurite("parquet").await;
    let config = h.with(
        "storage_account_key",
        serde_json::json!("V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk="),
    );
    let mut config = config;
    config["credential"] = serde_json::json!("storage_key");
    let store = store_from_json(config, true).unwrap().build();
    let err = match store.open(&target("s", RunType::FullDrop, "r1")).await {
        Ok(_) => panic!("a wrong key was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        !err.contains("V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk="),
        "{err}"
    );
    assert!(
        err.contains("devstoreaccount1") && err.contains("lake/s"),
        "{err}"
    );
}

/// GCS has no emulator that speaks object_store's XML API here: the suite runs against a
/// real bucket where `HYGGE_TEST_GCS_BUCKET` (and Google credentials:
/// `GOOGLE_APPLICATION_CREDENTIALS`, or `HYGGE_TEST_GCS_KEY_FILE`) are set. scripts/test.sh
/// runs it then, and says SKIPPED otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real GCS bucket: HYGGE_TEST_GCS_BUCKET"]
#[cfg(feature = "gcs")]
async fn gcs_live_store_conformance() {
    let bucket = std::env::var("HYGGE_TEST_GCS_BUCKET")
        .expect("HYGGE_TEST_GCS_BUCKET: the bucket of the live GCS test");
    let mut config = serde_json::json!({
        "type": "gcs",
        "bucket": bucket,
        "path": format!("hygge-test/{}/{{entity}}", cloud::unique_name("r")),
        "format": "parquet",
        "batch_size": 70,
    });
    if let Ok(f) = std::env::var("HYGGE_TEST_GCS_KEY_FILE") {
        config["credentials"] = serde_json::json!(f);
    }
    hygge_testkit::conformance::run_store_conformance(&Cloud::new(config)).await;
}

/// The home suite's cases, one after the other, on one harness (the live tests).
async fn run_home_cases(h: &Cloud) {
    use hygge_testkit::conformance::home_cases::*;
    every_row_once_in_batches_of_at_most_batch_size(h).await;
    a_missing_entity_fails_naming_it(h).await;
    check_accepts_a_present_entity(h).await;
    a_stream_dropped_midway_leaves_the_home_readable(h).await;
    no_row_past_the_watermark_is_missing(h).await;
    encoded_chunks_hold_the_rows_read_gives(h).await;
}

/// The store and home suites against a real S3 bucket, where `HYGGE_TEST_S3_LIVE_BUCKET`
/// is set (credentials: AWS's standard chain; `AWS_REGION`). `scripts/test.sh` runs it
/// then, and says SKIPPED otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs HYGGE_TEST_S3_LIVE_BUCKET and AWS credentials"]
async fn s3_live_store_and_home_conformance() {
    let bucket = std::env::var("HYGGE_TEST_S3_LIVE_BUCKET")
        .expect("HYGGE_TEST_S3_LIVE_BUCKET: the bucket of the live S3 test");
    let h = Cloud::new(serde_json::json!({
        "type": "s3",
        "bucket": bucket,
        "path": format!("hygge-test/{}/{{entity}}", cloud::unique_name("r")),
        "format": "parquet",
        "batch_size": 70,
    }));
    hygge_testkit::conformance::run_store_conformance(&h).await;
    run_home_cases(&h).await;
}

/// The store and home suites against a real Azure Storage account, where
/// `HYGGE_TEST_AZURE_ACCOUNT_URL` and `HYGGE_TEST_AZURE_CONTAINER` are set (credential:
/// `default`, the environment's chain; or the account key in `HYGGE_TEST_AZURE_KEY`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs HYGGE_TEST_AZURE_ACCOUNT_URL, HYGGE_TEST_AZURE_CONTAINER and Azure credentials"]
async fn azure_live_store_and_home_conformance() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is needed"));
    let mut config = serde_json::json!({
        "type": "adls",
        "account_url": var("HYGGE_TEST_AZURE_ACCOUNT_URL"),
        "filesystem": var("HYGGE_TEST_AZURE_CONTAINER"),
        "credential": "default",
        "path": format!("hygge-test/{}/{{entity}}", cloud::unique_name("r")),
        "format": "parquet",
        "batch_size": 70,
    });
    if let Ok(key) = std::env::var("HYGGE_TEST_AZURE_KEY") {
        config["credential"] = "storage_key".into();
        config["storage_account_key"] = key.into();
    }
    let h = Cloud::new(config);
    hygge_testkit::conformance::run_store_conformance(&h).await;
    run_home_cases(&h).await;
}

/// A Parquet file of `ids` (rows of `hygge_testkit::batch`), in row groups of `group` rows.
fn parquet_bytes(ids: std::ops::Range<i64>, group: usize) -> Bytes {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let mut out = Vec::new();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(&mut out, hygge_testkit::schema(), Some(props))
            .unwrap();
    w.write(&hygge_testkit::batch(
        ids.start,
        (ids.end - ids.start) as usize,
    ))
    .unwrap();
    w.close().unwrap();
    Bytes::from(out)
}

async fn read_all(home: &Arc<dyn Home>, entity: &str, batch_size: usize) -> Vec<i64> {
    use futures::StreamExt;
    let req = ReadRequest {
        flow_name: "t".into(),
        entity: entity.into(),
        batch_size,
        after: None,
        after_inclusive: false,
    };
    let (_, stream) = home.read(&req).await.unwrap();
    let batches: Vec<RecordBatch> = stream.map(|b| b.unwrap()).collect().await;
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("id")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    ids.sort_unstable();
    ids
}

impl Cloud {
    async fn put_bytes(&self, key: &str, bytes: Bytes) {
        self.client
            .put(&Key::from(key), PutPayload::from(bytes))
            .await
            .unwrap();
    }
}

/// Files another tool wrote: every data file below the folder, in sub-folders too, but
/// none in `_` or `.` folders or of another format; a file with many row groups is read
/// by ranges (each row group once), decoded and copied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_home_lists_what_others_wrote() {
    for h in [
        Cloud::azurite("parquet").await,
        Cloud::moto("parquet").await,
    ] {
        let root = &h.root;
        h.put_bytes(
            &format!("{root}/e/part-0.parquet"),
            parquet_bytes(0..5_000, 700),
        )
        .await;
        h.put_bytes(
            &format!("{root}/e/day=2/part-1.PARQUET"),
            parquet_bytes(5_000..5_100, 64),
        )
        .await;
        h.put_bytes(&format!("{root}/e/_tmp/x.parquet"), parquet_bytes(0..10, 5))
            .await;
        h.put_bytes(&format!("{root}/e/.x.parquet"), parquet_bytes(0..10, 5))
            .await;
        h.put(&format!("{root}/e/notes.txt"), b"not data").await;
        let home = h.home().await;
        assert_eq!(
            read_all(&home, "e", 999).await,
            (0..5_100).collect::<Vec<_>>()
        );
        // The row-group copy reads the same rows, a row group per chunk.
        let req = ReadRequest {
            flow_name: "t".into(),
            entity: "e".into(),
            batch_size: 1000,
            after: None,
            after_inclusive: false,
        };
        let (_, chunks) = home.read_encoded(&req, "parquet").await.unwrap().unwrap();
        let chunks: Vec<_> = chunks.try_collect().await.unwrap();
        assert_eq!(chunks.len(), 8 + 2, "one chunk per row group");
        assert_eq!(chunks.iter().map(|c| c.rows).sum::<u64>(), 5_100);
        // A single object, by its name or with the format's extension.
        h.put_bytes(&format!("{root}/one.parquet"), parquet_bytes(0..3, 3))
            .await;
        assert_eq!(read_all(&home, "one", 10).await, vec![0, 1, 2]);
    }
}

/// A folder a hygge cloud store published is read by its state: a copy of a run that
/// never committed (or any other file dropped there) is not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_home_reads_what_the_state_commits() {
    let h = Cloud::moto("parquet").await;
    load(&h, "c", RunType::FullDrop, "r1", 0..300).await;
    h.put_bytes(
        &format!("{}/c/99999999999999999999.parquet", h.root),
        parquet_bytes(1_000..1_100, 50),
    )
    .await;
    let home = h.home().await;
    assert_eq!(
        read_all(&home, "c", 100).await,
        (0..300).collect::<Vec<_>>()
    );
    // A committed file deleted by hand: an error naming it, never a silent partial read.
    let committed = h
        .names("c")
        .await
        .into_iter()
        .find(|n| !n.starts_with('_') && !n.starts_with("9999"))
        .unwrap();
    h.client
        .delete(&Key::from(format!("{}/c/{committed}", h.root)))
        .await
        .unwrap();
    let err = home.check("c").await.unwrap_err().to_string();
    assert!(err.contains(&committed) && err.contains("missing"), "{err}");
}

/// A glob `path` reads the keys it matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_glob_path_reads_the_keys_it_matches() {
    let h = Cloud::azurite("parquet").await;
    let root = &h.root;
    for (day, ids) in [(1, 0..10), (2, 10..20), (3, 20..30)] {
        h.put_bytes(
            &format!("{root}/g/day={day}/a.parquet"),
            parquet_bytes(ids, 4),
        )
        .await;
    }
    let home = home_from_json(
        h.with(
            "path",
            serde_json::json!(format!("{root}/{{entity}}/day=[12]/*.parquet")),
        )
        .clone(),
        true,
    );
    // `[` is not a glob character here: nothing matches, and the error says where.
    let err = match home {
        Ok(home) => match home.build().check("g").await {
            Err(e) => e.to_string(),
            Ok(()) => panic!("day=[12] matched"),
        },
        Err(e) => e,
    };
    assert!(
        err.contains("holds no parquet files") || err.contains("does not exist"),
        "{err}"
    );
    let home = home_from_json(
        h.with(
            "path",
            serde_json::json!(format!("{root}/{{entity}}/day=?/*.parquet")),
        ),
        true,
    )
    .unwrap()
    .build();
    assert_eq!(read_all(&home, "g", 100).await, (0..30).collect::<Vec<_>>());
    let home = home_from_json(
        h.with(
            "path",
            serde_json::json!(format!("{root}/**/day=2/*.parquet")),
        ),
        true,
    )
    .unwrap()
    .build();
    assert_eq!(
        read_all(&home, "anything", 100).await,
        (10..20).collect::<Vec<_>>()
    );
}

/// A damaged object fails the read naming its URL; a wrong key fails naming the container
/// and never the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_home_names_what_it_cannot_read_and_never_a_secret() {
    let h = Cloud::azurite("parquet").await;
    h.put(&format!("{}/bad/x.parquet", h.root), b"PAR1 not really")
        .await;
    let home = h.home().await;
    let err = home.check("bad").await.unwrap_err().to_string();
    assert!(err.contains("bad/x.parquet"), "{err}");
    let wrong = "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXkgd3Jvbmcga2V5IHdyb25nIGtleQ==";
    let home = home_from_json(
        h.with("credential", "storage_key".into())
            .as_object()
            .map(|m| {
                let mut m = m.clone();
                m.insert("storage_account_key".into(), wrong.into());
                serde_json::Value::Object(m)
            })
            .unwrap(),
        true,
    )
    .unwrap()
    .build();
    let err = home.check("bad").await.unwrap_err().to_string();
    assert!(!err.contains(wrong), "{err}");
    assert!(err.contains("devstoreaccount1"), "names the account: {err}");
}
