//! Helpers every connector's validation uses; names no connector and imports only the
//! crate's leaves (the tree, the connections map, the key probe), so connectors and the
//! registry both depend on it (and not on each other).

use crate::connections::{ConnectionConfig, Connections};
use crate::tree::Node;

/// `key` must be at least 1.
pub(crate) fn positive(key: &str, v: usize) -> Result<(), String> {
    if v == 0 {
        Err(format!("{key} must be at least 1"))
    } else {
        Ok(())
    }
}

/// The connection a home or store uses: the one named `name` in `hygge.yml` (of the
/// connector's kind, which `is_kind` recognises) with the `inline` keys laid over it
/// ([`Node::overlay`]: a key written inline wins), or the inline keys alone; typed as `C`.
/// `keys` says which inline keys would do, for the error when neither is given.
pub(crate) fn named_or_inline<C: serde::de::DeserializeOwned>(
    kind: &str,
    name: Option<&str>,
    inline: &Node,
    conns: &Connections,
    is_kind: fn(&ConnectionConfig) -> bool,
    keys: &str,
) -> Result<(String, C), String> {
    let typed =
        |node: &Node| crate::tree::from_node::<C>(node).map_err(|e| format!("connection: {e}"));
    match name {
        Some(n) => match (conns.all.get(n), conns.nodes.get(n)) {
            (Some(c), Some(named)) if is_kind(c) => {
                Ok((n.to_string(), typed(&named.overlay(inline))?))
            }
            (Some(_), _) => Err(format!(
                "connection: `{n}` is a {} connection, not {kind}",
                conns.types.get(n).map_or("different", String::as_str)
            )),
            _ => {
                let same: Vec<&str> = conns
                    .all
                    .iter()
                    .filter(|(_, c)| is_kind(c))
                    .map(|(n, _)| n.as_str())
                    .collect();
                Err(match conns.types.get(n) {
                    Some(t) => format!("connection: `{n}` is a {t} connection, not {kind}"),
                    None if same.is_empty() => format!(
                        "connection: no connection named `{n}`; define it in hygge.yml under `connections:`"
                    ),
                    None => format!(
                        "connection: no connection named `{n}` ({kind} connections: {})",
                        same.join(", ")
                    ),
                })
            }
        },
        None if !inline.is_empty() => Ok(("inline".to_string(), typed(inline)?)),
        None => Err(format!(
            "connection: say where to connect: `connection: <name>` (from hygge.yml `connections`), or {keys}"
        )),
    }
}

/// A home's or store's config that takes its connector's connection keys inline.
pub(crate) trait InlineConnection: serde::de::DeserializeOwned {
    /// The connection's config: its fields are the keys taken inline.
    type Conn: serde::de::DeserializeOwned;
    /// Where the inline keys are kept, as written.
    fn inline_mut(&mut self) -> &mut Node;
}

/// Types a home's or store's mapping whose connection keys (the fields of `T::Conn`) may
/// be written inline beside its own: the connection keys are checked as `T::Conn` and
/// kept as written (to be laid over a named connection's, [`named_or_inline`]), the
/// others typed as `T`. The keys of both are defined once, by their structs.
pub(crate) fn with_inline<T: InlineConnection>(node: &Node) -> Result<T, crate::tree::TreeError> {
    let conn_keys = crate::keys::field_names::<T::Conn>();
    let (conn, own) = node.partition(|key| conn_keys.contains(&key));
    let mut typed: T = crate::tree::from_node(&own)?;
    crate::tree::from_node::<T::Conn>(&conn)?;
    *typed.inline_mut() = conn;
    Ok(typed)
}

/// The keys [`with_inline`] takes: `T`'s and `T::Conn`'s.
pub(crate) fn keys_with_inline<T: InlineConnection>() -> Vec<&'static str> {
    let mut keys = crate::keys::field_names::<T>().to_vec();
    keys.extend_from_slice(crate::keys::field_names::<T::Conn>());
    keys
}

/// Splits the keys of `P` off mapping `node` and types them: `P` and the rest of the
/// mapping (a config written as its own keys beside a shared struct's).
pub(crate) fn split_off<P: serde::de::DeserializeOwned>(
    node: &Node,
) -> Result<(P, Node), crate::tree::TreeError> {
    let keys = crate::keys::field_names::<P>();
    let (part, rest) = node.partition(|key| keys.contains(&key));
    Ok((crate::tree::from_node(&part)?, rest))
}
