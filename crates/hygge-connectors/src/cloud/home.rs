//! The cloud homes: Parquet, CSV or NDJSON files read from a container or bucket (`type:
//! adls | onelake | s3 | gcs` homes with `format`, or a `parquet` / `local` home whose
//! `path` is a URL: `abfss://…`, `s3://…`, `gs://…`).
//!
//! An entity's files are, in this order:
//!
//! 1. the files `<prefix>/_hygge/state.json` lists, when a hygge cloud store published the
//!    folder: exactly the committed files, never those of a run still publishing;
//! 2. else every object below `<prefix>/` of the format (by extension, recursively, sorted,
//!    skipping names whose folder or file starts with `_` or `.`, as Spark and the local
//!    home do); a `path` with `*`, `?` or `**` is a glob over the keys;
//! 3. else the object `<prefix>` itself, or `<prefix>.<ext>`.
//!
//! Files are decoded as the local home decodes them (the same readers, through
//! [`crate::format::input::RemoteObject`]): ranged reads, never a whole object in memory.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};

use super::location::{Location, redact};
use crate::error::FileError;
use crate::files::home::RemoteFiles;
use crate::format::FileFormat;
use crate::format::input::{Input, RemoteObject};

/// Where a cloud home's entities are.
#[derive(Debug)]
pub struct CloudFiles {
    /// The container or bucket, and how to sign in.
    pub location: Location,
    /// The entity's path, with `{entity}` (or a folder holding entities, a file, a glob).
    pub path: String,
    /// Without `{entity}` in `path`: each entity is `<path>/<entity>`.
    pub entity_folder: bool,
    client: OnceLock<Result<Arc<dyn ObjectStore>, String>>,
}

impl CloudFiles {
    /// Reads `path` in `location`.
    pub fn new(location: Location, path: String, entity_folder: bool) -> Self {
        CloudFiles {
            location,
            path,
            entity_folder,
            client: OnceLock::new(),
        }
    }

    /// The entity's key (a folder, a file or a glob). A glob without `{entity}` is the
    /// entity's files as it is (no `/<entity>` is added to it).
    fn prefix(&self, entity: &str) -> String {
        let entity_folder = self.entity_folder && !is_glob(&self.path);
        super::store::entity_prefix(&self.path, entity_folder, entity)
    }

    fn client(&self) -> Result<Arc<dyn ObjectStore>, FileError> {
        self.client
            .get_or_init(|| self.location.build())
            .clone()
            .map_err(|e| self.error(&self.path, e))
    }

    fn secrets(&self) -> Vec<String> {
        self.location.secrets()
    }

    /// A read error on `key`, naming its URL and never a secret.
    fn error(&self, key: &str, e: impl std::fmt::Display) -> FileError {
        FileError::Read {
            path: PathBuf::from(self.location.url_of(key)),
            source: redact(&e.to_string(), &self.secrets()).into(),
        }
    }

    fn input(&self, client: &Arc<dyn ObjectStore>, key: &str, size: u64) -> Input {
        Input::Remote(Arc::new(Object {
            client: client.clone(),
            key: Key::from(key),
            size,
            url: PathBuf::from(self.location.url_of(key)),
            secrets: Arc::new(self.secrets()),
            handle: tokio::runtime::Handle::current(),
        }))
    }

    /// Every object below `prefix` (a folder), with its size.
    async fn list(
        &self,
        client: &Arc<dyn ObjectStore>,
        prefix: &str,
    ) -> Result<Vec<(String, u64)>, FileError> {
        let p = Key::from(prefix);
        let mut out = vec![];
        let mut stream = client.list(Some(&p));
        while let Some(m) = stream.next().await {
            let m = m.map_err(|e| self.error(prefix, e))?;
            out.push((m.location.as_ref().to_string(), m.size));
        }
        Ok(out)
    }

    /// The size of `key`, or `None` when there is no such object.
    async fn head(
        &self,
        client: &Arc<dyn ObjectStore>,
        key: &str,
    ) -> Result<Option<u64>, FileError> {
        match client.head(&Key::from(key)).await {
            Ok(m) => Ok(Some(m.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(key, e)),
        }
    }
}

/// A home `path` that is a URL of a container: `s3://bucket/path`, `gs://bucket/path`,
/// `abfss://container@account.dfs.core.windows.net/path` (also `abfs://`, and OneLake's
/// `abfss://workspace@onelake.dfs.fabric.microsoft.com/...`). `None` for any other path.
/// Credentials come from each cloud's standard chain (environment, CLI login, managed
/// identity / instance profile); an S3-compatible server from `AWS_ENDPOINT_URL`.
pub fn from_url(path: &str, entity_folder: bool) -> Option<Result<CloudFiles, String>> {
    let (scheme, rest) = path.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(
        scheme.as_str(),
        "s3" | "s3a" | "gs" | "gcs" | "abfss" | "abfs"
    ) {
        return None;
    }
    Some(parse_url(&scheme, rest, entity_folder).map_err(|e| format!("path {path:?}: {e}")))
}

fn parse_url(scheme: &str, rest: &str, entity_folder: bool) -> Result<CloudFiles, String> {
    use super::location::{AzureAuth, AzureLocation, GcsAuth, GcsLocation, S3Location};
    let (container, key) = rest.split_once('/').unwrap_or((rest, ""));
    let key = key.trim_matches('/');
    if key.is_empty() {
        return Err("give a folder or file inside the container, not the container alone".into());
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err("no empty, `.` or `..` folder names".into());
    }
    let location = match scheme {
        "s3" | "s3a" => Location::S3(S3Location {
            bucket: container.to_string(),
            region: None,
            endpoint: None,
            keys: None,
            session_token: None,
            anonymous: false,
        }),
        "gs" | "gcs" => Location::Gcs(GcsLocation {
            bucket: container.to_string(),
            auth: GcsAuth::Default,
        }),
        _ => {
            let (container, host) = container.split_once('@').ok_or(
                "an abfss:// URL names the container and the account: abfss://<container>@<account>.dfs.core.windows.net/<path>",
            )?;
            let account_url = format!("https://{host}");
            let url = super::config::parse_account_url(&account_url)?;
            Location::Azure(AzureLocation {
                account_url,
                url,
                container: container.to_string(),
                auth: AzureAuth::Default,
            })
        }
    };
    let container_ok = |c: &str| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '.' | '_'))
    };
    let name = match &location {
        Location::S3(l) => &l.bucket,
        Location::Gcs(l) => &l.bucket,
        Location::Azure(l) => &l.container,
    };
    if !container_ok(name) {
        return Err(format!("{name:?} is not a bucket or container name"));
    }
    Ok(CloudFiles::new(location, key.to_string(), entity_folder))
}

/// A `parquet` home with `provider: s3 | gcs | adls` (the original's roadmap): its bucket
/// (or account and container), a folder or glob `path` in it, signed in by a named
/// `credential`, or anonymously (a public bucket) without one (`adls` needs one).
pub fn from_provider(
    c: &crate::files::home::ParquetHomeConfig,
    entity_folder: bool,
    credentials: &crate::credentials::Credentials,
) -> Result<CloudFiles, String> {
    use super::config::{AccountKeys, AzureCredential, AzureKeys, GcsKeys, S3Keys};
    use super::location::GcsAuth;
    use crate::files::home::Provider;
    let provider = c.cloud().expect("a cloud provider");
    let name = format!("{provider:?}").to_lowercase();
    let unused = |key: &str, set: bool| match set {
        true => Err(format!("{key}: not used with provider {name}")),
        false => Ok(()),
    };
    let need = |key: &str, v: &Option<String>| {
        v.clone()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("{key}: provider {name} needs it"))
    };
    let path = c.path.to_string_lossy();
    let path = path.trim().trim_matches('/');
    if path.is_empty()
        || path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!(
            "path {path:?}: give a folder or a glob in the bucket (no empty, `.` or `..` folder names)"
        ));
    }
    let location = match provider {
        Provider::S3 => {
            unused("container", c.container.is_some())?;
            unused("account", c.account.is_some())?;
            let keys = S3Keys {
                bucket: need("bucket", &c.bucket)?,
                region: c.region.clone(),
                credential: c.credential.clone(),
                ..S3Keys::default()
            };
            let mut location = keys.location_in(credentials)?;
            if let (Location::S3(s), None) = (&mut location, &c.credential) {
                s.anonymous = true;
            }
            location
        }
        Provider::Gcs => {
            unused("container", c.container.is_some())?;
            unused("account", c.account.is_some())?;
            unused("region", c.region.is_some())?;
            let keys = GcsKeys {
                bucket: need("bucket", &c.bucket)?,
                credential: c.credential.clone(),
                ..GcsKeys::default()
            };
            let mut location = keys.location_in(credentials)?;
            if let (Location::Gcs(g), None) = (&mut location, &c.credential) {
                g.auth = GcsAuth::Anonymous;
            }
            location
        }
        Provider::Adls => {
            unused("bucket", c.bucket.is_some())?;
            unused("region", c.region.is_some())?;
            let keys = AzureKeys {
                account_url: format!(
                    "https://{}.dfs.core.windows.net",
                    need("account", &c.account)?
                ),
                filesystem: need("container", &c.container)?,
                credential: AzureCredential::Named(need("credential", &c.credential)?),
                ..AzureKeys::default()
            };
            keys.location_in(credentials)?
        }
        Provider::Local => unreachable!("not a cloud provider"),
    };
    Ok(CloudFiles::new(location, path.to_string(), entity_folder))
}

/// Whether a key's part below the listed prefix names a data file of `format`: no folder or
/// file starting with `_` or `.`, and one of the format's extensions.
fn is_data_file(rel: &str, format: FileFormat) -> bool {
    !rel.split('/')
        .any(|part| part.starts_with('_') || part.starts_with('.'))
        && rel.rsplit_once('.').is_some_and(|(_, ext)| {
            format
                .read_extensions()
                .contains(&ext.to_ascii_lowercase().as_str())
        })
}

/// Whether `key` matches `glob`: `*` and `?` within one `/`-separated part, `**` any number
/// of parts.
pub fn glob_match(glob: &str, key: &str) -> bool {
    let g: Vec<&str> = glob.split('/').collect();
    let k: Vec<&str> = key.split('/').collect();
    parts_match(&g, &k)
}

fn parts_match(g: &[&str], k: &[&str]) -> bool {
    match g.split_first() {
        None => k.is_empty(),
        Some((&"**", rest)) => (0..=k.len()).any(|i| parts_match(rest, &k[i..])),
        Some((first, rest)) => match k.split_first() {
            Some((kf, krest)) => {
                part_match(first.as_bytes(), kf.as_bytes()) && parts_match(rest, krest)
            }
            None => false,
        },
    }
}

fn part_match(p: &[u8], s: &[u8]) -> bool {
    // Iterative wildcard match with backtracking on the last `*`.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// Whether `path` has glob characters.
pub fn is_glob(path: &str) -> bool {
    path.contains(['*', '?'])
}

#[async_trait]
impl RemoteFiles for CloudFiles {
    fn describe(&self, entity: &str) -> String {
        self.location.url_of(&self.prefix(entity))
    }

    async fn list(&self, entity: &str, format: FileFormat) -> Result<Vec<Input>, FileError> {
        let client = self.client()?;
        let prefix = self.prefix(entity);
        let url = || PathBuf::from(self.location.url_of(&prefix));
        if is_glob(&prefix) {
            // List from the last folder before the first glob character.
            let fixed = &prefix[..prefix.find(['*', '?']).expect("a glob")];
            let base = fixed.rsplit_once('/').map_or("", |(b, _)| b);
            let mut files: Vec<(String, u64)> = self
                .list(&client, base)
                .await?
                .into_iter()
                .filter(|(k, _)| glob_match(&prefix, k))
                .filter(|(k, _)| is_data_file(k.strip_prefix(base).unwrap_or(k), format))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(FileError::NoFiles {
                    path: url(),
                    format: format.name(),
                    ext: format.read_extensions()[0],
                });
            }
            return Ok(files
                .iter()
                .map(|(k, size)| self.input(&client, k, *size))
                .collect());
        }
        // 1. What a hygge cloud store committed.
        if let Some(names) = super::store::committed_files(&client, &prefix)
            .await
            .map_err(|e| self.error(&format!("{prefix}/{}", super::STATE_OBJECT), e))?
        {
            // One listing gives every size (not a request per file).
            let sizes: std::collections::HashMap<String, u64> =
                self.list(&client, &prefix).await?.into_iter().collect();
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                let key = format!("{prefix}/{name}");
                let size = sizes.get(&key).copied().ok_or_else(|| {
                    self.error(
                        &key,
                        "listed by the folder's _hygge/state.json but missing (deleted by hand?)",
                    )
                })?;
                out.push(self.input(&client, &key, size));
            }
            if out.is_empty() {
                return Err(FileError::NoFiles {
                    path: url(),
                    format: format.name(),
                    ext: format.read_extensions()[0],
                });
            }
            return Ok(out);
        }
        // 2. The folder's data files.
        let listed = self.list(&client, &prefix).await?;
        let mut files: Vec<(String, u64)> = listed
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix(prefix.as_str())
                    .and_then(|r| r.strip_prefix('/'))
                    .is_some_and(|rel| is_data_file(rel, format))
            })
            .cloned()
            .collect();
        files.sort();
        if !files.is_empty() {
            return Ok(files
                .iter()
                .map(|(k, size)| self.input(&client, k, *size))
                .collect());
        }
        // 3. One object.
        for key in [prefix.clone(), format!("{prefix}.{}", format.extension())] {
            if let Some(size) = self.head(&client, &key).await? {
                return Ok(vec![self.input(&client, &key, size)]);
            }
        }
        if listed.is_empty() {
            Err(FileError::NotFound { path: url() })
        } else {
            Err(FileError::NoFiles {
                path: url(),
                format: format.name(),
                ext: format.read_extensions()[0],
            })
        }
    }
}

/// One object, read by ranges on the blocking pool.
struct Object {
    client: Arc<dyn ObjectStore>,
    key: Key,
    size: u64,
    url: PathBuf,
    secrets: Arc<Vec<String>>,
    handle: tokio::runtime::Handle,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Object({})", self.url.display())
    }
}

impl Object {
    fn io(&self, e: object_store::Error) -> std::io::Error {
        std::io::Error::other(redact(&e.to_string(), &self.secrets))
    }
}

impl RemoteObject for Object {
    fn name(&self) -> &Path {
        &self.url
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn get_range(&self, range: Range<u64>) -> std::io::Result<Bytes> {
        if range.end > self.size {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "bytes {}..{} lie past the object's {} bytes",
                    range.start, range.end, self.size
                ),
            ));
        }
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        self.handle
            .block_on(self.client.get_range(&self.key, range))
            .map_err(|e| self.io(e))
    }

    fn read_from(&self, start: u64) -> std::io::Result<Box<dyn Read + Send>> {
        if start >= self.size {
            return Ok(Box::new(std::io::empty()));
        }
        let opts = GetOptions {
            range: (start > 0).then_some(GetRange::Offset(start)),
            ..Default::default()
        };
        let got = self
            .handle
            .block_on(self.client.get_opts(&self.key, opts))
            .map_err(|e| self.io(e))?;
        Ok(Box::new(StreamRead {
            stream: got.into_stream(),
            current: Bytes::new(),
            handle: self.handle.clone(),
            secrets: self.secrets.clone(),
        }))
    }
}

/// An object's body as a blocking reader: one chunk of the response at a time.
struct StreamRead {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    current: Bytes,
    handle: tokio::runtime::Handle,
    secrets: Arc<Vec<String>>,
}

impl Read for StreamRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => {
                    return Err(std::io::Error::other(redact(&e.to_string(), &self.secrets)));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        bytes::Buf::advance(&mut self.current, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_within_and_across_folders() {
        assert!(glob_match("a/*.parquet", "a/x.parquet"));
        assert!(!glob_match("a/*.parquet", "a/b/x.parquet"));
        assert!(glob_match("a/**/*.parquet", "a/b/c/x.parquet"));
        assert!(glob_match("a/**/*.parquet", "a/x.parquet"));
        assert!(glob_match("a/d?y=*/*.csv", "a/day=1/f.csv"));
        assert!(!glob_match("a/d?y=*/*.csv", "a/dy=1/f.csv"));
        assert!(glob_match("*", "x"));
        assert!(!glob_match("*", "x/y"));
    }

    #[test]
    fn data_files_skip_hidden_and_underscored_parts() {
        assert!(is_data_file("x.parquet", FileFormat::Parquet));
        assert!(is_data_file("d/x.PARQUET", FileFormat::Parquet));
        assert!(!is_data_file(
            "_hygge/staging/r/x.parquet",
            FileFormat::Parquet
        ));
        assert!(!is_data_file(".x.parquet", FileFormat::Parquet));
        assert!(!is_data_file("x.csv", FileFormat::Parquet));
        assert!(is_data_file("x.csv", FileFormat::Csv));
    }
}
