//! Identifiers and names: always quoted, never spliced in as raw text.

/// PostgreSQL's identifier limit (longer names are silently truncated by the server).
pub const MAX_IDENT: usize = 63;

/// `"name"`, with embedded quotes doubled. Errors for names PostgreSQL cannot hold.
pub fn ident(name: &str) -> Result<String, String> {
    crate::sql::check_name(name, "PostgreSQL")?;
    if name.len() > MAX_IDENT {
        return Err(format!(
            "`{name}` is {} bytes long; PostgreSQL names hold at most {MAX_IDENT}",
            name.len()
        ));
    }
    Ok(crate::sql::double_quoted(name))
}

/// Postgres's quoting of names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postgres;

impl crate::sql::Dialect for Postgres {
    const OPEN: char = '"';
    const CLOSE: char = '"';
    const UNCLOSED: &'static str = "has an unbalanced double quote";
    const DOT_HINT: &'static str = "quote names that contain dots";
    fn ident(name: &str) -> Result<String, String> {
        ident(name)
    }
}

/// A table name, optionally schema-qualified, in Postgres's quoting.
pub type TableName = crate::sql::TableName<Postgres>;

/// A string literal: `'text'`, quotes doubled (for the few statements that take no
/// parameters, such as `SET TRANSACTION SNAPSHOT`).
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
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
        assert_eq!(ident("My Table").unwrap(), "\"My Table\"");
        assert!(ident("").is_err());
        assert!(ident(&"x".repeat(64)).is_err());
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn table_names_split_on_the_unquoted_dot() {
        let t = TableName::parse("public.Orders").unwrap();
        assert_eq!(
            (t.schema.as_deref(), t.table.as_str()),
            (Some("public"), "Orders")
        );
        let t = TableName::parse("\"my.schema\".\"a \"\"b\"\"\"").unwrap();
        assert_eq!(t.schema.as_deref(), Some("my.schema"));
        assert_eq!(t.table, "a \"b\"");
        assert_eq!(t.quoted().unwrap(), "\"my.schema\".\"a \"\"b\"\"\"");
        assert!(TableName::parse("a.b.c").is_err());
        assert!(TableName::parse("\"open").is_err());
        assert!(TableName::parse("").is_err());
    }
}
