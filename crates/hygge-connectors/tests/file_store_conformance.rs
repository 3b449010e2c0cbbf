//! The file stores (parquet, csv, ndjson) pass the store conformance suite, one test per
//! case; the file homes pass the home suite. Both are built as `hygge go` builds them
//! (through the registry's kinds).

use std::path::PathBuf;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use hygge_connectors::format::FileFormat;
use hygge_connectors::registry::{home_from_json, store_from_json};
use hygge_core::{Home, ReadRequest, Store};
use hygge_testkit::conformance::{HomeHarness, StoreHarness};

struct Files {
    root: tempfile::TempDir,
    format: FileFormat,
}

impl Files {
    fn new(format: FileFormat) -> Self {
        Files {
            root: tempfile::tempdir().unwrap(),
            format,
        }
    }

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
        store_from_json(self.config("store"), true).unwrap().build()
    }

    async fn published(&self, entity: &str) -> Vec<RecordBatch> {
        if !self.root.path().join(entity).exists() {
            return vec![];
        }
        let home = home_from_json(self.config("home"), true).unwrap().build();
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
                    && name != hygge_connectors::files::store::STATE_FILE
                {
                    out.push(e.path().display().to_string());
                }
            }
        }
        out
    }
}

#[async_trait::async_trait]
impl HomeHarness for Files {
    async fn home(&self) -> Arc<dyn Home> {
        home_from_json(self.config("home"), true).unwrap().build()
    }

    async fn seed(&self, entity: &str, ids: std::ops::Range<i64>) {
        // Written by the store of the same format: what the home reads is what hygge
        // writes (and what a person would drop there).
        let store = self.store().await;
        let target = hygge_core::WriteTarget {
            flow: "seed".into(),
            entity: entity.into(),
            flow_name: format!("seed_{entity}"),
            run_type: hygge_core::RunType::FullDrop,
            run_id: "seed".into(),
        };
        let mut w = store.open(&target).await.unwrap();
        w.begin(
            hygge_testkit::schema(),
            hygge_core::Publish {
                run_type: hygge_core::RunType::FullDrop,
                reload: false,
                evolve: false,
            },
        )
        .await
        .unwrap();
        w.write(hygge_testkit::batch(
            ids.start,
            (ids.end - ids.start) as usize,
        ))
        .await
        .unwrap();
        let rows = w.staged_rows();
        w.finish(&hygge_testkit::conformance::checkpoint(
            entity,
            hygge_core::RunType::FullDrop,
            0,
            rows,
        ))
        .await
        .unwrap();
    }

    fn encoded(&self) -> Option<&'static str> {
        (self.format == FileFormat::Parquet).then_some("parquet")
    }
}

mod parquet_store {
    use super::*;
    hygge_testkit::store_conformance!(Files::new(FileFormat::Parquet));
}

mod csv_store {
    use super::*;
    hygge_testkit::store_conformance!(Files::new(FileFormat::Csv));
}

mod ndjson_store {
    use super::*;
    hygge_testkit::store_conformance!(Files::new(FileFormat::Ndjson));
}

mod parquet_home {
    use super::*;
    hygge_testkit::home_conformance!(Files::new(FileFormat::Parquet));
}

mod csv_home {
    use super::*;
    hygge_testkit::home_conformance!(Files::new(FileFormat::Csv));
}

mod ndjson_home {
    use super::*;
    hygge_testkit::home_conformance!(Files::new(FileFormat::Ndjson));
}
