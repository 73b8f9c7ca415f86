//! What differs between PostgreSQL versions (issue 12): CI runs every PostgreSQL test on 15
//! and on 18. Where a test's premise exists only on some versions (PostgreSQL 18's not-null
//! constraints and virtual generated columns), it checks on the others that the server
//! refuses the feature, so that it never passes without checking anything.
//!
//! - `verify` compares 18's not-null constraints by column, with their NOT VALID; and
//!   tells a virtual generated column from a default.
//! - `upgrade --backup` takes a `pg_dump` of the server's major version: PATH, then
//!   /usr/lib/postgresql/<major>/bin, then the closest newer one; `--pg-dump PATH`
//!   overrides the search and is refused when older than the server.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use haven_schema::pg_tools::{self, PgVersion};
use support::{pg_recorded, pg_table_exists, run, Migrations, Run};

/// An empty migration directory of its own.
fn migrations() -> Migrations {
    let tmp = tempfile::Builder::new()
        .prefix("haven-versions-")
        .tempdir()
        .expect("a temp dir for the migrations");
    let dir = tmp.path().join("migrations");
    fs::create_dir(&dir).expect("the migration dir");
    Migrations { tmp, dir }
}

fn on_18_or_later(db: &support::PgTestDb) -> bool {
    db.server_major() >= 18
}

/// `verify`, expecting `code`.
#[track_caller]
fn verify(migrations: &Migrations, db: &support::PgTestDb, code: i32) -> Run {
    let done = run(migrations.cmd(&db.url).arg("verify"));
    done.code(code);
    done
}

#[test]
fn a_not_null_restored_under_another_generated_name_verifies_on_every_version() {
    let db = support::pg_database();
    let migrations = migrations();
    // On 18 the constraint is named after the table at creation: staging_amount_not_null.
    migrations.add(
        "2030-01-01-000001_create",
        "CREATE TABLE staging (amount int NOT NULL);\nALTER TABLE staging RENAME TO ledger;\n",
        "DROP TABLE ledger;\n",
    );
    // SET NOT NULL makes ledger_amount_not_null: the only way to restore it before 18.
    migrations.add(
        "2030-01-01-000002_relax",
        "ALTER TABLE ledger ALTER amount DROP NOT NULL;\n",
        "ALTER TABLE ledger ALTER amount SET NOT NULL;\n",
    );
    verify(&migrations, &db, 0).says(&["2 migration(s)"]);
    if on_18_or_later(&db) {
        let names = db.psql(
            "CREATE TABLE staging (amount int NOT NULL); ALTER TABLE staging RENAME TO ledger; \
             SELECT conname FROM pg_constraint WHERE conrelid = 'ledger'::regclass",
        );
        assert!(names.contains("staging_amount_not_null"), "{names}");
    }
}

#[test]
fn a_not_null_that_comes_back_validated_is_a_difference_on_18() {
    let db = support::pg_database();
    let add_invalid = "CREATE TABLE ledger (amount int);\n\
                       ALTER TABLE ledger ADD CONSTRAINT amount_set NOT NULL amount NOT VALID;\n";
    if !on_18_or_later(&db) {
        let error = db
            .try_psql(add_invalid)
            .expect_err("no NOT VALID not-null before 18");
        assert!(error.contains("syntax error"), "{error}");
        return;
    }
    let migrations = migrations();
    migrations.add(
        "2030-01-01-000001_create",
        add_invalid,
        "DROP TABLE ledger;\n",
    );
    // Validation cannot be undone; this down.sql rebuilds a validated constraint instead.
    migrations.add(
        "2030-01-01-000002_validate",
        "ALTER TABLE ledger VALIDATE CONSTRAINT amount_set;\n",
        "ALTER TABLE ledger ALTER amount DROP NOT NULL;\n\
         ALTER TABLE ledger ALTER amount SET NOT NULL;\n",
    );
    verify(&migrations, &db, 4).says(&[
        "20300101000002",
        "constraint ledger.(NOT NULL amount)",
        "NOT NULL amount NOT VALID",
    ]);
    assert_eq!(
        pg_recorded(&db),
        (vec![], vec![]),
        "verify never touches it"
    );
}

#[test]
fn a_virtual_generated_column_restored_as_a_default_is_a_difference_on_18() {
    let db = support::pg_database();
    // GENERATED ALWAYS AS without STORED: VIRTUAL on 18, a syntax error before.
    let create = "CREATE TABLE fees (rate int, flat int GENERATED ALWAYS AS (42));\n";
    if !on_18_or_later(&db) {
        let error = db
            .try_psql(create)
            .expect_err("no virtual columns before 18");
        assert!(error.contains("syntax error"), "{error}");
        return;
    }
    let migrations = migrations();
    migrations.add("2030-01-01-000001_create", create, "DROP TABLE fees;\n");
    migrations.add(
        "2030-01-01-000002_drop_flat",
        "ALTER TABLE fees DROP COLUMN flat;\n",
        "ALTER TABLE fees ADD COLUMN flat int DEFAULT 42;\n",
    );
    verify(&migrations, &db, 4).says(&[
        "20300101000002",
        "column fees.flat",
        "GENERATED ALWAYS AS (42) VIRTUAL",
        "DEFAULT 42",
    ]);
}

// ------------------------------------------------------------------- upgrade --backup

/// A directory holding a fake `pg_dump` that reports `version`, and otherwise runs `then`.
struct FakePgDump {
    dir: tempfile::TempDir,
}

impl FakePgDump {
    /// `then` is a shell command line for a dump: e.g. `exec /real/pg_dump "$@"`. Only
    /// shell builtins and absolute paths: the tests may run it with a PATH of its own.
    fn new(version: &str, then: &str) -> FakePgDump {
        let dir = tempfile::Builder::new()
            .prefix("haven-fake-pg-dump-")
            .tempdir()
            .expect("a temp dir");
        let script = format!(
            "#!/bin/sh\n[ \"$1\" = --version ] && {{ echo 'pg_dump (PostgreSQL) {version}'; exit 0; }}\n\
             : > \"${{0%/*}}/dumped\"\n{then}\n"
        );
        let path = dir.path().join("pg_dump");
        fs::write(&path, script).expect("write the fake pg_dump");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        FakePgDump { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("pg_dump")
    }

    /// Whether it was asked for a dump (not just for its version).
    fn dumped(&self) -> bool {
        self.dir.path().join("dumped").exists()
    }
}

/// A real `pg_dump` of the server's major version, as the harness needs one too.
fn real_pg_dump(server: PgVersion) -> PathBuf {
    pg_tools::candidates("pg_dump")
        .into_iter()
        .find(|p| pg_tools::program_version(p).is_ok_and(|v| v.same_major(server)))
        .unwrap_or_else(|| panic!("no pg_dump {} on PATH", server.major_name()))
}

/// The major version just below the server's, as a pg_dump would print it.
fn older_than(server: PgVersion) -> String {
    format!("{}.3", server.num() / 10000 - 1)
}

fn path_of(dirs: &[&Path]) -> String {
    std::env::join_paths(dirs)
        .expect("a PATH")
        .to_string_lossy()
        .into_owned()
}

/// The database is as before: nothing applied, nothing recorded.
#[track_caller]
fn untouched(db: &support::PgTestDb) {
    assert!(!pg_table_exists(db, "users"));
    assert_eq!(pg_recorded(db), (vec![], vec![]));
}

#[test]
fn backup_passes_over_a_pg_dump_of_another_version_for_the_servers_own() {
    let db = support::pg_database();
    let server = support::pg_server_version();
    let real = real_pg_dump(server);
    let old = FakePgDump::new(&older_than(server), "exit 1");
    let migrations = Migrations::haven(support::Dialect::Postgres);
    let file = migrations.tmp.path().join("backup.sql");
    let path = path_of(&[old.dir.path(), real.parent().expect("a bin dir")]);
    let out = run(migrations
        .cmd(&db.url)
        .env("PATH", path)
        .args(["-v", "upgrade", "+1", "--backup"])
        .arg(&file));
    out.code(0);
    let used = format!(
        "debug: backup {} written by pg_dump {} ({}) for PostgreSQL {server}",
        file.display(),
        pg_tools::program_version(&real).expect("its version"),
        real.display()
    );
    assert!(out.stderr.contains(&used), "{used}\n{}", out.stderr);
    assert!(
        !old.dumped(),
        "the older pg_dump first on PATH was only asked its version"
    );
    let dump = fs::read_to_string(&file).expect("the backup");
    assert!(dump.contains("PostgreSQL database dump"), "{dump}");
    assert_eq!(pg_recorded(&db).0, vec![support::VERSIONS[0].to_owned()]);
}

#[test]
fn an_explicit_pg_dump_older_than_the_server_is_refused_and_nothing_is_applied() {
    let db = support::pg_database();
    let server = support::pg_server_version();
    let old = FakePgDump::new("9.6.24", "exit 1");
    let migrations = Migrations::haven(support::Dialect::Postgres);
    let file = migrations.tmp.path().join("backup.sql");
    for mode in [&[][..], &["--format", "json"]] {
        let out = run(migrations
            .cmd(&db.url)
            .args(mode)
            .args(["upgrade", "--backup"])
            .arg(&file)
            .arg("--pg-dump")
            .arg(old.path()));
        out.code(1).says(&[
            "backup failed, nothing was applied",
            &format!("--pg-dump {} is pg_dump 9.6.24", old.path().display()),
            &format!("refuses a PostgreSQL {server} server"),
            &format!("postgresql-client-{}", server.major_name()),
            &format!(
                "pass --pg-dump PATH to a pg_dump {} or newer",
                server.major_name()
            ),
        ]);
        if mode.contains(&"json") {
            let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
            assert_eq!(report["error"]["kind"], "backup", "{report}");
        }
    }
    assert!(!old.dumped());
    assert!(!file.exists());
    untouched(&db);
}

#[test]
fn an_explicit_pg_dump_is_used_and_one_that_does_not_run_is_refused() {
    let db = support::pg_database();
    let server = support::pg_server_version();
    let real = real_pg_dump(server);
    let migrations = Migrations::haven(support::Dialect::Postgres);
    let file = migrations.tmp.path().join("backup.sql");
    run(migrations
        .cmd(&db.url)
        .args(["upgrade", "--backup"])
        .arg(&file)
        .args(["--pg-dump", "/nonexistent/pg_dump"]))
    .code(1)
    .says(&[
        "backup failed, nothing was applied",
        "--pg-dump /nonexistent/pg_dump: cannot run /nonexistent/pg_dump",
    ]);
    untouched(&db);
    run(migrations
        .cmd(&db.url)
        .args(["upgrade", "head", "--pg-dump"])
        .arg(&real))
    .code(2)
    .says(&["--backup <FILE>"]);
    untouched(&db);
    // Explicit wins over PATH, here a PATH whose only pg_dump is older than the server.
    let old = FakePgDump::new(&older_than(server), "exit 1");
    let out = run(migrations
        .cmd(&db.url)
        .env("PATH", path_of(&[old.dir.path()]))
        .args(["-v", "upgrade", "--backup"])
        .arg(&file)
        .arg("--pg-dump")
        .arg(&real));
    out.code(0);
    assert!(
        out.stderr.contains(&format!("({})", real.display())),
        "{}",
        out.stderr
    );
    assert!(!old.dumped());
    assert!(fs::read_to_string(&file).is_ok_and(|d| d.contains("PostgreSQL database dump")));
}

/// The `pg_dump` of `/usr/lib/postgresql/*/bin` the search would take after PATH: one of
/// the server's major version, else the closest newer one.
fn versioned_pg_dump(server: PgVersion) -> Option<(PgVersion, PathBuf)> {
    let exact = pg_tools::versioned_bin_dir(server).join("pg_dump");
    let mut found: Vec<(PgVersion, PathBuf)> = fs::read_dir(pg_tools::VERSIONED_BIN_ROOT)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let path = e.ok()?.path().join("bin/pg_dump");
            Some((pg_tools::program_version(&path).ok()?, path))
        })
        .filter(|(v, p)| *p == exact || v.newer_major_than(server))
        .collect();
    found.sort_by_key(|(v, p)| (*p != exact, *v));
    found.into_iter().next()
}

#[test]
fn with_no_fitting_pg_dump_on_path_the_versioned_dir_is_next_else_the_fix_is_named() {
    let db = support::pg_database();
    let server = support::pg_server_version();
    let old = FakePgDump::new(&older_than(server), "exit 1");
    let migrations = Migrations::haven(support::Dialect::Postgres);
    let file = migrations.tmp.path().join("backup.sql");
    let out = run(migrations
        .cmd(&db.url)
        .env("PATH", path_of(&[old.dir.path()]))
        .args(["-v", "upgrade", "--backup"])
        .arg(&file));
    assert!(!old.dumped());
    match versioned_pg_dump(server) {
        // E.g. PostgreSQL 15 from Debian: /usr/lib/postgresql/15/bin/pg_dump.
        Some((version, path)) => {
            out.code(0).says(&[&format!(
                "written by pg_dump {version} ({})",
                path.display()
            )]);
            assert!(file.exists());
        }
        // E.g. PostgreSQL 18 from a wheel, on a machine with only PostgreSQL 15 packages.
        None => {
            out.code(1).says(&[
                "backup failed, nothing was applied",
                &format!("no pg_dump can dump this PostgreSQL {server} server"),
                &format!("pg_dump {} at {}", older_than(server), old.path().display()),
                &format!("postgresql-client-{}", server.major_name()),
                "--pg-dump PATH",
            ]);
            assert!(!file.exists());
            untouched(&db);
        }
    }
}

#[test]
fn a_newer_pg_dump_serves_when_none_of_the_servers_version_is_found() {
    let db = support::pg_database();
    let server = support::pg_server_version();
    let real = real_pg_dump(server);
    let newer_version = format!("{}.1", server.num() / 10000 + 1);
    // It dumps with the real one: what matters here is the choice.
    let newer = FakePgDump::new(&newer_version, &format!("exec '{}' \"$@\"", real.display()));
    let migrations = Migrations::haven(support::Dialect::Postgres);
    let file = migrations.tmp.path().join("backup.sql");
    let out = run(migrations
        .cmd(&db.url)
        .env("PATH", path_of(&[newer.dir.path()]))
        .args(["-v", "upgrade", "--backup"])
        .arg(&file));
    out.code(0);
    match versioned_pg_dump(server) {
        Some((version, path)) if version.same_major(server) => {
            out.says(&[&format!(
                "written by pg_dump {version} ({})",
                path.display()
            )]);
            assert!(!newer.dumped(), "one of the server's version wins");
        }
        _ => {
            out.says(&[
                &format!(
                    "written by pg_dump {newer_version} ({})",
                    newer.path().display()
                ),
                "newer than the server",
            ]);
            assert!(newer.dumped());
        }
    }
    assert!(fs::read_to_string(&file).is_ok_and(|d| d.contains("PostgreSQL database dump")));
}
