//! The cloud emulators the tests run against: Azurite (Azure Blob) and a moto S3 server,
//! both on 127.0.0.1, installed and started by `scripts/test.sh`, which exports where they
//! listen (`HYGGE_TEST_AZURITE`, `HYGGE_TEST_S3`). A test that cannot reach one fails with
//! a message saying how to start it; it never skips.
//!
//! `object_store` cannot create containers or buckets, so these helpers do it with one
//! plain HTTP request (Azurite's is signed with its well-known key).

use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Azurite's account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known key (public, in Microsoft's documentation).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// moto's S3 server accepts any keys; the tests always pass these (never the standard
/// chain, which could reach an instance-metadata address).
pub const S3_KEY_ID: &str = "testing";
/// See [`S3_KEY_ID`].
pub const S3_SECRET: &str = "testing-secret";

fn must_reach(what: &str, var: &str, url: &str, how: &str) {
    let hostport = url
        .split_once("://")
        .map(|(_, r)| r.split('/').next().unwrap_or(r))
        .unwrap_or(url);
    let addr: std::net::SocketAddr = hostport
        .parse()
        .unwrap_or_else(|_| panic!("{var}={url}: expected http://<ip>:<port>..."));
    if std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_err() {
        panic!(
            "{what} is not running at {url}: these tests need it. Run scripts/test.sh (it installs and starts it), or start it yourself ({how}) and set {var}"
        );
    }
}

/// Azurite's account URL (`http://127.0.0.1:10000/devstoreaccount1`), checked reachable.
pub fn azurite_url() -> String {
    let url = std::env::var("HYGGE_TEST_AZURITE")
        .unwrap_or_else(|_| format!("http://127.0.0.1:10000/{AZURITE_ACCOUNT}"));
    must_reach(
        "Azurite",
        "HYGGE_TEST_AZURITE",
        &url,
        "npm install azurite@3; azurite-blob --inMemoryPersistence --blobHost 127.0.0.1 --blobPort 10000 --skipApiVersionCheck --loose --disableTelemetry",
    );
    url
}

/// moto's S3 endpoint (`http://127.0.0.1:5055`), checked reachable.
pub fn s3_endpoint() -> String {
    let url =
        std::env::var("HYGGE_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:5055".to_string());
    must_reach(
        "The moto S3 server",
        "HYGGE_TEST_S3",
        &url,
        "pip install 'moto[server]'; moto_server -H 127.0.0.1 -p 5055",
    );
    url
}

/// A container or bucket name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{}x{}x{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// One HTTP/1.1 request without a body; returns the status code.
async fn request(url: &str, method: &str, path_query: &str, headers: &[(String, String)]) -> u16 {
    request_with(url, method, path_query, headers, &[]).await
}

async fn request_with(
    url: &str,
    method: &str,
    path_query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> u16 {
    let hostport = url
        .split_once("://")
        .map(|(_, r)| r.split('/').next().unwrap_or(r))
        .expect("http URL");
    let mut s = tokio::net::TcpStream::connect(hostport)
        .await
        .unwrap_or_else(|e| panic!("connect to {hostport}: {e}"));
    let mut req = format!("{method} {path_query} HTTP/1.1\r\nHost: {hostport}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    s.write_all(req.as_bytes()).await.expect("send");
    s.write_all(body).await.expect("send the body");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.expect("read response");
    let text = String::from_utf8_lossy(&resp);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text}"))
}

/// Creates a container on Azurite (a Shared Key signed `PUT ?restype=container`).
pub async fn create_container(account_url: &str, name: &str) {
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let version = "2021-08-06";
    // Path-style: the account is in the path, and so twice in the canonical resource.
    let resource = format!("/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{name}\nrestype:container");
    let to_sign =
        format!("PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n{resource}");
    let key = base64::engine::general_purpose::STANDARD
        .decode(AZURITE_KEY)
        .expect("key");
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        to_sign.as_bytes(),
    );
    let sig = base64::engine::general_purpose::STANDARD.encode(tag.as_ref());
    let status = request(
        account_url,
        "PUT",
        &format!("/{AZURITE_ACCOUNT}/{name}?restype=container"),
        &[
            ("x-ms-date".into(), date),
            ("x-ms-version".into(), version.into()),
            (
                "Authorization".into(),
                format!("SharedKey {AZURITE_ACCOUNT}:{sig}"),
            ),
        ],
    )
    .await;
    assert!(
        status == 201 || status == 409,
        "creating container {name} on Azurite answered {status}"
    );
}

/// Creates a bucket on the moto server (`PUT /<bucket>`).
pub async fn create_bucket(endpoint: &str, name: &str) {
    let status = request(endpoint, "PUT", &format!("/{name}"), &[]).await;
    assert!(
        status == 200 || status == 409,
        "creating bucket {name} on {endpoint} answered {status}"
    );
}

/// Puts an object anyone may read (`x-amz-acl: public-read`) on the moto server: what a
/// public bucket serves to unsigned requests.
pub async fn put_public(endpoint: &str, bucket: &str, key: &str, body: &[u8]) {
    let headers = [("x-amz-acl".to_string(), "public-read".to_string())];
    let status = request_with(endpoint, "PUT", &format!("/{bucket}/{key}"), &headers, body).await;
    assert_eq!(status, 200, "putting {key} in {bucket} on {endpoint}");
}
