//! hygge deletes only what it wrote: store paths that would replace the project, the
//! home's data or someone else's files are refused before anything is touched, and
//! entities never touch each other's staging (review H1, H2, M8, L4).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// Every file below `dir` (relative path -> bytes), hidden ones included.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A project with source data and a flow without entities whose store path is `store`.
fn implicit_project(store: &str) -> Project {
    let p = Project::new("name: safe\n");
    write_parquet(&p.join("data/users.parquet"), &[batch(0, 10)]);
    p.write(
        "flows/export/flow.yml",
        &format!("home: data/users.parquet\nstore:\n  type: parquet\n  path: \"{store}\"\n"),
    );
    p
}

/// The review's reproduction: `path: "${OUT}"` with OUT set to an empty string replaced
/// the whole project folder with the output and said "All flows completed successfully!".
#[test]
fn an_empty_store_path_is_a_configuration_error_and_the_project_is_untouched() {
    for path in ["${OUT}", "${OUT:-}", "  "] {
        let p = implicit_project(path);
        let before = snapshot(p.path());
        let out = hygge()
            .args(["go"])
            .env("OUT", "")
            .current_dir(p.path())
            .output()
            .unwrap();
        let t = stderr(&out) + &stdout(&out);
        assert_eq!(out.status.code(), Some(2), "{path}: {t}");
        assert!(
            t.contains("store.path") && t.contains("is empty"),
            "{path}: {t}"
        );
        assert!(!t.contains("completed successfully"), "{t}");
        let after = snapshot(p.path());
        // The run may write its log file; nothing else may change.
        let strip = |m: BTreeMap<PathBuf, Vec<u8>>| {
            m.into_iter()
                .filter(|(k, _)| !k.starts_with("logs"))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(strip(before), strip(after), "{path}: the project changed");
    }
}

#[test]
fn a_store_that_would_replace_the_project_or_the_homes_data_is_refused() {
    for (store, says) in [
        (".", "holds this project"),
        ("..", "holds this project"),
        ("data", "holds the data it reads"),
        ("data/users.parquet/x", "inside the folder it reads"),
    ] {
        let p = implicit_project(store);
        let before = snapshot(p.path());
        let out = p.run(&["go"]);
        let t = stderr(&out) + &stdout(&out);
        assert_eq!(out.status.code(), Some(2), "{store}: {t}");
        assert!(t.contains(says), "{store}: {t}");
        assert!(
            t.contains("folder of its own") || t.contains("outside it"),
            "{t}"
        );
        let strip = |m: BTreeMap<PathBuf, Vec<u8>>| {
            m.into_iter()
                .filter(|(k, _)| !k.starts_with("logs"))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(strip(before), strip(snapshot(p.path())), "{store}");
    }
    // Entity flows: the entity folder is `<path>/<entity>`; a store inside the home's
    // entity folder is refused, a sibling of it is fine.
    let p = Project::new("name: safe\n");
    write_parquet(&p.join("data/users/a.parquet"), &[batch(0, 10)]);
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: parquet\n  path: data/users\nentities: [users]\n",
    );
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("inside the folder it reads"),
        "{}",
        stderr(&out)
    );
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: parquet\n  path: data/lake\nentities: [users]\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A store folder holding files hygge did not write is never replaced: the error names
/// the first such file and what to do, and nothing is deleted.
#[test]
fn a_store_folder_with_foreign_files_is_refused_and_nothing_is_deleted() {
    for (foreign, kind) in [
        ("notes.txt", ""),
        ("hygge.yml", ""),
        ("export.csv", ""),
        ("sub", " (a folder)"),
    ] {
        let p = implicit_project("shared");
        let shared = p.join("shared");
        fs::create_dir_all(&shared).unwrap();
        if kind.is_empty() {
            fs::write(shared.join(foreign), "mine").unwrap();
        } else {
            fs::create_dir_all(shared.join(foreign)).unwrap();
            fs::write(shared.join(foreign).join("x"), "mine").unwrap();
        }
        let before = snapshot(&shared);
        for args in [&["go"][..], &["go", "--incremental"][..]] {
            let out = p.run(args);
            let t = stderr(&out) + &stdout(&out);
            assert_eq!(out.status.code(), Some(1), "{foreign} {args:?}: {t}");
            assert!(
                t.contains(&format!(
                    "holds {foreign}{kind}, which this store did not write"
                )),
                "{t}"
            );
            assert!(t.contains(&format!("Move {foreign} out of")), "{t}");
            assert_eq!(before, snapshot(&shared), "{foreign}: nothing touched");
        }
        // The dry run says so too.
        let plan = stdout(&p.run(&["go", "--dry-run"]));
        assert!(plan.contains("refuses to replace"), "{plan}");
    }
}

/// A folder hygge published is replaced freely (its files are listed in its state file),
/// and so is one an older hygge or the original wrote (named as `file_pattern` names
/// them), with the original's journal inside it carried over, never deleted.
#[test]
fn folders_of_hygge_and_of_the_original_are_replaced_and_their_journal_kept() {
    let p = implicit_project("lake/users");
    let dir = p.join("lake/users");
    fs::create_dir_all(dir.join(".hygge_journal")).unwrap();
    fs::write(dir.join(".hygge_journal/journal.parquet"), "history").unwrap();
    write_parquet(&dir.join("00000000000000000001.parquet"), &[batch(100, 3)]);
    write_parquet(&dir.join("00000000000000000002.parquet"), &[batch(103, 3)]);
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ids(&read_parquet_dir(&dir)), (0..10).collect::<Vec<_>>());
    assert_eq!(
        fs::read_to_string(dir.join(".hygge_journal/journal.parquet")).unwrap(),
        "history"
    );
    let st = state(&dir);
    assert_eq!(
        st["files"],
        serde_json::json!(["00000000000000000001.parquet"])
    );
    assert_eq!(st["checkpoint"]["rows"], 10);
    // Again: the state file lists what it may replace.
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Review M8: a store path that is an existing file was swapped into staging, and every
/// later run failed. Now: a clear error, the file untouched, the next run the same.
#[test]
fn a_store_path_that_is_a_file_is_refused_and_stays_where_it_is() {
    let p = implicit_project("out.parquet");
    write_parquet(&p.join("out.parquet"), &[batch(500, 2)]);
    let before = fs::read(p.join("out.parquet")).unwrap();
    for _ in 0..2 {
        let out = p.run(&["go"]);
        let t = stderr(&out) + &stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(
            t.contains("is a file, but the store writes a folder here"),
            "{t}"
        );
        assert_eq!(fs::read(p.join("out.parquet")).unwrap(), before);
    }
}

/// Review L4: entity names that are hygge's own folders or tables.
#[test]
fn reserved_entity_names_are_refused() {
    for name in [".hygge", ".hygge_journal", "_hygge_state"] {
        let p = parquet_project(&[name], "");
        write_parquet(&p.join(&format!("data/{name}/a.parquet")), &[batch(0, 1)]);
        let out = p.run(&["go"]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(stderr(&out).contains("is reserved"), "{}", stderr(&out));
    }
}

/// Review H2 through the binary: one process publishes entity `e.x` slowly (its staging
/// waits complete in `.hygge/staging/`), while another runs entity `e` of the same store.
/// `e` must not delete `e.x`'s staging: `e.x` publishes every row.
#[test]
fn an_entity_never_deletes_the_staging_of_another_whose_name_it_prefixes() {
    let p = parquet_project(&["e", "e.x"], "  batch_size: 10\n");
    write_parquet(&p.join("data/e/a.parquet"), &[batch(0, 5)]);
    write_parquet(&p.join("data/e.x/a.parquet"), &[batch(100, 50)]);
    let slow = hygge()
        .args(["go", "--entity", "f.e.x"])
        .env("HYGGE_FAILPOINTS", "files.publish=sleep(3000)")
        .current_dir(p.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until e.x's run is staged (its staging folder holds its files).
    let staging = p.join("out/.hygge/staging/e.x");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while listing(&staging).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!listing(&staging).is_empty(), "e.x never staged");
    let out = p.run(&["go", "--entity", "f.e"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let slow = slow.wait_with_output().unwrap();
    assert!(slow.status.success(), "{}", stderr(&slow));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/e.x"))),
        (100..150).collect::<Vec<_>>()
    );
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/e"))),
        (0..5).collect::<Vec<_>>()
    );
}

/// The journal of a flow without entities lives beside its store folder (a run replaces
/// the folder whole); one the original kept inside it is still read.
#[test]
fn a_flow_without_entities_keeps_its_journal_beside_its_folder_and_reads_the_originals() {
    let p = Project::new("name: j\njournal:\n  location: store\n");
    write_parquet(&p.join("data/users/a.parquet"), &[batch(0, 10)]);
    p.write(
        "flows/users/flow.yml",
        "home: data/users\nstore:\n  type: parquet\n  path: lake/users\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: id\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(p.join("lake/.hygge_journal/journal.parquet").exists());
    assert!(!p.join("lake/users/.hygge_journal").exists());
    // Rows 10..15 arrive; the checkpoint and the journal agree: only they are added.
    write_parquet(&p.join("data/users/b.parquet"), &[batch(10, 5)]);
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/users"))),
        (0..15).collect::<Vec<_>>()
    );
}

/// Review L3: links to `.` inside a home folder made the walk endless; each folder is
/// entered once, so every row is read once.
#[cfg(unix)]
#[test]
fn links_that_loop_inside_a_home_folder_are_entered_once() {
    let p = parquet_project(&["e"], "");
    write_parquet(&p.join("data/e/a.parquet"), &[batch(0, 7)]);
    std::os::unix::fs::symlink(".", p.join("data/e/loop1")).unwrap();
    std::os::unix::fs::symlink("..", p.join("data/e/loop2")).unwrap();
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/e"))),
        (0..7).collect::<Vec<_>>()
    );
}

/// A damaged state file stops an incremental run (it cannot know where the data ends) with
/// a message that says what to do; `--full-drop` replaces the folder and writes a new one.
#[test]
fn a_damaged_checkpoint_stops_an_incremental_run_and_full_drop_recovers() {
    let p = Project::new("name: j\njournal:\n  path: .hygge_journal\n");
    write_parquet(&p.join("data/t/a.parquet"), &[batch(0, 10)]);
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: parquet\n  path: lake\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: id\nentities: [t]\n",
    );
    assert!(p.run(&["go"]).status.success());
    fs::write(p.join("lake/t").join(STATE_FILE), "{ not json").unwrap();
    let out = p.run(&["go"]);
    let t = stderr(&out) + &stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("checkpoint") && t.contains("--full-drop"), "{t}");
    let out = p.run(&["go", "--full-drop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(state(&p.join("lake/t"))["checkpoint"]["rows"], 10);
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/t"))),
        (0..10).collect::<Vec<_>>()
    );
}
