//! `kill -9` at any moment leaves every entity folder with its old or its new complete
//! files, never a mix; the next run finishes cleanly.

mod common;

use std::time::Instant;

use common::*;

const ENTITIES: [&str; 4] = ["e0", "e1", "e2", "e3"];
const ROWS: usize = 200_000;

fn seed(p: &Project, start: i64) {
    for e in ENTITIES {
        let dir = p.join(&format!("data/{e}"));
        let _ = std::fs::remove_dir_all(&dir);
        // Several source files, so a run spends time in many places.
        for part in 0..4 {
            let n = ROWS / 4;
            write_parquet(
                &dir.join(format!("part-{part}.parquet")),
                &[batch(start + (part * n) as i64, n)],
            );
        }
    }
}

fn state(p: &Project, e: &str, old: i64, new: i64) -> &'static str {
    let got = ids(&read_parquet_dir(&p.join(&format!("out/{e}"))));
    let expect = |s: i64| (s..s + ROWS as i64).collect::<Vec<_>>();
    if got == expect(old) {
        "old"
    } else if got == expect(new) {
        "new"
    } else {
        panic!(
            "entity {e} holds a mix: {} rows, first {:?}",
            got.len(),
            got.first()
        )
    }
}

#[test]
fn kill_9_mid_run_leaves_old_or_new_never_a_mix() {
    let p = parquet_project(&ENTITIES, "  batch_size: 10000\n");
    seed(&p, 0);
    let start = Instant::now();
    let out = p.run(&["go", "--concurrency", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let full = start.elapsed();

    seed(&p, 1_000_000);
    let mut seen_new = 0;
    let mut seen_old = 0;
    // Kill points from 5 % to 300 % of a full run's time: early ones land before anything is
    // published, late ones after (a loaded CI machine may run slower than the calibration).
    for factor in [
        0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.6, 3.0,
    ] {
        let delay = full.mul_f64(factor);
        let mut child = hygge()
            .args(["go", "--concurrency", "2"])
            .current_dir(p.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for e in ENTITIES {
            match state(&p, e, 0, 1_000_000) {
                "old" => seen_old += 1,
                _ => seen_new += 1,
            }
        }
    }
    // Early kills found the old data, late ones the new; a mix was never seen (`state`).
    assert!(
        seen_old > 0 && seen_new > 0,
        "old {seen_old}, new {seen_new}"
    );
    // A final run completes, cleans up and publishes the new data everywhere.
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for e in ENTITIES {
        assert_eq!(state(&p, e, 0, 1_000_000), "new");
    }
    let staging = listing(&p.join("out/.hygge/staging"));
    assert!(staging.is_empty(), "staging leftovers: {staging:?}");
}

#[test]
fn ctrl_c_stops_the_run_and_publishes_nothing_half_done() {
    let p = parquet_project(&ENTITIES, "  batch_size: 10000\n");
    seed(&p, 0);
    let start = Instant::now();
    assert!(p.run(&["go", "--concurrency", "2"]).status.success());
    let full = start.elapsed();
    seed(&p, 1_000_000);
    let child = hygge()
        .args(["go", "--concurrency", "2", "--output", "json"])
        .current_dir(p.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(full.mul_f64(0.3));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("a report even when interrupted");
    let flows = report["report"]["flows"].as_array().unwrap();
    let cancelled = flows
        .iter()
        .filter(|f| f["error"].as_str().is_some_and(|e| e.contains("cancelled")))
        .count();
    if cancelled > 0 {
        assert_eq!(out.status.code(), Some(1));
    }
    for f in flows {
        let e = f["entity"].as_str().unwrap();
        let expect = if f["status"] == "success" {
            "new"
        } else {
            "old"
        };
        assert_eq!(state(&p, e, 0, 1_000_000), expect, "{f}");
    }
    assert!(
        listing(&p.join("out/.hygge/staging")).is_empty(),
        "no staging left after Ctrl-C"
    );
}

#[test]
fn a_second_run_on_the_same_entity_is_refused_while_the_first_writes() {
    let p = parquet_project(&["e0"], "  batch_size: 10000\n");
    let dir = p.join("data/e0");
    for part in 0..8 {
        write_parquet(
            &dir.join(format!("part-{part}.parquet")),
            &[batch(part * 100_000, 100_000)],
        );
    }
    let first = hygge()
        .args(["go"])
        .current_dir(p.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the first run holds the entity's lock (its staging folder exists).
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while listing(&p.join("out/.hygge/staging")).is_empty() && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (out, report) = p.go_json(&[]);
    let mut first = first;
    let first_status = first.wait().unwrap();
    assert!(first_status.success());
    if out.status.success() {
        // The first run finished before the second started writing: nothing to prove.
        return;
    }
    let err = report["report"]["flows"][0]["error"].as_str().unwrap();
    assert!(err.contains("another hygge run is writing"), "{err}");
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/e0"))).len(),
        800_000,
        "the first run's data is intact"
    );
}

/// The same on an `adls` store (Azurite, started by scripts/test.sh): `kill -9` at moments
/// from 5 % to 300 % of a run (uploads, copies, the commit, the tidying, the next run's
/// clean-up of the last one's leftovers); a reader going by each entity's `state.json`
/// sees its old or its new rows, never a mix; a final run publishes the new data and leaves
/// each folder holding exactly the state and the files it lists.
#[cfg(all(feature = "azure", feature = "s3"))]
#[test]
fn kill_9_mid_run_of_a_cloud_store_leaves_old_or_new_never_a_mix() {
    use futures::TryStreamExt;
    use hygge_testkit::cloud;
    use object_store::path::Path as Key;
    use object_store::{ObjectStore, ObjectStoreExt};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = cloud::azurite_url();
    let container = cloud::unique_name("crash");
    rt.block_on(cloud::create_container(&url, &container));
    let client: std::sync::Arc<dyn ObjectStore> = azurite_client(&url, &container);
    let p = Project::new("name: t\n");
    p.write(
        "flows/f/flow.yml",
        &format!(
            "home: data\nstore:\n  type: adls\n  account_url: {url}\n  filesystem: {container}\n  path: out/{{entity}}\n  batch_size: 50000\nentities: [{}]\n",
            ENTITIES.join(", ")
        ),
    );
    let get = |key: String| {
        rt.block_on(async {
            match client.get(&Key::from(key.as_str())).await {
                Ok(g) => Some(g.bytes().await.unwrap()),
                Err(object_store::Error::NotFound { .. }) => None,
                Err(e) => panic!("{key}: {e}"),
            }
        })
    };
    // The files an entity's state lists (each must be there), and their ids.
    let read = |e: &str| -> (Vec<String>, Vec<i64>) {
        let Some(state) = get(format!("out/{e}/_hygge/state.json")) else {
            return (vec![], vec![]);
        };
        let state: serde_json::Value = serde_json::from_slice(&state).unwrap();
        let files: Vec<String> = state["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        let mut batches = vec![];
        for f in &files {
            let bytes = get(format!("out/{e}/{f}"))
                .unwrap_or_else(|| panic!("{e}: {f}, listed in the state, is missing"));
            batches.extend(
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                    .unwrap()
                    .build()
                    .unwrap()
                    .map(Result::unwrap),
            );
        }
        (files, ids(&batches))
    };
    let which = |e: &str| -> &'static str {
        let (_, got) = read(e);
        let expect = |s: i64| (s..s + ROWS as i64).collect::<Vec<_>>();
        if got == expect(0) {
            "old"
        } else if got == expect(1_000_000) {
            "new"
        } else {
            panic!(
                "entity {e} holds a mix: {} rows, first {:?}",
                got.len(),
                got.first()
            )
        }
    };

    seed(&p, 0);
    let start = Instant::now();
    let out = p.run(&["go", "--concurrency", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let full = start.elapsed();
    seed(&p, 1_000_000);
    let (mut seen_old, mut seen_new) = (0, 0);
    for factor in [0.05, 0.2, 0.4, 0.6, 0.8, 1.0, 1.3, 2.0, 3.0] {
        let mut child = hygge()
            .args(["go", "--concurrency", "2"])
            .current_dir(p.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(factor));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        for e in ENTITIES {
            match which(e) {
                "old" => seen_old += 1,
                _ => seen_new += 1,
            }
        }
    }
    assert!(
        seen_old > 0 && seen_new > 0,
        "old {seen_old}, new {seen_new}"
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for e in ENTITIES {
        assert_eq!(which(e), "new");
        let mut want = read(e).0;
        want.push("_hygge/state.json".into());
        want.sort();
        let prefix = format!("out/{e}");
        let mut listed: Vec<String> = rt.block_on(async {
            client
                .list(Some(&Key::from(prefix.as_str())))
                .map_ok(|m| m.location.as_ref()[prefix.len() + 1..].to_string())
                .try_collect()
                .await
                .unwrap()
        });
        listed.sort();
        assert_eq!(listed, want, "{e}: the folder after the final run");
    }
}
