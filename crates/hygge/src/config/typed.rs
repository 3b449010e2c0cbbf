//! From a located YAML tree to typed config: unknown keys (all of them, with suggestions),
//! then serde with the error's key path mapped back to file, line and column.

use serde::de::DeserializeOwned;

use hygge_connectors::secret::is_secret_key;

use super::diag::{Diagnostics, did_you_mean, likely_typo};
use super::yaml::{Loc, Node, Value};

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
    typed_with(node, prefix, diags, serde_path_to_error::deserialize)
}

/// [`typed`], with the typing done by `parse` (a connector's, from the registry).
pub fn typed_with<T>(
    node: &Node,
    prefix: &str,
    diags: &mut Diagnostics,
    parse: impl Fn(serde_json::Value) -> Result<T, serde_path_to_error::Error<serde_json::Error>>,
) -> Option<T> {
    let mut node = node.clone();
    for _ in 0..64 {
        let mut locs = Vec::new();
        let json = node.to_json("", &mut locs);
        match parse(json) {
            Ok(v) => return Some(v),
            Err(e) => {
                let path = e.path().to_string();
                let path = if path == "." { String::new() } else { path };
                let msg = e.inner().to_string();
                if coerce(&mut node, &path, &msg) {
                    continue;
                }
                if let Some(k) = last_key(&path).filter(|k| is_secret_key(k)) {
                    // `password: 123456`: the text written, as text. Whatever else is
                    // wrong there, the message never quotes the value.
                    if msg.contains("expected a string") && secret_as_text(&mut node, &path) {
                        continue;
                    }
                    let expected = match msg.split_once("expected ") {
                        Some((_, "a string")) | None => "text; write it in quotes",
                        Some((_, e)) => e,
                    };
                    let (loc, key) = locate(&locs, &path, "", &node.loc);
                    diags.error(
                        &loc,
                        join(prefix, &key),
                        format!("`{k}` must be {expected} (its value is not shown: it is secret)"),
                    );
                    return None;
                }
                let (loc, key) = locate(&locs, &path, &msg, &node.loc);
                diags.error(&loc, join(prefix, &key), explain(&msg));
                return None;
            }
        }
    }
    diags.error(&node.loc, prefix, "too many values of the wrong type");
    None
}

/// The last key of a serde path (`a.b[2].password` -> `password`).
fn last_key(path: &str) -> Option<&str> {
    segments(path).into_iter().rev().find_map(|s| match s {
        Seg::Key(k) => Some(k),
        Seg::Index(_) => None,
    })
}

/// A number or boolean at `path` (under a secret key) made the text written in its file:
/// `password: 0123` is `0123`, not `123`. False when it is not a number or boolean, or its
/// text cannot be read back.
fn secret_as_text(root: &mut Node, path: &str) -> bool {
    let Some(node) = node_at(root, path) else {
        return false;
    };
    if !matches!(node.value, Value::Int(_) | Value::Float(_) | Value::Bool(_)) {
        return false;
    }
    let Some(text) = source_token(&node.loc) else {
        return false;
    };
    node.value = Value::Str(text);
    true
}

/// The plain scalar written at `loc` (up to a space, a `#` comment or the line's end).
fn source_token(loc: &Loc) -> Option<String> {
    if loc.line == 0 || loc.col == 0 {
        return None;
    }
    let text = std::fs::read_to_string(loc.file.as_path()).ok()?;
    let line = text.lines().nth(loc.line as usize - 1)?;
    let token: String = line
        .chars()
        .skip(loc.col as usize - 1)
        .take_while(|c| !c.is_whitespace() && *c != '#' && *c != ',' && *c != '}' && *c != ']')
        .collect();
    // A plain scalar YAML read as a number or boolean: no quotes, no structure.
    let plain =
        !token.is_empty() && !token.starts_with(['"', '\'', '[', '{', '&', '*', '!', '|', '>']);
    plain.then_some(token)
}

fn explain(msg: &str) -> String {
    // serde says "invalid type: string \"x\", expected usize": say it for people.
    msg.replace("expected usize", "expected a whole number (0 or more)")
        .replace("expected u64", "expected a whole number (0 or more)")
        .replace("expected i64", "expected a whole number")
        .replace("expected i32", "expected a whole number")
        .replace("expected a boolean", "expected true or false")
}

/// Where the error is: the unknown or missing key's own line when serde names it.
fn locate(locs: &[(String, Loc, bool)], path: &str, msg: &str, fallback: &Loc) -> (Loc, String) {
    let find = |p: &str| {
        locs.iter()
            .find(|(q, _, _)| q == p)
            .map(|(_, l, _)| l.clone())
    };
    if let Some(field) = backticked(msg, "unknown field `") {
        let p = join(path, &field);
        if let Some(l) = find(&p) {
            return (l, p);
        }
    }
    if let Some(field) = backticked(msg, "missing field `") {
        return (
            find(path).unwrap_or_else(|| fallback.clone()),
            join(path, &field),
        );
    }
    (
        find(path).unwrap_or_else(|| fallback.clone()),
        path.to_string(),
    )
}

fn backticked(msg: &str, after: &str) -> Option<String> {
    let start = msg.find(after)? + after.len();
    let end = msg[start..].find('`')? + start;
    Some(msg[start..end].to_string())
}

fn coerce(root: &mut Node, path: &str, msg: &str) -> bool {
    if !msg.starts_with("invalid type: string") {
        return false;
    }
    let Some(node) = node_at(root, path) else {
        return false;
    };
    let Value::Str(s) = &node.value else {
        return false;
    };
    let t = s.trim();
    let wants_bool = msg.contains("boolean");
    let new = if wants_bool {
        match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Some(Value::Bool(true)),
            "false" | "no" | "off" | "0" => Some(Value::Bool(false)),
            _ => None,
        }
    } else if let Ok(i) = t.parse::<i64>() {
        Some(Value::Int(i))
    } else {
        t.parse::<f64>().ok().map(Value::Float)
    };
    match new {
        Some(v) => {
            node.value = v;
            true
        }
        None => false,
    }
}

fn node_at<'a>(root: &'a mut Node, path: &str) -> Option<&'a mut Node> {
    let mut cur = root;
    for seg in segments(path) {
        cur = match (&mut cur.value, seg) {
            (Value::Map(entries), Seg::Key(k)) => {
                &mut entries.iter_mut().find(|(key, _)| key == k)?.1
            }
            (Value::Seq(items), Seg::Index(i)) => items.get_mut(i)?,
            _ => return None,
        };
    }
    Some(cur)
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
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
