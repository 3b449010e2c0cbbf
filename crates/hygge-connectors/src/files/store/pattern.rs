//! `file_pattern`: names of output files, e.g. `{sequence:020d}.parquet`.

use regex::Regex;

/// The widest `{sequence:0Nd}`: a u64 has 20 digits.
pub const MAX_WIDTH: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Sequence {
        width: usize,
    },
    Name,
    FlowName,
    /// `{timestamp}` (cloud stores, as the original's adls store): the run's start,
    /// `YYYYMMDD_HHMMSS`.
    Timestamp,
}

/// A parsed `file_pattern` with `{sequence}` / `{sequence:0Nd}`, `{name}` (the store's name,
/// `<flow>_<entity>_store`, as the original hygge) and `{flow_name}` (`<flow>_<entity>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePattern {
    parts: Vec<Part>,
    source: String,
}

impl FilePattern {
    /// Parses a pattern; the error says what is wrong and what is allowed.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        Self::parse_with(pattern, false)
    }

    /// Parses a pattern that may also use `{timestamp}` (the cloud stores' patterns, as the
    /// original's adls store).
    pub fn parse_with_timestamp(pattern: &str) -> Result<Self, String> {
        Self::parse_with(pattern, true)
    }

    fn parse_with(pattern: &str, timestamp: bool) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = pattern;
        let mut has_sequence = false;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("file_pattern {pattern:?}: unclosed `{{`"))?
                + open;
            let field = &rest[open + 1..close];
            let part = match field.split_once(':') {
                None if field == "sequence" => Part::Sequence { width: 0 },
                Some(("sequence", spec)) => {
                    let digits = spec
                        .strip_prefix('0')
                        .and_then(|s| s.strip_suffix('d'))
                        .or_else(|| spec.strip_suffix('d'))
                        .ok_or_else(|| {
                            format!("file_pattern {pattern:?}: `{{sequence:{spec}}}` must look like `{{sequence:020d}}`")
                        })?;
                    let width = if digits.is_empty() {
                        0
                    } else {
                        match digits.parse::<usize>() {
                            Ok(w) if (1..=MAX_WIDTH).contains(&w) => w,
                            _ => {
                                return Err(format!(
                                    "file_pattern: the width in `{{sequence:{spec}}}` must be a number from 1 to {MAX_WIDTH} (a sequence has at most 20 digits), as in `{{sequence:020d}}`"
                                ));
                            }
                        }
                    };
                    Part::Sequence { width }
                }
                None if field == "name" => Part::Name,
                None if field == "flow_name" => Part::FlowName,
                None if field == "timestamp" && timestamp => Part::Timestamp,
                _ => {
                    return Err(format!(
                        "file_pattern {pattern:?}: unknown placeholder `{{{field}}}`; use {{sequence}}, {{sequence:020d}}, {{name}}{} or {{flow_name}}",
                        if timestamp { ", {timestamp}" } else { "" }
                    ));
                }
            };
            has_sequence |= matches!(part, Part::Sequence { .. });
            parts.push(part);
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        if !has_sequence {
            return Err(format!(
                "file_pattern {pattern:?} has no {{sequence}}: every file of a run would get the same name"
            ));
        }
        if pattern.contains('/') || pattern.contains('\\') {
            return Err(format!(
                "file_pattern {pattern:?} must be a file name, not a path"
            ));
        }
        Ok(FilePattern {
            parts,
            source: pattern.to_string(),
        })
    }

    /// The file name for `sequence`.
    pub fn render(&self, sequence: u64, name: &str, flow_name: &str) -> String {
        self.render_at(sequence, name, flow_name, "")
    }

    /// The file name for `sequence`, `{timestamp}` standing for `timestamp`.
    pub fn render_at(&self, sequence: u64, name: &str, flow_name: &str, timestamp: &str) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Sequence { width } => out.push_str(&format!("{sequence:0width$}")),
                Part::Name => out.push_str(name),
                Part::FlowName => out.push_str(flow_name),
                Part::Timestamp => out.push_str(timestamp),
            }
        }
        out
    }

    /// True when the pattern uses `{name}`.
    pub fn uses_name(&self) -> bool {
        self.parts.contains(&Part::Name)
    }

    /// True when the pattern uses `{flow_name}`.
    pub fn uses_flow_name(&self) -> bool {
        self.parts.contains(&Part::FlowName)
    }

    /// The highest sequence among `files` that this pattern produced, if any, with `{name}`
    /// standing for any of `names` (the store's name, and what older versions of hygge
    /// wrote there: the entity's name).
    pub fn max_sequence<'a>(
        &self,
        files: impl IntoIterator<Item = &'a str>,
        names: &[&str],
        flow_name: &str,
    ) -> Option<u64> {
        let name = names
            .iter()
            .map(|n| regex::escape(n))
            .collect::<Vec<_>>()
            .join("|");
        let mut re = String::from("^");
        for p in &self.parts {
            match p {
                Part::Literal(s) => re.push_str(&regex::escape(s)),
                Part::Sequence { .. } => re.push_str(r"(\d+)"),
                Part::Name => {
                    re.push_str("(?:");
                    re.push_str(&name);
                    re.push(')');
                }
                Part::FlowName => re.push_str(&regex::escape(flow_name)),
                Part::Timestamp => re.push_str(r"\d{8}_\d{6}"),
            }
        }
        re.push('$');
        let re = Regex::new(&re).expect("escaped pattern is a valid regex");
        files
            .into_iter()
            .filter_map(|n| re.captures(n))
            .filter_map(|c| c.get(1).and_then(|m| m.as_str().parse::<u64>().ok()))
            .max()
    }
}

impl std::fmt::Display for FilePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_widths_are_1_to_20() {
        for ok in [
            "{sequence:01d}",
            "{sequence:020d}",
            "{sequence:5d}",
            "{sequence:d}",
            "{sequence}",
        ] {
            assert!(FilePattern::parse(ok).is_ok(), "{ok}");
        }
        let p = FilePattern::parse("{sequence:020d}").unwrap();
        assert_eq!(p.render(u64::MAX, "", ""), u64::MAX.to_string());
        for bad in [
            "{sequence:0999999999999d}.parquet",
            "{sequence:021d}",
            "{sequence:00d}",
            "{sequence:99999999999999999999999999d}",
        ] {
            let e = FilePattern::parse(bad).unwrap_err();
            assert!(
                e.starts_with("file_pattern: the width in") && e.contains("from 1 to 20"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn renders_the_original_default() {
        let p = FilePattern::parse("{sequence:020d}.parquet").unwrap();
        assert_eq!(
            p.render(7, "users", "f_users"),
            "00000000000000000007.parquet"
        );
        let p = FilePattern::parse("{flow_name}-{name}-{sequence}.csv").unwrap();
        assert_eq!(p.render(12, "users", "f_users"), "f_users-users-12.csv");
    }

    #[test]
    fn finds_the_highest_sequence() {
        let p = FilePattern::parse("{name}_{sequence:05d}.parquet").unwrap();
        let names = [
            "users_00003.parquet",
            "users_00010.parquet",
            "other_00099.parquet",
            "x.txt",
        ];
        assert_eq!(p.max_sequence(names, &["users"], "f_users"), Some(10));
        assert_eq!(p.max_sequence(["a"], &["users"], "f_users"), None);
        // `{name}` now stands for the store's name; files an older hygge named after the
        // entity still count.
        let names = ["users_00004.parquet", "f_users_store_00002.parquet"];
        assert_eq!(
            p.max_sequence(names, &["f_users_store", "users"], "f_users"),
            Some(4)
        );
        assert_eq!(
            p.max_sequence(names, &["f_users_store"], "f_users"),
            Some(2)
        );
    }

    #[test]
    fn timestamp_only_where_allowed() {
        let e = FilePattern::parse("{timestamp}_{sequence}.parquet").unwrap_err();
        assert!(e.contains("unknown placeholder `{timestamp}`"), "{e}");
        let p = FilePattern::parse_with_timestamp("{timestamp}_{sequence:03d}.parquet").unwrap();
        let name = p.render_at(7, "", "", "20260102_030405");
        assert_eq!(name, "20260102_030405_007.parquet");
        assert_eq!(p.max_sequence([name.as_str()], &[], ""), Some(7));
    }

    #[test]
    fn rejects_bad_patterns() {
        assert!(
            FilePattern::parse("data.parquet")
                .unwrap_err()
                .contains("no {sequence}")
        );
        assert!(
            FilePattern::parse("{seq}.parquet")
                .unwrap_err()
                .contains("unknown placeholder")
        );
        assert!(FilePattern::parse("{sequence:x}.parquet").is_err());
        assert!(FilePattern::parse("a/{sequence}.parquet").is_err());
    }
}
