//! T-SQL identifiers and literals: always bracket-quoted or escaped, never spliced raw.

/// SQL Server's identifier limit (`sysname` is nvarchar(128)).
pub const MAX_IDENT: usize = 128;

/// `[name]`, with `]` doubled. Errors for names SQL Server cannot hold.
pub fn ident(name: &str) -> Result<String, String> {
    crate::sql::check_name(name, "SQL Server")?;
    if name.encode_utf16().count() > MAX_IDENT {
        return Err(format!(
            "`{name}` is longer than SQL Server's {MAX_IDENT} characters"
        ));
    }
    Ok(format!("[{}]", name.replace(']', "]]")))
}

/// `N'text'`, with quotes doubled.
pub fn literal(s: &str) -> String {
    format!("N'{}'", s.replace('\'', "''"))
}

/// TSql's quoting of names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TSql;

impl crate::sql::Dialect for TSql {
    const OPEN: char = '[';
    const CLOSE: char = ']';
    const UNCLOSED: &'static str = "has an unclosed `[`";
    const DOT_HINT: &'static str = "bracket names that contain dots: `[a.b]`";
    fn ident(name: &str) -> Result<String, String> {
        ident(name)
    }
}

/// A table name, optionally schema-qualified, in TSql's quoting.
pub type TableName = crate::sql::TableName<TSql>;

impl TableName {
    /// `N'[schema].[table]'`, for `OBJECT_ID(...)` and `sp_rename`.
    pub fn literal(&self) -> Result<String, String> {
        Ok(literal(&self.quoted()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_cannot_be_escaped() {
        assert_eq!(ident("a]b").unwrap(), "[a]]b]");
        assert_eq!(
            ident("x'; DROP TABLE t;--").unwrap(),
            "[x'; DROP TABLE t;--]"
        );
        assert!(ident("").is_err());
        assert!(ident(&"x".repeat(129)).is_err());
        assert_eq!(literal("it's"), "N'it''s'");
    }

    #[test]
    fn table_names() {
        let t = TableName::parse("dbo.{entity}")
            .unwrap()
            .for_entity("Or ders");
        assert_eq!(t.quoted().unwrap(), "[dbo].[Or ders]");
        let t = TableName::parse("[my.schema].[a]]b]").unwrap();
        assert_eq!(t.schema.as_deref(), Some("my.schema"));
        assert_eq!(t.table, "a]b");
        assert_eq!(TableName::parse("t").unwrap().quoted().unwrap(), "[t]");
        assert!(TableName::parse("a.b.c").is_err());
        assert!(TableName::parse("[a").is_err());
        assert_eq!(
            TableName::parse("s.t").unwrap().literal().unwrap(),
            "N'[s].[t]'"
        );
    }
}
