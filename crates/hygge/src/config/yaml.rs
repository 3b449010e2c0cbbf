//! The project's YAML: the located tree (kept in `hygge_connectors::tree`, where the
//! connectors type their keys from it) with `${VAR}` / `${VAR:-default}` expanded.

pub use hygge_connectors::tree::{Loc, Node, Value, parse};

/// Expands `${VAR}` and `${VAR:-default}` in every string, with `lookup` giving variables.
/// Each unset variable without a default is one error, located. An error in the value of
/// a secret key (`password`, `url`, ... see `is_secret_key`) says the key and the position
/// in the value, never the value.
pub fn expand_vars(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<(Loc, String)>,
) {
    expand_under(node, None, lookup, errors);
}

fn expand_under(
    node: &mut Node,
    key: Option<&str>,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<(Loc, String)>,
) {
    match &mut node.value {
        Value::Str(s) if s.contains("${") => match expand(s, lookup) {
            Ok((text, whole)) => {
                *s = text;
                node.from_var = whole;
            }
            Err(e) => {
                let msg = match key {
                    Some(key) if hygge_connectors::secret::is_secret_key(key) => e.at(key),
                    _ => e.quoting(s),
                };
                errors.push((node.loc.clone(), msg));
            }
        },
        Value::Seq(items) => items
            .iter_mut()
            .for_each(|n| expand_under(n, key, lookup, errors)),
        Value::Map(entries) => entries
            .iter_mut()
            .for_each(|(k, n)| expand_under(n, Some(k), lookup, errors)),
        _ => {}
    }
}

/// Why a string could not be expanded.
#[derive(Debug)]
enum ExpandError {
    /// A `${` without `}`, at this character (from 1).
    Unclosed(usize),
    /// `${}` or `${:-x}`, at this character (from 1).
    EmptyName(usize),
    /// An unset variable without a default (the message says which).
    Unset(String),
}

impl ExpandError {
    /// The message, quoting the value.
    fn quoting(&self, value: &str) -> String {
        match self {
            ExpandError::Unclosed(_) => format!("unclosed `${{` in {value:?}"),
            ExpandError::EmptyName(_) => format!("empty variable name in {value:?}"),
            ExpandError::Unset(msg) => msg.clone(),
        }
    }

    /// The message for the value of secret key `key`: the position, not the value.
    fn at(&self, key: &str) -> String {
        match self {
            ExpandError::Unclosed(at) => format!(
                "unclosed `${{` at character {at} of the value of `{key}` (not shown: it is secret); close it with `}}`"
            ),
            ExpandError::EmptyName(at) => format!(
                "empty variable name at character {at} of the value of `{key}` (not shown: it is secret)"
            ),
            ExpandError::Unset(msg) => msg.clone(),
        }
    }
}

/// Expands one string; returns it and whether it was exactly one `${...}`.
pub fn expand_str(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, bool), String> {
    expand(s, lookup).map_err(|e| e.quoting(s))
}

fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(String, bool), ExpandError> {
    let mut out = String::new();
    let mut rest = s;
    let mut refs = 0;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let at = s[..s.len() - rest.len() + start].chars().count() + 1;
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(ExpandError::Unclosed(at))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(ExpandError::EmptyName(at));
        }
        match (lookup(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(ExpandError::Unset(format!(
                    "environment variable `{name}` is not set and has no default; set it, or write ${{{name}:-default}}"
                )));
            }
        }
        refs += 1;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    let whole = refs == 1 && s.trim().starts_with("${") && s.trim().ends_with('}');
    Ok((out, whole))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME_DIR" => Some("/data".into()),
            "N" => Some("5000".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables() {
        assert_eq!(
            expand_str("${HOME_DIR}/x", &env).unwrap(),
            ("/data/x".into(), false)
        );
        assert_eq!(expand_str("${N}", &env).unwrap(), ("5000".into(), true));
        assert_eq!(
            expand_str("${NOPE:-dflt}", &env).unwrap(),
            ("dflt".into(), true)
        );
        assert_eq!(expand_str("${NOPE:-}", &env).unwrap(), ("".into(), true));
        let e = expand_str("a ${NOPE} b", &env).unwrap_err();
        assert!(e.contains("`NOPE` is not set"), "{e}");
    }

    #[test]
    fn expansion_errors_in_secret_values_give_the_position_not_the_value() {
        let n = parse(
            "password: \"hunter2${oops\"\nuser: \"bob${\"\nc:\n  - access_token: \"ab${}cd\"\n",
            Path::new("f.yml"),
        )
        .unwrap();
        let mut n = n;
        let mut errors = Vec::new();
        expand_vars(&mut n, &env, &mut errors);
        let msgs: Vec<&str> = errors.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(
            msgs[0].starts_with("unclosed `${` at character 8 of the value of `password`"),
            "{msgs:?}"
        );
        assert_eq!(
            msgs[1], "unclosed `${` in \"bob${\"",
            "not a secret: quoted"
        );
        assert!(
            msgs[2]
                .starts_with("empty variable name at character 3 of the value of `access_token`"),
            "{msgs:?}"
        );
        assert!(
            !msgs
                .iter()
                .any(|m| m.contains("hunter2") || m.contains("abcd"))
        );
    }
}
