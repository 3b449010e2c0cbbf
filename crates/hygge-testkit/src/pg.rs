//! A throwaway PostgreSQL database per test, on the server the test suite uses.
//!
//! The server is `HYGGE_TEST_PG` (a `key=value` connection string; default
//! `host=127.0.0.1 port=5432 user=postgres`). `scripts/test.sh` makes sure it runs; a test
//! that cannot reach it fails (it is never skipped silently).

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

/// The admin connection string of the test server.
pub fn server() -> String {
    std::env::var("HYGGE_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres".to_string())
}

/// A database created for one test and dropped (with its connections) when this is dropped.
pub struct TestDb {
    /// The database's name.
    pub name: String,
}

impl TestDb {
    /// Creates `hygge_test_<prefix>_<pid>_<n>` (dropping a leftover of the same name).
    pub fn create(prefix: &str) -> TestDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "hygge_test_{}_{}_{}",
            prefix
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        admin(&[
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{name}\""),
        ]);
        TestDb { name }
    }

    /// A `key=value` connection string to this database.
    pub fn conn_str(&self) -> String {
        format!("{} dbname={}", server(), self.name)
    }

    /// Runs statements on this database (simple protocol) and returns every row of the last
    /// one, each value as text (`None` for NULL).
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        run(&self.conn_str(), &[sql.to_string()])
    }

    /// The number of rows of `table` (quoted as given).
    pub fn count(&self, table: &str) -> i64 {
        let rows = self.query(&format!("SELECT count(*) FROM {table}"));
        rows[0][0].as_deref().unwrap_or("0").parse().unwrap_or(-1)
    }

    /// A connection to this database that stays open (and keeps its transaction, locks
    /// and settings) until the [`Session`] is dropped.
    pub fn session(&self) -> Session {
        Session::open(&self.conn_str())
    }
}

/// Rows as text (`None` for NULL), or the server's error.
pub type Rows = Result<Vec<Vec<Option<String>>>, String>;

type Request = (String, std::sync::mpsc::Sender<Rows>);

/// One open connection on a thread of its own: statements sent to it run in order, in the
/// same session (a `BEGIN` stays open between calls). Dropping it closes the connection.
pub struct Session {
    tx: Option<tokio::sync::mpsc::UnboundedSender<Request>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Session {
    /// Connects to `conn` (a `key=value` string); panics if the server cannot be reached.
    pub fn open(conn: &str) -> Session {
        let conn = conn.to_string();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Request>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let (client, connection) = match tokio_postgres::connect(&conn, NoTls).await {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("{conn}: {e}")));
                        return;
                    }
                };
                let task = tokio::spawn(connection);
                let _ = ready_tx.send(Ok(()));
                while let Some((sql, reply)) = rx.recv().await {
                    let result = client.simple_query(&sql).await.map(|msgs| {
                        msgs.into_iter()
                            .filter_map(|m| match m {
                                tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                                    (0..r.len()).map(|i| r.get(i).map(str::to_string)).collect(),
                                ),
                                _ => None,
                            })
                            .collect()
                    });
                    let _ = reply.send(result.map_err(|e| match e.as_db_error() {
                        Some(db) => format!("{}: {}", db.code().code(), db.message()),
                        None => e.to_string(),
                    }));
                }
                drop(client);
                let _ = task.await;
            })
        });
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("cannot reach the test PostgreSQL server: {e}"),
            Err(_) => panic!("the session thread died while connecting"),
        }
        Session {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Runs `sql` (one or more statements, simple protocol) and returns the rows of the
    /// last one, or the server's error as `SQLSTATE: message`.
    pub fn query(&self, sql: &str) -> Rows {
        let (reply, answer) = std::sync::mpsc::channel();
        self.tx
            .as_ref()
            .expect("open")
            .send((sql.to_string(), reply))
            .map_err(|_| "the session is closed".to_string())?;
        answer
            .recv()
            .map_err(|_| "the session thread died".to_string())?
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.tx = None; // ends the thread's loop, which closes the connection
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        admin(&[format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )]);
    }
}

fn admin(sql: &[String]) {
    run(&format!("{} dbname=postgres", server()), sql);
}

/// Runs one statement on the server's `postgres` database (e.g. to watch
/// `pg_stat_activity`); returns its rows as text.
pub fn admin_query(sql: &str) -> Vec<Vec<Option<String>>> {
    run(&format!("{} dbname=postgres", server()), &[sql.to_string()])
}

/// Runs `sql` in order on a fresh connection; returns the rows of the last statement.
fn run(conn: &str, sql: &[String]) -> Vec<Vec<Option<String>>> {
    let conn = conn.to_string();
    let sql = sql.to_vec();
    // A thread of its own: callers may or may not be inside a Tokio runtime.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&conn, NoTls)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot reach the test PostgreSQL server ({conn}): {e}; start it (scripts/test.sh does) or set HYGGE_TEST_PG"
                    )
                });
            let task = tokio::spawn(connection);
            let mut rows = Vec::new();
            for s in &sql {
                rows.clear();
                let msgs = client
                    .simple_query(s)
                    .await
                    .unwrap_or_else(|e| panic!("{s}: {e}"));
                for m in msgs {
                    if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                        rows.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect());
                    }
                }
            }
            drop(client);
            let _ = task.await;
            rows
        })
    })
    .join()
    .expect("postgres helper thread")
}
