//! `hygge debug` on cloud stores, through the binary, on the emulators scripts/test.sh
//! starts: each store's folder is listed and a probe object written, read back and deleted
//! (none is left); the credential source is printed; a wrong account key (Azurite), a wrong
//! secret and a key that may not write (a moto server of the test's own that checks
//! signatures and policies) and a missing container or bucket fail with a message naming the account, container or bucket, never the secret,
//! and a fix that says what to do. A test fails, never skips, when its emulator cannot be
//! reached.
#![cfg(all(feature = "azure", feature = "s3"))]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures::TryStreamExt;
use hygge_testkit::cloud;
use object_store::ObjectStore;

fn text(o: &std::process::Output) -> String {
    stdout(o) + &stderr(o)
}

/// A project whose flow `f` reads `data/t` and writes `store` (YAML under `store:`).
fn project(store: &str) -> Project {
    let p = Project::new("name: probe\njournal:\n  path: .hygge_journal\n");
    p.write(
        "flows/f/flow.yml",
        &format!("home: data\nstore:\n{store}entities: [t]\n"),
    );
    write_parquet(&p.join("data/t/a.parquet"), &[batch(0, 10)]);
    p
}

/// Every key in the container or bucket.
async fn all_keys(client: &Arc<dyn ObjectStore>) -> Vec<String> {
    client
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap()
}

fn azure_client(url: &str, container: &str) -> Arc<dyn ObjectStore> {
    azurite_client(url, container)
}

fn s3_client(endpoint: &str, bucket: &str, key_id: &str, secret: &str) -> Arc<dyn ObjectStore> {
    hygge_connectors::cloud::config::from_json::<hygge_connectors::cloud::S3StoreConfig>(
        serde_json::json!({
            "bucket": bucket, "endpoint": endpoint, "region": "us-east-1",
            "access_key_id": key_id, "secret_access_key": secret,
        }),
    )
    .unwrap()
    .validate(true)
    .unwrap()
    .location
    .build()
    .unwrap()
}

fn adls_store(url: &str, container: &str) -> String {
    format!(
        "  type: adls\n  account_url: {url}\n  filesystem: {container}\n  path: raw/{{entity}}\n  credential: storage_key\n  storage_account_key: ${{TEST_AZ_KEY}}\n"
    )
}

fn s3_store(endpoint: &str, bucket: &str, key_id: &str) -> String {
    format!(
        "  type: s3\n  bucket: {bucket}\n  endpoint: {endpoint}\n  region: us-east-1\n  access_key_id: {key_id}\n  secret_access_key: ${{TEST_S3_SECRET}}\n  path: lake/{{entity}}\n"
    )
}

fn debug(p: &Project, env: (&str, &str)) -> std::process::Output {
    hygge()
        .arg("debug")
        .current_dir(p.path())
        .env(env.0, env.1)
        .output()
        .unwrap()
}

/// Asserts a failed `hygge debug` names `names`, shows none of `secrets`, and gives `fix`.
fn assert_fails(out: &std::process::Output, names: &[&str], secrets: &[&str], fix: &str) {
    let all = text(out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    for n in names {
        assert!(all.contains(n), "the message does not name {n}: {all}");
    }
    for s in secrets {
        assert!(!all.contains(s), "a secret shows: {all}");
    }
    let fix_line = all
        .lines()
        .find(|l| l.trim_start().starts_with("fix:"))
        .unwrap_or_else(|| panic!("no fix line: {all}"));
    assert!(fix_line.contains(fix), "fix {fix:?} expected: {all}");
    assert!(all.contains("1 check failed."), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_probes_an_adls_store_on_azurite_and_leaves_nothing() {
    let url = cloud::azurite_url();
    let container = cloud::unique_name("dbg");
    cloud::create_container(&url, &container).await;
    let p = project(&adls_store(&url, &container));
    let out = debug(&p, ("TEST_AZ_KEY", cloud::AZURITE_KEY));
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("store: credential: the emulator's well-known account key"),
        "{all}"
    );
    assert!(
        all.contains(&format!("listed {url}/{container}/raw/t/ (0 objects)")),
        "{all}"
    );
    assert!(
        all.contains(&format!(
            "wrote, read back and deleted {url}/{container}/raw/t/_hygge/probe-"
        )),
        "{all}"
    );
    assert!(!all.contains(cloud::AZURITE_KEY), "{all}");
    assert_eq!(
        all_keys(&azure_client(&url, &container)).await,
        Vec::<String>::new(),
        "the probe object was left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_names_the_account_and_container_when_azurite_refuses_the_key() {
    let url = cloud::azurite_url();
    let container = cloud::unique_name("dbg");
    cloud::create_container(&url, &container).await;
    // A well-formed key that is not the account's.
    let wrong = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc=";
    let p = project(&adls_store(&url, &container));
    let out = debug(&p, ("TEST_AZ_KEY", wrong));
    assert_fails(
        &out,
        &[&url, &container, "raw/t", "the storage account key"],
        &[wrong, cloud::AZURITE_KEY],
        "refused",
    );
    assert_eq!(
        all_keys(&azure_client(&url, &container)).await,
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_says_an_azure_container_is_missing() {
    let url = cloud::azurite_url();
    let container = cloud::unique_name("nope");
    let p = project(&adls_store(&url, &container));
    let out = debug(&p, ("TEST_AZ_KEY", cloud::AZURITE_KEY));
    assert_fails(
        &out,
        &[&url, &container],
        &[cloud::AZURITE_KEY],
        &format!("the container {container} does not exist in {url}"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_probes_an_s3_store_on_moto_and_leaves_nothing() {
    let endpoint = cloud::s3_endpoint();
    let bucket = cloud::unique_name("dbg");
    cloud::create_bucket(&endpoint, &bucket).await;
    let secret = "s3cr3t-that-must-not-show";
    let p = project(&s3_store(&endpoint, &bucket, cloud::S3_KEY_ID));
    let out = debug(&p, ("TEST_S3_SECRET", secret));
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("store: credential: the access key in the store's keys"),
        "{all}"
    );
    assert!(
        all.contains(&format!(
            "wrote, read back and deleted s3://{bucket}/lake/t/_hygge/probe-"
        )),
        "{all}"
    );
    assert!(!all.contains(secret), "{all}");
    let client = s3_client(&endpoint, &bucket, cloud::S3_KEY_ID, secret);
    assert_eq!(all_keys(&client).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_says_an_s3_bucket_is_missing() {
    let endpoint = cloud::s3_endpoint();
    let bucket = cloud::unique_name("nope");
    let secret = "s3cr3t-that-must-not-show";
    let p = project(&s3_store(&endpoint, &bucket, cloud::S3_KEY_ID));
    let out = debug(&p, ("TEST_S3_SECRET", secret));
    assert_fails(
        &out,
        &[&bucket],
        &[secret],
        &format!("the bucket {bucket} does not exist in {endpoint}"),
    );
}

// ---------------------------------------------------------------------------------------
// A moto server that checks signatures (the shared one accepts any key)
// ---------------------------------------------------------------------------------------

/// A moto server of this test's own, on a free port, that checks every request's
/// signature against the IAM users it holds (`key_id`/`secret`: allowed everything;
/// `reader`: may list and read, not write) and holds `bucket`. Stopped when dropped.
struct AuthMoto {
    child: Child,
    endpoint: String,
    key_id: String,
    secret: String,
    reader: (String, String),
}

impl Drop for AuthMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto_server in the venv scripts/test.sh installs (`HYGGE_MOTO_VENV`, default
/// `~/.cache/hygge/venv-moto`).
fn moto_server_bin() -> std::path::PathBuf {
    let venv = std::env::var("HYGGE_MOTO_VENV").map_or_else(
        |_| {
            std::path::PathBuf::from(std::env::var("HOME").expect("HOME"))
                .join(".cache/hygge/venv-moto")
        },
        std::path::PathBuf::from,
    );
    let bin = venv.join("bin/moto_server");
    assert!(
        bin.exists(),
        "{} is missing: this test starts a moto server of its own; run scripts/test.sh (it installs moto into that venv), or set HYGGE_MOTO_VENV",
        bin.display()
    );
    bin
}

/// One HTTP/1.1 request; returns (status, body).
fn http(port: u16, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {resp}"));
    (status, resp)
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in {text}"))
        + open.len();
    let end = text[start..].find(close).unwrap() + start;
    &text[start..end]
}

impl AuthMoto {
    fn start(bucket: &str) -> AuthMoto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(moto_server_bin())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut m = AuthMoto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            key_id: String::new(),
            secret: String::new(),
            reader: (String::new(), String::new()),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        // Before authentication is switched on: the bucket, an IAM user allowed everything
        // and its key (an unchecked signature's scope routes a request to IAM).
        let (status, _) = http(port, "PUT", &format!("/{bucket}"), &[], "");
        assert_eq!(status, 200, "create bucket");
        let iam = [
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIASETUP/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            "Content-Type: application/x-www-form-urlencoded",
        ];
        let call = |pairs: &[(&str, &str)]| {
            let (status, body) = http(port, "POST", "/", &iam, &form(pairs));
            assert_eq!(status, 200, "{body}");
            body
        };
        let v = ("Version", "2010-05-08");
        let user = |name: &str, actions: &str| {
            call(&[("Action", "CreateUser"), ("UserName", name), v]);
            let policy = format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"*"}}]}}"#
            );
            call(&[
                ("Action", "PutUserPolicy"),
                ("UserName", name),
                ("PolicyName", "p"),
                ("PolicyDocument", &policy),
                v,
            ]);
            let key = call(&[("Action", "CreateAccessKey"), ("UserName", name), v]);
            (
                between(&key, "<AccessKeyId>", "</AccessKeyId>").to_string(),
                between(&key, "<SecretAccessKey>", "</SecretAccessKey>").to_string(),
            )
        };
        (m.key_id, m.secret) = user("hygge", r#""*""#);
        m.reader = user("reader", r#"["s3:ListBucket","s3:GetObject"]"#);
        let (status, body) = http(
            port,
            "POST",
            "/moto-api/reset-auth",
            &["Content-Type: text/plain"],
            "0",
        );
        assert_eq!(status, 200, "{body}");
        m
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_names_the_bucket_when_s3_refuses_the_secret_or_a_write() {
    // The shared server must be there too (the suite's contract), though this test runs
    // its own: moto checks signatures only when told to, for every client at once.
    let _ = cloud::s3_endpoint();
    let bucket = cloud::unique_name("auth");
    let moto = tokio::task::spawn_blocking({
        let bucket = bucket.clone();
        move || AuthMoto::start(&bucket)
    })
    .await
    .unwrap();
    let p = project(&s3_store(&moto.endpoint, &bucket, &moto.key_id));

    // The right secret passes (so the failure below is the secret's).
    let out = debug(&p, ("TEST_S3_SECRET", &moto.secret));
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(!all.contains(&moto.secret), "{all}");

    let wrong = "WrongSecretWrongSecretWrongSecret0123456";
    let out = debug(&p, ("TEST_S3_SECRET", wrong));
    assert_fails(
        &out,
        &[
            &bucket,
            &moto.endpoint,
            "the access key in the store's keys",
        ],
        &[wrong, &moto.secret],
        "refused",
    );
    let client = s3_client(&moto.endpoint, &bucket, &moto.key_id, &moto.secret);
    assert_eq!(all_keys(&client).await, Vec::<String>::new());

    // A key that may list and read but not write.
    let p = project(&s3_store(&moto.endpoint, &bucket, &moto.reader.0));
    let out = debug(&p, ("TEST_S3_SECRET", &moto.reader.1));
    assert_fails(
        &out,
        &[&bucket, "lake/t/_hygge/probe-"],
        &[&moto.reader.1],
        &format!("may list the bucket {bucket} but not write to it"),
    );
    assert_eq!(all_keys(&client).await, Vec::<String>::new());
}
