//! Values that must never be printed: passwords, tokens, URLs with credentials.

use serde::Deserialize;

/// A secret string: `Debug` prints `***`, and nothing else prints it either.
#[derive(Clone, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}
