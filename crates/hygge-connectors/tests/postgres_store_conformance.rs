//! The PostgreSQL store passes the store conformance suite and the PostgreSQL home the home
//! suite, one test per case, against the real server, built as `hygge go` builds them.
#![cfg(feature = "postgres")]

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use hygge_connectors::registry::{home_from_json, store_from_json};
use hygge_core::{Home, ReadRequest, Store};
use hygge_testkit::conformance::{HomeHarness, StoreHarness};
use hygge_testkit::pg::TestDb;

struct Pg {
    db: TestDb,
}

impl Pg {
    fn new() -> Self {
        Pg {
            db: TestDb::create("conformance"),
        }
    }

    fn url(&self) -> String {
        self.db.conn_str()
    }
}

#[async_trait::async_trait]
impl StoreHarness for Pg {
    async fn store(&self) -> Arc<dyn Store> {
        store_from_json(
            serde_json::json!({
                "type": "postgres",
                "url": self.url(),
                "schema": "conformance",
                "pool_size": 2,
            }),
            false,
        )
        .unwrap()
        .build()
    }

    async fn published(&self, entity: &str) -> Vec<RecordBatch> {
        let exists = self.db.query(&format!(
            "SELECT to_regclass('conformance.\"{entity}\"') IS NOT NULL"
        ));
        if exists[0][0].as_deref() != Some("t") {
            return vec![];
        }
        let home = home_from_json(
            serde_json::json!({
                "type": "postgres",
                "url": self.url(),
                "table": "conformance.{entity}",
            }),
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
        // Staging tables live inside the writer's transaction: none may be visible, ever.
        self.db
            .query(&format!(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relname LIKE '{entity}%hygge%' OR c.relname LIKE 'hygge_stage%'"
            ))
            .into_iter()
            .map(|r| r[0].clone().unwrap_or_default())
            .collect()
    }
}

#[async_trait::async_trait]
impl HomeHarness for Pg {
    async fn home(&self) -> Arc<dyn Home> {
        home_from_json(
            serde_json::json!({
                "type": "postgres",
                "url": self.url(),
                "table": "source.{entity}",
                "pool_size": 3,
            }),
            false,
        )
        .unwrap()
        .build()
    }

    async fn seed(&self, entity: &str, ids: std::ops::Range<i64>) {
        self.db.query(&format!(
            "CREATE SCHEMA IF NOT EXISTS source; \
             CREATE TABLE source.\"{entity}\" AS SELECT i::bigint AS id, \
             CASE WHEN i % 7 = 0 THEN NULL ELSE 'näme-' || i END AS name \
             FROM generate_series({}, {}) AS i",
            ids.start,
            ids.end - 1
        ));
    }
}

mod postgres_store {
    use super::*;
    hygge_testkit::store_conformance!(Pg::new());
}

mod postgres_home {
    use super::*;
    hygge_testkit::home_conformance!(Pg::new());
}
