//! A folder of small objects, each read with its version and replaced whole only if it is
//! still that version: what a file kept on object storage by many writers needs (hygge's
//! journal beside a cloud store's data). A store that can hold one gives it
//! ([`crate::registry::ValidStore::journal_folder`]); the product names no connector.
//!
//! Every call blocks until the object store answered. Messages name the object's URL and
//! never a secret.

use std::fmt::Debug;

/// The version an object was read at (its ETag, and the store's version id where it has
/// one): what a conditional write compares against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The ETag.
    pub e_tag: Option<String>,
    /// The object version, on stores that keep versions.
    pub version: Option<String>,
}

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The object is now the bytes given.
    Done,
    /// Someone else wrote (or created) the object first: nothing was written; read it again.
    Conflict,
}

/// A folder of objects, each written whole: a reader sees an object's old bytes or its new
/// ones, never a part.
pub trait VersionedFolder: Send + Sync + Debug {
    /// The URL of `name` in the folder (for messages; no secret).
    fn url(&self, name: &str) -> String;

    /// The object's bytes and version; `None` when it does not exist. Any other failure
    /// is an error naming the object.
    fn get(&self, name: &str) -> Result<Option<(bytes::Bytes, Version)>, String>;

    /// Writes `name` whole if it is still at `expected` (`None`: only if it does not
    /// exist yet); [`Written::Conflict`] when it is not.
    fn put(
        &self,
        name: &str,
        bytes: bytes::Bytes,
        expected: Option<&Version>,
    ) -> Result<Written, String>;

    /// The names of the objects directly in the folder.
    fn list(&self) -> Result<Vec<String>, String>;
}
