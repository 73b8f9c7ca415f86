//! `haven-migrate` end to end on PostgreSQL: every command against a fresh database of the
//! private, password-protected test cluster (or `HAVEN_TEST_DATABASE_URL`), and the `--sql`
//! scripts run through `psql` compared with the real commands.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command as StdCommand;

use support::PgTestDb;
use support::{
    applied_versions, copy_of_repo_migrations, haven, history_filters, hm, repo_migrations, run,
    run_std, subdirs, workdir, write_migration, Run, NAMES, VERSIONS,
};

/// `haven-migrate --database-url DB --migration-dir migrations/postgres ARGS`.
fn pg(db: &PgTestDb, args: &[&str]) -> Run {
    with_dir(db, &repo_migrations("postgres"), args)
}

/// `haven-migrate --database-url DB --migration-dir DIR ARGS`, in a fresh temp dir.
fn with_dir(db: &PgTestDb, dir: &Path, args: &[&str]) -> Run {
    let cwd = workdir();
    let dir = dir.to_str().expect("UTF-8 path");
    let mut all = vec!["--database-url", db.url.as_str(), "--migration-dir", dir];
    all.extend_from_slice(args);
    hm(cwd.path(), &all)
}

/// The applied versions, as `history --format json` reports them.
fn applied(db: &PgTestDb) -> Vec<String> {
    let run = pg(db, &["history", "--format", "json"]);
    run.ok();
    applied_versions(&run.json())
}

/// Whether a relation exists.
fn exists(db: &PgTestDb, relation: &str) -> bool {
    let out = db.psql(&format!("SELECT to_regclass('{relation}') IS NOT NULL"));
    match out.trim() {
        "t" => true,
        "f" => false,
        other => panic!("unexpected psql output {other:?}"),
    }
}

/// diesel's versions and the side table's version|name|checksum|dirty, as text; empty
/// when the tables do not exist.
fn bookkeeping(db: &PgTestDb) -> String {
    let mut out = String::new();
    if exists(db, "__diesel_schema_migrations") {
        out += &db.psql("SELECT version FROM __diesel_schema_migrations ORDER BY version");
    }
    if exists(db, "__haven_migrations") {
        out += &db
            .psql("SELECT version, name, checksum, dirty FROM __haven_migrations ORDER BY version");
    }
    out
}

/// The tables of the public schema, without the bookkeeping ones.
fn user_tables(db: &PgTestDb) -> Vec<String> {
    db.psql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' \
         AND left(tablename, 2) <> '__' ORDER BY tablename",
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

/// Everything a command could change: the schema dump and the bookkeeping rows.
fn snapshot(db: &PgTestDb) -> (String, String) {
    (db.pg_dump_schema(), bookkeeping(db))
}

/// Runs a script the documented way: `psql -v ON_ERROR_STOP=1 -f FILE`.
#[track_caller]
fn psql_script(db: &PgTestDb, script: &str) {
    let dir = workdir();
    let file = dir.path().join("script.sql");
    fs::write(&file, script).expect("write the script");
    let run = run_std(
        StdCommand::new(support::pg_bin("psql"))
            .envs(db.env())
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
            .arg(&file),
    );
    assert_eq!(run.code, 0, "psql failed:\n{}", run.stderr);
    assert!(!run.stderr.contains("ERROR"), "{}", run.stderr);
}

// ---------------------------------------------------------------- the commands

#[test]
fn pg_upgrade_and_downgrade_to_every_kind_of_target() {
    let db = support::pg_database();
    pg(&db, &["current"])
        .ok()
        .says(&["base (nothing applied)", "4 pending"]);
    pg(&db, &["upgrade", "+1"])
        .ok()
        .says(&["applied    20260101000001 initial_schema"]);
    assert_eq!(applied(&db), VERSIONS[..1]);
    assert_eq!(
        user_tables(&db),
        [
            "redemption_requests",
            "system_metrics",
            "transactions",
            "users"
        ]
    );
    pg(&db, &["upgrade", "aurora_integration_tables"]).ok();
    assert_eq!(applied(&db), VERSIONS[..2]);
    pg(&db, &["upgrade", "20260101000003"]).ok();
    assert_eq!(applied(&db), VERSIONS[..3]);
    pg(&db, &["upgrade"])
        .ok()
        .says(&["applied    20260101000004 audit_log_table"]);
    assert_eq!(applied(&db), VERSIONS);
    let current = pg(&db, &["current"]);
    current.ok();
    assert_eq!(
        current.stdout.trim(),
        "20260101000004 (audit_log_table) (head)"
    );
    let at_head = db.pg_dump_schema();
    assert!(
        at_head.contains("CREATE TABLE public.audit_log"),
        "{at_head}"
    );
    pg(&db, &["upgrade", "head"]).ok().says(&["nothing to do"]);

    pg(&db, &["downgrade", "-1"])
        .ok()
        .says(&["reverted   20260101000004 audit_log_table"]);
    assert_eq!(applied(&db), VERSIONS[..3]);
    assert!(!exists(&db, "audit_log"));
    pg(&db, &["downgrade", "initial_schema"]).ok();
    assert_eq!(applied(&db), VERSIONS[..1]);
    pg(&db, &["upgrade", "head", "-q"]).ok();
    assert_eq!(
        db.pg_dump_schema(),
        at_head,
        "down then up again: the same schema"
    );
    pg(&db, &["downgrade", "base"]).ok();
    assert!(applied(&db).is_empty());
    assert!(user_tables(&db).is_empty());
    assert_eq!(bookkeeping(&db), "");

    // At base, only the (empty) bookkeeping tables remain: types, functions, all gone.
    let empty = support::pg_database();
    pg(&empty, &["stamp", "base"]).ok();
    assert_eq!(db.pg_dump_schema(), empty.pg_dump_schema());
}

#[test]
fn pg_stamp_head_base_rev_and_purge() {
    let db = support::pg_database();
    pg(&db, &["stamp", "head"])
        .ok()
        .says(&["recorded 4 migration(s)"]);
    assert_eq!(applied(&db), VERSIONS);
    assert!(user_tables(&db).is_empty(), "stamp runs no migration SQL");
    let rows = db.psql("SELECT version, name, dirty FROM __haven_migrations ORDER BY 1");
    let expected: String = VERSIONS
        .iter()
        .zip(NAMES)
        .map(|(v, n)| format!("{v}|{n}|f\n"))
        .collect();
    assert_eq!(rows, expected);
    pg(&db, &["stamp", "initial_schema"]).ok();
    assert_eq!(applied(&db), VERSIONS[..1]);
    pg(&db, &["stamp", "+2"]).ok();
    assert_eq!(applied(&db), VERSIONS[..3]);
    pg(&db, &["stamp", "base"]).ok();
    assert_eq!(bookkeeping(&db), "");

    db.psql("INSERT INTO __diesel_schema_migrations (version) VALUES ('20200101000000')");
    pg(&db, &["stamp", "head"]).ok();
    assert!(
        bookkeeping(&db).contains("20200101000000"),
        "kept without --purge"
    );
    pg(&db, &["stamp", "head", "--purge"])
        .ok()
        .says(&["unrecorded 20200101000000"]);
    assert!(!bookkeeping(&db).contains("20200101000000"));
    pg(&db, &["check"]).ok();
}

#[test]
fn pg_check_exits_0_3_and_4() {
    let db = support::pg_database();
    pg(&db, &["check"]).code(3).says(&["4 pending"]);
    pg(&db, &["upgrade", "-q"]).ok();
    pg(&db, &["check"]).ok().says(&["ok: 20260101000004"]);
    db.psql("UPDATE __haven_migrations SET checksum = 'x' WHERE version = '20260101000003'");
    pg(&db, &["check"])
        .code(4)
        .says(&["20260101000003", "edited", "--rehash"]);
    pg(&db, &["upgrade"]).code(4);
    pg(&db, &["stamp", "head", "--rehash"]).ok();
    pg(&db, &["check"]).ok();
}

#[test]
fn pg_read_only_commands_create_no_tables() {
    let db = support::pg_database();
    let before = db.pg_dump_schema();
    for args in [
        &["current"][..],
        &["current", "--verbose"],
        &["history"],
        &["history", "--verbose"],
        &["upgrade", "--sql"],
        &["upgrade", "+1", "--sql"],
        &["upgrade", "--dry-run"],
        &["stamp", "head", "--sql"],
        &["downgrade", "base", "--sql"],
        &["downgrade", "head:base", "--sql"],
    ] {
        pg(&db, args).ok();
        assert!(!exists(&db, "__diesel_schema_migrations"), "{args:?}");
        assert!(!exists(&db, "__haven_migrations"), "{args:?}");
    }
    pg(&db, &["check"]).code(3);
    assert!(!exists(&db, "__diesel_schema_migrations"), "check");
    assert_eq!(db.pg_dump_schema(), before);

    // With some state, they change nothing either.
    pg(&db, &["upgrade", "+2", "-q"]).ok();
    let state = snapshot(&db);
    for args in [
        &["current"][..],
        &["history"],
        &["upgrade", "--sql"],
        &["upgrade", "--dry-run"],
        &["downgrade", "-1", "--sql"],
        &["stamp", "base", "--sql"],
    ] {
        pg(&db, args).ok();
        assert_eq!(snapshot(&db), state, "{args:?}");
    }
    pg(&db, &["check"]).code(3);
    assert_eq!(snapshot(&db), state);
}

#[test]
fn pg_bad_targets_exit_2_and_change_nothing() {
    let db = support::pg_database();
    pg(&db, &["upgrade", "+2", "-q"]).ok();
    let state = snapshot(&db);
    let cases: [(&[&str], &[&str]); 9] = [
        (
            &["upgrade", "nope"],
            &[
                "unknown revision `nope`",
                "20260101000004 (audit_log_table)",
            ],
        ),
        (&["downgrade", "nope"], &["unknown revision `nope`"]),
        (&["stamp", "nope"], &["unknown revision `nope`"]),
        (
            &["upgrade", "2026"],
            &[
                "ambiguous revision `2026`",
                "20260101000001 (initial_schema)",
            ],
        ),
        (
            &["upgrade", "+3"],
            &["cannot upgrade +3", "only 2 migration(s) are pending"],
        ),
        (
            &["downgrade", "-3"],
            &["cannot downgrade -3", "only 2 migration(s) are applied"],
        ),
        (&["downgrade", "tribe_integration_tables"], &["not applied"]),
        (&["stamp", "+3"], &["cannot stamp +3"]),
        (&["upgrade", "base"], &["downgrade"]),
    ];
    for (args, needles) in cases {
        pg(&db, args).code(2).says(needles);
        assert_eq!(snapshot(&db), state, "{args:?} changed the database");
    }
}

#[test]
fn pg_a_version_unknown_to_the_migrations_is_named_with_stamp_suggested() {
    let db = support::pg_database();
    pg(&db, &["upgrade", "-q"]).ok();
    db.psql("INSERT INTO __diesel_schema_migrations (version) VALUES ('20991231235959')");
    let state = snapshot(&db);
    pg(&db, &["current"]).ok().says(&["20991231235959"]);
    pg(&db, &["history"])
        .ok()
        .says(&["20991231235959", "MISSING", "stamp"]);
    for args in [&["check"][..], &["upgrade"], &["downgrade", "-1"]] {
        pg(&db, args)
            .code(4)
            .says(&["20991231235959", "can't locate revision", "stamp"]);
        assert_eq!(snapshot(&db), state, "{args:?}");
    }
    let json = pg(&db, &["check", "--format", "json"]);
    json.code(4);
    let report = json.json();
    assert_eq!(report["problems"][0]["kind"], "missing");
    assert_eq!(report["problems"][0]["version"], "20991231235959");
    assert_eq!(report["at_head"], false);
    pg(&db, &["stamp", "head", "--purge"]).ok();
    pg(&db, &["check"]).ok();
}

#[test]
fn pg_connection_failures_are_exit_1_and_never_show_the_password() {
    let db = support::pg_database_with_password();
    let wrong = "Wrong-Pass-4821";
    let bad_url = db.url_with_password(wrong);
    let unreachable = "postgres://nobody:Unreach-Pass-99@127.0.0.1:1/none".to_owned();
    let missing_db = db.url_for_database("no_such_database");
    let cwd = workdir();
    let mut urls = vec![
        (unreachable, "Connection refused"),
        (missing_db, "no_such_database"),
    ];
    if db.checks_passwords() {
        urls.push((bad_url, "password authentication failed"));
    }
    for (url, reason) in &urls {
        for args in [
            &["current"][..],
            &["-v", "upgrade"],
            &["check", "--verbose"],
            &["history", "--format", "json"],
            &["upgrade", "--sql", "-v"],
            &["-v", "stamp", "head"],
        ] {
            let mut all = vec!["--database-url", url.as_str()];
            all.extend_from_slice(args);
            let run = hm(cwd.path(), &all);
            run.code(1).says(&["cannot connect", reason]);
            for secret in [wrong, db.password.as_str(), "Unreach-Pass-99"] {
                assert!(
                    !run.all().contains(secret),
                    "{args:?} printed a password:\n{}",
                    run.all()
                );
            }
            if args.contains(&"json") {
                assert_eq!(run.json()["error"]["kind"], "connection");
            }
        }
    }
    // Through DATABASE_URL too.
    let run = run(haven(cwd.path())
        .env("DATABASE_URL", &urls[0].0)
        .args(["-v", "upgrade"]));
    run.code(1);
    assert!(!run.all().contains("Unreach-Pass-99"));
    // Nothing was created on the real database.
    assert!(!exists(&db, "__diesel_schema_migrations"));
}

#[test]
fn pg_a_failing_statement_names_the_migration_and_keeps_the_earlier_ones() {
    let db = support::pg_database();
    let tmp = workdir();
    let dir = tmp.path().join("m");
    write_migration(
        &dir,
        "2026-01-01-000001_good",
        "CREATE TABLE good (x INT);",
        Some("DROP TABLE good;"),
    );
    write_migration(
        &dir,
        "2026-01-01-000002_bad",
        "CREATE TYPE half_kind AS ENUM ('a');\nCREATE TABLE half (x INT);\n\
         INSERT INTO half VALUES (1);\nSELECT 1 / 0;\n",
        Some("DROP TABLE half; DROP TYPE half_kind;"),
    );
    write_migration(
        &dir,
        "2026-01-01-000003_after",
        "CREATE TABLE after (x INT);",
        Some("DROP TABLE after;"),
    );
    let run = with_dir(&db, &dir, &["upgrade"]);
    run.code(1)
        .stderr_has("20260101000002 (bad)")
        .stderr_has("division by zero");
    assert_eq!(user_tables(&db), ["good"]);
    assert_eq!(
        db.psql("SELECT count(*) FROM pg_type WHERE typname = 'half_kind'")
            .trim(),
        "0",
        "the failed migration left its type"
    );
    assert_eq!(
        db.psql("SELECT version FROM __diesel_schema_migrations"),
        "20260101000001\n"
    );
    assert_eq!(
        db.psql("SELECT version FROM __haven_migrations"),
        "20260101000001\n"
    );
    // The session state is clean for the next command: it fails the same way again.
    let json = with_dir(&db, &dir, &["upgrade", "--format", "json"]);
    json.code(1);
    let report = json.json();
    assert_eq!(report["error"]["kind"], "migration_failed");
    assert!(report["error"]["message"]
        .as_str()
        .expect("message")
        .contains("division by zero"));
    assert_eq!(user_tables(&db), ["good"]);
}

#[test]
fn pg_a_missing_down_sql_stops_a_downgrade_before_anything_is_reverted() {
    let db = support::pg_database();
    let tmp = workdir();
    let dir = tmp.path().join("m");
    write_migration(
        &dir,
        "2026-01-01-000001_one",
        "CREATE TABLE one (x INT);",
        None,
    );
    write_migration(
        &dir,
        "2026-01-01-000002_two",
        "CREATE TABLE two (x INT);",
        Some("DROP TABLE two;"),
    );
    with_dir(&db, &dir, &["upgrade", "-q"]).ok();
    let state = snapshot(&db);
    with_dir(&db, &dir, &["downgrade", "base"])
        .code(2)
        .stderr_has("20260101000001")
        .stderr_has("down.sql");
    assert_eq!(snapshot(&db), state, "nothing reverted");
    with_dir(&db, &dir, &["downgrade", "-2", "--sql"]).code(2);
    with_dir(&db, &dir, &["downgrade", "-1"]).ok();
    assert_eq!(user_tables(&db), ["one"]);
}

// ---------------------------------------------------------------- --sql

#[test]
fn pg_upgrade_sql_run_by_psql_equals_a_real_upgrade() {
    let real = support::pg_database();
    let scripted = support::pg_database();
    pg(&real, &["upgrade", "-q"]).ok();
    let up = pg(&scripted, &["upgrade", "base:head", "--sql"]);
    up.ok();
    assert!(
        !exists(&scripted, "__diesel_schema_migrations"),
        "--sql wrote"
    );
    psql_script(&scripted, &up.stdout);
    assert_eq!(scripted.pg_dump_schema(), real.pg_dump_schema());
    assert_eq!(bookkeeping(&scripted), bookkeeping(&real));
    let expected: String = VERSIONS.iter().map(|v| format!("{v}\n")).collect();
    assert_eq!(
        scripted.psql("SELECT version FROM __diesel_schema_migrations ORDER BY 1"),
        expected
    );
    assert_eq!(
        scripted
            .psql(
                "SELECT count(*) FROM __haven_migrations WHERE checksum IS NOT NULL AND NOT dirty"
            )
            .trim(),
        "4"
    );
    // haven-migrate sees the scripted database as at head, checksums verified.
    let check = pg(&scripted, &["check"]);
    check.ok();
    assert!(!check.stdout.contains("warning"), "{}", check.stdout);

    // Downgrade head:base, scripted and real, ends with only the bookkeeping tables.
    let down = pg(&scripted, &["downgrade", "head:base", "--sql"]);
    down.ok();
    psql_script(&scripted, &down.stdout);
    pg(&real, &["downgrade", "base", "-q"]).ok();
    assert_eq!(scripted.pg_dump_schema(), real.pg_dump_schema());
    assert_eq!(bookkeeping(&scripted), "");
    assert!(user_tables(&scripted).is_empty());
    let empty = support::pg_database();
    pg(&empty, &["stamp", "base"]).ok();
    assert_eq!(scripted.pg_dump_schema(), empty.pg_dump_schema());
}

#[test]
fn pg_online_sql_starts_from_the_database_and_composes() {
    let real = support::pg_database();
    let scripted = support::pg_database();
    pg(&scripted, &["upgrade", "+2", "-q"]).ok();
    let state = snapshot(&scripted);
    let rest = pg(&scripted, &["upgrade", "--sql"]);
    rest.ok()
        .says(&["upgrade script for PostgreSQL, 2 step(s)"]);
    assert!(!rest.stdout.contains("-- Apply 20260101000002"));
    assert!(rest.stdout.contains("-- Apply 20260101000003"));
    assert_eq!(snapshot(&scripted), state, "--sql wrote nothing");
    psql_script(&scripted, &rest.stdout);
    pg(&real, &["upgrade", "-q"]).ok();
    assert_eq!(snapshot(&scripted), snapshot(&real));

    // A partial downgrade script from the database's state.
    let down = pg(&scripted, &["downgrade", "initial_schema", "--sql"]);
    down.ok();
    psql_script(&scripted, &down.stdout);
    pg(&real, &["downgrade", "initial_schema", "-q"]).ok();
    assert_eq!(snapshot(&scripted), snapshot(&real));
    assert_eq!(applied(&scripted), VERSIONS[..1]);
}

#[test]
fn pg_stamp_sql_run_by_psql_equals_a_real_stamp() {
    let real = support::pg_database();
    let scripted = support::pg_database();
    pg(&real, &["stamp", "aurora_integration_tables"]).ok();
    let script = pg(
        &scripted,
        &["stamp", "base:aurora_integration_tables", "--sql"],
    );
    script.ok();
    psql_script(&scripted, &script.stdout);
    assert_eq!(snapshot(&scripted), snapshot(&real));
    // Online, from that state, to base.
    let to_base = pg(&scripted, &["stamp", "base", "--sql"]);
    to_base.ok();
    psql_script(&scripted, &to_base.stdout);
    pg(&real, &["stamp", "base"]).ok();
    assert_eq!(snapshot(&scripted), snapshot(&real));
    assert_eq!(bookkeeping(&scripted), "");
}

// ---------------------------------------------------------------- output

#[test]
fn pg_history_output_is_pinned() {
    let db = support::pg_database();
    pg(&db, &["upgrade", "+3", "-q"]).ok();
    let plain = pg(&db, &["history"]);
    plain.ok();
    let range = pg(&db, &["history", "-r", "aurora_integration_tables:"]);
    range.ok();
    let current = pg(&db, &["current", "--verbose"]);
    current.ok();
    let dry = pg(&db, &["upgrade", "--dry-run"]);
    dry.ok();
    let mut settings = insta::Settings::clone_current();
    for (regex, replacement) in history_filters() {
        settings.add_filter(&regex, replacement);
    }
    settings.bind(|| {
        insta::assert_snapshot!("history_pg", plain.stdout);
        insta::assert_snapshot!("history_pg_range", range.stdout);
        insta::assert_snapshot!("current_pg_verbose", current.stdout);
        insta::assert_snapshot!("dry_run_pg", dry.stdout);
    });
}

#[test]
fn pg_json_reports_have_the_documented_shape() {
    let db = support::pg_database();
    let up = pg(&db, &["upgrade", "+3", "--format", "json"]);
    up.ok();
    assert!(
        up.stderr.contains("applied    20260101000001"),
        "step lines go to stderr in JSON mode: {}",
        up.stderr
    );
    let report = up.json();
    assert_eq!(report["command"], "upgrade");
    assert_eq!(report["ok"], true);
    assert!(report["error"].is_null());
    assert_eq!(report["current"], VERSIONS[2]);
    assert_eq!(report["head"], VERSIONS[3]);
    assert_eq!(report["at_head"], false);
    let migrations = report["migrations"].as_array().expect("migrations");
    assert_eq!(migrations.len(), 4);
    for (i, m) in migrations.iter().enumerate() {
        assert_eq!(m["version"], VERSIONS[i]);
        assert_eq!(m["name"], NAMES[i]);
        assert_eq!(m["applied"], i < 3);
        assert_eq!(m["run_on"].is_string(), i < 3, "{m}");
        assert_eq!(
            m["checksum_ok"],
            if i < 3 {
                serde_json::json!(true)
            } else {
                serde_json::Value::Null
            }
        );
    }
    assert_eq!(report["problems"], serde_json::json!([]));

    // Applied by another tool (no side row): a warning in `problems`, still exit 0.
    db.psql("DELETE FROM __haven_migrations WHERE version = '20260101000001'");
    let current = pg(&db, &["current", "--format", "json"]);
    current.ok();
    let history = pg(&db, &["history", "--format", "json"]);
    history.ok();
    let report = history.json();
    assert_eq!(report["problems"][0]["kind"], "unverified");
    assert_eq!(report["problems"][0]["version"], VERSIONS[0]);
    assert!(report["migrations"][0]["checksum_ok"].is_null());

    let failed = pg(&db, &["downgrade", "-9", "--format", "json"]);
    failed.code(2);
    let report = failed.json();
    assert_eq!(report["command"], "downgrade");
    assert_eq!(report["ok"], false);
    assert_eq!(report["error"]["kind"], "bad_input");
    assert!(report["error"]["message"]
        .as_str()
        .expect("message")
        .contains("only 3 migration(s) are applied"));
}

// ---------------------------------------------------------------- sources of settings

#[test]
fn pg_settings_from_the_environment_and_dot_env() {
    let db = support::pg_database_with_password();
    let cwd = workdir();
    // DATABASE_URL, and no migration dir: the embedded PostgreSQL set.
    let history = run(haven(cwd.path())
        .env("DATABASE_URL", &db.url)
        .args(["history", "--verbose"]));
    history
        .ok()
        .says(&["the PostgreSQL migrations embedded in this binary"]);
    assert!(!history.all().contains(&db.password));
    run(haven(cwd.path())
        .env("DATABASE_URL", &db.url)
        .args(["upgrade", "+1", "-q"]))
    .ok();
    assert_eq!(applied(&db), VERSIONS[..1]);
    // MIGRATION_DIRECTORY.
    let tmp = workdir();
    write_migration(
        &tmp.path().join("m"),
        "2030-01-01-000000_only",
        "SELECT 1;",
        None,
    );
    let other = support::pg_database();
    run(haven(cwd.path())
        .env("DATABASE_URL", &other.url)
        .env("MIGRATION_DIRECTORY", tmp.path().join("m"))
        .args(["upgrade"]))
    .ok();
    assert_eq!(
        other.psql("SELECT version FROM __diesel_schema_migrations"),
        "20300101000000\n"
    );
    // .env in the working directory (dotenvy); the flag wins over it.
    fs::write(
        cwd.path().join(".env"),
        format!("DATABASE_URL={}\n", db.url),
    )
    .expect("write .env");
    hm(cwd.path(), &["upgrade", "+1", "-q"]).ok();
    assert_eq!(applied(&db), VERSIONS[..2]);
    let flag = hm(cwd.path(), &["--database-url", "mysql://x@y/z", "current"]);
    flag.code(2);
}

#[test]
fn pg_a_new_revision_runs_as_a_no_op_and_is_recorded() {
    let db = support::pg_database();
    let (tmp, migrations) = copy_of_repo_migrations();
    let pg_dir = migrations.join("postgres");
    hm(
        tmp.path(),
        &[
            "revision",
            "-m",
            "placeholder",
            "--migration-dir",
            pg_dir.to_str().expect("UTF-8"),
        ],
    )
    .ok();
    let name = subdirs(&pg_dir)
        .into_iter()
        .find(|d| d.ends_with("_placeholder"))
        .expect("the new revision");
    assert!(subdirs(&migrations.join("sqlite")).contains(&name));
    let version = name.split('_').next().expect("stamp").replace('-', "");
    let before_dump = {
        with_dir(&db, &pg_dir, &["upgrade", "+4", "-q"]).ok();
        db.pg_dump_schema()
    };
    with_dir(&db, &pg_dir, &["upgrade"])
        .ok()
        .says(&[&format!("applied    {version} placeholder")]);
    assert_eq!(db.pg_dump_schema(), before_dump, "a no-op");
    assert!(bookkeeping(&db).contains(&format!("{version}|placeholder|")));
    with_dir(&db, &pg_dir, &["check"]).ok();
    with_dir(&db, &pg_dir, &["downgrade", "-1"]).ok();
    assert!(!bookkeeping(&db).contains(&version));
}

#[test]
fn pg_sql_script_of_a_non_transactional_migration_equals_the_real_run() {
    let tmp = workdir();
    let dir = tmp.path().join("m");
    write_migration(
        &dir,
        "2026-01-01-000001_table",
        "CREATE TABLE t (x INT, y TEXT);",
        Some("DROP TABLE t;"),
    );
    // CREATE INDEX CONCURRENTLY cannot run in a transaction block: the script must not
    // wrap it in BEGIN/COMMIT (psql would fail), and must still write the same bookkeeping,
    // whose record and cleared marker go in one transaction of their own, as in a real run.
    write_migration(
        &dir,
        "2026-01-01-000002_index",
        "CREATE INDEX CONCURRENTLY t_x_idx ON t (x);\nCREATE INDEX CONCURRENTLY t_y_idx ON t (y);\n",
        Some("DROP INDEX CONCURRENTLY t_y_idx;\nDROP INDEX CONCURRENTLY t_x_idx;\n"),
    );
    fs::write(
        dir.join("2026-01-01-000002_index/metadata.toml"),
        "run_in_transaction = false\n",
    )
    .expect("write metadata.toml");
    write_migration(
        &dir,
        "2026-01-01-000003_column",
        "ALTER TABLE t ADD COLUMN z INT;",
        Some("ALTER TABLE t DROP COLUMN z;"),
    );
    let real = support::pg_database();
    let scripted = support::pg_database();
    with_dir(&real, &dir, &["upgrade", "-q"]).ok();
    let up = with_dir(&scripted, &dir, &["upgrade", "base:head", "--sql"]);
    up.ok()
        .says(&["-- Apply 20260101000002 index (not transactional)"]);
    assert_eq!(up.stdout.matches("\nBEGIN;\n").count(), 3, "{}", up.stdout);
    let index = up
        .stdout
        .find("CREATE INDEX CONCURRENTLY t_y_idx")
        .expect("the index");
    let record = up
        .stdout
        .find("VALUES ('20260101000002') ON CONFLICT")
        .expect("the record");
    let between = &up.stdout[index..record];
    assert_eq!(between.matches("BEGIN;").count(), 1, "{between}");
    psql_script(&scripted, &up.stdout);
    assert_eq!(snapshot(&scripted), snapshot(&real));
    assert!(real.pg_dump_schema().contains("t_y_idx"));
    assert_eq!(
        scripted
            .psql("SELECT count(*) FROM __haven_migrations WHERE dirty")
            .trim(),
        "0"
    );
    with_dir(&scripted, &dir, &["check"]).ok();

    let down = with_dir(&scripted, &dir, &["downgrade", "head:base", "--sql"]);
    down.ok();
    psql_script(&scripted, &down.stdout);
    with_dir(&real, &dir, &["downgrade", "base", "-q"]).ok();
    assert_eq!(snapshot(&scripted), snapshot(&real));
    assert!(user_tables(&scripted).is_empty());
}

#[test]
fn pg_successful_verbose_runs_never_show_the_password() {
    let db = support::pg_database_with_password();
    let tmp = workdir();
    let backup = tmp.path().join("before.sql");
    let backup = backup.to_str().expect("UTF-8");
    let runs = [
        pg(&db, &["-v", "upgrade", "+1", "--backup", backup]),
        pg(&db, &["-v", "upgrade", "--dry-run"]),
        pg(&db, &["-v", "upgrade", "--sql"]),
        pg(&db, &["-v", "upgrade"]),
        pg(&db, &["-v", "current", "--format", "json"]),
        pg(&db, &["-v", "history", "--verbose"]),
        pg(&db, &["-v", "check"]),
        pg(&db, &["-v", "stamp", "head", "--rehash"]),
        pg(&db, &["-v", "downgrade", "-1"]),
    ];
    for run in &runs {
        run.ok();
        assert!(
            !run.all().contains(&db.password),
            "the password was printed:\n{}",
            run.all()
        );
        assert!(run.stderr.contains("debug:"), "-v logs: {}", run.stderr);
    }
    let dump = fs::read_to_string(backup).expect("the backup was written");
    assert!(dump.contains("PostgreSQL database dump"), "{dump}");
    assert!(
        !dump.contains("CREATE TABLE public.users"),
        "taken before the upgrade"
    );
    assert_eq!(applied(&db), VERSIONS[..3]);
}
