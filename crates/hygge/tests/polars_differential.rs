//! Differential test against Polars (the original hygge's reader): every file of the corpus
//! `tests/data/polars/` (`*.csv`, `*.ndjson`; `<stem>.options.json` holds its
//! `format_options`) is read by Polars (`tests/polars_read.py`) and by `hygge go` (local
//! home → Parquet store, read back); column names, types and values must be the same, or
//! the file must be listed, with its reason, in the README's "Where hygge differs from
//! Polars" table (and then it must differ: a listed file that no longer differs fails too).
//!
//! Polars is found through `HYGGE_POLARS_PYTHON` (a Python with polars, which
//! `scripts/test.sh` installs into a venv), else `python3` on PATH if it has polars. Without
//! one the test fails, saying to run `scripts/test.sh`; it is never skipped.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, TimeUnit};
use common::*;

/// The Polars version `scripts/test.sh` installs (what the original's users have).
const POLARS_VERSION: &str = "2.1.0";

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("HYGGE_POLARS_PYTHON").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "HYGGE_POLARS_PYTHON={} is not a file; run scripts/test.sh, which installs polars",
            p.display()
        );
        return p;
    }
    let has_polars = Command::new("python3")
        .args(["-c", "import polars"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_polars,
        "Polars (the reference for this test) is not installed: HYGGE_POLARS_PYTHON is unset \
         and python3 on PATH has no polars. Run scripts/test.sh (it installs \
         polars=={POLARS_VERSION} into a venv and sets HYGGE_POLARS_PYTHON)"
    );
    PathBuf::from("python3")
}

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/polars");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("csv" | "ndjson")
            )
        })
        .collect();
    files.sort();
    files
}

/// The README's table of files where hygge differs from Polars on purpose: file → reason.
fn expected_differences(title: &str) -> BTreeMap<String, String> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(readme).unwrap();
    let section = text
        .split(&format!("#### {title}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("README has a \"{title}\" section"));
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((file.to_string(), cells.get(2)?.to_string()))
        })
        .collect()
}

/// What a reader made of a file: columns (name, type) and rows, or its error.
#[derive(Debug, Clone, PartialEq)]
enum Table {
    Read {
        columns: Vec<(String, String)>,
        rows: Vec<Vec<Option<String>>>,
    },
    Failed,
}

fn float_text(s: &str) -> String {
    format!("{:?}", s.parse::<f64>().unwrap())
}

fn from_polars(v: &serde_json::Value) -> Table {
    if v.get("error").is_some() {
        return Table::Failed;
    }
    assert_eq!(
        v["polars"], POLARS_VERSION,
        "the reference is polars {POLARS_VERSION}"
    );
    let columns: Vec<(String, String)> = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_str().unwrap().into(), c[1].as_str().unwrap().into()))
        .collect();
    let rows = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .zip(&columns)
                .map(|(x, (_, t))| {
                    x.as_str().map(|s| {
                        if t == "Float64" {
                            float_text(s)
                        } else {
                            s.into()
                        }
                    })
                })
                .collect()
        })
        .collect();
    Table::Read { columns, rows }
}

fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "String".into(),
        DataType::Date32 => "Date".into(),
        DataType::Timestamp(u, tz) => {
            let unit = match u {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "us",
                TimeUnit::Nanosecond => "ns",
            };
            format!("Datetime({unit},{})", tz.as_deref().unwrap_or("None"))
        }
        DataType::Decimal128(p, s) => format!("Decimal({p},{s})"),
        DataType::List(f) | DataType::LargeList(f) => format!("List({})", type_name(f.data_type())),
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("'{}': {}", f.name(), type_name(f.data_type())))
                .collect();
            format!("Struct({{{}}})", inner.join(", "))
        }
        other => format!("{other}"),
    }
}

fn cell(a: &dyn Array, i: usize) -> Option<String> {
    use arrow::datatypes::*;
    if a.is_null(i) || a.data_type() == &DataType::Null {
        return None;
    }
    Some(match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i).into(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).into(),
        DataType::Boolean => a.as_boolean().value(i).to_string(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Float64 => format!("{:?}", a.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal128(_, 0) => a.as_primitive::<Decimal128Type>().value(i).to_string(),
        DataType::Date32 => {
            let d = a.as_primitive::<Date32Type>().value(i);
            (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Days::new(0))
                .checked_add_signed(chrono::TimeDelta::days(d.into()))
                .unwrap()
                .format("%Y-%m-%d")
                .to_string()
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => a
            .as_primitive::<TimestampMicrosecondType>()
            .value(i)
            .to_string(),
        DataType::List(_) => {
            let items = a.as_list::<i32>().value(i);
            let texts: Vec<String> = (0..items.len())
                .map(|j| serde_json::to_string(&cell(items.as_ref(), j)).unwrap())
                .collect();
            format!("[{}]", texts.join(","))
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            let texts: Vec<String> = fields
                .iter()
                .zip(s.columns())
                .map(|(f, c)| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(f.name()).unwrap(),
                        serde_json::to_string(&cell(c.as_ref(), i)).unwrap()
                    )
                })
                .collect();
            format!("{{{}}}", texts.join(","))
        }
        other => panic!("no text for {other} in this test"),
    })
}

/// A project reading `file` with a local home, writing `store` (YAML) into `out/`.
fn project(file: &Path, store: &str) -> Project {
    let format = file.extension().unwrap().to_str().unwrap();
    let options = file.with_extension("options.json");
    let options = if options.exists() {
        format!(
            "  format_options: {}\n",
            std::fs::read_to_string(options).unwrap().trim()
        )
    } else {
        String::new()
    };
    let p = Project::new("name: t\n");
    p.write(
        "flows/f/flow.yml",
        &format!(
            "home:\n  type: local\n  path: {}\n  format: {format}\n{options}store: {store}\n",
            file.display()
        ),
    );
    p
}

fn from_hygge(file: &Path) -> Table {
    let p = project(file, "out");
    let out = p.run(&["go"]);
    if !out.status.success() {
        return Table::Failed;
    }
    parquet_table(&p.join("out"))
}

fn parquet_table(dir: &Path) -> Table {
    let files = parquet_files(dir);
    assert!(!files.is_empty(), "{}: no Parquet written", dir.display());
    let batches = read_parquet_dir(dir);
    let schema = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&files[0]).unwrap(),
    )
    .unwrap()
    .schema()
    .clone();
    let columns = schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), type_name(f.data_type())))
        .collect();
    let mut rows = vec![];
    for b in &batches {
        for i in 0..b.num_rows() {
            rows.push(b.columns().iter().map(|c| cell(c.as_ref(), i)).collect());
        }
    }
    Table::Read { columns, rows }
}

/// Polars' reading of each of `files`, by file name.
fn polars_reads(files: &[PathBuf]) -> BTreeMap<String, Table> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/polars_read.py");
    let out = Command::new(python())
        .arg(&script)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "polars_read.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["file"].as_str().unwrap().to_string(), from_polars(&v))
        })
        .collect()
}

#[test]
fn hygge_reads_the_corpus_as_polars_does() {
    let files = corpus();
    assert!(files.len() >= 15, "the corpus has {} files", files.len());
    let polars = polars_reads(&files);
    let expected = expected_differences("Where hygge differs from Polars");
    let (mut same, mut on_purpose, mut wrong) = (0, 0, vec![]);
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let theirs = &polars[name];
        let ours = from_hygge(file);
        match (ours == *theirs, expected.get(name)) {
            (true, None) => same += 1,
            (false, Some(_)) => on_purpose += 1,
            (true, Some(_)) => wrong.push(format!(
                "{name}: listed in the README as differing from Polars, but it reads the same: \
                 remove it from the table"
            )),
            (false, None) => wrong.push(format!(
                "{name}: differs from Polars\n  polars: {theirs:?}\n  hygge:  {ours:?}"
            )),
        }
    }
    for listed in expected.keys() {
        if !files
            .iter()
            .any(|f| f.file_name().unwrap() == listed.as_str())
        {
            wrong.push(format!("{listed}: listed in the README, not in the corpus"));
        }
    }
    eprintln!(
        "{} files: {same} read as Polars reads them, {on_purpose} differ on purpose",
        files.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn polars_reads_back_what_our_csv_and_ndjson_stores_write() {
    // Each corpus file that hygge reads, written by a CSV store and an NDJSON store: Polars
    // must read back the table hygge read (names, types, values), or the case is listed in
    // the README's "Where Polars reads our CSV or NDJSON differently" table.
    let expected = expected_differences("Where Polars reads our CSV or NDJSON differently");
    let dir = tempfile::tempdir().unwrap();
    let (mut written, mut cases) = (vec![], vec![]);
    for file in corpus() {
        let source = file.file_name().unwrap().to_str().unwrap().to_string();
        let ours = from_hygge(&file);
        if ours == Table::Failed {
            continue;
        }
        for format in ["csv", "ndjson"] {
            let p = project(
                &file,
                &format!("\n  type: local\n  path: out\n  format: {format}"),
            );
            let out = p.run(&["go"]);
            let case = format!("{source} → {format}");
            if !out.status.success() {
                // Refused (nested columns into CSV): Polars' write_csv refuses them too.
                cases.push((case, String::new(), Table::Failed));
                continue;
            }
            let produced: Vec<PathBuf> = std::fs::read_dir(p.join("out"))
                .map(|d| {
                    d.map(|e| e.unwrap().path())
                        .filter(|f| f.extension().is_some_and(|e| e == format))
                        .collect()
                })
                .unwrap_or_default();
            match produced.as_slice() {
                [one] => {
                    let name = format!("{source}.{format}");
                    std::fs::copy(one, dir.path().join(&name)).unwrap();
                    written.push(dir.path().join(&name));
                    cases.push((case, name, ours.clone()));
                }
                _ => cases.push((case, String::new(), ours.clone())),
            }
        }
    }
    let polars = polars_reads(&written);
    let (mut same, mut on_purpose, mut wrong) = (0, 0, vec![]);
    for (case, name, ours) in &cases {
        let theirs = polars.get(name).unwrap_or(&Table::Failed);
        match (theirs == ours, expected.get(case)) {
            (true, None) => same += 1,
            (false, Some(_)) => on_purpose += 1,
            (true, Some(_)) => wrong.push(format!(
                "{case}: listed in the README, but Polars reads it back the same: remove it"
            )),
            (false, None) => wrong.push(format!(
                "{case}: Polars reads back something else\n  polars: {theirs:?}\n  hygge:  {ours:?}"
            )),
        }
    }
    eprintln!(
        "{} cases (corpus file → store format): {same} read back by Polars as written, {on_purpose} differ on purpose",
        cases.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
