//! The PostgreSQL store passes the store conformance suite, against the real server.
#![cfg(feature = "postgres")]

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use hygge_connectors::{HomeConfig, StoreConfig};
use hygge_core::{ReadRequest, Store};
use hygge_testkit::conformance::{StoreHarness, run_store_conformance};
use hygge_testkit::pg::TestDb;

struct Pg {
    db: TestDb,
}

impl Pg {
    fn url(&self) -> String {
        self.db.conn_str()
    }
}

#[async_trait::async_trait]
impl StoreHarness for Pg {
    async fn store(&self) -> Arc<dyn Store> {
        let c: StoreConfig = serde_json::from_value(serde_json::json!({
            "type": "postgres",
            "url": self.url(),
            "schema": "conformance",
            "pool_size": 2,
        }))
        .unwrap();
        c.validate(false).unwrap().build()
    }

    async fn published(&self, entity: &str) -> Vec<RecordBatch> {
        let exists = self.db.query(&format!(
            "SELECT to_regclass('conformance.\"{entity}\"') IS NOT NULL"
        ));
        if exists[0][0].as_deref() != Some("t") {
            return vec![];
        }
        let c: HomeConfig = serde_json::from_value(serde_json::json!({
            "type": "postgres",
            "url": self.url(),
            "table": "conformance.{entity}",
        }))
        .unwrap();
        let home = c.validate(false).unwrap().build();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    run_store_conformance(&Pg {
        db: TestDb::create("conformance"),
    })
    .await;
}
