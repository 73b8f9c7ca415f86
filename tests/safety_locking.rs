//! Safe deploys, part 1 (issue 4): the migration lock and crashes. Concurrent `upgrade head`
//! runs, lock timeouts naming the holder, the waiting notice, and `kill -9` in the middle of
//! a migration, on real PostgreSQL and SQLite databases, driving the built binary.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use support::{
    haven_and, pg_recorded, pg_sessions_waiting, pg_table_exists, run, sqlite_lock_text,
    sqlite_recorded, sqlite_table_exists, wait_until, Background, Dialect, Migrations, PgGate,
};

/// A SQLite statement that counts for far longer than any test runs: a migration that holds
/// the lock until the test kills it.
const SQLITE_ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                              WHERE x < 100000000000) SELECT count(*) FROM c;";

/// Starts eight `upgrade head` at once; each must exit 0 without any of `forbidden`.
fn upgrade_eight_at_once(migrations: &Migrations, url: &str, forbidden: &[&str]) {
    let children: Vec<Background> = (0..8)
        .map(|_| Background::spawn(migrations.cmd(url).args(["upgrade", "head"])))
        .collect();
    for child in children {
        child.wait().code(0).never_says(forbidden);
    }
}

#[test]
fn eight_concurrent_upgrades_on_postgres_apply_each_migration_once() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    upgrade_eight_at_once(&migrations, &db.url, &["already exists", "error"]);
    let (diesel, side) = pg_recorded(&db);
    assert_eq!(diesel, haven_and(&[]), "diesel's table");
    assert_eq!(side, haven_and(&[]), "the side table");
    assert!(pg_table_exists(&db, "audit_log"));
}

#[test]
fn eight_concurrent_upgrades_on_sqlite_apply_each_migration_once() {
    let db = support::sqlite_database();
    let migrations = Migrations::haven(Dialect::Sqlite);
    upgrade_eight_at_once(&migrations, &db.url, &["already exists", "error", "locked"]);
    let (diesel, side) = sqlite_recorded(&db.path);
    assert_eq!(diesel, haven_and(&[]), "diesel's table");
    assert_eq!(side, haven_and(&[]), "the side table");
    assert!(sqlite_table_exists(&db.path, "audit_log"));
}

/// The sign of the advisory lock key of `db` (SHA-256 of "haven-migrate:" + name).
fn lock_key_is_negative(db: &support::PgTestDb) -> bool {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("haven-migrate:{}", db.name).as_bytes());
    digest[0] & 0x80 != 0
}

/// A fresh database whose lock key has the wanted sign: pg_locks splits the key into two
/// unsigned halves, and both signs must find the holder.
fn pg_database_with_key_sign(negative: bool) -> support::PgTestDb {
    for _ in 0..64 {
        let db = support::pg_database();
        if lock_key_is_negative(&db) == negative {
            return db;
        }
    }
    panic!("64 databases in a row had the same lock key sign");
}

#[test]
fn a_postgres_lock_timeout_names_the_lock_and_the_holder_pid() {
    for negative in [false, true] {
        postgres_lock_timeout(&pg_database_with_key_sign(negative));
    }
}

fn postgres_lock_timeout(db: &support::PgTestDb) {
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add(
        "2026-01-01-000005_gated",
        "CREATE TABLE gated (id int);\nSELECT count(*) FROM gate;\n",
        "DROP TABLE gated;\n",
    );
    let gate = PgGate::lock(db);
    let holder = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    // The holder has the migration lock once its migration waits on the gate.
    wait_until("the gated migration waits on the gate", || {
        pg_sessions_waiting(db, "FROM gate", "Lock") == 1
    });

    let started = Instant::now();
    let second = run(migrations
        .cmd(&db.url)
        .args(["--lock-timeout", "1", "upgrade", "head"]));
    let waited = started.elapsed();
    let second = second
        .code(1)
        .says(&["migration lock", "advisory lock", "held by pid"])
        .says(&[&format!("(pid {})", holder.pid())]);
    assert!(
        waited < Duration::from_secs(10),
        "--lock-timeout 1 took {waited:?}"
    );
    assert!(second.stderr.contains("timed out"), "{}", second.stderr);

    gate.release();
    holder.wait().code(0).says(&["20260101000005"]);
    let (diesel, side) = pg_recorded(db);
    assert_eq!(diesel, haven_and(&["20260101000005"]));
    assert_eq!(side, haven_and(&["20260101000005"]));
    assert!(pg_table_exists(db, "gated"));
}

#[test]
fn a_sqlite_lock_timeout_names_the_lock_file_and_the_holder_pid() {
    let db = support::sqlite_database();
    let migrations = Migrations::haven(Dialect::Sqlite);
    migrations.add(
        "2026-01-01-000005_endless",
        &format!("CREATE TABLE endless (id INTEGER);\n{SQLITE_ENDLESS}\n"),
        "DROP TABLE endless;\n",
    );
    let holder = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    let pid = holder.pid().to_string();
    // The lock file gets the holder's pid once it holds the lock, and it never lets go:
    // its last migration does not end.
    wait_until("the first run holds the lock", || {
        sqlite_lock_text(&db.path).is_some_and(|t| t.trim() == pid)
    });

    let started = Instant::now();
    let second = run(migrations
        .cmd(&db.url)
        .args(["--lock-timeout", "1", "upgrade", "head"]));
    let waited = started.elapsed();
    second
        .code(1)
        .says(&["timed out", "migration lock", "haven.db.lock"])
        .says(&[&format!("held by pid {pid}")]);
    assert!(
        waited < Duration::from_secs(10),
        "--lock-timeout 1 took {waited:?}"
    );

    // Then a crash of the holder in the middle of its transaction (the endless migration had
    // created its table) leaves nothing of that migration, and releases the lock.
    let killed = holder.kill9();
    assert_eq!(killed.code, -1, "the holder died of SIGKILL");
    migrations.add(
        "2026-01-01-000005_endless",
        "CREATE TABLE endless (id INTEGER);\n",
        "DROP TABLE endless;\n",
    );
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(0)
        .says(&["20260101000005"]);
    let (diesel, side) = sqlite_recorded(&db.path);
    assert_eq!(diesel, haven_and(&["20260101000005"]));
    assert_eq!(side, haven_and(&["20260101000005"]));
    assert!(sqlite_table_exists(&db.path, "endless"));
}

#[test]
fn a_waiting_postgres_deployer_says_so_then_finds_nothing_to_do() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add(
        "2026-01-01-000005_gated",
        "CREATE TABLE gated (id int);\nSELECT count(*) FROM gate;\n",
        "DROP TABLE gated;\n",
    );
    let gate = PgGate::lock(&db);
    let first = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    wait_until("the gated migration waits on the gate", || {
        pg_sessions_waiting(&db, "FROM gate", "Lock") == 1
    });
    let mut second = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    wait_until("the second deployer says it waits", || {
        second
            .stderr_so_far()
            .contains("waiting for the migration lock")
    });
    assert!(!second.has_exited(), "the second deployer waits");
    assert!(
        second
            .stderr_so_far()
            .contains(&format!("(pid {})", first.pid())),
        "the notice names the holder: {}",
        second.stderr_so_far()
    );

    gate.release();
    first.wait().code(0);
    second
        .wait()
        .code(0)
        .says(&["nothing to do", "20260101000005"]);
    let (diesel, side) = pg_recorded(&db);
    assert_eq!(diesel, haven_and(&["20260101000005"]));
    assert_eq!(side, haven_and(&["20260101000005"]));
}

#[test]
fn a_waiting_sqlite_deployer_says_so_then_finds_nothing_to_do() {
    let db = support::sqlite_database();
    let migrations = Migrations::haven(Dialect::Sqlite);
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);

    // Hold the lock file the way haven-migrate does (an exclusive OS lock holding a pid), so
    // that the test decides when the "other deploy" ends.
    let lock_path = db.path.with_file_name("haven.db.lock");
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock_path)
        .expect("the lock file exists after a run");
    lock.lock().expect("take the lock file");
    fs::write(&lock_path, "4242424\n").expect("write a pid");

    let mut waiter = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    wait_until("the deployer says it waits", || {
        waiter
            .stderr_so_far()
            .contains("waiting for the migration lock held by pid 4242424")
    });
    assert!(!waiter.has_exited(), "it waits for the lock");
    lock.unlock().expect("release the lock file");
    waiter.wait().code(0).says(&["nothing to do"]);
    let (diesel, side) = sqlite_recorded(&db.path);
    assert_eq!(diesel, haven_and(&[]));
    assert_eq!(side, haven_and(&[]));
}

#[test]
fn kill_9_in_a_slow_transactional_postgres_migration_leaves_nothing_and_a_rerun_completes() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add(
        "2026-01-01-000005_slow",
        "CREATE TABLE slow_made (id int);\nSELECT pg_sleep(3);\nCREATE TABLE slow_after (id int);\n",
        "DROP TABLE slow_after;\nDROP TABLE slow_made;\n",
    );
    let victim = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    wait_until("the slow migration sleeps", || {
        pg_sessions_waiting(&db, "pg_sleep", "Timeout") == 1
    });
    let killed = victim.kill9();
    assert_eq!(killed.code, -1, "killed by SIGKILL");
    // The four before it were committed one by one; the killed one is not recorded.
    assert_eq!(pg_recorded(&db).0, haven_and(&[]));

    // The re-run needs no repair. (Its CREATE TABLE may wait for the orphaned server session
    // to notice that its client died; it then rolls back.)
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(0)
        .says(&["20260101000005"])
        .never_says(&["already exists"]);
    let (diesel, side) = pg_recorded(&db);
    assert_eq!(diesel, haven_and(&["20260101000005"]));
    assert_eq!(side, haven_and(&["20260101000005"]));
    let count = support::pg_rows(
        &db,
        "SELECT count(*) FROM pg_class WHERE relname = 'slow_made' AND relkind = 'r'",
    );
    assert_eq!(count, ["1"], "the killed migration's table exists once");
    assert!(pg_table_exists(&db, "slow_after"));
    run(migrations.cmd(&db.url).arg("check")).code(0);
}

/// `upgrade head` through the library, in this (long-lived) process, as a service would.
fn library_upgrade(url: &str, migrations: &Migrations) -> haven_schema::Result<()> {
    use haven_schema::migrate::{self, Context, Mode, Request, UpgradeOptions};
    use haven_schema::source::Origin;
    let ctx = Context::new(
        haven_schema::DatabaseUrl::parse(url)?,
        Origin::Directory(migrations.dir.clone()),
    );
    let request = Request::Upgrade {
        target: "head".into(),
        options: UpgradeOptions::default(),
        backup: None,
        mode: Mode::Run,
    };
    migrate::run(&ctx, request, &mut haven_schema::execute::Silent).map(drop)
}

#[test]
fn the_library_releases_the_postgres_lock_on_errors() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add(
        "2026-01-01-000005_broken",
        "SELECT * FROM no_such_table;\n",
        "SELECT 1;\n",
    );
    let advisory = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    let err = library_upgrade(&db.url, &migrations).expect_err("the migration fails");
    assert!(err.to_string().contains("20260101000005"), "{err}");
    assert_eq!(support::pg_rows(&db, advisory), ["0"]);
    // An integrity refusal releases it too.
    fs::write(
        migrations.file("2026-01-01-000001", "up.sql"),
        "-- edited\n",
    )
    .expect("edit an applied migration");
    let err = library_upgrade(&db.url, &migrations).expect_err("refused");
    assert_eq!(err.class(), haven_schema::ErrorClass::Integrity, "{err}");
    assert_eq!(support::pg_rows(&db, advisory), ["0"]);
    // And another process gets it at once.
    run(migrations.cmd(&db.url).args([
        "--lock-timeout",
        "0",
        "stamp",
        "20260101000004",
        "--rehash",
    ]))
    .code(0);
}

#[test]
fn the_library_releases_the_sqlite_lock_on_errors() {
    let db = support::sqlite_database();
    let migrations = Migrations::haven(Dialect::Sqlite);
    migrations.add(
        "2026-01-01-000005_broken",
        "SELECT * FROM no_such_table;\n",
        "SELECT 1;\n",
    );
    library_upgrade(&db.url, &migrations).expect_err("the migration fails");
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(db.path.with_file_name("haven.db.lock"))
        .expect("the lock file");
    lock.try_lock().expect("the lock is free after the error");
    lock.unlock().expect("unlock");
    assert_eq!(sqlite_recorded(&db.path).0, haven_and(&[]));
}
