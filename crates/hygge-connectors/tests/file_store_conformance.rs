//! The file stores (parquet, csv, ndjson) pass the store conformance suite.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use hygge_connectors::format::FileFormat;
use hygge_connectors::{HomeConfig, StoreConfig};
use hygge_core::{ReadRequest, Store};
use hygge_testkit::conformance::{StoreHarness, run_store_conformance};

struct Files {
    root: tempfile::TempDir,
    format: FileFormat,
}

impl Files {
    fn config(&self, side: &str) -> serde_json::Value {
        serde_json::json!({
            "type": "local",
            "path": self.root.path(),
            "format": self.format,
            "batch_size": if side == "store" { 70 } else { 1000 },
        })
    }
}

#[async_trait::async_trait]
impl StoreHarness for Files {
    async fn store(&self) -> Arc<dyn Store> {
        let c: StoreConfig = serde_json::from_value(self.config("store")).unwrap();
        c.validate(true).unwrap().build()
    }

    async fn published(&self, entity: &str) -> Vec<RecordBatch> {
        if !self.root.path().join(entity).exists() {
            return vec![];
        }
        let c: HomeConfig = serde_json::from_value(self.config("home")).unwrap();
        let home = c.validate(true).unwrap().build();
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
        let mut out = vec![];
        // This entity's staging folder (`.hygge/staging/<entity>/`) must be gone.
        let staging: PathBuf = self.root.path().join(".hygge/staging").join(entity);
        if staging.exists() {
            out.push(staging.display().to_string());
        }
        if let Ok(entries) = std::fs::read_dir(self.root.path().join(entity)) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.ends_with(self.format.extension())
                    && name != hygge_connectors::stores::files::STATE_FILE
                {
                    out.push(e.path().display().to_string());
                }
            }
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_store_conforms() {
    run_store_conformance(&Files {
        root: tempfile::tempdir().unwrap(),
        format: FileFormat::Parquet,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_store_conforms() {
    run_store_conformance(&Files {
        root: tempfile::tempdir().unwrap(),
        format: FileFormat::Csv,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_store_conforms() {
    run_store_conformance(&Files {
        root: tempfile::tempdir().unwrap(),
        format: FileFormat::Ndjson,
    })
    .await;
}
