//! The SQL Server store passes the store conformance suite against a real SQL Server /
//! Azure SQL, when `MSSQL_TEST_CONNECTION_STRING` is set (an ADO string; see README). No
//! server can run on the build machines: without it the test prints SKIPPED and returns.
#![cfg(feature = "mssql")]

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use hygge_connectors::mssql::MssqlConnectionConfig;
use hygge_connectors::mssql::connection::{Role, pool};
use hygge_connectors::{HomeConfig, StoreConfig};
use hygge_core::{ReadRequest, Store};
use hygge_testkit::conformance::{StoreHarness, run_store_conformance};

/// The connection keys from the ADO string, as JSON.
fn keys(ado: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    for part in ado.split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let key = match k.trim().to_ascii_lowercase().as_str() {
            "server" | "data source" => "server",
            "database" | "initial catalog" => "database",
            "user id" | "uid" | "user" => "user",
            "password" | "pwd" => "password",
            "encrypt" => "encrypt",
            "trustservercertificate" => "trust_cert",
            _ => continue,
        };
        m.insert(key.into(), v.trim().into());
    }
    m
}

struct Live {
    keys: serde_json::Map<String, serde_json::Value>,
    schema: String,
}

impl Live {
    fn with(&self, extra: serde_json::Value) -> serde_json::Value {
        let mut m = self.keys.clone();
        if let serde_json::Value::Object(e) = extra {
            m.extend(e);
        }
        serde_json::Value::Object(m)
    }

    async fn scalar(&self, sql: String) -> Option<i64> {
        let cfg: MssqlConnectionConfig =
            serde_json::from_value(serde_json::Value::Object(self.keys.clone())).unwrap();
        let p = pool("conformance", &cfg, Role::Home).unwrap();
        let mut lease = p.get().await.unwrap();
        let row = lease
            .client()
            .simple_query(sql)
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap();
        lease.done();
        row.and_then(|r| r.get::<i64, _>(0))
    }
}

#[async_trait::async_trait]
impl StoreHarness for Live {
    async fn store(&self) -> Arc<dyn Store> {
        let c: StoreConfig = serde_json::from_value(self.with(serde_json::json!({
            "type": "mssql",
            "table": format!("{}.{{entity}}", self.schema),
            "pool_size": 2,
        })))
        .unwrap();
        c.validate(false).unwrap().build()
    }

    async fn published(&self, entity: &str) -> Vec<RecordBatch> {
        let exists = self
            .scalar(format!(
                "SELECT CAST(CASE WHEN OBJECT_ID(N'[{}].[{entity}]', N'U') IS NULL THEN 0 ELSE 1 END AS bigint)",
                self.schema
            ))
            .await;
        if exists != Some(1) {
            return vec![];
        }
        let c: HomeConfig = serde_json::from_value(self.with(serde_json::json!({
            "type": "mssql",
            "table": format!("{}.{{entity}}", self.schema),
        })))
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
        let n = self
            .scalar(format!(
                "SELECT COUNT_BIG(*) FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id \
                 WHERE s.name = N'{}' AND t.name = N'{entity}_hygge_tmp'",
                self.schema
            ))
            .await
            .unwrap_or(0);
        (0..n).map(|_| format!("{entity}_hygge_tmp")).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a SQL Server: set MSSQL_TEST_CONNECTION_STRING"]
async fn mssql_store_conforms_on_a_live_server() {
    let Ok(ado) = std::env::var("MSSQL_TEST_CONNECTION_STRING") else {
        panic!("mssql_store_conforms needs a SQL Server: set MSSQL_TEST_CONNECTION_STRING");
    };
    let live = Live {
        keys: keys(&ado),
        schema: format!("hygge_conf_{}", std::process::id()),
    };
    run_store_conformance(&live).await;
}
