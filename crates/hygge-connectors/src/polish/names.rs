//! `columns:`: new column names, made as the original hygge makes them (`_apply_columns`,
//! `_normalize_to_words`), character for character: Python's idea of whitespace, its
//! `str.capitalize`, the ASCII-only `[a-z]`/`[A-Z]` of its patterns.

use std::sync::LazyLock;

use regex::Regex;

use super::config::{Case, ColumnRules};

/// Python's `str.isspace` (what `str.split()` and `str.strip()` take for whitespace, and
/// `\s` matches): Unicode whitespace and the separators U+001C to U+001F.
pub(crate) fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_split(s: &str) -> Vec<&str> {
    s.split(py_space).filter(|w| !w.is_empty()).collect()
}

/// Python's `str.capitalize`: the first character upper case, the rest lower case.
fn capitalize(w: &str) -> String {
    let mut chars = w.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// A name's words: `_` and `-` are spaces, and a word starts at a lower-to-upper case step
/// (`employeeNumber`) and before the last capital of a run followed by a lower-case letter
/// (`XMLParser` -> `XML Parser`). Runs of capitals are not split further (`XMLHTTPRequest`
/// -> `XMLHTTP Request`), as in the original.
pub(crate) fn words(name: &str) -> Vec<String> {
    let base: Vec<char> = name
        .chars()
        .map(|c| if c == '_' || c == '-' { ' ' } else { c })
        .collect();
    // `(?<=[a-z])([A-Z])` -> ` \1`
    let mut step1: Vec<char> = Vec::with_capacity(base.len() + 4);
    for (i, &c) in base.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && base[i - 1].is_ascii_lowercase() {
            step1.push(' ');
        }
        step1.push(c);
    }
    // `(?<=[A-Z])([A-Z][a-z])` -> ` \1` (matches never overlap: the second character of
    // one is lower case, so no match starts there)
    let mut step2 = String::with_capacity(step1.len() + 4);
    for (i, &c) in step1.iter().enumerate() {
        if c.is_ascii_uppercase()
            && i > 0
            && step1[i - 1].is_ascii_uppercase()
            && step1.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())
        {
            step2.push(' ');
        }
        step2.push(c);
    }
    py_split(&step2).into_iter().map(str::to_string).collect()
}

/// `name` in `case`; a name with no words stays as it is.
pub(crate) fn to_case(name: &str, case: Case) -> String {
    let w = words(name);
    if w.is_empty() {
        return name.to_string();
    }
    match case {
        Case::Pascal => w.iter().map(|x| capitalize(x)).collect(),
        Case::Camel => {
            let mut out = w[0].to_lowercase();
            out.extend(w[1..].iter().map(|x| capitalize(x)));
            out
        }
        Case::Snake => w
            .iter()
            .map(|x| x.to_lowercase())
            .collect::<Vec<_>>()
            .join("_"),
    }
}

static PARENS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\(([^)]+)\)").expect("regex"));
static SPECIAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\s\x1c-\x1f]*\([^)]*\)|[^a-zA-Z0-9\s\x1c-\x1f_-]").expect("regex")
});

/// `remove_special`: the words inside parentheses are kept and appended at the end
/// (`Effective-Date (UTC)` -> `Effective-Date UTC`); parentheses with what they hold, and
/// every character but ASCII letters and digits, whitespace, `_` and `-`, go.
pub(crate) fn remove_special(name: &str) -> String {
    let paren_words: Vec<&str> = PARENS
        .captures_iter(name)
        .flat_map(|c| py_split(c.get(1).map_or("", |m| m.as_str())))
        .collect();
    let cleaned = SPECIAL.replace_all(name, "");
    let mut out = cleaned.trim_matches(py_space).to_string();
    if !paren_words.is_empty() {
        out.push(' ');
        out.push_str(&paren_words.join(" "));
    }
    out
}

/// One column's new name under `rules`, before collisions are resolved (empty -> as it was).
pub(crate) fn rename(name: &str, rules: &ColumnRules) -> String {
    let mut out = name.to_string();
    if rules.remove_special {
        out = remove_special(&out);
    }
    if rules.remove_spaces {
        out = out.replace(' ', "");
    }
    if let Some(case) = rules.case {
        out = to_case(&out, case);
    }
    if out.is_empty() {
        out = name.to_string();
    }
    out
}

/// The new names of `names`, in order. Names that collide keep the first as it is and add
/// `_1`, `_2`, ... to the others in column order (with a warning), as the original does.
/// A collision that this leaves (a suffixed name that another column already has) is an
/// error naming the columns: the original failed there and wrote the rows unpolished.
pub(crate) fn rename_all(names: &[String], rules: &ColumnRules) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = names.iter().map(|n| rename(n, rules)).collect();
    let mut counts: std::collections::HashMap<&str, usize> = Default::default();
    for n in &out {
        *counts.entry(n.as_str()).or_default() += 1;
    }
    let dups: std::collections::HashSet<String> = counts
        .into_iter()
        .filter(|(_, c)| *c > 1)
        .map(|(n, _)| n.to_string())
        .collect();
    if !dups.is_empty() {
        let mut seen: std::collections::HashMap<String, usize> = Default::default();
        let mut groups: Vec<(String, Vec<usize>)> = vec![];
        for (i, slot) in out.iter_mut().enumerate() {
            let n = slot.clone();
            if !dups.contains(&n) {
                continue;
            }
            match groups.iter_mut().find(|(g, _)| *g == n) {
                Some((_, members)) => members.push(i),
                None => groups.push((n.clone(), vec![i])),
            }
            match seen.get_mut(&n) {
                None => {
                    seen.insert(n, 0);
                }
                Some(k) => {
                    *k += 1;
                    *slot = format!("{n}_{k}");
                }
            }
        }
        for (dst, members) in groups {
            let sources: Vec<&str> = members.iter().map(|&i| names[i].as_str()).collect();
            let finals: Vec<&str> = members.iter().map(|&i| out[i].as_str()).collect();
            tracing::warn!(
                "polish columns: {sources:?} all become `{dst}`; named {finals:?} instead"
            );
        }
    }
    for (i, n) in out.iter().enumerate() {
        if let Some(j) = out[..i].iter().position(|m| m == n) {
            return Err(format!(
                "columns `{}` and `{}` would both be named `{n}`; rename one in the source (or a `query`)",
                names[j], names[i]
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(remove_special: bool, remove_spaces: bool, case: Option<Case>) -> ColumnRules {
        ColumnRules {
            remove_special,
            remove_spaces,
            case,
        }
    }

    fn all(names: &[&str], r: &ColumnRules) -> Vec<String> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        rename_all(&names, r).unwrap()
    }

    #[test]
    fn polish_words_split_as_the_original() {
        assert_eq!(words("EmployeeNumber"), ["Employee", "Number"]);
        assert_eq!(words("XMLParser"), ["XML", "Parser"]);
        assert_eq!(words("HTTPSConnection"), ["HTTPS", "Connection"]);
        assert_eq!(words("employeeNumber"), ["employee", "Number"]);
        assert_eq!(words("XMLHTTPRequest"), ["XMLHTTP", "Request"]);
        assert_eq!(words("EmployeeID"), ["Employee", "ID"]);
        assert_eq!(words("AONE_Units"), ["AONE", "Units"]);
        assert_eq!(words("a-b_c  d"), ["a", "b", "c", "d"]);
        assert_eq!(words("___"), Vec::<String>::new());
        assert_eq!(words("ABcDe"), ["A", "Bc", "De"]);
    }

    #[test]
    fn polish_case_styles() {
        // The original's own test cases (test_polish.py).
        let snake = rules(false, false, Some(Case::Snake));
        assert_eq!(
            all(
                &[
                    "XMLParser",
                    "HTTPSConnection",
                    "EmployeeID",
                    "employeeNumber",
                    "XMLHTTPRequest"
                ],
                &snake
            ),
            [
                "xml_parser",
                "https_connection",
                "employee_id",
                "employee_number",
                "xmlhttp_request"
            ]
        );
        let pascal = rules(true, false, Some(Case::Pascal));
        assert_eq!(
            all(&["Employee Number", "Effective-Date (UTC)"], &pascal),
            ["EmployeeNumber", "EffectiveDateUtc"]
        );
        let camel = rules(true, false, Some(Case::Camel));
        assert_eq!(
            all(&["Employee Number", "Effective-Date"], &camel),
            ["employeeNumber", "effectiveDate"]
        );
        let snake = rules(true, false, Some(Case::Snake));
        assert_eq!(
            all(&["Employee Number", "Effective-Date"], &snake),
            ["employee_number", "effective_date"]
        );
        assert_eq!(to_case("User Hash ID", Case::Pascal), "UserHashId");
        assert_eq!(to_case("AONEHashId", Case::Pascal), "AoneHashId");
        assert_eq!(to_case("AONE_Units", Case::Pascal), "AoneUnits");
        // No words: the name stays.
        assert_eq!(to_case("__", Case::Snake), "__");
        // Non-ASCII letters are kept (without remove_special) and cased by Unicode rules.
        assert_eq!(to_case("straße nummer", Case::Pascal), "StraßeNummer");
        assert_eq!(to_case("Ärger groß", Case::Snake), "ärger_groß");
    }

    #[test]
    fn polish_remove_special_and_spaces() {
        assert_eq!(remove_special("Effective-Date (UTC)"), "Effective-Date UTC");
        assert_eq!(remove_special("Amount ($)"), "Amount $");
        assert_eq!(remove_special("Price (in EUR) net"), "Price net in EUR");
        assert_eq!(remove_special("a#b%c!"), "abc");
        assert_eq!(remove_special("  café  "), "caf");
        assert_eq!(remove_special("x ( )"), "x");
        assert_eq!(remove_special("open (paren"), "open paren");
        assert_eq!(remove_special("tab\there"), "tab\there");
        let r = rules(false, true, None);
        assert_eq!(all(&["First Name", "a\tb"], &r), ["FirstName", "a\tb"]);
        // Everything removed: the original name stays.
        let r = rules(true, false, None);
        assert_eq!(all(&["%%", "ok"], &r), ["%%", "ok"]);
        // Nothing on: nothing changes.
        let r = rules(false, false, None);
        assert_eq!(all(&["A b", "c-D"], &r), ["A b", "c-D"]);
    }

    #[test]
    fn polish_collisions_get_suffixes_in_column_order() {
        // The original's test: three spellings of one name.
        let r = rules(true, true, Some(Case::Pascal));
        assert_eq!(
            all(&["Employee-ID", "EmployeeID", "Employee ID"], &r),
            ["EmployeeId", "EmployeeId_1", "EmployeeId_2"]
        );
        // Two groups, interleaved.
        let r = rules(false, true, None);
        assert_eq!(
            all(&["a b", "c d", "ab", "cd", "a  b"], &r),
            ["ab", "cd", "ab_1", "cd_1", "ab_2"]
        );
    }

    #[test]
    fn polish_a_collision_the_suffixes_do_not_resolve_is_an_error() {
        let r = rules(false, true, None);
        let names: Vec<String> = ["a b", "ab", "ab_1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let e = rename_all(&names, &r).unwrap_err();
        assert!(
            e.contains("`ab` and `ab_1` would both be named `ab_1`"),
            "{e}"
        );
    }
}
