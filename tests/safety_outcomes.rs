//! Outcomes are read, never assumed (issue 10, part 2), on real PostgreSQL and SQLite:
//! statements that would escape the migration's transaction or only work in psql are
//! refused before anything runs, by every command that runs or prints them; after a
//! failure the report says what the database holds; a full disk is reported as one; a
//! `--single-transaction` batch is reported as rolled back as a whole; the dirty marker
//! records its direction (and older side tables gain the column); `verify` fails in JSON
//! with an error; `--single-transaction --sql` and `--dry-run` show one transaction.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{
    haven_and, pg_recorded, pg_table_exists, run, sqlite_recorded, sqlite_rows,
    sqlite_table_exists, Dialect, Migrations, Run,
};

/// A test database of either backend.
enum Db {
    Pg(support::PgTestDb),
    Sqlite(support::SqliteTestDb),
}

impl Db {
    fn new(dialect: Dialect) -> Db {
        match dialect {
            Dialect::Postgres => Db::Pg(support::pg_database()),
            Dialect::Sqlite => Db::Sqlite(support::sqlite_database()),
        }
    }

    fn url(&self) -> &str {
        match self {
            Db::Pg(db) => &db.url,
            Db::Sqlite(db) => &db.url,
        }
    }

    /// diesel's versions and the side table's, or nothing when there is no database.
    fn recorded(&self) -> (Vec<String>, Vec<String>) {
        match self {
            Db::Pg(db) => pg_recorded(db),
            Db::Sqlite(db) if !db.path.exists() => (Vec::new(), Vec::new()),
            Db::Sqlite(db) => sqlite_recorded(&db.path),
        }
    }

    fn has_table(&self, table: &str) -> bool {
        match self {
            Db::Pg(db) => pg_table_exists(db, table),
            Db::Sqlite(db) => db.path.exists() && sqlite_table_exists(&db.path, table),
        }
    }

    /// Runs SQL on it (psql, or the sqlite3 program).
    fn exec(&self, sql: &str) {
        match self {
            Db::Pg(db) => {
                db.psql(sql);
            }
            Db::Sqlite(db) => {
                let out = Command::new("sqlite3")
                    .arg(&db.path)
                    .arg(sql)
                    .output()
                    .expect("run sqlite3");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }

    /// Whether `table` has the column `column`.
    fn has_column(&self, table: &str, column: &str) -> bool {
        let rows = match self {
            Db::Pg(db) => support::pg_rows(
                db,
                &format!(
                    "SELECT count(*) FROM information_schema.columns \
                     WHERE table_name = '{table}' AND column_name = '{column}'"
                ),
            ),
            Db::Sqlite(db) => sqlite_rows(
                &db.path,
                &format!("SELECT count(*) AS v FROM pragma_table_info('{table}') WHERE name = '{column}'"),
            ),
        };
        rows == ["1"]
    }
}

const BOTH: [Dialect; 2] = [Dialect::Postgres, Dialect::Sqlite];

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// The `up.sql` of a migration added by the tests.
fn up_of(dir: &Path) -> String {
    dir.join("up.sql").display().to_string()
}

#[test]
fn transaction_control_in_a_transactional_migration_is_refused_by_every_command() {
    for dialect in BOTH {
        let db = Db::new(dialect);
        let m = Migrations::haven(dialect);
        run(m.cmd(db.url()).args(["upgrade", "head"])).code(0);
        let dir = m.add(
            "2026-06-01-000000_commits",
            "CREATE TABLE kept (x int);\nCOMMIT;\nCREATE TABLE later (x int);\n",
            "DROP TABLE later;\nDROP TABLE kept;\n",
        );
        let at = format!("{}:2: refused before anything ran: `COMMIT`", up_of(&dir));
        let advice = "add `run_in_transaction = false` to the migration's metadata.toml";
        for args in [
            &["upgrade", "head"][..],
            &["upgrade", "head", "--dry-run"],
            &["verify"],
        ] {
            run(m.cmd(db.url()).args(args)).code(2).says(&[&at, advice]);
        }
        let sql = run(m.cmd(db.url()).args(["upgrade", "head", "--sql"]));
        sql.code(2);
        assert_eq!(sql.stdout, "", "{dialect:?}: --sql printed a script");
        let offline = run(m.cmd(db.url()).args(["upgrade", "base:head", "--sql"]));
        offline.code(2);
        assert_eq!(offline.stdout, "");
        let check = run(m.cmd(db.url()).args(["--format", "json", "check"]));
        check.code(2);
        let report = json(&check);
        assert_eq!(report["problems"][0]["kind"], "forbidden_sql", "{report}");
        run(m.cmd(db.url()).arg("history")).code(0).says(&[
            "problem: migration 20260601000000 (commits)",
            &format!("{}:2: `COMMIT` controls the transaction", up_of(&dir)),
        ]);
        assert!(!db.has_table("kept"), "{dialect:?}: something ran");
        assert_eq!(db.recorded().0, haven_and(&[]));
    }
}

#[test]
fn a_down_sql_with_transaction_control_is_refused_by_downgrade() {
    for dialect in BOTH {
        let db = Db::new(dialect);
        let m = Migrations::haven(dialect);
        let dir = m.add(
            "2026-06-01-000000_rolls_back",
            "CREATE TABLE t (x int);",
            "DROP TABLE t;\nROLLBACK;\n",
        );
        run(m.cmd(db.url()).args(["upgrade", "head"])).code(0);
        let file = dir.join("down.sql").display().to_string();
        run(m.cmd(db.url()).args(["downgrade", "-1"]))
            .code(2)
            .says(&[&format!(
                "{file}:2: refused before anything ran: `ROLLBACK`"
            )]);
        run(m.cmd(db.url()).args(["downgrade", "head:base", "--sql"])).code(2);
        run(m.cmd(db.url()).arg("check")).code(2);
        assert!(db.has_table("t"));
        assert_eq!(db.recorded().0, haven_and(&["20260601000000"]));
    }
}

#[test]
fn blocks_that_begin_and_end_are_not_transaction_control() {
    let db = Db::new(Dialect::Postgres);
    let m = Migrations::haven(Dialect::Postgres);
    m.add(
        "2026-06-01-000000_blocks",
        "CREATE TABLE t (x int);\n\
         CREATE FUNCTION t_guard() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  \
         RETURN NEW;\nEND\n$$;\n\
         CREATE TRIGGER t_guard BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION t_guard();\n\
         CREATE FUNCTION one() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n\
         DO $$ BEGIN INSERT INTO t VALUES (1); END $$;\n",
        "DROP FUNCTION one();\nDROP TABLE t;\nDROP FUNCTION t_guard();\n",
    );
    run(m.cmd(db.url()).args(["upgrade", "head"])).code(0);
    run(m.cmd(db.url()).arg("check")).code(0);
    run(m.cmd(db.url()).args(["downgrade", "-1"])).code(0);
    let lite = Db::new(Dialect::Sqlite);
    let m = Migrations::haven(Dialect::Sqlite);
    m.add(
        "2026-06-01-000000_trigger",
        "CREATE TABLE t (x int);\nCREATE TABLE log (x int);\n\
         CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (NEW.x); END;\n",
        "DROP TABLE log;\nDROP TABLE t;\n",
    );
    run(m.cmd(lite.url()).args(["upgrade", "head"])).code(0);
    run(m.cmd(lite.url()).arg("check")).code(0);
}

#[test]
fn psql_meta_commands_and_copy_from_stdin_are_refused_and_never_printed() {
    for dialect in BOTH {
        for (up, line, found) in [
            (
                "CREATE TABLE a (x int);\n\\! touch /tmp/haven-meta-command\n",
                2,
                "`\\! touch",
            ),
            (
                "CREATE TABLE a (x int);\nCOPY a (x) FROM stdin;\n1\n\\.\n",
                2,
                "`COPY ... FROM stdin`",
            ),
        ] {
            let db = Db::new(dialect);
            let m = Migrations::haven(dialect);
            let dir = m.add("2026-06-01-000000_psql_only", up, "DROP TABLE a;");
            let at = format!(
                "{}:{line}: refused before anything ran: {found}",
                up_of(&dir)
            );
            for args in [
                &["upgrade", "head", "--sql"][..],
                &["upgrade", "base:head", "--sql"],
            ] {
                let sql = run(m.cmd(db.url()).args(args));
                sql.code(2).says(&[&at]);
                assert_eq!(sql.stdout, "", "{dialect:?} {args:?}");
            }
            run(m.cmd(db.url()).args(["upgrade", "head"]))
                .code(2)
                .says(&[&at]);
            assert!(!db.has_table("users"), "{dialect:?}: something ran");
        }
    }
    assert!(!Path::new("/tmp/haven-meta-command").exists());
}

#[test]
fn a_failure_is_reported_as_the_database_holds_it() {
    for dialect in BOTH {
        let db = Db::new(dialect);
        let m = Migrations::haven(dialect);
        m.add(
            "2026-06-01-000000_fails",
            "CREATE TABLE half (x int);\nINSERT INTO no_such_table VALUES (1);\n",
            "DROP TABLE half;",
        );
        let failed = run(m
            .cmd(db.url())
            .args(["--format", "json", "upgrade", "head"]));
        failed.code(1).says(&[
            "20260601000000 (fails) failed while applying",
            "no_such_table",
        ]);
        let report = json(&failed);
        assert_eq!(report["error"]["kind"], "migration_failed");
        assert_eq!(report["stop"]["running"]["fate"], "rolled_back", "{report}");
        assert_eq!(report["stop"]["done"].as_array().map(Vec::len), Some(4));
        let message = report["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("it was rolled back: nothing of it was kept"),
            "{message}"
        );
        assert!(!db.has_table("half"));
        assert_eq!(db.recorded().0, haven_and(&[]));
    }
}

#[test]
fn a_non_transactional_failure_is_reported_dirty() {
    for dialect in BOTH {
        let db = Db::new(dialect);
        let m = Migrations::haven(dialect);
        m.add_with_metadata(
            "2026-06-01-000000_fails",
            "CREATE TABLE half (x int);\nINSERT INTO no_such_table VALUES (1);\n",
            "DROP TABLE half;",
            "run_in_transaction = false\n",
        );
        run(m.cmd(db.url()).args(["upgrade", "head"])).code(1).says(&[
            "20260601000000 (fails) failed while applying",
            "it is not transactional: what ran of it before the stop was kept, and it is marked dirty",
        ]);
        assert!(db.has_table("half"));
        run(m.cmd(db.url()).arg("check"))
            .code(4)
            .says(&["was interrupted while applying"]);
    }
}

#[test]
fn a_single_transaction_failure_rolls_back_the_batch_and_says_so() {
    let db = Db::new(Dialect::Postgres);
    let m = Migrations::haven(Dialect::Postgres);
    m.add(
        "2026-06-01-000000_fails",
        "INSERT INTO no_such_table VALUES (1);",
        "SELECT 1;",
    );
    let failed = run(m
        .cmd(db.url())
        .args(["--format", "json", "upgrade", "--single-transaction"]));
    failed.code(1);
    let report = json(&failed);
    assert_eq!(
        report["stop"]["rolled_back"],
        serde_json::json!(haven_and(&[])),
        "{report}"
    );
    assert_eq!(report["stop"]["done"], serde_json::json!([]));
    let message = report["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("the whole batch was rolled back with it"),
        "{message}"
    );
    // Text: no "applied" line for what was rolled back.
    let text = run(m.cmd(db.url()).args(["upgrade", "--single-transaction"]));
    text.code(1);
    assert!(!text.all().contains("applied "), "{}", text.all());
    assert_eq!(db.recorded().0, Vec::<String>::new());
    assert!(!db.has_table("users"));
}

#[test]
fn a_single_transaction_script_and_plan_show_one_transaction() {
    let db = Db::new(Dialect::Postgres);
    let m = Migrations::haven(Dialect::Postgres);
    let sql = run(m
        .cmd(db.url())
        .args(["upgrade", "--single-transaction", "--sql"]));
    sql.code(0);
    assert_eq!(
        sql.stdout.matches("\nBEGIN;\n").count(),
        1,
        "{}",
        sql.stdout
    );
    assert_eq!(sql.stdout.matches("\nCOMMIT;\n").count(), 1);
    assert!(sql.stdout.trim_end().ends_with("COMMIT;"));
    let Db::Pg(pg) = &db else { unreachable!() };
    let script = pg.psql(&sql.stdout);
    assert!(!script.contains("ERROR"), "{script}");
    assert_eq!(db.recorded(), (haven_and(&[]), haven_and(&[])));
    let fresh = Db::new(Dialect::Postgres);
    run(m
        .cmd(fresh.url())
        .args(["upgrade", "--single-transaction", "--dry-run"]))
    .code(0)
    .says(&[
        "plan (4 step(s), all in one transaction (--single-transaction)",
        "in the one transaction",
    ]);
    let lite = Db::new(Dialect::Sqlite);
    run(Migrations::haven(Dialect::Sqlite).cmd(lite.url()).args([
        "upgrade",
        "--single-transaction",
        "--sql",
    ]))
    .code(2)
    .says(&["--single-transaction is for PostgreSQL"]);
}

/// What `check` says of the migration marked dirty.
fn dirty_text(db: &Db, m: &Migrations) -> String {
    run(m.cmd(db.url()).arg("check")).code(4).all()
}

#[test]
fn the_dirty_marker_records_its_direction_and_old_side_tables_gain_the_column() {
    for dialect in BOTH {
        let db = Db::new(dialect);
        let m = Migrations::haven(dialect);
        m.add_with_metadata(
            "2026-06-01-000000_outside",
            "CREATE TABLE outside (x int);",
            "DROP TABLE outside;",
            "run_in_transaction = false\n",
        );
        run(m.cmd(db.url()).args(["upgrade", "head"])).code(0);
        // A run cut between its last two writes: diesel's row is written, the marker not
        // yet cleared. diesel's row alone would say "reverting".
        db.exec(
            "UPDATE __haven_migrations SET dirty = TRUE, dirty_action = 'apply' \
             WHERE version = '20260601000000'",
        );
        assert!(
            dirty_text(&db, &m).contains("interrupted while applying"),
            "{dialect:?}"
        );
        db.exec("UPDATE __haven_migrations SET dirty_action = 'revert' WHERE version = '20260601000000'");
        assert!(dirty_text(&db, &m).contains("interrupted while reverting"));
        // An older side table, without the column: read as it is, upgraded by a write. Its
        // marker has no direction: diesel's row tells (applied, so it was reverting).
        db.exec("ALTER TABLE __haven_migrations DROP COLUMN dirty_action");
        db.exec("UPDATE __haven_migrations SET dirty = TRUE WHERE version = '20260601000000'");
        assert!(
            dirty_text(&db, &m).contains("interrupted while reverting"),
            "{dialect:?}"
        );
        db.exec("UPDATE __haven_migrations SET dirty = FALSE");
        run(m.cmd(db.url()).arg("check")).code(0);
        run(m.cmd(db.url()).arg("history")).code(0);
        let has_it = || db.has_column("__haven_migrations", "dirty_action");
        assert!(
            !has_it(),
            "{dialect:?}: a read-only command changed the side table"
        );
        run(m.cmd(db.url()).args(["downgrade", "-1"])).code(0);
        assert!(has_it(), "{dialect:?}: the column was not added");
        run(m.cmd(db.url()).args(["upgrade", "head"])).code(0);
        assert_eq!(db.recorded().1, haven_and(&["20260601000000"]));
    }
}

#[test]
fn a_verify_failure_is_an_error_in_json() {
    for dialect in BOTH {
        let db = Db::new(dialect);
        let m = Migrations::haven(dialect);
        m.add(
            "2026-06-01-000000_leaky",
            "CREATE TABLE leaky (x int);",
            "SELECT 1;",
        );
        let failed = run(m.cmd(db.url()).args(["--format", "json", "verify"]));
        failed.code(4);
        let report = json(&failed);
        assert_eq!(report["ok"], false);
        assert_eq!(report["error"]["kind"], "verify_failed", "{report}");
        let message = report["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("20260601000000 (leaky)") && message.contains("leaky"),
            "{message}"
        );
        assert_eq!(report["problems"][0]["kind"], "verify_failed");
        assert_eq!(report["problems"][0]["version"], "20260601000000");
        assert!(!db.has_table("leaky"));
    }
}

/// The size of a tmpfs that fills up during a migration.
const TINY_DISK: &str = "size=1m";

/// A 1 MiB tmpfs, unmounted (and removed) on drop. These machines run as root.
struct TinyDisk(PathBuf);

impl TinyDisk {
    fn mount() -> TinyDisk {
        let dir = tempfile::tempdir().expect("a mount point").keep();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", TINY_DISK, "tmpfs"])
            .arg(&dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "mounting a tmpfs needs root");
        TinyDisk(dir)
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_full_disk_on_sqlite_is_reported_as_a_full_disk() {
    let disk = TinyDisk::mount();
    let path = disk.0.join("haven.db");
    let url = path.display().to_string();
    let m = Migrations::haven(Dialect::Sqlite);
    m.add(
        "2026-06-01-000000_big",
        "CREATE TABLE big (x TEXT);\nWITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 \
         FROM c WHERE i < 20000) INSERT INTO big SELECT hex(randomblob(100)) FROM c;\n",
        "DROP TABLE big;",
    );
    run(m.cmd(&url).args(["upgrade", "head"]))
        .code(1)
        .says(&[
            "20260601000000 (big) failed while applying: database or disk is full",
            "it was rolled back: nothing of it was kept",
        ])
        .never_says(&["outside of a transaction"]);
    assert_eq!(sqlite_recorded(&path).0, haven_and(&[]));
    assert!(!sqlite_table_exists(&path, "big"));
}
