//! Atomic publication of an entity folder.
//!
//! Layout, for an entity folder `<root>/<entity>`:
//!
//! ```text
//! <root>/<entity>/                 what readers see: only complete, published files
//! <root>/.hygge/locks/<entity>     one writer per entity across processes (flock)
//! <root>/.hygge/staging/<entity>.<run>/   this run's complete new folder, being built
//! <root>/.hygge/manifests/<entity>.json   only on file systems without RENAME_EXCHANGE
//! ```
//!
//! A run builds the entity's complete new folder in staging (new files; for incremental runs
//! also hard links to the files already published), then swaps it with the visible folder
//! in one `renameat2(RENAME_EXCHANGE)`: a reader, or a `kill -9` at any instant, sees the
//! old folder or the new one, never a mix. Where the exchange is not supported, the two
//! renames it takes are recorded in a manifest first, and the next run rolls it forward.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::FileError;

/// Name of the hidden folder beside entity folders.
pub const HYGGE_DIR: &str = ".hygge";

/// The staging area that serves one entity folder.
#[derive(Debug, Clone)]
pub struct Staging {
    /// The visible entity folder.
    pub entity_dir: PathBuf,
    /// `<root>/.hygge`.
    pub hygge_dir: PathBuf,
    /// The entity folder's name.
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    entity_dir: PathBuf,
    new: PathBuf,
    old: PathBuf,
}

impl Staging {
    /// The staging area for `entity_dir`.
    pub fn for_dir(entity_dir: &Path) -> Result<Self, FileError> {
        let name = entity_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| FileError::Unsupported {
                path: entity_dir.to_path_buf(),
                detail: "a store folder must have a name (not `/` or `..`)".into(),
            })?;
        let root = entity_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let root = if root.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            root
        };
        Ok(Staging {
            entity_dir: entity_dir.to_path_buf(),
            hygge_dir: root.join(HYGGE_DIR),
            name,
        })
    }

    fn lock_path(&self) -> PathBuf {
        self.hygge_dir.join("locks").join(&self.name)
    }

    fn manifest_path(&self) -> PathBuf {
        self.hygge_dir
            .join("manifests")
            .join(format!("{}.json", self.name))
    }

    /// The folder where run `run_id` builds the new entity folder.
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.hygge_dir
            .join("staging")
            .join(format!("{}.{run_id}", self.name))
    }

    /// Takes the entity's lock (held until the returned file is dropped), finishes a
    /// publication a crashed run left half-done, and removes stale staging folders.
    pub fn begin(&self) -> Result<fs::File, FileError> {
        for sub in ["locks", "staging", "manifests"] {
            let d = self.hygge_dir.join(sub);
            fs::create_dir_all(&d).map_err(|e| FileError::io("create", &d, e))?;
        }
        let lock_path = self.lock_path();
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| FileError::io("create", &lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(FileError::Locked {
                    path: self.entity_dir.clone(),
                    lock: lock_path,
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(FileError::io("lock", &lock_path, e)),
        }
        self.recover()?;
        Ok(lock)
    }

    /// Rolls a recorded publication forward and clears this entity's stale staging.
    fn recover(&self) -> Result<(), FileError> {
        let manifest_path = self.manifest_path();
        if let Ok(text) = fs::read_to_string(&manifest_path) {
            if let Ok(m) = serde_json::from_str::<Manifest>(&text) {
                if !m.entity_dir.exists() && m.new.exists() {
                    rename(&m.new, &m.entity_dir)?;
                    tracing::warn!(
                        "finished publishing {} that an interrupted run left half-done",
                        m.entity_dir.display()
                    );
                }
                remove_all(&m.old)?;
            }
            fs::remove_file(&manifest_path)
                .map_err(|e| FileError::io("remove", &manifest_path, e))?;
        }
        let staging = self.hygge_dir.join("staging");
        let prefix = format!("{}.", self.name);
        // Another entity's run may have just tidied the (empty) staging folder away.
        let entries = match fs::read_dir(&staging) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(FileError::io("list", &staging, e)),
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                remove_all(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Makes `new_dir` (a complete folder under staging) the visible entity folder.
    /// Returns the folder that now holds the previous data (to delete), if there was any.
    /// With `durable`, the folders are fsynced so the publication survives a power loss.
    pub fn publish(&self, new_dir: &Path, durable: bool) -> Result<Option<PathBuf>, FileError> {
        let sync_parent = |p: &Path| if durable { sync_parent(p) } else { Ok(()) };
        if durable {
            sync_dir(new_dir)?;
        }
        if !self.entity_dir.exists() {
            if let Some(parent) = self.entity_dir.parent() {
                fs::create_dir_all(parent).map_err(|e| FileError::io("create", parent, e))?;
            }
            rename(new_dir, &self.entity_dir)?;
            sync_parent(&self.entity_dir)?;
            return Ok(None);
        }
        if exchange(new_dir, &self.entity_dir)? {
            sync_parent(&self.entity_dir)?;
            return Ok(Some(new_dir.to_path_buf()));
        }
        self.publish_with_manifest(new_dir).map(Some)
    }

    /// Two renames, made crash-safe by a manifest that the next run rolls forward.
    pub fn publish_with_manifest(&self, new_dir: &Path) -> Result<PathBuf, FileError> {
        let old = new_dir.with_extension("old");
        let manifest = Manifest {
            entity_dir: self.entity_dir.clone(),
            new: new_dir.to_path_buf(),
            old: old.clone(),
        };
        let path = self.manifest_path();
        let folder = self.hygge_dir.join("manifests"); // another run may have tidied it away
        fs::create_dir_all(&folder).map_err(|e| FileError::io("create", &folder, e))?;
        let text = serde_json::to_vec(&manifest).expect("manifest serialises");
        write_synced(&path, &text)?;
        rename(&self.entity_dir, &old)?;
        rename(new_dir, &self.entity_dir)?;
        sync_parent(&self.entity_dir)?;
        fs::remove_file(&path).map_err(|e| FileError::io("remove", &path, e))?;
        Ok(old)
    }

    /// Removes the `.hygge` subfolders that are empty (the locks stay).
    pub fn tidy(&self) {
        let _ = fs::remove_dir(self.hygge_dir.join("manifests"));
        let _ = fs::remove_dir(self.hygge_dir.join("staging"));
    }
}

/// Atomically swaps two directories. `Ok(false)` when the file system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<bool, FileError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    if std::env::var_os("HYGGE_DISABLE_RENAME_EXCHANGE").is_some() {
        return Ok(false);
    }
    match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(true),
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => Ok(false),
        Err(e) => Err(FileError::io("exchange", b, e.into())),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> Result<bool, FileError> {
    Ok(false)
}

fn rename(from: &Path, to: &Path) -> Result<(), FileError> {
    fs::rename(from, to).map_err(|e| FileError::io("rename", to, e))
}

/// Removes a folder tree if it exists.
pub fn remove_all(path: &Path) -> Result<(), FileError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FileError::io("remove", path, e)),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    use std::io::Write;
    let mut f = fs::File::create(path).map_err(|e| FileError::io("create", path, e))?;
    f.write_all(bytes)
        .map_err(|e| FileError::io("write", path, e))?;
    f.sync_all().map_err(|e| FileError::io("sync", path, e))?;
    sync_parent(path)
}

/// fsyncs a directory so that renames into it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), FileError> {
    #[cfg(unix)]
    {
        let d = fs::File::open(dir).map_err(|e| FileError::io("open", dir, e))?;
        d.sync_all().map_err(|e| FileError::io("sync", dir, e))?;
    }
    let _ = dir;
    Ok(())
}

fn sync_parent(path: &Path) -> Result<(), FileError> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
        _ => Ok(()),
    }
}

/// Hard-links every file below `from` into the same place below `to` (folders created).
/// Files already present in `to` are an error: a new file must never shadow an old one.
pub fn link_tree(from: &Path, to: &Path) -> Result<(), FileError> {
    let entries = fs::read_dir(from).map_err(|e| FileError::io("list", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| FileError::io("list", from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| FileError::io("stat", &src, e))?;
        if kind.is_dir() {
            fs::create_dir_all(&dst).map_err(|e| FileError::io("create", &dst, e))?;
            link_tree(&src, &dst)?;
        } else if dst.exists() {
            return Err(FileError::Unsupported {
                path: dst,
                detail: "a new file would replace a published one; check file_pattern".into(),
            });
        } else {
            fs::hard_link(&src, &dst)
                .or_else(|_| fs::copy(&src, &dst).map(|_| ()))
                .map_err(|e| FileError::io("link", &dst, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Staging) {
        let tmp = tempfile::tempdir().unwrap();
        let entity = tmp.path().join("users");
        fs::create_dir_all(&entity).unwrap();
        fs::write(entity.join("old.txt"), "old").unwrap();
        let s = Staging::for_dir(&entity).unwrap();
        (tmp, s)
    }

    fn new_dir(s: &Staging) -> PathBuf {
        let d = s.run_dir("r1");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("new.txt"), "new").unwrap();
        d
    }

    #[test]
    fn exchange_publishes_and_returns_the_old_folder() {
        let (_tmp, s) = setup();
        let _lock = s.begin().unwrap();
        let d = new_dir(&s);
        let old = s.publish(&d, true).unwrap().unwrap();
        assert!(s.entity_dir.join("new.txt").exists());
        assert!(!s.entity_dir.join("old.txt").exists());
        assert!(old.join("old.txt").exists());
    }

    #[test]
    fn a_half_done_manifest_publication_is_rolled_forward() {
        let (_tmp, s) = setup();
        let lock = s.begin().unwrap();
        let d = new_dir(&s);
        // Simulate a crash after the first of the two renames.
        let old = d.with_extension("old");
        let m = Manifest {
            entity_dir: s.entity_dir.clone(),
            new: d.clone(),
            old: old.clone(),
        };
        fs::write(s.manifest_path(), serde_json::to_vec(&m).unwrap()).unwrap();
        fs::rename(&s.entity_dir, &old).unwrap();
        drop(lock);
        let _lock = s.begin().unwrap();
        assert!(s.entity_dir.join("new.txt").exists(), "rolled forward");
        assert!(!old.exists(), "old data removed");
        assert!(!s.manifest_path().exists());
    }

    #[test]
    fn manifest_publication_completes() {
        let (_tmp, s) = setup();
        let _lock = s.begin().unwrap();
        let d = new_dir(&s);
        let old = s.publish_with_manifest(&d).unwrap();
        assert!(s.entity_dir.join("new.txt").exists());
        assert!(old.join("old.txt").exists());
        assert!(!s.manifest_path().exists());
    }

    #[test]
    fn a_second_writer_is_refused() {
        let (_tmp, s) = setup();
        let _lock = s.begin().unwrap();
        let err = s.begin().unwrap_err();
        assert!(
            err.to_string().contains("another hygge run is writing"),
            "{err}"
        );
    }

    #[test]
    fn stale_staging_is_removed_on_begin() {
        let (_tmp, s) = setup();
        let d = new_dir(&s);
        let _lock = s.begin().unwrap();
        assert!(!d.exists());
    }
}
