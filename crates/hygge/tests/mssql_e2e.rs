//! The SQL Server home, end to end through the real `hygge` binary against a real
//! third-party TDS server: pysqlbridge, a read-only SQL Server façade over CSV files (see
//! `hygge_testkit::tds` for what it does and does not support). `scripts/test.sh`
//! installs it and sets `HYGGE_PYSQLBRIDGE`; without it these tests fail, they never skip.
//!
//! Every expected value here comes from data the test generated itself.

mod common;

use std::fs;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, LargeStringArray,
    StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::record_batch::RecordBatch;
use common::*;
use hygge_testkit::tds::{Bridge, max_client_connections};
use rand::{Rng, SeedableRng};

/// The SQL login's password (given to the bridge, and to hygge as `${BRIDGE_PW}`).
const PW: &str = "Br1dge-Pa55-7731";

/// A bridge serving `tables`, with the login `sa` / [`PW`].
fn bridge(tables: &[(&str, String)]) -> Bridge {
    Bridge::start(tables, PW)
}

/// `connections.<name>` (SQL login `sa` / `${BRIDGE_PW}`) to `server`, plus `extra` keys
/// (4-space indented lines).
fn connection(name: &str, server: &str, extra: &str) -> String {
    format!(
        "  {name}:\n    type: mssql\n    server: {server}\n    database: master\n    user: sa\n    password: ${{BRIDGE_PW}}\n{extra}"
    )
}

/// `hygge.yml` with the connection `src` to `b` (`encrypt: yes`, `trust_cert: yes`,
/// `pool_size`), plus `extra` under `connections:`.
fn project(b: &Bridge, pool_size: usize, extra_connections: &str) -> Project {
    Project::new(&format!(
        "name: t\nconnections:\n{}{extra_connections}",
        connection(
            "src",
            &b.server(),
            &format!("    encrypt: yes\n    trust_cert: yes\n    pool_size: {pool_size}\n")
        )
    ))
}

/// A flow reading `dbo.{entity}` through `conn` into Parquet under `out`.
fn table_flow(conn: &str, batch_size: usize, entities: &[&str]) -> String {
    format!(
        "home: {{type: mssql, connection: {conn}, table: \"dbo.{{entity}}\", batch_size: {batch_size}}}\nstore: {{type: parquet, path: out}}\nentities: [{}]\n",
        entities.join(", ")
    )
}

/// `hygge <args>` in the project, with `BRIDGE_PW` set.
fn hygge_in(p: &Project) -> Command {
    let mut c = hygge();
    c.current_dir(p.path()).env("BRIDGE_PW", PW);
    c
}

fn run(p: &Project, args: &[&str]) -> Output {
    hygge_in(p).args(args).output().unwrap()
}

/// `hygge go --output json <args>`: the output and the report.
fn go_json(p: &Project, args: &[&str]) -> (Output, serde_json::Value) {
    let out = hygge_in(p)
        .args(["go", "--output", "json"])
        .args(args)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report on stdout ({e}):\n{}", text(&out)));
    (out, json)
}

/// The report entry of the entity flow `name` (`<flow>_<entity>`).
fn flow_report(report: &serde_json::Value, name: &str) -> serde_json::Value {
    report["report"]["flows"]
        .as_array()
        .unwrap_or_else(|| panic!("no flows in {report}"))
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no flow {name} in {report}"))
        .clone()
}

/// The error of a failed entity flow.
fn flow_error(report: &serde_json::Value, name: &str) -> String {
    let f = flow_report(report, name);
    assert_ne!(f["status"], "success", "{name} succeeded: {report}");
    f["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has no error: {report}"))
        .to_string()
}

fn text(o: &Output) -> String {
    stdout(o) + &stderr(o)
}

/// Whether `msg` names the connection `name` (`connection src` or ``connection `src` ``).
fn names_connection(msg: &str, name: &str) -> bool {
    msg.contains(&format!("connection {name}")) || msg.contains(&format!("connection `{name}`"))
}

/// Every batch written for `entity` under `out/`, as one batch.
fn output(p: &Project, entity: &str) -> RecordBatch {
    let batches = read_parquet_dir(&p.join(&format!("out/{entity}")));
    assert!(!batches.is_empty(), "nothing written for {entity}");
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// One CSV field, quoted when it has to be.
fn csv_field(v: &Option<String>) -> String {
    match v {
        None => String::new(),
        Some(s) if s.contains([',', '"', '\n', '\r']) => format!("\"{}\"", s.replace('"', "\"\"")),
        Some(s) => s.clone(),
    }
}

/// A CSV from a header and rows of optional (None = empty cell = NULL) text.
fn csv(header: &[&str], rows: &[Vec<Option<String>>]) -> String {
    let mut out = header.join(",");
    out.push('\n');
    for r in rows {
        out.push_str(&r.iter().map(csv_field).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// `id,name` rows `0..n` (the name has the id and the table's tag in it).
fn id_name_csv(tag: &str, n: usize) -> String {
    let rows: Vec<Vec<Option<String>>> = (0..n)
        .map(|i| vec![Some(i.to_string()), Some(format!("{tag} row {i}"))])
        .collect();
    csv(&["id", "name"], &rows)
}

/// The values of an integer column (Int32 or Int64) as i64.
fn ints(b: &RecordBatch, col: &str) -> Vec<Option<i64>> {
    let a = b
        .column_by_name(col)
        .unwrap_or_else(|| panic!("no column {col}"));
    match a.data_type() {
        DataType::Int32 => {
            let a = a.as_any().downcast_ref::<Int32Array>().unwrap();
            a.iter().map(|v| v.map(i64::from)).collect()
        }
        DataType::Int64 => a
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .iter()
            .collect(),
        other => panic!("{col} is {other}, not an integer"),
    }
}

/// The values of a text column (Utf8 or LargeUtf8).
fn texts(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    let a = b
        .column_by_name(col)
        .unwrap_or_else(|| panic!("no column {col}"));
    match a.data_type() {
        DataType::Utf8 => a
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        DataType::LargeUtf8 => a
            .as_any()
            .downcast_ref::<LargeStringArray>()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        other => panic!("{col} is {other}, not text"),
    }
}

/// `b` with its rows in the order of its integer column `id`.
fn sorted_by_id(b: &RecordBatch) -> RecordBatch {
    let idx = arrow::compute::sort_to_indices(b.column_by_name("id").unwrap(), None, None).unwrap();
    let cols: Vec<ArrayRef> = b
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c, &idx, None).unwrap())
        .collect();
    RecordBatch::try_new(b.schema(), cols).unwrap()
}

/// Text that exercises the wire: unicode in every plane, CSV metacharacters, spaces.
fn random_text(rng: &mut impl Rng) -> String {
    const PIECES: &[&str] = &[
        "héllo wörld",
        "🦀",
        "🚀🦀👩‍👩‍👧",
        "漢字かな",
        "עברית",
        "عربي",
        "e\u{301}",
        "a,b",
        "q\"uote\"",
        "it's",
        "line\nbreak",
        "tab\there",
        "  padded  ",
        "NULL",
        "0x00",
        "\\back\\slash",
        "[bracket]",
        "ß",
        "\u{10FFFF}",
        "Ω≈ç√∫",
    ];
    let mut s = String::new();
    for _ in 0..rng.random_range(1..5) {
        if rng.random_bool(0.5) {
            s.push_str(PIECES[rng.random_range(0..PIECES.len())]);
        } else {
            for _ in 0..rng.random_range(1..8) {
                // Printable code points from the BMP and beyond (no surrogates, no controls).
                let c = loop {
                    let cp = match rng.random_range(0..3) {
                        0 => rng.random_range(0x20..0x7f),
                        1 => rng.random_range(0xa0..0xd800),
                        _ => rng.random_range(0x1_0000..0x2_0000),
                    };
                    if let Some(c) = char::from_u32(cp) {
                        break c;
                    }
                };
                s.push(c);
            }
        }
    }
    // A letter keeps every value from reading as a number (which would type the column).
    format!("x{s}")
}

/// A finite or infinite f64 (never NaN: a NaN makes pysqlbridge type the column as text).
fn random_float(rng: &mut impl Rng, i: usize) -> f64 {
    const SPECIAL: &[f64] = &[
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        0.1,
        -2.5,
        1e300,
        123456789.125,
    ];
    if i < SPECIAL.len() {
        return SPECIAL[i];
    }
    loop {
        let f = if rng.random_bool(0.5) {
            f64::from_bits(rng.random())
        } else {
            rng.random_range(-1e6..1e6)
        };
        if f.is_finite() && shortest_is_unique(f) {
            return f;
        }
    }
}

/// Whether no other decimal of the same length as `f`'s shortest form reads back as `f`.
/// Where two do (the value lies exactly halfway), Rust and Python pick different ones, and
/// pysqlbridge, which types a column float only if every value's text equals Python's
/// `repr`, would then type the column as text.
fn shortest_is_unique(f: f64) -> bool {
    let s = format!("{f:?}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, ""));
    let last = mantissa.len() - 1;
    let d = mantissa.as_bytes()[last];
    [d.checked_sub(1), d.checked_add(1)]
        .into_iter()
        .flatten()
        .filter(u8::is_ascii_digit)
        .all(|n| {
            let mut other = mantissa.as_bytes().to_vec();
            other[last] = n;
            let other = String::from_utf8(other).unwrap();
            let other = if exp.is_empty() {
                other
            } else {
                format!("{other}e{exp}")
            };
            other.parse::<f64>().ok() != Some(f)
        })
}

/// Every value of a generated table (ints, bigints, floats, unicode text, nvarchar(max),
/// date- and GUID-looking text, 0/1 flags, NULLs everywhere) arrives in Parquet exactly,
/// with the types pysqlbridge declares: int → Int32, bigint → Int64, float → Float64,
/// nvarchar → Utf8, nvarchar(max) → LargeUtf8.
#[test]
fn every_value_of_every_type_the_bridge_sends_arrives_exactly() {
    let n = 3000;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_125);
    let header = [
        "id", "i32", "i64", "f64", "txt", "long_txt", "stamp", "guid", "flag", "nothing",
    ];
    let null = |rng: &mut rand::rngs::StdRng, i: usize| i > 20 && rng.random_bool(0.1);
    let mut rows = Vec::new();
    let mut floats = Vec::new();
    for i in 0..n {
        let i32v: i64 = match i {
            0 => i32::MAX as i64,
            1 => -(i32::MAX as i64), // i32::MIN itself makes the bridge declare bigint
            2 => 0,
            _ => rng.random_range(-(i32::MAX as i64)..=i32::MAX as i64),
        };
        let i64v: i64 = match i {
            0 => i64::MAX,
            1 => i64::MIN,
            2 => 0,
            3 => -1,
            _ => rng.random(),
        };
        let f = random_float(&mut rng, i);
        floats.push(f);
        let long = if i % 100 == 7 {
            // Past 4000 characters: the column becomes nvarchar(max).
            let mut s = random_text(&mut rng);
            while s.chars().count() <= 4000 {
                s.push_str(&random_text(&mut rng));
            }
            s
        } else {
            random_text(&mut rng)
        };
        let stamp = format!(
            "20{:02}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
            rng.random_range(0..100),
            rng.random_range(1..13),
            rng.random_range(1..29),
            rng.random_range(0..24),
            rng.random_range(0..60),
            rng.random_range(0..60),
            rng.random_range(0..1000)
        );
        let guid = {
            let b: u128 = rng.random();
            let h = format!("{b:032x}");
            let g = format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            );
            if i % 2 == 0 { g.to_uppercase() } else { g }
        };
        let mut row = vec![
            Some(i.to_string()),
            Some(i32v.to_string()),
            Some(i64v.to_string()),
            Some(format!("{f:?}")),
            Some(random_text(&mut rng)),
            Some(long),
            Some(stamp),
            Some(guid),
            Some(rng.random_range(0..2).to_string()),
            None,
        ];
        for cell in row.iter_mut().take(9).skip(1) {
            if null(&mut rng, i) {
                *cell = None;
            }
        }
        rows.push(row);
    }
    let b = bridge(&[("typed", csv(&header, &rows))]);
    let p = project(&b, 2, "");
    p.write("flows/f/flow.yml", &table_flow("src", 700, &["typed"]));
    let out = run(&p, &["go"]);
    assert!(
        out.status.success(),
        "{}\nbridge log:\n{}",
        text(&out),
        b.log()
    );

    let got = sorted_by_id(&output(&p, "typed"));
    assert_eq!(got.num_rows(), n, "row count");
    let types: Vec<(String, DataType)> = got
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let want = [
        ("id", DataType::Int32),
        ("i32", DataType::Int32),
        ("i64", DataType::Int64),
        ("f64", DataType::Float64),
        ("txt", DataType::Utf8),
        ("long_txt", DataType::LargeUtf8),
        ("stamp", DataType::Utf8),
        ("guid", DataType::Utf8),
        ("flag", DataType::Int32),
        ("nothing", DataType::Utf8),
    ];
    assert_eq!(
        types,
        want.iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect::<Vec<_>>(),
        "column names, order and types"
    );

    let column = |c: usize| -> Vec<Option<String>> { rows.iter().map(|r| r[c].clone()).collect() };
    let as_ints = |c: usize| -> Vec<Option<i64>> {
        column(c)
            .into_iter()
            .map(|v| v.map(|s| s.parse().unwrap()))
            .collect()
    };
    assert_eq!(ints(&got, "id"), as_ints(0), "id");
    assert_eq!(ints(&got, "i32"), as_ints(1), "i32");
    assert_eq!(ints(&got, "i64"), as_ints(2), "i64");
    assert_eq!(ints(&got, "flag"), as_ints(8), "flag");
    let f64s = got
        .column_by_name("f64")
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    for (i, want) in column(3).iter().enumerate() {
        let want = want.as_ref().map(|_| floats[i].to_bits());
        let have = (!f64s.is_null(i)).then(|| f64s.value(i).to_bits());
        assert_eq!(
            have.map(f64::from_bits),
            want.map(f64::from_bits),
            "f64 row {i}"
        );
        assert_eq!(have, want, "f64 row {i}: bits (sign of zero)");
    }
    for (c, name) in [
        (4, "txt"),
        (5, "long_txt"),
        (6, "stamp"),
        (7, "guid"),
        (9, "nothing"),
    ] {
        let have = texts(&got, name);
        let want = column(c);
        for (i, (h, w)) in have.iter().zip(&want).enumerate() {
            assert_eq!(h, w, "{name} row {i}");
        }
    }
    assert!(
        texts(&got, "nothing").iter().all(Option::is_none),
        "an all-empty CSV column is all NULL"
    );
}

/// `bit` and `datetime` come from pysqlbridge only as expressions, so they are read through
/// a `query` home: `CAST(.. AS bit)` → Boolean, `CAST(.. AS datetime)` → Timestamp(ms)
/// (times on 10 ms steps, which datetime's 1/300 s ticks hold exactly), `N''` → "".
#[test]
fn a_query_home_reads_bits_datetimes_and_empty_strings() {
    let n = 500;
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let mut rows = Vec::new();
    let mut stamps = Vec::new();
    for i in 0..n {
        let day = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap()
            + chrono::Days::new(rng.random_range(0..70_000));
        let t = day.and_hms_milli_opt(
            rng.random_range(0..24),
            rng.random_range(0..60),
            rng.random_range(0..60),
            rng.random_range(0..100) * 10,
        );
        let t = t.unwrap();
        let (flag, stamp) = if i % 9 == 4 {
            (None, None)
        } else {
            (Some(rng.random_range(0..2).to_string()), Some(t))
        };
        stamps.push(stamp);
        rows.push(vec![
            Some(i.to_string()),
            flag,
            stamp.map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()),
        ]);
    }
    let b = bridge(&[("moments", csv(&["id", "flag", "at"], &rows))]);
    let p = project(&b, 2, "");
    p.write(
        "flows/q/flow.yml",
        "home:\n  type: mssql\n  connection: src\n  query: \"SELECT [id], CAST([flag] AS bit) AS [b], CAST([at] AS datetime) AS [dt], N'' AS [e] FROM [dbo].{entity}\"\n  batch_size: 64\nstore: {type: parquet, path: out}\nentities: [moments]\n",
    );
    let out = run(&p, &["go"]);
    assert!(
        out.status.success(),
        "{}\nbridge log:\n{}",
        text(&out),
        b.log()
    );
    let got = sorted_by_id(&output(&p, "moments"));
    assert_eq!(got.num_rows(), n);
    let schema = got.schema();
    assert_eq!(
        schema.field_with_name("b").unwrap().data_type(),
        &DataType::Boolean
    );
    assert_eq!(
        schema.field_with_name("dt").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, None)
    );
    let bits = got
        .column_by_name("b")
        .unwrap()
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap();
    let dts = got
        .column_by_name("dt")
        .unwrap()
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .unwrap();
    let empties = texts(&got, "e");
    for (i, row) in rows.iter().enumerate() {
        let want_bit = row[1].as_ref().map(|s| s == "1");
        assert_eq!(bits.iter().nth(i).unwrap(), want_bit, "b row {i}");
        let want_ms = stamps[i].map(|t| t.and_utc().timestamp_millis());
        assert_eq!(dts.iter().nth(i).unwrap(), want_ms, "dt row {i}");
        assert_eq!(empties[i].as_deref(), Some(""), "e row {i}");
    }
}

/// `encrypt: yes` with `trust_cert: yes` reads over TLS (and `encrypt: no`, TLS for the
/// login only, works too); with `trust_cert: no` the bridge's self-signed certificate is
/// refused, and the error names the connection and the entity.
#[test]
fn tls_with_trust_cert_works_and_without_it_the_self_signed_certificate_is_refused() {
    let b = bridge(&[("a", id_name_csv("a", 10)), ("b", id_name_csv("b", 20))]);
    let p = project(
        &b,
        2,
        &(connection(
            "verified",
            &format!("tcp:{}", b.server()),
            "    encrypt: yes\n    trust_cert: no\n",
        ) + &connection("login_only", &b.server(), "    encrypt: no\n")),
    );
    p.write("flows/ok/flow.yml", &table_flow("src", 1000, &["a", "b"]));
    p.write(
        "flows/checked/flow.yml",
        &table_flow("verified", 1000, &["a"]).replace("path: out", "path: out2"),
    );
    p.write(
        "flows/plain/flow.yml",
        &table_flow("login_only", 1000, &["b"]).replace("path: out", "path: out3"),
    );
    let (out, report) = go_json(&p, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for name in ["ok_a", "ok_b", "plain_b"] {
        assert_eq!(flow_report(&report, name)["status"], "success", "{report}");
    }
    let ids = |n: i64| (0..n).map(Some).collect::<Vec<_>>();
    assert_eq!(ints(&output(&p, "a"), "id"), ids(10));
    assert_eq!(ints(&output(&p, "b"), "id"), ids(20));
    let plain = read_parquet_dir(&p.join("out3/b"));
    assert_eq!(ints(&plain[0], "id"), ids(20));
    let err = flow_error(&report, "checked_a");
    assert!(names_connection(&err, "verified"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(err.contains("dbo.a"), "the error names the table: {err}");
    let console = run(&p, &["go", "--flow", "checked"]);
    assert_eq!(console.status.code(), Some(1));
    let line = text(&console)
        .lines()
        .find(|l| l.contains("FAILED") && l.to_lowercase().contains("certificate"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no FAILED line about the certificate:\n{}", text(&console)));
    assert!(
        line.contains("checked_a") && names_connection(&line, "verified"),
        "{line}"
    );
    assert!(!text(&out).contains(PW) && !text(&console).contains(PW));
}

/// Connections open to the bridge while `f` runs: the most seen at once by sampling
/// /proc/net/tcp, and the most the bridge's own log shows open at once.
fn connections_during<T>(b: &Bridge, f: impl FnOnce() -> T) -> (usize, usize, T) {
    let log_before = b.log();
    let (sampled, out) = max_client_connections(b.port, f);
    // The bridge logs a connection's end when it reads the close: give it a moment.
    std::thread::sleep(Duration::from_millis(300));
    let log = b.log();
    let logged = max_open_in_log(log.strip_prefix(&log_before).unwrap_or(&log));
    (sampled, logged, out)
}

/// The most connections open at once according to a pysqlbridge log (`connection from
/// <peer>` … `<peer> closed the connection` / `failed in state` / `went quiet`).
fn max_open_in_log(log: &str) -> usize {
    let mut open = std::collections::HashSet::new();
    let mut max = 0;
    for line in log.lines() {
        if let Some((_, peer)) = line.split_once("connection from ") {
            open.insert(peer.trim().to_string());
            max = max.max(open.len());
        } else if [
            " closed the connection",
            " failed in state",
            " went quiet",
            " idle for",
        ]
        .iter()
        .any(|end| line.contains(end))
        {
            open.retain(|peer| !line.contains(&format!(" {peer} ")));
        }
    }
    max
}

/// The entity pattern over a pool of 3: 10 tables at the default concurrency, then 50
/// tables at `--concurrency 8`; every table arrives whole, and there are never more than 3
/// connections to the server at once.
#[test]
fn ten_and_fifty_tables_share_a_pool_of_three_connections() {
    let names: Vec<String> = (0..50).map(|i| format!("t{i:02}")).collect();
    let sizes: Vec<usize> = (0..50).map(|i| 500 + i * 97).collect();
    let tables: Vec<(&str, String)> = names
        .iter()
        .zip(&sizes)
        .map(|(n, &s)| (n.as_str(), id_name_csv(n, s)))
        .collect();
    let b = bridge(&tables);
    let p = project(&b, 3, "");
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    p.write("flows/ten/flow.yml", &table_flow("src", 250, &refs[..10]));
    p.write(
        "flows/fifty/flow.yml",
        &table_flow("src", 250, &refs).replace("path: out", "path: out50"),
    );

    let (sampled, logged, out) = connections_during(&b, || run(&p, &["go", "--flow", "ten"]));
    assert!(
        out.status.success(),
        "{}\nbridge log:\n{}",
        text(&out),
        b.log()
    );
    assert!(
        (1..=3).contains(&sampled) && logged <= 3,
        "10 tables: {sampled} connections sampled at once, {logged} in the bridge's log"
    );
    eprintln!(
        "10 tables: at most {sampled} connections sampled at once, {logged} in the bridge's log"
    );
    for (i, name) in names.iter().enumerate().take(10) {
        let got = output(&p, name);
        assert_eq!(
            ints(&got, "id"),
            (0..sizes[i] as i64).map(Some).collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(
            texts(&got, "name")[sizes[i] - 1].as_deref(),
            Some(format!("{name} row {}", sizes[i] - 1).as_str())
        );
    }

    let (sampled, logged, out) = connections_during(&b, || {
        run(&p, &["go", "--flow", "fifty", "--concurrency", "8"])
    });
    assert!(
        out.status.success(),
        "{}\nbridge log:\n{}",
        text(&out),
        b.log()
    );
    assert!(
        (1..=3).contains(&sampled) && logged <= 3,
        "50 tables: {sampled} connections sampled at once, {logged} in the bridge's log"
    );
    eprintln!(
        "50 tables: at most {sampled} connections sampled at once, {logged} in the bridge's log"
    );
    for (i, name) in names.iter().enumerate() {
        let batches = read_parquet_dir(&p.join(&format!("out50/{name}")));
        let got = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let got = sorted_by_id(&got);
        assert_eq!(
            ints(&got, "id"),
            (0..sizes[i] as i64).map(Some).collect::<Vec<_>>(),
            "{name}"
        );
        let want: Vec<Option<String>> = (0..sizes[i])
            .map(|r| Some(format!("{name} row {r}")))
            .collect();
        assert_eq!(texts(&got, "name"), want, "{name}");
    }
}

/// Runs `cmd` to the end, sampling the child's peak RSS (VmHWM) every 20 ms; returns the
/// output and the peak in KiB.
fn run_measuring_peak_rss(mut cmd: Command, dir: &std::path::Path) -> (Output, u64) {
    let out_path = dir.join("peak-stdout.txt");
    let err_path = dir.join("peak-stderr.txt");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Ok(s) = fs::read_to_string(&status_file) {
            for line in s.lines() {
                if let Some(v) = line.strip_prefix("VmHWM:") {
                    let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak = peak.max(kib);
                }
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: fs::read(&out_path).unwrap(),
        stderr: fs::read(&err_path).unwrap(),
    };
    (out, peak)
}

/// 500,000 rows of ~170 bytes (≈ 85 MB of values) read in batches of 10,000 with a queue of
/// 2: every row arrives once and hygge's peak RSS stays under 100 MiB (see the bound below).
#[test]
fn a_large_table_streams_in_bounded_memory() {
    let n: usize = 500_000;
    let filler = "ä".repeat(50) + &"z".repeat(50); // 100 characters, 150 bytes of UTF-8
    let mut data = String::with_capacity(n * 140);
    data.push_str("id,v,name\n");
    for i in 0..n {
        data.push_str(&format!("{i},{}.5,{i:07}{filler}\n", i * 3));
    }
    let started = Instant::now();
    let b = bridge(&[("big", data)]);
    let bridge_up = started.elapsed();
    let p = project(&b, 2, "");
    p.write(
        "flows/f/flow.yml",
        "home: {type: mssql, connection: src, table: \"dbo.{entity}\", batch_size: 10000}\nstore: {type: parquet, path: out}\nqueue_size: 2\nentities: [big]\n",
    );
    let mut cmd = hygge_in(&p);
    cmd.arg("go");
    let started = Instant::now();
    let (out, peak_kib) = run_measuring_peak_rss(cmd, p.path());
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}\nbridge log:\n{}",
        text(&out),
        b.log()
    );
    eprintln!(
        "bridge up in {bridge_up:?}; hygge read {n} rows in {took:?}, peak RSS {} MiB",
        peak_kib / 1024
    );
    // The bound: the whole table held at once is ~85 MB as Arrow (150-byte names, int,
    // float, offsets) before any driver or Parquet overhead; streaming holds a few batches
    // of 10,000 rows (~1.7 MB each: decoding, the queue of 2, the store's), the Parquet row
    // group being built, and the binary and runtime. Measured: 45 MiB streaming with
    // batches of 10,000; 153 MiB with one batch of 500,000 (the whole table at once).
    assert!(
        peak_kib < 100 * 1024,
        "peak RSS {} MiB for {n} rows",
        peak_kib / 1024
    );
    let batches = read_parquet_dir(&p.join("out/big"));
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, n, "row count");
    let mut seen = vec![false; n];
    for batch in &batches {
        let ids = ints(batch, "id");
        let names = texts(batch, "name");
        for (id, name) in ids.iter().zip(&names) {
            let id = id.unwrap() as usize;
            assert!(!seen[id], "id {id} twice");
            seen[id] = true;
            assert_eq!(name.as_deref(), Some(format!("{id:07}{filler}").as_str()));
        }
    }
    assert!(seen.iter().all(|s| *s), "every id once");
}

/// A wrong password: exit 1, every entity's error names the connection, the entity and
/// SQL Server's error 18456, and no password is printed or logged.
#[test]
fn a_wrong_password_fails_each_entity_with_18456_and_prints_no_password() {
    let b = bridge(&[("a", id_name_csv("a", 5)), ("b", id_name_csv("b", 5))]);
    let wrong = "Wr0ng-Pa55-9944";
    let p = Project::new(&format!(
        "name: t\nconnections:\n  src:\n    type: mssql\n    server: {}\n    database: master\n    user: sa\n    password: {wrong}\n    pool_size: 2\n",
        b.server()
    ));
    p.write("flows/f/flow.yml", &table_flow("src", 1000, &["a", "b"]));
    let out = run(&p, &["go"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    for entity in ["a", "b"] {
        let line = all
            .lines()
            .find(|l| l.contains("FAILED") && l.contains(&format!("f_{entity}")))
            .unwrap_or_else(|| panic!("no FAILED line for f_{entity}:\n{all}"));
        assert!(
            names_connection(line, "src") && line.contains("18456"),
            "{line}"
        );
    }
    let (_, report) = go_json(&p, &[]);
    for entity in ["a", "b"] {
        let err = flow_error(&report, &format!("f_{entity}"));
        assert!(
            names_connection(&err, "src")
                && err.contains("18456")
                && err.contains(&format!("dbo.{entity}")),
            "{err}"
        );
    }
    let log = fs::read_to_string(p.join("logs/hygge.log")).unwrap_or_default();
    for secret in [wrong, PW] {
        assert!(
            !all.contains(secret) && !report.to_string().contains(secret) && !log.contains(secret),
            "a password was printed:\n{all}\n{log}"
        );
    }
    assert!(!p.join("out/a").exists() && !p.join("out/b").exists());
}

/// A server nobody listens on: the entities reading from it fail with an error naming the
/// connection and the address; another flow's entities, on a working server, succeed.
#[test]
fn an_unreachable_server_fails_its_entities_and_other_flows_go_on() {
    let b = bridge(&[("a", id_name_csv("a", 7))]);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = project(
        &b,
        2,
        &connection("down", &format!("127.0.0.1,{closed}"), "    encrypt: yes\n"),
    );
    p.write("flows/good/flow.yml", &table_flow("src", 1000, &["a"]));
    p.write(
        "flows/dead/flow.yml",
        &table_flow("down", 1000, &["a", "x"]).replace("path: out", "path: out_dead"),
    );
    let started = Instant::now();
    let (out, report) = go_json(&p, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        flow_report(&report, "good_a")["status"],
        "success",
        "{report}"
    );
    assert_eq!(
        ints(&output(&p, "a"), "id"),
        (0..7).map(Some).collect::<Vec<_>>()
    );
    for entity in ["a", "x"] {
        let err = flow_error(&report, &format!("dead_{entity}"));
        assert!(
            names_connection(&err, "down") && err.contains(&closed.to_string()),
            "{err}"
        );
        assert!(
            err.to_lowercase().contains("refused") || err.contains("cannot reach"),
            "{err}"
        );
    }
}

/// `hygge debug` logs in to the bridge, says so (with the credential source `sql_login`),
/// and checks the tables the flow reads.
#[test]
fn debug_reports_the_connection_and_its_sql_login() {
    let b = bridge(&[("a", id_name_csv("a", 3))]);
    let p = project(&b, 2, "");
    p.write("flows/f/flow.yml", &table_flow("src", 1000, &["a"]));
    let out = run(&p, &["debug"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}\nbridge log:\n{}", b.log());
    let line = all
        .lines()
        .find(|l| l.contains("connection src"))
        .unwrap_or_else(|| panic!("no line about connection src:\n{all}"));
    assert!(line.contains('✓') && line.contains("sql_login"), "{line}");
    assert!(!all.contains(PW), "the password was printed:\n{all}");
    assert!(
        b.log().contains("logged in as"),
        "the bridge saw no login:\n{}",
        b.log()
    );
}

/// A table that does not exist fails its entity with an error naming the table (and the
/// server's error 208); the other entities of the flow succeed.
#[test]
fn a_missing_table_fails_only_its_entity() {
    let b = bridge(&[("a", id_name_csv("a", 4)), ("b", id_name_csv("b", 6))]);
    let p = project(&b, 2, "");
    p.write(
        "flows/f/flow.yml",
        &table_flow("src", 1000, &["a", "nope", "b"]),
    );
    let (out, report) = go_json(&p, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(flow_report(&report, "f_a")["status"], "success", "{report}");
    assert_eq!(flow_report(&report, "f_b")["status"], "success", "{report}");
    let err = flow_error(&report, "f_nope");
    assert!(
        names_connection(&err, "src") && err.contains("dbo.nope") && err.contains("208"),
        "{err}"
    );
    assert_eq!(
        ints(&output(&p, "a"), "id"),
        (0..4).map(Some).collect::<Vec<_>>()
    );
    assert_eq!(
        ints(&output(&p, "b"), "id"),
        (0..6).map(Some).collect::<Vec<_>>()
    );
    assert!(!p.join("out/nope").exists());
}

/// An incremental load: the first run reads everything; the next (against a bridge whose
/// table has grown) sends `WHERE [wm] >= <last maximum>` (the inclusive boundary, the
/// default: rows tying the maximum are read and those already written dropped by key) and
/// appends only the new rows.
#[test]
fn an_incremental_run_asks_the_server_only_for_rows_past_the_watermark() {
    let log = incremental_twice("table: \"dbo.{entity}\"");
    let last_wm = 1000 + 99 * 10;
    assert!(
        log.contains(&format!("WHERE [wm] >= {last_wm}")),
        "the watermark was not pushed down to the server:\n{log}"
    );
}

#[test]
fn an_incremental_query_with_order_by_is_read_whole_and_filtered_by_the_engine() {
    // A derived table may not hold ORDER BY: the predicate is not pushed into this query.
    let log = incremental_twice("query: \"SELECT id, wm, name FROM dbo.{entity} ORDER BY wm\"");
    assert!(!log.contains(") AS hygge_query WHERE"), "{log}");
}

/// Loads 100 rows, then 130 incrementally (the server's rows 0..130): every row once.
/// Returns the second bridge's log.
fn incremental_twice(source: &str) -> String {
    let table = |n: usize| {
        let rows: Vec<Vec<Option<String>>> = (0..n)
            .map(|i| {
                vec![
                    Some(i.to_string()),
                    Some((1000 + i * 10).to_string()),
                    Some(format!("r{i}")),
                ]
            })
            .collect();
        csv(&["id", "wm", "name"], &rows)
    };
    let flow = format!(
        "home: {{type: mssql, connection: src, {source}, batch_size: 40}}\nstore: {{type: parquet, path: out}}\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: wm\nentities: [inc]\n"
    );
    let first = bridge(&[("inc", table(100))]);
    // `journal:` at column 0 ends the `connections:` map.
    let p = project(&first, 2, "journal:\n  path: .journal\n");
    p.write("flows/f/flow.yml", &flow);
    let out = run(&p, &["go"]);
    assert!(
        out.status.success(),
        "{}\nbridge log:\n{}",
        text(&out),
        first.log()
    );
    assert_eq!(
        ids_of(&read_parquet_dir(&p.join("out/inc"))),
        (0..100).collect::<Vec<_>>()
    );
    drop(first);

    let second = bridge(&[("inc", table(130))]);
    let yml = fs::read_to_string(p.join("hygge.yml"))
        .unwrap()
        .replace(&format!("127.0.0.1,{}", p_port(&p)), &second.server());
    fs::write(p.join("hygge.yml"), yml).unwrap();
    let out = run(&p, &["go"]);
    assert!(
        out.status.success(),
        "{}\nbridge log:\n{}",
        text(&out),
        second.log()
    );
    assert_eq!(
        ids_of(&read_parquet_dir(&p.join("out/inc"))),
        (0..130).collect::<Vec<_>>(),
        "every row once"
    );
    second.log()
}

/// The port in the project's `server: 127.0.0.1,<port>`.
fn p_port(p: &Project) -> u16 {
    let yml = fs::read_to_string(p.join("hygge.yml")).unwrap();
    yml.lines()
        .find_map(|l| l.trim().strip_prefix("server: 127.0.0.1,"))
        .and_then(|p| p.trim().parse().ok())
        .expect("a server line")
}

/// Sorted ids of batches with an integer `id` column.
fn ids_of(batches: &[RecordBatch]) -> Vec<i64> {
    let mut v: Vec<i64> = batches
        .iter()
        .flat_map(|b| ints(b, "id").into_iter().map(Option::unwrap))
        .collect();
    v.sort();
    v
}

/// C1: the SQL Server home's reader task panicking after two batches fails the entity (it
/// is never read as the end of the table), and the destination keeps the last good run's
/// files byte for byte.
#[test]
fn a_sql_server_reader_that_panics_mid_table_fails_the_entity_and_keeps_the_old_files() {
    let files = |p: &Project| -> Vec<(std::path::PathBuf, Vec<u8>)> {
        parquet_files(&p.join("out/t"))
            .into_iter()
            .map(|f| {
                let bytes = fs::read(&f).unwrap();
                (f, bytes)
            })
            .collect()
    };
    let first = bridge(&[("t", id_name_csv("t", 1000))]);
    let p = project(&first, 2, "");
    p.write("flows/f/flow.yml", &table_flow("src", 100, &["t"]));
    let out = run(&p, &["go"]);
    assert!(out.status.success(), "{}", text(&out));
    let before = files(&p);
    assert_eq!(output(&p, "t").num_rows(), 1000);

    // The table has grown; this run's reader panics after sending its third batch.
    let grown = bridge(&[("t", id_name_csv("t", 2000))]);
    let p2 = project(&grown, 2, "");
    fs::copy(p2.join("hygge.yml"), p.join("hygge.yml")).unwrap();
    let out = hygge_in(&p)
        .arg("go")
        .env("HYGGE_FAILPOINTS", "mssql.home.batch=panic@3")
        .output()
        .unwrap();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    let failed = log
        .lines()
        .find(|l| l.contains("FAILED f_t"))
        .unwrap_or_else(|| panic!("no FAILED line for f_t:\n{log}"));
    assert!(
        failed.contains("dbo.t")
            && failed.contains("reader task panicked")
            && failed.contains("failpoint mssql.home.batch (hit 3)"),
        "{failed}"
    );
    assert_eq!(files(&p), before, "the first run's files, byte for byte");
}
