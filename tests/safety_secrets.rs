//! Safe deploys, part 4 (issue 4): secrets and backups. No failure path prints the
//! password (text, `-v` debug logs, `--format json`, child processes' output), libpq URL
//! parameters pass through, and `upgrade --backup FILE` dumps first or applies nothing.
//!
//! Each test's database belongs to a role of its own with a random password
//! (`support::pg_database_with_password`), so that "no output shows the password" proves
//! something on any server, a `HAVEN_TEST_DATABASE_URL` one with trust auth too.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use support::{
    haven_and, pg_recorded, pg_sessions_waiting, pg_table_exists, run, wait_until, Background,
    Dialect, Migrations, PgGate, Run,
};

/// The output modes every failure is checked in.
const MODES: [&[&str]; 3] = [&[], &["-v"], &["--format", "json"]];

/// Runs `args` in every output mode, expecting `code`, and that no secret shows.
#[track_caller]
fn fails_without_secrets(
    migrations: &Migrations,
    url: &str,
    args: &[&str],
    code: i32,
    secrets: &[&str],
) -> Vec<Run> {
    MODES
        .iter()
        .map(|mode| {
            let out = run(migrations.cmd(url).args(*mode).args(args));
            out.code(code).never_says(secrets);
            if mode.contains(&"json") {
                let report: serde_json::Value =
                    serde_json::from_str(&out.stdout).expect("one JSON object, also on failure");
                assert_eq!(report["ok"], false, "{report}");
                assert!(report["error"]["message"].is_string(), "{report}");
            }
            out
        })
        .collect()
}

#[test]
fn a_wrong_password_is_never_printed() {
    let db = support::pg_database_with_password();
    if !db.checks_passwords() {
        return; // a HAVEN_TEST_DATABASE_URL server with trust auth: nothing to prove
    }
    let wrong = "Wr0ngPassw0rd-4e7c1b9a";
    let url = db.url_with_password(wrong);
    let migrations = Migrations::haven(Dialect::Postgres);
    for args in [
        &["upgrade", "head"][..],
        &["check"],
        &["current"],
        &["history"],
        &["stamp", "head"],
        &["downgrade", "base"],
        &["verify"],
        &["upgrade", "--backup", "/tmp/never-written.sql"],
    ] {
        for out in fails_without_secrets(&migrations, &url, args, 1, &[wrong, &db.password]) {
            assert!(
                out.stderr.contains("password authentication failed"),
                "the real cause is shown for {args:?}: {}",
                out.stderr
            );
        }
    }
    assert_eq!(pg_recorded(&db), (vec![], vec![]));
}

#[test]
fn the_right_password_is_never_printed_when_the_database_is_missing() {
    let db = support::pg_database_with_password();
    let url = db.url_for_database("no_such_database");
    let migrations = Migrations::haven(Dialect::Postgres);
    for args in [&["upgrade", "head"][..], &["check"], &["verify"]] {
        for out in fails_without_secrets(&migrations, &url, args, 1, &[&db.password]) {
            assert!(out.stderr.contains("no_such_database"), "{}", out.stderr);
        }
    }
}

#[test]
fn a_password_for_an_unreachable_server_is_never_printed() {
    let migrations = Migrations::haven(Dialect::Postgres);
    // Port 1 on localhost: nothing listens, the connection is refused at once.
    let cases = [
        (
            "postgres://deployer:Tr0ub4dor-and-3-distinct@127.0.0.1:1/haven",
            vec!["Tr0ub4dor-and-3-distinct"],
        ),
        (
            "postgres://deployer:p%40ss%2Fw0rd-Distinct@127.0.0.1:1/haven",
            vec![
                "p@ss/w0rd-Distinct",
                "p%40ss%2Fw0rd-Distinct",
                "w0rd-Distinct",
            ],
        ),
        (
            "postgresql://deployer@127.0.0.1:1/haven?password=QueryPw-Distinct&connect_timeout=5",
            vec!["QueryPw-Distinct"],
        ),
    ];
    for (url, secrets) in cases {
        for args in [&["upgrade", "head"][..], &["check"], &["verify"]] {
            fails_without_secrets(&migrations, url, args, 1, &secrets);
        }
    }
}

#[test]
fn the_password_is_not_printed_on_a_lock_timeout() {
    let db = support::pg_database_with_password();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add(
        "2026-01-01-000005_gated",
        "CREATE TABLE gated (id int);\nSELECT count(*) FROM gate;\n",
        "DROP TABLE gated;\n",
    );
    let gate = PgGate::lock(&db);
    let holder = Background::spawn(migrations.cmd(&db.url).args(["-v", "upgrade", "head"]));
    wait_until("the gated migration waits on the gate", || {
        pg_sessions_waiting(&db, "FROM gate", "Lock") == 1
    });
    for out in fails_without_secrets(
        &migrations,
        &db.url,
        &["--lock-timeout", "1", "upgrade", "head"],
        1,
        &[&db.password],
    ) {
        assert!(out.all().contains("migration lock"), "{}", out.all());
    }
    gate.release();
    holder.wait().code(0).never_says(&[&db.password]);
}

#[test]
fn the_password_is_not_printed_when_a_migration_fails_or_succeeds() {
    let db = support::pg_database_with_password();
    let migrations = Migrations::haven(Dialect::Postgres);
    run(migrations.cmd(&db.url).args(["-v", "upgrade", "head"]))
        .code(0)
        .says(&["debug:"])
        .never_says(&[&db.password]);
    // The password is in the migration's error text itself: scrubbed all the same.
    migrations.add(
        "2026-01-01-000005_broken",
        &format!("SELECT * FROM \"table_{}\";\n", db.password),
        "SELECT 1;\n",
    );
    for out in fails_without_secrets(
        &migrations,
        &db.url,
        &["upgrade", "head"],
        1,
        &[&db.password],
    ) {
        assert!(out.all().contains("20260101000005"), "{}", out.all());
    }
    run(migrations.cmd(&db.url).args(["-v", "history"]))
        .code(0)
        .never_says(&[&db.password]);
}

#[test]
fn libpq_url_parameters_pass_through() {
    let db = support::pg_database_with_password();
    let migrations = Migrations::haven(Dialect::Postgres);
    let bogus = format!("{}&sslmode=bogus", db.url);
    run(migrations.cmd(&bogus).arg("check"))
        .code(1)
        .says(&["sslmode"])
        .never_says(&[&db.password]);
    let url = format!("{}&sslmode=disable&application_name=deployer", db.url);
    let dump = migrations.tmp.path().join("before.sql");
    run(migrations
        .cmd(&url)
        .args(["upgrade", "head", "--backup"])
        .arg(&dump))
    .code(0);
    assert!(fs::metadata(&dump).expect("the dump").len() > 0);
    assert_eq!(pg_recorded(&db).0, haven_and(&[]));
}

#[test]
fn backup_writes_a_dump_before_upgrading() {
    let db = support::pg_database_with_password();
    let migrations = Migrations::haven(Dialect::Postgres);
    run(migrations.cmd(&db.url).args(["upgrade", "+2"])).code(0);
    let dump = migrations.tmp.path().join("backup.sql");
    run(migrations
        .cmd(&db.url)
        .args(["upgrade", "head", "--backup"])
        .arg(&dump))
    .code(0)
    .never_says(&[&db.password]);
    let text = fs::read_to_string(&dump).expect("the dump");
    assert!(text.contains("PostgreSQL database dump"), "{text}");
    // Taken before the upgrade: the first two migrations' tables, not the later ones'.
    assert!(text.contains("CREATE TABLE public.aurora_bookings"));
    assert!(!text.contains("CREATE TABLE public.audit_log"));
    assert_eq!(pg_recorded(&db).0, haven_and(&[]));
    assert!(pg_table_exists(&db, "audit_log"));
}

#[test]
fn a_backup_to_an_unwritable_path_applies_nothing() {
    let db = support::pg_database_with_password();
    let migrations = Migrations::haven(Dialect::Postgres);
    for mode in MODES {
        run(migrations.cmd(&db.url).args(mode).args([
            "upgrade",
            "head",
            "--backup",
            "/nonexistent-dir/x.sql",
        ]))
        .code(1)
        .says(&[
            "backup failed",
            "nothing was applied",
            "/nonexistent-dir/x.sql",
        ])
        .never_says(&[&db.password]);
    }
    assert!(!pg_table_exists(&db, "users"));
    assert_eq!(pg_recorded(&db), (vec![], vec![]), "not even the tables");
}

#[test]
fn a_failing_pg_dump_gets_the_password_from_the_environment_and_its_output_is_scrubbed() {
    let db = support::pg_database_with_password();
    let migrations = Migrations::haven(Dialect::Postgres);
    // A pg_dump that records how it was called, prints the password, and fails.
    let bin = migrations.tmp.path().join("bin");
    fs::create_dir(&bin).expect("a bin dir");
    let argv_file = migrations.tmp.path().join("argv");
    let env_file = migrations.tmp.path().join("env");
    // It reports the server's version, as a pg_dump that fits must.
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = --version ] && {{ echo 'pg_dump (PostgreSQL) {}'; exit 0; }}\n\
         printf '%s\\n' \"$@\" > '{}'\nprintf '%s' \"$PGPASSWORD\" > '{}'\n\
         echo \"pg_dump: error: connection to server failed: password $PGPASSWORD rejected\" >&2\n\
         exit 1\n",
        support::pg_server_version(),
        argv_file.display(),
        env_file.display()
    );
    let fake = bin.join("pg_dump");
    fs::write(&fake, script).expect("write the fake pg_dump");
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).expect("make it executable");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for mode in MODES {
        run(migrations.cmd(&db.url).env("PATH", &path).args(mode).args([
            "upgrade",
            "head",
            "--backup",
            "/tmp/unused.sql",
        ]))
        .code(1)
        .says(&["backup failed", "rejected"])
        .never_says(&[&db.password]);
    }
    let argv = fs::read_to_string(&argv_file).expect("the fake pg_dump ran");
    assert!(
        !argv.contains(&db.password),
        "not on the command line: {argv}"
    );
    assert_eq!(
        fs::read_to_string(&env_file).expect("its environment"),
        db.password,
        "through PGPASSWORD"
    );
    assert!(!pg_table_exists(&db, "users"));
    assert_eq!(pg_recorded(&db), (vec![], vec![]));
}
