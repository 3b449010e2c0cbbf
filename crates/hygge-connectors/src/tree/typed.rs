//! serde's `Deserializer` over a located [`Node`] tree.
//!
//! Each error comes back with the location of the value it is about and its key path
//! (`items[1].n`), attached as it passes the mapping or list that holds the value, and
//! with what serde expected there, kept apart from the message. Text that spells a number
//! or a boolean is read as one where a number or boolean is wanted (`"5000"`, `yes`), as
//! the original hygge (pydantic) did, so `${VAR}` works for numbers. A number or boolean
//! written under a secret key (`password: 0123`) is read as the text written in the file.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use super::{Loc, Node, Value};
use crate::secret::is_secret_key;

/// A value of the tree that could not be typed.
#[derive(Debug, Clone)]
pub struct TreeError {
    /// The value the error is about (for a missing key: the mapping that lacks it).
    pub loc: Option<Loc>,
    /// What serde expected there, for a value of the wrong type or an invalid value
    /// (`a string`, `usize`, `one of a, b`).
    pub expected: Option<String>,
    /// The key missing from the mapping at [`TreeError::path`], for a missing key.
    pub missing: Option<&'static str>,
    /// The path from the root to the value, innermost first.
    segs: Vec<Seg>,
    message: String,
}

#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

impl TreeError {
    /// serde's description of the problem (`invalid type: string "x", expected usize`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The key path of the value (`a.b[2].c`; empty at the root). A missing key is named
    /// in [`TreeError::missing`], not here.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for seg in self.segs.iter().rev() {
            match seg {
                Seg::Key(k) if out.is_empty() => out.push_str(k),
                Seg::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    /// The innermost key of the path (`a.b[2]` -> `b`).
    pub fn last_key(&self) -> Option<&str> {
        self.segs.iter().find_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
    }

    /// Places an error that has no location yet at `loc`, and puts it under `seg`.
    fn within(mut self, loc: &Loc, seg: Option<Seg>) -> Self {
        if self.loc.is_none() {
            self.loc = Some(loc.clone());
        }
        self.segs.extend(seg);
        self
    }

    fn new(message: String) -> Self {
        TreeError {
            loc: None,
            expected: None,
            missing: None,
            segs: Vec::new(),
            message,
        }
    }
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        if path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "at `{path}`: {}", self.message)
        }
    }
}

impl std::error::Error for TreeError {}

impl de::Error for TreeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TreeError::new(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let mut e = TreeError::new(format!("invalid type: {unexp}, expected {exp}"));
        e.expected = Some(exp.to_string());
        e
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let mut e = TreeError::new(format!("invalid value: {unexp}, expected {exp}"));
        e.expected = Some(exp.to_string());
        e
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = TreeError::new(format!("missing field `{field}`"));
        e.missing = Some(field);
        e
    }
}

/// Types `node` as `T`.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, TreeError> {
    T::deserialize(NodeDe { node, key: None }).map_err(|e| e.within(&node.loc, None))
}

/// One node, and the key it is the value of (for secrets).
struct NodeDe<'a> {
    node: &'a Node,
    key: Option<&'a str>,
}

impl NodeDe<'_> {
    fn under_secret(&self) -> bool {
        self.key.is_some_and(is_secret_key)
    }
}

fn spelled_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// The plain scalar written at `loc` (up to a space, a `#` comment or the line's end),
/// when it is one: the text of a number or boolean as written (`0123`, `1.50`).
fn source_token(loc: &Loc) -> Option<String> {
    if loc.line == 0 || loc.col == 0 {
        return None;
    }
    let text = std::fs::read_to_string(loc.file.as_path()).ok()?;
    let line = text.lines().nth(loc.line as usize - 1)?;
    let token: String = line
        .chars()
        .skip(loc.col as usize - 1)
        .take_while(|c| !c.is_whitespace() && !matches!(c, '#' | ',' | '}' | ']'))
        .collect();
    let plain =
        !token.is_empty() && !token.starts_with(['"', '\'', '[', '{', '&', '*', '!', '|', '>']);
    plain.then_some(token)
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = TreeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(SeqDe {
                items: items.iter().enumerate(),
                key: self.key,
            }),
            Value::Map(entries) => visitor.visit_map(MapDe {
                entries: entries.iter(),
                pending: None,
            }),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        if let Value::Str(s) = &self.node.value
            && let Some(b) = spelled_bool(s)
        {
            return visitor.visit_bool(b);
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        if let Value::Str(s) = &self.node.value {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                return visitor.visit_i64(i);
            }
            if let Ok(u) = t.parse::<u64>() {
                return visitor.visit_u64(u);
            }
            if let Ok(f) = t.parse::<f64>() {
                return visitor.visit_f64(f);
            }
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        if self.under_secret() {
            let text = match &self.node.value {
                Value::Int(i) => Some(i.to_string()),
                Value::Float(f) => Some(f.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            if let Some(text) = text {
                return visitor.visit_string(source_token(&self.node.loc).unwrap_or(text));
            }
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TreeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TreeError> {
        match &self.node.value {
            Value::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            Value::Map(entries) if entries.len() == 1 => visitor.visit_enum(EnumDe {
                key: &entries[0].0,
                node: &entries[0].1,
            }),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TreeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        char bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct SeqDe<'a, I> {
    items: I,
    key: Option<&'a str>,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a Node)>> SeqAccess<'de> for SeqDe<'a, I> {
    type Error = TreeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TreeError> {
        let Some((i, node)) = self.items.next() else {
            return Ok(None);
        };
        seed.deserialize(NodeDe {
            node,
            key: self.key,
        })
        .map(Some)
        .map_err(|e| e.within(&node.loc, Some(Seg::Index(i))))
    }
}

struct MapDe<'a, I> {
    entries: I,
    pending: Option<&'a (String, Node)>,
}

impl<'de, 'a, I: Iterator<Item = &'a (String, Node)>> MapAccess<'de> for MapDe<'a, I> {
    type Error = TreeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TreeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some(entry);
        let (key, node) = entry;
        seed.deserialize(key.as_str().into_deserializer())
            .map(Some)
            .map_err(|e: TreeError| e.within(&node.loc, Some(Seg::Key(key.clone()))))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, TreeError> {
        let (key, node) = self
            .pending
            .take()
            .ok_or_else(|| TreeError::new("a value without its key".into()))?;
        seed.deserialize(NodeDe {
            node,
            key: Some(key),
        })
        .map_err(|e| e.within(&node.loc, Some(Seg::Key(key.clone()))))
    }
}

/// `{variant: value}`.
struct EnumDe<'a> {
    key: &'a str,
    node: &'a Node,
}

impl<'de, 'a> EnumAccess<'de> for EnumDe<'a> {
    type Error = TreeError;
    type Variant = NodeDe<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, NodeDe<'a>), TreeError> {
        let variant = seed
            .deserialize(self.key.into_deserializer())
            .map_err(|e: TreeError| e.within(&self.node.loc, Some(Seg::Key(self.key.into()))))?;
        Ok((
            variant,
            NodeDe {
                node: self.node,
                key: Some(self.key),
            },
        ))
    }
}

impl<'de> VariantAccess<'de> for NodeDe<'_> {
    type Error = TreeError;

    fn unit_variant(self) -> Result<(), TreeError> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, TreeError> {
        let (loc, key) = (self.node.loc.clone(), self.key.map(str::to_string));
        seed.deserialize(self)
            .map_err(|e| e.within(&loc, key.map(Seg::Key)))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TreeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TreeError> {
        de::Deserializer::deserialize_map(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::parse;
    use std::path::Path;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: usize,
        flag: bool,
        #[serde(default)]
        ratio: Option<f64>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Fast,
        Slow { by: u32 },
    }

    fn tree(yaml: &str) -> Node {
        parse(yaml, Path::new("f.yml")).unwrap()
    }

    #[test]
    fn text_that_spells_a_number_or_boolean_is_one() {
        let o: Outer = from_node(&tree(
            "items:\n  - n: \"12\"\n    flag: yes\n    ratio: \"0.5\"\n",
        ))
        .unwrap();
        assert_eq!(o.items[0].n, 12);
        assert!(o.items[0].flag);
        assert_eq!(o.items[0].ratio, Some(0.5));
    }

    #[test]
    fn a_wrong_type_is_located_at_its_value_with_its_path() {
        let e = from_node::<Outer>(&tree(
            "items:\n  - n: 1\n    flag: true\n  - n: lots\n    flag: true\n",
        ))
        .unwrap_err();
        assert_eq!(e.path(), "items[1].n");
        assert_eq!(e.loc.as_ref().map(|l| (l.line, l.col)), Some((4, 8)));
        assert_eq!(e.expected.as_deref(), Some("usize"));
        assert_eq!(e.message(), "invalid type: string \"lots\", expected usize");
    }

    #[test]
    fn an_unknown_or_missing_key_names_itself() {
        let e = from_node::<Outer>(&tree("items:\n  - n: 1\n    flgg: true\n")).unwrap_err();
        assert_eq!(e.path(), "items[0].flgg");
        assert_eq!(e.loc.as_ref().map(|l| l.line), Some(3));
        assert!(e.message().starts_with("unknown field `flgg`"), "{e}");

        let e = from_node::<Outer>(&tree("items:\n  - n: 1\n")).unwrap_err();
        assert_eq!((e.path().as_str(), e.missing), ("items[0]", Some("flag")));
        assert_eq!(e.loc.as_ref().map(|l| l.line), Some(2));
    }

    #[test]
    fn enums_as_text_or_a_one_key_mapping() {
        let o: Outer = from_node(&tree("items: []\nmode: fast\n")).unwrap();
        assert_eq!(o.mode, Some(Mode::Fast));
        let o: Outer = from_node(&tree("items: []\nmode: {slow: {by: \"3\"}}\n")).unwrap();
        assert_eq!(o.mode, Some(Mode::Slow { by: 3 }));
        let e = from_node::<Outer>(&tree("items: []\nmode: xml\n")).unwrap_err();
        assert_eq!(e.path(), "mode");
        assert!(
            e.message()
                .starts_with("unknown variant `xml`, expected `fast` or `slow`"),
            "{e}"
        );
    }

    #[test]
    fn a_number_under_a_secret_key_is_the_text_written() {
        #[derive(serde::Deserialize)]
        struct Login {
            password: crate::secret::Secret,
            port: u16,
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yml");
        let yaml = "password: 0123  # kept\nport: 1433\n";
        std::fs::write(&file, yaml).unwrap();
        let l: Login = from_node(&parse(yaml, &file).unwrap()).unwrap();
        assert_eq!((l.password.0.as_str(), l.port), ("0123", 1433));
    }
}
