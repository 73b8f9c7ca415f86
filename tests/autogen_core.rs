//! Tests of the autogen core (`haven_schema::autogen`) against real databases: the model
//! read from `src/schema.rs` equals the one read from a database the migrations built
//! (PostgreSQL 15 and 18: the harness takes the server on PATH), and the generated
//! migrations, for every difference kind, do what they say on real PostgreSQL and SQLite
//! databases: after `up.sql` the database matches the edited schema, after `down.sql` its
//! catalog is the one before, and `up.sql` runs again. The refusals are typed errors.
#![cfg(all(feature = "autogen", feature = "sqlite"))]

mod support;

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use haven_schema::autogen::declared::{declared, parse_declared};
use haven_schema::autogen::diff::{differences, DiffKind};
use haven_schema::autogen::generate::{self, sqlite::SqliteObject, Migration};
use haven_schema::autogen::inspect::{inspect, pg_details, sqlite_objects};
use haven_schema::autogen::{Column, Error, Joinable, Schema, SqlType, Table};
use haven_schema::catalog::{
    snapshot_pg, snapshot_sqlite, structure_pg, structure_sqlite, CatalogSnapshot, ObjectKind,
};

const SCHEMA_RS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/schema.rs");
const PG_MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
const SQLITE_MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");

fn schema_rs() -> Schema {
    declared(Path::new(SCHEMA_RS)).expect("src/schema.rs parses")
}

fn migrations(dir: &str) -> FileBasedMigrations {
    FileBasedMigrations::from_path(dir).expect("the migration directory is readable")
}

fn pg_at_head(url: &str) -> PgConnection {
    let mut conn = PgConnection::establish(url).expect("connect to PostgreSQL");
    conn.run_pending_migrations(migrations(PG_MIGRATIONS))
        .expect("run the PostgreSQL migrations");
    conn
}

fn sqlite_at_head(url: &str) -> SqliteConnection {
    let mut conn = SqliteConnection::establish(url).expect("open SQLite");
    conn.batch_execute("PRAGMA foreign_keys = ON")
        .expect("foreign keys on");
    conn.run_pending_migrations(migrations(SQLITE_MIGRATIONS))
        .expect("run the SQLite migrations");
    conn
}

// ---------------------------------------------------------------------------------------
// schema.rs and the database agree, as print-schema would have them
// ---------------------------------------------------------------------------------------

#[test]
fn schema_rs_declares_the_nine_haven_tables() {
    let schema = schema_rs();
    let tables: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tables, support::HAVEN_TABLES);
    let enums: Vec<&str> = schema.enums.iter().map(|e| e.pg_name.as_str()).collect();
    assert_eq!(
        enums,
        [
            "aurora_booking_status",
            "kyc_status",
            "redemption_status",
            "staking_status",
            "transaction_kind",
            "transaction_status",
            "tribe_contribution_kind",
            "user_status",
        ]
    );
    assert_eq!(schema.joinables.len(), 10);
    assert!(schema.joinables.contains(&Joinable {
        child: "tribe_rewards".into(),
        parent: "tribe_events".into(),
        column: "tribe_event_id".into(),
    }));
    // print-schema leaves out both keys from transactions to users.
    assert!(!schema.joinables.iter().any(|j| j.child == "transactions"));
    let users = schema.table("users").expect("users");
    assert_eq!(users.primary_key, ["id"]);
    let status = users.column("status").expect("users.status");
    assert_eq!(
        status.type_text(),
        "UserStatus (postgres_type \"user_status\")"
    );
    let email = users.column("email").expect("users.email");
    assert_eq!(email.type_text(), "Nullable<Text>");
}

#[test]
fn a_database_at_head_is_what_schema_rs_declares() {
    let db = support::pg_database();
    let mut conn = pg_at_head(&db.url);
    let actual = inspect(&mut conn).expect("inspect");
    let expected = schema_rs();
    assert_eq!(
        actual.tables.len(),
        9,
        "the bookkeeping tables are left out"
    );
    for (e, a) in expected.tables.iter().zip(&actual.tables) {
        assert_eq!(e.name, a.name);
        for (ec, ac) in e.columns.iter().zip(&a.columns) {
            assert_eq!(ec, ac, "{}.{}", e.name, ec.name);
        }
        assert_eq!(e, a, "table {}", e.name);
    }
    assert_eq!(expected.joinables, actual.joinables);
    assert_eq!(differences(&expected, &actual), []);
    // The database knows the enum labels, in their order; schema.rs does not.
    let status = actual.enum_type("user_status").expect("user_status");
    assert_eq!(status.labels, ["active", "suspended", "closed"]);
    assert_eq!(status.rust_name, "UserStatus");
    for e in &expected.enums {
        assert!(e.labels.is_empty());
        let found = actual.enum_type(&e.pg_name).expect("the type exists");
        assert_eq!(found.rust_name, e.rust_name);
        assert!(!found.labels.is_empty());
    }
    assert_eq!(actual.enums.len(), expected.enums.len());
}

#[test]
fn inspect_sees_what_print_schema_sees() {
    let db = support::pg_database();
    let mut conn = PgConnection::establish(&db.url).expect("connect");
    conn.batch_execute(
        "CREATE TYPE mood AS ENUM ('ok', 'meh');
         CREATE TABLE parents (id INT PRIMARY KEY, code VARCHAR(3) NOT NULL, tags TEXT[]);
         CREATE TABLE kids (
             k1 BIGINT, k2 TEXT, parent_id INT REFERENCES parents, mood mood,
             PRIMARY KEY (k2, k1));
         CREATE TABLE __hidden (id INT PRIMARY KEY);
         CREATE VIEW seen AS SELECT * FROM parents;",
    )
    .expect("create");
    let schema = inspect(&mut conn).expect("inspect");
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["kids", "parents"], "no view, no __ table");
    let kids = schema.table("kids").expect("kids");
    assert_eq!(kids.primary_key, ["k2", "k1"], "in key order");
    let types: Vec<String> = kids.columns.iter().map(Column::type_text).collect();
    assert_eq!(
        types,
        [
            "Int8",
            "Text",
            "Nullable<Int4>",
            "Nullable<Mood (postgres_type \"mood\")>"
        ]
    );
    let parents = schema.table("parents").expect("parents");
    let types: Vec<String> = parents.columns.iter().map(Column::type_text).collect();
    assert_eq!(
        types,
        [
            "Int4",
            "Varchar (max_length 3)",
            "Nullable<Array<Nullable<Text>>>"
        ]
    );
    assert_eq!(
        schema.joinables,
        [Joinable {
            child: "kids".into(),
            parent: "parents".into(),
            column: "parent_id".into()
        }]
    );
    conn.batch_execute("CREATE TABLE nokey (x INT)")
        .expect("create");
    match inspect(&mut conn) {
        Err(Error::NoPrimaryKey { table }) => assert_eq!(table, "nokey"),
        other => panic!("expected NoPrimaryKey, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Generated migrations, proven on real databases
// ---------------------------------------------------------------------------------------

/// The two databases at head, with a row in users, and what the generator reads from them.
struct Sides {
    _pg_db: support::PgTestDb,
    pg: PgConnection,
    _sqlite_db: support::SqliteTestDb,
    sqlite: SqliteConnection,
    actual: Schema,
    objects: Vec<SqliteObject>,
}

const USER_ROW: &str = "INSERT INTO users (wallet_address, email, display_name)
    VALUES ('0x52908400098527886E0F7030069857D2E4169EE7', 'a@b.c', 'Ann')";

fn sides() -> Sides {
    let pg_db = support::pg_database();
    let mut pg = pg_at_head(&pg_db.url);
    let sqlite_db = support::sqlite_database();
    let mut sqlite = sqlite_at_head(&sqlite_db.url);
    pg.batch_execute(USER_ROW).expect("a user row");
    sqlite.batch_execute(USER_ROW).expect("a user row");
    let actual = inspect(&mut pg).expect("inspect");
    let objects = sqlite_objects(&mut sqlite).expect("sqlite_master");
    Sides {
        _pg_db: pg_db,
        pg,
        _sqlite_db: sqlite_db,
        sqlite,
        actual,
        objects,
    }
}

fn run_pg(conn: &mut PgConnection, sql: &str, what: &str) {
    conn.transaction(|c| c.batch_execute(sql))
        .unwrap_or_else(|e| panic!("{what} failed on PostgreSQL: {e}\n{sql}"));
}

fn run_sqlite(conn: &mut SqliteConnection, migration: &Migration, sql: &str, what: &str) {
    let result = if migration.run_in_transaction {
        conn.transaction(|c| c.batch_execute(sql))
    } else {
        conn.batch_execute(sql)
    };
    result.unwrap_or_else(|e| panic!("{what} failed on SQLite: {e}\n{sql}"));
}

/// The snapshot without column positions, for a down.sql that re-adds a dropped column
/// at the end of its table (PostgreSQL cannot put it back in place).
fn without_positions(snapshot: &CatalogSnapshot) -> Vec<(ObjectKind, String, String)> {
    snapshot
        .iter()
        .map(|(kind, name, definition)| {
            let definition = match (kind, definition.split_once(' ')) {
                (ObjectKind::Column, Some((position, rest))) if position.starts_with('#') => rest,
                _ => definition,
            };
            (kind, name.to_owned(), definition.to_owned())
        })
        .collect()
}

fn assert_same_catalog(before: &CatalogSnapshot, after: &CatalogSnapshot, what: &str) {
    let diffs = before.differences(after);
    assert!(diffs.is_empty(), "{what}:\n  {}", diffs.join("\n  "));
}

/// Generates both migrations from `sides.actual` to `declared` and proves them: up gives
/// `declared` (PostgreSQL) and the same structure on SQLite, down restores the catalog,
/// up runs again. Returns the two migrations for further checks.
fn prove(sides: &mut Sides, declared: &Schema, pg_keeps_positions: bool) -> (Migration, Migration) {
    let details = pg_details(&mut sides.pg).expect("pg details");
    let pg = generate::postgres(&sides.actual, &details, declared)
        .expect("generates")
        .expect("a migration");
    let lite = generate::sqlite(&sides.actual, &sides.objects, declared)
        .expect("generates")
        .expect("a migration");
    assert!(pg.run_in_transaction);
    let (pg_before, lite_before) = (
        snapshot_pg(&mut sides.pg).expect("snapshot"),
        snapshot_sqlite(&mut sides.sqlite).expect("snapshot"),
    );
    for round in ["first", "second"] {
        run_pg(&mut sides.pg, &pg.up_sql, &format!("{round} up.sql"));
        let now = inspect(&mut sides.pg).expect("inspect");
        assert_eq!(differences(declared, &now), [], "after the {round} up.sql");
        run_sqlite(
            &mut sides.sqlite,
            &lite,
            &lite.up_sql,
            &format!("{round} up.sql"),
        );
        assert_eq!(
            structure_pg(&mut sides.pg).expect("structure"),
            structure_sqlite(&mut sides.sqlite).expect("structure"),
            "the dialects agree after the {round} up.sql"
        );
        if round == "second" {
            break;
        }
        run_pg(&mut sides.pg, &pg.down_sql, "down.sql");
        let mut left = differences(&sides.actual, &inspect(&mut sides.pg).expect("inspect"));
        if !pg_keeps_positions {
            assert!(!left.is_empty(), "a dropped column comes back last");
            left.retain(|d| d.kind != DiffKind::ColumnOrder);
        }
        assert_eq!(left, [], "after down.sql");
        let pg_after = snapshot_pg(&mut sides.pg).expect("snapshot");
        if pg_keeps_positions {
            assert_same_catalog(&pg_before, &pg_after, "PostgreSQL after down.sql");
        } else {
            assert_ne!(pg_before, pg_after, "a dropped column comes back last");
            assert_eq!(without_positions(&pg_before), without_positions(&pg_after));
        }
        run_sqlite(&mut sides.sqlite, &lite, &lite.down_sql, "down.sql");
        let lite_after = snapshot_sqlite(&mut sides.sqlite).expect("snapshot");
        assert_same_catalog(&lite_before, &lite_after, "SQLite after down.sql");
    }
    for migration in [&pg, &lite] {
        assert!(migration
            .up_sql
            .starts_with("-- Generated by haven-migrate"));
        assert!(migration
            .up_sql
            .contains("column defaults, CHECK constraints"));
    }
    (pg, lite)
}

fn column(name: &str, sql_type: SqlType, nullable: bool) -> Column {
    Column {
        name: name.into(),
        sql_type,
        nullable,
        max_length: None,
    }
}

fn builtin(name: &str) -> SqlType {
    SqlType::builtin(name)
}

fn custom(rust_name: &str, pg_name: &str) -> SqlType {
    SqlType::Custom {
        rust_name: rust_name.into(),
        pg_name: pg_name.into(),
        schema: None,
    }
}

fn table_mut<'a>(schema: &'a mut Schema, name: &str) -> &'a mut Table {
    schema
        .tables
        .iter_mut()
        .find(|t| t.name == name)
        .expect("the table exists")
}

fn column_mut<'a>(schema: &'a mut Schema, table: &str, name: &str) -> &'a mut Column {
    table_mut(schema, table)
        .columns
        .iter_mut()
        .find(|c| c.name == name)
        .expect("the column exists")
}

fn user_count_pg(conn: &mut PgConnection) -> String {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        who: String,
    }
    diesel::sql_query(
        "SELECT string_agg(display_name || ':' || wallet_address, ',') AS who FROM users",
    )
    .get_result::<Row>(conn)
    .expect("read users")
    .who
}

#[test]
fn a_new_table_with_a_reference_and_an_enum_column() {
    let mut sides = sides();
    let mut declared = sides.actual.clone();
    declared.tables.push(Table {
        name: "wallet_links".into(),
        columns: vec![
            column("id", builtin("Int8"), false),
            column("user_id", builtin("Int8"), false),
            column("chain", builtin("Text"), false),
            column("status", custom("UserStatus", "user_status"), false),
            column("note", builtin("Text"), true),
            column("created_at", builtin("Timestamptz"), false),
        ],
        primary_key: vec!["id".into()],
    });
    declared.joinables.push(Joinable {
        child: "wallet_links".into(),
        parent: "users".into(),
        column: "user_id".into(),
    });
    let declared = declared.sorted();
    let (pg, lite) = prove(&mut sides, &declared, true);
    assert!(
        pg.up_sql
            .contains("REFERENCES users (id) ON DELETE RESTRICT"),
        "{}",
        pg.up_sql
    );
    assert!(pg
        .up_sql
        .contains("CREATE INDEX wallet_links_user_id_idx ON wallet_links (user_id);"));
    assert!(
        pg.up_sql.contains("status user_status NOT NULL"),
        "{}",
        pg.up_sql
    );
    assert!(lite.run_in_transaction, "a new table needs no rebuild");
    assert!(
        lite.up_sql.contains("id INTEGER PRIMARY KEY NOT NULL"),
        "{}",
        lite.up_sql
    );
    assert!(
        lite.up_sql
            .contains("CHECK (status IN ('active', 'suspended', 'closed'))"),
        "{}",
        lite.up_sql
    );
    // The enum's CHECK holds on SQLite.
    sides
        .sqlite
        .batch_execute("INSERT INTO wallet_links (user_id, chain, status, created_at) VALUES (1, 'eth', 'active', '2026-01-01')")
        .expect("a valid row");
    let wrong = sides
        .sqlite
        .batch_execute("INSERT INTO wallet_links (user_id, chain, status, created_at) VALUES (1, 'eth', 'gone', '2026-01-01')");
    assert!(wrong.is_err(), "a label outside the enum is refused");
}

#[test]
fn dropped_tables_come_back_exactly() {
    let mut sides = sides();
    let mut declared = sides.actual.clone();
    declared.tables.retain(|t| {
        t.name != "audit_log" && t.name != "staking_records" && t.name != "tribe_rewards"
    });
    declared
        .joinables
        .retain(|j| j.child != "staking_records" && j.child != "tribe_rewards");
    let (pg, lite) = prove(&mut sides, &declared, true);
    // Children before parents is not at stake here, but each goes, and comes back with
    // its triggers (audit_log's append-only ones).
    for table in ["audit_log", "staking_records", "tribe_rewards"] {
        assert!(pg.up_sql.contains(&format!("DROP TABLE {table};")));
        assert!(lite.up_sql.contains(&format!("DROP TABLE {table};")));
    }
    assert!(
        pg.down_sql.contains("CREATE TRIGGER audit_log_append_only"),
        "{}",
        pg.down_sql
    );
    assert!(lite.run_in_transaction);
}

#[test]
fn new_columns_are_appended() {
    let mut sides = sides();
    let mut declared = sides.actual.clone();
    table_mut(&mut declared, "users")
        .columns
        .push(column("nickname", builtin("Text"), true));
    table_mut(&mut declared, "users").columns.push(column(
        "previous_status",
        custom("UserStatus", "user_status"),
        true,
    ));
    table_mut(&mut declared, "transactions")
        .columns
        .push(column("fee", builtin("Numeric"), false));
    table_mut(&mut declared, "aurora_bookings")
        .columns
        .push(column("tribe_event_id", builtin("Int8"), true));
    declared.joinables.push(Joinable {
        child: "aurora_bookings".into(),
        parent: "tribe_events".into(),
        column: "tribe_event_id".into(),
    });
    let declared = declared.sorted();
    let (pg, lite) = prove(&mut sides, &declared, true);
    assert!(
        pg.up_sql
            .contains("ALTER TABLE transactions ADD COLUMN fee NUMERIC;\n"),
        "{}",
        pg.up_sql
    );
    assert!(pg
        .up_sql
        .contains("ALTER TABLE transactions ALTER COLUMN fee SET NOT NULL;"));
    assert!(pg.up_sql.contains("backfill"), "{}", pg.up_sql);
    assert!(pg
        .up_sql
        .contains("ALTER TABLE users ADD COLUMN previous_status user_status;"));
    assert!(pg
        .up_sql
        .contains("CREATE INDEX aurora_bookings_tribe_event_id_idx"));
    // SQLite cannot add a NOT NULL or referencing column: those tables are rebuilt.
    assert!(!lite.run_in_transaction);
    assert!(
        lite.up_sql
            .contains("ALTER TABLE users ADD COLUMN nickname TEXT;"),
        "{}",
        lite.up_sql
    );
    assert!(
        lite.up_sql.contains("-- Rebuild transactions."),
        "{}",
        lite.up_sql
    );
    assert!(lite.up_sql.contains("PRAGMA foreign_keys = OFF;\nBEGIN;"));
    assert!(lite.up_sql.contains("pragma_foreign_key_check"));
    // The row survived up, down and up again, on both.
    assert_eq!(
        user_count_pg(&mut sides.pg),
        "Ann:0x52908400098527886E0F7030069857D2E4169EE7"
    );
}

#[test]
fn dropped_columns_take_their_constraints_and_come_back() {
    let mut sides = sides();
    let mut declared = sides.actual.clone();
    table_mut(&mut declared, "users")
        .columns
        .retain(|c| c.name != "display_name");
    table_mut(&mut declared, "transactions")
        .columns
        .retain(|c| c.name != "tx_hash");
    let (pg, lite) = prove(&mut sides, &declared, false);
    assert!(pg
        .up_sql
        .contains("ALTER TABLE transactions DROP COLUMN tx_hash;"));
    assert!(
        pg.up_sql.contains("transactions_tx_hash_check"),
        "named in the notes: {}",
        pg.up_sql
    );
    assert!(
        pg.down_sql
            .contains("ADD CONSTRAINT transactions_tx_hash_key UNIQUE (tx_hash)"),
        "{}",
        pg.down_sql
    );
    assert!(
        lite.up_sql
            .contains("ALTER TABLE users DROP COLUMN display_name;"),
        "{}",
        lite.up_sql
    );
    assert!(
        lite.up_sql.contains("-- Rebuild transactions."),
        "tx_hash has a CHECK and UNIQUE"
    );
    assert!(!lite.run_in_transaction);
}

#[test]
fn type_changes_cast_and_never_drop_the_column() {
    let mut sides = sides();
    let mut declared = sides.actual.clone();
    column_mut(&mut declared, "redemption_requests", "fiat_amount").sql_type = builtin("Float8");
    let metric = column_mut(&mut declared, "system_metrics", "metric_name");
    metric.sql_type = builtin("Varchar");
    metric.max_length = Some(100);
    column_mut(&mut declared, "users", "status").sql_type = builtin("Text");
    let (pg, lite) = prove(&mut sides, &declared, true);
    assert!(pg.up_sql.contains(
        "ALTER TABLE redemption_requests ALTER COLUMN fiat_amount TYPE DOUBLE PRECISION USING fiat_amount::DOUBLE PRECISION;"
    ), "{}", pg.up_sql);
    assert!(
        pg.down_sql
            .contains("TYPE numeric(20,4) USING fiat_amount::numeric(20,4)"),
        "{}",
        pg.down_sql
    );
    assert!(pg.up_sql.contains("TYPE VARCHAR(100)"));
    for sql in [&pg.up_sql, &pg.down_sql, &lite.up_sql, &lite.down_sql] {
        assert!(!sql.contains("DROP COLUMN"), "{sql}");
    }
    assert!(
        lite.up_sql.contains("-- Rebuild redemption_requests."),
        "NUMERIC becomes REAL"
    );
    assert!(
        !lite.up_sql.contains("-- Rebuild system_metrics."),
        "TEXT stays TEXT"
    );
    assert!(lite
        .up_sql
        .contains("keeps the CHECK of its former enum values"));
    assert_eq!(
        user_count_pg(&mut sides.pg),
        "Ann:0x52908400098527886E0F7030069857D2E4169EE7"
    );
}

#[test]
fn nullability_changes_both_ways() {
    let mut sides = sides();
    let mut declared = sides.actual.clone();
    column_mut(&mut declared, "users", "display_name").nullable = false;
    column_mut(&mut declared, "aurora_bookings", "property_id").nullable = true;
    let (pg, lite) = prove(&mut sides, &declared, true);
    assert!(pg
        .up_sql
        .contains("ALTER TABLE users ALTER COLUMN display_name SET NOT NULL;"));
    assert!(pg
        .up_sql
        .contains("ALTER TABLE aurora_bookings ALTER COLUMN property_id DROP NOT NULL;"));
    assert!(lite.up_sql.contains("-- Rebuild users."), "{}", lite.up_sql);
    // users keeps its updated_at trigger through the rebuild.
    assert!(
        lite.up_sql.contains("CREATE TRIGGER users_set_updated_at"),
        "{}",
        lite.up_sql
    );
    let mut objects = sqlite_objects(&mut sides.sqlite).expect("objects");
    objects.retain(|o| o.kind == "trigger" && o.table == "users");
    assert_eq!(objects.len(), 1);
}

#[test]
fn no_difference_generates_nothing() {
    let mut sides = sides();
    let details = pg_details(&mut sides.pg).expect("details");
    let declared = schema_rs();
    assert_eq!(
        generate::postgres(&sides.actual, &details, &declared).expect("plans"),
        None
    );
    assert_eq!(
        generate::sqlite(&sides.actual, &sides.objects, &declared).expect("plans"),
        None
    );
}

// ---------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------

/// schema.rs with `edit` made to its text, parsed.
fn edited_schema_rs(edit: impl Fn(String) -> String) -> Schema {
    let source = std::fs::read_to_string(SCHEMA_RS).expect("read schema.rs");
    let edited = edit(source.clone());
    assert_ne!(edited, source, "the edit applies");
    parse_declared(Path::new("src/schema.rs"), &edited).expect("the edited schema.rs parses")
}

fn refusal(sides: &mut Sides, declared: &Schema) -> (Error, Error) {
    let details = pg_details(&mut sides.pg).expect("details");
    let pg = generate::postgres(&sides.actual, &details, declared).expect_err("refused");
    let lite = generate::sqlite(&sides.actual, &sides.objects, declared).expect_err("refused");
    (pg, lite)
}

#[test]
fn a_new_column_before_existing_ones_is_refused() {
    let mut sides = sides();
    let declared = edited_schema_rs(|s| {
        s.replacen(
            "        kyc_status -> KycStatus,\n",
            "        nickname -> Nullable<Text>,\n        kyc_status -> KycStatus,\n",
            1,
        )
    });
    for error in <[Error; 2]>::from(refusal(&mut sides, &declared)) {
        match &error {
            Error::ColumnNotLast {
                table,
                column,
                next,
            } => {
                assert_eq!(
                    (table.as_str(), column.as_str(), next.as_str()),
                    ("users", "nickname", "kyc_status")
                );
            }
            other => panic!("expected ColumnNotLast, got {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("ADD COLUMN can only append"), "{message}");
        assert!(message.contains("move it to the end"), "{message}");
    }
}

#[test]
fn a_new_enum_type_is_refused() {
    let mut sides = sides();
    let declared = edited_schema_rs(|s| {
        s.replacen(
            "pub mod sql_types {\n",
            "pub mod sql_types {\n    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]\n    #[diesel(postgres_type(name = \"mood\"))]\n    pub struct Mood;\n\n",
            1,
        )
        .replacen(
            "        updated_at -> Timestamptz,\n    }\n}\n\ndiesel::joinable!",
            "        updated_at -> Timestamptz,\n        mood -> Nullable<Mood>,\n    }\n}\n\ndiesel::joinable!",
            1,
        )
    });
    for error in <[Error; 2]>::from(refusal(&mut sides, &declared)) {
        match &error {
            Error::NewEnumType {
                table,
                column,
                pg_name,
                ..
            } => {
                assert_eq!(
                    (table.as_str(), column.as_str(), pg_name.as_str()),
                    ("users", "mood", "mood")
                );
            }
            other => panic!("expected NewEnumType, got {other:?}"),
        }
        assert!(
            error.to_string().contains("CREATE TYPE mood AS ENUM"),
            "{error}"
        );
    }
}

#[test]
fn dropping_a_table_that_a_kept_table_references_is_refused() {
    let mut sides = sides();
    let mut declared = sides.actual.clone();
    declared.tables.retain(|t| t.name != "tribe_events");
    declared
        .joinables
        .retain(|j| j.parent != "tribe_events" && j.child != "tribe_events");
    let (pg, _) = refusal(&mut sides, &declared);
    match pg {
        Error::Unsupported { table, what } => {
            assert_eq!(table, "tribe_events");
            assert!(
                what.contains("tribe_rewards.tribe_event_id still references it"),
                "{what}"
            );
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn a_sqlite_rebuild_does_not_commit_over_a_foreign_key_violation() {
    let mut sides = sides();
    let mut declared = sides.actual.clone();
    column_mut(&mut declared, "users", "display_name").nullable = false;
    let lite = generate::sqlite(&sides.actual, &sides.objects, &declared)
        .expect("generates")
        .expect("a migration");
    assert!(!lite.run_in_transaction);
    // A row that breaks a foreign key, slipped in while the check was off.
    sides
        .sqlite
        .batch_execute(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO staking_records (user_id, amount, reward_rate, lock_end)
                 VALUES (999, 1, 0.05, '2030-01-01');
             PRAGMA foreign_keys = ON;",
        )
        .expect("insert an orphan");
    let before = snapshot_sqlite(&mut sides.sqlite).expect("snapshot");
    let error = sides
        .sqlite
        .batch_execute(&lite.up_sql)
        .expect_err("the foreign key check stops the migration");
    assert!(
        error.to_string().contains("CHECK constraint failed"),
        "{error}"
    );
    sides
        .sqlite
        .batch_execute("ROLLBACK")
        .expect("the runner rolls back");
    assert_same_catalog(
        &before,
        &snapshot_sqlite(&mut sides.sqlite).expect("snapshot"),
        "nothing committed",
    );
}
