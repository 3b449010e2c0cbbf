//! The command line and configuration errors, through the binary.

mod common;

use common::*;

fn project() -> Project {
    let p = parquet_project(&["users", "orders"], "");
    write_parquet(&p.join("data/users/x.parquet"), &[batch(0, 10)]);
    write_parquet(&p.join("data/orders/x.parquet"), &[batch(0, 20)]);
    p
}

#[test]
fn version_and_help() {
    let out = hygge().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).starts_with("hygge "), "{}", stdout(&out));
    let out = hygge().args(["go", "--help"]).output().unwrap();
    assert!(stdout(&out).contains("--concurrency"));
}

#[test]
fn start_is_an_alias_of_go() {
    let p = project();
    let out = p.run(&["start"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 ok"));
}

#[test]
fn flow_and_entity_filters_b4() {
    let p = project();
    p.write(
        "flows/g/flow.yml",
        "home: data\nstore: out_g\nentities: [users]\n",
    );
    // Two --flow flags both run (the original kept only the last: B4).
    let (out, r) = p.go_json(&["--flow", "f_users", "--flow", "g"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<&str> = r["report"]["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["f_users", "g_users"]);
    // Comma-separated, base flow names.
    let (_, r) = p.go_json(&["--flow", "f,g"]);
    assert_eq!(r["report"]["totals"]["entities"], 3);
    // --entity flow.entity
    let (_, r) = p.go_json(&["--entity", "f.orders"]);
    assert_eq!(r["report"]["flows"][0]["name"], "f_orders");
    assert_eq!(r["report"]["totals"]["entities"], 1);
}

#[test]
fn an_unknown_flow_lists_the_valid_ones() {
    let p = project();
    let out = p.run(&["go", "--flow", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("no flow named `nope`") && err.contains("Flows: f") && err.contains("f_users"),
        "{err}"
    );
}

#[test]
fn a_bad_entity_argument_is_explained() {
    let p = project();
    let out = p.run(&["go", "--entity", "users"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not in the form flow.entity"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["go", "--entity", "f.nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("Entities: f.users, f.orders"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn incremental_and_full_drop_together_are_refused() {
    let p = project();
    let out = p.run(&["go", "--incremental", "--full-drop"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be used together"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn options_concurrency_is_honoured_under_the_cli_b3() {
    let p = project();
    p.write(
        "hygge.yml",
        "name: t\noptions:\n  concurrency: ${CONC:-1}\n",
    );
    let out = p.run(&["go"]);
    assert!(stdout(&out).contains("concurrency 1"), "{}", stdout(&out));
    let out = p.run(&["go", "-c", "3"]);
    assert!(stdout(&out).contains("concurrency 3"), "{}", stdout(&out));
}

#[test]
fn config_errors_are_all_reported_with_file_line_and_suggestion() {
    let p = Project::new("name: t\noptions:\n  concurency: 2\n");
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: parquet\n  path: out\n  compresion: zstd\n  batch_size: lots\nentities: [a]\n",
    );
    p.write("flows/g/flow.yml", "store: out\n");
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("hygge.yml:3:3: error at `options.concurency`: unknown key `concurency` in options; did you mean `concurrency`?"), "{err}");
    assert!(err.contains("f/flow.yml:5:3: error at `store.compresion`: unknown key `compresion` in a parquet store; did you mean `compression`?"), "{err}");
    assert!(err.contains("f/flow.yml:6:15: error at `store.batch_size`: invalid type: string \"lots\", expected a whole number"), "{err}");
    assert!(
        err.contains("g/flow.yml") && err.contains("missing field `home`"),
        "{err}"
    );
    assert!(err.contains("4 problems found; nothing was run."), "{err}");
    assert!(!p.join("out").exists());
}

#[test]
fn an_unset_variable_is_named_with_its_place() {
    let p = project();
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore: ${NOT_SET_ANYWHERE_42}/out\nentities: [users]\n",
    );
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("flow.yml:2:8") && err.contains("`NOT_SET_ANYWHERE_42` is not set"),
        "{err}"
    );
}

#[test]
fn variables_expand_everywhere_with_defaults() {
    let p = project();
    p.write(
        "flows/f/flow.yml",
        "home: ${SRC:-data}\nstore:\n  type: parquet\n  path: ${DST_DIR}\n  batch_size: ${ROWS:-4}\nentities: [users]\n",
    );
    let out = hygge()
        .args(["go"])
        .current_dir(p.path())
        .env("DST_DIR", p.join("elsewhere"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        listing(&p.join("elsewhere/users")).len(),
        3,
        "10 rows at 4 per file"
    );
}

#[test]
fn an_unknown_or_future_type_is_explained() {
    let p = project();
    p.write("flows/f/flow.yml", "home:\n  type: parquett\n  path: data\nstore:\n  type: delta\n  path: x\nentities: [users]\n");
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("unknown home type `parquett`; did you mean `parquet`?"),
        "{err}"
    );
    assert!(
        err.contains("store type `delta` is not available in this version of hygge yet"),
        "{err}"
    );
}

#[test]
fn no_project_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = hygge()
        .args(["go"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no hygge.yml found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn options_continue_on_error_is_honoured_b3() {
    let p = project();
    p.write(
        "hygge.yml",
        "name: t\noptions:\n  continue_on_error: true\n",
    );
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore: out\nentities: [users, ghost]\n",
    );
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("1 ok, 1 failed"), "{}", stdout(&out));
}

#[test]
fn legacy_keys_written_by_the_original_init_are_accepted() {
    let p = project();
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore: out\ndefaults:\n  key_column: id\n  batch_size: 10000\n",
    );
    p.write(
        "flows/f/entities/users.yml",
        "name: users\ncolumns: [id, name]\nsource_config:\n  where: \"id > 0\"\n",
    );
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`columns` is accepted for compatibility"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn var_overrides_are_yaml_scalars_and_deep_merged() {
    let p = project();
    // `=3` is the number 3 (the original made `=1` into true); nested keys are created.
    let out = p.run(&[
        "go",
        "--var",
        "flow.f.store.batch_size=3",
        "--var",
        "flow.f.store.compression=zstd",
        "--entity",
        "f.users",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        listing(&p.join("out/users")).len(),
        4,
        "10 rows at 3 per file"
    );
    let out = p.run(&["go", "--var", "flow.f.queue_size=1"]);
    assert!(
        out.status.success(),
        "queue_size=1 is the integer 1: {}",
        stderr(&out)
    );
}

#[test]
fn bad_var_arguments_are_explained() {
    let p = project();
    let out = p.run(&["go", "--var", "store.batch_size=3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not in the form flow.<flow>.<key>"),
        "{}",
        stderr(&out)
    );
    // A flow the project lacks: no effect, said (as the original, which ignored it).
    let out = p.run(&["go", "--var", "flow.nope.queue_size=3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "--var `flow.nope.queue_size=...` has no effect: this project has no flow named `nope`"
        ) && stderr(&out).contains("Flows: f"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["go", "--var", "flow.f.store.batch_size=lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("store.batch_size"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let p = project();
    let out = p.run(&["go", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("dry run: no data is read or written"),
        "{text}"
    );
    assert!(
        text.contains("✓ f_users  parquet → parquet  (full_drop: creates "),
        "{text}"
    );
    assert!(!p.join("out").exists(), "a dry run creates nothing");
    // After a real run, the plan says what would be replaced or appended.
    assert!(p.run(&["go"]).status.success());
    let text = stdout(&p.run(&["go", "--dry-run"]));
    assert!(text.contains("replaces the 1 file now in"), "{text}");
    let text = stdout(&p.run(&["go", "--dry-run", "--incremental"]));
    assert!(
        text.contains("appends to the 1 file now in") && text.contains("from sequence 2"),
        "{text}"
    );
    assert!(
        text.contains("warning: incremental without a watermark"),
        "{text}"
    );
}

#[test]
fn dry_run_verbose_shows_the_watermark_column_b5() {
    let p = project();
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore: out\nwatermark:\n  primary_key: id\n  watermark_column: updated_at\nentities: [users]\n",
    );
    let out = p.run(&["go", "--dry-run", "--verbose"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("watermark: column `updated_at`, primary key `id`"),
        "{text}"
    );
    assert!(text.contains("batch_size 10000"), "{text}");
    assert!(text.contains("100000 rows per file"), "{text}");
}

#[test]
fn the_run_is_logged_to_logs_hygge_log() {
    let p = project();
    let out = p.run(&["go", "--entity", "f.users"]);
    assert!(out.status.success());
    let log = std::fs::read_to_string(p.join("logs/hygge.log")).unwrap();
    assert!(
        log.contains("[1 of 1] START f_users") && log.contains("OK f_users (10 rows"),
        "{log}"
    );
    assert!(log.contains("All flows completed successfully!"), "{log}");
    // Configurable, and `false` turns it off.
    p.write("hygge.yml", "name: t\noptions:\n  log_file: run.log\n");
    assert!(p.run(&["go"]).status.success());
    assert!(
        std::fs::read_to_string(p.join("run.log"))
            .unwrap()
            .contains("START f_orders")
    );
    p.write("hygge.yml", "name: t\noptions:\n  log_file: false\n");
    std::fs::remove_dir_all(p.join("logs")).unwrap();
    assert!(p.run(&["go"]).status.success());
    assert!(!p.join("logs").exists());
}

#[test]
fn log_level_and_verbose_are_honoured_b6() {
    let p = project();
    let quiet = p.run(&["go"]);
    assert!(!stderr(&quiet).contains("DEBUG"), "{}", stderr(&quiet));
    // options.log_level (ignored by the original under the CLI: B3/B6)
    p.write("hygge.yml", "name: t\noptions:\n  log_level: DEBUG\n");
    let out = p.run(&["go"]);
    assert!(
        stderr(&out).contains("DEBUG [f_users] published 10 rows"),
        "{}",
        stderr(&out)
    );
    // --verbose (a no-op in the original: B6)
    p.write("hygge.yml", "name: t\n");
    let out = p.run(&["go", "--verbose"]);
    assert!(
        stderr(&out).contains("DEBUG [f_orders] reading 1 parquet file(s)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_flow_timeout_is_enforced_b6() {
    let p = project();
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: local\n  path: in\n  format: csv\nstore: out\ntimeout: 1\nentities: [stuck, fine]\n",
    );
    p.write("in/fine/a.csv", "id\n1\n");
    // A FIFO nobody writes to: reading it blocks forever.
    std::fs::create_dir_all(p.join("in/stuck")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(p.join("in/stuck/a.csv"))
        .status()
        .unwrap();
    assert!(status.success());
    let start = std::time::Instant::now();
    let (out, report) = p.go_json(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "hygge exits despite the stuck read"
    );
    let flows = report["report"]["flows"].as_array().unwrap();
    let stuck = flows.iter().find(|f| f["entity"] == "stuck").unwrap();
    assert!(
        stuck["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 1s"),
        "{stuck}"
    );
    assert_eq!(
        flows.iter().find(|f| f["entity"] == "fine").unwrap()["status"],
        "success"
    );
    assert!(!p.join("out/stuck").exists());
    let plan = stdout(&p.run(&["go", "--dry-run", "--verbose"]));
    assert!(plan.contains("timeout:   1s per entity run"), "{plan}");
}

#[test]
fn connections_and_journal_are_validated() {
    let p = project();
    p.write(
        "hygge.yml",
        "name: t\nconnections:\n  warehouse:\n    type: mssql\n    server: tcp:x.database.windows.net,1433\n    database: dw\n    driver: ODBC Driver 18 for SQL Server\n    pool_size: 4\n    encrypt: Yes\n  pg:\n    type: postgres\n    hots: localhost\n  odd:\n    type: oracle\njournal:\n  path: .journal\n  locaton: store\n",
    );
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`connections.pg.hots`: unknown key `hots` in a postgres connection; did you mean `host`?"), "{err}");
    assert!(err.contains("unknown connection type `oracle`"), "{err}");
    assert!(
        err.contains("`journal.locaton`") && err.contains("did you mean `location`?"),
        "{err}"
    );
    assert!(
        !err.contains("warehouse"),
        "the original's mssql keys are all valid: {err}"
    );
}

#[test]
fn run_settings_from_variables_are_typed_like_literals() {
    let p = project();
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore: out\nqueue_size: ${Q:-2}\nqueue_memory_mb: ${M:-3}\nfull_drop: ${FD:-false}\ntimeout: ${T:-60}\nentities: [users]\n",
    );
    let out = p.run(&["go", "--dry-run", "--verbose"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("run type:  incremental"), "{text}");
    assert!(
        text.contains("queue:     2 batches between home and store, 3 MiB at most"),
        "{text}"
    );
    assert!(text.contains("timeout:   60s"), "{text}");
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore: out\nqueue_size: 500\nqueue_memory_mb: 0\nentities: [users]\n",
    );
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "flow.yml:3:13: error at `queue_size`: queue_size must be a whole number from 1 to 100"
        ),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(
            "flow.yml:4:18: error at `queue_memory_mb`: queue_memory_mb must be a whole number of MiB from 1 to 65536"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn entity_overrides_merge_into_the_flow_as_the_original() {
    let p = project();
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: parquet\n  path: out\n  compression: zstd\ndefaults:\n  batch_size: 4\n",
    );
    // home.path joined to the flow's (and the entity name not appended again);
    // store keys merged; top-level batch_size copied into the store (rows per file).
    p.write(
        "flows/f/entities/special.yml",
        "name: special\nhome:\n  path: users\nstore:\n  compression: gzip\nbatch_size: 5\n",
    );
    p.write("flows/f/entities/orders.yml", "name: orders\n");
    let out = p.run(&["go"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/special"))),
        (0..10).collect::<Vec<_>>()
    );
    assert_eq!(
        listing(&p.join("out/special")).len(),
        2,
        "batch_size 5 from the entity file"
    );
    assert_eq!(
        listing(&p.join("out/orders")).len(),
        5,
        "batch_size 4 from defaults"
    );
    let plan = stdout(&p.run(&["go", "--dry-run", "--verbose"]));
    assert!(
        plan.contains(
            "gzip, row groups of 5 rows (a Parquet source's that fit are copied), 5 rows per file"
        ),
        "{plan}"
    );
    assert!(
        plan.contains(
            "zstd, row groups of 4 rows (a Parquet source's that fit are copied), 4 rows per file"
        ),
        "{plan}"
    );
}

#[test]
fn a_flow_without_entities_is_one_entity_named_after_it() {
    let p = Project::new("name: t\n");
    write_parquet(&p.join("src/a.parquet"), &[batch(0, 7)]);
    p.write("flows/single/flow.yml", "home: src\nstore: dst\n");
    let (out, report) = p.go_json(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report["report"]["flows"][0]["name"], "single");
    // Paths are used as they are: no entity folder is appended.
    assert_eq!(
        listing(&p.join("dst")),
        vec!["00000000000000000001.parquet"]
    );
    assert_eq!(
        ids(&read_parquet_dir(&p.join("dst"))),
        (0..7).collect::<Vec<_>>()
    );
    assert!(p.run(&["go", "--entity", "single.single"]).status.success());
}

#[test]
fn secrets_never_appear_in_plans_or_errors() {
    let p = project();
    p.write(
        "hygge.yml",
        "name: t\nconnections:\n  dw:\n    type: mssql\n    server: x\n    database: y\n    user: loader\n    password: ${DW_PASSWORD}\n",
    );
    let run = |args: &[&str]| {
        hygge()
            .args(args)
            .current_dir(p.path())
            .env("DW_PASSWORD", "s3cr3t-Pa55")
            .output()
            .unwrap()
    };
    for args in [
        &["go", "--dry-run", "--verbose"][..],
        &["debug"][..],
        &["go"][..],
    ] {
        let out = run(args);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains("s3cr3t-Pa55"), "{args:?}: {all}");
    }
    let log = std::fs::read_to_string(p.join("logs/hygge.log")).unwrap();
    assert!(!log.contains("s3cr3t-Pa55"));
}

#[test]
fn dry_run_knows_the_next_file_of_a_flow_named_pattern() {
    let p = project();
    p.write(
        "flows/f/flow.yml",
        "home: data\nstore:\n  type: parquet\n  path: out\n  batch_size: 4\n  file_pattern: \"{flow_name}-{sequence:03d}.parquet\"\nentities: [users]\n",
    );
    assert!(p.run(&["go"]).status.success());
    assert_eq!(
        listing(&p.join("out/users")),
        vec![
            "f_users-001.parquet",
            "f_users-002.parquet",
            "f_users-003.parquet"
        ]
    );
    let text = stdout(&p.run(&["go", "--dry-run", "--incremental"]));
    assert!(text.contains("from sequence 4"), "{text}");
}

/// stderr, stdout and the log file of a run, together.
fn everything_printed(p: &Project, out: &std::process::Output) -> String {
    let log = std::fs::read_to_string(p.join("logs/hygge.log")).unwrap_or_default();
    format!("{}{}{log}", stdout(out), stderr(out))
}

#[test]
fn configuration_errors_never_echo_a_secret() {
    let p = Project::new(
        "name: s\nconnections:\n  pg:\n    type: postgres\n    host: 127.0.0.1\n    port: 1\n    connect_timeout: 1\n    user: u\n    password: 123456\n",
    );
    p.write(
        "flows/f/flow.yml",
        "home:\n  type: postgres\n  connection: pg\n  table: public.{entity}\nstore:\n  type: parquet\n  path: out\nentities: [t]\n",
    );
    // A number where a password is wanted is the text written (not a type error quoting it).
    let out = p.run(&["go", "--dry-run"]);
    assert!(out.status.success(), "{}", everything_printed(&p, &out));
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(1), "the server is not there");
    let all = everything_printed(&p, &out);
    assert!(all.contains("FAILED f_t"), "{all}");
    assert!(
        !all.contains("invalid type") && !all.contains("123456"),
        "{all}"
    );

    // `${` left open in a password, or an empty variable name in a token: the key and the
    // position, not the value.
    for (key, value, want) in [
        (
            "password",
            "hunter2${oops",
            "unclosed `${` at character 8 of the value of `password`",
        ),
        (
            "url",
            "postgres://u:hunter2@h/${}",
            "empty variable name at character 24 of the value of `url`",
        ),
    ] {
        p.write(
            "hygge.yml",
            &format!("name: s\nconnections:\n  pg:\n    type: postgres\n    {key}: \"{value}\"\n"),
        );
        let out = p.run(&["go"]);
        assert_eq!(out.status.code(), Some(2));
        let all = everything_printed(&p, &out);
        assert!(all.contains(want), "{all}");
        assert!(!all.contains("hunter2"), "{all}");
    }

    // --var with a secret: a flow that does not exist (no effect, said), a key spelt wrong,
    // a path through a value: the value is never echoed.
    p.write(
        "hygge.yml",
        "name: s\nconnections:\n  pg:\n    type: postgres\n    host: 127.0.0.1\n",
    );
    let out = p.run(&[
        "go",
        "--dry-run",
        "--var",
        "flow.nosuch.home.password=hunter2",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let all = everything_printed(&p, &out);
    assert!(
        all.contains("--var `flow.nosuch.home.password=...` has no effect"),
        "{all}"
    );
    assert!(!all.contains("hunter2"), "{all}");
    for var in [
        "flow.f.home.pasword=hunter2",
        "flow.f.home.table.password=hunter2",
        "flow.f.home.password",
        "flow..password=hunter2",
    ] {
        let out = p.run(&["go", "--dry-run", "--var", var]);
        assert_eq!(out.status.code(), Some(2), "{var}");
        let all = everything_printed(&p, &out);
        assert!(
            all.contains("--var") || all.contains("pasword"),
            "{var}: {all}"
        );
        assert!(!all.contains("hunter2"), "{var}: {all}");
    }
    // And a secret given on the command line is text as written.
    let out = p.run(&["go", "--dry-run", "--var", "flow.f.home.password=0123"]);
    assert!(out.status.success(), "{}", everything_printed(&p, &out));
}

#[test]
fn a_file_pattern_width_beyond_20_is_a_configuration_error_naming_the_key() {
    // `{sequence:0999999999999d}` would format a name of 10^12 zeros (and abort on the
    // allocation): refused when the configuration is checked, before anything runs.
    let p = parquet_project(
        &["t"],
        "  file_pattern: \"{sequence:0999999999999d}.parquet\"\n",
    );
    write_parquet(&p.join("data/t/x.parquet"), &[batch(0, 3)]);
    let out = p.run(&["go"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("error at `store.file_pattern`: file_pattern: the width in `{sequence:0999999999999d}` must be a number from 1 to 20"),
        "{err}"
    );
    assert!(err.contains("nothing was run"), "{err}");
    assert!(!p.join("out").exists());
}
