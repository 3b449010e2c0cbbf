//! The database file: connections (WAL, busy timeout), the in-process entity locks, and
//! the blocking pool every call into SQLite runs on.
//!
//! Several entities may write one file at once. Each writer stages its rows in a file of
//! its own (no lock on the database at all), and takes SQLite's write lock only to publish,
//! in one short `BEGIN IMMEDIATE` transaction; a publish that finds another (from this
//! process or another one) under way waits for it, at most the store's `lock_timeout`
//! (SQLite's busy timeout), then fails with the table unchanged. The file is put in WAL
//! mode, so readers never block a publish and a publish never blocks readers.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// A connection to `path` for writing (the file and its folder are created if missing),
/// in WAL mode, waiting at most `busy` for another writer's lock.
pub fn open_rw(path: &Path, busy: Duration) -> Result<Connection, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("opening {}: {e}", path.display()))?;
    c.busy_timeout(busy).map_err(|e| e.to_string())?;
    // Switching to WAL takes the file's exclusive lock, and SQLite answers BUSY at once
    // (no busy handler) while another connection holds a lock: several entities opening
    // a new file together all get here. A file already in WAL needs no switch; otherwise
    // the switch is tried again until `busy` has passed.
    let deadline = std::time::Instant::now() + busy;
    let mode = loop {
        let current: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| format!("{}: reading the journal mode: {e}", path.display()))?;
        if current.eq_ignore_ascii_case("wal") {
            break current;
        }
        match c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) => break mode,
            Err(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("{}: setting WAL mode: {e}", path.display())),
        }
    };
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::debug!("{}: journal_mode is {mode}, not wal", path.display());
    }
    Ok(c)
}

/// A read-only connection to `path`, which must exist.
pub fn open_ro(path: &Path) -> Result<Connection, String> {
    if !path.is_file() {
        return Err(format!("{}: no such SQLite database file", path.display()));
    }
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("opening {}: {e}", path.display()))?;
    c.busy_timeout(Duration::from_secs(crate::sql::DEFAULT_LOCK_TIMEOUT_SECS))
        .map_err(|e| e.to_string())?;
    Ok(c)
}

pub use crate::embedded::{EntityLock, key_path};

/// Runs `f` on the blocking pool; a panic becomes an error.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    crate::embedded::blocking("SQLite", f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several connections opening one new file at the same moment (entities of one run
    /// publishing together): all end in WAL. Two that switch at once would deadlock, so
    /// SQLite answers one BUSY without waiting; that connection tries again instead of
    /// failing with "database is locked" (found by bench/run_sqlite.sh, four entities).
    #[test]
    fn connections_opening_a_new_file_together_all_get_wal() {
        for round in 0..30 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("x.db");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let c = open_rw(&path, Duration::from_secs(10))?;
                        c.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
                            .map_err(|e| e.to_string())
                    })
                })
                .collect();
            for t in threads {
                assert_eq!(t.join().unwrap().as_deref(), Ok("wal"), "round {round}");
            }
        }
    }
}
