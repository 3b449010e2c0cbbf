//! Cloud stores end to end through the binary, on the emulators scripts/test.sh starts: an
//! original-style `adls` project whose `account_url` points at Azurite (full_drop twice,
//! incremental by watermark, a failed run that leaves the old data), and an `s3` project on
//! moto (explicit keys that never show in plans, logs or errors). A test fails, never
//! skips, when its emulator cannot be reached.
#![cfg(all(feature = "azure", feature = "s3"))]

mod common;

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use common::*;
use futures::TryStreamExt;
use hygge_testkit::cloud;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};

/// What a reader listing `prefix` sees: the ids in its Parquet files (sorted), skipping
/// `_` names as Spark and Fabric do; and the names of hygge's own objects.
async fn read_cloud(client: &Arc<dyn ObjectStore>, prefix: &str) -> (Vec<i64>, Vec<String>) {
    let metas: Vec<_> = client
        .list(Some(&Key::from(prefix)))
        .try_collect()
        .await
        .unwrap();
    let mut ids_out = vec![];
    let mut own = vec![];
    for m in metas {
        let rel = m.location.as_ref()[prefix.len() + 1..].to_string();
        if rel.starts_with('_') {
            own.push(rel);
            continue;
        }
        let bytes = client
            .get(&m.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let batches: Vec<RecordBatch> =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                .unwrap()
                .build()
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        ids_out.extend(ids(&batches));
    }
    ids_out.sort();
    own.sort();
    (ids_out, own)
}

fn range(r: std::ops::Range<i64>) -> Vec<i64> {
    r.collect()
}

/// An original hygge project writing to ADLS, pointed at Azurite by its `account_url` alone
/// (`credential: managed_identity` stays: an emulator URL uses the emulator's key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adls_project_on_azurite_replaces_appends_and_keeps_the_old_data_when_a_run_fails() {
    let url = cloud::azurite_url();
    let container = cloud::unique_name("e");
    cloud::create_container(&url, &container).await;
    let store = format!(
        "store:\n  type: adls\n  account_url: {url}\n  filesystem: {container}\n  path: raw/{{entity}}/\n  credential: managed_identity\n  batch_size: 40\n"
    );
    let p = Project::new("name: cloud\njournal:\n  path: .hygge_journal\n");
    p.write("flows/f/flow.yml", &incremental_flow(&store));
    let client = azurite_client(&url, &container);

    write_parquet(&p.join("data/t/a.parquet"), &[ts_batch(0..100)]);
    for run in 0..2 {
        let out = p.run(&["go", "--full-drop"]);
        assert!(out.status.success(), "full_drop {run}: {}", text(&out));
        let (got, own) = read_cloud(&client, "raw/t").await;
        assert_eq!(got, range(0..100), "full_drop {run} replaces (no doubling)");
        assert_eq!(own, vec!["_hygge/state.json"], "no staging or lock left");
    }

    write_parquet(&p.join("data/t/b.parquet"), &[ts_batch(100..150)]);
    let out = p.run(&["go"]);
    assert!(out.status.success(), "incremental: {}", text(&out));
    assert_eq!(read_cloud(&client, "raw/t").await.0, range(0..150));

    // A run that fails while publishing (its files copied, the state not yet written):
    // the old data stays as it was, for a reader that goes by the state and, once the
    // run has cleaned up, for one that lists the folder.
    write_parquet(&p.join("data/t/c.parquet"), &[ts_batch(150..160)]);
    let out = hygge()
        .args(["go"])
        .current_dir(p.path())
        .env("HYGGE_FAILPOINTS", "cloud.publish=error")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the failpoint fails the run");
    assert_eq!(
        read_cloud(&client, "raw/t").await,
        (range(0..150), vec!["_hygge/state.json".to_string()]),
        "a failed run leaves the old data and nothing of its own"
    );
    // A failure before the store publishes at all.
    let out = hygge()
        .args(["go", "--full-drop"])
        .current_dir(p.path())
        .env("HYGGE_FAILPOINTS", "flow.publish=error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(read_cloud(&client, "raw/t").await.0, range(0..150));

    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(read_cloud(&client, "raw/t").await.0, range(0..160));
    let state: serde_json::Value = serde_json::from_slice(
        &client
            .get(&Key::from("raw/t/_hygge/state.json"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(state["checkpoint"]["run_type"], "incremental", "{state}");
    // 100 rows in files of 40 (3), then 50 (2), then 10 (1); names never reused.
    assert_eq!(state["files"].as_array().unwrap().len(), 6, "{state}");
    assert_eq!(state["files"][0], "00000000000000000004.parquet", "{state}");
    let plan = p.run(&["go", "--dry-run"]);
    assert!(
        text(&plan).contains(&format!("{url}/{container}/raw/t")),
        "{}",
        text(&plan)
    );
}

/// An `s3` store on moto with explicit keys: full_drop then incremental; the secret key
/// shows in no plan, log or error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_project_on_moto_replaces_then_appends_and_never_prints_its_keys() {
    let endpoint = cloud::s3_endpoint();
    let bucket = cloud::unique_name("e");
    cloud::create_bucket(&endpoint, &bucket).await;
    let secret = "s3cr3t-K3y-that-must-not-show";
    let store = format!(
        "store:\n  type: s3\n  bucket: {bucket}\n  endpoint: {endpoint}\n  region: us-east-1\n  access_key_id: {}\n  secret_access_key: ${{TEST_S3_SECRET}}\n  path: lake/{{entity}}\n",
        cloud::S3_KEY_ID
    );
    let p = Project::new("name: cloud\njournal:\n  path: .hygge_journal\n");
    p.write("flows/f/flow.yml", &incremental_flow(&store));
    let client = moto_client(&bucket, &endpoint, secret);
    let run = |args: &[&str]| {
        hygge()
            .args(args)
            .current_dir(p.path())
            .env("TEST_S3_SECRET", secret)
            .output()
            .unwrap()
    };

    write_parquet(&p.join("data/t/a.parquet"), &[ts_batch(0..30)]);
    let out = run(&["go", "--full-drop", "-v"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(secret), "{}", text(&out));
    assert_eq!(read_cloud(&client, "lake/t").await.0, range(0..30));
    write_parquet(&p.join("data/t/b.parquet"), &[ts_batch(30..45)]);
    let out = run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(read_cloud(&client, "lake/t").await.0, range(0..45));

    let plan = run(&["go", "--dry-run"]);
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(!text(&plan).contains(secret), "{}", text(&plan));
    assert!(
        text(&plan).contains(&format!("s3://{bucket}/lake/t")),
        "{}",
        text(&plan)
    );

    // A wrong bucket: the error names it, and still no secret.
    p.write(
        "flows/f/flow.yml",
        &incremental_flow(&store.replace(&bucket, "no-such-bucket-here")),
    );
    let out = run(&["go"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("no-such-bucket-here") && !t.contains(secret),
        "{t}"
    );
    let log = std::fs::read_dir(p.path())
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(!log.contains(secret), "the log file holds the secret");
}

/// `kill -9` while a run publishes (its files copied to their final names, the state not
/// yet written): a lister sees the extra files for now (the documented window), the state
/// still names the old data, and the next run (which takes over the dead run's lock at
/// once: same machine, process gone) removes them and publishes exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_publishing_is_repaired_by_the_next_run() {
    use std::io::{BufRead, BufReader};
    let url = cloud::azurite_url();
    let container = cloud::unique_name("k");
    cloud::create_container(&url, &container).await;
    let store = format!(
        "store:\n  type: adls\n  account_url: {url}\n  filesystem: {container}\n  path: raw/{{entity}}\n"
    );
    let p = Project::new("name: cloud\njournal:\n  path: .hygge_journal\n");
    p.write("flows/f/flow.yml", &incremental_flow(&store));
    let client = azurite_client(&url, &container);
    write_parquet(&p.join("data/t/a.parquet"), &[ts_batch(0..20)]);
    assert!(p.run(&["go"]).status.success());
    write_parquet(&p.join("data/t/b.parquet"), &[ts_batch(20..30)]);

    let mut child = hygge()
        .args(["go"])
        .current_dir(p.path())
        .env("HYGGE_FAILPOINTS", "cloud.publish=sleep(60000)")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    for line in BufReader::new(stderr).lines() {
        if line.unwrap().contains("failpoint cloud.publish: sleeping") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (seen, own) = read_cloud(&client, "raw/t").await;
    assert_eq!(seen, range(0..30), "a lister sees the uncommitted copy");
    assert!(own.iter().any(|n| n == "_hygge/lock.json"), "{own:?}");

    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        read_cloud(&client, "raw/t").await,
        (range(0..30), vec!["_hygge/state.json".to_string()]),
        "rows once, no leftovers"
    );
}

/// An original-style `adls` home on Azurite feeds a local Parquet store: what an `adls`
/// store published there is read by its state, every row once, types kept; an incremental
/// run from the cloud home loads only rows past the watermark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adls_home_on_azurite_feeds_a_local_store() {
    let url = cloud::azurite_url();
    let container = cloud::unique_name("h");
    cloud::create_container(&url, &container).await;
    let account = format!(
        "  type: adls\n  account_url: {url}\n  filesystem: {container}\n  path: raw/{{entity}}/\n  credential: managed_identity\n"
    );
    let p = Project::new("name: cloud\njournal:\n  path: .hygge_journal\n");
    // Flow `up`: local files -> ADLS. Flow `down`: ADLS -> local Parquet, incremental.
    p.write(
        "flows/up/flow.yml",
        &format!("home: data\nstore:\n{account}  batch_size: 25\nentities: [t]\n"),
    );
    p.write(
        "flows/down/flow.yml",
        &format!(
            "home:\n{account}store: out\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: updated\nentities: [t]\n"
        ),
    );
    write_parquet(&p.join("data/t/a.parquet"), &[ts_batch(0..100)]);
    let out = p.run(&["go", "--flow", "up", "--full-drop"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = p.run(&["go", "--flow", "down"]);
    assert!(out.status.success(), "{}", text(&out));
    let got = read_parquet_dir(&p.join("out/t"));
    assert_eq!(ids(&got), range(0..100));
    assert_eq!(
        got[0].schema().field(1).data_type(),
        ts_batch(0..1).schema().field(1).data_type()
    );

    // New rows upstream (appended by the cloud store), then the incremental run downstream.
    write_parquet(&p.join("data/t/b.parquet"), &[ts_batch(100..130)]);
    let out = p.run(&["go", "--flow", "up", "--incremental"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = p.run(&["go", "--flow", "down"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/t"))),
        range(0..130),
        "no row twice"
    );

    let out = p.run(&["debug"]);
    assert!(
        out.status.success() && text(&out).contains("down_t  home ✓"),
        "debug reaches the cloud home: {}",
        text(&out)
    );
}

/// A home `path` that is a URL (`s3://bucket/folder`), with credentials and the endpoint
/// from AWS's standard variables, in CSV: the original's `local` home shape, pointed at
/// object storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_home_reads_csv_from_s3_with_the_standard_chain() {
    let endpoint = cloud::s3_endpoint();
    let bucket = cloud::unique_name("u");
    cloud::create_bucket(&endpoint, &bucket).await;
    let client = moto_client(&bucket, &endpoint, cloud::S3_SECRET);
    let mut csv = String::from("id,name\n");
    for i in 0..500 {
        csv.push_str(&format!("{i},n{i}\n"));
    }
    client
        .put(&Key::from("csv/people/a.csv"), csv.into_bytes().into())
        .await
        .unwrap();
    client
        .put(
            &Key::from("csv/people/b.csv"),
            b"id,name\n500,last\n".to_vec().into(),
        )
        .await
        .unwrap();
    let p = Project::new("name: urls\njournal:\n  path: .hygge_journal\n");
    p.write(
        "flows/f/flow.yml",
        &format!(
            "home:\n  type: local\n  path: s3://{bucket}/csv\n  format: csv\n  batch_size: 64\nstore: out\nentities: [people]\n"
        ),
    );
    let out = hygge()
        .args(["go"])
        .current_dir(p.path())
        .env("AWS_ACCESS_KEY_ID", cloud::S3_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", cloud::S3_SECRET)
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let got = read_parquet_dir(&p.join("out/people"));
    assert_eq!(ids(&got), range(0..501));
}

/// Named credentials (`hygge.yml` `credentials:`), referenced by name from a store and a
/// home: an `azure_ad` credential signs an `adls` store in on Azurite, an `s3` credential
/// an `s3` store and an `s3` home on moto. Their secrets never show; a wrong name, a
/// credential of the wrong type and keys given twice are errors before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_credentials_sign_in_cloud_stores_and_homes() {
    let url = cloud::azurite_url();
    let container = cloud::unique_name("n");
    cloud::create_container(&url, &container).await;
    let endpoint = cloud::s3_endpoint();
    let bucket = cloud::unique_name("n");
    cloud::create_bucket(&endpoint, &bucket).await;
    let secret = "n4med-s3cret-never-shown";
    let p = Project::new(&format!(
        "name: creds\njournal:\n  path: .hygge_journal\ncredentials:\n  lake:\n    type: azure_ad\n    method: storage_key\n    storage_account_key: ${{AZ_KEY}}\n  aws:\n    type: s3\n    method: access_key\n    region: us-east-1\n    endpoint: {endpoint}\n    access_key_id: {}\n    secret_access_key: ${{S3_SECRET}}\n",
        cloud::S3_KEY_ID
    ));
    p.write(
        "flows/to_adls/flow.yml",
        &format!(
            "home: data\nstore:\n  type: adls\n  account_url: {url}\n  filesystem: {container}\n  path: raw/{{entity}}\n  credential: lake\nentities: [t]\n"
        ),
    );
    p.write(
        "flows/to_s3/flow.yml",
        &format!(
            "home: data\nstore:\n  type: s3\n  bucket: {bucket}\n  path: raw/{{entity}}\n  credential: aws\nentities: [t]\n"
        ),
    );
    p.write(
        "flows/from_s3/flow.yml",
        &format!(
            "home:\n  type: s3\n  bucket: {bucket}\n  path: raw/{{entity}}\n  credential: aws\nstore: out\nentities: [t]\n"
        ),
    );
    write_parquet(&p.join("data/t/a.parquet"), &[ts_batch(0..60)]);
    let run = |args: &[&str]| {
        hygge()
            .args(args)
            .current_dir(p.path())
            .env("AZ_KEY", cloud::AZURITE_KEY)
            .env("S3_SECRET", secret)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap()
    };
    for flow in ["to_adls", "to_s3", "from_s3"] {
        let out = run(&["go", "--flow", flow, "-v"]);
        assert!(out.status.success(), "{flow}: {}", text(&out));
        assert!(!text(&out).contains(secret), "{}", text(&out));
    }
    assert_eq!(ids(&read_parquet_dir(&p.join("out/t"))), range(0..60));
    let plan = run(&["go", "--dry-run", "-v"]);
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(!text(&plan).contains(secret) && !text(&plan).contains(cloud::AZURITE_KEY));
    let azure = azurite_client(&url, &container);
    assert_eq!(read_cloud(&azure, "raw/t").await.0, range(0..60));

    // Wrong references: each an error naming the key, before anything runs.
    for (store_credential, want) in [
        ("nope", "`nope` is neither"),
        ("aws", "is a `s3` credential; this needs a `azure_ad` one"),
    ] {
        p.write(
            "flows/to_adls/flow.yml",
            &format!(
                "home: data\nstore:\n  type: adls\n  account_url: {url}\n  filesystem: {container}\n  credential: {store_credential}\nentities: [t]\n"
            ),
        );
        let out = run(&["go", "--flow", "to_adls"]);
        assert!(!out.status.success());
        assert!(text(&out).contains(want), "{want}: {}", text(&out));
        assert!(
            text(&out).contains("defines aws, lake") || want != "`nope` is neither",
            "{}",
            text(&out)
        );
    }
    p.write(
        "flows/to_s3/flow.yml",
        &format!(
            "home: data\nstore:\n  type: s3\n  bucket: {bucket}\n  credential: aws\n  access_key_id: x\n  secret_access_key: y\nentities: [t]\n"
        ),
    );
    let out = run(&["go", "--flow", "to_s3"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("access_key_id: given here and by the credential `aws`"),
        "{}",
        text(&out)
    );
    // A credential's own keys are checked as any other mapping's.
    p.write(
        "hygge.yml",
        "name: creds\ncredentials:\n  lake:\n    type: azure_ad\n    methd: default\n",
    );
    let out = run(&["go", "--flow", "to_adls"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("methd") && text(&out).contains("method"),
        "{}",
        text(&out)
    );
}

/// The original roadmap's cloud `parquet` home: `provider: s3`, a bucket and a glob path,
/// signed in by a named credential, or anonymously (a public bucket) without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parquet_home_with_a_provider_reads_a_glob_by_credential_or_anonymously() {
    let endpoint = cloud::s3_endpoint();
    let bucket = cloud::unique_name("p");
    cloud::create_bucket(&endpoint, &bucket).await;
    for (day, r) in [(1, 0..40), (2, 40..70)] {
        let mut bytes = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut bytes, ts_batch(0..1).schema(), None)
            .unwrap();
        w.write(&ts_batch(r)).unwrap();
        w.close().unwrap();
        cloud::put_public(
            &endpoint,
            &bucket,
            &format!("ga/day={day}/s.parquet"),
            &bytes,
        )
        .await;
    }
    let flow = |credential: &str| {
        format!(
            "home:\n  type: parquet\n  provider: s3\n  bucket: {bucket}\n  path: ga/day=*/*.parquet\n{credential}store: out\nentities: [sessions]\n"
        )
    };
    let p = Project::new(&format!(
        "name: ga\njournal:\n  path: .hygge_journal\ncredentials:\n  aws:\n    type: s3\n    method: access_key\n    endpoint: {endpoint}\n    region: us-east-1\n    access_key_id: {}\n    secret_access_key: {}\n",
        cloud::S3_KEY_ID,
        cloud::S3_SECRET
    ));
    p.write("flows/f/flow.yml", &flow("  credential: aws\n"));
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/sessions"))),
        range(0..70)
    );

    // No credential: unsigned requests, which the public objects answer.
    std::fs::remove_dir_all(p.join("out")).unwrap();
    p.write("flows/f/flow.yml", &flow(""));
    let out = hygge()
        .args(["go", "--full-drop"])
        .current_dir(p.path())
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/sessions"))),
        range(0..70)
    );

    // Provider keys on local files, and a provider without its bucket, are errors.
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: parquet\n  path: data\n  bucket: b\nstore: out\nentities: [x]\n",
    );
    let out = p.run(&["go"]);
    assert!(
        !out.status.success() && text(&out).contains("bucket: only with a cloud `provider`"),
        "{}",
        text(&out)
    );
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: parquet\n  provider: s3\n  path: x/*.parquet\nstore: out\nentities: [x]\n",
    );
    let out = p.run(&["go"]);
    assert!(
        !out.status.success() && text(&out).contains("bucket: provider s3 needs it"),
        "{}",
        text(&out)
    );
}
