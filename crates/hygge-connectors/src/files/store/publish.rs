//! Atomic publication of an entity folder.
//!
//! Layout, for an entity folder `<root>/<entity>`:
//!
//! ```text
//! <root>/<entity>/                        what readers see: only complete, published files,
//!                                         and the store's `.hygge-state.json`
//! <root>/.hygge/locks/<entity>            one writer per entity across processes (flock)
//! <root>/.hygge/staging/<entity>/<run>/   this run's complete new folder, being built
//! <root>/.hygge/manifests/<entity>.json   only on file systems without RENAME_EXCHANGE
//! ```
//!
//! A run builds the entity's complete new folder in staging (new files; for incremental runs
//! also hard links to the files already published), then swaps it with the visible folder
//! in one `renameat2(RENAME_EXCHANGE)`: a reader, or a `kill -9` at any instant, sees the
//! old folder or the new one, never a mix. Where the exchange is not supported, the two
//! renames it takes are recorded in a manifest first (the run id only: the paths are
//! rebuilt from it, so a manifest can name nothing outside its own store), and the next run
//! rolls it forward.
//!
//! Every entity has a staging folder of its own, named exactly after it: a run cleans only
//! that folder (entities `a` and `a.b` never touch each other's staging). `.hygge` itself
//! must be a real folder owned by the user running hygge and not writable by everyone.

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

/// A publication in progress (written before the first of two renames).
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// The run whose staging folder is being published.
    run: String,
}

/// The manifests of hygge before the per-entity staging folders: full paths.
#[derive(Debug, Deserialize)]
struct LegacyManifest {
    entity_dir: PathBuf,
    new: PathBuf,
    old: PathBuf,
}

/// A run id that can name a folder: no separators, no `..`, not empty.
fn valid_run(run: &str) -> bool {
    !run.is_empty()
        && run != "."
        && run != ".."
        && !run.contains(['/', '\\', '\0'])
        && !run.ends_with(".old")
}

/// Run ids as `hygge go` makes them (`20261202T101112.123456Z-1a2b`), and the `.old`
/// folders of that layout (`with_extension` cut them at the inner dot): how stale
/// staging of the flat layout is recognised, exactly.
fn legacy_run_suffix(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if !(digits(0..8) && b.get(8) == Some(&b'T') && digits(9..15)) {
        return false;
    }
    let rest = &s[15..];
    if rest == ".old" {
        return true;
    }
    let Some(rest) = rest.strip_prefix('.') else {
        return false;
    };
    let Some((micros, pid)) = rest.split_once("Z-") else {
        return false;
    };
    micros.len() == 6
        && micros.bytes().all(|d| d.is_ascii_digit())
        && !pid.is_empty()
        && pid.bytes().all(|d| d.is_ascii_hexdigit())
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

    /// Where the manifest is written before it is renamed into place, so that a crash
    /// leaves no manifest or a whole one, never an empty or partial one.
    fn manifest_tmp_path(&self) -> PathBuf {
        self.hygge_dir
            .join("manifests")
            .join(format!("{}.json.tmp", self.name))
    }

    /// This entity's own staging folder (`staging/<entity>/`).
    fn entity_staging(&self) -> PathBuf {
        self.hygge_dir.join("staging").join(&self.name)
    }

    /// The folder where run `run_id` builds the new entity folder.
    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.entity_staging().join(run_id)
    }

    /// Where the previous data goes during a two-rename publication.
    fn old_dir(&self, run_id: &str) -> PathBuf {
        self.entity_staging().join(format!("{run_id}.old"))
    }

    /// Takes the entity's lock (held until the returned file is dropped), finishes a
    /// publication a crashed run left half-done, and removes this entity's stale staging.
    pub fn begin(&self) -> Result<fs::File, FileError> {
        ensure_own_dir(&self.hygge_dir)?;
        for sub in ["locks", "staging", "manifests"] {
            let d = self.hygge_dir.join(sub);
            ensure_own_dir(&d)?;
        }
        let lock_path = self.lock_path();
        let lock = open_nofollow(&lock_path)?;
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
            let (new, old) = self.manifest_paths(&manifest_path, &text)?;
            if !self.entity_dir.exists() && new.exists() {
                rename(&new, &self.entity_dir)?;
                tracing::warn!(
                    "finished publishing {} that an interrupted run left half-done",
                    self.entity_dir.display()
                );
            }
            remove_all(&old)?;
            fs::remove_file(&manifest_path)
                .map_err(|e| FileError::io("remove", &manifest_path, e))?;
        }
        // A manifest a crash cut short while it was written: no folder was renamed yet.
        match fs::remove_file(self.manifest_tmp_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(FileError::io("remove", self.manifest_tmp_path(), e));
            }
            _ => {}
        }
        remove_all(&self.entity_staging())?;
        // Staging of the flat layout (`staging/<entity>.<run>`), matched exactly: the rest
        // of the name must be a run id, so entity `a` never touches `a.b`'s.
        let staging = self.hygge_dir.join("staging");
        let prefix = format!("{}.", self.name);
        let entries = match fs::read_dir(&staging) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(FileError::io("list", &staging, e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.strip_prefix(&prefix).is_some_and(legacy_run_suffix) {
                remove_all(&entry.path())?;
            }
        }
        Ok(())
    }

    /// The new and old folders a manifest names, checked to lie in this entity's staging.
    fn manifest_paths(&self, path: &Path, text: &str) -> Result<(PathBuf, PathBuf), FileError> {
        if let Ok(m) = serde_json::from_str::<Manifest>(text) {
            if valid_run(&m.run) {
                return Ok((self.run_dir(&m.run), self.old_dir(&m.run)));
            }
        } else if let Ok(m) = serde_json::from_str::<LegacyManifest>(text) {
            let staging = self.hygge_dir.join("staging");
            let ours = |p: &Path| {
                p.parent() == Some(staging.as_path())
                    && p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .and_then(|n| n.strip_prefix(&format!("{}.", self.name)).map(String::from))
                        .is_some_and(|rest| legacy_run_suffix(&rest))
            };
            if m.entity_dir == self.entity_dir && ours(&m.new) && ours(&m.old) {
                return Ok((m.new, m.old));
            }
        }
        Err(FileError::Unsafe {
            path: path.to_path_buf(),
            detail: format!(
                "this publication manifest does not name a staging folder of {} (it may have been edited or planted)",
                self.entity_dir.display()
            ),
        })
    }

    /// Makes `new_dir` (a complete folder under staging) the visible entity folder.
    /// Returns the folder that now holds the previous data (to delete), if there was any.
    /// With `durable`, the folders are fsynced so the publication survives a power loss.
    pub fn publish(&self, run_id: &str, durable: bool) -> Result<Option<PathBuf>, FileError> {
        let new_dir = self.run_dir(run_id);
        let sync_parent = |p: &Path| if durable { sync_parent(p) } else { Ok(()) };
        if durable {
            sync_dir(&new_dir)?;
        }
        if !self.entity_dir.exists() {
            if let Some(parent) = self.entity_dir.parent() {
                create_dir_all_synced(parent, durable)?;
            }
            rename(&new_dir, &self.entity_dir)?;
            sync_parent(&self.entity_dir)?;
            return Ok(None);
        }
        if exchange(&new_dir, &self.entity_dir)? {
            sync_parent(&self.entity_dir)?;
            return Ok(Some(new_dir));
        }
        self.publish_with_manifest(run_id).map(Some)
    }

    /// Two renames, made crash-safe by a manifest that the next run rolls forward.
    pub fn publish_with_manifest(&self, run_id: &str) -> Result<PathBuf, FileError> {
        let (new_dir, old) = (self.run_dir(run_id), self.old_dir(run_id));
        let path = self.manifest_path();
        let folder = self.hygge_dir.join("manifests"); // another run may have tidied it away
        ensure_own_dir(&folder)?;
        let text = serde_json::to_vec(&Manifest {
            run: run_id.to_string(),
        })
        .expect("manifest serialises");
        // Whole or absent: written aside, then renamed into place (a crash while writing
        // leaves only the aside file, which the next run removes: nothing was renamed yet).
        let tmp = self.manifest_tmp_path();
        write_synced(&tmp, &text)?;
        rename(&tmp, &path)?;
        sync_parent(&path)?;
        rename(&self.entity_dir, &old)?;
        hygge_core::failpoint::hit("files.renamed")
            .map_err(|e| FileError::io("publish", &self.entity_dir, std::io::Error::other(e)))?;
        rename(&new_dir, &self.entity_dir)?;
        sync_parent(&self.entity_dir)?;
        fs::remove_file(&path).map_err(|e| FileError::io("remove", &path, e))?;
        Ok(old)
    }

    /// Removes this entity's staging folder and the `.hygge` subfolders left empty (the
    /// locks stay).
    pub fn tidy(&self) {
        let _ = fs::remove_dir(self.entity_staging());
        let _ = fs::remove_dir(self.hygge_dir.join("manifests"));
        let _ = fs::remove_dir(self.hygge_dir.join("staging"));
    }
}

/// Creates `dir` if missing; refuses one that is a symlink, is owned by another user, or
/// can be written by everyone (anyone could then plant staging, locks or manifests there).
fn ensure_own_dir(dir: &Path) -> Result<(), FileError> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| FileError::io("create", dir, e))?;
            Ok(())
        }
        Err(e) => Err(FileError::io("inspect", dir, e)),
        Ok(md) => {
            let unsafe_dir = |detail: &str| {
                Err(FileError::Unsafe {
                    path: dir.to_path_buf(),
                    detail: detail.to_string(),
                })
            };
            if md.file_type().is_symlink() {
                return unsafe_dir("is a symbolic link, not hygge's own folder");
            }
            if !md.is_dir() {
                return unsafe_dir("is not a folder");
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::MetadataExt;
                if md.uid() != rustix::process::geteuid().as_raw() {
                    return unsafe_dir("belongs to another user");
                }
                if md.mode() & 0o002 != 0 {
                    return unsafe_dir("can be written by every user");
                }
            }
            Ok(())
        }
    }
}

/// Opens (creating) a lock file without following a symlink planted in its place.
fn open_nofollow(path: &Path) -> Result<fs::File, FileError> {
    let mut o = fs::OpenOptions::new();
    o.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    o.open(path).map_err(|e| FileError::io("create", path, e))
}

/// `create_dir_all`, fsyncing each new folder's parent when `durable` (a folder created by
/// a first run must survive a power loss as surely as the data published into it).
fn create_dir_all_synced(dir: &Path, durable: bool) -> Result<(), FileError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all_synced(parent, durable)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(FileError::io("create", dir, e)),
    }
    if durable {
        sync_parent(dir)?;
    }
    Ok(())
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

/// Removes a folder tree (or a file, or a symlink: never what it points to) if it exists.
pub fn remove_all(path: &Path) -> Result<(), FileError> {
    let r = match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
        Ok(md) if md.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    match r {
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

/// Hard-links every file below `from` into the same place below `to` (folders created),
/// except the top-level entries named in `skip`. Files already present in `to` are an
/// error: a new file must never shadow an old one. A symbolic link is linked as the link
/// itself, and a file is copied (where a hard link is refused) only if it is a regular file:
/// nothing is ever read through a link.
pub fn link_tree(from: &Path, to: &Path, skip: &[&str]) -> Result<(), FileError> {
    let entries = fs::read_dir(from).map_err(|e| FileError::io("list", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| FileError::io("list", from, e))?;
        if skip.iter().any(|s| entry.file_name() == **s) {
            continue;
        }
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| FileError::io("stat", &src, e))?;
        if kind.is_dir() {
            fs::create_dir_all(&dst).map_err(|e| FileError::io("create", &dst, e))?;
            link_tree(&src, &dst, &[])?;
        } else if dst.symlink_metadata().is_ok() {
            return Err(FileError::Unsupported {
                path: dst,
                detail: "a new file would replace a published one; check file_pattern".into(),
            });
        } else {
            fs::hard_link(&src, &dst)
                .or_else(|e| {
                    if kind.is_file() {
                        fs::copy(&src, &dst).map(|_| ())
                    } else {
                        Err(e)
                    }
                })
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

    fn new_dir(s: &Staging, run: &str) -> PathBuf {
        let d = s.run_dir(run);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("new.txt"), "new").unwrap();
        d
    }

    #[test]
    fn exchange_publishes_and_returns_the_old_folder() {
        let (_tmp, s) = setup();
        let _lock = s.begin().unwrap();
        new_dir(&s, "r1");
        let old = s.publish("r1", true).unwrap().unwrap();
        assert!(s.entity_dir.join("new.txt").exists());
        assert!(!s.entity_dir.join("old.txt").exists());
        assert!(old.join("old.txt").exists());
    }

    #[test]
    fn a_half_done_manifest_publication_is_rolled_forward() {
        let (_tmp, s) = setup();
        let lock = s.begin().unwrap();
        let d = new_dir(&s, "r1");
        // Simulate a crash after the first of the two renames.
        let old = s.old_dir("r1");
        fs::write(
            s.manifest_path(),
            serde_json::to_vec(&Manifest { run: "r1".into() }).unwrap(),
        )
        .unwrap();
        fs::rename(&s.entity_dir, &old).unwrap();
        drop(lock);
        let _lock = s.begin().unwrap();
        assert!(s.entity_dir.join("new.txt").exists(), "rolled forward");
        assert!(!old.exists() && !d.exists(), "old data and staging removed");
        assert!(!s.manifest_path().exists());
    }

    #[test]
    fn manifest_publication_completes() {
        let (_tmp, s) = setup();
        let _lock = s.begin().unwrap();
        new_dir(&s, "r1");
        let old = s.publish_with_manifest("r1").unwrap();
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
        let d = new_dir(&s, "r0");
        let _lock = s.begin().unwrap();
        assert!(!d.exists());
    }

    /// Review H2: entity `a` cleaned `a.b`'s staging (a prefix match).
    #[test]
    fn an_entity_never_removes_the_staging_of_an_entity_whose_name_it_prefixes() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Staging::for_dir(&tmp.path().join("a")).unwrap();
        let ab = Staging::for_dir(&tmp.path().join("a.b")).unwrap();
        let ab_run = new_dir(&ab, "20261202T101112.123456Z-1f");
        // Flat-layout staging of `a.b` left by an older hygge, and of `a` itself.
        let flat = tmp.path().join(".hygge/staging");
        let ab_flat = flat.join("a.b.20261202T101112.123456Z-1f");
        let a_flat = flat.join("a.20261202T101112.123456Z-1f");
        let a_flat_old = flat.join("a.20261202T101112.old");
        for d in [&ab_flat, &a_flat, &a_flat_old] {
            fs::create_dir_all(d).unwrap();
            fs::write(d.join("f"), "x").unwrap();
        }
        let _lock = a.begin().unwrap();
        assert!(ab_run.join("new.txt").exists(), "a.b's run untouched");
        assert!(ab_flat.join("f").exists(), "a.b's flat staging untouched");
        assert!(!a_flat.exists() && !a_flat_old.exists(), "a's own removed");
    }

    /// A run killed while writing its manifest (found by the kill -9 campaign: an empty
    /// manifest stopped every later run) leaves only the aside file, written before any
    /// folder moved: the next run removes it and goes on, the data untouched.
    #[test]
    fn a_manifest_cut_short_by_a_crash_is_removed_and_the_next_run_goes_on() {
        let (_tmp, s) = setup();
        fs::create_dir_all(s.manifest_path().parent().unwrap()).unwrap();
        fs::write(s.manifest_tmp_path(), "").unwrap();
        let _lock = s.begin().expect("the next run starts");
        assert!(!s.manifest_tmp_path().exists());
        assert!(!s.manifest_path().exists());
        assert!(s.entity_dir.join("old.txt").exists());
    }

    /// Review M1: a manifest naming a folder outside the store deleted it.
    #[test]
    fn a_manifest_naming_paths_outside_its_staging_is_refused_and_nothing_is_touched() {
        let (tmp, s) = setup();
        let victim = tempfile::tempdir().unwrap();
        fs::write(victim.path().join("sentinel"), "keep").unwrap();
        fs::create_dir_all(s.manifest_path().parent().unwrap()).unwrap();
        let planted = |m: serde_json::Value| {
            fs::write(s.manifest_path(), m.to_string()).unwrap();
            s.begin().unwrap_err().to_string()
        };
        let err = planted(serde_json::json!({
            "entity_dir": s.entity_dir, "new": tmp.path().join("missing"), "old": victim.path()
        }));
        assert!(err.contains("does not name a staging folder"), "{err}");
        let err = planted(serde_json::json!({"run": "../../../x"}));
        assert!(err.contains("does not name a staging folder"), "{err}");
        assert!(victim.path().join("sentinel").exists());
        assert!(s.entity_dir.join("old.txt").exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_or_shared_hygge_folder_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let (tmp, s) = setup();
        let elsewhere = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), tmp.path().join(HYGGE_DIR)).unwrap();
        let err = s.begin().unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        fs::remove_file(tmp.path().join(HYGGE_DIR)).unwrap();
        fs::create_dir(tmp.path().join(HYGGE_DIR)).unwrap();
        fs::set_permissions(
            tmp.path().join(HYGGE_DIR),
            fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        let err = s.begin().unwrap_err().to_string();
        assert!(err.contains("every user"), "{err}");
        assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn legacy_run_ids_are_matched_exactly() {
        assert!(legacy_run_suffix("20261202T101112.123456Z-1f"));
        assert!(legacy_run_suffix("20261202T101112.old"));
        assert!(!legacy_run_suffix("b.20261202T101112.123456Z-1f"));
        assert!(!legacy_run_suffix("20261202T101112.12345Z-1f"));
        assert!(!legacy_run_suffix("x"));
        assert!(valid_run("20261202T101112.123456Z-1f") && valid_run("run1"));
        assert!(!valid_run("../x") && !valid_run("") && !valid_run("r.old"));
    }
}
