//! `--var flow.<flow>.<dotted.path>=value`: command-line overrides deep-merged into a base
//! flow's `flow.yml`. Values are YAML scalars: `=1` is the integer 1 (the original turned
//! it into `true`), `=true` a boolean, `=a,b` text.

use std::path::PathBuf;
use std::sync::Arc;

use hygge_connectors::secret::is_secret_key;

use super::yaml::{Loc, Node, Value};

/// One `--var`.
#[derive(Debug, Clone)]
pub struct CliVar {
    /// The base flow it applies to.
    pub flow: String,
    /// The key path inside `flow.yml`.
    pub path: Vec<String>,
    /// The value.
    pub value: Value,
    /// As written, for messages.
    pub raw: String,
}

/// Where command-line values "are written", for diagnostics.
pub fn cli_loc() -> Loc {
    Loc {
        file: Arc::new(PathBuf::from("--var")),
        line: 0,
        col: 0,
    }
}

impl CliVar {
    /// For messages: the key as written, not the value (which may be a secret, under a
    /// key spelt wrong as much as under `password`).
    pub fn shown(&self) -> String {
        let key = self
            .raw
            .split_once('=')
            .map_or(self.raw.as_str(), |(k, _)| k);
        format!("{key}=...")
    }
}

/// Parses `flow.<flow>.<dotted.path>=value`. Errors never quote the value (it may be a
/// secret): only what comes before the `=`.
pub fn parse(raw: &str) -> Result<CliVar, String> {
    let shown = match raw.split_once('=') {
        Some((key, _)) => format!("{key}=..."),
        None => "(without `=`)".to_string(),
    };
    let bad = || {
        format!(
            "--var `{shown}` is not in the form flow.<flow>.<key>[.<key>...]=<value> (for example flow.users_to_lake.store.compression=zstd)"
        )
    };
    let (key, text) = raw.split_once('=').ok_or_else(bad)?;
    let mut parts = key.split('.');
    if parts.next() != Some("flow") {
        return Err(bad());
    }
    let flow = parts
        .next()
        .filter(|f| !f.is_empty())
        .ok_or_else(bad)?
        .to_string();
    let path: Vec<String> = parts.map(str::to_string).collect();
    if path.is_empty() || path.iter().any(String::is_empty) {
        return Err(bad());
    }
    // A secret is text as written (`password=0123` is not the number 123).
    let value = if path.last().is_some_and(|k| is_secret_key(k)) {
        Value::Str(text.to_string())
    } else {
        scalar(text)
    };
    Ok(CliVar {
        flow,
        path,
        value,
        raw: raw.to_string(),
    })
}

/// A YAML scalar: null, boolean (true/false), integer, float, or text.
fn scalar(text: &str) -> Value {
    let t = text.trim();
    if t.is_empty() || t == "~" || t == "null" {
        return Value::Null;
    }
    match t {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = t.parse::<i64>() {
        return Value::Int(i);
    }
    if t.chars().any(|c| c.is_ascii_digit())
        && let Ok(f) = t.parse::<f64>()
        && f.is_finite()
    {
        return Value::Float(f);
    }
    let unquoted = t
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| t.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(text);
    Value::Str(unquoted.to_string())
}

/// Sets `var` inside `node` (a flow's mapping), creating mappings along the path.
/// Returns an error when the path runs into a value that is not a mapping.
pub fn apply(node: &mut Node, var: &CliVar) -> Result<(), String> {
    let loc = cli_loc();
    let mut cur = node;
    for (i, key) in var.path.iter().enumerate() {
        if !matches!(cur.value, Value::Map(_)) {
            return Err(format!(
                "--var `{}`: `{}` is not a mapping, so it has no key `{key}`",
                var.shown(),
                var.path[..i].join(".")
            ));
        }
        if i + 1 == var.path.len() {
            cur.set(key, Node::synthetic(var.value.clone(), &loc));
            return Ok(());
        }
        if cur.get(key).is_none() {
            cur.set(key, Node::synthetic(Value::Map(vec![]), &loc));
        }
        cur = cur.get_mut(key).expect("just set");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values_as_yaml_scalars() {
        let v = parse("flow.f.queue_size=1").unwrap();
        assert_eq!(
            (v.flow.as_str(), v.path.clone()),
            ("f", vec!["queue_size".to_string()])
        );
        assert!(matches!(v.value, Value::Int(1)), "=1 is 1, not true");
        assert!(matches!(
            parse("flow.f.a.b=true").unwrap().value,
            Value::Bool(true)
        ));
        assert!(matches!(
            parse("flow.f.a=1.5").unwrap().value,
            Value::Float(_)
        ));
        assert!(matches!(parse("flow.f.a=zstd").unwrap().value, Value::Str(ref s) if s == "zstd"));
        assert!(matches!(parse("flow.f.a='007'").unwrap().value, Value::Str(ref s) if s == "007"));
        assert!(parse("f.a=1").is_err());
        assert!(parse("flow.f=1").is_err());
        assert!(parse("flow.f.a").is_err());
    }
}
