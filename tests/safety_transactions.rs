//! Safe deploys, part 3 (issue 4): transactions. Non-transactional migrations (sent one
//! statement at a time, with a dirty marker that an interruption leaves behind),
//! `--single-transaction`, SQLite migrations with their own BEGIN/COMMIT, and session state
//! that must not leak from one migration into the next; on real databases.

mod support;

use support::{
    haven_and, pg_dirty, pg_recorded, pg_rows, pg_sessions_waiting, pg_table_exists, run,
    sqlite_recorded, sqlite_rows, sqlite_table_exists, wait_until, Background, Dialect, Migrations,
};

const V4: &str = "20260101000004";
const V5: &str = "20260101000005";
const V6: &str = "20260101000006";
const V7: &str = "20260101000007";
const NO_TX: &str = "run_in_transaction = false\n";

#[test]
fn create_index_concurrently_runs_in_a_non_transactional_migration() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    // Two CONCURRENTLY statements: sent together they would form an implicit transaction
    // block, which PostgreSQL refuses. Plus semicolons in places a naive split would cut.
    migrations.add_with_metadata(
        "2026-01-01-000005_concurrent_indexes",
        "-- a comment; with a semicolon\n\
         CREATE INDEX CONCURRENTLY users_created_at_idx ON users (created_at);\n\
         /* block; comment */ CREATE INDEX CONCURRENTLY users_display_name_idx ON users (display_name);\n\
         CREATE FUNCTION haven_semi() RETURNS text LANGUAGE plpgsql AS $fn$\n\
         BEGIN RETURN 'a;b'; END;\n$fn$;\n",
        "DROP FUNCTION haven_semi();\n\
         DROP INDEX CONCURRENTLY users_display_name_idx;\n\
         DROP INDEX CONCURRENTLY users_created_at_idx;\n",
        NO_TX,
    );
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(0)
        .says(&[V5]);
    let valid = "SELECT c.relname || '|' || i.indisvalid FROM pg_index i \
                 JOIN pg_class c ON c.oid = i.indexrelid \
                 WHERE c.relname IN ('users_created_at_idx', 'users_display_name_idx') \
                 ORDER BY 1";
    assert_eq!(
        pg_rows(&db, valid),
        ["users_created_at_idx|true", "users_display_name_idx|true"]
    );
    assert_eq!(pg_rows(&db, "SELECT haven_semi()"), ["a;b"]);
    let (diesel, side) = pg_recorded(&db);
    assert_eq!(diesel, haven_and(&[V5]));
    assert_eq!(side, haven_and(&[V5]));
    assert!(pg_dirty(&db).iter().all(|r| r.ends_with("|false")));

    run(migrations.cmd(&db.url).args(["downgrade", "-1"])).code(0);
    assert_eq!(pg_rows(&db, valid), Vec::<String>::new());
    // verify runs it the same way, statement by statement, in its scratch database.
    run(migrations.cmd(&db.url).arg("verify"))
        .code(0)
        .says(&["5 migration(s)"]);
    assert_eq!(pg_recorded(&db), (haven_and(&[]), haven_and(&[])));
    run(migrations.cmd(&db.url).arg("check")).code(3);
}

/// Applies the HAVEN migrations, then a non-transactional migration that is `kill -9`ed
/// in its `pg_sleep`, after its first statement committed and before its last.
fn interrupted_non_transactional(db: &support::PgTestDb) -> Migrations {
    let migrations = Migrations::haven(Dialect::Postgres);
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    migrations.add_with_metadata(
        "2026-01-01-000005_half_done",
        "CREATE TABLE nt_first (id int);\nSELECT pg_sleep(600);\nCREATE TABLE nt_second (id int);\n",
        "DROP TABLE nt_second;\nDROP TABLE nt_first;\n",
        NO_TX,
    );
    let victim = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    wait_until("the non-transactional migration sleeps", || {
        pg_sessions_waiting(db, "pg_sleep", "Timeout") == 1
    });
    assert_eq!(victim.kill9().code, -1, "killed by SIGKILL");
    // The server notices a dead client only when it next talks to it; end the orphaned
    // session now rather than after its sleep.
    db.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event = 'PgSleep'",
    );
    assert!(pg_table_exists(db, "nt_first"));
    assert!(!pg_table_exists(db, "nt_second"));
    migrations
}

#[test]
fn an_interrupted_non_transactional_migration_is_dirty_until_stamped_back() {
    let db = support::pg_database();
    let migrations = interrupted_non_transactional(&db);
    assert!(pg_dirty(&db).contains(&format!("{V5}|true")));

    run(migrations.cmd(&db.url).arg("check")).code(4).says(&[
        V5,
        "half_done",
        "interrupted",
        "stamp",
    ]);
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(4)
        .says(&[V5, "interrupted"]);
    assert!(!pg_table_exists(&db, "nt_second"), "never silently retried");
    run(migrations.cmd(&db.url).args(["downgrade", "-1"]))
        .code(4)
        .says(&[V5]);
    // current and history show it, and exit 0.
    run(migrations.cmd(&db.url).arg("history"))
        .code(0)
        .says(&["DIRTY", V5]);

    // The operator undoes the part that ran, and records that it did not run.
    db.psql("DROP TABLE nt_first");
    run(migrations.cmd(&db.url).args(["stamp", V4]))
        .code(0)
        .says(&[V5]);
    assert_eq!(pg_recorded(&db), (haven_and(&[]), haven_and(&[])));
    run(migrations.cmd(&db.url).arg("check"))
        .code(3)
        .never_says(&["interrupted", "DIRTY"]);
}

#[test]
fn an_interrupted_non_transactional_migration_is_resolved_by_stamping_it() {
    let db = support::pg_database();
    let migrations = interrupted_non_transactional(&db);
    // The operator finishes the statements by hand, and records that it ran.
    db.psql("CREATE TABLE nt_second (id int)");
    run(migrations.cmd(&db.url).args(["stamp", V5])).code(0);
    assert_eq!(pg_recorded(&db), (haven_and(&[V5]), haven_and(&[V5])));
    assert_eq!(pg_dirty(&db).last(), Some(&format!("{V5}|false")));
    run(migrations.cmd(&db.url).arg("check")).code(0);
}

#[test]
fn a_non_transactional_migration_failing_halfway_is_dirty() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add_with_metadata(
        "2026-01-01-000005_half_fails",
        "CREATE TABLE half_first (id int);\nSELECT * FROM no_such_table;\nCREATE TABLE half_second (id int);\n",
        "DROP TABLE half_second;\nDROP TABLE half_first;\n",
        NO_TX,
    );
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(1)
        .says(&[V5, "half_fails", "no_such_table", "not transactional"]);
    assert!(pg_table_exists(&db, "half_first"), "what ran before stays");
    assert!(!pg_table_exists(&db, "half_second"));
    assert_eq!(pg_recorded(&db).0, haven_and(&[]));
    assert_eq!(pg_dirty(&db).last(), Some(&format!("{V5}|true")));
    run(migrations.cmd(&db.url).arg("check"))
        .code(4)
        .says(&[V5, "interrupted"]);
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(4)
        .says(&[V5]);
}

#[test]
fn single_transaction_applies_all_pending_or_none() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    migrations.add(
        "2026-01-01-000005_st_a",
        "CREATE TABLE st_a (id int);\n",
        "DROP TABLE st_a;\n",
    );
    migrations.add(
        "2026-01-01-000006_st_b",
        "CREATE TABLE st_b (id int);\n",
        "DROP TABLE st_b;\n",
    );
    migrations.add(
        "2026-01-01-000007_st_c",
        "CREATE TABLE st_c (id int);\nSELECT 1 / 0;\n",
        "DROP TABLE st_c;\n",
    );
    run(migrations
        .cmd(&db.url)
        .args(["upgrade", "head", "--single-transaction"]))
    .code(1)
    .says(&[V7, "st_c", "division by zero"]);
    for table in ["st_a", "st_b", "st_c"] {
        assert!(!pg_table_exists(&db, table), "{table} was rolled back");
    }
    assert_eq!(pg_recorded(&db), (haven_and(&[]), haven_and(&[])));

    // Without the failure, all three commit together.
    migrations.add(
        "2026-01-01-000007_st_c",
        "CREATE TABLE st_c (id int);\n",
        "DROP TABLE st_c;\n",
    );
    run(migrations
        .cmd(&db.url)
        .args(["upgrade", "head", "--single-transaction"]))
    .code(0);
    let all = haven_and(&[V5, V6, V7]);
    assert_eq!(pg_recorded(&db), (all.clone(), all));
    assert!(pg_table_exists(&db, "st_c"));
}

#[test]
fn single_transaction_refuses_a_non_transactional_pending_migration() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add(
        "2026-01-01-000005_st_a",
        "CREATE TABLE st_a (id int);\n",
        "DROP TABLE st_a;\n",
    );
    migrations.add_with_metadata(
        "2026-01-01-000006_st_concurrent",
        "CREATE INDEX CONCURRENTLY st_idx ON users (created_at);\n",
        "DROP INDEX CONCURRENTLY st_idx;\n",
        NO_TX,
    );
    run(migrations
        .cmd(&db.url)
        .args(["upgrade", "head", "--single-transaction"]))
    .code(2)
    .says(&["--single-transaction", V6, "st_concurrent"]);
    assert!(!pg_table_exists(&db, "users"), "nothing was applied");
    assert_eq!(pg_recorded(&db).0, Vec::<String>::new());
}

#[test]
fn a_sqlite_migration_with_its_own_begin_commit_works_with_the_lock() {
    let db = support::sqlite_database();
    let migrations = Migrations::haven(Dialect::Sqlite);
    migrations.add_with_metadata(
        "2026-01-01-000005_own_transaction",
        "BEGIN;\nCREATE TABLE own_a (id INTEGER);\nCREATE TABLE own_b (id INTEGER);\nCOMMIT;\n",
        "BEGIN;\nDROP TABLE own_b;\nDROP TABLE own_a;\nCOMMIT;\n",
        NO_TX,
    );
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(0)
        .says(&[V5]);
    assert!(sqlite_table_exists(&db.path, "own_a"));
    assert!(sqlite_table_exists(&db.path, "own_b"));
    assert_eq!(
        sqlite_recorded(&db.path),
        (haven_and(&[V5]), haven_and(&[V5]))
    );
    assert_eq!(
        sqlite_rows(
            &db.path,
            "SELECT count(*) AS v FROM __haven_migrations WHERE dirty"
        ),
        ["0"]
    );
    run(migrations.cmd(&db.url).arg("check")).code(0);
    run(migrations.cmd(&db.url).args(["downgrade", "-1"])).code(0);
    assert!(!sqlite_table_exists(&db.path, "own_a"));
    assert_eq!(sqlite_recorded(&db.path), (haven_and(&[]), haven_and(&[])));
}

#[test]
fn a_sqlite_migration_whose_own_transaction_fails_is_rolled_back_and_dirty() {
    let db = support::sqlite_database();
    let migrations = Migrations::haven(Dialect::Sqlite);
    migrations.add_with_metadata(
        "2026-01-01-000005_own_failing",
        "BEGIN;\nCREATE TABLE own_a (id INTEGER);\nSELECT * FROM no_such_table;\nCOMMIT;\n",
        "DROP TABLE own_a;\n",
        NO_TX,
    );
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(1)
        .says(&[V5, "no_such_table"]);
    assert!(
        !sqlite_table_exists(&db.path, "own_a"),
        "its BEGIN was never committed"
    );
    assert_eq!(sqlite_recorded(&db.path).0, haven_and(&[]));
    run(migrations.cmd(&db.url).arg("check"))
        .code(4)
        .says(&[V5, "interrupted"]);
    run(migrations.cmd(&db.url).args(["stamp", V4])).code(0);
    run(migrations.cmd(&db.url).arg("check")).code(3);
}

/// Where the tables of [`add_schema_switch`] and the bookkeeping tables landed.
const PLACED: &str = "SELECT n.nspname || '.' || c.relname FROM pg_class c \
                      JOIN pg_namespace n ON n.oid = c.relnamespace \
                      WHERE c.relname IN ('in_other', 'in_public', \
                      '__diesel_schema_migrations', '__haven_migrations') ORDER BY 1";

/// V5 switches `search_path` to a new schema; V6 must still create its table in public.
fn add_schema_switch(migrations: &Migrations) {
    migrations.add(
        "2026-01-01-000005_other_schema",
        "CREATE SCHEMA other_schema;\nSET search_path = other_schema;\nCREATE TABLE in_other (id int);\n",
        "DROP SCHEMA other_schema CASCADE;\n",
    );
    migrations.add(
        "2026-01-01-000006_in_public",
        "CREATE TABLE in_public (id int);\n",
        "DROP TABLE in_public;\n",
    );
}

#[test]
fn a_search_path_set_by_one_migration_does_not_leak_into_the_next() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    add_schema_switch(&migrations);
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(0)
        .says(&[V5, V6]);
    assert_eq!(
        pg_rows(&db, PLACED),
        [
            "other_schema.in_other",
            "public.__diesel_schema_migrations",
            "public.__haven_migrations",
            "public.in_public",
        ]
    );
    let all = haven_and(&[V5, V6]);
    assert_eq!(pg_recorded(&db), (all.clone(), all));
    run(migrations.cmd(&db.url).arg("check")).code(0);
    run(migrations.cmd(&db.url).args(["downgrade", V4])).code(0);
    assert_eq!(pg_recorded(&db), (haven_and(&[]), haven_and(&[])));
}

#[test]
fn a_sql_script_resets_the_session_between_migrations_as_the_real_run_does() {
    let (real, scripted) = (support::pg_database(), support::pg_database());
    let migrations = Migrations::haven(Dialect::Postgres);
    add_schema_switch(&migrations);
    run(migrations.cmd(&real.url).args(["upgrade", "head"])).code(0);
    let script = run(migrations
        .cmd(&scripted.url)
        .args(["upgrade", "base:head", "--sql"]))
    .code(0)
    .stdout
    .clone();
    let file = scripted_file(&script);
    let status = std::process::Command::new(support::pg_bin("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f"])
        .arg(file.path())
        .envs(scripted.env())
        .status()
        .expect("run psql");
    assert!(status.success(), "psql -f of the --sql script failed");
    assert_eq!(pg_rows(&scripted, PLACED), pg_rows(&real, PLACED));
    assert_eq!(pg_recorded(&scripted), pg_recorded(&real));
    assert_eq!(scripted.pg_dump_schema(), real.pg_dump_schema());
}

fn scripted_file(script: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("a temp file");
    std::io::Write::write_all(&mut file, script.as_bytes()).expect("write the script");
    file
}

#[test]
fn a_non_transactional_search_path_does_not_leak_either() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add_with_metadata(
        "2026-01-01-000005_other_schema",
        "CREATE SCHEMA other_schema;\nSET search_path = other_schema;\nCREATE TABLE in_other (id int);\n",
        "DROP SCHEMA other_schema CASCADE;\n",
        NO_TX,
    );
    migrations.add(
        "2026-01-01-000006_in_public",
        "CREATE TABLE in_public (id int);\n",
        "DROP TABLE in_public;\n",
    );
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    assert!(pg_table_exists(&db, "in_public"));
    let all = haven_and(&[V5, V6]);
    assert_eq!(pg_recorded(&db), (all.clone(), all));
    assert!(pg_dirty(&db).iter().all(|r| r.ends_with("|false")));
}

#[test]
fn a_role_set_by_one_migration_does_not_leak_into_the_next() {
    let db = support::pg_database();
    let role = format!("{}_role", db.name);
    db.psql(&format!("CREATE ROLE \"{role}\" NOLOGIN"));
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add(
        "2026-01-01-000005_set_role",
        &format!("SET ROLE \"{role}\";\nSELECT current_user;\n"),
        "SELECT 1;\n",
    );
    migrations.add(
        "2026-01-01-000006_after_role",
        "CREATE TABLE after_role (id int);\n",
        "DROP TABLE after_role;\n",
    );
    let result = run(migrations.cmd(&db.url).args(["upgrade", "head"]));
    let owner = pg_rows(
        &db,
        "SELECT tableowner FROM pg_tables WHERE tablename = 'after_role'",
    );
    let recorded = pg_recorded(&db);
    db.psql(&format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\""));
    result.code(0).says(&[V5, V6]);
    assert_eq!(
        owner,
        [common_user(&db)],
        "the table belongs to the deployer"
    );
    let all = haven_and(&[V5, V6]);
    assert_eq!(recorded, (all.clone(), all));
}

/// The user the test database's URL logs in as.
fn common_user(db: &support::PgTestDb) -> String {
    pg_rows(db, "SELECT session_user")
        .pop()
        .expect("a session user")
}

#[test]
fn a_non_transactional_down_sql_failing_halfway_is_dirty_while_reverting() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add_with_metadata(
        "2026-01-01-000005_bad_down",
        "CREATE TABLE down_a (id int);\nCREATE TABLE down_b (id int);\n",
        "DROP TABLE down_b;\nSELECT * FROM no_such_table;\nDROP TABLE down_a;\n",
        NO_TX,
    );
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    run(migrations.cmd(&db.url).args(["downgrade", "-1"]))
        .code(1)
        .says(&[V5, "bad_down", "reverting", "no_such_table"]);
    assert!(!pg_table_exists(&db, "down_b"));
    assert!(pg_table_exists(&db, "down_a"));
    assert_eq!(pg_recorded(&db).0, haven_and(&[V5]), "still recorded");
    run(migrations.cmd(&db.url).arg("check"))
        .code(4)
        .says(&[V5, "interrupted while reverting"]);
    run(migrations.cmd(&db.url).args(["downgrade", "-1"]))
        .code(4)
        .says(&[V5]);
    // The operator finishes the revert by hand, and records it.
    db.psql("DROP TABLE down_a");
    run(migrations.cmd(&db.url).args(["stamp", V4])).code(0);
    run(migrations.cmd(&db.url).arg("check")).code(3);
    assert_eq!(pg_recorded(&db), (haven_and(&[]), haven_and(&[])));
}

#[test]
fn postgres_only_options_are_refused_on_sqlite() {
    let db = support::sqlite_database();
    let migrations = Migrations::haven(Dialect::Sqlite);
    run(migrations
        .cmd(&db.url)
        .args(["upgrade", "head", "--single-transaction"]))
    .code(2)
    .says(&["--single-transaction", "PostgreSQL"]);
    let dump = migrations.tmp.path().join("dump.sql");
    run(migrations
        .cmd(&db.url)
        .args(["upgrade", "head", "--backup"])
        .arg(&dump))
    .code(2)
    .says(&["pg_dump", "SQLite"]);
    assert!(!dump.exists());
    assert!(!db.path.exists() || sqlite_recorded(&db.path).0.is_empty());
}

#[test]
fn an_interrupted_non_transactional_sqlite_migration_is_dirty() {
    let db = support::sqlite_database();
    let migrations = Migrations::haven(Dialect::Sqlite);
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    migrations.add_with_metadata(
        "2026-01-01-000005_half_done",
        "CREATE TABLE nt_first (id INTEGER);\n\
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
         WHERE x < 100000000000) SELECT count(*) FROM c;\n\
         CREATE TABLE nt_second (id INTEGER);\n",
        "DROP TABLE nt_second;\nDROP TABLE nt_first;\n",
        NO_TX,
    );
    let victim = Background::spawn(migrations.cmd(&db.url).args(["upgrade", "head"]));
    // Its first statement committed on its own: the endless one runs now.
    wait_until("the first statement committed", || {
        sqlite_table_exists(&db.path, "nt_first")
    });
    assert_eq!(victim.kill9().code, -1, "killed by SIGKILL");
    run(migrations.cmd(&db.url).arg("check"))
        .code(4)
        .says(&[V5, "half_done", "interrupted"]);
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(4)
        .says(&[V5]);
    assert!(!sqlite_table_exists(&db.path, "nt_second"));
    run(migrations.cmd(&db.url).args(["stamp", V4])).code(0);
    run(migrations.cmd(&db.url).arg("check")).code(3);
    assert_eq!(sqlite_recorded(&db.path), (haven_and(&[]), haven_and(&[])));
}
