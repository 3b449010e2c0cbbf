//! The original hygge's own test suite (pineydata/hygge, `tests/`), read for the
//! project-level behaviours it asserts about files, the command line, configuration, the
//! journal and dry runs, and ported here in our own words and data: each test runs the real
//! binary on a project in a temp dir, and its doc comment names the original test(s) it
//! ports. Where the original's behaviour is one of its known defects (B1–B10) or conflicts
//! with a safety rule of ours, the test says so and checks ours instead.

mod common;

use std::fs;

use common::*;
use hygge::journal::Journal;

fn text(o: &std::process::Output) -> String {
    stdout(o) + &stderr(o)
}

/// Rows in each Parquet file below `dir`, in file-name order.
fn rows_per_file(dir: &std::path::Path) -> Vec<usize> {
    parquet_files(dir)
        .iter()
        .map(|f| file_batches(f).iter().map(|b| b.num_rows()).sum::<usize>())
        .collect()
}

fn file_batches(f: &std::path::Path) -> Vec<arrow::record_batch::RecordBatch> {
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        fs::File::open(f).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap()
    .map(|b| b.unwrap())
    .collect()
}

/// The codec of the first column chunk of a Parquet file.
fn codec(f: &std::path::Path) -> parquet::basic::Compression {
    use parquet::file::reader::FileReader;
    let r = parquet::file::reader::SerializedFileReader::new(fs::File::open(f).unwrap()).unwrap();
    r.metadata().row_group(0).column(0).compression()
}

// ---------------------------------------------------------------------------------------
// The table: configurations the original runs and hygge refused or ran otherwise.
// ---------------------------------------------------------------------------------------

/// a2. `options:` under a home or store is merged as the original merges it: a home's
/// `options.batch_size` is its read batch, a store's `options.batch_size` its rows per file
/// and `options.file_pattern` its file names; a flow's own `options:` is accepted as it
/// is. Keys the original did not read there (`compression` under a store's `options`) have
/// no effect, with a warning that says so.
///
/// Ports `tests/integration/test_coordinator_yaml_integration.py::test_advanced_config_execution`
/// (and `test_coordinator_parallel_execution`, which runs the same projects) and
/// `tests/integration/test_coordinator_integration.py::test_advanced_parquet_configuration`.
#[test]
fn options_under_a_home_or_store_set_batch_size_and_file_pattern() {
    let p = Project::new("name: advanced\n");
    write_parquet(&p.join("data/users.parquet"), &[batch(0, 2500)]);
    write_parquet(&p.join("data/orders.parquet"), &[batch(0, 1200)]);
    write_parquet(&p.join("data/products.parquet"), &[batch(0, 50)]);
    p.write(
        "flows/users_flow/flow.yml",
        "home:\n  type: parquet\n  path: data/users.parquet\n  options:\n    batch_size: 500\n\
         store:\n  type: parquet\n  path: lake/users\n  options:\n    batch_size: 1000\n    compression: gzip\n    file_pattern: \"users_{sequence:020d}.parquet\"\n\
         options:\n  queue_size: 3\n  timeout: 60\n",
    );
    p.write(
        "flows/orders_flow/flow.yml",
        "home:\n  type: parquet\n  path: data/orders.parquet\n  options:\n    batch_size: 800\n\
         store:\n  type: parquet\n  path: lake/orders\n  options:\n    batch_size: 500\n    file_pattern: \"orders_{sequence:020d}.parquet\"\n",
    );
    p.write(
        "flows/products_flow/flow.yml",
        "home: data/products.parquet\nstore: lake/products\noptions:\n  queue_size: 2\n",
    );
    let plan = p.run(&["go", "--dry-run", "--verbose"]);
    assert!(plan.status.success(), "{}", text(&plan));
    let shown = stdout(&plan);
    assert!(shown.contains("batch_size 500"), "{shown}");
    assert!(shown.contains("batch_size 800"), "{shown}");

    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("3 ok"), "{}", stdout(&out));
    assert_eq!(
        listing(&p.join("lake/users")),
        vec![
            "users_00000000000000000001.parquet",
            "users_00000000000000000002.parquet",
            "users_00000000000000000003.parquet",
        ]
    );
    assert_eq!(rows_per_file(&p.join("lake/users")), vec![1000, 1000, 500]);
    assert_eq!(rows_per_file(&p.join("lake/orders")), vec![500, 500, 200]);
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/products"))),
        (0..50).collect::<Vec<_>>()
    );
    // `compression` under `options` did nothing in the original either: the files keep the
    // default codec, and the warning names the key and where it belongs.
    for f in parquet_files(&p.join("lake/users")) {
        assert_eq!(codec(&f), parquet::basic::Compression::SNAPPY);
    }
    let err = stderr(&out);
    assert!(
        err.contains(
            "warning at `store.options.compression`: `store.options.compression` has no effect"
        ) && err.contains("write `compression` beside `options`, as `store.compression`"),
        "{err}"
    );
}

/// a2, with entities: a flow's home and store `options:` apply to every entity.
///
/// Ports `tests/integration/test_entity_pattern.py::test_entity_pattern_with_custom_options`.
#[test]
fn options_of_a_flow_with_entities_apply_to_every_entity() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("landing/users/batch_001.parquet"), &[batch(0, 5)]);
    write_parquet(&p.join("landing/users/batch_002.parquet"), &[batch(5, 5)]);
    write_parquet(&p.join("landing/orders/batch_001.parquet"), &[batch(0, 7)]);
    p.write(
        "flows/landing_to_lake/flow.yml",
        "name: landing_to_lake\nhome:\n  type: parquet\n  path: landing\n  options:\n    batch_size: 2\n\
         store:\n  type: parquet\n  path: lake\n  options:\n    batch_size: 3\n    compression: gzip\n\
         entities:\n  - users\n  - orders\noptions:\n  queue_size: 5\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rows_per_file(&p.join("lake/users")), vec![3, 3, 3, 1]);
    assert_eq!(rows_per_file(&p.join("lake/orders")), vec![3, 3, 1]);
    // One warning for the flow, not one per entity.
    assert_eq!(
        stderr(&out)
            .matches("`store.options.compression` has no effect")
            .count(),
        1,
        "{}",
        stderr(&out)
    );
}

/// a2: what hygge adds to the original's leniency: a key under `options` that is a likely
/// misspelling of one read there stops the run with its suggestion; a key the original
/// ignored there is ignored with a warning; `options.batch_size` beside `batch_size` wins,
/// as in the original, and says so.
///
/// Ports `tests/unit/hygge/core/configs/test_store_config.py::test_parquet_store_with_options`
/// and `tests/unit/hygge/core/configs/test_home_config.py::test_parquet_home_with_options`
/// (custom keys under `options` are accepted).
#[test]
fn keys_under_options_are_checked_for_typos_and_unread_ones_are_named() {
    let p = parquet_project(
        &["t"],
        "  batch_size: 100\n  options:\n    batch_size: 4\n    custom_option: value\n",
    );
    write_parquet(&p.join("data/t/x.parquet"), &[batch(0, 10)]);
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rows_per_file(&p.join("out/t")), vec![4, 4, 2]);
    let err = stderr(&out);
    assert!(
        err.contains("`store.options.batch_size` is used instead of `store.batch_size`, as the original hygge did"),
        "{err}"
    );
    assert!(
        err.contains("`store.options.custom_option` has no effect and is ignored (the original hygge ignored it too"),
        "{err}"
    );

    let p = parquet_project(&["t"], "  options:\n    batchsize: 4\n");
    write_parquet(&p.join("data/t/x.parquet"), &[batch(0, 10)]);
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("flows/f/flow.yml:6:5: error at `store.options.batchsize`: unknown key `batchsize` in store.options; did you mean `batch_size`?"),
        "{err}"
    );
    assert!(!p.join("out").exists());
}

/// a4. `hygge debug` on a project whose home folder is missing (or holds no files yet)
/// validates it, lists its flows and entities, warns about the home and exits 0, as the
/// original; `--strict` turns the warning into a failure.
///
/// Ports `tests/unit/hygge/test_cli.py::test_debug_shows_project_info` and
/// `test_debug_shows_entities`.
#[test]
fn debug_with_a_missing_or_empty_home_folder_warns_and_exits_0() {
    let p = Project::new("name: \"test_project\"\nflows_dir: \"flows\"\n");
    p.write(
        "flows/test_flow/flow.yml",
        "name: \"test_flow\"\nhome:\n  type: \"parquet\"\n  path: \"data/source\"\nstore:\n  type: \"parquet\"\n  path: \"data/destination\"\n",
    );
    let out = p.run(&["debug"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = stdout(&out);
    assert!(shown.contains("project   test_project"), "{shown}");
    assert!(shown.contains("configuration: valid"), "{shown}");
    assert!(
        shown.contains("flow      test_flow (1 entity: test_flow)"),
        "{shown}"
    );
    assert!(
        shown.contains("⚠ test_flow  home ⚠  store ✓")
            && shown.contains("home:  warning:")
            && shown.contains("data/source does not exist"),
        "{shown}"
    );
    assert!(shown.contains("All checks passed (1 warning)."), "{shown}");
    let out = p.run(&["debug", "--strict"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains("--strict counts warnings as failures"),
        "{}",
        stdout(&out)
    );

    // With an entity (and the `columns` the original's init writes), its home folder
    // present but empty: a warning too.
    p.write(
        "flows/test_flow/entities/users.yml",
        "name: \"users\"\ncolumns:\n  - id\n  - name\n",
    );
    fs::create_dir_all(p.join("data/source/users")).unwrap();
    let out = p.run(&["debug"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = stdout(&out);
    assert!(
        shown.contains("flow      test_flow (1 entity: users)"),
        "{shown}"
    );
    assert!(
        shown.contains("⚠ test_flow_users  home ⚠") && shown.contains("holds no parquet files"),
        "{shown}"
    );
    // Nothing was written by debug.
    assert!(!p.join("data/destination").exists());
}

/// a5. An entity's home `path` is joined to its flow's, whatever slashes either has: a
/// leading `/` on the entity's part does not make it absolute (the original's PathHelper);
/// hygge says how it read it.
///
/// Ports `tests/unit/hygge/core/test_coordinator.py::test_entity_flow_path_merging_with_leading_slash`,
/// `test_entity_flow_path_merging_both_slashes`, `test_entity_flow_path_merging_with_trailing_slash`
/// and `test_entity_flow_path_merging_simple`, and
/// `tests/unit/hygge/utility/test_path_helper.py::test_merge_paths_with_slashes`.
#[test]
fn an_entity_home_path_with_a_leading_slash_is_joined_to_the_flow_home() {
    for (flow_home, entity_home) in [
        ("data/source", "/users"),
        ("data/source/", "/users"),
        ("data/source/", "users"),
        ("data/source", "users"),
    ] {
        let p = Project::new("name: t\n");
        write_parquet(&p.join("data/source/users/x.parquet"), &[batch(0, 6)]);
        p.write(
            "flows/test_flow/flow.yml",
            &format!(
                "home:\n  type: parquet\n  path: \"{flow_home}\"\nstore:\n  type: parquet\n  path: data/destination\nentities:\n  - name: users\n    home:\n      path: \"{entity_home}\"\n"
            ),
        );
        let out = p.run(&["go"]);
        assert!(
            out.status.success(),
            "{flow_home} + {entity_home}: {}",
            text(&out)
        );
        assert_eq!(
            ids(&read_parquet_dir(&p.join("data/destination/users"))),
            (0..6).collect::<Vec<_>>(),
            "{flow_home} + {entity_home}"
        );
        let err = stderr(&out);
        if entity_home.starts_with('/') {
            assert!(
                err.contains(
                    "the entity's home `path` `/users` is joined to the flow's home `path`"
                ) && err.contains("data/source/users"),
                "{err}"
            );
        } else {
            assert!(!err.contains("is joined"), "{err}");
        }
    }
}

/// a6. An unknown key in a flow's `defaults:` or in an entity file (the original ignored
/// it: `schema: test_schema`) is ignored with a warning that names it and says it has no
/// effect; the defaults the original used (`batch_size`) still apply, and the entity
/// file's keys win over them.
///
/// Ports `tests/unit/hygge/core/test_coordinator.py::test_entity_defaults_inheritance` and
/// `tests/unit/hygge/core/test_workspace.py::test_read_entities_merges_defaults`.
#[test]
fn unknown_keys_in_defaults_or_an_entity_are_ignored_with_a_warning() {
    let p = Project::new("name: \"test_project\"\n");
    write_parquet(&p.join("data/source/TestEntity/x.parquet"), &[batch(0, 10)]);
    write_parquet(&p.join("data/source/Other/x.parquet"), &[batch(0, 10)]);
    p.write(
        "flows/test_flow/flow.yml",
        "name: \"test_flow\"\nhome:\n  type: \"parquet\"\n  path: \"data/source\"\nstore:\n  type: \"parquet\"\n  path: \"data/destination\"\n\
         defaults:\n  key_column: \"Id\"\n  batch_size: 5\n  schema: \"test_schema\"\n",
    );
    p.write(
        "flows/test_flow/entities/test_entity.yml",
        "name: \"TestEntity\"\ncolumns:\n  - Id\n  - Name\n# Override batch_size\nsource_config:\n  batch_size: 10000\n",
    );
    p.write(
        "flows/test_flow/entities/other.yml",
        "name: Other\nbatch_size: 4\nowner: finance\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        rows_per_file(&p.join("data/destination/TestEntity")),
        vec![5, 5]
    );
    assert_eq!(
        rows_per_file(&p.join("data/destination/Other")),
        vec![4, 4, 2]
    );
    let err = stderr(&out);
    // Said once (the defaults are shared), at the key in flow.yml.
    assert_eq!(
        err.matches("unknown key `schema` in an entity has no effect and is ignored")
            .count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("test_flow/flow.yml:11:3: warning at `schema`"),
        "{err}"
    );
    assert!(
        err.contains("entities/other.yml:3:1: warning at `owner`: unknown key `owner` in an entity has no effect"),
        "{err}"
    );
}

/// a6, what hygge keeps: a key that is a likely misspelling of an entity's key still stops
/// the run, with its suggestion (the original would silently run the entity as full_drop).
///
/// Ports the unknown-key side of `tests/error_scenarios/test_configuration_errors.py::test_typo_in_configuration_key`.
#[test]
fn a_likely_misspelling_in_an_entity_stays_an_error() {
    let p = parquet_project(&["users"], "");
    p.write(
        "flows/f/entities/users.yml",
        "name: users\nrun_tpye: incremental\n",
    );
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("entities/users.yml:2:1: error at `run_tpye`: unknown key `run_tpye` in an entity; did you mean `run_type`?"),
        "{err}"
    );
    assert!(!p.join("out").exists());
}

/// a7. `format:` is read in any case (`CSV`, `PARQUET`), as the original's format layer;
/// an unknown format is still an error naming the valid ones.
///
/// Ports `tests/unit/hygge/core/test_formats.py::test_case_insensitive`,
/// `tests/unit/hygge/homes/test_local_home.py::test_format_validation` and
/// `tests/unit/hygge/stores/test_local_store.py::test_format_validation`.
#[test]
fn format_is_case_insensitive() {
    let p = Project::new("name: t\n");
    p.write("in/t/x.csv", "id,name\n1,a\n2,b\n3,c\n");
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: local\n  path: in\n  format: CSV\nstore:\n  type: local\n  path: out\n  format: PARQUET\nentities: [t]\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        listing(&p.join("out/t")),
        vec!["00000000000000000001.parquet"]
    );
    assert_eq!(ids(&read_parquet_dir(&p.join("out/t"))), vec![1, 2, 3]);
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: local\n  path: in\n  format: Csv\nstore:\n  type: local\n  path: back\n  format: Ndjson\nentities: [t]\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        listing(&p.join("back/t")),
        vec!["00000000000000000001.ndjson"]
    );

    p.write(
        "flows/f/flow.yml",
        "home:\n  type: local\n  path: in\n  format: xml\nstore: out\nentities: [t]\n",
    );
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown variant `xml`, expected one of `parquet`, `csv`, `ndjson`"),
        "{}",
        stderr(&out)
    );
}

/// a8. `--var flow.<flow>.…` for a flow the project lacks changes nothing and the run goes
/// on, as in the original, with a warning naming the flow and saying it has no effect; a
/// likely misspelling of a flow's name stops the run with its suggestion.
///
/// Ports `tests/unit/hygge/core/test_flow.py::test_apply_overrides_no_overrides` and
/// `tests/unit/hygge/core/test_coordinator.py::test_flow_overrides_not_applied_when_none`.
#[test]
fn a_var_for_a_flow_the_project_lacks_is_ignored_with_a_warning() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("data/source/x.parquet"), &[batch(0, 3)]);
    p.write(
        "flows/test_flow/flow.yml",
        "home: data/source\nstore: data/dest\n",
    );
    let (out, report) = p.go_json(&["--var", "flow.other_flow.run_type=incremental"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report["report"]["flows"][0]["run_type"], "full_drop");
    let err = stderr(&out);
    assert!(
        err.contains("--var `flow.other_flow.run_type=...` has no effect: this project has no flow named `other_flow` (the original hygge ignored it too). Flows: test_flow"),
        "{err}"
    );

    let out = p.run(&["go", "--var", "flow.test_flwo.run_type=incremental"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--var `flow.test_flwo.run_type=...`: no flow named `test_flwo`; did you mean `test_flow`?"),
        "{}",
        stderr(&out)
    );
}

/// a9. `{name}` in `file_pattern` is the store's name, `<entity flow>_store`, as in the
/// original (`{flow_name}` is the entity flow's name).
///
/// Ports `tests/unit/hygge/stores/test_parquet_store.py::test_get_next_filename_with_name_pattern`,
/// `test_get_next_filename_with_flow_name` and `test_parquet_store_config_flow_name_pattern`.
#[test]
fn name_in_file_pattern_is_the_store_name() {
    let p = parquet_project(
        &["users"],
        "  batch_size: 2\n  file_pattern: \"{name}_{sequence:020d}.parquet\"\n",
    );
    write_parquet(&p.join("data/users/x.parquet"), &[batch(0, 3)]);
    write_parquet(&p.join("single/x.parquet"), &[batch(0, 1)]);
    p.write(
        "flows/single/flow.yml",
        "home: single\nstore:\n  type: parquet\n  path: out_single\n  file_pattern: \"{name}-{flow_name}-{sequence:03d}.parquet\"\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        listing(&p.join("out/users")),
        vec![
            "f_users_store_00000000000000000001.parquet",
            "f_users_store_00000000000000000002.parquet",
        ]
    );
    assert_eq!(
        listing(&p.join("out_single")),
        vec!["single_store-single-001.parquet"]
    );
    // The dry run and debug know these names as the store's own.
    let plan = stdout(&p.run(&["go", "--dry-run", "--incremental"]));
    assert!(plan.contains("from sequence 3"), "{plan}");
    let out = p.run(&["debug"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// a9, for folders written before `{name}` meant the store's name (it was the entity's):
/// those files stay the store's own, and an incremental run continues their sequence.
#[test]
fn an_incremental_run_continues_files_named_with_the_old_meaning_of_name() {
    let p = parquet_project(
        &["users"],
        "  file_pattern: \"{name}_{sequence:05d}.parquet\"\nrun_type: incremental\n",
    );
    write_parquet(&p.join("out/users/users_00001.parquet"), &[batch(0, 2)]);
    write_parquet(&p.join("out/users/users_00002.parquet"), &[batch(2, 2)]);
    write_parquet(&p.join("data/users/x.parquet"), &[batch(4, 3)]);
    let plan = stdout(&p.run(&["go", "--dry-run"]));
    assert!(plan.contains("from sequence 3"), "{plan}");
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        listing(&p.join("out/users")),
        vec![
            "f_users_store_00003.parquet",
            "users_00001.parquet",
            "users_00002.parquet",
        ]
    );
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/users"))),
        (0..7).collect::<Vec<_>>()
    );
    // And the next run goes on from there.
    write_parquet(&p.join("data/users/x.parquet"), &[batch(7, 1)]);
    assert!(p.run(&["go"]).status.success());
    assert!(
        listing(&p.join("out/users")).contains(&"f_users_store_00004.parquet".to_string()),
        "{:?}",
        listing(&p.join("out/users"))
    );
}

// ---------------------------------------------------------------------------------------
// Behaviours the original's tests assert about projects, ported.
// ---------------------------------------------------------------------------------------

/// One flow with entities reads `<home>/<entity>` (every file in it) and writes
/// `<store>/<entity>/` for each, in parallel.
///
/// Ports `tests/integration/test_entity_pattern.py::test_entity_pattern_basic`,
/// `test_entity_pattern_parallel_execution` and `test_entity_pattern_simple_syntax`.
#[test]
fn a_flow_with_entities_reads_and_writes_one_folder_per_entity() {
    let p = Project::new("name: \"test_project\"\nflows_dir: \"flows\"\n");
    write_parquet(
        &p.join("landing_zone/users/batch_001.parquet"),
        &[batch(0, 50)],
    );
    write_parquet(
        &p.join("landing_zone/users/batch_002.parquet"),
        &[batch(50, 50)],
    );
    write_parquet(
        &p.join("landing_zone/orders/batch_001.parquet"),
        &[batch(0, 100)],
    );
    write_parquet(
        &p.join("landing_zone/orders/batch_002.parquet"),
        &[batch(100, 100)],
    );
    write_parquet(
        &p.join("landing_zone/products/data.parquet"),
        &[batch(0, 25)],
    );
    fs::create_dir_all(p.join("data_lake")).unwrap();
    p.write(
        "flows/landing_to_lake/flow.yml",
        "name: \"landing_to_lake\"\nhome:\n  type: \"parquet\"\n  path: \"landing_zone\"\nstore:\n  type: \"parquet\"\n  path: \"data_lake\"\nentities:\n  - users\n  - orders\n  - products\n",
    );
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report["report"]["totals"]["entities"], 3);
    for (entity, n) in [("users", 100), ("orders", 200), ("products", 25)] {
        assert_eq!(
            ids(&read_parquet_dir(&p.join("data_lake").join(entity))),
            (0..n).collect::<Vec<_>>(),
            "{entity}"
        );
    }
}

/// An entity named like a file (`users.parquet`) reads that file of the home folder and
/// writes a folder of that name.
///
/// Ports `tests/integration/test_entity_pattern.py::test_entity_pattern_edge_case_single_files`.
#[test]
fn an_entity_named_like_a_file_reads_that_file() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("landing/users.parquet"), &[batch(0, 10)]);
    write_parquet(&p.join("landing/orders.parquet"), &[batch(0, 5)]);
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: parquet\n  path: landing\nstore:\n  type: parquet\n  path: lake\nentities:\n  - users.parquet\n  - orders.parquet\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/users.parquet"))).len(),
        10
    );
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/orders.parquet"))).len(),
        5
    );
}

/// An entity whose data is missing fails the run (exit 1), and the others are still
/// published; the failed one's destination is not written.
///
/// Ports `tests/integration/test_entity_pattern.py::test_entity_pattern_missing_file` and
/// `tests/integration/test_coordinator_yaml_integration.py::test_coordinator_error_isolation`.
#[test]
fn a_missing_entity_fails_the_run_but_not_the_others() {
    let p = parquet_project(&["users", "nonexistent_entity"], "");
    write_parquet(&p.join("data/users/x.parquet"), &[batch(0, 4)]);
    let (out, report) = p.go_json(&[]);
    assert_eq!(out.status.code(), Some(1));
    let flows = report["report"]["flows"].as_array().unwrap();
    assert_eq!(flows[0]["status"], "success");
    assert_eq!(flows[1]["status"], "failed");
    assert!(
        flows[1]["error"]
            .as_str()
            .unwrap()
            .contains("nonexistent_entity does not exist"),
        "{report}"
    );
    assert_eq!(ids(&read_parquet_dir(&p.join("out/users"))).len(), 4);
    assert!(!p.join("out/nonexistent_entity").exists());
}

/// A flow with entities and a flow without run side by side; the one without writes its
/// store path itself.
///
/// Ports `tests/integration/test_entity_pattern.py::test_entity_pattern_mixed_with_regular_flows`
/// and `tests/unit/hygge/core/test_coordinator.py::test_load_project_flows` (entity flows
/// named `<flow>_<entity>`, the other after its flow).
#[test]
fn flows_with_and_without_entities_run_side_by_side() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("landing/Account/x.parquet"), &[batch(0, 3)]);
    write_parquet(&p.join("landing/Contact/x.parquet"), &[batch(0, 4)]);
    write_parquet(&p.join("standalone.parquet"), &[batch(0, 100)]);
    p.write(
        "flows/salesforce_to_lake/flow.yml",
        "home: landing\nstore: data_lake\nentities: [Account, Contact]\n",
    );
    p.write(
        "flows/standalone_flow/flow.yml",
        "home: standalone.parquet\nstore: data_lake_standalone\n",
    );
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let mut names: Vec<&str> = report["report"]["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "salesforce_to_lake_Account",
            "salesforce_to_lake_Contact",
            "standalone_flow"
        ]
    );
    assert_eq!(
        ids(&read_parquet_dir(&p.join("data_lake_standalone"))),
        (0..100).collect::<Vec<_>>()
    );
    assert_eq!(
        ids(&read_parquet_dir(&p.join("data_lake/Contact"))).len(),
        4
    );
}

/// A store's files hold `batch_size` rows each (the last the rest), whatever the batches
/// the home reads.
///
/// Ports `tests/integration/test_parquet_to_parquet_flow.py::test_flow_with_different_batch_sizes`
/// and `test_complete_data_movement`, `tests/unit/hygge/stores/test_parquet_store.py::test_write_multiple_batches`
/// and `test_write_incremental_data`, `tests/unit/hygge/core/test_store.py::test_store_triggers_staging_on_batch_size`.
#[test]
fn store_files_hold_batch_size_rows_whatever_the_home_batches() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("data/source.parquet"), &[batch(0, 1000)]);
    p.write(
        "flows/integration_test_flow/flow.yml",
        "home:\n  type: parquet\n  path: data/source.parquet\n  batch_size: 70\nstore:\n  type: parquet\n  path: store\n  batch_size: 300\n  file_pattern: \"test_{sequence:020d}.parquet\"\nqueue_size: 3\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rows_per_file(&p.join("store")), vec![300, 300, 300, 100]);
    assert_eq!(
        ids(&read_parquet_dir(&p.join("store"))),
        (0..1000).collect::<Vec<_>>()
    );
    assert_eq!(
        listing(&p.join("store"))[0],
        "test_00000000000000000001.parquet"
    );
}

/// A home folder is read whole: every Parquet file in it, other files ignored.
///
/// Ports `tests/unit/hygge/homes/test_parquet_home.py::test_get_batch_paths_directory_with_non_parquet_files`,
/// `test_read_multiple_parquet_files` and
/// `tests/integration/test_parquet_home_flow_integration.py::test_parquet_home_multiple_files_flow`.
#[test]
fn a_home_folder_reads_every_parquet_file_and_ignores_other_files() {
    let p = Project::new("name: t\n");
    for i in 0..3 {
        write_parquet(
            &p.join(&format!("src/batch_{i}.parquet")),
            &[batch(i * 10, 10)],
        );
    }
    p.write("src/data.txt", "not parquet");
    p.write("src/data.csv", "id,value\n1,a\n");
    p.write("flows/f/flow.yml", "home: src\nstore: dst\n");
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("dst"))),
        (0..30).collect::<Vec<_>>()
    );
}

/// A home folder with no Parquet file fails the entity, naming the folder.
///
/// Ports `tests/unit/hygge/homes/test_parquet_home.py::test_get_batch_paths_empty_directory`.
#[test]
fn an_empty_home_folder_fails_the_entity_naming_it() {
    let p = Project::new("name: t\n");
    fs::create_dir_all(p.join("src")).unwrap();
    p.write("flows/f/flow.yml", "home: src\nstore: dst\n");
    let (out, report) = p.go_json(&[]);
    assert_eq!(out.status.code(), Some(1));
    let e = report["report"]["flows"][0]["error"].as_str().unwrap();
    assert!(e.contains("src holds no parquet files"), "{e}");
    assert!(!p.join("dst").exists());
}

/// A file that is not Parquet fails the entity, naming the file; nothing is published.
///
/// Ports `tests/unit/hygge/homes/test_parquet_home.py::test_read_corrupted_parquet_file` and
/// `tests/integration/test_parquet_to_parquet_flow.py::test_flow_error_handling`.
#[test]
fn a_file_that_is_not_parquet_fails_the_entity_naming_it() {
    let p = Project::new("name: t\n");
    p.write("data/invalid.parquet", "not a parquet file");
    p.write(
        "flows/error_test/flow.yml",
        "home: data/invalid.parquet\nstore: error_store\n",
    );
    let (out, report) = p.go_json(&[]);
    assert_eq!(out.status.code(), Some(1));
    let e = report["report"]["flows"][0]["error"].as_str().unwrap();
    assert!(e.contains("invalid.parquet"), "{e}");
    assert!(!p.join("error_store").exists());
}

/// A source that does not exist is no configuration error (the dry run passes); running
/// fails the entity and writes nothing.
///
/// Ports `tests/integration/test_coordinator_integration.py::test_missing_parquet_file`,
/// `tests/integration/test_parquet_home_flow_integration.py::test_parquet_home_flow_error_handling`
/// and `tests/error_scenarios/test_configuration_errors.py::test_configuration_with_non_existent_files`.
#[test]
fn a_missing_source_fails_the_run_not_the_configuration() {
    let p = Project::new("name: t\n");
    p.write(
        "flows/missing_file_flow/flow.yml",
        "home: nonexistent_file.parquet\nstore: output\n",
    );
    assert!(p.run(&["go", "--dry-run"]).status.success());
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("nonexistent_file.parquet does not exist"),
        "{}",
        stdout(&out)
    );
    assert!(!p.join("output").exists());
}

/// An empty `hygge.yml` is a project named after its folder, with flows in `flows/`.
///
/// Ports `tests/unit/hygge/core/test_workspace.py::test_from_path_handles_empty_yaml`,
/// `test_from_path_uses_directory_name_as_default`, `test_from_path_uses_default_flows_dir`
/// and `test_workspace_handles_missing_optional_fields`.
#[test]
fn an_empty_hygge_yml_is_a_project_named_after_its_folder() {
    let p = Project::new("");
    write_parquet(&p.join("data/x.parquet"), &[batch(0, 2)]);
    p.write("flows/f/flow.yml", "home: data\nstore: out\n");
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let folder = p
        .path()
        .canonicalize()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(report["project"], folder.as_str());
}

/// `hygge.yml` is found in the folder `hygge` runs in or any folder above it.
///
/// Ports `tests/unit/hygge/core/test_workspace.py::test_find_hygge_yml_in_parent_directory`,
/// `test_find_hygge_yml_searches_multiple_parents` and
/// `tests/unit/hygge/core/test_coordinator.py::test_project_discovery_finds_hygge_yml_in_parent`.
#[test]
fn the_project_is_found_from_a_folder_below_it() {
    let p = parquet_project(&["users"], "");
    write_parquet(&p.join("data/users/x.parquet"), &[batch(0, 3)]);
    let nested = p.join("level1/level2/level3/level4");
    fs::create_dir_all(&nested).unwrap();
    let out = hygge().arg("go").current_dir(&nested).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ids(&read_parquet_dir(&p.join("out/users"))).len(), 3);
}

/// Without a `hygge.yml` anywhere above, `go` and `debug` fail with a configuration error.
///
/// Ports `tests/unit/hygge/test_cli.py::test_debug_fails_when_no_project` and
/// `test_go_fails_when_no_project`, `tests/unit/hygge/core/test_workspace.py::test_find_hygge_yml_raises_error_when_not_found`.
#[test]
fn no_project_is_a_configuration_error_for_go_and_debug() {
    let tmp = tempfile::tempdir().unwrap();
    for cmd in ["go", "debug"] {
        let out = hygge().arg(cmd).current_dir(tmp.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = stderr(&out);
        assert!(
            err.contains("Configuration error") && err.contains("no hygge.yml found"),
            "{cmd}: {err}"
        );
    }
}

/// `flows_dir` names the flows' folder; a missing one, or one without flows, is an error.
///
/// Ports `tests/unit/hygge/core/test_coordinator.py::test_load_project_flows_with_custom_flows_dir`,
/// `test_load_project_flows_raises_error_when_no_flows_dir`,
/// `test_load_project_flows_raises_error_when_no_flows` and the same in
/// `tests/unit/hygge/core/test_workspace.py`.
#[test]
fn a_custom_flows_dir_is_used_and_a_missing_or_empty_one_is_an_error() {
    let p = Project::new("name: \"test_project\"\nflows_dir: \"my_flows\"\n");
    write_parquet(&p.join("data/source/x.parquet"), &[batch(0, 2)]);
    p.write(
        "my_flows/test_flow/flow.yml",
        "name: \"test_flow\"\nhome: data/source\nstore: data/destination\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));

    p.write("hygge.yml", "name: t\nflows_dir: nonexistent_flows\n");
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read the flows folder"),
        "{}",
        stderr(&out)
    );

    fs::create_dir_all(p.join("empty_flows")).unwrap();
    p.write("hygge.yml", "name: t\nflows_dir: empty_flows\n");
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no flows in"), "{}", stderr(&out));
}

/// In the flows folder, files and folders without a `flow.yml` are not flows.
///
/// Ports `tests/unit/hygge/core/test_workspace.py::test_find_flows_ignores_non_directories`
/// and `test_find_flows_ignores_directories_without_flow_yml`.
#[test]
fn folders_without_flow_yml_and_stray_files_in_flows_are_ignored() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("data/x.parquet"), &[batch(0, 2)]);
    p.write("flows/not_a_flow.txt", "This is not a flow");
    fs::create_dir_all(p.join("flows/empty_dir")).unwrap();
    p.write("flows/test_flow/flow.yml", "home: data\nstore: out\n");
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report["report"]["totals"]["entities"], 1);
    assert_eq!(report["report"]["flows"][0]["name"], "test_flow");
}

/// A flow is named after its folder (`name:` in `flow.yml` is not needed, and does not
/// rename it); its entities are `<flow>_<entity>`.
///
/// Ports `tests/unit/hygge/core/test_coordinator.py::test_semaphore_released_early_via_extraction_callback`
/// (a `flow.yml` without `name`), `test_create_flows_from_config` and
/// `tests/unit/hygge/core/test_flow.py::test_from_entity_creates_flow`.
#[test]
fn the_flow_name_is_its_folder_and_flow_yml_may_omit_name() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("data/users/x.parquet"), &[batch(0, 2)]);
    write_parquet(&p.join("one.parquet"), &[batch(0, 1)]);
    p.write(
        "flows/flow_0/flow.yml",
        "home: one.parquet\nstore: dest_0\n",
    );
    p.write(
        "flows/test_flow/flow.yml",
        "name: something_else\nhome: data\nstore: out\nentities: [users]\n",
    );
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let names: Vec<&str> = report["report"]["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["flow_0", "test_flow_users"]);
}

/// `${VAR}` works in entity files too (here in an entity's name), and in paths.
///
/// Ports `tests/unit/hygge/core/test_workspace.py::test_read_entities_expands_env_vars`,
/// `test_read_flow_config_expands_env_vars` and `test_read_workspace_config_expands_env_vars_with_default`.
#[test]
fn variables_expand_in_entity_files_and_paths() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("data/users_prod/x.parquet"), &[batch(0, 3)]);
    p.write(
        "flows/f/flow.yml",
        "home: ${DATA_PATH:-data}\nstore: ${OUTPUT_PATH}/destination\n",
    );
    p.write("flows/f/entities/users.yml", "name: \"${TABLE_NAME}\"\n");
    let out = hygge()
        .arg("go")
        .current_dir(p.path())
        .env("TABLE_NAME", "users_prod")
        .env("OUTPUT_PATH", "lake")
        .env_remove("DATA_PATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/destination/users_prod"))).len(),
        3
    );
}

/// `full_drop: false` (the legacy switch) makes a flow incremental; an entity's own
/// `run_type` wins over its flow's `run_type` (but, as in the original, not over the
/// flow's legacy `full_drop:`, which decides last); `--incremental` and `--full-drop` set
/// every flow's.
///
/// Ports `tests/unit/hygge/core/test_flow.py::test_from_config_with_full_drop_override`,
/// `test_from_config_with_run_type`, `test_from_entity_with_entity_run_type`,
/// `tests/unit/hygge/core/test_coordinator.py::test_entity_flow_inherits_base_flow_full_drop`
/// and `tests/unit/hygge/test_cli.py::test_go_with_incremental_flag`, `test_go_with_full_drop_flag`.
#[test]
fn run_types_from_the_flow_the_entity_the_legacy_switch_and_the_cli() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("data/a/x.parquet"), &[batch(0, 2)]);
    write_parquet(&p.join("data/b/x.parquet"), &[batch(0, 2)]);
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore: out_f\nfull_drop: false\nentities:\n  - a\n  - name: b\n    run_type: full_drop\n",
    );
    p.write(
        "flows/g/flow.yml",
        "home: data\nstore: out_g\nrun_type: incremental\nentities:\n  - a\n  - name: b\n    run_type: full_drop\n",
    );
    let run_types = |args: &[&str]| {
        let (out, report) = p.go_json(args);
        assert!(out.status.success(), "{}", text(&out));
        report["report"]["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["run_type"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        run_types(&[]),
        vec!["incremental", "incremental", "incremental", "full_drop"]
    );
    assert_eq!(run_types(&["--full-drop"]), vec!["full_drop"; 4]);
    assert_eq!(run_types(&["--incremental"]), vec!["incremental"; 4]);
}

/// `--flow` and `--entity` run only what they name: the others are not read, so their
/// data need not be there.
///
/// Ports `tests/unit/hygge/test_cli.py::test_go_with_flow_filter` and
/// `test_go_with_entity_filter`.
#[test]
fn go_flow_and_entity_filters_run_only_what_is_named() {
    let p = Project::new("name: \"test_project\"\nflows_dir: \"flows\"\n");
    write_parquet(&p.join("data/flow1/test.parquet"), &[batch(0, 3)]);
    p.write(
        "flows/flow1/flow.yml",
        "home: data/flow1\nstore: out/flow1\n",
    );
    p.write(
        "flows/flow2/flow.yml",
        "home: data/flow2\nstore: out/flow2\n",
    );
    let (out, report) = p.go_json(&["--flow", "flow1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report["report"]["totals"]["entities"], 1);
    assert!(!p.join("out/flow2").exists());

    p.write(
        "flows/test_flow/flow.yml",
        "home: data/source\nstore: data/destination\n",
    );
    p.write(
        "flows/test_flow/entities/users.yml",
        "name: users\ncolumns: [id, name]\n",
    );
    p.write(
        "flows/test_flow/entities/orders.yml",
        "name: orders\ncolumns: [id, user_id]\n",
    );
    write_parquet(&p.join("data/source/users/test.parquet"), &[batch(0, 3)]);
    let (out, report) = p.go_json(&["--entity", "test_flow.users"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report["report"]["flows"][0]["name"], "test_flow_users");
    assert_eq!(report["report"]["totals"]["entities"], 1);
}

/// `--var` deep-merges into a flow: a nested key is set and its siblings kept.
///
/// Ports `tests/unit/hygge/test_cli.py::test_go_with_flow_var_override`,
/// `tests/unit/hygge/core/test_flow.py::test_apply_overrides_deep_merge`,
/// `test_from_config_with_flow_overrides` and
/// `tests/unit/hygge/core/test_coordinator.py::test_apply_flow_overrides_via_cli`.
#[test]
fn var_overrides_deep_merge_into_the_flow() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("data/source/test.parquet"), &[batch(0, 5)]);
    p.write(
        "flows/test_flow/flow.yml",
        "home: data/source\nstore:\n  type: parquet\n  path: data/dest\n  options:\n    batch_size: 100\n",
    );
    let (out, report) = p.go_json(&[
        "--var",
        "flow.test_flow.run_type=incremental",
        "--var",
        "flow.test_flow.store.options.batch_size=2",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report["report"]["flows"][0]["run_type"], "incremental");
    assert_eq!(rows_per_file(&p.join("data/dest")), vec![2, 2, 1]);
}

/// `--concurrency` sets how many entities run at once; in `hygge.yml`,
/// `options.concurrency` may be written as text.
///
/// Ports `tests/unit/hygge/test_cli.py::test_go_with_concurrency_override`,
/// `tests/unit/hygge/core/test_coordinator.py::test_concurrency_string_conversion`,
/// `test_concurrency_from_config_option` and `test_concurrency_defaults_to_eight`.
#[test]
fn concurrency_from_the_cli_and_as_text_in_hygge_yml() {
    let p = parquet_project(&["users"], "");
    write_parquet(&p.join("data/users/x.parquet"), &[batch(0, 3)]);
    assert!(stdout(&p.run(&["go"])).contains("concurrency 8"));
    assert!(stdout(&p.run(&["go", "--concurrency", "4"])).contains("concurrency 4"));
    p.write("hygge.yml", "name: t\noptions:\n  concurrency: \"16\"\n");
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("concurrency 16"), "{}", stdout(&out));
}

/// `queue_size` is a whole number from 1 to 100.
///
/// Ports `tests/error_scenarios/test_configuration_errors.py::test_settings_boundary_values`
/// and `test_invalid_settings_values` (queue size out of range), and
/// `tests/unit/hygge/core/configs/test_flow_config.py::test_flow_config_defaults`.
#[test]
fn queue_size_is_a_whole_number_from_1_to_100() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("data/x.parquet"), &[batch(0, 3)]);
    for (q, ok) in [("1", true), ("100", true), ("101", false), ("0", false)] {
        p.write(
            "flows/f/flow.yml",
            &format!("home: data\nstore: out\nqueue_size: {q}\n"),
        );
        let out = p.run(&["go"]);
        assert_eq!(out.status.success(), ok, "queue_size {q}: {}", text(&out));
        if !ok {
            assert!(
                stderr(&out).contains("queue_size must be a whole number from 1 to 100"),
                "{}",
                stderr(&out)
            );
        }
    }
}

/// A flow's own `options:` is accepted whatever it holds (numbers, text, nested mappings,
/// lists), as the original passes it through.
///
/// Ports `tests/unit/hygge/core/configs/test_flow_config.py::test_config_with_flow_options`,
/// `test_config_with_complex_nested_options`, `test_large_number_config` and
/// `tests/error_scenarios/test_configuration_errors.py::test_deeply_nested_configuration`.
#[test]
fn flow_options_are_accepted_whatever_they_hold() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("data/x.parquet"), &[batch(0, 3)]);
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore: out\noptions:\n  custom_flow_option: value\n  timeout: 600\n  large_value: 999999999\n  small_value: 0.0001\n  batch_settings:\n    size: 1000\n    retry_count: 3\n  paths: [data/temp, data/final]\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// Configuration mistakes stop the run before anything is read, each named: a misspelt
/// key (`hom`, `stor`, `optins`), a key in the wrong case (`HOME`), a type the original did
/// not know or in the wrong case (`PARQUET`: types are case-sensitive), an unknown
/// compression, a home given as a list, a missing home, store or path.
///
/// Ports `tests/error_scenarios/test_configuration_errors.py::test_typo_in_configuration_key`,
/// `test_case_sensitivity_errors`, `test_invalid_home_type`, `test_invalid_store_type`,
/// `test_missing_required_fields`, `test_missing_home_path_for_parquet`,
/// `test_unexpected_field_types`, `tests/unit/hygge/core/configs/test_store_config.py::test_case_sensitive_type`,
/// `test_missing_path_field`, `tests/unit/hygge/core/configs/test_home_config.py::test_case_sensitive_types`
/// and `tests/unit/hygge/stores/test_parquet_store.py::test_parquet_store_config_validation`.
#[test]
fn configuration_mistakes_are_named_and_nothing_runs() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("data/x.parquet"), &[batch(0, 3)]);
    for (flow_yml, want) in [
        (
            "hom: data\nstore: out\n",
            "unknown key `hom` in flow.yml; did you mean `home`?",
        ),
        (
            "home: data\nstor: out\n",
            "unknown key `stor` in flow.yml; did you mean `store`?",
        ),
        (
            "home: data\nstore: out\noptins: {}\n",
            "unknown key `optins` in flow.yml; did you mean `options`?",
        ),
        ("HOME: data\nstore: out\n", "unknown key `HOME` in flow.yml"),
        (
            "home:\n  type: invalid_type\n  path: data\nstore: out\n",
            "unknown home type `invalid_type`",
        ),
        (
            "home: data\nstore:\n  type: PARQUET\n  path: out\n",
            "unknown store type `PARQUET`",
        ),
        (
            "home: data\nstore:\n  type: parquet\n  path: out\n  compression: invalid\n",
            "store.compression",
        ),
        (
            "home: [data, x.parquet]\nstore: out\n",
            "`home` must be a path or a mapping",
        ),
        ("store: out\n", "missing field `home`"),
        ("home: data\n", "missing field `store`"),
        (
            "home:\n  type: parquet\nstore: out\n",
            "missing field `path`",
        ),
    ] {
        p.write("flows/f/flow.yml", flow_yml);
        let out = p.run(&["go"]);
        assert_eq!(out.status.code(), Some(2), "{flow_yml}");
        let err = stderr(&out);
        assert!(err.contains(want), "{flow_yml}: {err}");
        assert!(err.contains("nothing was run"), "{flow_yml}: {err}");
        assert!(!p.join("out").exists(), "{flow_yml}");
    }
}

/// Paths may hold any Unicode.
///
/// Ports `tests/unit/hygge/core/configs/test_flow_config.py::test_unicode_paths`,
/// `tests/integration/test_config_integration.py::test_configuration_with_unicode` and
/// `tests/unit/hygge/core/configs/test_store_config.py::test_unicode_path`.
#[test]
fn unicode_paths_work() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("data/用户/users.parquet"), &[batch(0, 4)]);
    p.write(
        "flows/unicode_flow/flow.yml",
        "home: data/用户/users.parquet\nstore: data/lake/用户数据\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("data/lake/用户数据"))).len(),
        4
    );
}

/// A store given as a folder that exists and is empty (the original's CLI tests create it
/// first) is written.
///
/// Ports `tests/unit/hygge/test_cli.py::test_go_runs_flows`.
#[test]
fn an_existing_empty_store_folder_is_written() {
    let p = Project::new("name: \"test_project\"\nflows_dir: \"flows\"\n");
    write_parquet(&p.join("data/source/test.parquet"), &[batch(0, 3)]);
    fs::create_dir_all(p.join("data/destination")).unwrap();
    p.write(
        "flows/test_flow/flow.yml",
        "name: \"test_flow\"\nhome:\n  type: \"parquet\"\n  path: \"data/source\"\nstore:\n  type: \"parquet\"\n  path: \"data/destination\"\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ids(&read_parquet_dir(&p.join("data/destination"))).len(), 3);
}

/// A dry run needs no source and no connection; it shows each entity as `home → store`,
/// with `--verbose` the source and destination paths and the watermark column, and warns
/// about an incremental run without a watermark.
///
/// Ports `tests/unit/hygge/test_dry_run.py::test_flow_preview_basic`,
/// `test_flow_preview_no_connection_test`, `test_flow_preview_with_watermark`,
/// `test_flow_preview_incremental_without_watermark`, `test_preview_format_concise` and
/// `test_preview_format_verbose`.
#[test]
fn dry_run_needs_no_source_and_shows_types_paths_and_watermark() {
    let p = Project::new("name: t\njournal:\n  path: .hygge_journal\n");
    p.write(
        "flows/test_flow/flow.yml",
        "home: source/missing.parquet\nstore: destination\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: updated_at\n",
    );
    p.write(
        "flows/plain/flow.yml",
        "home: source/other.parquet\nstore: destination_plain\nrun_type: incremental\n",
    );
    let out = p.run(&["go", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = stdout(&out);
    assert!(shown.contains("✓ test_flow  parquet → parquet"), "{shown}");
    assert!(shown.contains("watermark updated_at"), "{shown}");
    assert!(
        shown.contains("warning: incremental without a watermark"),
        "{shown}"
    );
    let out = p.run(&["go", "--dry-run", "--verbose"]);
    let shown = stdout(&out);
    assert!(shown.contains("source/missing.parquet"), "{shown}");
    assert!(shown.contains("destination"), "{shown}");
    assert!(shown.contains("column `updated_at`"), "{shown}");
    assert!(!p.join("destination").exists() && !p.join(".hygge_journal").exists());
}

/// The journal (`journal.path`) gets one row per entity run: its flow, entity, status,
/// rows, and no watermark fields for a run without a watermark; a failed entity is
/// recorded as `fail` with its message; the entities of one flow share the run's flow id.
///
/// Ports `tests/unit/hygge/core/test_journal.py::test_journal_init_explicit_path`,
/// `test_record_entity_run_success`, `test_record_entity_run_failure`,
/// `test_record_entity_run_no_watermark`, `test_record_entity_run_append`,
/// `test_journal_creates_directory` and
/// `tests/unit/hygge/core/test_coordinator.py::test_flow_run_id_shared_across_entities`,
/// `test_coordinator_flow_receives_journal_context`.
#[test]
fn the_journal_records_one_row_per_entity_run() {
    let p = Project::new("name: test_project\njournal:\n  path: journal_dir\n");
    write_parquet(&p.join("data/users/x.parquet"), &[batch(0, 10)]);
    p.write(
        "flows/users_flow/flow.yml",
        "home: data\nstore: dest\nentities: [users, orders]\n",
    );
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(1), "orders has no data");
    assert!(p.join("journal_dir/journal.parquet").is_file());
    let entries = Journal::at(&p.join("journal_dir")).read().unwrap();
    assert_eq!(entries.len(), 2);
    let users = entries.iter().find(|e| e.entity == "users").unwrap();
    let orders = entries.iter().find(|e| e.entity == "orders").unwrap();
    assert_eq!(users.flow, "users_flow");
    assert_eq!(users.coordinator, "test_project");
    assert_eq!(users.status, "success");
    assert_eq!(users.run_type, "full_drop");
    assert_eq!(users.row_count, 10);
    assert_eq!(users.entity_run_id.len(), 32);
    assert!(users.watermark.is_none() && users.watermark_column.is_none());
    assert!(users.primary_key.is_none());
    assert_eq!(orders.status, "fail");
    assert!(
        orders
            .message
            .as_deref()
            .is_some_and(|m| m.contains("does not exist")),
        "{orders:?}"
    );
    assert_eq!(users.flow_run_id, orders.flow_run_id);
    assert_eq!(users.coordinator_run_id, orders.coordinator_run_id);
}

/// `journal: {location: store}` keeps the journal in `<store path>/.hygge_journal/`,
/// `location: home` in `<home path>/.hygge_journal/`; another location is an error.
///
/// Ports `tests/unit/hygge/core/test_journal.py::test_journal_init_store_location`,
/// `test_journal_init_home_location`, `test_journal_config_default_location` and
/// `test_journal_config_invalid_location`. (A flow without entities keeps a `store`
/// journal beside its store folder, not inside it: a run replaces that folder whole.)
#[test]
fn the_journal_lives_beside_the_store_or_the_home_data() {
    for (location, dir) in [
        ("store", "lake/.hygge_journal"),
        ("home", "data/.hygge_journal"),
    ] {
        let p = Project::new(&format!("name: t\njournal:\n  location: {location}\n"));
        write_parquet(&p.join("data/users/x.parquet"), &[batch(0, 3)]);
        p.write(
            "flows/f/flow.yml",
            "home: data\nstore: lake\nentities: [users]\n",
        );
        let out = p.run(&["go"]);
        assert!(out.status.success(), "{location}: {}", text(&out));
        let entries = Journal::at(&p.join(dir)).read().unwrap();
        assert_eq!(entries.len(), 1, "{location}");
        // The home's journal is not read as data by the next run.
        let out = p.run(&["go"]);
        assert!(out.status.success(), "{location}: {}", text(&out));
        assert_eq!(ids(&read_parquet_dir(&p.join("lake/users"))).len(), 3);
    }
    let p = Project::new("name: t\njournal:\n  location: invalid\n");
    p.write("flows/f/flow.yml", "home: data\nstore: lake\n");
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("journal.location"),
        "{}",
        stderr(&out)
    );
}

/// An incremental entity with a watermark reads only the rows after the last run's
/// watermark, and the journal records the watermark (an integer as its digits).
///
/// Ports `tests/unit/hygge/core/test_flow.py::test_flow_incremental_uses_watermark_when_supported`,
/// `tests/unit/hygge/core/test_journal.py::test_get_watermark_most_recent` and
/// `tests/unit/hygge/core/test_watermark.py::test_update_integer`, `test_serialize_integer`.
/// (The original's file homes ignored the watermark and reloaded every row, appending it
/// again; hygge filters every home.)
#[test]
fn an_incremental_run_reads_only_rows_after_the_watermark_and_journals_it() {
    let p = Project::new("name: t\njournal:\n  path: .hygge_journal\n");
    write_parquet(&p.join("data/users/a.parquet"), &[batch(0, 10)]);
    p.write(
        "flows/users_flow/flow.yml",
        "home: data\nstore: lake\nrun_type: incremental\nwatermark:\n  primary_key: id\n  watermark_column: id\nentities: [users]\n",
    );
    assert!(p.run(&["go"]).status.success());
    write_parquet(&p.join("data/users/b.parquet"), &[batch(10, 5)]);
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("lake/users"))),
        (0..15).collect::<Vec<_>>()
    );
    let entries = Journal::at(&p.join(".hygge_journal")).read().unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last.row_count, 5);
    assert_eq!(last.watermark.as_deref(), Some("14"));
    assert_eq!(last.watermark_type.as_deref(), Some("int"));
    assert_eq!(last.watermark_column.as_deref(), Some("id"));
    assert_eq!(last.primary_key.as_deref(), Some("id"));
}

/// An entity whose data lacks its watermark column or primary key fails, naming the
/// column; so does a column of a type a watermark cannot be.
///
/// Ports `tests/unit/hygge/core/test_flow.py::test_flow_watermark_validation_fails_fast` and
/// `tests/unit/hygge/core/test_watermark.py::test_validate_schema_missing_watermark_column`,
/// `test_validate_schema_missing_primary_key`.
#[test]
fn a_missing_watermark_column_or_primary_key_fails_the_entity_naming_it() {
    for (pk, column, want) in [
        (
            "id",
            "updated_at",
            "watermark column `updated_at` is not in the data",
        ),
        (
            "user_id",
            "id",
            "primary key column `user_id` is not in the data",
        ),
    ] {
        let p = Project::new("name: t\njournal:\n  path: .hygge_journal\n");
        write_parquet(&p.join("data/users/a.parquet"), &[batch(0, 3)]);
        p.write(
            "flows/users_flow/flow.yml",
            &format!(
                "home: data\nstore: lake\nrun_type: incremental\nwatermark:\n  primary_key: {pk}\n  watermark_column: {column}\nentities: [users]\n"
            ),
        );
        let (out, report) = p.go_json(&[]);
        assert_eq!(out.status.code(), Some(1), "{pk}/{column}");
        let e = report["report"]["flows"][0]["error"].as_str().unwrap();
        assert!(e.contains(want), "{e}");
        assert!(!p.join("lake/users").exists());
    }
}

/// `hygge init` writes a project (`hygge.yml` with its name and `flows_dir`, an example
/// flow with an entity), honours `--flows-dir`, refuses an existing folder unless
/// `--force`, and the project it writes passes `hygge debug`.
///
/// Ports `tests/unit/hygge/test_cli.py::test_init_creates_project_structure`,
/// `test_init_with_custom_project_name`, `test_init_with_custom_flows_dir`,
/// `test_init_fails_when_project_dir_exists` and `test_init_with_force_overwrites_existing`.
#[test]
fn init_writes_a_project_debug_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| hygge().args(args).current_dir(tmp.path()).output().unwrap();
    let out = run(&["init", "my_custom_project", "--flows-dir", "my_flows"]);
    assert!(out.status.success(), "{}", text(&out));
    let root = tmp.path().join("my_custom_project");
    let yml = fs::read_to_string(root.join("hygge.yml")).unwrap();
    assert!(
        yml.contains("name: my_custom_project") && yml.contains("flows_dir: my_flows"),
        "{yml}"
    );
    assert!(root.join("my_flows/example_flow/flow.yml").is_file());
    assert!(
        root.join("my_flows/example_flow/entities/users.yml")
            .is_file()
    );
    let out = hygge().arg("debug").current_dir(&root).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));

    fs::create_dir_all(tmp.path().join("test_project")).unwrap();
    fs::write(
        tmp.path().join("test_project/hygge.yml"),
        "name: existing_project",
    )
    .unwrap();
    let out = run(&["init", "test_project"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("already exists") && stderr(&out).contains("--force"),
        "{}",
        stderr(&out)
    );
    let out = run(&["init", "test_project", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        fs::read_to_string(tmp.path().join("test_project/hygge.yml"))
            .unwrap()
            .contains("name: test_project")
    );
}
