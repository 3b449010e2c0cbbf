//! Configuration as a tree that remembers where every value came from (file, line,
//! column), read from YAML, and typed by serde straight from the tree ([`from_node`]): an
//! error carries the location and key path of the value it is about, with no round trip
//! through JSON and no parsing of serde's messages.

mod typed;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

pub use typed::{TreeError, from_node};

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

/// A YAML value with its location (the default: null, nowhere).
#[derive(Debug, Clone, Default)]
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
#[derive(Debug, Clone, Default)]
pub enum Value {
    /// `~`, `null` or empty.
    #[default]
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

    /// A mapping split in two by key: the entries `pick` chooses, and the others (each
    /// at this node's location). Not a mapping: both are this node.
    pub fn partition(&self, pick: impl Fn(&str) -> bool) -> (Node, Node) {
        let Value::Map(entries) = &self.value else {
            return (self.clone(), self.clone());
        };
        let (picked, rest): (Vec<_>, Vec<_>) = entries.iter().cloned().partition(|(k, _)| pick(k));
        let with = |entries| Node {
            value: Value::Map(entries),
            ..self.clone_shallow()
        };
        (with(picked), with(rest))
    }

    /// This node's location and flags, with no value.
    fn clone_shallow(&self) -> Node {
        Node {
            value: Value::Null,
            loc: self.loc.clone(),
            from_var: self.from_var,
            key_loc: self.key_loc.clone(),
        }
    }

    /// This mapping with `over`'s entries laid on it: each key of `over` that has a value
    /// replaces this one's (a null leaves it), as keys written inline override those of
    /// a named connection.
    pub fn overlay(&self, over: &Node) -> Node {
        let mut out = self.clone();
        for (key, value) in over.entries().unwrap_or_default() {
            if !matches!(value.value, Value::Null) {
                out.set(key, value.clone());
            }
        }
        out
    }

    /// True for a mapping without entries (and for null).
    pub fn is_empty(&self) -> bool {
        match &self.value {
            Value::Map(entries) => entries.is_empty(),
            Value::Null => true,
            _ => false,
        }
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

    /// The value as JSON (locations dropped): to compare two values, or to show one.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, n)| (k.clone(), n.to_json()))
                    .collect(),
            ),
        }
    }

    /// A tree from JSON, every node at `loc` (for configuration built in code or tests).
    pub fn from_json(v: &serde_json::Value, loc: &Loc) -> Node {
        let value = match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => {
                Value::Seq(a.iter().map(|v| Node::from_json(v, loc)).collect())
            }
            serde_json::Value::Object(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Node::from_json(v, loc)))
                    .collect(),
            ),
        };
        Node::synthetic(value, loc)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_locations() {
        let n = parse("a: 1\nb:\n  c: [x, y]\n  d: on\n", Path::new("f.yml")).unwrap();
        assert_eq!(n.get("b").unwrap().get("d").unwrap().as_str(), Some("on"));
        let b = n.get("b").unwrap();
        assert_eq!(b.get("c").unwrap().loc.line, 3);
        assert_eq!(n.to_json()["b"]["c"][1], "y");
        let Value::Seq(items) = &b.get("c").unwrap().value else {
            panic!("a list")
        };
        let loc = &items[1].loc;
        assert_eq!((loc.line, loc.col), (3, 10));
        assert_eq!(loc.file.as_path(), Path::new("f.yml"));
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
