//! The journal on object storage, beside a cloud store's data (`journal: {location:
//! store}`): `<folder above the entity folders>/.hygge_journal/journal.parquet` in the
//! store's container, appended with conditional puts. Through the binary on Azurite (an
//! original-style `adls` project) and moto (`s3`): incremental runs read their start back
//! from it, `hygge journal` shows it, a damaged object stops the run naming it. Directly:
//! concurrent appenders lose nothing, rotation into archive objects, an interrupted
//! rotation finished by the next append. A test fails, never skips, when its emulator
//! cannot be reached.
#![cfg(all(feature = "azure", feature = "s3"))]

mod common;

use std::sync::{Arc, Barrier};

use arrow::record_batch::RecordBatch;
use common::*;
use hygge::journal::{Journal, JournalEntry};
use hygge_connectors::versioned::VersionedFolder;
use hygge_testkit::cloud;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// The bytes of `key`, or `None`.
async fn object(client: &Arc<dyn ObjectStore>, key: &str) -> Option<bytes::Bytes> {
    match client.get(&Key::from(key)).await {
        Ok(g) => Some(g.bytes().await.unwrap()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("{key}: {e}"),
    }
}

/// The rows of a journal object, read as any Parquet reader would: (status, row_count,
/// watermark) per run.
fn journal_rows(bytes: bytes::Bytes) -> Vec<(String, i64, Option<String>)> {
    use arrow::array::{Array, AsArray};
    let batches: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let mut out = vec![];
    for b in batches {
        let status = b.column_by_name("status").unwrap().as_string::<i32>();
        let rows = b
            .column_by_name("row_count")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        let wm = b.column_by_name("watermark").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            out.push((
                status.value(i).to_string(),
                rows.value(i),
                wm.is_valid(i).then(|| wm.value(i).to_string()),
            ));
        }
    }
    out
}

fn rows_written(report: &serde_json::Value) -> u64 {
    report["report"]["flows"][0]["rows_written"]
        .as_u64()
        .unwrap_or_else(|| panic!("{report}"))
}

/// An original hygge project writing to ADLS (Azurite, by its `account_url`), incremental
/// by watermark, with its journal beside the data (`location: store`): the journal is
/// `raw/.hygge_journal/journal.parquet` in the container (nothing local), the second run
/// starts where the journal says and loads only the new rows, `hygge journal` shows both
/// runs, and the object is a Parquet file any reader reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adls_project_keeps_its_journal_beside_the_data_and_starts_from_it() {
    let url = cloud::azurite_url();
    let container = cloud::unique_name("j");
    cloud::create_container(&url, &container).await;
    let store = format!(
        "store:\n  type: adls\n  account_url: {url}\n  filesystem: {container}\n  path: raw/{{entity}}/\n  credential: managed_identity\n"
    );
    let p = Project::new("name: cloud\njournal:\n  location: store\n");
    p.write("flows/f/flow.yml", &incremental_flow(&store));
    let client = azurite_client(&url, &container);
    let journal_key = "raw/.hygge_journal/journal.parquet";
    let journal_url = format!("{url}/{container}/{journal_key}");

    let plan = p.run(&["go", "--dry-run", "-v"]);
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(text(&plan).contains(&journal_url), "{}", text(&plan));

    write_parquet(&p.join("data/t/a.parquet"), &[ts_batch(0..100)]);
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rows_written(&report), 100);
    assert!(
        object(&client, journal_key).await.is_some(),
        "no journal object"
    );
    assert!(
        !p.join(".hygge_journal").exists() && !p.join("raw").exists(),
        "nothing local"
    );

    // The start comes from the cloud journal (the dry run reads no checkpoint).
    let plan = p.run(&["go", "--dry-run"]);
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(
        text(&plan).contains("rows with updated >= 2023-11-14"),
        "{}",
        text(&plan)
    );

    write_parquet(&p.join("data/t/b.parquet"), &[ts_batch(100..150)]);
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rows_written(&report), 50, "only the new rows: {report}");

    let rows = journal_rows(object(&client, journal_key).await.unwrap());
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("success", 100));
    assert_eq!((rows[1].0.as_str(), rows[1].1), ("success", 50));
    assert!(rows.iter().all(|r| r.2.is_some()), "{rows:?}");

    let view = p.run(&["journal"]);
    assert!(view.status.success(), "{}", text(&view));
    let shown = stdout(&view);
    let lines: Vec<&str> = shown.lines().filter(|l| l.starts_with("f_t ")).collect();
    assert_eq!(lines.len(), 2, "{}", text(&view));
    assert!(
        lines[0].contains(" 50 ") && lines[1].contains(" 100 "),
        "{lines:?}"
    );

    // The entity folder holds the data and hygge's state only: the journal is not in it.
    let listed: Vec<_> =
        futures::TryStreamExt::try_collect::<Vec<_>>(client.list(Some(&Key::from("raw/t"))))
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.location.to_string())
            .collect();
    assert!(
        listed.iter().all(|k| !k.contains("hygge_journal")),
        "{listed:?}"
    );
}

/// The same on moto S3, the journal named by a flow's `journal:`; the secret key shows in
/// no output, and a damaged journal object stops the run (and `hygge journal`) with an
/// error naming it, never as an empty journal (which would reload everything).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_journal_is_read_back_and_a_damaged_one_stops_the_run_naming_it() {
    let endpoint = cloud::s3_endpoint();
    let bucket = cloud::unique_name("j");
    cloud::create_bucket(&endpoint, &bucket).await;
    let secret = "s3cr3t-journal-K3y-must-not-show";
    let store = format!(
        "store:\n  type: s3\n  bucket: {bucket}\n  endpoint: {endpoint}\n  region: us-east-1\n  access_key_id: {}\n  secret_access_key: ${{TEST_S3_SECRET}}\n  path: lake/{{entity}}\n",
        cloud::S3_KEY_ID
    );
    let p = Project::new("name: cloud\n");
    p.write(
        "flows/f/flow.yml",
        &(incremental_flow(&store) + "journal:\n  location: store\n"),
    );
    let client = moto_client(&bucket, &endpoint, secret);
    let run = |args: &[&str]| {
        hygge()
            .args(args)
            .current_dir(p.path())
            .env("TEST_S3_SECRET", secret)
            .output()
            .unwrap()
    };
    let journal_key = "lake/.hygge_journal/journal.parquet";

    write_parquet(&p.join("data/t/a.parquet"), &[ts_batch(0..30)]);
    let out = run(&["go", "-v"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(secret), "{}", text(&out));
    write_parquet(&p.join("data/t/b.parquet"), &[ts_batch(30..45)]);
    let plan = run(&["go", "--dry-run"]);
    assert!(
        text(&plan).contains("rows with updated >= 2023-11-14"),
        "{}",
        text(&plan)
    );
    let out = run(&["go", "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows_written(&report), 15, "{report}");
    let rows = journal_rows(object(&client, journal_key).await.unwrap());
    assert_eq!(
        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        vec![30, 15],
        "{rows:?}"
    );
    let view = run(&["journal"]);
    assert!(view.status.success(), "{}", text(&view));
    assert_eq!(
        stdout(&view)
            .lines()
            .filter(|l| l.starts_with("f_t "))
            .count(),
        2,
        "{}",
        text(&view)
    );

    // Damaged: cut in half.
    let bytes = object(&client, journal_key).await.unwrap();
    let half = bytes.slice(..bytes.len() / 2);
    client
        .put(&Key::from(journal_key), PutPayload::from(half.clone()))
        .await
        .unwrap();
    let named = format!("s3://{bucket}/{journal_key}");
    for args in [&["go"][..], &["journal"][..]] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        let t = text(&out);
        assert!(t.contains(&named), "{args:?}: {t}");
        assert!(t.contains("will not treat it as empty"), "{args:?}: {t}");
        assert!(!t.contains(secret), "{t}");
    }
    assert_eq!(
        object(&client, journal_key).await.unwrap(),
        half,
        "the damaged journal is left as it was"
    );
}

fn entry(id: &str, entity: &str) -> JournalEntry {
    JournalEntry {
        entity_run_id: id.to_string(),
        coordinator_run_id: "c".into(),
        flow_run_id: "f".into(),
        coordinator: "project".into(),
        flow: "f".into(),
        entity: entity.into(),
        start_time: "2024-01-01T00:00:00+00:00".into(),
        finish_time: format!("2024-01-01T00:00:00.{id}+00:00"),
        status: "success".into(),
        run_type: "incremental".into(),
        row_count: 1,
        duration: 0.5,
        primary_key: Some("id".into()),
        watermark_column: Some("updated".into()),
        watermark_type: Some("int".into()),
        watermark: Some(id.into()),
        message: None,
        schema_version: "1.0".into(),
        source_row_count: Some(1),
        destination_row_count: Some(1),
        bytes: None,
        watermark_arrow_type: Some("Int64".into()),
        watermark_exact: Some(id.into()),
        watermark_boundary_keys: None,
        arrow_schema: None,
    }
}

/// The journal folder of an `adls` store on Azurite, in a fresh container.
async fn azurite_folder() -> Arc<dyn VersionedFolder> {
    let url = cloud::azurite_url();
    let container = cloud::unique_name("c");
    cloud::create_container(&url, &container).await;
    hygge_connectors::registry::store_from_json(
        serde_json::json!({"type": "adls", "account_url": url, "filesystem": container, "path": "raw/{entity}"}),
        true,
    )
    .unwrap()
    .journal_folder()
    .expect("a cloud store keeps a journal")
}

/// The journal folder of an `s3` store on moto, in a fresh bucket.
async fn moto_folder() -> Arc<dyn VersionedFolder> {
    let endpoint = cloud::s3_endpoint();
    let bucket = cloud::unique_name("c");
    cloud::create_bucket(&endpoint, &bucket).await;
    hygge_connectors::registry::store_from_json(
        serde_json::json!({"type": "s3", "bucket": bucket, "endpoint": endpoint, "region": "us-east-1",
            "access_key_id": cloud::S3_KEY_ID, "secret_access_key": cloud::S3_SECRET, "path": "raw/{entity}"}),
        true,
    )
    .unwrap()
    .journal_folder()
    .expect("a cloud store keeps a journal")
}

/// Appenders on threads, released together each round so they race for the same
/// version: every entry is there once, and some appends had to retry.
fn concurrent_appends(journal: Journal, threads: usize, rounds: usize) -> Vec<JournalEntry> {
    let before = hygge::journal::object_conflicts();
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (j, barrier) = (journal.clone(), barrier.clone());
            std::thread::spawn(move || {
                for r in 0..rounds {
                    barrier.wait();
                    j.append(&[entry(&format!("{t}{r:03}"), &format!("e{t}"))])
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(
        hygge::journal::object_conflicts() > before,
        "no append had to retry: the test raced nothing"
    );
    let mut got: Vec<String> = journal
        .read_all()
        .unwrap()
        .into_iter()
        .map(|e| e.entity_run_id)
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..threads)
        .flat_map(|t| (0..rounds).map(move |r| format!("{t}{r:03}")))
        .collect();
    want.sort();
    assert_eq!(got, want, "every entry exactly once");
    journal.read_all().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_on_azurite_lose_no_entry() {
    let journal = Journal::in_objects(azurite_folder().await);
    tokio::task::spawn_blocking(move || concurrent_appends(journal, 4, 8))
        .await
        .unwrap();
}

/// On moto (whose check of `If-Match` and write are not one atomic step under concurrent
/// requests, so racing threads there can test the emulator rather than hygge), the race is
/// made deterministic: another appender writes between this append's read and its put. The
/// put conflicts, the append reads again and retries, and both entries are kept; a stale
/// version and a second create are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_that_loses_the_race_on_moto_reads_again_and_loses_nothing() {
    /// Lets another appender write just before the first put of `journal.parquet`.
    #[derive(Debug)]
    struct Interloper {
        inner: Arc<dyn VersionedFolder>,
        fired: std::sync::atomic::AtomicBool,
    }
    impl VersionedFolder for Interloper {
        fn url(&self, name: &str) -> String {
            self.inner.url(name)
        }
        fn get(
            &self,
            name: &str,
        ) -> Result<Option<(bytes::Bytes, hygge_connectors::versioned::Version)>, String> {
            self.inner.get(name)
        }
        fn put(
            &self,
            name: &str,
            bytes: bytes::Bytes,
            expected: Option<&hygge_connectors::versioned::Version>,
        ) -> Result<hygge_connectors::versioned::Written, String> {
            if name == "journal.parquet"
                && !self.fired.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                Journal::in_objects(self.inner.clone())
                    .append(&[entry("9999", "other")])
                    .unwrap();
            }
            self.inner.put(name, bytes, expected)
        }
        fn list(&self) -> Result<Vec<String>, String> {
            self.inner.list()
        }
    }
    use hygge_connectors::versioned::Written;
    let inner = moto_folder().await;
    tokio::task::spawn_blocking(move || {
        Journal::in_objects(inner.clone())
            .append(&[entry("0001", "e")])
            .unwrap();
        let before = hygge::journal::object_conflicts();
        let racing = Arc::new(Interloper {
            inner: inner.clone(),
            fired: false.into(),
        });
        Journal::in_objects(racing)
            .append(&[entry("0002", "e")])
            .unwrap();
        assert!(hygge::journal::object_conflicts() > before, "no retry");
        let ids: Vec<String> = Journal::in_objects(inner.clone())
            .read()
            .unwrap()
            .into_iter()
            .map(|e| e.entity_run_id)
            .collect();
        assert_eq!(ids, vec!["0001", "9999", "0002"]);

        // The conditions themselves (S3's ETag is the content's MD5: new bytes each time).
        let (_, v) = inner.get("journal.parquet").unwrap().unwrap();
        let put = |text: &'static [u8], v| {
            inner
                .put("journal.parquet", bytes::Bytes::from_static(text), v)
                .unwrap()
        };
        assert_eq!(put(b"first", Some(&v)), Written::Done);
        assert_eq!(
            put(b"second", Some(&v)),
            Written::Conflict,
            "a stale version"
        );
        assert_eq!(
            put(b"third", None),
            Written::Conflict,
            "a create of an existing object"
        );
    })
    .await
    .unwrap();
}

/// Small limits: older rows move into `journal-archive-<n>.parquet` objects, each entity's
/// latest run stays in `journal.parquet`, every row is in exactly one object, also with
/// appenders racing through rotations (archive numbers taken with `PutMode::Create`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_journal_rotates_into_archive_objects_and_loses_none() {
    let folder = azurite_folder().await;
    let j = Journal::in_objects(folder.clone()).with_limits(12, 4);
    let f = folder.clone();
    let racing = Journal::in_objects(azurite_folder().await).with_limits(10, 3);
    tokio::task::spawn_blocking(move || {
        let mut all = vec![];
        for i in 0..60 {
            let e = entry(&format!("{i:04}"), if i == 2 { "slow" } else { "busy" });
            j.append(std::slice::from_ref(&e)).unwrap();
            all.push(e);
        }
        let active = j.read().unwrap();
        assert!(active.len() <= 12, "journal.parquet holds {}", active.len());
        let mut got = j.read_all().unwrap();
        got.sort_by(|a, b| a.entity_run_id.cmp(&b.entity_run_id));
        assert!(got == all, "every row once: {} of {}", got.len(), all.len());
        assert_eq!(
            j.last_watermark("f", "slow")
                .unwrap()
                .unwrap()
                .entity_run_id,
            "0002",
            "an entity's latest run stays in journal.parquet"
        );
        let archives: Vec<String> = f
            .list()
            .unwrap()
            .into_iter()
            .filter(|n| n.starts_with("journal-archive-"))
            .collect();
        assert!(archives.len() >= 5, "{archives:?}");
        assert_eq!(archives[0], "journal-archive-000001.parquet");

        // Racing appenders through rotations.
        let got = concurrent_appends(racing, 3, 10);
        assert_eq!(got.len(), 30);
    })
    .await
    .unwrap();
}

/// A rotation that stopped after creating its archive object, before swapping in the
/// journal naming it: the next append finishes it, and no row is in two objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_cloud_rotation_is_finished_by_the_next_append() {
    let folder = moto_folder().await;
    let j = Journal::in_objects(folder.clone()).with_limits(100, 0);
    let f = folder.clone();
    tokio::task::spawn_blocking(move || {
        let all: Vec<JournalEntry> = (0..20).map(|i| entry(&format!("{i:04}"), "e")).collect();
        j.append(&all).unwrap();
        // As a rotation would: the rows copied into archive 1 (here all of them), and
        // journal.parquet, which names no archive, not yet swapped. The next append must
        // take those rows out of journal.parquet.
        let (bytes, _) = f.get("journal.parquet").unwrap().unwrap();
        f.put("journal-archive-000001.parquet", bytes, None)
            .unwrap();
        j.append(&[entry("0020", "e")]).unwrap();
        let active: Vec<String> = j
            .read()
            .unwrap()
            .into_iter()
            .map(|e| e.entity_run_id)
            .collect();
        assert_eq!(active, vec!["0020"]);
        let mut every: Vec<String> = j
            .read_all()
            .unwrap()
            .into_iter()
            .map(|e| e.entity_run_id)
            .collect();
        every.sort();
        assert_eq!(every.len(), 21, "{every:?}");
        every.dedup();
        assert_eq!(every.len(), 21, "no row twice");
    })
    .await
    .unwrap();
}

/// A journal object that is not Parquet: reading and appending are errors naming its URL,
/// and the object is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_journal_object_is_an_error_naming_it() {
    let folder = azurite_folder().await;
    let f = folder.clone();
    tokio::task::spawn_blocking(move || {
        f.put(
            "journal.parquet",
            bytes::Bytes::from_static(b"not parquet"),
            None,
        )
        .unwrap();
        let j = Journal::in_objects(f.clone());
        let err = j.read().unwrap_err().to_string();
        assert!(err.contains(&f.url("journal.parquet")), "{err}");
        let err = j.append(&[entry("1", "e")]).unwrap_err().to_string();
        assert!(err.contains(&f.url("journal.parquet")), "{err}");
        assert_eq!(
            f.get("journal.parquet").unwrap().unwrap().0,
            bytes::Bytes::from_static(b"not parquet"),
            "left as it was"
        );
    })
    .await
    .unwrap();
}

/// A journal whose bucket does not exist is an error naming the object, not an empty
/// journal (S3 and Blob answer 404 for a missing object and a missing bucket alike).
#[test]
fn a_journal_in_a_missing_bucket_is_an_error_not_an_empty_journal() {
    let folder = hygge_connectors::registry::store_from_json(
        serde_json::json!({"type": "s3", "bucket": "no-such-bucket-for-journals", "endpoint": cloud::s3_endpoint(),
            "region": "us-east-1", "access_key_id": cloud::S3_KEY_ID, "secret_access_key": cloud::S3_SECRET, "path": "raw/{entity}"}),
        true,
    )
    .unwrap()
    .journal_folder()
    .unwrap();
    let err = Journal::in_objects(folder.clone())
        .read()
        .unwrap_err()
        .to_string();
    assert!(err.contains(&folder.url("journal.parquet")), "{err}");
    assert!(err.contains("will not treat it as empty"), "{err}");
    assert!(!err.contains(cloud::S3_SECRET), "{err}");
}

/// Two `hygge go` processes at once, each with four entities finishing together, sharing
/// one journal in the container: every entity run is recorded once (appends from threads
/// of one process and from two processes race on the same object).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_with_several_entities_share_one_cloud_journal() {
    let url = cloud::azurite_url();
    let container = cloud::unique_name("p");
    cloud::create_container(&url, &container).await;
    let p = Project::new("name: cloud\njournal:\n  location: store\n");
    for flow in ["a", "b"] {
        p.write(
            &format!("flows/{flow}/flow.yml"),
            &format!(
                "home: data_{flow}\nstore:\n  type: adls\n  account_url: {url}\n  filesystem: {container}\n  path: raw/{{entity}}\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: updated\nentities: [{flow}1, {flow}2, {flow}3, {flow}4]\n"
            ),
        );
        for n in 1..=4 {
            write_parquet(
                &p.join(&format!("data_{flow}/{flow}{n}/x.parquet")),
                &[ts_batch(0..10)],
            );
        }
    }
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|flow| {
            hygge()
                .args(["go", "--flow", flow])
                .current_dir(p.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let folder = hygge_connectors::registry::store_from_json(
        serde_json::json!({"type": "adls", "account_url": url, "filesystem": container, "path": "raw/{entity}"}),
        true,
    )
    .unwrap()
    .journal_folder()
    .unwrap();
    let mut entities: Vec<String> = tokio::task::spawn_blocking(move || {
        Journal::in_objects(folder)
            .read()
            .unwrap()
            .into_iter()
            .map(|e| format!("{}.{}:{}", e.flow, e.entity, e.row_count))
            .collect()
    })
    .await
    .unwrap();
    entities.sort();
    let want: Vec<String> = ["a", "b"]
        .iter()
        .flat_map(|f| (1..=4).map(move |n| format!("{f}.{f}{n}:10")))
        .collect();
    assert_eq!(entities, want);
}
