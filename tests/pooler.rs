//! haven-migrate through a real PgBouncer (issue 9, part 2), in session and in transaction
//! pooling mode: concurrent deploys apply each version once and leave no lock, a killed run
//! is completed by the next, every command works, non-transactional migrations are refused
//! where the lock cannot protect them, and nothing floods the logs.
//!
//! These need the `pgbouncer` package, which a fresh machine lacks: they are `#[ignore]`d,
//! and `.ci/run` installs PgBouncer and runs them. With `HAVEN_TEST_DATABASE_URL` set,
//! PgBouncer stands in front of that server.

mod support;

use support::pgbouncer::{self, Mode};
use support::{
    haven_and, pg_recorded, pg_sessions_waiting, pg_table_exists, run, wait_until, Background,
    Dialect, Migrations, PgGate,
};

/// Advisory locks held in the test's database, read on a direct connection.
fn advisory_locks(db: &support::PgTestDb) -> String {
    db.psql(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .trim()
    .to_owned()
}

/// Waits until no haven-migrate session is left on the server (an orphan of a killed run
/// ends a moment later), then asserts that no advisory lock is left either.
fn assert_no_lock_left(db: &support::PgTestDb) {
    wait_until("haven-migrate's sessions are gone", || {
        db.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name LIKE 'haven-migrate%' AND state <> 'idle'",
        )
        .trim()
            == "0"
    });
    assert_eq!(advisory_locks(db), "0", "advisory locks left");
}

/// The logs of the server (when it is the private cluster) and of PgBouncer.
fn logs(mode: Mode) -> (String, String) {
    let server = support::server::server().log().unwrap_or_default();
    (server, pgbouncer::bouncer(mode).log())
}

/// What the logs gained since `before`: no flood, and no prepared-statement error.
fn assert_quiet_logs(mode: Mode, before: &(String, String)) {
    let after = logs(mode);
    let server = after.0.get(before.0.len()..).unwrap_or_default();
    let bouncer = after.1.get(before.1.len()..).unwrap_or_default();
    for (name, text) in [("server", server), ("PgBouncer", bouncer)] {
        assert!(!text.contains("prepared statement"), "{name} log:\n{text}");
        assert!(!text.contains("__diesel_stmt"), "{name} log:\n{text}");
    }
    // Each run logs a few lines (connections, the refused startup option): not thousands.
    let lines = bouncer.lines().count();
    assert!(lines < 500, "PgBouncer logged {lines} lines:\n{bouncer}");
}

/// Eight `upgrade head` at once, with `flags` (such as `--pooler session`).
fn eight_concurrent_upgrades(mode: Mode, flags: &[&str]) {
    let db = support::pg_database();
    let url = db.pgbouncer_url(mode);
    let migrations = Migrations::haven(Dialect::Postgres);
    let before = logs(mode);
    let children: Vec<Background> = (0..8)
        .map(|_| Background::spawn(migrations.cmd(&url).args(flags).args(["upgrade", "head"])))
        .collect();
    for child in children {
        child
            .wait()
            .code(0)
            .never_says(&["error", "already exists", "does not exist"]);
    }
    let (diesel, side) = pg_recorded(&db);
    assert_eq!(
        diesel,
        haven_and(&[]),
        "each version once, in diesel's table"
    );
    assert_eq!(side, haven_and(&[]), "and in the side table");
    assert_no_lock_left(&db);
    assert_quiet_logs(mode, &before);
}

#[test]
#[ignore = "needs PgBouncer (package pgbouncer); run by .ci/run"]
fn eight_concurrent_upgrades_through_session_pooling() {
    eight_concurrent_upgrades(Mode::Session, &[]);
}

#[test]
#[ignore = "needs PgBouncer (package pgbouncer); run by .ci/run"]
fn eight_concurrent_upgrades_through_session_pooling_with_session_locks() {
    eight_concurrent_upgrades(Mode::Session, &["--pooler", "session"]);
}

#[test]
#[ignore = "needs PgBouncer (package pgbouncer); run by .ci/run"]
fn eight_concurrent_upgrades_through_transaction_pooling() {
    eight_concurrent_upgrades(Mode::Transaction, &[]);
}

fn a_killed_run_is_completed_by_the_next(mode: Mode) {
    let db = support::pg_database();
    let url = db.pgbouncer_url(mode);
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add(
        "2026-06-01-000000_gated",
        "CREATE TABLE after_gate AS SELECT count(*) AS n FROM gate;",
        "DROP TABLE after_gate;",
    );
    let gate = PgGate::lock(&db);
    let first = Background::spawn(migrations.cmd(&url).args(["upgrade", "head"]));
    wait_until("the deploy blocks on the gate", || {
        pg_sessions_waiting(&db, "gate", "Lock") == 1
    });
    first.kill9();
    gate.release();
    run(migrations.cmd(&url).args(["upgrade", "head"]))
        .code(0)
        .never_says(&["error"]);
    let (diesel, side) = pg_recorded(&db);
    assert_eq!(diesel, haven_and(&["20260601000000"]));
    assert_eq!(side, haven_and(&["20260601000000"]));
    assert!(pg_table_exists(&db, "after_gate"));
    assert_no_lock_left(&db);
}

#[test]
#[ignore = "needs PgBouncer (package pgbouncer); run by .ci/run"]
fn a_killed_run_through_session_pooling_is_completed_by_the_next() {
    a_killed_run_is_completed_by_the_next(Mode::Session);
}

#[test]
#[ignore = "needs PgBouncer (package pgbouncer); run by .ci/run"]
fn a_killed_run_through_transaction_pooling_is_completed_by_the_next() {
    a_killed_run_is_completed_by_the_next(Mode::Transaction);
}

/// Every command through PgBouncer in `mode`, with `--pooler pooler`; `lock` is how the
/// migration lock must then be held.
fn every_command_works(mode: Mode, pooler: &str, lock: &str) {
    let db = support::pg_database();
    let url = db.pgbouncer_url(mode);
    let migrations = Migrations::haven(Dialect::Postgres);
    let before = logs(mode);
    let up = run(migrations
        .cmd(&url)
        .args(["--pooler", pooler, "--format", "json"])
        .args(["upgrade", "head"]));
    up.code(0);
    let report: serde_json::Value = serde_json::from_str(&up.stdout).expect("JSON");
    assert_eq!(report["lock"], lock, "{report}");
    run(migrations.cmd(&url).arg("check")).code(0);
    run(migrations.cmd(&url).arg("current"))
        .code(0)
        .says(&["(head)"]);
    let history = run(migrations.cmd(&url).arg("history"));
    history.code(0);
    assert_eq!(
        history.stdout.matches(" applied ").count(),
        4,
        "{}",
        history.stdout
    );
    run(migrations.cmd(&url).args(["downgrade", "base"])).code(0);
    assert_eq!(pg_recorded(&db).0, Vec::<String>::new());
    assert!(!pg_table_exists(&db, "users"));
    run(migrations.cmd(&url).args(["stamp", "head"])).code(0);
    assert_eq!(pg_recorded(&db), (haven_and(&[]), haven_and(&[])));
    run(migrations.cmd(&url).args(["stamp", "base"])).code(0);
    run(migrations.cmd(&url).args(["upgrade", "+2"])).code(0);
    run(migrations
        .cmd(&url)
        .args(["upgrade", "head", "--single-transaction"]))
    .code(0);
    run(migrations.cmd(&url).arg("check")).code(0);
    assert_no_lock_left(&db);
    assert_quiet_logs(mode, &before);
}

#[test]
#[ignore = "needs PgBouncer (package pgbouncer); run by .ci/run"]
fn every_command_works_through_session_pooling() {
    // PgBouncer shows itself by refusing a startup option, but not its pool mode: the
    // lock is taken per transaction, which is safe in both.
    every_command_works(Mode::Session, "auto", "transaction");
    every_command_works(Mode::Session, "session", "session");
}

#[test]
#[ignore = "needs PgBouncer (package pgbouncer); run by .ci/run"]
fn every_command_works_through_transaction_pooling() {
    every_command_works(Mode::Transaction, "auto", "transaction");
    every_command_works(Mode::Transaction, "transaction", "transaction");
}

#[test]
#[ignore = "needs PgBouncer (package pgbouncer); run by .ci/run"]
fn a_non_transactional_migration_is_refused_through_transaction_pooling() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add_with_metadata(
        "2026-06-01-000000_index",
        "CREATE INDEX CONCURRENTLY users_created_idx ON users (created_at);",
        "DROP INDEX CONCURRENTLY users_created_idx;",
        "run_in_transaction = false\n",
    );
    let url = db.pgbouncer_url(Mode::Transaction);
    run(migrations.cmd(&url).args(["upgrade", "head"]))
        .code(2)
        .says(&[
            "transaction-pooling proxy",
            "20260601000000 (index)",
            "nothing was run",
            "direct or session-pooled URL",
            "--pooler session",
        ]);
    assert_eq!(pg_recorded(&db).0, Vec::<String>::new(), "nothing recorded");
    assert!(!pg_table_exists(&db, "users"), "nothing ran");
    // Up to the migration before it, it works; and through session pooling, all of it.
    run(migrations.cmd(&url).args(["upgrade", "20260101000004"])).code(0);
    let session = db.pgbouncer_url(Mode::Session);
    run(migrations.cmd(&session).args(["upgrade", "head"])).code(2);
    run(migrations
        .cmd(&session)
        .args(["--pooler", "session", "upgrade", "head"]))
    .code(0);
    assert_eq!(pg_recorded(&db).0, haven_and(&["20260601000000"]));
    assert_no_lock_left(&db);
}

#[test]
#[ignore = "needs PgBouncer (package pgbouncer); run by .ci/run"]
fn a_poolers_refusal_is_reported_as_the_poolers() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    // PgBouncer 1.18 refuses the `options` startup parameter, here the user's own.
    let url = format!(
        "{}?options=-c%20work_mem%3D64MB",
        db.pgbouncer_url(Mode::Transaction)
    );
    let failed = run(migrations.cmd(&url).args(["upgrade", "head"]));
    failed
        .code(1)
        .says(&["unsupported startup parameter", "connection pooler"])
        .never_says(&["password"]);
    assert_eq!(failed.stderr.lines().count(), 1, "{}", failed.stderr);
    assert!(!pg_table_exists(&db, "__diesel_schema_migrations"));
}
