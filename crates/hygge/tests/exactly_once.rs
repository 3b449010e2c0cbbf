//! Exactly once: incremental runs killed at random points, and at the exact points where a
//! crash used to lose or repeat rows (after publishing, before the journal), each followed
//! by a normal run; the destination must then equal the source, no row lost, none
//! duplicated. Also: rows that tie the boundary, many rows at one watermark value, reloads
//! with `if_exists: append`, a replace waiting for locks, a journal that cannot be written,
//! a timeout while publishing.
//!
//! The campaigns are seeded: `HYGGE_TEST_SEED=<n>` replays one (the seed and pair number
//! are in every assertion message).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use common::*;
use hygge::journal::{Journal, JournalEntry};
use hygge_testkit::pg::{TestDb, admin_query};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What the journal writes in an entry recovered from a checkpoint.
const RECOVERED: &str = "recorded from the destination's checkpoint";

fn text(o: &std::process::Output) -> String {
    stdout(o) + &stderr(o)
}

fn seed(default: u64) -> u64 {
    std::env::var("HYGGE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// `id int64, w int64`.
fn rows_batch(rows: &[(i64, i64)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("w", DataType::Int64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        ],
    )
    .unwrap()
}

fn flow_yml(home: &str, store: &str, extra: &str) -> String {
    format!(
        "home: {home}\nstore: {store}\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: w\n{extra}entities: [t]\n"
    )
}

/// The entries of the journal in `dir` for entity `t` of flow `f`.
fn journal(dir: &Path) -> Vec<JournalEntry> {
    Journal::at(dir)
        .read()
        .unwrap()
        .into_iter()
        .filter(|e| e.flow == "f" && e.entity == "t")
        .collect()
}

fn instant(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .to_utc()
}

/// The journal entry of the run that published `checkpoint`, if written.
fn entry_of<'a>(
    entries: &'a [JournalEntry],
    checkpoint: &serde_json::Value,
) -> Vec<&'a JournalEntry> {
    let started = instant(checkpoint["started_at"].as_str().unwrap());
    entries
        .iter()
        .filter(|e| instant(&e.start_time) == started)
        .collect()
}

/// Ids of `SELECT id FROM <table> ORDER BY id` (empty if the table does not exist).
fn pg_ids(db: &TestDb, table: &str) -> Vec<i64> {
    let exists = db.query(&format!("SELECT to_regclass('{table}') IS NOT NULL"));
    if exists[0][0].as_deref() != Some("t") {
        return vec![];
    }
    db.query(&format!("SELECT id FROM {table} ORDER BY id"))
        .into_iter()
        .map(|r| r[0].as_deref().unwrap().parse().unwrap())
        .collect()
}

/// The checkpoint in `public._hygge_state` (the tests write one table a database).
fn pg_checkpoint(db: &TestDb) -> Option<serde_json::Value> {
    let exists = db.query("SELECT to_regclass('public._hygge_state') IS NOT NULL");
    if exists[0][0].as_deref() != Some("t") {
        return None;
    }
    let rows = db.query("SELECT checkpoint FROM public._hygge_state");
    assert!(rows.len() <= 1, "{rows:?}");
    rows.first()
        .map(|r| serde_json::from_str(r[0].as_deref().unwrap()).unwrap())
}

/// Waits until no session is connected to `db` but the test's own: a process killed
/// mid-transaction is rolled back, and its locks released, only once the server has noticed.
fn pg_settle(db: &TestDb) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = admin_query(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}'",
            db.name
        ));
        if n[0][0].as_deref() == Some("0") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sessions of a killed hygge stayed connected to {} for 20 s",
            db.name
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------------------
// kill -9 campaigns
// ---------------------------------------------------------------------------------------

/// How a run is stopped.
#[derive(Debug, Clone)]
enum Kill {
    /// SIGKILL this long after the start.
    After(Duration),
    /// The failpoint aborts the process (as `kill -9` there would).
    Abort(&'static str),
    /// SIGKILL while the process waits at the failpoint, this long after it got there.
    AtSleep(&'static str, Duration),
}

impl Kill {
    fn point(&self) -> Option<&'static str> {
        match self {
            Kill::After(_) => None,
            Kill::Abort(p) | Kill::AtSleep(p, _) => Some(p),
        }
    }
}

/// Runs `hygge go` in `dir` and stops it as `kill` says; returns what happened.
fn killed_run(dir: &Path, kill: &Kill) -> String {
    let mut cmd = hygge();
    cmd.args(["go"]).current_dir(dir).stdout(Stdio::null());
    match kill {
        Kill::After(delay) => {
            let mut child = cmd.stderr(Stdio::null()).spawn().unwrap();
            std::thread::sleep(*delay);
            let early = child.try_wait().unwrap();
            let _ = child.kill();
            let status = child.wait().unwrap();
            match early {
                Some(s) => format!("finished ({s}) before the kill at {delay:?}"),
                None => format!("killed at {delay:?} ({status})"),
            }
        }
        Kill::Abort(point) => {
            let out = cmd
                .env("HYGGE_FAILPOINTS", format!("{point}=abort"))
                .output()
                .unwrap();
            let err = stderr(&out);
            assert!(
                !out.status.success() && err.contains(&format!("failpoint {point}: aborting")),
                "the run did not reach failpoint {point}: {} {err}",
                out.status
            );
            format!("aborted at {point} ({})", out.status)
        }
        Kill::AtSleep(point, extra) => {
            let mut child = cmd
                .env("HYGGE_FAILPOINTS", format!("{point}=sleep(30000)"))
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let err = child.stderr.take().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            let want = format!("failpoint {point}: sleeping");
            let reader = std::thread::spawn(move || {
                let mut all = String::new();
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    if line.contains(&want) {
                        let _ = tx.send(());
                    }
                    all.push_str(&line);
                    all.push('\n');
                }
                all
            });
            let reached = rx.recv_timeout(Duration::from_secs(60)).is_ok();
            if reached {
                std::thread::sleep(*extra);
            }
            let _ = child.kill();
            let status = child.wait().unwrap();
            let all = reader.join().unwrap();
            assert!(
                reached,
                "the run did not reach failpoint {point} ({status}): {all}"
            );
            format!("killed {extra:?} into the wait at {point} ({status})")
        }
    }
}

/// The rows a source grows by: new ids, watermarks that sometimes tie the newest one
/// already there (and so already loaded).
struct Growth {
    next_id: i64,
    top: i64,
}

impl Growth {
    fn more(&mut self, rng: &mut StdRng) -> Vec<(i64, i64)> {
        let n = rng.random_range(1..=4);
        (0..n)
            .map(|_| {
                if self.next_id == 0 || rng.random_bool(0.6) {
                    self.top += rng.random_range(1..3);
                }
                self.next_id += 1;
                (self.next_id - 1, self.top)
            })
            .collect()
    }

    fn ids(&self) -> Vec<i64> {
        (0..self.next_id).collect()
    }
}

/// One source and destination under test.
trait Subject {
    fn dir(&self) -> &Path;
    fn journal_dir(&self) -> PathBuf {
        self.dir().join(".hygge_journal")
    }
    /// Adds `rows` to the source.
    fn grow(&mut self, rows: &[(i64, i64)], pair: usize);
    /// The destination's ids, sorted (duplicates kept).
    fn destination(&self) -> Vec<i64>;
    /// The checkpoint the destination holds.
    fn checkpoint(&self) -> Option<serde_json::Value>;
    /// After a kill: until the killed process is gone from the servers.
    fn settle(&self) {}
    /// Failpoints before and after publishing that this pair passes.
    fn points(&self) -> &'static [&'static str];
}

/// 50 pairs of (a run killed at a random point, a normal run); after each pair the
/// destination equals the source. A third of the kills land at random times within a normal
/// run's duration, a third abort at a failpoint, a third are SIGKILLs while the run waits
/// at one.
fn campaign(name: &str, s: &mut dyn Subject, seed: u64) {
    const PAIRS: usize = 50;
    eprintln!("{name}: seed {seed} (HYGGE_TEST_SEED={seed} replays it)");
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut growth = Growth { next_id: 0, top: 0 };
    let first = growth.more(&mut rng);
    s.grow(&first, 0);
    let t = Instant::now();
    let out = hygge().arg("go").current_dir(s.dir()).output().unwrap();
    let mut duration = t.elapsed();
    assert!(out.status.success(), "{name}: first run: {}", text(&out));
    assert_eq!(s.destination(), growth.ids(), "{name}: first run");
    // Every checkpoint published, and whether its run was journaled before the next one.
    let mut publishes: Vec<(serde_json::Value, bool)> = vec![];
    let first = s.checkpoint().expect("the first run left a checkpoint");
    publishes.push((first, true));
    let mut window = 0; // kills after publishing, before the journal
    let mut forced_window = 0;
    let mut timed = [0usize; 3]; // time kills: before publishing, in the window, after
    for pair in 1..=PAIRS {
        let before_ids = growth.ids();
        let rows = growth.more(&mut rng);
        s.grow(&rows, pair);
        let points = s.points();
        let point = points[(pair / 3) % points.len()];
        let kill = match pair % 3 {
            0 => Kill::After(duration.mul_f64(rng.random_range(0.0..1.3))),
            1 => Kill::Abort(point),
            _ => Kill::AtSleep(point, Duration::from_millis(rng.random_range(0..30))),
        };
        let ctx = format!("{name}, seed {seed}, pair {pair}, {kill:?}");
        let before = s.checkpoint();
        let what = killed_run(s.dir(), &kill);
        s.settle();
        let ctx = format!("{ctx}: {what}");
        let after = s.checkpoint();
        let run_id = |c: &Option<serde_json::Value>| c.as_ref().map(|c| c["run_id"].clone());
        let published = run_id(&after) != run_id(&before);
        let journaled =
            published && !entry_of(&journal(&s.journal_dir()), after.as_ref().unwrap()).is_empty();
        if published {
            // The killed run read the whole source: what it published is all of it.
            assert_eq!(s.destination(), growth.ids(), "{ctx}: after the kill");
            publishes.push((after.clone().unwrap(), journaled));
            if !journaled {
                window += 1;
                if kill.point().is_some() {
                    forced_window += 1;
                }
            }
        } else {
            assert_eq!(s.destination(), before_ids, "{ctx}: after the kill");
        }
        match kill.point() {
            Some("journal.append") => assert!(
                published && !journaled,
                "{ctx}: a kill at journal.append comes after publishing and before the journal"
            ),
            Some(_) => assert!(
                !published,
                "{ctx}: a kill before publishing publishes nothing"
            ),
            None => timed[usize::from(published) + usize::from(journaled)] += 1,
        }
        let t = Instant::now();
        let out = hygge().arg("go").current_dir(s.dir()).output().unwrap();
        duration = t.elapsed();
        assert!(
            out.status.success(),
            "{ctx}: the normal run: {}",
            text(&out)
        );
        assert_eq!(
            s.destination(),
            growth.ids(),
            "{ctx}: after the normal run (a row lost or duplicated): {}",
            text(&out)
        );
        let last = s.checkpoint();
        if run_id(&last) != run_id(&after) {
            publishes.push((last.unwrap(), true));
        }
    }
    // Every publish has exactly one journal entry, the recovered ones included.
    let entries = journal(&s.journal_dir());
    for (c, journaled) in &publishes {
        let found = entry_of(&entries, c);
        assert_eq!(
            found.len(),
            1,
            "{name}, seed {seed}: the run that published {c} has {} journal entries: {entries:#?}",
            found.len()
        );
        let e = found[0];
        let rows = c["rows"].as_u64().unwrap();
        let status = if rows == 0 { "skip" } else { "success" };
        assert_eq!(
            (e.status.as_str(), e.row_count as u64),
            (status, rows),
            "{name}, seed {seed}: {c}"
        );
        if !journaled {
            assert!(
                e.message.as_deref().is_some_and(|m| m.contains(RECOVERED)),
                "{name}, seed {seed}: {e:?}"
            );
        }
    }
    let successes = entries.iter().filter(|e| e.status == "success").count();
    let published_rows = publishes
        .iter()
        .filter(|(c, _)| c["rows"].as_u64() != Some(0))
        .count();
    assert_eq!(
        successes, published_rows,
        "{name}, seed {seed}: {entries:#?}"
    );
    eprintln!(
        "{name}: {PAIRS} pairs in {:.1}s; {window} kills after publishing and before the journal ({forced_window} forced); time kills: {} before publishing, {} in that window, {} after",
        started.elapsed().as_secs_f64(),
        timed[0],
        timed[1],
        timed[2]
    );
    assert!(
        forced_window >= PAIRS / 9,
        "{name}, seed {seed}: only {forced_window} kills landed between publishing and the journal"
    );
}

/// Parquet home, Parquet store.
struct Files {
    p: Project,
}

impl Files {
    fn new(store_extra: &str) -> Self {
        let p = Project::new("name: exactly\njournal:\n  path: .hygge_journal\n");
        p.write("flows/f/flow.yml", &flow_yml("data", "lake", store_extra));
        Files { p }
    }
}

/// The checkpoint in a file store's entity folder.
fn file_checkpoint(dir: &Path) -> Option<serde_json::Value> {
    dir.join(STATE_FILE)
        .exists()
        .then(|| state(dir)["checkpoint"].clone())
}

impl Subject for Files {
    fn dir(&self) -> &Path {
        self.p.path()
    }
    fn grow(&mut self, rows: &[(i64, i64)], pair: usize) {
        write_parquet(
            &self.p.join(&format!("data/t/part-{pair:04}.parquet")),
            &[rows_batch(rows)],
        );
    }
    fn destination(&self) -> Vec<i64> {
        ids(&read_parquet_dir(&self.p.join("lake/t")))
    }
    fn checkpoint(&self) -> Option<serde_json::Value> {
        file_checkpoint(&self.p.join("lake/t"))
    }
    fn points(&self) -> &'static [&'static str] {
        &["flow.publish", "files.publish", "journal.append"]
    }
}

/// A PostgreSQL project: `hygge.yml` with a journal and connection `pg` to `db`.
fn pg_project(db: &TestDb) -> Project {
    Project::new(&format!(
        "name: exactly\njournal:\n  path: .hygge_journal\nconnections:\n  pg:\n    type: postgres\n    url: \"{}\"\n    pool_size: 2\n",
        db.conn_str()
    ))
}

const PG_HOME: &str = "\n  type: postgres\n  connection: pg\n  table: public.{entity}";
const PG_STORE: &str = "\n  type: postgres\n  connection: pg";

/// PostgreSQL home (`w timestamptz`, microseconds apart), Parquet store.
struct PgHome {
    db: TestDb,
    p: Project,
}

impl PgHome {
    fn new(name: &str) -> Self {
        let db = TestDb::create(name);
        db.query("CREATE TABLE t (id bigint PRIMARY KEY, w timestamptz NOT NULL, note text)");
        let p = pg_project(&db);
        p.write("flows/f/flow.yml", &flow_yml(PG_HOME, "lake", ""));
        PgHome { db, p }
    }

    fn insert(&self, rows: &[(i64, i64)]) {
        let values: Vec<String> = rows
            .iter()
            .map(|(id, w)| {
                format!(
                    "({id}, '2024-01-01 00:00:00+00'::timestamptz + interval '{w} microseconds', 'row {id}')"
                )
            })
            .collect();
        self.db
            .query(&format!("INSERT INTO t VALUES {}", values.join(", ")));
    }
}

impl Subject for PgHome {
    fn dir(&self) -> &Path {
        self.p.path()
    }
    fn grow(&mut self, rows: &[(i64, i64)], _pair: usize) {
        self.insert(rows);
    }
    fn destination(&self) -> Vec<i64> {
        ids(&read_parquet_dir(&self.p.join("lake/t")))
    }
    fn checkpoint(&self) -> Option<serde_json::Value> {
        file_checkpoint(&self.p.join("lake/t"))
    }
    fn settle(&self) {
        pg_settle(&self.db);
    }
    fn points(&self) -> &'static [&'static str] {
        &["flow.publish", "files.publish", "journal.append"]
    }
}

/// Parquet home, PostgreSQL store (incremental: appends).
struct PgStore {
    db: TestDb,
    p: Project,
}

impl PgStore {
    fn new(name: &str, store_extra: &str) -> Self {
        let db = TestDb::create(name);
        let p = pg_project(&db);
        p.write(
            "flows/f/flow.yml",
            &flow_yml("data", &format!("{PG_STORE}{store_extra}"), ""),
        );
        PgStore { db, p }
    }
}

impl Subject for PgStore {
    fn dir(&self) -> &Path {
        self.p.path()
    }
    fn grow(&mut self, rows: &[(i64, i64)], pair: usize) {
        write_parquet(
            &self.p.join(&format!("data/t/part-{pair:04}.parquet")),
            &[rows_batch(rows)],
        );
    }
    fn destination(&self) -> Vec<i64> {
        pg_ids(&self.db, "public.t")
    }
    fn checkpoint(&self) -> Option<serde_json::Value> {
        pg_checkpoint(&self.db)
    }
    fn settle(&self) {
        pg_settle(&self.db);
    }
    fn points(&self) -> &'static [&'static str] {
        &["flow.publish", "postgres.commit", "journal.append"]
    }
}

#[test]
fn kill_9_at_50_random_points_of_incremental_runs_files_loses_and_duplicates_nothing() {
    campaign("files", &mut Files::new(""), seed(2026));
}

#[test]
fn kill_9_at_50_random_points_of_incremental_runs_postgres_home_loses_and_duplicates_nothing() {
    campaign("postgres home", &mut PgHome::new("kill_home"), seed(2027));
}

#[test]
fn kill_9_at_50_random_points_of_incremental_runs_postgres_store_loses_and_duplicates_nothing() {
    campaign(
        "postgres store",
        &mut PgStore::new("kill_store", ""),
        seed(2028),
    );
}
