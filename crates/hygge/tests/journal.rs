//! The journal: round trip, the original's files, corrupt files, `kill -9` during appends,
//! concurrent appenders, and the plain-Parquet layout other tools read.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, LargeStringArray, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use hygge::journal::{Journal, JournalEntry, JournalError};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rand::Rng;

const CHILD_DIR: &str = "HYGGE_JOURNAL_TEST_CHILD_DIR";
const CHILD_TAG: &str = "HYGGE_JOURNAL_TEST_CHILD_TAG";
const CHILD_COUNT: &str = "HYGGE_JOURNAL_TEST_CHILD_COUNT";
/// What a child prints when its appends begin.
const STARTED: &str = "journal-test-child-started";
const CHILD_GO: &str = "HYGGE_JOURNAL_TEST_CHILD_GO";

fn entry(id: &str, flow: &str, entity: &str, finish: &str, status: &str) -> JournalEntry {
    JournalEntry {
        entity_run_id: id.to_string(),
        coordinator_run_id: "c0ffee".to_string(),
        flow_run_id: "f10w".to_string(),
        coordinator: "project".to_string(),
        flow: flow.to_string(),
        entity: entity.to_string(),
        start_time: "2024-01-01T00:00:00+00:00".to_string(),
        finish_time: finish.to_string(),
        status: status.to_string(),
        run_type: "incremental".to_string(),
        row_count: 10,
        duration: 1.5,
        primary_key: Some("id".to_string()),
        watermark_column: Some("updated_at".to_string()),
        watermark_type: Some("datetime".to_string()),
        watermark: Some(format!("wm-{id}")),
        message: None,
        schema_version: "1.0".to_string(),
        source_row_count: Some(10),
        destination_row_count: Some(10),
        bytes: Some(1234),
        watermark_arrow_type: Some(r#"Timestamp(Microsecond, Some("UTC"))"#.to_string()),
        watermark_exact: Some(format!("wm-{id}-exact")),
        watermark_boundary_keys: Some(format!("[\"{id}\"]")),
        arrow_schema: None,
    }
}

fn ids(entries: &[JournalEntry]) -> Vec<String> {
    entries.iter().map(|e| e.entity_run_id.clone()).collect()
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("journal.parquet.tmp-"))
        .collect()
}

#[test]
fn round_trip_of_every_field_and_last_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::at(&dir.path().join("nested/.hygge_journal"));
    assert_eq!(
        journal.path(),
        dir.path().join("nested/.hygge_journal/journal.parquet")
    );
    assert!(
        journal.read().unwrap().is_empty(),
        "missing file reads empty"
    );
    assert!(journal.last_watermark("f", "e").unwrap().is_none());
    journal.append(&[]).unwrap();
    assert!(!journal.path().exists(), "empty append writes nothing");

    let full = JournalEntry {
        entity_run_id: "r1".into(),
        coordinator: "prøject ✓ 日本".into(),
        message: Some("ünïcödé message\nwith a newline and \"quotes\"".into()),
        row_count: i64::MAX,
        duration: 0.000_123_456_789,
        ..entry(
            "r1",
            "flow",
            "orders",
            "2024-01-02T10:00:00.123456+00:00",
            "success",
        )
    };
    let all_none = JournalEntry {
        primary_key: None,
        watermark_column: None,
        watermark_type: None,
        watermark: None,
        message: None,
        source_row_count: None,
        destination_row_count: None,
        bytes: None,
        watermark_arrow_type: None,
        watermark_exact: None,
        watermark_boundary_keys: None,
        row_count: 0,
        duration: 0.0,
        run_type: "full_drop".into(),
        ..entry("r2", "flow", "orders", "2024-01-05T00:00:00+00:00", "skip")
    };
    journal.append(std::slice::from_ref(&full)).unwrap();
    journal.append(std::slice::from_ref(&all_none)).unwrap();
    assert_eq!(
        journal.read().unwrap(),
        vec![full.clone(), all_none.clone()]
    );

    // last_watermark: latest success with a watermark for this flow + entity.
    let later_fail = entry("r3", "flow", "orders", "2024-02-01T00:00:00+00:00", "fail");
    let other_entity = entry(
        "r4",
        "flow",
        "customers",
        "2024-03-01T00:00:00+00:00",
        "success",
    );
    let other_flow = entry(
        "r5",
        "flow2",
        "orders",
        "2024-03-01T00:00:00+00:00",
        "success",
    );
    let success_no_wm = JournalEntry {
        watermark: None,
        ..entry(
            "r6",
            "flow",
            "orders",
            "2024-03-01T00:00:00+00:00",
            "success",
        )
    };
    // Earlier by time although later in the file (and in another offset).
    let earlier = entry(
        "r7",
        "flow",
        "orders",
        "2024-01-02T11:00:00+02:00",
        "success",
    );
    let best = entry(
        "r8",
        "flow",
        "orders",
        "2024-01-03T00:00:00+00:00",
        "success",
    );
    let best_tie_later_in_file = entry("r9", "flow", "orders", "2024-01-03T00:00:00Z", "success");
    journal
        .append(&[
            later_fail,
            other_entity,
            other_flow,
            success_no_wm,
            best,
            earlier,
        ])
        .unwrap();
    assert_eq!(
        journal
            .last_watermark("flow", "orders")
            .unwrap()
            .unwrap()
            .entity_run_id,
        "r8"
    );
    journal.append(&[best_tie_later_in_file]).unwrap();
    assert_eq!(
        journal
            .last_watermark("flow", "orders")
            .unwrap()
            .unwrap()
            .entity_run_id,
        "r9",
        "ties go to the later row in the file"
    );
    assert_eq!(
        journal
            .last_watermark("flow", "customers")
            .unwrap()
            .unwrap()
            .entity_run_id,
        "r4"
    );
    assert!(journal.last_watermark("flow", "nothing").unwrap().is_none());
    assert_eq!(journal.read().unwrap().len(), 9);
    assert!(temp_files(journal.path().parent().unwrap()).is_empty());
}

/// The original's 18 columns, as the Python tool writes them (strings, `row_count` int64,
/// `duration` float64), optionally with another string type, another int type, or a column
/// left out.
fn write_original(path: &Path, large_strings: bool, int32_counts: bool, drop: &[&str]) {
    let names = [
        "entity_run_id",
        "coordinator_run_id",
        "flow_run_id",
        "coordinator",
        "flow",
        "entity",
        "start_time",
        "finish_time",
        "status",
        "run_type",
        "row_count",
        "duration",
        "primary_key",
        "watermark_column",
        "watermark_type",
        "watermark",
        "message",
        "schema_version",
    ];
    let rows: [[Option<&str>; 18]; 2] = [
        [
            Some("a1"),
            Some("c1"),
            Some("f1"),
            Some("coordinator"),
            Some("sales"),
            Some("orders"),
            Some("2024-01-01T16:38:00.500000"),
            Some("2024-01-01T16:39:00.123456"),
            Some("success"),
            Some("incremental"),
            None,
            None,
            Some("id"),
            Some("updated_at"),
            Some("datetime"),
            Some("2024-01-01T16:39:00"),
            None,
            Some("1.0"),
        ],
        [
            Some("a2"),
            Some("c2"),
            Some("f2"),
            Some("coordinator"),
            Some("sales"),
            Some("orders"),
            Some("2024-01-02T16:38:00"),
            Some("2024-01-02T16:39:00"),
            Some("skip"),
            Some("full_drop"),
            None,
            None,
            None,
            None,
            None,
            None,
            Some("no rows"),
            Some("1.0"),
        ],
    ];
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if drop.contains(name) {
            continue;
        }
        match *name {
            "row_count" if int32_counts => {
                fields.push(Field::new(*name, DataType::Int32, true));
                columns.push(Arc::new(Int32Array::from(vec![1000, 0])));
            }
            "row_count" => {
                fields.push(Field::new(*name, DataType::Int64, true));
                columns.push(Arc::new(Int64Array::from(vec![1000, 0])));
            }
            "duration" => {
                fields.push(Field::new(*name, DataType::Float64, true));
                columns.push(Arc::new(Float64Array::from(vec![2.5, 0.1])));
            }
            _ => {
                let values: Vec<Option<&str>> = rows.iter().map(|r| r[i]).collect();
                if large_strings {
                    fields.push(Field::new(*name, DataType::LargeUtf8, true));
                    columns.push(Arc::new(LargeStringArray::from(values)));
                } else {
                    fields.push(Field::new(*name, DataType::Utf8, true));
                    columns.push(Arc::new(StringArray::from(values)));
                }
            }
        }
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn check_original(journal: &Journal, message_column: bool) {
    let got = journal.read().unwrap();
    assert_eq!(got.len(), 2);
    let a = &got[0];
    assert_eq!(a.entity_run_id, "a1");
    assert_eq!(a.coordinator_run_id, "c1");
    assert_eq!(a.flow_run_id, "f1");
    assert_eq!(a.coordinator, "coordinator");
    assert_eq!((a.flow.as_str(), a.entity.as_str()), ("sales", "orders"));
    assert_eq!(a.start_time, "2024-01-01T16:38:00.500000");
    assert_eq!(a.finish_time, "2024-01-01T16:39:00.123456");
    assert_eq!(
        (a.status.as_str(), a.run_type.as_str()),
        ("success", "incremental")
    );
    assert_eq!((a.row_count, a.duration), (1000, 2.5));
    assert_eq!(a.primary_key.as_deref(), Some("id"));
    assert_eq!(a.watermark_column.as_deref(), Some("updated_at"));
    assert_eq!(a.watermark_type.as_deref(), Some("datetime"));
    assert_eq!(a.watermark.as_deref(), Some("2024-01-01T16:39:00"));
    assert_eq!(a.message, None);
    assert_eq!(a.schema_version, "1.0");
    for e in &got {
        assert_eq!(e.source_row_count, None);
        assert_eq!(e.destination_row_count, None);
        assert_eq!(e.bytes, None);
        assert_eq!(e.watermark_arrow_type, None);
        assert_eq!(e.watermark_exact, None);
        assert_eq!(e.watermark_boundary_keys, None);
    }
    let b = &got[1];
    assert_eq!(
        (b.status.as_str(), b.row_count, b.duration),
        ("skip", 0, 0.1)
    );
    assert_eq!(b.watermark, None);
    let want = message_column.then(|| "no rows".to_string());
    assert_eq!(b.message, want);
    assert_eq!(
        journal
            .last_watermark("sales", "orders")
            .unwrap()
            .unwrap()
            .entity_run_id,
        "a1"
    );
}

#[test]
fn reads_a_journal_written_by_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::at(dir.path());
    write_original(journal.path(), false, false, &[]);
    check_original(&journal, true);

    // Appending to it keeps the original's rows and rewrites the file in hygge's schema.
    journal
        .append(&[entry(
            "h1",
            "sales",
            "orders",
            "2024-01-03T00:00:00+00:00",
            "success",
        )])
        .unwrap();
    let got = journal.read().unwrap();
    assert_eq!(ids(&got), ["a1", "a2", "h1"]);
    assert_eq!(got[0].watermark.as_deref(), Some("2024-01-01T16:39:00"));
    assert_eq!(
        journal
            .last_watermark("sales", "orders")
            .unwrap()
            .unwrap()
            .entity_run_id,
        "h1"
    );
}

#[test]
fn reads_leniently_other_string_and_int_types_and_missing_columns() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::at(dir.path());
    write_original(journal.path(), true, true, &["message"]);
    check_original(&journal, false);
}

#[test]
fn a_corrupt_journal_is_an_error_naming_the_file_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::at(dir.path());
    let garbage = b"PAR1 this is not a parquet file at all \x00\x01\x02 PAR1".to_vec();
    std::fs::write(journal.path(), &garbage).unwrap();

    let err = journal.read().unwrap_err();
    assert!(matches!(err, JournalError::Unreadable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&journal.path().display().to_string()), "{msg}");
    assert!(msg.contains("move it aside"), "{msg}");
    assert!(journal.last_watermark("f", "e").is_err());

    // An append must not replace the history it cannot read.
    let err = journal
        .append(&[entry("x", "f", "e", "2024-01-01T00:00:00Z", "success")])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&journal.path().display().to_string())
    );
    assert_eq!(std::fs::read(journal.path()).unwrap(), garbage);
    assert!(temp_files(dir.path()).is_empty());

    // A truncated real journal is also an error, not an empty journal.
    let good = tempfile::tempdir().unwrap();
    let j2 = Journal::at(good.path());
    j2.append(&[entry("y", "f", "e", "2024-01-01T00:00:00Z", "success")])
        .unwrap();
    let bytes = std::fs::read(j2.path()).unwrap();
    std::fs::write(j2.path(), &bytes[..bytes.len() / 2]).unwrap();
    let err = j2.read().unwrap_err();
    assert!(err.to_string().contains(&j2.path().display().to_string()));
}

#[test]
fn the_file_is_plain_parquet_with_the_documented_columns() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::at(dir.path());
    journal
        .append(&[entry("p1", "f", "e", "2024-01-01T00:00:00Z", "success")])
        .unwrap();
    let file = std::fs::File::open(journal.path()).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let got: Vec<(String, DataType)> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    use DataType::{Float64 as F, Int64 as I, Utf8 as S};
    let want: Vec<(String, DataType)> = [
        ("entity_run_id", S),
        ("coordinator_run_id", S),
        ("flow_run_id", S),
        ("coordinator", S),
        ("flow", S),
        ("entity", S),
        ("start_time", S),
        ("finish_time", S),
        ("status", S),
        ("run_type", S),
        ("row_count", I),
        ("duration", F),
        ("primary_key", S),
        ("watermark_column", S),
        ("watermark_type", S),
        ("watermark", S),
        ("message", S),
        ("schema_version", S),
        ("source_row_count", I),
        ("destination_row_count", I),
        ("bytes", I),
        ("watermark_arrow_type", S),
        ("watermark_exact", S),
        ("watermark_boundary_keys", S),
        ("arrow_schema", S),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect();
    assert_eq!(got, want);
    assert_eq!(builder.schema().fields(), hygge::journal::schema().fields());

    // Also through the plain Parquet schema (what DuckDB and Polars see): strings are
    // BYTE_ARRAY annotated as UTF8 strings.
    let descr = builder.metadata().file_metadata().schema_descr();
    let watermark = descr
        .columns()
        .iter()
        .find(|c| c.name() == "watermark")
        .unwrap();
    assert_eq!(watermark.physical_type(), parquet::basic::Type::BYTE_ARRAY);
    assert_eq!(
        watermark.logical_type_ref(),
        Some(&parquet::basic::LogicalType::String)
    );
    let rows: usize = builder
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 1);
}

#[test]
fn threads_appending_concurrently_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::at(dir.path());
    std::thread::scope(|s| {
        for t in 0..4 {
            let journal = journal.clone();
            s.spawn(move || {
                for i in 0..25 {
                    let id = format!("t{t}-{i}");
                    journal
                        .append(&[entry(&id, "f", "e", "2024-01-01T00:00:00Z", "success")])
                        .unwrap();
                }
            });
        }
    });
    let got: BTreeSet<String> = ids(&journal.read().unwrap()).into_iter().collect();
    let want: BTreeSet<String> = (0..4)
        .flat_map(|t| (0..25).map(move |i| format!("t{t}-{i}")))
        .collect();
    assert_eq!(got, want);
    assert_eq!(journal.read().unwrap().len(), 100);
}

// ---- child processes -------------------------------------------------------------------

/// Not a test on its own: the body of the child processes the tests below spawn (it does
/// nothing unless the environment variable is set). Appends entries `<tag>-<i>` one at a
/// time, `CHILD_COUNT` of them, or forever when unset.
#[test]
fn child_appender() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let tag = std::env::var(CHILD_TAG).unwrap();
    let count: Option<usize> = std::env::var(CHILD_COUNT).ok().map(|c| c.parse().unwrap());
    let journal = Journal::at(Path::new(&dir));
    // Children of one test start appending together, once the go file exists.
    if let Some(go) = std::env::var_os(CHILD_GO) {
        while !Path::new(&go).exists() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    println!("{STARTED}");
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    // A safety net: an endless child stops by itself should its parent die without killing it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut i = 0;
    while count.map_or(std::time::Instant::now() < deadline, |c| i < c) {
        let id = format!("{tag}-{i}");
        journal
            .append(&[
                entry(&id, "f", "e", "2024-01-01T00:00:00Z", "success"),
                entry(
                    &format!("{id}-pair"),
                    "f",
                    "e",
                    "2024-01-01T00:00:00Z",
                    "fail",
                ),
            ])
            .unwrap();
        i += 1;
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, also when a test panics.
struct ChildGuard(Child);

impl ChildGuard {
    fn kill_9(&mut self) {
        self.0.kill().unwrap(); // SIGKILL on unix
        self.0.wait().unwrap();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(dir: &Path, tag: &str, count: Option<usize>, go: Option<&Path>) -> ChildGuard {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_appender",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_DIR, dir)
    .env(CHILD_TAG, tag)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    match count {
        Some(c) => cmd.env(CHILD_COUNT, c.to_string()),
        None => cmd.env_remove(CHILD_COUNT),
    };
    match go {
        Some(go) => cmd.env(CHILD_GO, go),
        None => cmd.env_remove(CHILD_GO),
    };
    ChildGuard(cmd.spawn().unwrap())
}

/// Blocks until the child printed [`STARTED`] (its appends are about to begin).
fn wait_started(child: &mut ChildGuard) -> BufReader<std::process::ChildStdout> {
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "child ended before it started appending");
        // libtest may print `test child_appender ... ` on the same line.
        if line.contains(STARTED) {
            return out;
        }
    }
}

/// Every entry is whole: its pair (written in the same append) is there too, no id twice.
fn check_consistent(entries: &[JournalEntry]) -> usize {
    let all: Vec<String> = ids(entries);
    let set: BTreeSet<&String> = all.iter().collect();
    assert_eq!(set.len(), all.len(), "duplicate entries");
    for id in all.iter().filter(|id| !id.ends_with("-pair")) {
        assert!(set.contains(&format!("{id}-pair")), "{id} lost its pair");
    }
    assert_eq!(all.len() % 2, 0, "half an append");
    all.len()
}

#[test]
fn kill_9_during_append_leaves_a_readable_journal_that_never_shrinks() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::at(dir.path());
    let mut rng = rand::rng();
    let mut before = 0;
    let mut grew = 0;
    let mut killed_mid_write = 0;
    for round in 0..20 {
        let mut child = spawn_child(dir.path(), &format!("k{round}"), None, None);
        let _out = wait_started(&mut child);
        std::thread::sleep(Duration::from_millis(rng.random_range(5..=50)));
        child.kill_9();
        if !temp_files(dir.path()).is_empty() {
            killed_mid_write += 1;
        }

        let entries = journal
            .read()
            .unwrap_or_else(|e| panic!("round {round}: journal unreadable after kill -9: {e}"));
        let now = check_consistent(&entries);
        assert!(
            now >= before,
            "round {round}: {now} entries, {before} before"
        );
        if now > before {
            grew += 1;
        }
        before = now;
    }
    assert!(
        grew > 0,
        "no child ever finished an append: the test proved nothing"
    );

    eprintln!(
        "{before} entries; {grew} of 20 rounds appended; {killed_mid_write} kills left a temp file"
    );

    // The next append removes temp files a killed append left and keeps everything.
    journal
        .append(&[
            entry("last", "f", "e", "2024-01-01T00:00:00Z", "success"),
            entry("last-pair", "f", "e", "2024-01-01T00:00:00Z", "fail"),
        ])
        .unwrap();
    assert_eq!(check_consistent(&journal.read().unwrap()), before + 2);
    assert!(
        temp_files(dir.path()).is_empty(),
        "{:?}",
        temp_files(dir.path())
    );
}

#[test]
fn processes_appending_concurrently_lose_no_entry() {
    const CHILDREN: usize = 3;
    const N: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let go_dir = tempfile::tempdir().unwrap();
    let go = go_dir.path().join("go");
    let mut children: Vec<ChildGuard> = (0..CHILDREN)
        .map(|c| spawn_child(dir.path(), &format!("p{c}"), Some(N), Some(&go)))
        .collect();
    // Let every child start up, then release them together.
    std::thread::sleep(Duration::from_millis(200));
    std::fs::write(&go, b"").unwrap();
    for child in &mut children {
        let status = child.0.wait().unwrap();
        assert!(status.success(), "child failed: {status}");
    }
    let entries = Journal::at(dir.path()).read().unwrap();
    check_consistent(&entries);
    let got: BTreeSet<String> = ids(&entries).into_iter().collect();
    let want: BTreeSet<String> = (0..CHILDREN)
        .flat_map(|c| (0..N).flat_map(move |i| [format!("p{c}-{i}"), format!("p{c}-{i}-pair")]))
        .collect();
    assert_eq!(got, want);
    assert_eq!(entries.len(), CHILDREN * N * 2);
    assert!(temp_files(dir.path()).is_empty());
}

/// Review M5.5: the journal was read and rewritten whole on every append, forever. Past
/// a bound, older rows move to archives: `journal.parquet` stays small, every row stays in
/// exactly one file, and what planning reads (each entity's latest watermark and run) stays
/// in `journal.parquet`.
#[test]
fn the_journal_rotates_older_rows_into_archives_and_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::at(dir.path()).with_limits(50, 10);
    let mut all = Vec::new();
    for i in 0..400 {
        // Entity `slow` succeeds once, early; `busy` many times; `flaky` fails a lot.
        let (entity, status) = match i {
            3 => ("slow", "success"),
            i if i % 3 == 0 => ("flaky", "fail"),
            _ => ("busy", "success"),
        };
        let e = entry(
            &format!("r{i:04}"),
            "f",
            entity,
            &format!("2024-01-01T00:{:02}:{:02}+00:00", i / 60, i % 60),
            status,
        );
        j.append(std::slice::from_ref(&e)).unwrap();
        all.push(e);
    }
    let active = j.read().unwrap();
    assert!(
        active.len() <= 50 + 3,
        "journal.parquet holds {} rows",
        active.len()
    );
    // Every row once (kept rows sit in journal.parquet, after the archives).
    let mut got = j.read_all().unwrap();
    got.sort_by(|a, b| a.entity_run_id.cmp(&b.entity_run_id));
    assert!(got == all, "every row once: {} of {}", got.len(), all.len());
    // Planning still finds the position of an entity that last succeeded long ago.
    for entity in ["slow", "busy"] {
        assert_eq!(
            j.last_watermark("f", entity).unwrap(),
            hygge::journal::latest_watermark(&all, "f", entity).cloned(),
            "{entity}"
        );
    }
    let archives = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("journal-archive-")
        })
        .count();
    assert!(archives >= 7, "{archives} archives");
}

/// A rotation killed after writing its archive but before rewriting `journal.parquet`:
/// the next append finishes it, and no row is in two files.
#[test]
fn an_interrupted_rotation_is_finished_by_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::at(dir.path()).with_limits(20, 5);
    let mut all = Vec::new();
    for i in 0..20 {
        let e = entry(
            &format!("r{i:04}"),
            "f",
            "e",
            "2024-01-01T00:00:00+00:00",
            "success",
        );
        j.append(std::slice::from_ref(&e)).unwrap();
        all.push(e);
    }
    // As a rotation would: rows 0..15 copied into an archive, journal.parquet unchanged.
    let staged = Journal::at(&dir.path().join("x")).with_limits(1000, 0);
    staged.append(&all[..15]).unwrap();
    std::fs::rename(
        dir.path().join("x/journal.parquet"),
        dir.path().join("journal-archive-000001.parquet"),
    )
    .unwrap();
    assert_eq!(
        ids(&j.read_all().unwrap()),
        ids(&all),
        "an unfinished rotation is not counted twice"
    );
    let e = entry("r0020", "f", "e", "2024-01-01T00:00:01+00:00", "success");
    j.append(std::slice::from_ref(&e)).unwrap();
    all.push(e);
    assert_eq!(ids(&j.read_all().unwrap()), ids(&all));
    assert_eq!(
        ids(&j.read().unwrap()),
        ids(&all[15..]),
        "rows 15..21 left in journal.parquet"
    );
}
