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

/// True for configuration keys whose values are secrets (or may hold one, as a url with a
/// password): `password`, `url`, `access_token`, `client_secret`, `storage_account_key`,
/// and any key ending in `password`, `secret`, `token` or `key`. Diagnostics never quote
/// their values.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key == "url"
        || ["password", "secret", "token", "key"]
            .iter()
            .any(|end| key.ends_with(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        for k in [
            "password",
            "url",
            "access_token",
            "client_secret",
            "storage_account_key",
            "db_password",
            "API_KEY",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["user", "host", "path", "table", "passwords_file"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}
