//! The DuckDB store passes the store conformance suite and the DuckDB home the home suite,
//! one test per case, each on a database file of its own, built as `hygge go` builds them.
#![cfg(feature = "duckdb")]

use std::path::PathBuf;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use hygge_connectors::duckdb::db::Db;
use hygge_connectors::registry::{home_from_json, store_from_json};
use hygge_core::{Home, ReadRequest, Store};
use hygge_testkit::conformance::{HomeHarness, StoreHarness};

struct Duck {
    _dir: tempfile::TempDir,
    db: PathBuf,
}

impl Duck {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data.duckdb");
        Duck { _dir: dir, db }
    }

    /// A connection to the file through the instance the store and home share (this
    /// process may not open the file a second time).
    fn conn(&self) -> duckdb::Connection {
        Db::open(&self.db, true).unwrap().connect().unwrap()
    }

    fn tables(&self, like: &str) -> Vec<String> {
        let c = self.conn();
        let mut st = c
            .prepare("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE ? ORDER BY 1")
            .unwrap();
        st.query_map([like], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
}

#[async_trait::async_trait]
impl StoreHarness for Duck {
    async fn store(&self) -> Arc<dyn Store> {
        store_from_json(
            serde_json::json!({"type": "duckdb", "path": self.db}),
            false,
        )
        .unwrap()
        .build()
    }

    async fn published(&self, entity: &str) -> Vec<RecordBatch> {
        if !self.db.exists() || self.tables(entity) != vec![entity.to_string()] {
            return vec![];
        }
        let home = home_from_json(
            serde_json::json!({"type": "duckdb", "path": self.db, "table": "{entity}"}),
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
        if !self.db.exists() {
            return vec![];
        }
        // Loads stage nothing outside their transaction: any table but the published one
        // and hygge's two bookkeeping tables is left over.
        let _ = entity;
        self.tables("%hygge%")
            .into_iter()
            .filter(|t| t != "_hygge_state" && t != "_hygge_columns")
            .collect()
    }
}

#[async_trait::async_trait]
impl HomeHarness for Duck {
    async fn home(&self) -> Arc<dyn Home> {
        home_from_json(
            serde_json::json!({"type": "duckdb", "path": self.db, "table": "src_{entity}"}),
            false,
        )
        .unwrap()
        .build()
    }

    async fn seed(&self, entity: &str, ids: std::ops::Range<i64>) {
        let c = self.conn();
        c.execute_batch(&format!(
            "CREATE TABLE \"src_{entity}\" AS SELECT i AS id, \
             CASE WHEN i % 7 <> 0 THEN 'näme-' || i END AS name \
             FROM range({}, {}) t(i) ORDER BY i",
            ids.start, ids.end
        ))
        .unwrap();
    }
}

mod duckdb_store {
    use super::*;
    hygge_testkit::store_conformance!(Duck::new());
}

mod duckdb_home {
    use super::*;
    hygge_testkit::home_conformance!(Duck::new());
}
