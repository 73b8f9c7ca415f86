//! SIGINT and SIGTERM (issue 10, part 1), on real PostgreSQL and SQLite, driving the built
//! binary: the running statement is cancelled on the server, its transaction rolls back,
//! the lock is released, the report says what the database holds, and the exit code is
//! 130 or 143; a second signal exits at once; SQLite exits at once, saying why that is
//! safe; `verify` leaves no scratch database.

mod support;

use std::time::{Duration, Instant};

use support::{
    haven_and, pg_recorded, pg_sessions_waiting, pg_table_exists, run, send_signal,
    sqlite_recorded, wait_until, Background, Dialect, Migrations, PgGate,
};

/// A migration that sleeps for far longer than any test waits.
const SLEEPY_UP: &str = "CREATE TABLE sleepy (x int);\nSELECT pg_sleep(60);\n";

/// Sessions of the test's database still running `text`.
fn running(db: &support::PgTestDb, text: &str) -> String {
    db.psql(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND state = 'active' AND position('{text}' in query) > 0"
    ))
    .trim()
    .to_owned()
}

fn advisory_locks(db: &support::PgTestDb) -> String {
    db.psql(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .trim()
    .to_owned()
}

/// Waits for `child` and asserts it exited with `code` within a few seconds of `since`.
fn exits_soon(child: Background, since: Instant, code: i32) -> support::Run {
    let done = child.wait();
    done.code(code);
    let took = since.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "exited {took:?} after the signal"
    );
    done
}

fn json(run: &support::Run) -> serde_json::Value {
    assert_eq!(
        run.stdout.matches("\"command\"").count(),
        1,
        "one object: {}",
        run.stdout
    );
    serde_json::from_str(&run.stdout).expect("JSON")
}

#[test]
fn a_signal_cancels_the_running_migration_rolls_it_back_and_unlocks() {
    for (signal, code, name) in [("TERM", 143, "SIGTERM"), ("INT", 130, "SIGINT")] {
        let db = support::pg_database();
        let migrations = Migrations::haven(Dialect::Postgres);
        migrations.add("2026-06-01-000000_sleepy", SLEEPY_UP, "DROP TABLE sleepy;");
        let child = Background::spawn(
            migrations
                .cmd(&db.url)
                .args(["--format", "json", "upgrade", "head"]),
        );
        wait_until("the migration sleeps", || running(&db, "pg_sleep") == "1");
        send_signal(signal, child.pid());
        let stopped = exits_soon(child, Instant::now(), code);
        let report = json(&stopped);
        assert_eq!(report["error"]["kind"], "interrupted", "{report}");
        let message = report["error"]["message"].as_str().expect("a message");
        assert!(
            message.starts_with(&format!("interrupted by {name}")),
            "{message}"
        );
        assert!(
            message.contains("20260601000000 (sleepy) was rolled back"),
            "{message}"
        );
        assert_eq!(report["stop"]["running"]["fate"], "rolled_back", "{report}");
        assert_eq!(report["stop"]["done"].as_array().map(Vec::len), Some(4));
        assert_eq!(running(&db, "pg_sleep"), "0", "the statement still runs");
        assert_eq!(advisory_locks(&db), "0");
        assert_eq!(pg_recorded(&db), (haven_and(&[]), haven_and(&[])));
        assert!(!pg_table_exists(&db, "sleepy"));
    }
}

#[test]
fn a_signal_while_waiting_for_the_lock_stops_the_wait() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add(
        "2026-06-01-000000_gated",
        "SELECT count(*) FROM gate;",
        "SELECT 1;",
    );
    let gate = PgGate::lock(&db);
    let holder = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    wait_until("the first deploy blocks on the gate", || {
        pg_sessions_waiting(&db, "gate", "Lock") == 1
    });
    let waiter = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    wait_until("the second deploy waits for the lock", || {
        waiter
            .stderr_so_far()
            .contains("waiting for the migration lock")
    });
    send_signal("INT", waiter.pid());
    exits_soon(waiter, Instant::now(), 130).says(&["interrupted by SIGINT; nothing had started"]);
    // The holder is not disturbed.
    gate.release();
    holder.wait().code(0);
    assert_eq!(pg_recorded(&db).0, haven_and(&["20260601000000"]));
    assert_eq!(advisory_locks(&db), "0");
}

#[test]
fn an_interrupted_non_transactional_migration_keeps_its_dirty_marker() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add_with_metadata(
        "2026-06-01-000000_halves",
        "CREATE TABLE first_half (x int);\nSELECT pg_sleep(60);\nCREATE TABLE second_half (x int);\n",
        "DROP TABLE IF EXISTS second_half;\nDROP TABLE IF EXISTS first_half;\n",
        "run_in_transaction = false\n",
    );
    let child = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    wait_until("the migration sleeps", || running(&db, "pg_sleep") == "1");
    send_signal("TERM", child.pid());
    exits_soon(child, Instant::now(), 143).says(&[
        "interrupted by SIGTERM",
        "20260601000000 (halves) is not transactional",
        "marked dirty",
    ]);
    assert!(pg_table_exists(&db, "first_half"));
    assert!(!pg_table_exists(&db, "second_half"));
    assert_eq!(
        support::pg_dirty(&db).last(),
        Some(&"20260601000000|true".to_owned())
    );
    run(migrations.cmd(&db.url).arg("check"))
        .code(4)
        .says(&["interrupted while applying"]);
    assert_eq!(advisory_locks(&db), "0");
}

#[test]
fn a_second_signal_exits_at_once() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    // A statement that shrugs off the first cancel.
    migrations.add(
        "2026-06-01-000000_stubborn",
        "DO $$ BEGIN PERFORM pg_sleep(60); EXCEPTION WHEN query_canceled THEN \
         PERFORM pg_sleep(60); END $$;",
        "SELECT 1;",
    );
    let child = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    wait_until("the migration sleeps", || running(&db, "pg_sleep") == "1");
    send_signal("INT", child.pid());
    wait_until("the first signal is acknowledged", || {
        child
            .stderr_so_far()
            .contains("send it again to exit at once")
    });
    send_signal("TERM", child.pid());
    exits_soon(child, Instant::now(), 143).says(&["exiting at once (second signal)"]);
    // The server notices the client is gone and rolls back.
    wait_until("the orphaned statement ends", || {
        running(&db, "pg_sleep") == "0"
    });
    wait_until("the lock is released", || advisory_locks(&db) == "0");
    assert_eq!(pg_recorded(&db).0, haven_and(&[]));
}

#[test]
fn an_interrupted_verify_drops_its_scratch_database() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add("2026-06-01-000000_sleepy", SLEEPY_UP, "DROP TABLE sleepy;");
    let scratch = || {
        db.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'haven\\_scratch\\_%'")
            .trim()
            .to_owned()
    };
    let before = scratch();
    let child = Background::spawn(migrations.cmd(&db.url).arg("verify"));
    wait_until("verify sleeps in its scratch database", || {
        db.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'haven\\_scratch\\_%' \
             AND state = 'active' AND position('pg_sleep' in query) > 0",
        )
        .trim()
            == "1"
    });
    send_signal("TERM", child.pid());
    exits_soon(child, Instant::now(), 143).says(&["interrupted by SIGTERM"]);
    assert_eq!(scratch(), before, "a scratch database was left behind");
}

/// A SQLite statement that counts for far longer than any test runs.
const SQLITE_ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                              WHERE x < 100000000000) SELECT count(*) FROM c;";

#[test]
fn sqlite_exits_at_once_and_says_why_that_is_safe() {
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let db = support::sqlite_database();
        let migrations = Migrations::haven(Dialect::Sqlite);
        run(migrations.cmd(&db.url).args(["upgrade", "+1"])).code(0);
        migrations.add(
            "2026-06-01-000000_endless",
            &format!("CREATE TABLE endless (x int);\n{SQLITE_ENDLESS}"),
            "DROP TABLE endless;",
        );
        let child = Background::spawn(
            migrations
                .cmd(&db.url)
                .args(["--format", "json", "upgrade", "head"]),
        );
        wait_until("the endless migration runs", || {
            child.stderr_so_far().contains("20260101000004")
        });
        send_signal(signal, child.pid());
        let stopped = exits_soon(child, Instant::now(), code);
        let report = json(&stopped);
        assert_eq!(report["error"]["kind"], "interrupted", "{report}");
        let message = report["error"]["message"].as_str().expect("a message");
        assert!(
            message.contains("on SQLite the open transaction rolls back when the process ends")
                && message.contains("releases the lock file")
                && message.contains("applied 20260101000004"),
            "{message}"
        );
        // The journal rolled the migration back, and the lock is free at once.
        let (diesel, _) = sqlite_recorded(&db.path);
        assert_eq!(diesel, haven_and(&[]));
        run(migrations
            .cmd(&db.url)
            .args(["--lock-timeout", "5", "stamp", "head"]))
        .code(0);
    }
}
