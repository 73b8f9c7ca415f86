//! Safe deploys, part 2 (issue 4): integrity. A failing migration leaves no trace; edited,
//! deleted and out-of-order migrations are reported by `check` and refused by `upgrade`
//! (exit 4) until repaired with `stamp`; `verify` proves every down.sql, on real databases.

mod support;

use std::fs;

use support::{
    haven_and, pg_recorded, pg_rows, pg_table_exists, run, sqlite_recorded, sqlite_table_exists,
    Background, Dialect, Migrations,
};

const V5: &str = "20260101000005";

#[test]
fn a_failing_postgres_migration_leaves_no_trace() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add(
        "2026-01-01-000005_broken",
        "CREATE TABLE broken_made (id int);\nSELECT * FROM no_such_table;\n",
        "DROP TABLE broken_made;\n",
    );
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(1)
        .says(&[V5, "broken", "no_such_table", "failed while applying"]);
    assert!(!pg_table_exists(&db, "broken_made"));
    assert!(pg_table_exists(&db, "audit_log"), "the earlier ones stay");
    let (diesel, side) = pg_recorded(&db);
    assert_eq!(diesel, haven_and(&[]));
    assert_eq!(side, haven_and(&[]), "no side-table row for the failed one");
    // Nothing to repair: the database is consistent, with one migration pending.
    run(migrations.cmd(&db.url).arg("check"))
        .code(3)
        .says(&[V5]);
}

#[test]
fn a_failing_sqlite_migration_leaves_no_trace() {
    let db = support::sqlite_database();
    let migrations = Migrations::haven(Dialect::Sqlite);
    migrations.add(
        "2026-01-01-000005_broken",
        "CREATE TABLE broken_made (id INTEGER);\nSELECT * FROM no_such_table;\n",
        "DROP TABLE broken_made;\n",
    );
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(1)
        .says(&[V5, "broken", "no_such_table"]);
    assert!(!sqlite_table_exists(&db.path, "broken_made"));
    assert!(sqlite_table_exists(&db.path, "audit_log"));
    let (diesel, side) = sqlite_recorded(&db.path);
    assert_eq!(diesel, haven_and(&[]));
    assert_eq!(side, haven_and(&[]));
    run(migrations.cmd(&db.url).arg("check")).code(3);
}

#[test]
fn a_tampered_up_sql_blocks_upgrade_until_rehashed() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    let up = migrations.file("2026-01-01-000002", "up.sql");
    let mut text = fs::read_to_string(&up).expect("read up.sql");
    text.push_str("\nCREATE INDEX aurora_bookings_sneaky_idx ON aurora_bookings (status);\n");
    fs::write(&up, text).expect("tamper with up.sql");
    migrations.add(
        "2026-01-01-000005_new_table",
        "CREATE TABLE new_table (id int);\n",
        "DROP TABLE new_table;\n",
    );

    // The advice stamps the current position: `stamp 20260101000002` would unrecord 3 and 4.
    run(migrations.cmd(&db.url).arg("check"))
        .code(4)
        .says(&["20260101000002", "edited"])
        .says(&["`haven-migrate stamp 20260101000004 --rehash`"]);
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(4)
        .says(&["20260101000002", "edited"]);
    assert!(!pg_table_exists(&db, "new_table"), "nothing was applied");
    assert_eq!(pg_recorded(&db).0, haven_and(&[]));
    // The dry runs refuse as the real command does.
    for dry in [
        &["upgrade", "head", "--sql"][..],
        &["upgrade", "--dry-run"][..],
    ] {
        run(migrations.cmd(&db.url).args(dry))
            .code(4)
            .says(&["20260101000002", "edited"]);
    }
    let json = run(migrations.cmd(&db.url).args(["--format", "json", "check"]));
    json.code(4);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON object");
    let row = report["migrations"]
        .as_array()
        .expect("migrations")
        .iter()
        .find(|m| m["version"] == "20260101000002")
        .expect("the edited row");
    assert_eq!(row["checksum_ok"], false, "{row}");
    assert!(report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .any(|p| p["kind"] == "edited" && p["version"] == "20260101000002"));

    let before = pg_rows(
        &db,
        "SELECT checksum FROM __haven_migrations ORDER BY version",
    );
    run(migrations
        .cmd(&db.url)
        .args(["stamp", "20260101000004", "--rehash"]))
    .code(0)
    .says(&["20260101000002"]);
    let after = pg_rows(
        &db,
        "SELECT checksum FROM __haven_migrations ORDER BY version",
    );
    assert_ne!(before[1], after[1], "the edited one is re-recorded");
    assert_eq!(
        (&before[0], &before[2], &before[3]),
        (&after[0], &after[2], &after[3])
    );
    assert_eq!(pg_recorded(&db).0, haven_and(&[]), "rehash applies nothing");
    run(migrations.cmd(&db.url).arg("check"))
        .code(3)
        .never_says(&["edited"]);
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    assert!(pg_table_exists(&db, "new_table"));
    run(migrations.cmd(&db.url).arg("check")).code(0);
}

#[test]
fn crlf_and_a_bom_are_not_edits() {
    let db = support::sqlite_database();
    let migrations = Migrations::haven(Dialect::Sqlite);
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    let up = migrations.file("2026-01-01-000001", "up.sql");
    let text = fs::read_to_string(&up).expect("read up.sql");
    assert!(!text.contains('\r'));
    fs::write(&up, text.replace('\n', "\r\n")).expect("convert to CRLF");
    let up3 = migrations.file("2026-01-01-000003", "up.sql");
    let text3 = fs::read_to_string(&up3).expect("read up.sql");
    fs::write(&up3, format!("\u{feff}{text3}")).expect("add a BOM");
    run(migrations.cmd(&db.url).arg("check"))
        .code(0)
        .never_says(&["edited", "problem"]);

    // A real edit of the same file is caught (so the test above can fail).
    fs::write(&up, text.replace("CREATE TABLE", "create table")).expect("edit up.sql");
    run(migrations.cmd(&db.url).arg("check"))
        .code(4)
        .says(&["20260101000001", "edited"]);
}

#[test]
fn an_applied_migration_deleted_from_disk_is_reported_and_purged_by_stamp() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    fs::remove_dir_all(
        migrations
            .file("2026-01-01-000004", "up.sql")
            .parent()
            .expect("its directory"),
    )
    .expect("delete the applied migration");

    run(migrations.cmd(&db.url).arg("check"))
        .code(4)
        .says(&["20260101000004", "stamp"]);
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(4)
        .says(&["20260101000004"]);
    run(migrations.cmd(&db.url).args(["stamp", "head", "--purge"])).code(0);
    let (diesel, side) = pg_recorded(&db);
    let three: Vec<String> = haven_and(&[])[..3].to_vec();
    assert_eq!(diesel, three);
    assert_eq!(side, three);
    assert!(
        pg_table_exists(&db, "audit_log"),
        "stamp runs no migration SQL"
    );
    run(migrations.cmd(&db.url).arg("check")).code(0);
}

#[test]
fn an_out_of_order_pending_migration_is_refused_unless_allowed() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    migrations.add(
        "2025-12-31-000000_merged_late",
        "CREATE TABLE merged_late (id int);\n",
        "DROP TABLE merged_late;\n",
    );
    run(migrations.cmd(&db.url).arg("check"))
        .code(4)
        .says(&["20251231000000", "--allow-out-of-order"]);
    run(migrations.cmd(&db.url).args(["upgrade", "head"]))
        .code(4)
        .says(&["20251231000000"]);
    assert!(!pg_table_exists(&db, "merged_late"));
    assert_eq!(pg_recorded(&db).0, haven_and(&[]));

    run(migrations
        .cmd(&db.url)
        .args(["upgrade", "head", "--allow-out-of-order"]))
    .code(0)
    .says(&["20251231000000"]);
    assert!(pg_table_exists(&db, "merged_late"));
    let mut expected = vec!["20251231000000".to_owned()];
    expected.extend(haven_and(&[]));
    let (diesel, side) = pg_recorded(&db);
    assert_eq!(diesel, expected);
    assert_eq!(side, expected);
    run(migrations.cmd(&db.url).arg("check")).code(0);
}

#[test]
fn a_metadata_toml_without_run_in_transaction_gets_a_warning() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    migrations.add_with_metadata(
        "2026-01-01-000005_no_flag",
        "CREATE TABLE no_flag (id int);\n",
        "DROP TABLE no_flag;\n",
        "# a metadata file that forgets run_in_transaction\n",
    );
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    assert!(pg_table_exists(&db, "no_flag"));
    run(migrations.cmd(&db.url).arg("check"))
        .code(0)
        .says(&["warning", V5, "run_in_transaction"]);
    let json = run(migrations.cmd(&db.url).args(["--format", "json", "check"]));
    json.code(0);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON object");
    assert_eq!(report["ok"], true);
    assert!(report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .any(|p| p["version"] == V5 && p["kind"] == "no_transaction_flag"));
}

/// The names of the PostgreSQL scratch databases a `verify` run with this pid left behind.
fn scratch_databases(db: &support::PgTestDb, pid: u32) -> Vec<String> {
    pg_rows(
        db,
        &format!(
            "SELECT datname FROM pg_database WHERE datname LIKE 'haven\\_scratch\\_{pid}\\_%'"
        ),
    )
}

#[test]
fn verify_passes_on_the_haven_postgres_migrations_and_cleans_up() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    let child = Background::spawn(migrations.cmd(&db.url).arg("verify"));
    let pid = child.pid();
    child.wait().code(0).says(&["ok", "4 migration(s)"]);
    assert_eq!(scratch_databases(&db, pid), Vec::<String>::new());
    assert_eq!(
        pg_recorded(&db),
        (vec![], vec![]),
        "verify never touches the database"
    );
}

#[test]
fn verify_names_the_postgres_migration_whose_down_sql_forgets_a_type() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    let down = migrations.file("2026-01-01-000002", "down.sql");
    let text = fs::read_to_string(&down).expect("read down.sql");
    let broken = text.replace("DROP TYPE aurora_booking_status;", "");
    assert_ne!(text, broken, "the copy had the DROP TYPE");
    fs::write(&down, broken).expect("break down.sql");
    let child = Background::spawn(migrations.cmd(&db.url).arg("verify"));
    let pid = child.pid();
    let out = child.wait();
    out.code(4)
        .says(&["20260101000002", "aurora_integration_tables"])
        .says(&["aurora_booking_status"]);
    assert!(
        !out.all().contains("20260101000003 ("),
        "it stops at the first failure: {}",
        out.stdout
    );
    assert_eq!(scratch_databases(&db, pid), Vec::<String>::new());

    let json = run(migrations.cmd(&db.url).args(["--format", "json", "verify"]));

    json.code(4);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON object");
    assert_eq!(report["ok"], false);
    let failure = &report["verify"]["failure"];
    assert_eq!(failure["version"], "20260101000002", "{report}");
    assert!(
        failure["differences"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d
                .as_str()
                .is_some_and(|d| d.contains("aurora_booking_status")))),
        "{report}"
    );
}

#[test]
fn verify_passes_on_the_haven_sqlite_migrations_and_fails_on_a_forgotten_index() {
    let db = support::sqlite_database();
    let migrations = Migrations::haven(Dialect::Sqlite);
    let scratch = tempfile::tempdir().expect("a TMPDIR for verify");
    run(migrations
        .cmd(&db.url)
        .env("TMPDIR", scratch.path())
        .arg("verify"))
    .code(0)
    .says(&["4 migration(s)"]);
    let leftovers = |dir: &std::path::Path| fs::read_dir(dir).expect("read TMPDIR").count();
    assert_eq!(leftovers(scratch.path()), 0, "no scratch file is left");
    assert!(!db.path.exists(), "verify does not create the database");

    migrations.add(
        "2026-01-01-000005_users_status_idx",
        "CREATE INDEX users_status_idx ON users (status);\n",
        "-- forgot: DROP INDEX users_status_idx;\n",
    );
    run(migrations
        .cmd(&db.url)
        .env("TMPDIR", scratch.path())
        .arg("verify"))
    .code(4)
    .says(&[V5, "users_status_idx", "down.sql"]);
    assert_eq!(leftovers(scratch.path()), 0, "no scratch file is left");
}

#[test]
fn migrations_without_checksums_are_unverified_warnings_until_stamped() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    // As if the diesel CLI had applied them: diesel's rows, no side-table rows.
    db.psql("DELETE FROM __haven_migrations");
    migrations.add(
        "2026-01-01-000005_pending",
        "CREATE TABLE pending_one (id int);\n",
        "DROP TABLE pending_one;\n",
    );
    run(migrations.cmd(&db.url).arg("check"))
        .code(3)
        .says(&["warning", "without a checksum", "20260101000001"])
        .says(&["`haven-migrate stamp 20260101000004`"])
        .never_says(&["problem:"]);
    // Following the advice records the checksums and nothing else.
    run(migrations.cmd(&db.url).args(["stamp", "20260101000004"])).code(0);
    let (diesel, side) = pg_recorded(&db);
    assert_eq!(diesel, haven_and(&[]));
    assert_eq!(side, haven_and(&[]));
    assert_eq!(
        pg_rows(
            &db,
            "SELECT count(*) FROM __haven_migrations WHERE checksum IS NULL"
        ),
        ["0"]
    );
    run(migrations.cmd(&db.url).arg("check"))
        .code(3)
        .never_says(&["without a checksum"]);
}

#[test]
fn duplicate_versions_and_a_missing_up_sql_are_malformed_sets() {
    let db = support::pg_database();
    let migrations = Migrations::haven(Dialect::Postgres);
    run(migrations.cmd(&db.url).args(["upgrade", "+1"])).code(0);

    // The same version written two ways: with dashes, and as bare digits.
    let dup = migrations.add(
        "20260101000003_also_three",
        "CREATE TABLE also_three (id int);\n",
        "DROP TABLE also_three;\n",
    );
    for args in [&["check"][..], &["upgrade", "head"], &["stamp", "head"]] {
        run(migrations.cmd(&db.url).args(args)).code(2).says(&[
            "20260101000003",
            "also_three",
            "2026-01-01-000003_tribe_integration_tables",
        ]);
    }
    assert!(!pg_table_exists(&db, "also_three"));
    assert!(!pg_table_exists(&db, "aurora_bookings"), "nothing applied");
    fs::remove_dir_all(dup).expect("remove the duplicate");

    let no_up = migrations.add("2026-01-01-000005_no_up", "", "SELECT 1;\n");
    fs::remove_file(no_up.join("up.sql")).expect("remove up.sql");
    for args in [&["check"][..], &["upgrade", "head"]] {
        run(migrations.cmd(&db.url).args(args))
            .code(2)
            .says(&["2026-01-01-000005_no_up", "up.sql"]);
    }
    assert_eq!(pg_recorded(&db).0, haven_and(&[])[..1].to_vec());
}

#[test]
fn a_refused_upgrade_lists_the_problems_in_json() {
    let db = support::sqlite_database();
    let migrations = Migrations::haven(Dialect::Sqlite);
    run(migrations.cmd(&db.url).args(["upgrade", "head"])).code(0);
    let up = migrations.file("2026-01-01-000004", "up.sql");
    fs::write(&up, "-- emptied\n").expect("tamper with up.sql");
    let out = run(migrations
        .cmd(&db.url)
        .args(["--format", "json", "upgrade", "head"]));
    out.code(4);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON object");
    assert_eq!(report["ok"], false);
    assert_eq!(report["error"]["kind"], "integrity", "{report}");
    let problems = report["problems"].as_array().expect("problems");
    assert!(
        problems
            .iter()
            .any(|p| p["kind"] == "edited" && p["version"] == "20260101000004"),
        "{report}"
    );
}
