//! SQL Server home, end to end through the real `hygge` binary against `mssql-mock-tds`, an
//! in-process scriptable TDS server (no SQL Server can run here; see
//! ../shared/notes/sqlserver-testing.md §1.3). The mock answers only the batches a test
//! registers, so these tests pin the connection, login (SQL and Entra ID token), TLS
//! (no TLS and TDS 8.0 strict), error and dropped-connection paths, not a SQL engine.
//!
//! For a table home hygge sends `SELECT TOP 0 * FROM [dbo].[t]` (the columns) and then
//! `SELECT [id], [name] FROM [dbo].[t]` (the rows); both are registered per table.
//! Every run of the binary is bounded by [`HANG_GUARD`]: a hang fails the test.

mod common;

use std::net::SocketAddr;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arrow::array::{Array, Int64Array, StringArray};
use arrow::datatypes::DataType;
use common::*;
use mssql_mock_tds::protocol::{build_prelogin_response_with_fedauth, build_terminal_error_tokens};
use mssql_mock_tds::{
    ColumnDefinition, ColumnValue, ConnectionInfo, ConnectionStore, LeadingError, MockTdsServer,
    QueryRegistry, QueryResponse, Row, SqlDataType, TerminalError, create_test_identity,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify, oneshot};

/// Longest a `hygge` run may take before it counts as hung (and is killed).
const HANG_GUARD: Duration = Duration::from_secs(60);

/// A JWT-shaped fake Entra ID token (`exp` in 2100, unsigned): the connector may read `exp`.
const TOKEN: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJhdWQiOiJodHRwczovL2RhdGFiYXNlLndpbmRvd3MubmV0LyIsImV4cCI6NDEwMjQ0NDgwMCwib2lkIjoiaHlnZ2UtbW9jay10ZXN0In0.bW9jay1zaWduYXR1cmUtbm90LWNoZWNrZWQ";
/// The token's signature part: unique enough to spot a partial leak.
const TOKEN_TAIL: &str = "bW9jay1zaWduYXR1cmUtbm90LWNoZWNrZWQ";
/// A SQL login password.
const PASSWORD: &str = "Pa55-mock-hunter2";

/// FeatureExt id of FEDAUTH in LOGIN7.
const FEATURE_FEDAUTH: u8 = 0x02;

// ---------------------------------------------------------------------------------------
// The mock server
// ---------------------------------------------------------------------------------------

/// A running `MockTdsServer`; stops accepting when dropped.
struct Mock {
    addr: SocketAddr,
    registry: Arc<Mutex<QueryRegistry>>,
    store: Arc<Mutex<ConnectionStore>>,
    _stop: oneshot::Sender<()>,
}

impl Mock {
    /// No TLS at all (`encrypt: off`).
    async fn plain() -> Mock {
        Mock::start(MockTdsServer::new("127.0.0.1:0").await.expect("mock binds")).await
    }

    /// TDS 8.0 strict TLS (`encrypt: strict`) with a fresh self-signed certificate.
    async fn strict() -> Mock {
        let (cert, key) = self_signed_cert().await;
        let identity = create_test_identity(&cert, &key).expect("a TLS identity from the PEMs");
        let server = MockTdsServer::new_with_strict_tls("127.0.0.1:0", identity)
            .await
            .expect("mock binds");
        Mock::start(server).await
    }

    async fn start(server: MockTdsServer) -> Mock {
        let addr = server.local_addr();
        let registry = server.query_registry();
        let store = server.connection_store();
        let (stop, rx) = oneshot::channel();
        tokio::spawn(server.run_with_shutdown(rx));
        Mock {
            addr,
            registry,
            store,
            _stop: stop,
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    async fn register(&self, sql: &str, response: QueryResponse) {
        self.registry.lock().await.register(sql, response);
    }

    /// `dbo.<table>` with columns `id bigint, name nvarchar(4000)` holding `rows`.
    async fn table(&self, table: &str, rows: &[(i64, String)]) {
        self.register(&top0(table), QueryResponse::new(columns(), vec![]))
            .await;
        self.register(&select(table), rows_response(rows)).await;
    }

    /// Every connection the mock has seen (logged in or not), oldest first.
    async fn connections(&self) -> Vec<ConnectionInfo> {
        self.store.lock().await.all().values().cloned().collect()
    }
}

/// The metadata batch hygge sends for `dbo.<table>`.
fn top0(table: &str) -> String {
    format!("SELECT TOP 0 * FROM [dbo].[{table}]")
}

/// The row batch hygge sends for `dbo.<table>` with columns `id`, `name`.
fn select(table: &str) -> String {
    format!("SELECT [id], [name] FROM [dbo].[{table}]")
}

fn columns() -> Vec<ColumnDefinition> {
    vec![
        ColumnDefinition::new("id", SqlDataType::BigInt),
        ColumnDefinition::new("name", SqlDataType::NVarChar),
    ]
}

fn rows_response(rows: &[(i64, String)]) -> QueryResponse {
    QueryResponse::new(
        columns(),
        rows.iter()
            .map(|(id, name)| {
                Row::new(vec![
                    ColumnValue::BigInt(*id),
                    ColumnValue::NVarChar(name.clone()),
                ])
            })
            .collect(),
    )
}

/// Rows with edge values: extremes of bigint, non-ASCII text, an empty string (no NULLs:
/// the mock cannot send a NULL bounded nvarchar).
fn sample_rows() -> Vec<(i64, String)> {
    vec![
        (1, "a".into()),
        (i64::MIN, "héllo wörld 🦀".into()),
        (i64::MAX, String::new()),
        (-7, "漢字 'quote' \"dq\" \\ back".into()),
        (42, "tab\tnew\nline".into()),
    ]
}

/// `n` plain rows `id = start.., name = row-<id>`.
fn many_rows(start: i64, n: usize) -> Vec<(i64, String)> {
    (start..start + n as i64)
        .map(|i| (i, format!("row-{i}")))
        .collect()
}

/// A self-signed certificate and key (PEM) for `localhost` / 127.0.0.1, made with the
/// `openssl` CLI.
async fn self_signed_cert() -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let out = tokio::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .await
        .expect("the openssl CLI is needed to make a test certificate");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (std::fs::read(cert).unwrap(), std::fs::read(key).unwrap())
}

// ---------------------------------------------------------------------------------------
// Projects and runs
// ---------------------------------------------------------------------------------------

/// Entra ID: an access token from `${TOK}`.
const TOKEN_AUTH: &str = "    access_token: ${TOK}\n";
/// A SQL login with the password from `${PW}`.
const SQL_AUTH: &str = "    user: sa\n    password: ${PW}\n";

/// `connections.<name>` of type mssql on 127.0.0.1,`port`, database `db`.
fn connection(name: &str, port: u16, encrypt: &str, auth: &str) -> String {
    format!(
        "  {name}:\n    type: mssql\n    server: 127.0.0.1,{port}\n    database: db\n    encrypt: {encrypt}\n    trust_cert: yes\n    timeout: 10\n{auth}"
    )
}

/// A project with these connections (each from [`connection`]).
fn project(connections: &[String]) -> Project {
    Project::new(&format!("name: t\nconnections:\n{}", connections.concat()))
}

/// Flow `flow` reading `dbo.{entity}` through `conn` into Parquet under `out/`.
fn flow(p: &Project, flow: &str, conn: &str, entities: &[&str], home_extra: &str) {
    p.write(
        &format!("flows/{flow}/flow.yml"),
        &format!(
            "home:\n  type: mssql\n  connection: {conn}\n  table: dbo.{{entity}}\n{home_extra}store:\n  type: parquet\n  path: out\nentities: [{}]\n",
            entities.join(", ")
        ),
    );
}

/// Runs `hygge <args>` in the project with `${TOK}` and `${PW}` set, killing it (and failing
/// the test) if it runs past [`HANG_GUARD`].
async fn run(p: &Project, args: &[&str]) -> Output {
    run_env(p, args, &[]).await
}

/// [`run`] with `env` set after the Entra ID variables are cleared.
async fn run_env(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = hygge();
    cmd.args(args)
        .current_dir(p.path())
        .env("TOK", TOKEN)
        .env("PW", PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Nothing but the configured credentials may be used.
    for var in [
        "HYGGE_MSSQL_ACCESS_TOKEN",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "MSI_ENDPOINT",
        "MSI_SECRET",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.kill_on_drop(true);
    match tokio::time::timeout(HANG_GUARD, cmd.output()).await {
        Ok(out) => out.expect("hygge runs"),
        Err(_) => panic!(
            "`hygge {}` was still running after {HANG_GUARD:?}: it hung (killed)",
            args.join(" ")
        ),
    }
}

/// `hygge go --output json <args>`: the output and the report.
async fn go_json(p: &Project, args: &[&str]) -> (Output, serde_json::Value) {
    let mut all = vec!["go", "--output", "json"];
    all.extend_from_slice(args);
    let out = run(p, &all).await;
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report on stdout ({e}); output:\n{}", text(&out)));
    (out, json)
}

/// The report entry of flow-entity `name` (`<flow>_<entity>`).
fn entry(report: &serde_json::Value, name: &str) -> serde_json::Value {
    report["report"]["flows"]
        .as_array()
        .unwrap_or_else(|| panic!("no flows in {report}"))
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {report}"))
        .clone()
}

/// The error of a failed flow-entity.
fn failure(report: &serde_json::Value, name: &str) -> String {
    let e = entry(report, name);
    assert_ne!(
        e["status"], "success",
        "{name} should have failed: {report}"
    );
    e["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} failed without an error: {report}"))
        .to_string()
}

/// Everything the run printed.
fn text(o: &Output) -> String {
    stdout(o) + &stderr(o)
}

/// Whether `msg` names connection `name` (`connection src` or ``connection `src` ``).
fn names_connection(msg: &str, name: &str) -> bool {
    msg.contains(&format!("connection {name} ")) || msg.contains(&format!("connection `{name}`"))
}

/// The `(id, name)` rows of every Parquet file under `dir`, in file order; the columns must
/// be `id int64` and `name utf8`.
fn parquet_rows(dir: &std::path::Path) -> Vec<(i64, String)> {
    let batches = read_parquet_dir(dir);
    assert!(!batches.is_empty(), "no Parquet under {}", dir.display());
    let mut rows = Vec::new();
    for b in &batches {
        let schema = b.schema();
        let types: Vec<(&str, &DataType)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type()))
            .collect();
        assert_eq!(
            types,
            vec![("id", &DataType::Int64), ("name", &DataType::Utf8)],
            "columns of {}",
            dir.display()
        );
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let names = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..b.num_rows() {
            assert!(!ids.is_null(i) && !names.is_null(i), "no NULLs were sent");
            rows.push((ids.value(i), names.value(i).to_string()));
        }
    }
    rows
}

/// No file anywhere under the project (logs and journal included) holds `secret`.
fn assert_not_on_disk(p: &Project, secret: &str) {
    fn walk(dir: &std::path::Path, secret: &str) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, secret);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "a secret was written to {}",
                    path.display()
                );
            }
        }
    }
    walk(p.path(), secret);
}

// ---------------------------------------------------------------------------------------
// A TCP proxy that cuts connections, and a server that refuses logins
// ---------------------------------------------------------------------------------------

/// How [`CuttingProxy`] breaks the connection that sends the trigger batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Pass on the first two thirds of the server's answer (re-framed as a TDS packet that
    /// is not the last of its message, so the client decodes the rows in it), then close.
    MidResult,
    /// Once the batch has reached the (stalled) server, close the connection and stop
    /// listening: the server went away while the client waited.
    ServerGone,
}

/// A TCP proxy in front of the mock. On a connection whose client sends a SQL batch
/// holding `trigger`, it cuts as [`Cut`] says; every other connection is passed through.
struct CuttingProxy {
    port: u16,
    /// Connections cut so far.
    cuts: Arc<AtomicUsize>,
}

impl CuttingProxy {
    async fn start(upstream: SocketAddr, trigger: &str, cut: Cut) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // SQL batches travel as UTF-16LE.
        let trigger: Arc<Vec<u8>> =
            Arc::new(trigger.encode_utf16().flat_map(u16::to_le_bytes).collect());
        let cuts = Arc::new(AtomicUsize::new(0));
        let gone = Arc::new(Notify::new());
        let (c, g) = (cuts.clone(), gone.clone());
        tokio::spawn(async move {
            loop {
                let client = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((s, _)) => s,
                        Err(_) => return,
                    },
                    () = g.notified() => return, // drops the listener
                };
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (trigger, cuts, gone) = (trigger.clone(), c.clone(), g.clone());
                tokio::spawn(async move {
                    if proxy_one(client, server, &trigger, cut).await {
                        cuts.fetch_add(1, Ordering::SeqCst);
                        if cut == Cut::ServerGone {
                            gone.notify_one();
                        }
                    }
                });
            }
        });
        CuttingProxy { port, cuts }
    }

    fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

/// Relays one connection until either side closes or it is cut; true if it was cut.
async fn proxy_one(mut client: TcpStream, mut server: TcpStream, trigger: &[u8], cut: Cut) -> bool {
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let mut sent = Vec::new(); // everything the client sent
    let mut armed = false;
    let mut answer = Vec::new(); // the server's answer to the trigger batch, so far
    let (mut cbuf, mut sbuf) = (vec![0u8; 16384], vec![0u8; 16384]);
    loop {
        tokio::select! {
            n = cr.read(&mut cbuf) => {
                let Ok(n @ 1..) = n else { return false };
                if sw.write_all(&cbuf[..n]).await.is_err() {
                    return false;
                }
                sent.extend_from_slice(&cbuf[..n]);
                if !armed && sent.windows(trigger.len()).any(|w| w == trigger) {
                    armed = true;
                    if cut == Cut::ServerGone {
                        // Let the batch reach the server and the client start waiting.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        return true; // both sockets close as they drop
                    }
                }
            }
            n = sr.read(&mut sbuf) => {
                let Ok(n @ 1..) = n else { return false };
                if !armed {
                    if cw.write_all(&sbuf[..n]).await.is_err() {
                        return false;
                    }
                    continue;
                }
                answer.extend_from_slice(&sbuf[..n]);
                if answer.len() < 8 {
                    continue;
                }
                let len = u16::from_be_bytes([answer[2], answer[3]]) as usize;
                if answer.len() < len {
                    continue;
                }
                let payload = &answer[8..len];
                let part = &payload[..payload.len() * 2 / 3];
                let mut packet = answer[..8].to_vec();
                packet[1] = 0x00; // status: more packets of this message follow
                packet[2..4].copy_from_slice(&((8 + part.len()) as u16).to_be_bytes());
                packet.extend_from_slice(part);
                let _ = cw.write_all(&packet).await;
                let _ = cw.flush().await;
                // Let the client decode those rows before the connection drops.
                tokio::time::sleep(Duration::from_millis(300)).await;
                return true;
            }
        }
    }
}

/// A TDS server that answers PRELOGIN (no TLS) and then refuses every LOGIN7 with SQL Server
/// error `number` (built from the mock crate's protocol helpers: `MockTdsServer` itself
/// accepts every login). Returns its port and the number of logins it refused.
async fn refusing_server(number: u32, message: &'static str) -> (u16, Arc<AtomicUsize>) {
    flaky_front(number, message, usize::MAX, 0).await
}

/// Like [`refusing_server`] for the first `refusals` connections; every later connection is
/// passed through to the server at `backend` (a [`Mock`]).
async fn flaky_front(
    number: u32,
    message: &'static str,
    refusals: usize,
    backend: u16,
) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let refused = Arc::new(AtomicUsize::new(0));
    let r = refused.clone();
    let accepted = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let r = r.clone();
            if accepted.fetch_add(1, Ordering::SeqCst) >= refusals {
                tokio::spawn(async move {
                    if let Ok(mut b) = TcpStream::connect(("127.0.0.1", backend)).await {
                        let _ = tokio::io::copy_bidirectional(&mut s, &mut b).await;
                    }
                });
                continue;
            }
            tokio::spawn(async move {
                // PRELOGIN
                let Some((0x12, _)) = read_packet(&mut s).await else {
                    return;
                };
                let prelogin = build_prelogin_response_with_fedauth(false, true);
                if s.write_all(&prelogin).await.is_err() {
                    return;
                }
                // LOGIN7
                let Some((0x10, _)) = read_packet(&mut s).await else {
                    return;
                };
                let tokens = build_terminal_error_tokens(&TerminalError::new(number, 14, message));
                let len = (8 + tokens.len()) as u16;
                let mut packet = vec![0x04, 0x01];
                packet.extend_from_slice(&len.to_be_bytes());
                packet.extend_from_slice(&[0, 0, 1, 0]);
                packet.extend_from_slice(&tokens);
                if s.write_all(&packet).await.is_ok() {
                    r.fetch_add(1, Ordering::SeqCst);
                }
                // Wait for the client to hang up.
                let mut sink = [0u8; 1024];
                while matches!(s.read(&mut sink).await, Ok(1..)) {}
            });
        }
    });
    (port, refused)
}

/// One whole TDS message (its packets joined): `(type, payload)`.
async fn read_packet(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; 8];
        s.read_exact(&mut header).await.ok()?;
        let len = u16::from_be_bytes([header[2], header[3]]) as usize;
        let mut body = vec![0u8; len.checked_sub(8)?];
        s.read_exact(&mut body).await.ok()?;
        payload.extend_from_slice(&body);
        if header[1] & 0x01 != 0 {
            return Some((header[0], payload));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// Entra ID token login without TLS: the rows arrive exactly, the mock received exactly the
/// configured token in LOGIN7's FEDAUTH feature, and the token is never printed or written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_token_login_without_tls_reads_exact_rows_and_never_prints_the_token() {
    let mock = Mock::plain().await;
    let rows = sample_rows();
    mock.table("t1", &rows).await;
    let p = project(&[connection("src", mock.port(), "off", TOKEN_AUTH)]);
    flow(&p, "f", "src", &["t1"], "");

    let out = run(&p, &["go", "-vv"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(parquet_rows(&p.join("out/t1")), rows);

    let conns = mock.connections().await;
    assert!(!conns.is_empty(), "the mock saw no connection");
    for c in &conns {
        assert!(c.authenticated, "{c:?}");
        assert_eq!(
            c.received_token_as_string().as_deref(),
            Some(TOKEN),
            "{c:?}"
        );
        assert!(c.requested_feature_ids.contains(&FEATURE_FEDAUTH), "{c:?}");
        assert_eq!(c.received_database.as_deref(), Some("db"), "{c:?}");
    }
    let all = text(&out);
    assert!(
        !all.contains(TOKEN) && !all.contains(TOKEN_TAIL),
        "the token was printed:\n{all}"
    );
    assert_not_on_disk(&p, TOKEN_TAIL);
}

/// The same over TDS 8.0 strict TLS (the mock speaks nothing but TLS, so success means the
/// login and rows went through it); and `encrypt: strict` against a server without TLS fails
/// without ever sending the token in the clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_token_login_over_strict_tls_and_no_plaintext_fallback() {
    let mock = Mock::strict().await;
    let rows = sample_rows();
    mock.table("t1", &rows).await;
    let p = project(&[connection("src", mock.port(), "strict", TOKEN_AUTH)]);
    flow(&p, "f", "src", &["t1"], "");

    let out = run(&p, &["go", "-vv"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(parquet_rows(&p.join("out/t1")), rows);
    let conns = mock.connections().await;
    assert!(!conns.is_empty(), "the mock saw no connection");
    for c in &conns {
        assert!(c.authenticated, "{c:?}");
        assert_eq!(
            c.received_token_as_string().as_deref(),
            Some(TOKEN),
            "{c:?}"
        );
    }
    let all = text(&out);
    assert!(!all.contains(TOKEN_TAIL), "the token was printed:\n{all}");

    // `strict` against a server that speaks no TLS: no downgrade.
    let plain = Mock::plain().await;
    plain.table("t1", &rows).await;
    let p = project(&[connection("src", plain.port(), "strict", TOKEN_AUTH)]);
    flow(&p, "f", "src", &["t1"], "");
    let (out, report) = go_json(&p, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = failure(&report, "f_t1");
    assert!(names_connection(&msg, "src"), "{msg}");
    assert!(
        parquet_files(&p.join("out/t1")).is_empty(),
        "nothing published"
    );
    for c in plain.connections().await {
        assert!(
            c.received_token.is_none() && !c.authenticated,
            "the token went to a server without TLS: {c:?}"
        );
    }
    assert!(!text(&out).contains(TOKEN_TAIL), "the token was printed");
}

/// A SQL login reads the rows (no FEDAUTH sent), and `hygge debug` says which credential
/// source each connection logged in with: `sql_login` and `access_token`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_login_works_and_debug_names_the_credential_source() {
    let sql = Mock::plain().await;
    let tok = Mock::plain().await;
    let (rows_a, rows_b) = (many_rows(1, 3), many_rows(100, 2));
    sql.table("a", &rows_a).await;
    tok.table("b", &rows_b).await;
    let p = project(&[
        connection("by_sql", sql.port(), "off", SQL_AUTH),
        connection("by_token", tok.port(), "off", TOKEN_AUTH),
    ]);
    flow(&p, "s", "by_sql", &["a"], "");
    flow(&p, "e", "by_token", &["b"], "");

    let out = run(&p, &["go"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(parquet_rows(&p.join("out/a")), rows_a);
    assert_eq!(parquet_rows(&p.join("out/b")), rows_b);
    let conns = sql.connections().await;
    assert!(!conns.is_empty(), "the SQL-login mock saw no connection");
    for c in &conns {
        assert!(c.authenticated, "{c:?}");
        assert!(c.received_token.is_none(), "a token was sent: {c:?}");
        assert!(!c.requested_feature_ids.contains(&FEATURE_FEDAUTH), "{c:?}");
        assert_eq!(c.received_database.as_deref(), Some("db"), "{c:?}");
    }

    let out = run(&p, &["debug"]).await;
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let line = |conn: &str| {
        all.lines()
            .find(|l| l.contains(&format!("connection {conn}")))
            .unwrap_or_else(|| panic!("no line for connection {conn}:\n{all}"))
            .to_string()
    };
    let by_sql = line("by_sql");
    assert!(
        by_sql.contains("✓") && by_sql.contains("sql_login"),
        "{all}"
    );
    assert!(!by_sql.contains("access_token"), "{all}");
    let by_token = line("by_token");
    assert!(
        by_token.contains("✓") && by_token.contains("access_token"),
        "{all}"
    );
    assert!(!by_token.contains("sql_login"), "{all}");
    for secret in [PASSWORD, TOKEN_TAIL] {
        assert!(!all.contains(secret), "a secret was printed:\n{all}");
    }
}

/// An App Service managed-identity endpoint on 127.0.0.1 that answers every request with
/// [`TOKEN`], and the request lines it received.
async fn identity_endpoint() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/msi/token", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            log.lock().await.push(head);
            let body = format!(r#"{{"access_token":"{TOKEN}","expires_on":"4102444800"}}"#);
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    (url, seen)
}

/// `connections.<name>: {credential: <named>}` signs in with the `type: azure_ad`
/// credential of hygge.yml's `credentials:`: its method pins the Entra ID source
/// (managed identity here, through an App Service endpoint), its client_id picks the
/// identity, the token reaches SQL Server; `hygge debug` names the source. A credential SQL
/// Server cannot use, or an unknown one, stops the run before anything connects, naming
/// the connection and the credentials it could use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_signs_in_with_a_named_azure_ad_credential() {
    let mock = Mock::plain().await;
    let rows = many_rows(1, 4);
    mock.table("t1", &rows).await;
    let (endpoint, seen) = identity_endpoint().await;
    let credentials = "credentials:\n  fabric:\n    type: azure_ad\n    method: managed_identity\n    client_id: uami-7\n  blob:\n    type: azure_ad\n    method: storage_key\n    storage_account_key: ${PW}\n";
    let named = |cred: &str| {
        Project::new(&format!(
            "name: t\n{credentials}connections:\n{}",
            connection(
                "src",
                mock.port(),
                "off",
                &format!("    credential: {cred}\n")
            )
        ))
    };
    let env = [
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", "header-1"),
    ];
    let p = named("fabric");
    flow(&p, "f", "src", &["t1"], "");
    let out = run_env(&p, &["go"], &env).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(parquet_rows(&p.join("out/t1")), rows);
    let conns = mock.connections().await;
    assert!(!conns.is_empty(), "the mock saw no connection");
    for c in &conns {
        assert!(c.authenticated, "{c:?}");
        assert_eq!(
            c.received_token_as_string().as_deref(),
            Some(TOKEN),
            "{c:?}"
        );
    }
    let requests = seen.lock().await.clone();
    assert!(!requests.is_empty(), "the identity endpoint was not asked");
    for r in &requests {
        let line = r.lines().next().unwrap_or_default().to_ascii_lowercase();
        assert!(line.contains("client_id=uami-7"), "{r}");
        assert!(
            r.to_ascii_lowercase()
                .contains("x-identity-header: header-1"),
            "{r}"
        );
    }
    assert!(!text(&out).contains(TOKEN_TAIL), "the token was printed");

    let out = run_env(&p, &["debug"], &env).await;
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let line = all
        .lines()
        .find(|l| l.contains("connection src"))
        .unwrap_or_else(|| panic!("no line for connection src:\n{all}"));
    assert!(
        line.contains("✓") && line.contains("managed_identity"),
        "{all}"
    );

    for (cred, says) in [
        ("blob", "method: storage_key"),
        ("nowhere", "azure_ad credentials: blob, fabric"),
    ] {
        let p = named(cred);
        flow(&p, "f", "src", &["t1"], "");
        let before = mock.connections().await.len();
        let out = run_env(&p, &["go"], &env).await;
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(
            all.contains("connections.src") && all.contains(says),
            "{all}"
        );
        assert!(!all.contains(PASSWORD), "a secret was printed:\n{all}");
        assert_eq!(mock.connections().await.len(), before, "it connected");
    }
}

/// Server errors reach the report with their number and message, the connection and the
/// entity; the other entities of the flow still land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_name_number_message_connection_and_entity_and_others_go_on() {
    let mock = Mock::plain().await;
    // t1: the columns come back, the row batch fails before its result set.
    mock.register(&top0("t1"), QueryResponse::new(columns(), vec![]))
        .await;
    mock.register(
        &select("t1"),
        rows_response(&many_rows(1, 3)).with_leading_error(LeadingError::new(
            208,
            16,
            "Invalid object name 'dbo.t1'.",
        )),
    )
    .await;
    // gone: the metadata batch itself fails (a missing table).
    mock.register(
        &top0("gone"),
        QueryResponse::error_only(TerminalError::new(
            208,
            16,
            "Invalid object name 'dbo.gone'.",
        )),
    )
    .await;
    let rows = many_rows(10, 4);
    mock.table("t2", &rows).await;
    let p = project(&[connection("src", mock.port(), "off", TOKEN_AUTH)]);
    flow(&p, "f", "src", &["t1", "t2", "gone"], "");

    let (out, report) = go_json(&p, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(entry(&report, "f_t2")["status"], "success", "{report}");
    assert_eq!(parquet_rows(&p.join("out/t2")), rows);
    for (entity, table) in [("f_t1", "dbo.t1"), ("f_gone", "dbo.gone")] {
        let msg = failure(&report, entity);
        assert!(
            msg.contains("208") && msg.contains(&format!("Invalid object name '{table}'.")),
            "{msg}"
        );
        assert!(names_connection(&msg, "src"), "{msg}");
        assert!(msg.contains(table), "{msg}");
    }
    assert!(parquet_files(&p.join("out/t1")).is_empty(), "t1 published");
    assert!(
        parquet_files(&p.join("out/gone")).is_empty(),
        "gone published"
    );
    // The text summary names them too.
    let all = text(&out);
    assert!(all.contains("f_t1") && all.contains("f_gone"), "{all}");
}

/// A pool of one connection serves every entity in turn (one login, re-used after its
/// `SELECT 1` check); a read that failed half-way does not hand its connection, with the
/// rest of that result unread, to the next entity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_one_is_reused_and_a_failed_read_does_not_poison_it() {
    let tables = [
        ("t1", many_rows(1, 3)),
        ("t2", many_rows(10, 4)),
        ("t3", many_rows(20, 5)),
    ];
    let mock = Mock::plain().await;
    for (t, rows) in &tables {
        mock.table(t, rows).await;
    }
    let mut conn = connection("src", mock.port(), "off", TOKEN_AUTH);
    conn.push_str("    pool_size: 1\n");
    let p = project(std::slice::from_ref(&conn));
    flow(&p, "f", "src", &["t1", "t2", "t3"], "");
    let out = run(&p, &["go"]).await;
    assert!(out.status.success(), "{}", text(&out));
    for (t, rows) in &tables {
        assert_eq!(parquet_rows(&p.join(&format!("out/{t}"))), *rows, "{t}");
    }
    assert_eq!(
        mock.connections().await.len(),
        1,
        "one login for the whole run"
    );

    // The same, with an entity whose row batch fails after its columns came back; whatever
    // the order, the good entities read exactly their own rows.
    let mock = Mock::plain().await;
    for (t, rows) in &tables {
        mock.table(t, rows).await;
    }
    mock.register(&top0("bad"), QueryResponse::new(columns(), vec![]))
        .await;
    mock.register(
        &select("bad"),
        rows_response(&many_rows(900, 50)).with_leading_error(LeadingError::new(
            208,
            16,
            "Invalid object name 'dbo.bad'.",
        )),
    )
    .await;
    let mut conn = connection("src", mock.port(), "off", TOKEN_AUTH);
    conn.push_str("    pool_size: 1\n");
    let p = project(std::slice::from_ref(&conn));
    flow(&p, "f", "src", &["t1", "bad", "t2", "t3"], "");
    let (out, report) = go_json(&p, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = failure(&report, "f_bad");
    assert!(msg.contains("208") && msg.contains("dbo.bad"), "{msg}");
    for (t, rows) in &tables {
        assert_eq!(
            entry(&report, &format!("f_{t}"))["status"],
            "success",
            "{report}"
        );
        assert_eq!(parquet_rows(&p.join(&format!("out/{t}"))), *rows, "{t}");
    }
    assert!(
        parquet_files(&p.join("out/bad")).is_empty(),
        "bad published"
    );
}

/// The connection drops in the middle of a result (some rows already decoded): the entity
/// fails with an error naming it, nothing is published for it, the other entity lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_result_fails_the_entity_and_publishes_nothing() {
    let mock = Mock::plain().await;
    mock.table("t1", &many_rows(1, 100)).await;
    let rows = many_rows(500, 5);
    mock.table("t2", &rows).await;
    let proxy = CuttingProxy::start(mock.addr, &select("t1"), Cut::MidResult).await;
    let p = project(&[connection("src", proxy.port, "off", TOKEN_AUTH)]);
    // One row per batch, so the store has rows in hand when the connection drops.
    flow(&p, "f", "src", &["t1", "t2"], "  batch_size: 1\n");

    let (out, report) = go_json(&p, &[]).await;
    assert_eq!(proxy.cuts(), 1, "the row batch of t1 was never cut");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = failure(&report, "f_t1");
    assert!(
        msg.contains("dbo.t1") && names_connection(&msg, "src"),
        "{msg}"
    );
    // The home's marker for a failure after the result set began (so the cut really came
    // mid-result, not before it).
    assert!(msg.contains("reading stopped"), "{msg}");
    assert!(parquet_files(&p.join("out/t1")).is_empty(), "t1 published");
    assert_eq!(entry(&report, "f_t2")["status"], "success", "{report}");
    assert_eq!(parquet_rows(&p.join("out/t2")), rows);
}

/// The server stalls on the row batch and then goes away: the entity fails promptly (no
/// hang, no command timeout needed) with an error naming it, and nothing is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stalls_then_goes_away_fails_the_entity_without_hanging() {
    let mock = Mock::plain().await;
    mock.register(&top0("t1"), QueryResponse::new(columns(), vec![]))
        .await;
    mock.register(
        &select("t1"),
        rows_response(&many_rows(1, 3)).with_delay(Duration::from_secs(3600)),
    )
    .await;
    let proxy = CuttingProxy::start(mock.addr, &select("t1"), Cut::ServerGone).await;
    let p = project(&[connection("src", proxy.port, "off", TOKEN_AUTH)]);
    flow(&p, "f", "src", &["t1"], "");

    let (out, report) = go_json(&p, &[]).await;
    assert_eq!(proxy.cuts(), 1, "the stalled row batch was never cut");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let msg = failure(&report, "f_t1");
    assert!(
        msg.contains("dbo.t1") && names_connection(&msg, "src"),
        "{msg}"
    );
    assert!(parquet_files(&p.join("out/t1")).is_empty(), "t1 published");
}

/// A refused login (SQL Server error 18456) fails with the connection's name, says the
/// login failed, and keeps the number and message; for a SQL login and a token alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_names_the_connection_and_says_login_failed() {
    let (port, refused) = refusing_server(18456, "Login failed for user 'sa'.").await;
    let p = project(&[
        connection("by_sql", port, "off", SQL_AUTH),
        connection("by_token", port, "off", TOKEN_AUTH),
    ]);
    flow(&p, "s", "by_sql", &["a"], "");
    flow(&p, "e", "by_token", &["b"], "");

    let (out, report) = go_json(&p, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        refused.load(Ordering::SeqCst),
        2,
        "each connection tried to log in once: a refused login is not retried"
    );
    for (entity, conn, table) in [("s_a", "by_sql", "dbo.a"), ("e_b", "by_token", "dbo.b")] {
        let msg = failure(&report, entity);
        assert!(names_connection(&msg, conn), "{msg}");
        assert!(msg.to_lowercase().contains("login failed"), "{msg}");
        assert!(
            msg.contains("18456") && msg.contains("Login failed for user 'sa'."),
            "{msg}"
        );
        assert!(msg.contains(table), "{msg}");
    }
    let all = text(&out);
    for secret in [PASSWORD, TOKEN_TAIL] {
        assert!(!all.contains(secret), "a secret was printed:\n{all}");
    }
    assert!(
        !p.join("out/a").exists() && !p.join("out/b").exists(),
        "nothing published"
    );
}

/// A transient Azure SQL error at login (40613: the database is not available right now,
/// as during a failover) is retried: the second attempt logs in and the rows arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_login_error_is_retried_and_the_run_succeeds() {
    let mock = Mock::plain().await;
    let rows = sample_rows();
    mock.table("t1", &rows).await;
    let (port, refused) = flaky_front(
        40613,
        "Database 'db' on server 'x' is not currently available.",
        1,
        mock.port(),
    )
    .await;
    let p = project(&[connection("src", port, "off", SQL_AUTH)]);
    flow(&p, "f", "src", &["t1"], "");
    let out = run(&p, &["go"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(refused.load(Ordering::SeqCst), 1);
    assert_eq!(parquet_rows(&p.join("out/t1")), rows);
    assert!(text(&out).contains("connecting again"), "{}", text(&out));
}

/// As the original: without `options.concurrency`, the run's concurrency is the largest
/// SQL Server `pool_size`; a smaller pool than the concurrency is warned about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_defaults_to_the_largest_pool_size_and_a_small_pool_is_warned_about() {
    let mock = Mock::plain().await;
    mock.table("t1", &sample_rows()).await;
    let p = project(&[
        format!(
            "{}    pool_size: 3\n",
            connection("big", mock.port(), "off", SQL_AUTH)
        ),
        format!(
            "{}    pool_size: 2\n",
            connection("small", mock.port(), "off", SQL_AUTH)
        ),
    ]);
    flow(&p, "f", "big", &["t1"], "");
    let out = run(&p, &["go"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("concurrency 3"), "{all}");
    assert!(
        all.contains("connection small has pool_size 2, less than the concurrency 3"),
        "{all}"
    );
    assert!(!all.contains("connection big has pool_size"), "{all}");
    let out = run(&p, &["go", "--concurrency", "5"]).await;
    assert!(text(&out).contains("concurrency 5"), "{}", text(&out));
}

// ---------------------------------------------------------------------------------------
// The store: a proxy that takes the bulk loads the mock cannot
// ---------------------------------------------------------------------------------------

/// TDS packet types (MS-TDS 2.2.3.1.1).
const SQL_BATCH: u8 = 0x01;
const BULK_LOAD: u8 = 0x07;
/// Token types.
const COLMETADATA: u8 = 0x81;
const ROW: u8 = 0xD1;
const DONE: u8 = 0xFD;

/// One value of a bulk-loaded row, as [`BulkProxy`] decoded it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// What a client sent through [`BulkProxy`], in order (every connection).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    /// A SQL batch's text.
    Sql(String),
    /// A bulk-load message: its columns (`id bigint`) and rows, and whether the proxy
    /// answered it with an error.
    Bulk {
        columns: Vec<String>,
        rows: Vec<Vec<Cell>>,
        rejected: bool,
    },
    /// A bulk-load message the proxy could not decode (answered with an error).
    Garbled(String),
}

/// A TCP proxy in front of the mock that serves the store's bulk loads, which the mock
/// cannot: it answers a BulkLoad message (packet type 0x07) itself (DONE with the row
/// count, or the error of [`BulkProxy::reject`]) and never forwards it, and answers the SQL
/// batches of `answers` itself; everything else passes byte for byte. Every SQL batch and
/// bulk message is logged.
struct BulkProxy {
    port: u16,
    log: Arc<std::sync::Mutex<Vec<Sent>>>,
    /// Connections accepted.
    connections: Arc<AtomicUsize>,
}

/// How a [`BulkProxy`] answers.
struct ProxyScript {
    /// SQL batches answered by the proxy with these tokens, never forwarded.
    answers: Vec<(String, Vec<u8>)>,
    /// The bulk message (1-based, over the whole run) answered with this error instead of
    /// DONE.
    reject: Option<(usize, TerminalError)>,
}

impl BulkProxy {
    async fn start(upstream: SocketAddr, script: ProxyScript) -> BulkProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let bulks = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let (l, c) = (log.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (log, bulks, script) = (l.clone(), bulks.clone(), script.clone());
                tokio::spawn(async move {
                    bulk_proxy_one(client, server, &script, &log, &bulks).await;
                });
            }
        });
        BulkProxy {
            port,
            log,
            connections,
        }
    }

    fn log(&self) -> Vec<Sent> {
        self.log.lock().unwrap().clone()
    }

    /// The SQL batches sent, in order, without the pool's `SELECT 1` checks.
    fn sql(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter_map(|s| match s {
                Sent::Sql(q) if q != "SELECT 1" => Some(q),
                _ => None,
            })
            .collect()
    }

    /// Every row of every bulk message the proxy accepted.
    fn loaded_rows(&self) -> Vec<Vec<Cell>> {
        self.log()
            .into_iter()
            .flat_map(|s| match s {
                Sent::Bulk {
                    rows,
                    rejected: false,
                    ..
                } => rows,
                _ => vec![],
            })
            .collect()
    }
}

/// One TDS packet to the client: a tabular result (0x04) holding `tokens`, the last of its
/// message.
fn tabular_packet(tokens: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x04, 0x01];
    packet.extend_from_slice(&((8 + tokens.len()) as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0, 1, 0]);
    packet.extend_from_slice(tokens);
    packet
}

/// A DONE token: final, with a row count (DONE_COUNT).
fn done_count(rows: u64) -> Vec<u8> {
    let mut t = vec![DONE];
    t.extend_from_slice(&0x0010u16.to_le_bytes());
    t.extend_from_slice(&0u16.to_le_bytes());
    t.extend_from_slice(&rows.to_le_bytes());
    t
}

/// The answer to `SELECT TOP 0 * FROM <staging>` for a staging table `id bigint NULL, name
/// nvarchar(max) NULL`, as SQL Server sends it: nullable, read/write columns (the mock's
/// metadata has no flags, i.e. read-only columns, which tiberius leaves out of a bulk load).
fn staging_metadata() -> Vec<u8> {
    const FLAGS: u16 = 0x0001 | 0x0004; // nullable, read/write
    let mut t = vec![COLMETADATA];
    t.extend_from_slice(&2u16.to_le_bytes());
    let name = |t: &mut Vec<u8>, n: &str| {
        t.push(n.encode_utf16().count() as u8);
        t.extend(n.encode_utf16().flat_map(u16::to_le_bytes));
    };
    // id: INTN(8)
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&FLAGS.to_le_bytes());
    t.extend_from_slice(&[0x26, 8]);
    name(&mut t, "id");
    // name: NVARCHAR(max), Latin1_General_CI_AS
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(&FLAGS.to_le_bytes());
    t.push(0xE7);
    t.extend_from_slice(&0xFFFFu16.to_le_bytes());
    t.extend_from_slice(&[0x09, 0x04, 0xD0, 0x00, 0x34]);
    name(&mut t, "name");
    t.extend_from_slice(&done_count(0));
    t
}

/// One whole client message: `(type, its packets as sent, the payload)`.
async fn read_message(s: &mut tokio::net::tcp::OwnedReadHalf) -> Option<(u8, Vec<u8>, Vec<u8>)> {
    let (mut raw, mut payload) = (Vec::new(), Vec::new());
    loop {
        let mut header = [0u8; 8];
        s.read_exact(&mut header).await.ok()?;
        let len = u16::from_be_bytes([header[2], header[3]]) as usize;
        let mut body = vec![0u8; len.checked_sub(8)?];
        s.read_exact(&mut body).await.ok()?;
        raw.extend_from_slice(&header);
        raw.extend_from_slice(&body);
        payload.extend_from_slice(&body);
        if header[1] & 0x01 != 0 {
            return Some((header[0], raw, payload));
        }
    }
}

/// The text of a SQL batch payload (ALL_HEADERS, then UTF-16LE).
fn batch_text(payload: &[u8]) -> String {
    let skip = payload
        .get(..4)
        .map_or(0, |h| u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize)
        .min(payload.len());
    let units: Vec<u16> = payload[skip..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// Relays one connection as [`BulkProxy`] says, until the client closes it.
async fn bulk_proxy_one(
    client: TcpStream,
    server: TcpStream,
    script: &ProxyScript,
    log: &std::sync::Mutex<Vec<Sent>>,
    bulks: &AtomicUsize,
) {
    let (mut cr, cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let cw = Arc::new(Mutex::new(cw));
    let back = cw.clone();
    // The server's answers, byte for byte. The client sends its next request only once it
    // has read the whole answer to the last, so the proxy's own answers never interleave.
    let pump = tokio::spawn(async move {
        let mut buf = vec![0u8; 16384];
        while let Ok(n @ 1..) = sr.read(&mut buf).await {
            if back.lock().await.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    while let Some((ty, raw, payload)) = read_message(&mut cr).await {
        let answer = match ty {
            SQL_BATCH => {
                let sql = batch_text(&payload);
                log.lock().unwrap().push(Sent::Sql(sql.clone()));
                script
                    .answers
                    .iter()
                    .find(|(q, _)| *q == sql)
                    .map(|(_, tokens)| tokens.clone())
            }
            BULK_LOAD => {
                let n = bulks.fetch_add(1, Ordering::SeqCst) + 1;
                let reject = script.reject.as_ref().filter(|(at, _)| *at == n);
                Some(match parse_bulk(&payload) {
                    Ok((columns, rows)) => {
                        let count = rows.len() as u64;
                        log.lock().unwrap().push(Sent::Bulk {
                            columns,
                            rows,
                            rejected: reject.is_some(),
                        });
                        match reject {
                            Some((_, e)) => build_terminal_error_tokens(e).to_vec(),
                            None => done_count(count),
                        }
                    }
                    Err(e) => {
                        log.lock().unwrap().push(Sent::Garbled(e.clone()));
                        build_terminal_error_tokens(&TerminalError::new(4804, 16, &e)).to_vec()
                    }
                })
            }
            _ => None,
        };
        let sent = match answer {
            Some(tokens) => cw.lock().await.write_all(&tabular_packet(&tokens)).await,
            None => sw.write_all(&raw).await,
        };
        if sent.is_err() {
            break;
        }
    }
    pump.abort();
}

/// A bulk-load column's type, as far as these tests need.
#[derive(Clone, Copy)]
enum BulkType {
    /// INT8, fixed 8 bytes.
    Int8,
    /// INTN: a length byte (0 = NULL), then the value.
    IntN,
    /// NVARCHAR with its max length in bytes (0xFFFF: `max`, sent as PLP).
    NVarChar(u16),
}

/// Reads a bulk-load payload: COLMETADATA, ROWs, DONE.
fn parse_bulk(b: &[u8]) -> Result<(Vec<String>, Vec<Vec<Cell>>), String> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = b
            .get(at..at + n)
            .ok_or_else(|| format!("the bulk message ends early at byte {at} (+{n})"))?;
        at += n;
        Ok(s)
    };
    fn int(s: &[u8]) -> u64 {
        s.iter().rev().fold(0, |v, x| (v << 8) | u64::from(*x))
    }
    fn utf16(s: &[u8]) -> Result<String, String> {
        let units: Vec<u16> = s
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16(&units).map_err(|e| format!("bad UTF-16: {e}"))
    }
    if take(1)?[0] != COLMETADATA {
        return Err("the bulk message does not start with COLMETADATA".into());
    }
    let count = int(take(2)?) as usize;
    let (mut names, mut types) = (Vec::new(), Vec::new());
    for _ in 0..count {
        take(4)?; // user type
        take(2)?; // flags
        let ty = match take(1)?[0] {
            0x7F => BulkType::Int8,
            0x26 => match take(1)?[0] {
                8 => BulkType::IntN,
                n => return Err(format!("INTN({n}) is not a bigint")),
            },
            0xE7 => {
                let len = int(take(2)?) as u16;
                take(5)?; // collation
                BulkType::NVarChar(len)
            }
            t => return Err(format!("column type 0x{t:02X} is not decoded by this test")),
        };
        let units = take(1)?[0] as usize;
        let name = utf16(take(units * 2)?)?;
        names.push(match ty {
            BulkType::Int8 | BulkType::IntN => format!("{name} bigint"),
            BulkType::NVarChar(0xFFFF) => format!("{name} nvarchar(max)"),
            BulkType::NVarChar(n) => format!("{name} nvarchar({})", n / 2),
        });
        types.push(ty);
    }
    let mut rows = Vec::new();
    loop {
        match take(1)?[0] {
            ROW => {
                let mut row = Vec::new();
                for ty in &types {
                    row.push(match ty {
                        BulkType::Int8 => Cell::Int(int(take(8)?) as i64),
                        BulkType::IntN => match take(1)?[0] {
                            0 => Cell::Null,
                            8 => Cell::Int(int(take(8)?) as i64),
                            n => return Err(format!("a bigint of {n} bytes")),
                        },
                        BulkType::NVarChar(0xFFFF) => {
                            let total = int(take(8)?);
                            if total == u64::MAX {
                                Cell::Null
                            } else {
                                let mut data = Vec::new();
                                loop {
                                    let chunk = int(take(4)?) as usize;
                                    if chunk == 0 {
                                        break;
                                    }
                                    data.extend_from_slice(take(chunk)?);
                                }
                                if total != u64::MAX - 1 && total != data.len() as u64 {
                                    return Err(format!(
                                        "PLP length {total} but {} bytes of chunks",
                                        data.len()
                                    ));
                                }
                                Cell::Text(utf16(&data)?)
                            }
                        }
                        BulkType::NVarChar(_) => match int(take(2)?) {
                            0xFFFF => Cell::Null,
                            n => Cell::Text(utf16(take(n as usize)?)?),
                        },
                    });
                }
                rows.push(row);
            }
            DONE => {
                take(12)?;
                if at != b.len() {
                    return Err(format!("{} bytes after DONE", b.len() - at));
                }
                return Ok((names, rows));
            }
            t => return Err(format!("unexpected token 0x{t:02X} in a bulk message")),
        }
    }
}

/// The lock, create and unlock batches the store sends for `dbo.t`.
const LOCK_T: &str = "DECLARE @r int; EXEC @r = sp_getapplock @Resource = N'hygge:[dbo].[t]', @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = 0; SELECT CAST(@r AS bigint)";
/// The checkpoint published with the table's data, read under the lock.
const STATE_T: &str = "IF OBJECT_ID(N'[dbo].[_hygge_state]', N'U') IS NOT NULL SELECT [checkpoint] FROM [dbo].[_hygge_state] WHERE [table_name] = N'[dbo].[t]'";
const EXISTS_T: &str = "IF SCHEMA_ID(N'dbo') IS NULL EXEC(N'CREATE SCHEMA [dbo]'); SELECT CAST(CASE WHEN OBJECT_ID(N'[dbo].[t]', N'U') IS NULL THEN 0 ELSE 1 END AS bigint)";
/// A staging table a crashed run left is dropped only if hygge made it (its
/// `hygge_staging` mark); one anyone else made is refused.
const CREATE_STAGING_T: &str = "IF OBJECT_ID(N'[dbo].[t_hygge_tmp]', N'U') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sys.extended_properties WHERE class = 1 AND minor_id = 0 AND major_id = OBJECT_ID(N'[dbo].[t_hygge_tmp]') AND name = N'hygge_staging') THROW 50001, N'a table named dbo.t_hygge_tmp exists that hygge did not create (hygge loads into it); rename or drop it', 1; IF OBJECT_ID(N'[dbo].[t_hygge_tmp]', N'U') IS NOT NULL AND EXISTS (SELECT 1 FROM sys.extended_properties WHERE class = 1 AND minor_id = 0 AND major_id = OBJECT_ID(N'[dbo].[t_hygge_tmp]') AND name = N'hygge_staging') DROP TABLE [dbo].[t_hygge_tmp]; CREATE TABLE [dbo].[t_hygge_tmp] ([id] bigint NULL, [name] nvarchar(max) NULL); EXEC sys.sp_addextendedproperty @name = N'hygge_staging', @value = N'1', @level0type = N'SCHEMA', @level0name = N'dbo', @level1type = N'TABLE', @level1name = N't_hygge_tmp'";
const TOP0_STAGING_T: &str = "SELECT TOP 0 * FROM [dbo].[t_hygge_tmp]";
const INSERT_BULK_T: &str = "INSERT BULK [dbo].[t_hygge_tmp] ([id] bigint, [name] nvarchar(max))";
const UNLOCK_T: &str =
    "EXEC sp_releaseapplock @Resource = N'hygge:[dbo].[t]', @LockOwner = 'Session'";

/// Ten rows `id 0..9` with edge names: non-ASCII, an empty string, a NULL, quotes.
fn store_rows() -> Vec<(i64, Option<String>)> {
    let names = [
        Some("a"),
        Some("héllo wörld 🦀"),
        Some(""),
        None,
        Some("漢字 'quote' \"dq\" \\ back"),
        Some("tab\tnew\nline"),
        Some("]bracket["),
        None,
        Some("z"),
        Some("the last one"),
    ];
    names
        .iter()
        .enumerate()
        .map(|(i, n)| (i as i64, n.map(str::to_string)))
        .collect()
}

/// A project whose flow `f` loads Parquet `data/t/x.parquet` (`rows`, one row per batch)
/// into the SQL Server store `dbo.t` through `port`, 3 rows per bulk statement, on one
/// connection.
fn store_project(port: u16, rows: &[(i64, Option<String>)]) -> Project {
    let p = project(&[connection("src", port, "off", TOKEN_AUTH)]);
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", DataType::Int64, false),
        arrow::datatypes::Field::new("name", DataType::Utf8, true),
    ]));
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1.clone()))),
        ],
    )
    .unwrap();
    write_parquet(&p.join("data/t/x.parquet"), &[batch]);
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: parquet\n  path: data\n  batch_size: 1\nstore:\n  type: mssql\n  connection: src\n  table: dbo.{entity}\n  batch_size: 3\n  parallel_workers: 1\nentities: [t]\n",
    );
    p
}

/// A mock that takes the store's lock on `dbo.t`, behind a [`BulkProxy`] serving the bulk
/// loads (and the staging table's metadata, see [`staging_metadata`]).
async fn store_server(reject: Option<(usize, TerminalError)>) -> (Mock, BulkProxy) {
    let mock = Mock::plain().await;
    mock.register(
        LOCK_T,
        QueryResponse::new(
            vec![ColumnDefinition::new("", SqlDataType::BigInt)],
            vec![Row::new(vec![ColumnValue::BigInt(0)])],
        ),
    )
    .await;
    let proxy = BulkProxy::start(
        mock.addr,
        ProxyScript {
            answers: vec![(TOP0_STAGING_T.to_string(), staging_metadata())],
            reject,
        },
    )
    .await;
    (mock, proxy)
}

/// The proxy's decoded rows as `(id, name)`, sorted by id.
fn as_rows(cells: Vec<Vec<Cell>>) -> Vec<(i64, Option<String>)> {
    let mut rows: Vec<_> = cells
        .into_iter()
        .map(|r| match r.as_slice() {
            [Cell::Int(id), Cell::Null] => (*id, None),
            [Cell::Int(id), Cell::Text(s)] => (*id, Some(s.clone())),
            other => panic!("not an (id, name) row: {other:?}"),
        })
        .collect();
    rows.sort();
    rows
}

/// Parquet into the SQL Server store: every row reaches the server exactly (bulk load,
/// `INSERT BULK` per 3 rows), under the table's lock, into the staging table, and one
/// transaction narrows the string column, drops the old table and renames the staging
/// table into its place; then the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_bulk_loads_every_row_and_publishes_with_one_swap() {
    let (_mock, proxy) = store_server(None).await;
    let rows = store_rows();
    let p = store_project(proxy.port, &rows);

    let (out, report) = go_json(&p, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let e = entry(&report, "f_t");
    assert_eq!(e["status"], "success", "{report}");
    assert_eq!(report["report"]["totals"]["rows"], 10, "{report}");
    assert_eq!(e["rows_written"], 10, "{report}");
    assert_eq!(
        proxy.connections.load(Ordering::SeqCst),
        1,
        "parallel_workers: 1 loads on the locking connection"
    );

    let log = proxy.log();
    assert!(
        !log.iter().any(|s| matches!(s, Sent::Garbled(_))),
        "{log:#?}"
    );
    assert_eq!(as_rows(proxy.loaded_rows()), rows, "{log:#?}");
    let bulks: Vec<_> = log
        .iter()
        .filter_map(|s| match s {
            Sent::Bulk { columns, rows, .. } => Some((columns.clone(), rows.len())),
            _ => None,
        })
        .collect();
    assert!(bulks.len() >= 4, "3 rows per statement: {log:#?}");
    for (columns, n) in &bulks {
        assert_eq!(columns, &["id bigint", "name nvarchar(max)"], "{log:#?}");
        assert!((1..=3).contains(n), "{n} rows in one statement: {log:#?}");
    }

    let longest = rows
        .iter()
        .filter_map(|r| r.1.as_ref().map(String::len))
        .max()
        .unwrap();
    // One transaction swaps the table in and upserts the checkpoint (waiting 2 s at a
    // time for locks), then the session's lock timeout is put back.
    let publish = format!(
        "SET LOCK_TIMEOUT 2000; SET XACT_ABORT ON; BEGIN TRANSACTION; \
         ALTER TABLE [dbo].[t_hygge_tmp] ALTER COLUMN [name] nvarchar({longest}) NULL; \
         IF OBJECT_ID(N'[dbo].[t]', N'U') IS NOT NULL DROP TABLE [dbo].[t]; \
         EXEC sp_rename N'[dbo].[t_hygge_tmp]', N't', N'OBJECT'; \
         EXEC sys.sp_dropextendedproperty @name = N'hygge_staging', @level0type = N'SCHEMA', \
         @level0name = N'dbo', @level1type = N'TABLE', @level1name = N't'; \
         DECLARE @sl int; EXEC @sl = sp_getapplock @Resource = N'hygge:state:[dbo]', @LockMode = 'Exclusive', \
         @LockOwner = 'Transaction', @LockTimeout = 2000; \
         IF @sl < 0 THROW 51222, N'timed out waiting for the state table lock', 1; \
         IF OBJECT_ID(N'[dbo].[_hygge_state]', N'U') IS NULL CREATE TABLE [dbo].[_hygge_state] ([table_name] nvarchar(450) NOT NULL PRIMARY KEY, \
         [checkpoint] nvarchar(max) NOT NULL, [updated_at] datetime2 NOT NULL); \
         DECLARE @c nvarchar(max) = CHECKPOINT; \
         UPDATE [dbo].[_hygge_state] SET [checkpoint] = @c, [updated_at] = SYSUTCDATETIME() WHERE [table_name] = N'[dbo].[t]'; \
         IF @@ROWCOUNT = 0 INSERT INTO [dbo].[_hygge_state] ([table_name], [checkpoint], [updated_at]) VALUES (N'[dbo].[t]', @c, SYSUTCDATETIME()); \
         COMMIT TRANSACTION; SET LOCK_TIMEOUT -1; SELECT CAST(-1 AS bigint);"
    );
    let mut sql = proxy.sql();
    let checkpoint = publish_checkpoint(&mut sql);
    assert_eq!(checkpoint["rows"], 10, "{checkpoint}");
    assert_eq!(checkpoint["entity"], "t", "{checkpoint}");
    assert_eq!(checkpoint["run_type"], "full_drop", "{checkpoint}");
    let mut expected = vec![
        LOCK_T.to_string(),
        STATE_T.to_string(),
        EXISTS_T.to_string(),
        CREATE_STAGING_T.to_string(),
    ];
    for _ in &bulks {
        expected.push(TOP0_STAGING_T.to_string());
        expected.push(INSERT_BULK_T.to_string());
    }
    expected.push(publish);
    expected.push(UNLOCK_T.to_string());
    assert_eq!(sql, expected, "{log:#?}");
    // Every bulk message came right after its INSERT BULK.
    for (i, s) in log.iter().enumerate() {
        if matches!(s, Sent::Bulk { .. }) {
            assert_eq!(log[i - 1], Sent::Sql(INSERT_BULK_T.into()), "{log:#?}");
        }
    }
}

/// Takes the checkpoint literal out of the publishing batch in `sql` (leaving `CHECKPOINT`
/// in its place) and parses it.
fn publish_checkpoint(sql: &mut [String]) -> serde_json::Value {
    let at = sql
        .iter()
        .position(|q| q.contains("DECLARE @c nvarchar(max) = N'"))
        .unwrap_or_else(|| panic!("no checkpoint upsert in {sql:#?}"));
    let q = &sql[at];
    let start =
        q.find("DECLARE @c nvarchar(max) = N'").unwrap() + "DECLARE @c nvarchar(max) = ".len();
    let end = start + q[start..].find("'; UPDATE").unwrap() + 1;
    let literal = &q[start..end];
    let json = literal[2..literal.len() - 1].replace("''", "'");
    sql[at] = format!("{}CHECKPOINT{}", &q[..start], &q[end..]);
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// What the store sends after a failed load: roll back, drop the staging table, unlock.
const CLEAN_UP_T: &str = "IF XACT_STATE() <> 0 ROLLBACK TRANSACTION; SET LOCK_TIMEOUT -1; IF OBJECT_ID(N'[dbo].[t_hygge_tmp]', N'U') IS NOT NULL AND EXISTS (SELECT 1 FROM sys.extended_properties WHERE class = 1 AND minor_id = 0 AND major_id = OBJECT_ID(N'[dbo].[t_hygge_tmp]') AND name = N'hygge_staging') DROP TABLE [dbo].[t_hygge_tmp]; EXEC sp_releaseapplock @Resource = N'hygge:[dbo].[t]', @LockOwner = 'Session'";

/// The server rejects the second bulk statement (4815): the entity fails naming the
/// table, the connection and the error, and nothing is published. A server error leaves
/// the locking connection usable, so it drops the staging table and releases the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_load_the_server_rejects_publishes_nothing() {
    let msg = "Received an invalid column length from the bcp client for colid 2.";
    let (_mock, proxy) = store_server(Some((2, TerminalError::new(4815, 16, msg)))).await;
    let p = store_project(proxy.port, &store_rows());

    let (out, report) = go_json(&p, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = failure(&report, "f_t");
    assert!(
        err.contains("dbo.t") && names_connection(&err, "src"),
        "{err}"
    );
    assert!(err.contains("4815") && err.contains(msg), "{err}");

    let log = proxy.log();
    let bulks: Vec<bool> = log
        .iter()
        .filter_map(|s| match s {
            Sent::Bulk { rejected, .. } => Some(*rejected),
            _ => None,
        })
        .collect();
    assert_eq!(
        bulks,
        [false, true],
        "no bulk load after the rejected one: {log:#?}"
    );
    let sql = proxy.sql();
    assert!(
        !sql.iter()
            .any(|q| q.contains("sp_rename") || q.contains("COMMIT")),
        "published: {sql:#?}"
    );
    assert_eq!(
        sql,
        [
            LOCK_T,
            STATE_T,
            EXISTS_T,
            CREATE_STAGING_T,
            TOP0_STAGING_T,
            INSERT_BULK_T,
            TOP0_STAGING_T,
            INSERT_BULK_T,
            CLEAN_UP_T,
        ],
        "after the failed load, only the clean-up: {log:#?}"
    );
    assert_eq!(
        proxy.connections.load(Ordering::SeqCst),
        1,
        "one connection (the locking one) did everything"
    );
}

/// Every type the mock can put on the wire, read exactly: tinyint, smallint, int, bigint,
/// nvarchar, and the `(max)` types in several PLP chunks (a surrogate pair split across two
/// chunks included), with NULLs where the mock can send them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_the_mock_sends_is_read_exactly() {
    use arrow::array::{
        AsArray, LargeBinaryArray, LargeStringArray,
        types::{Int16Type, Int32Type, UInt8Type},
    };
    let mock = Mock::plain().await;
    let cols = vec![
        ColumnDefinition::new("u8", SqlDataType::TinyInt),
        ColumnDefinition::new("i16", SqlDataType::SmallInt),
        ColumnDefinition::new("i32", SqlDataType::Int),
        ColumnDefinition::new("i64", SqlDataType::BigInt),
        ColumnDefinition::new("nv", SqlDataType::NVarChar),
        ColumnDefinition::new("nvmax", SqlDataType::NVarCharMax),
        ColumnDefinition::new("vmax", SqlDataType::VarCharMax),
        ColumnDefinition::new("bin", SqlDataType::VarBinaryMax),
    ];
    // "a𝄞b" as UTF-16, the surrogate pair cut between two chunks.
    let clef: Vec<u16> = "a𝄞b".encode_utf16().collect();
    let rows = vec![
        Row::new(vec![
            ColumnValue::TinyInt(255),
            ColumnValue::SmallInt(i16::MIN),
            ColumnValue::Int(i32::MAX),
            ColumnValue::BigInt(i64::MIN),
            ColumnValue::NVarChar("ünï".into()),
            ColumnValue::NVarCharMax(vec![clef[..2].to_vec(), clef[2..].to_vec()]),
            ColumnValue::VarCharMax(vec![b"plain ".to_vec(), b"ascii".to_vec()]),
            ColumnValue::VarBinaryMax(vec![vec![0, 255], vec![7]]),
        ]),
        Row::new(vec![
            ColumnValue::TinyInt(0),
            ColumnValue::SmallInt(i16::MAX),
            ColumnValue::Int(i32::MIN),
            ColumnValue::BigInt(i64::MAX),
            ColumnValue::NVarChar(String::new()),
            ColumnValue::NVarCharMaxNull,
            ColumnValue::VarCharMax(vec![b"x".to_vec()]),
            ColumnValue::VarBinaryMax(vec![vec![1]]),
        ]),
    ];
    mock.register(
        "SELECT TOP 0 * FROM [dbo].[ty]",
        QueryResponse::new(cols.clone(), vec![]),
    )
    .await;
    mock.register(
        "SELECT [u8], [i16], [i32], [i64], [nv], [nvmax], [vmax], [bin] FROM [dbo].[ty]",
        QueryResponse::new(cols, rows),
    )
    .await;
    let p = project(&[connection("src", mock.port(), "off", SQL_AUTH)]);
    flow(&p, "f", "src", &["ty"], "");
    let out = run(&p, &["go"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let b = read_parquet_dir(&p.join("out/ty"));
    let b = arrow::compute::concat_batches(&b[0].schema(), &b).unwrap();
    assert_eq!(b.num_rows(), 2);
    let u8s = b.column_by_name("u8").unwrap().as_primitive::<UInt8Type>();
    assert_eq!(u8s.values().to_vec(), vec![255, 0]);
    let i16s = b.column_by_name("i16").unwrap().as_primitive::<Int16Type>();
    assert_eq!(i16s.values().to_vec(), vec![i16::MIN, i16::MAX]);
    let i32s = b.column_by_name("i32").unwrap().as_primitive::<Int32Type>();
    assert_eq!(i32s.values().to_vec(), vec![i32::MAX, i32::MIN]);
    let i64s = b
        .column_by_name("i64")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(i64s.values().to_vec(), vec![i64::MIN, i64::MAX]);
    let nv = b
        .column_by_name("nv")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(nv.iter().collect::<Vec<_>>(), vec![Some("ünï"), Some("")]);
    let nvmax = b
        .column_by_name("nvmax")
        .unwrap()
        .as_any()
        .downcast_ref::<LargeStringArray>()
        .unwrap();
    assert_eq!(nvmax.iter().collect::<Vec<_>>(), vec![Some("a𝄞b"), None]);
    let vmax = b
        .column_by_name("vmax")
        .unwrap()
        .as_any()
        .downcast_ref::<LargeStringArray>()
        .unwrap();
    assert_eq!(
        vmax.iter().collect::<Vec<_>>(),
        vec![Some("plain ascii"), Some("x")]
    );
    let bin = b
        .column_by_name("bin")
        .unwrap()
        .as_any()
        .downcast_ref::<LargeBinaryArray>()
        .unwrap();
    assert_eq!(
        bin.iter().collect::<Vec<_>>(),
        vec![Some(&[0u8, 255, 7][..]), Some(&[1u8][..])]
    );
}
