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

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
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

/// The entries of the journal in `dir` for flow `f` (every project here has one entity).
fn journal(dir: &Path) -> Vec<JournalEntry> {
    Journal::at(dir)
        .read()
        .unwrap()
        .into_iter()
        .filter(|e| e.flow == "f")
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

/// A failpoint as a campaign names it: `name`, or `name@n` to act on the n-th time the
/// process reaches it only (as `HYGGE_FAILPOINTS` counts: 1-based). Returns the name and
/// the `@n` (or "").
fn split_point(p: &str) -> (&str, &str) {
    match p.find('@') {
        Some(i) => (&p[..i], &p[i..]),
        None => (p, ""),
    }
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
fn killed_run(dir: &Path, env: &[(&str, &str)], kill: &Kill) -> String {
    let mut cmd = hygge();
    cmd.args(["go"])
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdout(Stdio::null());
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
            let (name, at) = split_point(point);
            let out = cmd
                .env("HYGGE_FAILPOINTS", format!("{name}=abort{at}"))
                .output()
                .unwrap();
            let err = stderr(&out);
            assert!(
                !out.status.success() && err.contains(&format!("failpoint {name}: aborting")),
                "the run did not reach failpoint {point}: {} {err}",
                out.status
            );
            format!("aborted at {point} ({})", out.status)
        }
        Kill::AtSleep(point, extra) => {
            let (name, at) = split_point(point);
            let mut child = cmd
                .env("HYGGE_FAILPOINTS", format!("{name}=sleep(30000){at}"))
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let err = child.stderr.take().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            let want = format!("failpoint {name}: sleeping");
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
    /// Environment of every run.
    fn env(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }
    /// Failpoints before and after publishing that this pair passes (`name`, or `name@n`:
    /// the n-th time the run reaches it).
    fn points(&self) -> &'static [&'static str];
    /// A publish committed (the destination holds its checkpoint) but not all in place yet,
    /// as a store that moves its files after the commit leaves it when killed there: the
    /// next run finishes it before it reads anything. `Some(rebuild)`: whether that publish
    /// replaces the destination (`full_drop`) rather than adding to it.
    fn in_flight(&self) -> Option<bool> {
        None
    }
    /// While [`Subject::in_flight`]: checks what the destination shows beside its rows.
    fn check_mid_publish(&self, _ctx: &str) {}
    /// After a normal run: checks what the destination holds beside its data (a cloud
    /// store: no staging, lock, stray copy or replaced file left).
    fn check_tidy(&self, _ctx: &str) {}
}

/// Failpoints after the commit and before the journal: a kill there has published.
const AFTER_PUBLISHING: &[&str] = &[
    "journal.append",
    "cloud.committed",
    "om.committed",
    "om.deleted",
    "om.moved",
];

/// Of those, the points where the publish is committed but not yet all in place (the
/// open_mirroring store commits its state, then deletes the table folder for a rebuild,
/// then moves its staged files in one by one): the destination shows part of it until the
/// next run finishes it, before it reads anything.
const COMMITTED_IN_FLIGHT: &[&str] = &["om.committed", "om.deleted", "om.moved"];

/// What a destination may show while a committed publish is not all in place: part of the
/// source, each row at most once; an append keeps every row that was there before it.
fn check_in_flight(now: &[i64], before: &[i64], all: &[i64], rebuild: bool, ctx: &str) {
    if let Some(w) = now.windows(2).find(|w| w[0] == w[1]) {
        panic!(
            "{ctx}: after the kill, mid-publish, id {} is there twice: {now:?}",
            w[0]
        );
    }
    let stray: Vec<&i64> = now
        .iter()
        .filter(|i| all.binary_search(i).is_err())
        .collect();
    assert!(
        stray.is_empty(),
        "{ctx}: after the kill, mid-publish, ids not in the source: {stray:?}"
    );
    if !rebuild {
        let lost: Vec<&i64> = before
            .iter()
            .filter(|i| now.binary_search(i).is_err())
            .collect();
        assert!(
            lost.is_empty(),
            "{ctx}: after the kill, mid-append, rows that were there are gone: {lost:?}"
        );
    }
}

/// 50 pairs of (a run killed at a random point, a normal run); after each pair the
/// destination equals the source. A third of the kills land at random times within a normal
/// run's duration, a third abort at a failpoint, a third are SIGKILLs while the run waits
/// at one.
fn campaign(name: &str, s: &mut dyn Subject, seed: u64) {
    campaign_of(50, name, s, seed)
}

/// [`campaign`] of `pairs` pairs.
fn campaign_of(pairs: usize, name: &str, s: &mut dyn Subject, seed: u64) {
    eprintln!("{name}: seed {seed} (HYGGE_TEST_SEED={seed} replays it)");
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut growth = Growth { next_id: 0, top: 0 };
    let first = growth.more(&mut rng);
    s.grow(&first, 0);
    let go = |s: &dyn Subject| {
        let mut cmd = hygge();
        cmd.arg("go")
            .current_dir(s.dir())
            .envs(s.env().iter().copied());
        let t = Instant::now();
        (cmd.output().unwrap(), t.elapsed())
    };
    let (out, mut duration) = go(s);
    assert!(out.status.success(), "{name}: first run: {}", text(&out));
    assert_eq!(s.destination(), growth.ids(), "{name}: first run");
    // Every checkpoint published, and whether its run was journaled by itself.
    let mut publishes: Vec<(serde_json::Value, bool)> = vec![];
    let first = s.checkpoint().expect("the first run left a checkpoint");
    publishes.push((first, true));
    let mut window = 0; // kills after publishing, before the journal
    let mut forced_window = 0;
    let mut halves = 0; // kills between the two renames of a publication by manifest
    let mut unfinished = 0; // kills after a commit, before its files were all in place
    let mut timed = [0usize; 3]; // time kills: before publishing, in the window, after
    let run_id = |c: &Option<serde_json::Value>| c.as_ref().map(|c| c["run_id"].clone());
    for pair in 1..=pairs {
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
        let what = killed_run(s.dir(), s.env(), &kill);
        s.settle();
        let ctx = format!("{ctx}: {what}");
        let after = s.checkpoint();
        let in_flight = s.in_flight();
        // Killed between the two renames: no folder shows; the next run rolls it forward.
        let half = before.is_some() && after.is_none();
        let published = !half && run_id(&after) != run_id(&before);
        let journaled =
            published && !entry_of(&journal(&s.journal_dir()), after.as_ref().unwrap()).is_empty();
        if half {
            halves += 1;
            assert_eq!(s.destination(), Vec::<i64>::new(), "{ctx}: after the kill");
        } else if published {
            match in_flight {
                // The killed run read the whole source: what it published is all of it.
                None => assert_eq!(s.destination(), growth.ids(), "{ctx}: after the kill"),
                // Committed, and partly in place: the normal run finishes it.
                Some(rebuild) => {
                    unfinished += 1;
                    check_in_flight(&s.destination(), &before_ids, &growth.ids(), rebuild, &ctx);
                    s.check_mid_publish(&ctx);
                }
            }
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
        assert!(
            in_flight.is_none() || published,
            "{ctx}: a publish in progress without its checkpoint committed"
        );
        match kill.point().map(|p| split_point(p).0) {
            Some(p) if AFTER_PUBLISHING.contains(&p) => {
                assert!(
                    published && !journaled,
                    "{ctx}: a kill at {p} comes after publishing and before the journal"
                );
                if COMMITTED_IN_FLIGHT.contains(&p) {
                    assert!(
                        in_flight.is_some(),
                        "{ctx}: a kill at {p} leaves a committed publish to finish"
                    );
                }
            }
            Some("files.renamed") => assert!(half, "{ctx}: a kill between the renames"),
            Some(_) => assert!(
                !published && !half,
                "{ctx}: a kill before publishing publishes nothing"
            ),
            None => timed[usize::from(published) + usize::from(journaled)] += 1,
        }
        let (out, took) = go(s);
        duration = took;
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
        assert_eq!(
            s.in_flight(),
            None,
            "{ctx}: the normal run left a publish unfinished"
        );
        s.check_tidy(&ctx);
        let last = s.checkpoint();
        if half {
            // The killed run's publication, rolled forward; this run found nothing new.
            let last = last.clone().unwrap();
            assert_eq!(
                last["rows"].as_u64(),
                Some(rows.len() as u64),
                "{ctx}: {last}"
            );
            assert!(
                text(&out).contains("that an interrupted run left half-done"),
                "{ctx}: {}",
                text(&out)
            );
            publishes.push((last, false));
        } else if run_id(&last) != run_id(&after) {
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
        "{name}: {pairs} pairs in {:.1}s; {window} kills after publishing and before the journal ({forced_window} forced; {unfinished} before the files were all in place), {halves} between two renames; time kills: {} before publishing, {} in that window, {} after",
        started.elapsed().as_secs_f64(),
        timed[0],
        timed[1],
        timed[2]
    );
    assert!(
        forced_window >= pairs / 12,
        "{name}, seed {seed}: only {forced_window} kills landed between publishing and the journal"
    );
}

/// How a file store publishes.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// An entity folder `lake/t`, swapped in by one `RENAME_EXCHANGE`.
    Exchange,
    /// The same, by two renames and a manifest (as where `RENAME_EXCHANGE` is missing).
    Manifest,
    /// A flow without entities: the store folder `lake` itself is swapped, and the journal
    /// (`location: store`, the original's default) lives beside it (the original kept it
    /// inside, where a replace would take it away).
    Flat,
}

/// Parquet home, Parquet store.
struct Files {
    p: Project,
    layout: Layout,
}

impl Files {
    fn new(layout: Layout) -> Self {
        let p = if layout == Layout::Flat {
            let p = Project::new("name: exactly\njournal:\n  location: store\n");
            p.write(
                "flows/f/flow.yml",
                &flow_yml("data/t", "lake", "").replace("entities: [t]\n", ""),
            );
            p
        } else {
            let p = Project::new("name: exactly\njournal:\n  path: .hygge_journal\n");
            p.write("flows/f/flow.yml", &flow_yml("data", "lake", ""));
            p
        };
        Files { p, layout }
    }

    fn entity_dir(&self) -> PathBuf {
        match self.layout {
            Layout::Flat => self.p.join("lake"),
            _ => self.p.join("lake/t"),
        }
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
    fn journal_dir(&self) -> PathBuf {
        // Every layout's journal is in the project folder: `journal.path` for entity
        // flows, and beside the store folder `lake` for the flow without entities.
        self.p.join(".hygge_journal")
    }
    fn grow(&mut self, rows: &[(i64, i64)], pair: usize) {
        write_parquet(
            &self.p.join(&format!("data/t/part-{pair:04}.parquet")),
            &[rows_batch(rows)],
        );
    }
    fn destination(&self) -> Vec<i64> {
        // The data files only (not the journal beside them in the flat layout).
        let files: Vec<PathBuf> = std::fs::read_dir(self.entity_dir())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
                    .collect()
            })
            .unwrap_or_default();
        let batches: Vec<RecordBatch> = files
            .iter()
            .flat_map(|f| {
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    std::fs::File::open(f).unwrap(),
                )
                .unwrap()
                .build()
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
            })
            .collect();
        ids(&batches)
    }
    fn checkpoint(&self) -> Option<serde_json::Value> {
        file_checkpoint(&self.entity_dir())
    }
    fn env(&self) -> &'static [(&'static str, &'static str)] {
        match self.layout {
            Layout::Manifest => &[("HYGGE_DISABLE_RENAME_EXCHANGE", "1")],
            _ => &[],
        }
    }
    fn points(&self) -> &'static [&'static str] {
        match self.layout {
            Layout::Manifest => &[
                "files.renamed",
                "flow.publish",
                "journal.append",
                "files.publish",
            ],
            _ => &["flow.publish", "files.publish", "journal.append"],
        }
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
    campaign("files", &mut Files::new(Layout::Exchange), seed(2026));
}

#[test]
fn kill_9_at_50_random_points_of_incremental_runs_files_by_manifest_loses_and_duplicates_nothing() {
    campaign(
        "files by manifest",
        &mut Files::new(Layout::Manifest),
        seed(2029),
    );
}

#[test]
fn kill_9_at_50_random_points_of_incremental_runs_files_flow_without_entities_loses_and_duplicates_nothing()
 {
    campaign(
        "files, a flow without entities",
        &mut Files::new(Layout::Flat),
        seed(2030),
    );
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

/// A DuckDB project: a journal, and the flow's home and store.
#[cfg(feature = "duckdb")]
fn duck_project(home: &str, store: &str) -> Project {
    let p = Project::new("name: exactly\njournal:\n  path: .hygge_journal\n");
    p.write("flows/f/flow.yml", &flow_yml(home, store, ""));
    p
}

/// A connection of the test's own (no hygge process holds the file between runs).
#[cfg(feature = "duckdb")]
fn duck(db: &Path) -> duckdb::Connection {
    duckdb::Connection::open(db).unwrap()
}

/// Parquet home, DuckDB store (incremental: appends in one transaction per run).
#[cfg(feature = "duckdb")]
struct DuckStore {
    p: Project,
}

#[cfg(feature = "duckdb")]
impl Subject for DuckStore {
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
        let db = self.p.join("w.duckdb");
        if !db.exists() {
            return vec![];
        }
        let c = duck(&db);
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if n == 0 {
            return vec![];
        }
        let mut st = c.prepare("SELECT id FROM t ORDER BY id").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }
    fn checkpoint(&self) -> Option<serde_json::Value> {
        let db = self.p.join("w.duckdb");
        if !db.exists() {
            return None;
        }
        // (No state table yet, or no row for `t`: no checkpoint.)
        let text: Option<String> = duck(&db)
            .query_row(
                "SELECT checkpoint FROM _hygge_state WHERE table_name = 't'",
                [],
                |r| r.get(0),
            )
            .ok();
        text.map(|t| serde_json::from_str(&t).unwrap())
    }
    fn points(&self) -> &'static [&'static str] {
        &[
            "flow.publish",
            "duckdb.write",
            "duckdb.publish",
            "journal.append",
        ]
    }
}

/// DuckDB home (an integer watermark, compared in DuckDB), Parquet store.
#[cfg(feature = "duckdb")]
struct DuckHome {
    p: Project,
}

#[cfg(feature = "duckdb")]
impl Subject for DuckHome {
    fn dir(&self) -> &Path {
        self.p.path()
    }
    fn grow(&mut self, rows: &[(i64, i64)], _pair: usize) {
        let c = duck(&self.p.join("src.duckdb"));
        c.execute_batch("CREATE TABLE IF NOT EXISTS t (id BIGINT, w BIGINT)")
            .unwrap();
        let values: Vec<String> = rows.iter().map(|(id, w)| format!("({id}, {w})")).collect();
        if !values.is_empty() {
            c.execute_batch(&format!("INSERT INTO t VALUES {}", values.join(", ")))
                .unwrap();
        }
    }
    fn destination(&self) -> Vec<i64> {
        ids(&read_parquet_dir(&self.p.join("lake/t")))
    }
    fn checkpoint(&self) -> Option<serde_json::Value> {
        file_checkpoint(&self.p.join("lake/t"))
    }
    fn points(&self) -> &'static [&'static str] {
        &[
            "flow.publish",
            "duckdb.home.batch",
            "files.publish",
            "journal.append",
        ]
    }
}

#[cfg(feature = "duckdb")]
#[test]
fn kill_9_at_50_random_points_of_incremental_runs_duckdb_store_loses_and_duplicates_nothing() {
    let p = duck_project("data", "\n  type: duckdb\n  path: w.duckdb");
    campaign("duckdb store", &mut DuckStore { p }, seed(2031));
}

#[cfg(feature = "duckdb")]
#[test]
fn kill_9_at_50_random_points_of_incremental_runs_duckdb_home_loses_and_duplicates_nothing() {
    let p = duck_project(
        "\n  type: duckdb\n  path: src.duckdb\n  batch_size: 7",
        "lake",
    );
    let mut s = DuckHome { p };
    s.grow(&[], 0);
    campaign("duckdb home", &mut s, seed(2032));
}

// ---------------------------------------------------------------------------------------
// kill -9 campaigns on the cloud stores (Azurite, moto: started by scripts/test.sh)
// ---------------------------------------------------------------------------------------

#[cfg(all(feature = "azure", feature = "s3"))]
mod cloud_campaigns {
    use super::*;
    use futures::TryStreamExt;
    use hygge_testkit::cloud;
    use object_store::path::Path as Key;
    use object_store::{ObjectStore, ObjectStoreExt};

    /// The entity folder in the container or bucket.
    const PREFIX: &str = "lake/t";

    /// Parquet home, a cloud store (a few rows a file, so a run copies several files),
    /// read as hygge reads it: the files `_hygge/state.json` lists.
    pub(super) struct Cloud {
        p: Project,
        client: Arc<dyn ObjectStore>,
        rt: tokio::runtime::Runtime,
    }

    impl Cloud {
        /// An `adls` store on Azurite.
        pub(super) fn adls(full_drop: bool) -> Self {
            let rt = runtime();
            let url = cloud::azurite_url();
            let container = cloud::unique_name("kill");
            rt.block_on(cloud::create_container(&url, &container));
            let client = azurite_client(&url, &container);
            let store = format!(
                "\n  type: adls\n  account_url: {url}\n  filesystem: {container}\n  path: lake/{{entity}}\n  batch_size: 2"
            );
            Self::new(store, client, rt, full_drop)
        }

        /// An `s3` store on moto.
        pub(super) fn s3(full_drop: bool) -> Self {
            let rt = runtime();
            let endpoint = cloud::s3_endpoint();
            let bucket = cloud::unique_name("kill");
            rt.block_on(cloud::create_bucket(&endpoint, &bucket));
            let client = moto_client(&bucket, &endpoint, cloud::S3_SECRET);
            let store = format!(
                "\n  type: s3\n  bucket: {bucket}\n  endpoint: {endpoint}\n  region: us-east-1\n  access_key_id: {}\n  secret_access_key: {}\n  path: lake/{{entity}}\n  batch_size: 2",
                cloud::S3_KEY_ID,
                cloud::S3_SECRET
            );
            Self::new(store, client, rt, full_drop)
        }

        fn new(
            store: String,
            client: Arc<dyn ObjectStore>,
            rt: tokio::runtime::Runtime,
            full_drop: bool,
        ) -> Self {
            let p = Project::new("name: exactly\njournal:\n  path: .hygge_journal\n");
            // A replacing run writes every row: six a file keeps it to a few files.
            let store = if full_drop {
                store.replace("batch_size: 2", "batch_size: 6")
            } else {
                store
            };
            let flow = if full_drop {
                format!("home: data\nstore: {store}\nrun_type: full_drop\nentities: [t]\n")
            } else {
                flow_yml("data", &store, "")
            };
            p.write("flows/f/flow.yml", &flow);
            Cloud { p, client, rt }
        }

        fn get(
            &self,
            name: &str,
        ) -> Option<impl parquet::file::reader::ChunkReader + AsRef<[u8]> + 'static> {
            let key = Key::from(format!("{PREFIX}/{name}"));
            self.rt.block_on(async {
                match self.client.get(&key).await {
                    Ok(g) => Some(g.bytes().await.unwrap()),
                    Err(object_store::Error::NotFound { .. }) => None,
                    Err(e) => panic!("{key}: {e}"),
                }
            })
        }

        fn state(&self) -> Option<serde_json::Value> {
            self.get("_hygge/state.json")
                .map(|b| serde_json::from_slice(b.as_ref()).unwrap())
        }

        /// Every object in the entity folder (names relative to it).
        fn listing(&self) -> Vec<String> {
            let mut names: Vec<String> = self.rt.block_on(async {
                self.client
                    .list(Some(&Key::from(PREFIX)))
                    .map_ok(|m| m.location.as_ref()[PREFIX.len() + 1..].to_string())
                    .try_collect()
                    .await
                    .unwrap()
            });
            names.sort();
            names
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    impl Subject for Cloud {
        fn dir(&self) -> &Path {
            self.p.path()
        }
        fn grow(&mut self, rows: &[(i64, i64)], pair: usize) {
            write_parquet(
                &self.p.join(&format!("data/t/part-{pair:04}.parquet")),
                &[rows_batch(rows)],
            );
        }
        /// What a reader going by the state sees: the files it lists (each must be there).
        fn destination(&self) -> Vec<i64> {
            let Some(state) = self.state() else {
                return vec![];
            };
            let mut batches = vec![];
            for f in state["files"].as_array().unwrap() {
                let f = f.as_str().unwrap();
                let bytes = self
                    .get(f)
                    .unwrap_or_else(|| panic!("{f}, listed in the state, is missing: {state}"));
                batches.extend(
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                        .unwrap()
                        .build()
                        .unwrap()
                        .map(Result::unwrap),
                );
            }
            ids(&batches)
        }
        fn checkpoint(&self) -> Option<serde_json::Value> {
            self.state().map(|s| s["checkpoint"].clone())
        }
        fn points(&self) -> &'static [&'static str] {
            &[
                "flow.publish",
                "cloud.staged",
                "cloud.copied",
                "cloud.publish",
                "cloud.committed",
                "journal.append",
            ]
        }
        /// After a normal run the folder holds the state and the files it lists, nothing
        /// else: no staging, no lock, no uncommitted copy, no replaced file.
        fn check_tidy(&self, ctx: &str) {
            let state = self.state().expect("a state");
            let mut want: Vec<String> = state["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect();
            want.push("_hygge/state.json".into());
            want.sort();
            assert_eq!(
                self.listing(),
                want,
                "{ctx}: the folder after the normal run"
            );
        }
    }

    /// The mirrored database, its table folder (as Fabric reads it) and hygge's folder for
    /// that table (state, lock, staging).
    const MIRROR: &str = "0f1e2d3c-kill";
    const TABLE: &str = "0f1e2d3c-kill/Files/LandingZone/t";
    const OWN: &str = "0f1e2d3c-kill/Files/_hygge/t";

    /// Parquet home, an `open_mirroring` store on Azurite (sequential file detection, a few
    /// rows a file, so a run moves several files into place after its commit), read as
    /// Fabric reads it: every data file in the table folder.
    pub(super) struct OpenMirroring {
        p: Project,
        client: Arc<dyn ObjectStore>,
        rt: tokio::runtime::Runtime,
        full_drop: bool,
        /// The data files (name, size) after the last normal run.
        published: std::cell::RefCell<Vec<(String, u64)>>,
    }

    impl OpenMirroring {
        pub(super) fn new(full_drop: bool) -> Self {
            let rt = runtime();
            let url = cloud::azurite_url();
            let container = cloud::unique_name("omkill");
            rt.block_on(cloud::create_container(&url, &container));
            let client = azurite_client(&url, &container);
            // A replacing run writes every row: six a file keeps it to a few files; an
            // incremental run writes 1 to 4 rows, one a file.
            let batch = if full_drop { 6 } else { 1 };
            let store = format!(
                "\n  type: open_mirroring\n  account_url: {url}\n  filesystem: {container}\n  mirror_name: {MIRROR}\n  credential: managed_identity\n  key_columns: id\n  row_marker: 4\n  file_detection: sequential\n  batch_size: {batch}\n  folder_deletion_wait_seconds: 0"
            );
            let p = Project::new("name: exactly\njournal:\n  path: .hygge_journal\n");
            let flow = if full_drop {
                format!("home: data\nstore: {store}\nrun_type: full_drop\nentities: [t]\n")
            } else {
                flow_yml("data", &store, "")
            };
            p.write("flows/f/flow.yml", &flow);
            OpenMirroring {
                p,
                client,
                rt,
                full_drop,
                published: Default::default(),
            }
        }

        /// Every object below `prefix` (names relative to it, sorted) and its size.
        fn listing(&self, prefix: &str) -> Vec<(String, u64)> {
            let mut names: Vec<(String, u64)> = self.rt.block_on(async {
                self.client
                    .list(Some(&Key::from(prefix)))
                    .map_ok(|m| (m.location.as_ref()[prefix.len() + 1..].to_string(), m.size))
                    .try_collect()
                    .await
                    .unwrap()
            });
            names.sort();
            names
        }

        fn get(&self, key: &str) -> Option<bytes::Bytes> {
            let key = Key::from(key);
            self.rt.block_on(async {
                match self.client.get(&key).await {
                    Ok(g) => Some(g.bytes().await.unwrap()),
                    Err(object_store::Error::NotFound { .. }) => None,
                    Err(e) => panic!("{key}: {e}"),
                }
            })
        }

        fn state(&self) -> Option<serde_json::Value> {
            self.get(&format!("{OWN}/state.json"))
                .map(|b| serde_json::from_slice(&b).unwrap())
        }

        /// The data files of the table folder: every object but `_metadata.json` and
        /// `_schema.json` (anything else there is a data file to Fabric).
        fn data_files(&self) -> Vec<(String, u64)> {
            self.listing(TABLE)
                .into_iter()
                .filter(|(n, _)| n != "_metadata.json" && n != "_schema.json")
                .collect()
        }

        fn read(&self, name: &str) -> Vec<RecordBatch> {
            let bytes = self
                .get(&format!("{TABLE}/{name}"))
                .unwrap_or_else(|| panic!("{name}, listed, is gone"));
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                .unwrap_or_else(|e| panic!("{name} is not Parquet: {e}"))
                .build()
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
    }

    impl Subject for OpenMirroring {
        fn dir(&self) -> &Path {
            self.p.path()
        }
        fn grow(&mut self, rows: &[(i64, i64)], pair: usize) {
            write_parquet(
                &self.p.join(&format!("data/t/part-{pair:04}.parquet")),
                &[rows_batch(rows)],
            );
        }
        /// What Fabric sees: the ids of every data file in the table folder.
        fn destination(&self) -> Vec<i64> {
            let batches: Vec<RecordBatch> = self
                .data_files()
                .iter()
                .flat_map(|(n, _)| self.read(n))
                .collect();
            ids(&batches)
        }
        fn checkpoint(&self) -> Option<serde_json::Value> {
            self.state()
                .map(|s| s["checkpoint"].clone())
                .filter(|c| !c.is_null())
        }
        fn in_flight(&self) -> Option<bool> {
            let state = self.state()?;
            let pending = &state["pending"];
            (!pending.is_null()).then(|| {
                pending["rebuild"]
                    .as_bool()
                    .unwrap_or_else(|| panic!("pending.rebuild: {state}"))
            })
        }
        /// Files land one by one, in order: the data files in the table folder are numbered
        /// with no gap (an append's from 1; a rebuild shows what is left of the old files,
        /// deleted in order, or the first of the new ones).
        fn check_mid_publish(&self, ctx: &str) {
            let seqs: Vec<u64> = (self.data_files().iter())
                .map(|(n, _)| {
                    (n.strip_suffix(".parquet").and_then(|s| s.parse().ok()))
                        .unwrap_or_else(|| panic!("{ctx}: after the kill, {n} in the table folder"))
                })
                .collect();
            let from = match self.in_flight() {
                Some(false) => 1,
                _ => seqs.first().copied().unwrap_or(1),
            };
            let want: Vec<u64> = (from..from + seqs.len() as u64).collect();
            assert_eq!(
                seqs, want,
                "{ctx}: after the kill, mid-publish, the data files have a gap"
            );
        }
        fn points(&self) -> &'static [&'static str] {
            if self.full_drop {
                // A rebuild moves _metadata.json and _schema.json first: the 3rd move is
                // the first data file's.
                &[
                    "flow.publish",
                    "om.staged",
                    "om.committed",
                    "om.deleted",
                    "om.moved@1",
                    "om.moved@3",
                    "journal.append",
                ]
            } else {
                &[
                    "flow.publish",
                    "om.staged",
                    "om.committed",
                    "om.moved",
                    "journal.append",
                ]
            }
        }
        /// After a normal run the table folder holds `_metadata.json`, `_schema.json` and
        /// data files numbered 1, 2, ... with no gap (a rebuild starts again at 1; an
        /// incremental run keeps every file there and numbers its own after them), each
        /// non-empty, `__rowMarker__` (4) its last column; hygge's folder holds only the
        /// state, with no publish pending and `last_sequence` the last file's.
        fn check_tidy(&self, ctx: &str) {
            let all = self.listing(TABLE);
            let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
            assert!(
                names.contains(&"_metadata.json") && names.contains(&"_schema.json"),
                "{ctx}: the table folder after the normal run: {names:?}"
            );
            let files = self.data_files();
            let mut seqs = vec![];
            for (name, _) in &files {
                let seq = name
                    .strip_suffix(".parquet")
                    .filter(|s| s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()))
                    .unwrap_or_else(|| {
                        panic!("{ctx}: {name} in the table folder is not a 20-digit data file name")
                    });
                seqs.push(seq.parse::<u64>().unwrap());
                let batches = self.read(name);
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                assert!(rows > 0, "{ctx}: {name} is empty");
                for b in &batches {
                    let schema = b.schema();
                    let n = schema.fields().len();
                    assert_eq!(
                        schema.field(n - 1).name(),
                        "__rowMarker__",
                        "{ctx}: {name}: the last column"
                    );
                    let markers = b
                        .column(n - 1)
                        .as_any()
                        .downcast_ref::<arrow::array::Int32Array>()
                        .unwrap_or_else(|| panic!("{ctx}: {name}: __rowMarker__ is not int32"));
                    assert!(
                        markers.iter().all(|m| m == Some(4)),
                        "{ctx}: {name}: __rowMarker__ {markers:?}"
                    );
                }
            }
            seqs.sort();
            let want: Vec<u64> = (1..=seqs.len() as u64).collect();
            assert_eq!(
                seqs, want,
                "{ctx}: the data files must be numbered 1, 2, ... with no gap and none twice"
            );
            if !self.full_drop {
                // An append never renames, replaces or removes a file already published.
                let before = self.published.borrow();
                let gone: Vec<&(String, u64)> =
                    before.iter().filter(|f| !files.contains(f)).collect();
                assert!(
                    gone.is_empty(),
                    "{ctx}: published files gone or changed by an incremental run: {gone:?}"
                );
            }
            *self.published.borrow_mut() = files;
            let own: Vec<String> = self.listing(OWN).into_iter().map(|(n, _)| n).collect();
            assert_eq!(
                own,
                ["state.json"],
                "{ctx}: hygge's folder after the normal run (no staging, no lock)"
            );
            let state = self.state().unwrap();
            assert!(state["pending"].is_null(), "{ctx}: {state}");
            assert_eq!(
                state["last_sequence"].as_u64(),
                seqs.last().copied(),
                "{ctx}: the state's last_sequence: {state}"
            );
        }
    }
}

#[cfg(all(feature = "azure", feature = "s3"))]
#[test]
fn kill_9_at_random_points_of_incremental_runs_open_mirroring_on_azurite_loses_and_duplicates_nothing()
 {
    campaign_of(
        20,
        "open_mirroring incremental",
        &mut cloud_campaigns::OpenMirroring::new(false),
        seed(2035),
    );
}

#[cfg(all(feature = "azure", feature = "s3"))]
#[test]
fn kill_9_at_random_points_of_full_drop_runs_open_mirroring_on_azurite_shows_old_or_new() {
    campaign_of(
        20,
        "open_mirroring full_drop",
        &mut cloud_campaigns::OpenMirroring::new(true),
        seed(2036),
    );
}

#[cfg(all(feature = "azure", feature = "s3"))]
#[test]
fn kill_9_at_random_points_of_incremental_runs_adls_on_azurite_loses_and_duplicates_nothing() {
    campaign_of(
        20,
        "adls incremental",
        &mut cloud_campaigns::Cloud::adls(false),
        seed(2031),
    );
}

#[cfg(all(feature = "azure", feature = "s3"))]
#[test]
fn kill_9_at_random_points_of_full_drop_runs_adls_on_azurite_shows_old_or_new() {
    campaign_of(
        20,
        "adls full_drop",
        &mut cloud_campaigns::Cloud::adls(true),
        seed(2032),
    );
}

#[cfg(all(feature = "azure", feature = "s3"))]
#[test]
fn kill_9_at_random_points_of_incremental_runs_s3_on_moto_loses_and_duplicates_nothing() {
    campaign_of(
        20,
        "s3 incremental",
        &mut cloud_campaigns::Cloud::s3(false),
        seed(2033),
    );
}

#[cfg(all(feature = "azure", feature = "s3"))]
#[test]
fn kill_9_at_random_points_of_full_drop_runs_s3_on_moto_shows_old_or_new() {
    campaign_of(
        20,
        "s3 full_drop",
        &mut cloud_campaigns::Cloud::s3(true),
        seed(2034),
    );
}

// ---------------------------------------------------------------------------------------
// The inclusive boundary, by default
// ---------------------------------------------------------------------------------------

/// Rows written and read by one `hygge go --output json`.
fn go_rows(p: &Project) -> (u64, u64) {
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let f = &report["report"]["flows"][0];
    (
        f["rows_read"].as_u64().unwrap(),
        f["rows_written"].as_u64().unwrap(),
    )
}

#[test]
fn late_rows_that_tie_the_boundary_are_loaded_with_the_default_configuration_files() {
    let p = Project::new("name: ties\njournal:\n  path: .hygge_journal\n");
    // No `boundary:` key.
    p.write("flows/f/flow.yml", &flow_yml("data", "lake", ""));
    write_parquet(
        &p.join("data/t/a.parquet"),
        &[rows_batch(&[(1, 10), (2, 20), (3, 30)])],
    );
    assert_eq!(go_rows(&p), (3, 3));
    // Late rows at the newest watermark already loaded (30), new ids.
    write_parquet(
        &p.join("data/t/b.parquet"),
        &[rows_batch(&[(4, 30), (5, 30)])],
    );
    assert_eq!(go_rows(&p), (2, 2), "exactly the two late rows");
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/t"))),
        vec![1, 2, 3, 4, 5]
    );
    // Again, with a row after it too; then nothing new.
    write_parquet(
        &p.join("data/t/c.parquet"),
        &[rows_batch(&[(6, 30), (7, 31)])],
    );
    assert_eq!(go_rows(&p), (2, 2));
    assert_eq!(go_rows(&p), (0, 0));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/t"))),
        (1..=7).collect::<Vec<_>>()
    );
}

#[test]
fn late_rows_that_tie_the_boundary_are_loaded_with_the_default_configuration_postgres_home() {
    let s = PgHome::new("ties");
    s.insert(&[(1, 10), (2, 20), (3, 30)]);
    assert_eq!(go_rows(&s.p), (3, 3));
    s.insert(&[(4, 30), (5, 30)]);
    assert_eq!(go_rows(&s.p), (2, 2), "exactly the two late rows");
    s.insert(&[(6, 30), (7, 31)]);
    assert_eq!(go_rows(&s.p), (2, 2));
    assert_eq!(go_rows(&s.p), (0, 0));
    assert_eq!(
        ids(&read_parquet_dir(&s.p.join("lake/t"))),
        (1..=7).collect::<Vec<_>>()
    );
}

/// The original's journal: its 18 columns, one successful incremental run of `f.t` that
/// stopped at `w = 30` (no exact columns, no boundary keys).
fn write_original_journal(dir: &Path) {
    let text = |name: &str, v: Option<&str>| {
        (
            Field::new(name, DataType::Utf8, true),
            Arc::new(StringArray::from(vec![v])) as ArrayRef,
        )
    };
    let columns = vec![
        text("entity_run_id", Some("orig-1")),
        text("coordinator_run_id", Some("orig-c")),
        text("flow_run_id", Some("orig-f")),
        text("coordinator", Some("ties")),
        text("flow", Some("f")),
        text("entity", Some("t")),
        text("start_time", Some("2024-01-01T16:38:00.500000")),
        text("finish_time", Some("2024-01-01T16:39:00.123456")),
        text("status", Some("success")),
        text("run_type", Some("incremental")),
        (
            Field::new("row_count", DataType::Int64, true),
            Arc::new(Int64Array::from(vec![3])) as ArrayRef,
        ),
        (
            Field::new("duration", DataType::Float64, true),
            Arc::new(Float64Array::from(vec![1.5])) as ArrayRef,
        ),
        text("primary_key", Some("id")),
        text("watermark_column", Some("w")),
        text("watermark_type", Some("int")),
        text("watermark", Some("30")),
        text("message", None),
        text("schema_version", Some("1.0")),
    ];
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    write_parquet(&dir.join("journal.parquet"), &[batch]);
}

/// A destination the original wrote (no checkpoint) and its journal (no boundary keys): the
/// first run reads strictly after the journal's watermark (it cannot know which rows at it
/// were written), and records the keys; from then on the boundary is inclusive.
#[test]
fn the_originals_journal_is_followed_strictly_once_then_inclusively() {
    let p = Project::new("name: ties\njournal:\n  path: .hygge_journal\n");
    // Two rows at the journal's watermark 30: an inclusive read without their keys would
    // load them again.
    write_parquet(
        &p.join("data/t/a.parquet"),
        &[rows_batch(&[(1, 10), (2, 30), (3, 30)])],
    );
    // The destination as the original left it: the data files, no state file.
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore: lake\nrun_type: full_drop\nentities: [t]\n",
    );
    let out = p.run(&["go", "-q"]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::remove_file(p.join("lake/t").join(STATE_FILE)).unwrap();
    write_original_journal(&p.join(".hygge_journal"));

    p.write("flows/f/flow.yml", &flow_yml("data", "lake", ""));
    let plan = text(&p.run(&["go", "--dry-run"]));
    assert!(plan.contains("rows with w > 30"), "strict: {plan}");
    write_parquet(
        &p.join("data/t/b.parquet"),
        &[rows_batch(&[(4, 40), (5, 40)])],
    );
    assert_eq!(go_rows(&p), (2, 2), "no row at 30 again");
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/t"))),
        vec![1, 2, 3, 4, 5]
    );
    // From now on, inclusive: a late row at 40 is read, the two at 40 are not.
    let plan = text(&p.run(&["go", "--dry-run"]));
    assert!(
        plan.contains("rows with w >= 40 (less 2 already written at it)"),
        "{plan}"
    );
    write_parquet(&p.join("data/t/c.parquet"), &[rows_batch(&[(6, 40)])]);
    assert_eq!(go_rows(&p), (1, 1));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/t"))),
        (1..=6).collect::<Vec<_>>()
    );
    let entries = journal(&p.join(".hygge_journal"));
    assert_eq!(entries.len(), 3, "{entries:#?}");
    assert_eq!(
        entries[2].watermark_boundary_keys.as_deref(),
        Some(r#"["4","5","6"]"#)
    );
}

// ---------------------------------------------------------------------------------------
// Many rows at one watermark value
// ---------------------------------------------------------------------------------------

#[test]
fn many_rows_at_one_watermark_value_stay_cheap() {
    const N: i64 = 200_000;
    let p = Project::new("name: many\njournal:\n  path: .hygge_journal\n");
    p.write("flows/f/flow.yml", &flow_yml("data", "lake", ""));
    let rows: Vec<(i64, i64)> = (0..N).map(|i| (i, 7)).collect();
    write_parquet(&p.join("data/t/a.parquet"), &[rows_batch(&rows)]);
    assert_eq!(go_rows(&p), (N as u64, N as u64));
    // Ten late rows at the same value: exactly those are appended.
    let late: Vec<(i64, i64)> = (N..N + 10).map(|i| (i, 7)).collect();
    write_parquet(&p.join("data/t/b.parquet"), &[rows_batch(&late)]);
    assert_eq!(go_rows(&p), (10, 10));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/t"))),
        (0..N + 10).collect::<Vec<_>>()
    );
    assert_eq!(go_rows(&p), (0, 0));

    // The journal lists keys only up to 1,000 rows at the watermark: its file stays small.
    let entries = journal(&p.join(".hygge_journal"));
    assert_eq!(entries.len(), 3);
    assert!(
        entries.iter().all(|e| e.watermark_boundary_keys.is_none()),
        "{entries:#?}"
    );
    let journal_bytes = std::fs::metadata(p.join(".hygge_journal/journal.parquet"))
        .unwrap()
        .len();
    assert!(journal_bytes < 32 << 10, "journal of {journal_bytes} bytes");

    // The state file holds a 16-byte fingerprint a key (base64), not the keys' text.
    let dir = p.join("lake/t");
    let boundary = &state(&dir)["checkpoint"]["watermark"]["boundary"];
    let keys = (N + 10) as usize;
    assert_eq!(
        boundary["rows"].as_u64(),
        Some(keys as u64),
        "{boundary:.200}"
    );
    assert!(boundary.get("keys").is_none(), "keys listed as text");
    let hashes = boundary["hashes"].as_str().expect("fingerprints");
    assert_eq!(
        hashes.len(),
        (keys * 16).div_ceil(3) * 4,
        "base64 of 16 bytes a key"
    );
    let state_bytes = std::fs::metadata(dir.join(STATE_FILE)).unwrap().len() as usize;
    assert!(
        state_bytes < hashes.len() + 4096,
        "state file of {state_bytes} bytes for {keys} keys"
    );
}

// ---------------------------------------------------------------------------------------
// Reloads into a PostgreSQL table with `if_exists: append` (review M3)
// ---------------------------------------------------------------------------------------

#[test]
fn a_changed_watermark_column_or_full_drop_replaces_a_postgres_table_even_with_if_exists_append() {
    let s = PgStore::new("append_reload", "\n  if_exists: append");
    let source =
        |from: i64, n: i64| -> Vec<(i64, i64)> { (from..from + n).map(|i| (i, i / 10)).collect() };
    write_parquet(
        &s.p.join("data/t/a.parquet"),
        &[rows_batch(&source(0, 100))],
    );
    let run = |args: &[&str]| {
        let out = s.p.run(args);
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
    };
    run(&["go"]);
    assert_eq!(pg_ids(&s.db, "public.t"), (0..100).collect::<Vec<_>>());

    // The watermark column changes (the journal says so at planning): a replacing reload.
    s.p.write(
        "flows/f/flow.yml",
        &flow_yml("data", &format!("{PG_STORE}\n  if_exists: append"), "")
            .replace("watermark_column: w", "watermark_column: id"),
    );
    let log = run(&["go"]);
    assert!(log.contains("the watermark changed"), "{log}");
    assert_eq!(
        pg_ids(&s.db, "public.t"),
        (0..100).collect::<Vec<_>>(),
        "reloaded, not appended: {log}"
    );

    // --full-drop: the same.
    run(&["go", "--full-drop"]);
    assert_eq!(pg_ids(&s.db, "public.t"), (0..100).collect::<Vec<_>>());

    // Then incremental runs append again.
    write_parquet(
        &s.p.join("data/t/b.parquet"),
        &[rows_batch(&source(100, 10))],
    );
    run(&["go"]);
    assert_eq!(pg_ids(&s.db, "public.t"), (0..110).collect::<Vec<_>>());

    // Without the journal, the destination's checkpoint tells the change: the same reload.
    std::fs::remove_dir_all(s.p.join(".hygge_journal")).unwrap();
    s.p.write(
        "flows/f/flow.yml",
        &flow_yml("data", &format!("{PG_STORE}\n  if_exists: append"), ""),
    );
    let log = run(&["go"]);
    assert!(log.contains("watermark_column `id`"), "{log}");
    assert_eq!(
        pg_ids(&s.db, "public.t"),
        (0..110).collect::<Vec<_>>(),
        "reloaded, not appended: {log}"
    );
    assert_eq!(
        pg_checkpoint(&s.db).unwrap()["watermark"]["column"],
        "w",
        "the new checkpoint is for the new column"
    );
}

// ---------------------------------------------------------------------------------------
// A replace waits a bounded time for locks (review M7)
// ---------------------------------------------------------------------------------------

#[test]
fn a_replace_waits_a_bounded_time_for_locks_and_never_blocks_readers_for_long() {
    let db = TestDb::create("lock_wait");
    let p = pg_project(&db);
    p.write(
        "flows/f/flow.yml",
        &format!(
            "home: data\nstore:{PG_STORE}\n  table: public.target\n  lock_timeout: 3\nrun_type: full_drop\nentities: [t]\n"
        ),
    );
    write_parquet(&p.join("data/t/a.parquet"), &[batch(0, 10)]);
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(pg_ids(&db, "public.target"), (0..10).collect::<Vec<_>>());
    write_parquet(&p.join("data/t/a.parquet"), &[batch(100, 20)]);

    // A second session reads the table in an open transaction: it holds a lock a DROP
    // must wait for.
    let holder = db.session();
    holder
        .query("BEGIN; SELECT 1 FROM public.target LIMIT 1")
        .unwrap();
    let started = Instant::now();
    let mut child = hygge()
        .arg("go")
        .current_dir(p.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // hygge's DROP waits for that lock.
    let deadline = Instant::now() + Duration::from_secs(20);
    while admin_query(&format!(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE d.datname = '{}' AND NOT l.granted",
        db.name
    ))[0][0]
        .as_deref()
        == Some("0")
    {
        assert!(Instant::now() < deadline, "hygge never waited for the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A third session reads meanwhile: it queues behind hygge's lock request, which gives
    // way within one attempt (2 s), well before this reader's statement_timeout.
    let reader = {
        let conn = db.conn_str();
        std::thread::spawn(move || {
            let s = hygge_testkit::pg::Session::open(&conn);
            let t = Instant::now();
            let r = s.query("SET statement_timeout = '5s'; SELECT count(*) FROM public.target");
            (r, t.elapsed())
        })
    };
    let (count, waited) = reader.join().unwrap();
    let hygge_running = child.try_wait().unwrap().is_none();
    eprintln!("the reader waited {waited:?}");
    assert_eq!(
        count.as_ref().map(|r| r[0][0].clone()),
        Ok(Some("10".to_string())),
        "the reader, after {waited:?}"
    );
    assert!(
        hygge_running,
        "the reader finished only when hygge had given up (after {waited:?})"
    );
    let out = child.wait_with_output().unwrap();
    let took = started.elapsed();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(10),
        "hygge gave up after {took:?}: {log}"
    );
    assert!(log.contains("lock_timeout"), "{log}");
    assert_eq!(
        pg_ids(&db, "public.target"),
        (0..10).collect::<Vec<_>>(),
        "the target is unchanged"
    );
    let leftovers = db.query(
        "SELECT c.relname FROM pg_class c WHERE c.relname LIKE '%hygge%' AND c.relkind = 'r' ORDER BY 1",
    );
    assert_eq!(
        leftovers,
        vec![vec![Some("_hygge_state".to_string())]],
        "staging tables left"
    );

    // Released: the next run replaces the table.
    holder.query("ROLLBACK").unwrap();
    drop(holder);
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(pg_ids(&db, "public.target"), (100..120).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------
// A journal that cannot be written (review M2)
// ---------------------------------------------------------------------------------------

/// Whether a folder with mode 0555 refuses new files to this process (not when it runs as
/// root, or with CAP_DAC_OVERRIDE).
fn read_only_is_enforced(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join("probe");
    std::fs::create_dir_all(&probe).unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o555)).unwrap();
    let enforced = std::fs::write(probe.join("x"), b"x").is_err();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::remove_dir_all(&probe).unwrap();
    enforced
}

#[test]
fn a_journal_that_cannot_be_written_fails_the_run_and_the_next_run_records_it() {
    use std::os::unix::fs::PermissionsExt;
    let p = Project::new("name: nojournal\njournal:\n  path: .hygge_journal\n");
    p.write("flows/f/flow.yml", &flow_yml("data", "lake", ""));
    write_parquet(
        &p.join("data/t/a.parquet"),
        &[rows_batch(&[(1, 10), (2, 20)])],
    );
    assert_eq!(go_rows(&p), (2, 2));
    write_parquet(
        &p.join("data/t/b.parquet"),
        &[rows_batch(&[(3, 20), (4, 30)])],
    );

    let journal_dir = p.join(".hygge_journal");
    let chmod = |mode: u32| {
        std::fs::set_permissions(&journal_dir, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let mut cmd = hygge();
    cmd.arg("go").current_dir(p.path());
    let enforced = read_only_is_enforced(p.path());
    if enforced {
        chmod(0o555);
    } else {
        // Running as root: a read-only folder does not stop writes, so the append is made
        // to fail at the same place by its failpoint instead.
        cmd.env("HYGGE_FAILPOINTS", "journal.append=error");
    }
    let out = cmd.output().unwrap();
    if enforced {
        chmod(0o755);
    }
    let log = text(&out);
    eprintln!(
        "the journal was made unwritable by {}:\n{log}",
        if enforced {
            "chmod 0555"
        } else {
            "failpoint journal.append=error (running as root)"
        }
    );
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("f_t: published, but its journal entry could not be written"),
        "{log}"
    );
    // The summary says so too, and does not call the run a success.
    assert!(
        log.contains("JOURNAL f_t: published, but its journal entry could not be written"),
        "{log}"
    );
    assert!(!log.contains("All flows completed successfully"), "{log}");
    // The data is published, with its checkpoint; the journal lacks the entry.
    assert_eq!(ids(&read_parquet_dir(&p.join("lake/t"))), vec![1, 2, 3, 4]);
    assert_eq!(journal(&journal_dir).len(), 1);

    // The next run neither repeats nor skips a row, and records the missing entry.
    write_parquet(&p.join("data/t/c.parquet"), &[rows_batch(&[(5, 30)])]);
    assert_eq!(go_rows(&p), (1, 1));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/t"))),
        vec![1, 2, 3, 4, 5]
    );
    let entries = journal(&journal_dir);
    assert_eq!(entries.len(), 3, "{entries:#?}");
    let recovered = &entries[1];
    assert_eq!(
        (recovered.status.as_str(), recovered.row_count),
        ("success", 2),
        "{recovered:?}"
    );
    assert!(
        recovered
            .message
            .as_deref()
            .is_some_and(|m| m.contains(RECOVERED)),
        "{recovered:?}"
    );
    assert_eq!(recovered.watermark.as_deref(), Some("30"));
    assert_eq!(
        (entries[2].status.as_str(), entries[2].row_count),
        ("success", 1)
    );
}

// ---------------------------------------------------------------------------------------
// A timeout while publishing (review H4)
// ---------------------------------------------------------------------------------------

/// `timeout` limits reading and staging; once publishing has begun it runs to the end and
/// the run reports what happened. Here the file store's publish is held up (just before its
/// swap) past the 1 s timeout: the run succeeds, its rows are there, its journal entry too.
#[test]
fn a_timeout_during_publishing_reports_the_truth_through_the_binary() {
    let p = Project::new("name: slow\njournal:\n  path: .hygge_journal\n");
    p.write(
        "flows/f/flow.yml",
        &flow_yml("data", "lake", "timeout: 1\n"),
    );
    write_parquet(
        &p.join("data/t/a.parquet"),
        &[rows_batch(&[(1, 10), (2, 20)])],
    );
    let started = Instant::now();
    let out = hygge()
        .args(["go", "--output", "json"])
        .env("HYGGE_FAILPOINTS", "files.publish=sleep(2000)")
        .current_dir(p.path())
        .output()
        .unwrap();
    let log = text(&out);
    assert!(log.contains("failpoint files.publish: sleeping"), "{log}");
    assert!(started.elapsed() >= Duration::from_secs(2), "{log}");
    assert_eq!(out.status.code(), Some(0), "{log}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let flow = &report["report"]["flows"][0];
    assert_eq!(flow["status"], "success", "{flow}");
    assert_eq!(flow["rows_written"], 2, "{flow}");
    assert_eq!(ids(&read_parquet_dir(&p.join("lake/t"))), vec![1, 2]);
    let entries = journal(&p.join(".hygge_journal"));
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(
        (entries[0].status.as_str(), entries[0].row_count),
        ("success", 2)
    );
    // The next run starts after them.
    assert_eq!(go_rows(&p), (0, 0));
}

/// Two runs in a row publish and fail to journal (a journal on a full or read-only disk for
/// a while, or two crashes in that window): the checkpoint carries the runs before it, so
/// the next good run records both.
#[test]
fn every_publish_is_journaled_even_when_the_journal_fails_twice_in_a_row() {
    let p = Project::new("name: twice\njournal:\n  path: .hygge_journal\n");
    p.write("flows/f/flow.yml", &flow_yml("data", "lake", ""));
    write_parquet(&p.join("data/t/a.parquet"), &[rows_batch(&[(1, 10)])]);
    assert_eq!(go_rows(&p), (1, 1));
    for (part, rows) in [("b", [(2, 20)]), ("c", [(3, 30)])] {
        write_parquet(
            &p.join(&format!("data/t/{part}.parquet")),
            &[rows_batch(&rows)],
        );
        let out = hygge()
            .arg("go")
            .env("HYGGE_FAILPOINTS", "journal.append=error")
            .current_dir(p.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    }
    assert_eq!(go_rows(&p), (0, 0));
    assert_eq!(ids(&read_parquet_dir(&p.join("lake/t"))), vec![1, 2, 3]);
    let successes: Vec<i64> = journal(&p.join(".hygge_journal"))
        .iter()
        .filter(|e| e.status == "success")
        .map(|e| e.row_count)
        .collect();
    assert_eq!(
        successes,
        vec![1, 1, 1],
        "one success entry for each of the three runs that published"
    );
}
