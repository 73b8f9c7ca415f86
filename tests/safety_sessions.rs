//! The working session holds the lock (issue 9, part 1), on a real PostgreSQL server:
//! a killed client's orphaned backend keeps the lock until the server stops it, lock waits
//! are reported as waits, a write command uses one connection, the orphan check survives
//! `RESET ALL`, and SQL that would release the lock is refused before anything runs.

mod support;

use std::time::Duration;

use support::{
    haven_and, pg_recorded, pg_rows, pg_table_exists, run, wait_until, Background, Dialect,
    Migrations, PgGate,
};

/// Rows of `sql` as one trimmed string.
fn one(db: &support::PgTestDb, sql: &str) -> String {
    db.psql(sql).trim().to_owned()
}

/// Advisory locks held on the server (any database).
fn advisory_locks(db: &support::PgTestDb) -> usize {
    one(db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        .parse()
        .expect("a count")
}

/// A migration whose COMMIT runs a deferred trigger that sleeps 30 s, once: the sleep is
/// gated on a sequence (created by the test, outside any migration), whose `nextval` is not
/// rolled back, so only the first attempt sleeps.
const SLOW_COMMIT_UP: &str = "CREATE TABLE slow (id int PRIMARY KEY);
CREATE FUNCTION slow_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('orphan_gate') = 1 THEN PERFORM pg_sleep(30); END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER slow_at_commit AFTER INSERT ON slow
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_gate();
INSERT INTO slow VALUES (1);
";

#[test]
fn a_killed_clients_backend_is_stopped_and_keeps_the_lock_until_then() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    migrations.add(
        "2026-06-01-000000_slow_commit",
        SLOW_COMMIT_UP,
        "DROP TABLE slow; DROP FUNCTION slow_gate();",
    );
    db.psql("CREATE SEQUENCE orphan_gate");
    let first = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    wait_until("the migration's COMMIT runs the slow trigger", || {
        one(
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'active' AND query = 'COMMIT'",
        ) == "1"
    });
    first.kill9();
    // At once: the orphaned backend is still committing, and still holds the lock.
    let next = run(migrations
        .cmd(&db.url)
        .args(["--format", "json", "upgrade", "head"]));
    next.code(0).never_says(&["duplicate key"]);
    let report: serde_json::Value = serde_json::from_str(&next.stdout).expect("JSON");
    assert!(report["error"].is_null(), "{report}");
    let (diesel, side) = pg_recorded(&db);
    assert_eq!(diesel, haven_and(&["20260601000000"]), "recorded once");
    assert_eq!(side, haven_and(&["20260601000000"]));
    assert_eq!(one(&db, "SELECT count(*) FROM slow"), "1");
    // Without client_connection_check_interval the orphan would sleep its 30 s out first.
    let waited = report["lock_wait_ms"].as_f64().expect("lock_wait_ms");
    assert!(
        waited < 15_000.0,
        "waited {waited} ms: the orphan was not stopped"
    );
    // The wait is not SQL time: this run's own COMMIT does not sleep.
    let step = &report["steps"][0];
    assert_eq!(step["version"], "20260601000000", "{report}");
    let sql_time = step["sql_time"].as_f64().expect("sql_time");
    assert!(
        sql_time < 10_000.0,
        "{sql_time} ms counted as SQL: {report}"
    );
    assert_eq!(advisory_locks(&db), 0);
}

#[test]
fn a_lock_wait_is_reported_as_a_wait_not_as_overhead() {
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
        support::pg_sessions_waiting(&db, "gate", "Lock") == 1
    });
    let waiter = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    wait_until("the second deploy waits for the lock", || {
        waiter
            .stderr_so_far()
            .contains("waiting for the migration lock")
    });
    // Long enough to stand out beside the tool's own milliseconds.
    std::thread::sleep(Duration::from_millis(600));
    gate.release();
    holder.wait().code(0);
    let waited = waiter.wait();
    waited.code(0);
    let text = waited.stdout.trim();
    let summary = text.lines().last().expect("a summary line");
    assert!(
        summary.starts_with("waited ") && summary.contains(" for the lock; nothing to do"),
        "{summary}"
    );
    let figure = summary["waited ".len()..]
        .split(" for")
        .next()
        .expect("a figure");
    let millis = match figure.strip_suffix(" ms") {
        Some(ms) => ms.parse::<f64>().expect("ms"),
        None => figure.trim_end_matches(" s").parse::<f64>().expect("s") * 1000.0,
    };
    assert!(millis >= 600.0, "{summary}");
}

/// Sessions ever opened on the test's database (PostgreSQL 14+ counts them). A session is
/// counted when its backend exits, a moment after its client closed; this reading's own
/// session is counted only after it.
fn sessions(db: &support::PgTestDb) -> i64 {
    one(
        db,
        "SELECT sessions FROM pg_stat_database WHERE datname = current_database()",
    )
    .parse()
    .expect("a session count")
}

/// How many sessions `args` opened.
fn sessions_of(db: &support::PgTestDb, migrations: &Migrations, args: &[&str]) -> i64 {
    let before = sessions(db);
    run(migrations.cmd(&db.url).args(args)).code(0);
    // Read until two readings differ by exactly the first reading's own session: then
    // every session of the command, and of the readings, has been counted.
    let mut readings_before_last = 0;
    let mut last = sessions(db);
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        let now = sessions(db);
        if now - last == 1 {
            break;
        }
        readings_before_last += 1;
        last = now;
    }
    last - before - 1 - readings_before_last
}

#[test]
fn a_write_command_does_its_work_on_one_connection() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    let direct = sessions_of(&db, &migrations, &["--pooler", "none", "upgrade", "+2"]);
    assert_eq!(direct, 1, "upgrade --pooler none");
    // The probe for a pooler is one short second connection.
    let probed = sessions_of(&db, &migrations, &["upgrade", "head"]);
    assert_eq!(probed, 2, "upgrade with the pooler probe");
    assert_eq!(
        sessions_of(&db, &migrations, &["--pooler", "none", "downgrade", "-1"]),
        1
    );
    assert_eq!(
        sessions_of(&db, &migrations, &["--pooler", "none", "stamp", "head"]),
        1
    );
}

#[test]
fn the_orphan_check_survives_reset_all_between_migrations() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add(
        "2026-06-01-000000_resets",
        "SET client_connection_check_interval = 0; RESET ALL;",
        "SELECT 1;",
    );
    migrations.add(
        "2026-06-01-000001_records",
        "CREATE TABLE probe AS SELECT current_setting('client_connection_check_interval') AS v;",
        "DROP TABLE probe;",
    );
    for pooler in ["none", "session", "transaction"] {
        run(migrations
            .cmd(&db.url)
            .args(["--pooler", pooler, "upgrade", "head"]))
        .code(0);
        assert_eq!(one(&db, "SELECT v FROM probe"), "1s", "--pooler {pooler}");
        run(migrations.cmd(&db.url).args(["downgrade", "-2"])).code(0);
    }
}

#[test]
fn sql_that_releases_the_lock_is_refused_before_anything_runs() {
    for (up, metadata, line, found) in [
        (
            "CREATE TABLE a (x int);\n\nDISCARD ALL;\n",
            None,
            3,
            "DISCARD ALL",
        ),
        (
            "CREATE TABLE a (x int);\nSELECT pg_advisory_unlock_all();\n",
            Some("run_in_transaction = false\n"),
            2,
            "pg_advisory_unlock_all()",
        ),
    ] {
        let db = support::pg_database();
        let migrations = Migrations::haven(Dialect::Postgres);
        let dir = match metadata {
            Some(meta) => {
                migrations.add_with_metadata("2026-06-01-000000_unlocks", up, "SELECT 1;", meta)
            }
            None => migrations.add("2026-06-01-000000_unlocks", up, "SELECT 1;"),
        };
        let file = dir.join("up.sql").display().to_string();
        let refused = run(migrations
            .cmd(&db.url)
            .args(["--format", "json", "upgrade", "head"]));
        refused.code(2).says(&[&format!(
            "{file}:{line}: refused before anything ran: `{found}`"
        )]);
        let report: serde_json::Value = serde_json::from_str(&refused.stdout).expect("JSON");
        assert_eq!(report["error"]["kind"], "forbidden_sql");
        // Nothing ran: not the HAVEN migrations before it, not even the bookkeeping tables.
        assert!(!pg_table_exists(&db, "users"));
        assert!(!pg_table_exists(&db, "__diesel_schema_migrations"));
        run(migrations.cmd(&db.url).args(["upgrade", "head", "--sql"])).code(2);
        run(migrations
            .cmd(&db.url)
            .args(["upgrade", "head", "--dry-run"]))
        .code(2);
        assert!(pg_rows(
            &db,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        .is_empty());
    }
}
