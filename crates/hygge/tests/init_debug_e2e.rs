//! `hygge init` and `hygge debug`, through the binary.

mod common;

use common::*;

#[test]
fn init_writes_a_project_that_runs_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = hygge()
        .args(["init", "cosy"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let root = tmp.path().join("cosy");
    assert!(root.join("hygge.yml").is_file());
    assert!(root.join("flows/example_flow/entities/users.yml").is_file());
    let out = hygge().args(["go"]).current_dir(&root).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 ok") && stdout(&out).contains("10 rows"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).is_empty(),
        "a fresh project runs without warnings: {}",
        stderr(&out)
    );
    assert_eq!(
        ids(&read_parquet_dir(&root.join("data/destination/users"))),
        (1..=10).collect::<Vec<_>>()
    );
    // An existing folder is refused without --force.
    let out = hygge()
        .args(["init", "cosy"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let out = hygge()
        .args(["init", "cosy", "--force", "--flows-dir", "pipelines"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(root.join("pipelines/example_flow/flow.yml").is_file());
    assert!(
        std::fs::read_to_string(root.join("hygge.yml"))
            .unwrap()
            .contains("flows_dir: pipelines")
    );
}

#[test]
fn debug_checks_every_home_and_store_b10() {
    let p = parquet_project(&["users", "ghost", "broken"], "");
    write_parquet(&p.join("data/users/x.parquet"), &[batch(0, 3)]);
    p.write("data/broken/x.parquet", "not parquet at all");
    // A `local` CSV home too: the original's debug checked only `type: parquet` homes.
    p.write(
        "flows/csv/flow.yml",
        "home:\n  type: local\n  path: csvs\n  format: csv\nstore: out_csv\nentities: [a, b]\n",
    );
    p.write("csvs/a/x.csv", "id\n1\n");
    let out = p.run(&["debug"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("configuration: valid"), "{text}");
    assert!(
        text.contains("flow      f (3 entities: users, ghost, broken)"),
        "{text}"
    );
    assert!(text.contains("✓ f_users  home ✓  store ✓"), "{text}");
    // Data that is not there yet is a warning (as the original); a file that cannot be
    // read is a failure.
    assert!(text.contains("⚠ f_ghost  home ⚠  store ✓"), "{text}");
    assert!(text.contains("✗ f_broken  home ✗  store ✓"), "{text}");
    assert!(text.contains("✓ csv_a  home ✓  store ✓"), "{text}");
    assert!(text.contains("⚠ csv_b  home ⚠"), "{text}");
    assert!(
        text.contains("fix:   check `home` in flows/f/flow.yml"),
        "{text}"
    );
    assert!(
        text.contains("note:  a run fails for this entity until its data is there"),
        "{text}"
    );
    assert!(text.contains("1 check failed."), "{text}");
    assert!(
        !p.join("out").exists() && !p.join("out_csv").exists(),
        "debug writes nothing"
    );
}

#[test]
fn debug_reports_an_invalid_configuration() {
    let p = parquet_project(&["users"], "  compresion: zstd\n");
    let out = p.run(&["debug"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `compression`"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("configuration: invalid"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_store_with_fsync_off_still_publishes_atomically() {
    let p = parquet_project(&["users"], "  fsync: false\n");
    write_parquet(&p.join("data/users/x.parquet"), &[batch(0, 30)]);
    assert!(p.run(&["go"]).status.success());
    assert!(p.run(&["go"]).status.success());
    assert_eq!(
        ids(&read_parquet_dir(&p.join("out/users"))),
        (0..30).collect::<Vec<_>>()
    );
    let text = stdout(&p.run(&["go", "--dry-run", "--verbose"]));
    assert!(text.contains("fsync off"), "{text}");
}

#[test]
fn debug_reports_an_mssql_connection_it_cannot_reach_without_its_password() {
    let p = parquet_project(&["users"], "");
    write_parquet(&p.join("data/users/x.parquet"), &[batch(0, 3)]);
    // Port 1 on loopback: nothing listens there.
    p.write(
        "hygge.yml",
        "name: t\nconnections:\n  dw:\n    type: mssql\n    server: 127.0.0.1,1\n    database: y\n    user: sa\n    password: s3cret-pw\n",
    );
    let out = p.run(&["debug"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("✗ connection dw (mssql://sa@127.0.0.1:1/y): cannot reach 127.0.0.1:1"),
        "{text}"
    );
    assert!(!text.contains("s3cret-pw"), "{text}");
    assert!(text.contains("✓ f_users  home ✓  store ✓"), "{text}");
}

#[test]
fn a_password_for_an_unverified_server_is_warned_about_by_debug_and_go_without_printing_it() {
    // PostgreSQL at a host name that is not this machine, with a password and the default
    // sslmode (prefer: nothing verified); SQL Server with the original's trust_cert: yes.
    // Neither can be reached: the warnings come first, name the connection and the key to
    // set, and never the secret.
    let p = parquet_project(&["users"], "");
    write_parquet(&p.join("data/users/x.parquet"), &[batch(0, 3)]);
    p.write(
        "hygge.yml",
        "name: t\nconnections:\n  pg:\n    type: postgres\n    host: db.invalid\n    user: loader\n    password: pg-s3cret\n    connect_timeout: 2\n  dw:\n    type: mssql\n    server: dw.invalid\n    user: sa\n    password: ms-s3cret\n    timeout: 2\n",
    );
    let out = p.run(&["debug"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out) + &stderr(&out);
    assert!(
        text.contains("warning: connection `pg` (postgres://loader@db.invalid:5432/loader): its password is sent"),
        "{text}"
    );
    assert!(text.contains("set `sslmode: verify-full`"), "{text}");
    assert!(
        text.contains(
            "warning: connection `dw` (mssql://sa@dw.invalid:1433/): its SQL login password is sent"
        ),
        "{text}"
    );
    assert!(text.contains("set `trust_cert: no`"), "{text}");
    assert!(text.contains("✗ connection pg"), "{text}");
    assert!(!text.contains("s3cret"), "a secret was printed: {text}");

    // `hygge go` through the PostgreSQL connection: said once, on stderr, at the start.
    p.write(
        "flows/g/flow.yml",
        "home:\n  type: postgres\n  connection: pg\n  table: public.{entity}\nstore:\n  type: parquet\n  path: out\nentities: [a, b]\n",
    );
    let out = p.run(&["go", "--flow", "g"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(
        err.matches(
            "connection `pg` (postgres://loader@db.invalid:5432/loader): its password is sent"
        )
        .count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("hygge.yml:3:3: warning at `connections.pg`"),
        "{err}"
    );
    assert!(!(err.clone() + &stdout(&out)).contains("s3cret"), "{err}");
    let log = std::fs::read_to_string(p.join("logs/hygge.log")).unwrap_or_default();
    assert!(!log.contains("s3cret"), "{log}");
}
