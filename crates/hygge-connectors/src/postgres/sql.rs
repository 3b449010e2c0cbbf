//! Identifiers and names: always quoted, never spliced in as raw text.

/// PostgreSQL's identifier limit (longer names are silently truncated by the server).
pub const MAX_IDENT: usize = 63;

/// `"name"`, with embedded quotes doubled. Errors for names PostgreSQL cannot hold.
pub fn ident(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("an empty name is not a valid PostgreSQL identifier".into());
    }
    if name.contains('\0') {
        return Err(format!(
            "`{}` contains a NUL character",
            name.escape_debug()
        ));
    }
    if name.len() > MAX_IDENT {
        return Err(format!(
            "`{name}` is {} bytes long; PostgreSQL names hold at most {MAX_IDENT}",
            name.len()
        ));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// A table name, optionally schema-qualified: `schema.table`, `"My Schema"."My.Table"`.
/// Unquoted parts are taken as written (case kept); quoted parts may contain dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    /// The schema, if given.
    pub schema: Option<String>,
    /// The table.
    pub table: String,
}

impl TableName {
    /// Splits `s` on its one unquoted dot (if any).
    pub fn parse(s: &str) -> Result<TableName, String> {
        let mut parts = vec![String::new()];
        let mut quoted = false;
        let mut chars = s.trim().chars().peekable();
        let mut was_quoted = vec![false];
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    chars.next();
                    parts.last_mut().expect("one part").push('"');
                }
                '"' => {
                    quoted = !quoted;
                    *was_quoted.last_mut().expect("one part") = true;
                }
                '.' if !quoted => {
                    parts.push(String::new());
                    was_quoted.push(false);
                }
                c => parts.last_mut().expect("one part").push(c),
            }
        }
        if quoted {
            return Err(format!("`{s}` has an unbalanced double quote"));
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
                "`{s}` is not a table name: use `table` or `schema.table` (quote names that contain dots)"
            )),
        }
    }

    /// `"schema"."table"` (or `"table"`).
    pub fn quoted(&self) -> Result<String, String> {
        Ok(match &self.schema {
            Some(s) => format!("{}.{}", ident(s)?, ident(&self.table)?),
            None => ident(&self.table)?,
        })
    }

    /// `schema.table` as a person reads it.
    pub fn display(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.table),
            None => self.table.clone(),
        }
    }
}

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
