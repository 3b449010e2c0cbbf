//! Names: always quoted, never spliced in as raw text.

/// `"name"`, with embedded quotes doubled. Errors for names DuckDB cannot hold.
pub fn ident(name: &str) -> Result<String, String> {
    crate::sql::check_name(name, "DuckDB")?;
    Ok(crate::sql::double_quoted(name))
}

/// `'text'`, a string literal with embedded quotes doubled.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// DuckDB's quoting of names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duck;

impl crate::sql::Dialect for Duck {
    const OPEN: char = '"';
    const CLOSE: char = '"';
    const UNCLOSED: &'static str = "has an unbalanced double quote";
    const DOT_HINT: &'static str = "quote names that contain dots";
    fn ident(name: &str) -> Result<String, String> {
        ident(name)
    }
}

/// A table name in DuckDB's quoting, `schema.table` or a table of the default schema.
pub type TableName = crate::sql::TableName<Duck>;

/// The schema DuckDB creates tables in when none is given.
pub const DEFAULT_SCHEMA: &str = "main";

/// A store's or home's `table` and `schema` keys as one name (schema `main` unless given).
pub fn table_key(table: &str, schema: Option<&str>) -> Result<TableName, String> {
    let mut t = TableName::parse(table).map_err(|e| format!("table: {e}"))?;
    match (&t.schema, schema) {
        (Some(_), Some(_)) => {
            return Err(
                "schema: the table is already schema-qualified; give the schema once".into(),
            );
        }
        (None, Some("")) => return Err("schema: the schema is empty".into()),
        (None, Some(s)) => t.schema = Some(s.to_string()),
        (None, None) => t.schema = Some(DEFAULT_SCHEMA.to_string()),
        (Some(_), None) => {}
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_so_they_cannot_inject() {
        assert_eq!(
            ident("a\"; DROP TABLE x; --").unwrap(),
            "\"a\"\"; DROP TABLE x; --\""
        );
        assert_eq!(literal("it's"), "'it''s'");
        assert!(ident("").is_err());
        let t = table_key("{entity}", None).unwrap();
        assert_eq!(t.quoted().unwrap(), "\"main\".\"{entity}\"");
        assert_eq!(
            table_key("s.t", None).unwrap().quoted().unwrap(),
            "\"s\".\"t\""
        );
        assert!(table_key("s.t", Some("x")).is_err());
        assert_eq!(table_key("t", Some("raw")).unwrap().display(), "raw.t");
    }
}
