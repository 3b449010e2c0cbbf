//! YAML as a tree that remembers where every value came from (file, line, column), with
//! `${VAR}` / `${VAR:-default}` expanded, merged and then handed to serde as JSON.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Where a value is written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loc {
    /// The file.
    pub file: Arc<PathBuf>,
    /// 1-based line (0 = unknown).
    pub line: u64,
    /// 1-based column (0 = unknown).
    pub col: u64,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
        } else {
            write!(f, "{}", self.file.display())
        }
    }
}

/// A YAML value with its location.
#[derive(Debug, Clone)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it is written.
    pub loc: Loc,
    /// True when the value is the whole result of one `${VAR}`: serde may read it as a
    /// number or boolean if the key wants one (as the original's pydantic did).
    pub from_var: bool,
    /// Where the key holding this value is written (for values in mappings).
    pub key_loc: Option<Loc>,
}

/// A YAML value.
#[derive(Debug, Clone)]
pub enum Value {
    /// `~`, `null` or empty.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A mapping with string keys, in file order.
    Map(Vec<(String, Node)>),
}

impl Node {
    /// A node made by hygge (not from a file).
    pub fn synthetic(value: Value, loc: &Loc) -> Self {
        Node {
            value,
            loc: loc.clone(),
            from_var: false,
            key_loc: None,
        }
    }

    /// The value under `key`, for mappings.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Sets `key` in a mapping (replacing, or appending in order).
    pub fn set(&mut self, key: &str, node: Node) {
        if let Value::Map(entries) = &mut self.value {
            if let Some(slot) = entries.iter_mut().find(|(k, _)| k == key) {
                slot.1 = node;
            } else {
                entries.push((key.to_string(), node));
            }
        }
    }

    /// The value under `key`, mutable, for mappings.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.value {
            Value::Map(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Removes `key` from a mapping.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        if let Value::Map(entries) = &mut self.value {
            let pos = entries.iter().position(|(k, _)| k == key)?;
            return Some(entries.remove(pos).1);
        }
        None
    }

    /// The string, for string nodes.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Mapping entries, for mappings.
    pub fn entries(&self) -> Option<&[(String, Node)]> {
        match &self.value {
            Value::Map(e) => Some(e),
            _ => None,
        }
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Where the key of this value is, or the value itself.
    pub fn key_or_value_loc(&self) -> &Loc {
        self.key_loc.as_ref().unwrap_or(&self.loc)
    }

    fn set_file(&mut self, file: &Arc<PathBuf>) {
        self.loc.file = file.clone();
        if let Some(k) = &mut self.key_loc {
            k.file = file.clone();
        }
        match &mut self.value {
            Value::Seq(items) => items.iter_mut().for_each(|n| n.set_file(file)),
            Value::Map(entries) => entries.iter_mut().for_each(|(_, n)| n.set_file(file)),
            _ => {}
        }
    }

    /// The node as JSON for serde. `path_locs` receives the location of every path
    /// (`a.b[2].c`), so errors from typed deserialisation can point into the files.
    pub fn to_json(
        &self,
        path: &str,
        path_locs: &mut Vec<(String, Loc, bool)>,
    ) -> serde_json::Value {
        path_locs.push((path.to_string(), self.loc.clone(), self.from_var));
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => serde_json::Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| n.to_json(&format!("{path}[{i}]"), path_locs))
                    .collect(),
            ),
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, n)| {
                        let p = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        (k.clone(), n.to_json(&p, path_locs))
                    })
                    .collect(),
            ),
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyString>>()? {
            let mut node = map.next_value::<Node>()?;
            node.key_loc = Some(Loc {
                file: Arc::default(),
                line: key.referenced.line(),
                col: key.referenced.column(),
            });
            let key = key.value;
            if entries.iter().any(|(k, _)| *k == key.0) {
                return Err(de::Error::custom(format!("duplicate key `{}`", key.0)));
            }
            entries.push((key.0, node));
        }
        Ok(Value::Map(entries))
    }
}

/// Mapping keys: strings, or scalars written as text (`1: x` has key "1").
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match ValueVisitor.visit_some(d)? {
            Value::Str(s) => Ok(KeyString(s)),
            Value::Int(i) => Ok(KeyString(i.to_string())),
            Value::Bool(b) => Ok(KeyString(b.to_string())),
            Value::Float(f) => Ok(KeyString(f.to_string())),
            Value::Null => Ok(KeyString("null".into())),
            _ => Err(de::Error::custom("mapping keys must be plain text")),
        }
    }
}

struct RawValue(Value);

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(RawValue)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<RawValue>::deserialize(d)?;
        Ok(Node {
            value: s.value.0,
            loc: Loc {
                file: Arc::default(),
                line: s.referenced.line(),
                col: s.referenced.column(),
            },
            from_var: false,
            key_loc: None,
        })
    }
}

/// Parses one YAML file. An empty file is an empty mapping.
pub fn parse(text: &str, file: &Path) -> Result<Node, (Loc, String)> {
    let file = Arc::new(file.to_path_buf());
    let at_file = Loc {
        file: file.clone(),
        line: 0,
        col: 0,
    };
    if text.trim().is_empty() {
        return Ok(Node::synthetic(Value::Map(vec![]), &at_file));
    }
    // YAML 1.2 booleans only (`y`, `on`, `yes` stay text); a key that wants a boolean
    // still accepts `yes`/`no`/`on`/`off` through the typed layer's coercion.
    let options = serde_saphyr::options! { strict_booleans: true };
    match serde_saphyr::from_str_with_options::<Node>(text, options) {
        Ok(mut node) => {
            node.set_file(&file);
            if let Value::Null = node.value {
                node.value = Value::Map(vec![]);
            }
            Ok(node)
        }
        Err(e) => {
            let (line, col) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid YAML").to_string();
            Err((Loc { file, line, col }, format!("invalid YAML: {first}")))
        }
    }
}

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

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME_DIR" => Some("/data".into()),
            "N" => Some("5000".into()),
            _ => None,
        }
    }

    #[test]
    fn parses_with_locations() {
        let n = parse("a: 1\nb:\n  c: [x, y]\n  d: on\n", Path::new("f.yml")).unwrap();
        assert_eq!(n.get("b").unwrap().get("d").unwrap().as_str(), Some("on"));
        let b = n.get("b").unwrap();
        assert_eq!(b.get("c").unwrap().loc.line, 3);
        let mut locs = vec![];
        let json = n.to_json("", &mut locs);
        assert_eq!(json["b"]["c"][1], "y");
        let (_, loc, _) = locs.iter().find(|(p, _, _)| p == "b.c[1]").unwrap();
        assert_eq!((loc.line, loc.col), (3, 10));
        assert_eq!(loc.file.as_path(), Path::new("f.yml"));
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

    #[test]
    fn reports_yaml_errors_with_a_line() {
        let (loc, msg) = parse("a: 1\nb: [\n", Path::new("f.yml")).unwrap_err();
        assert!(msg.starts_with("invalid YAML"), "{msg}");
        assert!(loc.line >= 2, "{loc}");
    }

    #[test]
    fn rejects_duplicate_keys() {
        assert!(parse("a: 1\na: 2\n", Path::new("f.yml")).is_err());
    }
}
