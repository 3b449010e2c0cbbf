//! From a located YAML tree to typed config: unknown keys (all of them, with suggestions),
//! then serde straight from the tree, each error at its value's file, line and column.

use serde::de::DeserializeOwned;

use hygge_connectors::secret::is_secret_key;

use super::diag::{Diagnostics, did_you_mean, likely_typo};
use hygge_connectors::tree::{TreeError, from_node};

use super::yaml::Node;

fn join(prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (_, true) => prefix.to_string(),
        _ if key.starts_with('[') => format!("{prefix}{key}"),
        _ => format!("{prefix}.{key}"),
    }
}

/// Reports every key of mapping `node` not in `allowed` (with a "did you mean"), warns about
/// `ignored` keys, and returns the mapping without both.
pub fn check_keys(
    node: &Node,
    allowed: &[&str],
    ignored: &[&str],
    what: &str,
    prefix: &str,
    diags: &mut Diagnostics,
) -> Node {
    let mut clean = node.clone();
    let Some(entries) = node.entries() else {
        return clean;
    };
    for (key, value) in entries {
        if ignored.contains(&key.as_str()) {
            diags.warn(
                value.key_or_value_loc(),
                join(prefix, key),
                format!("`{key}` is accepted for compatibility with the original hygge, which never used it; it is ignored"),
            );
            clean.remove(key);
        } else if !allowed.contains(&key.as_str()) {
            let hint = match did_you_mean(key, allowed) {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            diags.error(
                value.key_or_value_loc(),
                join(prefix, key),
                format!(
                    "unknown key `{key}` in {what}; {hint}valid keys: {}",
                    allowed.join(", ")
                ),
            );
            clean.remove(key);
        }
    }
    clean
}

/// As [`check_keys`], for mappings whose unknown keys the original hygge silently ignored
/// (an entity, and the flow's `defaults` merged under it): an unknown key is a warning that
/// names it and says it has no effect, unless it is a likely misspelling of a valid key
/// ([`likely_typo`]), which stays an error with its "did you mean".
pub fn check_keys_lenient(
    node: &Node,
    allowed: &[&str],
    ignored: &[&str],
    what: &str,
    prefix: &str,
    diags: &mut Diagnostics,
) -> Node {
    let mut clean = node.clone();
    let Some(entries) = node.entries() else {
        return clean;
    };
    for (key, value) in entries {
        if allowed.contains(&key.as_str()) || ignored.contains(&key.as_str()) {
            continue;
        }
        let valid = allowed.join(", ");
        match likely_typo(key, allowed) {
            Some(s) => diags.error(
                value.key_or_value_loc(),
                join(prefix, key),
                format!("unknown key `{key}` in {what}; did you mean `{s}`? valid keys: {valid}"),
            ),
            None => diags.warn(
                value.key_or_value_loc(),
                join(prefix, key),
                format!(
                    "unknown key `{key}` in {what} has no effect and is ignored (the original hygge ignored it too); valid keys: {valid}"
                ),
            ),
        }
        clean.remove(key);
    }
    check_keys(&clean, allowed, ignored, what, prefix, diags)
}

/// Deserialises `node` into `T`, reporting the first error at its location. A text value
/// where a number or boolean is wanted is read as one when it spells one (`"5000"`, `yes`),
/// as the original (pydantic) did, so `${VAR}` works for numbers.
pub fn typed<T: DeserializeOwned>(node: &Node, prefix: &str, diags: &mut Diagnostics) -> Option<T> {
    typed_with(node, prefix, diags, from_node)
}

/// [`typed`], with the typing done by `parse` (a connector's, from the registry).
pub fn typed_with<T>(
    node: &Node,
    prefix: &str,
    diags: &mut Diagnostics,
    parse: impl Fn(&Node) -> Result<T, TreeError>,
) -> Option<T> {
    match parse(node) {
        Ok(v) => Some(v),
        Err(e) => {
            report(&e, node, prefix, diags);
            None
        }
    }
}

/// One typing error as a located diagnostic. Under a secret key the message says what the
/// key must be and never quotes the value.
fn report(e: &TreeError, node: &Node, prefix: &str, diags: &mut Diagnostics) {
    let loc = e.loc.as_ref().unwrap_or(&node.loc);
    let mut key = e.path();
    if let Some(missing) = e.missing {
        key = join(&key, missing);
    }
    let message = match e.last_key().filter(|k| is_secret_key(k)) {
        Some(k) => {
            let expected = match e.expected.as_deref() {
                Some("a string") | None => "text; write it in quotes",
                Some(x) => x,
            };
            format!("`{k}` must be {expected} (its value is not shown: it is secret)")
        }
        None => explain(e.message()),
    };
    diags.error(loc, join(prefix, &key), message);
}

fn explain(msg: &str) -> String {
    if let Some(m) = unknown_field(msg) {
        return m;
    }
    // serde says "invalid type: string \"x\", expected usize": say it for people.
    msg.replace("expected usize", "expected a whole number (0 or more)")
        .replace("expected u64", "expected a whole number (0 or more)")
        .replace("expected i64", "expected a whole number")
        .replace("expected i32", "expected a whole number")
        .replace("expected a boolean", "expected true or false")
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (a nested mapping that denies
/// unknown keys, e.g. `polish.columns`) as the top-level keys are reported: with a "did
/// you mean".
fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    // "expected `a`", "expected `a` or `b`", "expected one of `a`, `b`, `c`"
    let valid: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let hint = match did_you_mean(key, &valid) {
        Some(s) => format!("did you mean `{s}`? "),
        None => String::new(),
    };
    Some(if valid.is_empty() {
        format!("unknown key `{key}`; this mapping takes no keys")
    } else {
        format!(
            "unknown key `{key}`; {hint}valid keys: {}",
            valid.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse;
    use std::path::Path;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: usize,
        flag: bool,
    }
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }

    #[test]
    fn coerces_text_that_spells_a_number_or_boolean() {
        let n = parse("items:\n  - n: \"12\"\n    flag: yes\n", Path::new("f.yml")).unwrap();
        let mut d = Diagnostics::default();
        let o: Outer = typed(&n, "", &mut d).expect("typed");
        assert_eq!(o.items[0].n, 12);
        assert!(o.items[0].flag);
    }

    #[test]
    fn unknown_keys_of_nested_mappings_get_a_did_you_mean() {
        let n = parse("items:\n  - n: 1\n    flgg: true\n", Path::new("f.yml")).unwrap();
        let mut d = Diagnostics::default();
        assert!(typed::<Outer>(&n, "", &mut d).is_none());
        let e = d.errors().next().unwrap();
        assert_eq!(e.key, "items[0].flgg");
        assert_eq!(
            e.message,
            "unknown key `flgg`; did you mean `flag`? valid keys: n, flag"
        );
    }

    #[test]
    fn locates_type_errors_in_lists() {
        let n = parse(
            "items:\n  - n: 1\n    flag: true\n  - n: lots\n    flag: true\n",
            Path::new("f.yml"),
        )
        .unwrap();
        let mut d = Diagnostics::default();
        assert!(typed::<Outer>(&n, "flow", &mut d).is_none());
        let e = d.errors().next().unwrap();
        assert_eq!(e.key, "flow.items[1].n");
        assert_eq!(e.loc.line, 4, "{e}");
        assert!(e.message.contains("whole number"), "{e}");
    }

    #[test]
    fn reports_every_unknown_key_with_a_suggestion() {
        let n = parse("nn: 1\nflgg: true\nn: 2\n", Path::new("f.yml")).unwrap();
        let mut d = Diagnostics::default();
        let clean = check_keys(&n, &["n", "flag"], &[], "the thing", "x", &mut d);
        let errs: Vec<_> = d.errors().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].contains("f.yml:1:") && errs[0].contains("did you mean `n`"),
            "{}",
            errs[0]
        );
        assert!(errs[1].contains("did you mean `flag`"), "{}", errs[1]);
        assert!(clean.get("nn").is_none());
    }

    #[derive(serde::Deserialize, Debug)]
    struct Login {
        password: hygge_connectors::secret::Secret,
        #[serde(default)]
        access_token: Option<hygge_connectors::secret::Secret>,
    }

    #[test]
    fn a_number_or_boolean_given_as_a_secret_is_the_text_written_and_never_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yml");
        for (yaml, want) in [
            ("password: 123456\n", "123456"),
            ("password: 0123   # leading zero kept\n", "0123"),
            ("password: 1.50\n", "1.50"),
            ("password: true\n", "true"),
            ("password: hunter2\n", "hunter2"),
        ] {
            std::fs::write(&file, yaml).unwrap();
            let n = parse(yaml, &file).unwrap();
            let mut d = Diagnostics::default();
            let l: Login = typed(&n, "", &mut d).expect(yaml);
            assert_eq!(l.password.0, want, "{yaml}");
            assert!(l.access_token.is_none());
        }
        let yaml = "password: x\naccess_token: [9876, 5432]\n";
        std::fs::write(&file, yaml).unwrap();
        let n = parse(yaml, &file).unwrap();
        let mut d = Diagnostics::default();
        assert!(typed::<Login>(&n, "conn", &mut d).is_none());
        let e = d.errors().next().unwrap().to_string();
        assert!(
            e.contains("`access_token` must be text; write it in quotes"),
            "{e}"
        );
        assert!(!e.contains("9876"), "{e}");
    }
}
