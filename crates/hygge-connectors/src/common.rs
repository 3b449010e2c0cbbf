//! Helpers every connector's validation uses; names no connector and imports nothing of
//! the crate, so connectors and the registry both depend on it (and not on each other).

use std::collections::BTreeMap;

/// `key` must be at least 1.
pub(crate) fn positive(key: &str, v: usize) -> Result<(), String> {
    if v == 0 {
        Err(format!("{key} must be at least 1"))
    } else {
        Ok(())
    }
}

/// The connection a home or store uses: the one named `name` in `hygge.yml` (of type
/// `kind`), with the inline keys laid `over` it; or the inline keys alone. `keys` says which
/// inline keys would do, for the error when neither is given.
#[allow(clippy::too_many_arguments)] // one call per SQL connector, every argument distinct
pub(crate) fn named_or_inline<C: Clone>(
    kind: &str,
    name: Option<&str>,
    inline: &C,
    inline_set: bool,
    named: &BTreeMap<String, C>,
    types: &BTreeMap<String, String>,
    over: impl Fn(&C, &C) -> C,
    keys: &str,
) -> Result<(String, C), String> {
    match name {
        Some(n) => match named.get(n) {
            Some(c) => Ok((n.to_string(), over(inline, c))),
            None => Err(match types.get(n) {
                Some(t) => format!("connection: `{n}` is a {t} connection, not {kind}"),
                None if named.is_empty() => format!(
                    "connection: no connection named `{n}`; define it in hygge.yml under `connections:`"
                ),
                None => format!(
                    "connection: no connection named `{n}` ({kind} connections: {})",
                    named.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            }),
        },
        None if inline_set => Ok(("inline".to_string(), inline.clone())),
        None => Err(format!(
            "connection: say where to connect: `connection: <name>` (from hygge.yml `connections`), or {keys}"
        )),
    }
}
