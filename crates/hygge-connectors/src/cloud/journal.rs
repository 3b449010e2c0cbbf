//! A cloud store's journal folder: a [`VersionedFolder`] on `object_store`, beside the
//! store's data.
//!
//! Where: `<folder>/.hygge_journal/` in the store's container, `<folder>` being the part of
//! the store's `path` above the entity folders ([`CloudSettings::journal_prefix`]), so
//! every entity of a flow shares one journal, as with local stores. The `.` keeps Spark,
//! Fabric, DuckDB and pyarrow from reading it as data.
//!
//! Reads are plain GETs (the object and its ETag); writes are `PutMode::Create` (the object
//! must not exist) or `PutMode::Update(etag)` (it must still be the version read): a put
//! shows the whole new object or nothing, and a writer that lost the race gets
//! [`Written::Conflict`]. The calls block: they run on a small runtime of their own (the
//! journal is written from synchronous code, sometimes inside the engine's runtime), which
//! lives as long as the process so the client's pooled connections stay usable.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};

use super::location::{Location, redact};
use super::store::CloudSettings;
use crate::versioned::{Version, VersionedFolder, Written};

/// The journal's folder name (a `.` folder: data readers skip it).
pub const JOURNAL_DIR: &str = ".hygge_journal";

impl CloudSettings {
    /// The journal's folder in the container: `.hygge_journal` in the folder that holds
    /// the entity folders. `path: raw/{entity}` (or `raw/{entity}/x`) gives
    /// `raw/.hygge_journal`; `path: raw` with entities (each in `raw/<entity>`) gives
    /// `raw/.hygge_journal`; a flow without entities writing `path: raw/orders` gives
    /// `raw/.hygge_journal` (beside its folder, which a run replaces whole); at the top
    /// of the container, `.hygge_journal`.
    pub fn journal_prefix(&self) -> String {
        let segs: Vec<&str> = self.path.split('/').filter(|s| !s.is_empty()).collect();
        let folder = match segs.iter().position(|s| s.contains("{entity}")) {
            Some(i) => &segs[..i],
            None if self.entity_folder => &segs[..],
            None => &segs[..segs.len().saturating_sub(1)],
        };
        folder
            .iter()
            .copied()
            .chain([JOURNAL_DIR])
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The journal folder of this store (nothing is contacted until it is used).
    pub fn journal_folder(&self) -> ObjectFolder {
        ObjectFolder::new(self.location.clone(), self.journal_prefix())
    }
}

/// A folder of a container or bucket, as a [`VersionedFolder`].
#[derive(Debug, Clone)]
pub struct ObjectFolder {
    location: Location,
    prefix: String,
    client: Arc<OnceLock<Result<Arc<dyn ObjectStore>, String>>>,
}

impl ObjectFolder {
    /// The folder `prefix` (no leading or trailing `/`) of `location`; the client is built
    /// on first use.
    pub fn new(location: Location, prefix: String) -> Self {
        ObjectFolder {
            location,
            prefix,
            client: Arc::new(OnceLock::new()),
        }
    }

    /// The folder in its container.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, name: &str) -> Key {
        Key::from(format!("{}/{name}", self.prefix))
    }

    fn client(&self) -> Result<Arc<dyn ObjectStore>, String> {
        self.client
            .get_or_init(|| self.location.build())
            .clone()
            .map_err(|e| self.redacted(e))
    }

    fn redacted(&self, text: String) -> String {
        redact(&text, &self.location.secrets())
    }

    fn err(&self, op: &str, name: &str, e: impl std::fmt::Display) -> String {
        self.redacted(format!("cannot {op} {}: {e}", self.url(name)))
    }
}

/// Runs `fut` on the journal's own runtime and waits for it.
fn block<T: Send + 'static>(
    fut: impl std::future::Future<Output = Result<T, String>> + Send + 'static,
) -> Result<T, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    let rt = RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("hygge-journal-io")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the journal's I/O thread: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .unwrap_or_else(|_| Err("the journal's I/O task stopped without an answer".into()))
}

impl VersionedFolder for ObjectFolder {
    fn url(&self, name: &str) -> String {
        self.location.url_of(&format!("{}/{name}", self.prefix))
    }

    fn get(&self, name: &str) -> Result<Option<(Bytes, Version)>, String> {
        let client = self.client()?;
        let (key, this) = (self.key(name), self.clone());
        let name = name.to_string();
        block(async move {
            let got = match client.get(&key).await {
                Ok(g) => g,
                Err(object_store::Error::NotFound { .. }) => {
                    // Absent, or its container is (Blob and S3 say 404 for both): only
                    // the first is an empty journal.
                    let prefix = Key::from(this.prefix.as_str());
                    return match client.list_with_delimiter(Some(&prefix)).await {
                        Ok(_) => Ok(None),
                        Err(e) => Err(this.err("read", &name, e)),
                    };
                }
                Err(e) => return Err(this.err("read", &name, e)),
            };
            let version = Version {
                e_tag: got.meta.e_tag.clone(),
                version: got.meta.version.clone(),
            };
            let bytes = got.bytes().await.map_err(|e| this.err("read", &name, e))?;
            Ok(Some((bytes, version)))
        })
    }

    fn put(&self, name: &str, bytes: Bytes, expected: Option<&Version>) -> Result<Written, String> {
        let mode = match expected {
            None => PutMode::Create,
            Some(Version {
                e_tag: None,
                version: None,
            }) => {
                return Err(self.err(
                    "update",
                    name,
                    "the server gave no ETag for it, so it cannot be replaced safely while others may write it",
                ));
            }
            Some(v) => PutMode::Update(UpdateVersion {
                e_tag: v.e_tag.clone(),
                version: v.version.clone(),
            }),
        };
        let client = self.client()?;
        let (key, this) = (self.key(name), self.clone());
        let name = name.to_string();
        block(async move {
            let opts = PutOptions::from(mode);
            match client.put_opts(&key, bytes.into(), opts).await {
                Ok(_) => Ok(Written::Done),
                Err(
                    object_store::Error::Precondition { .. }
                    | object_store::Error::AlreadyExists { .. }
                    // Updating an object someone deleted meanwhile.
                    | object_store::Error::NotFound { .. },
                ) => Ok(Written::Conflict),
                Err(e) => Err(this.err("write", &name, e)),
            }
        })
    }

    fn list(&self) -> Result<Vec<String>, String> {
        let client = self.client()?;
        let this = self.clone();
        block(async move {
            let prefix = Key::from(this.prefix.as_str());
            let mut out = vec![];
            let mut stream = client.list(Some(&prefix));
            while let Some(m) = stream.next().await {
                let m = m.map_err(|e| {
                    this.redacted(format!(
                        "cannot list {}/: {e}",
                        this.location.url_of(&this.prefix)
                    ))
                })?;
                if let Some(rel) = m
                    .location
                    .as_ref()
                    .strip_prefix(this.prefix.as_str())
                    .and_then(|r| r.strip_prefix('/'))
                    .filter(|r| !r.contains('/'))
                {
                    out.push(rel.to_string());
                }
            }
            out.sort();
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "s3")]
    #[test]
    fn the_journal_sits_above_the_entity_folders() {
        use crate::versioned::VersionedFolder;
        let settings = |path: &str, entity_folder: bool| {
            crate::cloud::config::from_json::<crate::cloud::S3StoreConfig>(serde_json::json!({
                "bucket": "b", "path": path, "access_key_id": "k", "secret_access_key": "s"
            }))
            .unwrap()
            .validate(entity_folder)
            .unwrap()
        };
        let cases = [
            ("raw/{entity}", true, "raw/.hygge_journal"),
            ("raw/{entity}/data", true, "raw/.hygge_journal"),
            ("{entity}", true, ".hygge_journal"),
            ("raw", true, "raw/.hygge_journal"),
            ("lake/raw", true, "lake/raw/.hygge_journal"),
            ("raw/orders", false, "raw/.hygge_journal"),
            ("orders", false, ".hygge_journal"),
        ];
        for (path, entity_folder, want) in cases {
            assert_eq!(
                settings(path, entity_folder).journal_prefix(),
                want,
                "{path} {entity_folder}"
            );
        }
        let f = settings("raw/{entity}", true).journal_folder();
        assert_eq!(
            f.url("journal.parquet"),
            "s3://b/raw/.hygge_journal/journal.parquet"
        );
    }

    #[cfg(feature = "azure")]
    #[test]
    fn a_onelake_journal_sits_in_files() {
        let onelake = |v: serde_json::Value| {
            crate::cloud::config::from_json::<crate::cloud::OneLakeStoreConfig>(v)
                .unwrap()
                .validate(true)
                .unwrap()
                .journal_prefix()
        };
        let url = "https://onelake.dfs.fabric.microsoft.com";
        assert_eq!(
            onelake(
                serde_json::json!({"account_url": url, "filesystem": "W", "lakehouse": "Sales"})
            ),
            "Sales.Lakehouse/Files/.hygge_journal"
        );
        assert_eq!(
            onelake(
                serde_json::json!({"account_url": url, "filesystem": "W", "lakehouse": "Sales", "schema": "dbo"})
            ),
            "Sales.Lakehouse/Files/dbo.schema/.hygge_journal"
        );
    }
}
