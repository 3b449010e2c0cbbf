//! Names: always quoted, never spliced in as raw text.

/// `"name"`, with embedded quotes doubled. Errors for names SQLite cannot hold.
pub fn ident(name: &str) -> Result<String, String> {
    crate::sql::check_name(name, "SQLite")?;
    Ok(crate::sql::double_quoted(name))
}

/// SQLite's quoting of names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sqlite;

impl crate::sql::Dialect for Sqlite {
    const OPEN: char = '"';
    const CLOSE: char = '"';
    const UNCLOSED: &'static str = "has an unbalanced double quote";
    const DOT_HINT: &'static str = "quote names that contain dots";
    fn ident(name: &str) -> Result<String, String> {
        ident(name)
    }
}

/// A table name in SQLite's quoting. A database file has no schemas: a `schema.table`
/// name is refused by the connector's validation.
pub type TableName = crate::sql::TableName<Sqlite>;

/// A table name for `table`: `{entity}` allowed, no schema.
pub fn table_key(t: &str) -> Result<TableName, String> {
    let t = TableName::parse(t).map_err(|e| format!("table: {e}"))?;
    if let Some(s) = &t.schema {
        return Err(format!(
            "table: a SQLite database file has no schemas (got `{s}.{}`); give the table name alone, or quote a name that contains a dot",
            t.table
        ));
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
        assert!(ident("").is_err());
        assert_eq!(table_key("\"a.b\"").unwrap().table, "a.b");
        assert!(table_key("main.t").is_err());
    }
}
