//! T-SQL identifiers and literals: always bracket-quoted or escaped, never spliced raw.

/// SQL Server's identifier limit (`sysname` is nvarchar(128)).
pub const MAX_IDENT: usize = 128;

/// `[name]`, with `]` doubled. Errors for names SQL Server cannot hold.
pub fn ident(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("an empty name is not a valid SQL Server identifier".into());
    }
    if name.chars().any(|c| c == '\0') {
        return Err(format!(
            "`{}` contains a NUL character",
            name.escape_debug()
        ));
    }
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

/// A table name, optionally schema-qualified: `dbo.orders`, `[My Schema].[My.Table]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    /// The schema, if given (else the login's default schema, usually `dbo`).
    pub schema: Option<String>,
    /// The table.
    pub table: String,
}

impl TableName {
    /// Splits `s` on its one unbracketed dot (if any).
    pub fn parse(s: &str) -> Result<TableName, String> {
        let mut parts = vec![String::new()];
        let mut bracketed = false;
        let mut chars = s.trim().chars().peekable();
        while let Some(c) = chars.next() {
            let part = parts.last_mut().expect("one part");
            match c {
                ']' if bracketed && chars.peek() == Some(&']') => {
                    chars.next();
                    part.push(']');
                }
                ']' if bracketed => bracketed = false,
                '[' if !bracketed && part.is_empty() => bracketed = true,
                '.' if !bracketed => parts.push(String::new()),
                c => part.push(c),
            }
        }
        if bracketed {
            return Err(format!("`{s}` has an unclosed `[`"));
        }
        match parts.as_slice() {
            [t] if !t.is_empty() => Ok(TableName {
                schema: None,
                table: t.clone(),
            }),
            [sc, t] if !sc.is_empty() && !t.is_empty() => Ok(TableName {
                schema: Some(sc.clone()),
                table: t.clone(),
            }),
            _ => Err(format!(
                "`{s}` is not a table name: use `table` or `schema.table` (bracket names that contain dots: `[a.b]`)"
            )),
        }
    }

    /// `{entity}` replaced in both parts.
    pub fn for_entity(&self, entity: &str) -> TableName {
        TableName {
            schema: self.schema.as_ref().map(|s| s.replace("{entity}", entity)),
            table: self.table.replace("{entity}", entity),
        }
    }

    /// The same schema, another table name.
    pub fn with_table(&self, table: String) -> TableName {
        TableName {
            schema: self.schema.clone(),
            table,
        }
    }

    /// `[schema].[table]` (or `[table]`).
    pub fn quoted(&self) -> Result<String, String> {
        Ok(match &self.schema {
            Some(s) => format!("{}.{}", ident(s)?, ident(&self.table)?),
            None => ident(&self.table)?,
        })
    }

    /// `schema.table`, for messages.
    pub fn display(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.table),
            None => self.table.clone(),
        }
    }

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
