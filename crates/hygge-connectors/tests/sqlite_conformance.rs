//! The SQLite store passes the store conformance suite and the SQLite home the home suite,
//! one test per case, each on a database file of its own, built as `hygge go` builds them.
#![cfg(feature = "sqlite")]

use std::path::PathBuf;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use hygge_connectors::registry::{home_from_json, store_from_json};
use hygge_core::{Home, ReadRequest, Store};
use hygge_testkit::conformance::{HomeHarness, StoreHarness};

struct Lite {
    _dir: tempfile::TempDir,
    db: PathBuf,
}

impl Lite {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data.sqlite");
        Lite { _dir: dir, db }
    }

    fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.db).unwrap()
    }
}

#[async_trait::async_trait]
impl StoreHarness for Lite {
    async fn store(&self) -> Arc<dyn Store> {
        store_from_json(
            serde_json::json!({"type": "sqlite", "path": self.db, "batch_size": 64}),
            false,
        )
        .unwrap()
        .build()
    }

    async fn published(&self, entity: &str) -> Vec<RecordBatch> {
        if !self.db.exists() {
            return vec![];
        }
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [entity],
                |r| r.get(0),
            )
            .unwrap();
        if n == 0 {
            return vec![];
        }
        let home = home_from_json(
            serde_json::json!({"type": "sqlite", "path": self.db, "table": "{entity}"}),
            false,
        )
        .unwrap()
        .build();
        let req = ReadRequest {
            flow_name: "t".into(),
            entity: entity.into(),
            batch_size: 1000,
            after: None,
            after_inclusive: false,
        };
        let (_, stream) = home.read(&req).await.unwrap();
        stream.try_collect().await.unwrap()
    }

    async fn leftovers(&self, entity: &str) -> Vec<String> {
        let mut out: Vec<String> = hygge_connectors::sqlite::store::staging_files(&self.db)
            .into_iter()
            .map(|p| p.display().to_string())
            .collect();
        if self.db.exists() {
            let c = self.conn();
            let mut st = c
                .prepare("SELECT name FROM sqlite_master WHERE name LIKE ?1")
                .unwrap();
            let names = st
                .query_map([format!("{entity}%hygge%")], |r| r.get::<_, String>(0))
                .unwrap();
            out.extend(names.map(Result::unwrap));
        }
        out
    }
}

#[async_trait::async_trait]
impl HomeHarness for Lite {
    async fn home(&self) -> Arc<dyn Home> {
        home_from_json(
            serde_json::json!({"type": "sqlite", "path": self.db, "table": "src_{entity}"}),
            false,
        )
        .unwrap()
        .build()
    }

    async fn seed(&self, entity: &str, ids: std::ops::Range<i64>) {
        let mut c = self.conn();
        let tx = c.transaction().unwrap();
        tx.execute_batch(&format!(
            "CREATE TABLE \"src_{entity}\" (id INTEGER NOT NULL, name TEXT)"
        ))
        .unwrap();
        {
            let mut st = tx
                .prepare(&format!("INSERT INTO \"src_{entity}\" VALUES (?1, ?2)"))
                .unwrap();
            for i in ids {
                let name = (i % 7 != 0).then(|| format!("näme-{i}"));
                st.execute(rusqlite::params![i, name]).unwrap();
            }
        }
        tx.commit().unwrap();
    }
}

mod sqlite_store {
    use super::*;
    hygge_testkit::store_conformance!(Lite::new());
}

mod sqlite_home {
    use super::*;
    hygge_testkit::home_conformance!(Lite::new());
}
