//! The database file: one DuckDB instance per file per process, shared by every home and
//! store of the run that names it (a connection each), and closed when the last one is
//! done.
//!
//! DuckDB allows one process to open a file for writing (it locks the file), and the same
//! process opening it twice would conflict with itself; sharing the instance lets several
//! entities load one file at once (each in a transaction of its own on its own
//! connection) and lets a flow read and write the same file. A file another process
//! holds fails at once with DuckDB's message, which names that process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, TryLockError, Weak};
use std::time::{Duration, Instant};

use duckdb::Connection;

pub use crate::embedded::{EntityLock, key_path};

/// A shared database instance (its first connection, from which the others are cloned)
/// and the lock publishes of this process take in turn.
#[derive(Debug)]
struct Instance {
    root: Mutex<Connection>,
    publish: Mutex<()>,
}

static OPEN: Mutex<Option<HashMap<PathBuf, Weak<Instance>>>> = Mutex::new(None);

/// A handle on the shared instance of one database file.
#[derive(Debug, Clone)]
pub struct Db {
    inner: Arc<Instance>,
    path: PathBuf,
}

fn duck_err(path: &Path, e: duckdb::Error) -> String {
    let text = e.to_string();
    if text.contains("Could not set lock on file") {
        return format!(
            "{}: the database file is in use by another process (DuckDB lets one process write a file at a time; wait for it to finish or stop it): {text}",
            path.display()
        );
    }
    format!("opening {}: {text}", path.display())
}

impl Db {
    /// The instance of `path`, opened if no home or store of this process has it open.
    /// `create`: a missing file (and its folder) is created; otherwise it must exist.
    pub fn open(path: &Path, create: bool) -> Result<Db, String> {
        if !create && !path.is_file() {
            return Err(format!("{}: no such DuckDB database file", path.display()));
        }
        let key = key_path(path);
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        let map = open.get_or_insert_with(HashMap::new);
        if let Some(inner) = map.get(&key).and_then(Weak::upgrade) {
            return Ok(Db {
                inner,
                path: path.to_path_buf(),
            });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        let root = Connection::open(path).map_err(|e| duck_err(path, e))?;
        let inner = Arc::new(Instance {
            root: Mutex::new(root),
            publish: Mutex::new(()),
        });
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(key, Arc::downgrade(&inner));
        Ok(Db {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// A new connection to the instance (each writer and reader has its own).
    pub fn connect(&self) -> Result<Connection, String> {
        let root = self.inner.root.lock().unwrap_or_else(|p| p.into_inner());
        root.try_clone()
            .map_err(|e| format!("{}: connecting: {e}", self.path.display()))
    }

    /// Runs `f` while no other publish of this process to the file runs, waiting at most
    /// `wait` for one under way.
    pub fn publishing<T>(&self, wait: Duration, f: impl FnOnce() -> T) -> Result<T, String> {
        let deadline = Instant::now() + wait;
        loop {
            match self.inner.publish.try_lock() {
                Ok(_g) => return Ok(f()),
                Err(TryLockError::Poisoned(p)) => {
                    let _g = p.into_inner();
                    return Ok(f());
                }
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(format!(
                        "another entity's publish to {} did not finish within lock_timeout ({} s); nothing was written",
                        self.path.display(),
                        wait.as_secs()
                    ));
                }
            }
        }
    }
}

/// Runs `f` on the blocking pool; a panic becomes an error.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    crate::embedded::blocking("DuckDB", f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homes_and_stores_of_one_file_share_one_instance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.duckdb");
        assert!(Db::open(&path, false).is_err(), "a home needs the file");
        let a = Db::open(&path, true).unwrap();
        let b = Db::open(&path, false).unwrap();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        let c1 = a.connect().unwrap();
        c1.execute_batch("CREATE TABLE t AS SELECT 42 AS x")
            .unwrap();
        let c2 = b.connect().unwrap();
        let x: i32 = c2.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 42);
        drop((a, b, c1, c2));
        // All closed: a new instance opens the file again.
        let d = Db::open(&path, false).unwrap();
        let n: i64 = d
            .connect()
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }
}
