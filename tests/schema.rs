//! Tests of the HAVEN schema itself: the SQL of `migrations/postgres` and
//! `migrations/sqlite`, run through diesel's own harness against real databases.
//!
//! - every migration's `down.sql` restores exactly the catalog before its `up.sql`;
//! - the two dialects have the same tables, columns, nullability and foreign keys;
//! - the constraints refuse bad rows on both backends;
//! - every model round-trips on PostgreSQL;
//! - (ignored, run by `.ci/run`) the real diesel CLI agrees: `print-schema` prints
//!   `src/schema.rs` to the byte, and `migration run` / `revert --all` work on both sets.
#![cfg(all(feature = "postgres", feature = "sqlite"))]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel::{PgConnection, SqliteConnection};
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use haven_schema::catalog::{
    snapshot_pg, snapshot_sqlite, structure_pg, structure_sqlite, CatalogSnapshot,
};

const PG_MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
const SQLITE_MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");

/// The nine tables of the HAVEN schema at head.
const TABLES: [&str; 9] = support::HAVEN_TABLES;

/// A valid wallet address (mixed case, as EIP-55 writes them).
const WALLET_A: &str = "0x52908400098527886E0F7030069857D2E4169EE7";
const WALLET_B: &str = "0x8617e340b3d01fa5f11f306f4090fd50e238070d";

fn migrations(dir: &str) -> FileBasedMigrations {
    FileBasedMigrations::from_path(dir).expect("the migration directory is readable")
}

fn pg_connect(url: &str) -> PgConnection {
    PgConnection::establish(url).expect("connect to the test PostgreSQL database")
}

fn sqlite_connect(url: &str) -> SqliteConnection {
    let mut conn = SqliteConnection::establish(url).expect("open the test SQLite database");
    diesel::sql_query("PRAGMA foreign_keys = ON")
        .execute(&mut conn)
        .expect("enable SQLite foreign keys");
    conn
}

fn migration_count<DB: diesel::backend::Backend>(source: &FileBasedMigrations) -> usize {
    MigrationSource::<DB>::migrations(source)
        .expect("the migration set loads")
        .len()
}

// ---------------------------------------------------------------------------------------
// up, then down, restores the catalog exactly
// ---------------------------------------------------------------------------------------

fn assert_same_catalog(expected: &CatalogSnapshot, actual: &CatalogSnapshot, what: &str) {
    let diffs = expected.differences(actual);
    assert!(
        diffs.is_empty(),
        "{what}: the catalog differs:\n  {}",
        diffs.join("\n  ")
    );
    assert_eq!(expected, actual, "{what}");
}

/// Applies every migration with an up/down/up cycle, then reverts them all, checking the
/// catalog against the snapshot taken before each `up.sql`.
fn check_reversibility<C>(
    conn: &mut C,
    source: &FileBasedMigrations,
    count: usize,
    snapshot: fn(&mut C) -> QueryResult<CatalogSnapshot>,
) where
    C: MigrationHarness<C::Backend> + Connection,
    FileBasedMigrations: MigrationSource<C::Backend>,
{
    let empty = snapshot(conn).expect("snapshot the empty database");
    assert!(empty.is_empty(), "a fresh database is empty: {empty:?}");
    let mut before_each = Vec::new();
    for step in 0..count {
        let before = snapshot(conn).expect("snapshot before up");
        let version = conn
            .run_next_migration(source.clone())
            .unwrap_or_else(|e| panic!("up.sql of migration #{} failed: {e}", step + 1))
            .to_string();
        let after_up = snapshot(conn).expect("snapshot after up");
        assert_ne!(before, after_up, "{version}: up.sql changed nothing");
        conn.revert_last_migration(source.clone())
            .unwrap_or_else(|e| panic!("down.sql of {version} failed: {e}"));
        let after_down = snapshot(conn).expect("snapshot after down");
        assert_same_catalog(&before, &after_down, &format!("{version}: up then down"));
        conn.run_next_migration(source.clone())
            .unwrap_or_else(|e| panic!("up.sql of {version} failed the second time: {e}"));
        assert_same_catalog(
            &after_up,
            &snapshot(conn).expect("snapshot"),
            &format!("{version}: up again"),
        );
        before_each.push((version, before));
    }
    for (version, before) in before_each.into_iter().rev() {
        conn.revert_last_migration(source.clone())
            .unwrap_or_else(|e| panic!("down.sql of {version} failed: {e}"));
        let after = snapshot(conn).expect("snapshot after down");
        assert_same_catalog(&before, &after, &format!("{version}: reverting from head"));
    }
    let applied = conn
        .applied_migrations()
        .expect("read the applied migrations");
    assert!(applied.is_empty(), "still applied: {applied:?}");
    assert!(snapshot(conn).expect("snapshot").is_empty());
}

#[test]
fn pg_every_migration_reverts_exactly() {
    let db = support::pg_database();
    let mut conn = pg_connect(&db.url);
    let source = migrations(PG_MIGRATIONS);
    let count = migration_count::<diesel::pg::Pg>(&source);
    assert_eq!(count, 4);
    let before = db.pg_dump_schema();
    check_reversibility(&mut conn, &source, count, snapshot_pg);
    // Belt and braces: pg_dump sees no leftover either, bookkeeping table aside.
    db.psql("DROP TABLE __diesel_schema_migrations");
    assert_eq!(before, db.pg_dump_schema());
}

#[test]
fn sqlite_every_migration_reverts_exactly() {
    let db = support::sqlite_database();
    let mut conn = sqlite_connect(&db.url);
    let source = migrations(SQLITE_MIGRATIONS);
    let count = migration_count::<diesel::sqlite::Sqlite>(&source);
    assert_eq!(count, 4);
    check_reversibility(&mut conn, &source, count, snapshot_sqlite);
}

#[test]
fn both_dialects_have_the_same_migration_directories() {
    let names = |dir: &str| support::names_in(Path::new(dir));
    let pg = names(PG_MIGRATIONS);
    assert_eq!(
        pg,
        [
            "2026-01-01-000001_initial_schema",
            "2026-01-01-000002_aurora_integration_tables",
            "2026-01-01-000003_tribe_integration_tables",
            "2026-01-01-000004_audit_log_table",
        ]
    );
    assert_eq!(pg, names(SQLITE_MIGRATIONS));
}

// ---------------------------------------------------------------------------------------
// The two dialects agree
// ---------------------------------------------------------------------------------------

fn pg_at_head(url: &str) -> PgConnection {
    let mut conn = pg_connect(url);
    conn.run_pending_migrations(migrations(PG_MIGRATIONS))
        .expect("run the PostgreSQL migrations");
    conn
}

fn sqlite_at_head(url: &str) -> SqliteConnection {
    let mut conn = sqlite_connect(url);
    conn.run_pending_migrations(migrations(SQLITE_MIGRATIONS))
        .expect("run the SQLite migrations");
    conn
}

#[test]
fn both_dialects_have_the_same_structure_at_head() {
    let pg_db = support::pg_database();
    let sqlite_db = support::sqlite_database();
    let pg = structure_pg(&mut pg_at_head(&pg_db.url)).expect("PostgreSQL structure");
    let sqlite = structure_sqlite(&mut sqlite_at_head(&sqlite_db.url)).expect("SQLite structure");
    assert_eq!(pg.table_names(), TABLES);
    let diffs = pg.differences(&sqlite);
    assert!(
        diffs.is_empty(),
        "PostgreSQL → SQLite:\n  {}",
        diffs.join("\n  ")
    );
    assert_eq!(pg, sqlite);

    // The ON DELETE actions were chosen table by table; all three kinds are in use.
    let actions: std::collections::BTreeSet<_> = pg
        .tables
        .values()
        .flat_map(|t| t.foreign_keys.iter().map(|fk| fk.on_delete.as_sql()))
        .collect();
    assert_eq!(
        actions.into_iter().collect::<Vec<_>>(),
        ["CASCADE", "RESTRICT", "SET NULL"]
    );
}

#[derive(QueryableByName, Debug)]
struct Described {
    #[diesel(sql_type = Text)]
    description: String,
}

#[test]
fn pg_every_foreign_key_has_an_index_and_an_explicit_on_delete() {
    let db = support::pg_database();
    let mut conn = pg_at_head(&db.url);
    let unindexed: Vec<String> = diesel::sql_query(
        "SELECT c.conrelid::regclass::text || ' ' || pg_get_constraintdef(c.oid) AS description
         FROM pg_constraint c
         WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace
           AND NOT EXISTS (
               SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.conrelid AND i.indpred IS NULL
                 AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey)",
    )
    .load::<Described>(&mut conn)
    .expect("query foreign keys")
    .into_iter()
    .map(|d| d.description)
    .collect();
    assert!(
        unindexed.is_empty(),
        "foreign keys without an index: {unindexed:#?}"
    );
    let implicit: Vec<String> = diesel::sql_query(
        "SELECT c.conrelid::regclass::text || ' ' || pg_get_constraintdef(c.oid) AS description
         FROM pg_constraint c
         WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace
           AND pg_get_constraintdef(c.oid) NOT LIKE '%ON DELETE%'",
    )
    .load::<Described>(&mut conn)
    .expect("query foreign keys")
    .into_iter()
    .map(|d| d.description)
    .collect();
    assert!(
        implicit.is_empty(),
        "foreign keys with the implicit NO ACTION: {implicit:#?}"
    );
}

#[derive(QueryableByName)]
struct IndexColumns {
    #[diesel(sql_type = Text)]
    index_name: String,
    #[diesel(sql_type = Text)]
    columns: String,
}

#[derive(QueryableByName)]
struct FkColumns {
    #[diesel(sql_type = Text)]
    columns: String,
}

#[test]
fn sqlite_every_foreign_key_has_an_index() {
    let db = support::sqlite_database();
    let mut conn = sqlite_at_head(&db.url);
    let mut unindexed = Vec::new();
    for table in TABLES {
        let indexes: Vec<IndexColumns> = diesel::sql_query(
            "SELECT l.name AS index_name,
                    (SELECT group_concat(coalesce(name, '(expression)'), ',') FROM
                        (SELECT i.name FROM pragma_index_info(l.name) i ORDER BY i.seqno)) AS columns
             FROM pragma_index_list(?) l WHERE l.partial = 0",
        )
        .bind::<Text, _>(table)
        .load(&mut conn)
        .expect("list indexes");
        let fks: Vec<FkColumns> = diesel::sql_query(
            "SELECT group_concat(\"from\", ',') AS columns FROM
                (SELECT id, \"from\" FROM pragma_foreign_key_list(?) ORDER BY id, seq)
             GROUP BY id",
        )
        .bind::<Text, _>(table)
        .load(&mut conn)
        .expect("list foreign keys");
        for fk in fks {
            let covered = indexes.iter().any(|i| {
                i.columns == fk.columns || i.columns.starts_with(&format!("{},", fk.columns))
            });
            if !covered {
                let names: Vec<&str> = indexes.iter().map(|i| i.index_name.as_str()).collect();
                unindexed.push(format!("{table}({}) among {names:?}", fk.columns));
            }
        }
    }
    assert!(
        unindexed.is_empty(),
        "foreign keys without an index: {unindexed:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// Constraints bite, on both backends
// ---------------------------------------------------------------------------------------

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The little the constraint tests need from a connection, for both backends.
trait Exec {
    fn exec(&mut self, sql: &str) -> QueryResult<usize>;
    fn count(&mut self, table: &str) -> i64;
}

macro_rules! impl_exec {
    ($conn:ty) => {
        impl Exec for $conn {
            fn exec(&mut self, sql: &str) -> QueryResult<usize> {
                diesel::sql_query(sql).execute(self)
            }
            fn count(&mut self, table: &str) -> i64 {
                diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
                    .get_result::<Count>(self)
                    .unwrap_or_else(|e| panic!("count {table}: {e}"))
                    .n
            }
        }
    };
}
impl_exec!(PgConnection);
impl_exec!(SqliteConnection);

fn must_succeed(conn: &mut dyn Exec, sql: &str) {
    if let Err(e) = conn.exec(sql) {
        panic!("a valid statement was refused: {e}\n{sql}");
    }
}

/// Runs `sql`, which must fail with an error mentioning `reason`, and leave `table`'s row
/// count as it was.
fn must_be_refused(conn: &mut dyn Exec, table: &str, sql: &str, reason: &str) {
    let before = conn.count(table);
    match conn.exec(sql) {
        Ok(n) => panic!("accepted ({n} rows), expected a refusal naming {reason}:\n{sql}"),
        Err(e) => assert!(
            e.to_string()
                .to_lowercase()
                .contains(&reason.to_lowercase()),
            "refused, but not for {reason}: {e}\n{sql}"
        ),
    }
    assert_eq!(
        conn.count(table),
        before,
        "{table} changed although refused:\n{sql}"
    );
}

/// The same SQL runs on both dialects: only the constraint and trigger mechanics differ.
fn check_constraints(conn: &mut dyn Exec) {
    check_wallets(conn);
    check_amounts(conn);
    check_date_ranges(conn);
    check_audit_log(conn);
}

/// Wallet addresses: ^0x[0-9a-fA-F]{40}$, unique whatever the case. Leaves users 1 and 2.
fn check_wallets(conn: &mut dyn Exec) {
    must_succeed(
        conn,
        &format!("INSERT INTO users (wallet_address) VALUES ('{WALLET_A}')"),
    );
    must_succeed(
        conn,
        &format!("INSERT INTO users (wallet_address) VALUES ('{WALLET_B}')"),
    );

    let too_short = "0x52908400098527886E0F7030069857D2E4169EE";
    let not_hex = "0x52908400098527886E0F7030069857D2E4169EEG";
    let capital_x = "0X52908400098527886E0F7030069857D2E4169EE7";
    let too_long = "0x52908400098527886E0F7030069857D2E4169EE70";
    for bad in [too_short, not_hex, capital_x, too_long, "", "wallet"] {
        let sql = format!("INSERT INTO users (wallet_address) VALUES ('{bad}')");
        must_be_refused(conn, "users", &sql, "users_wallet_address_check");
    }
    let same_wallet_lowercase = WALLET_A.to_lowercase();
    let sql = format!("INSERT INTO users (wallet_address) VALUES ('{same_wallet_lowercase}')");
    must_be_refused(conn, "users", &sql, "users_wallet_address_key");
}

fn check_amounts(conn: &mut dyn Exec) {
    must_succeed(
        conn,
        "INSERT INTO transactions (kind, amount, to_user_id) VALUES ('mint', 100.5, 1)",
    );
    for amount in ["-5", "0", "-0.000000000000000001"] {
        let sql = format!(
            "INSERT INTO transactions (kind, amount, to_user_id) VALUES ('mint', {amount}, 1)"
        );
        must_be_refused(conn, "transactions", &sql, "transactions_amount_check");
    }
    must_be_refused(
        conn,
        "transactions",
        "INSERT INTO transactions (kind, amount, from_user_id, to_user_id) VALUES ('transfer', 1, 1, 1)",
        "transactions_parties_check",
    );
    must_be_refused(
        conn,
        "redemption_requests",
        "INSERT INTO redemption_requests (user_id, token_amount, fiat_currency, fiat_amount)
         VALUES (1, -1, 'EUR', 10)",
        "redemption_requests_token_amount_check",
    );
    must_be_refused(
        conn,
        "staking_records",
        "INSERT INTO staking_records (user_id, amount, reward_rate, lock_start, lock_end)
         VALUES (1, -10, 0.05, '2026-01-01 00:00:00+00:00', '2027-01-01 00:00:00+00:00')",
        "staking_records_amount_check",
    );
    must_be_refused(
        conn,
        "tribe_rewards",
        "INSERT INTO tribe_rewards (user_id, contribution_kind, amount) VALUES (1, 'content', -1)",
        "tribe_rewards_amount_check",
    );
}

fn check_date_ranges(conn: &mut dyn Exec) {
    let booking = |reference: &str, check_in: &str, check_out: &str| {
        format!(
            "INSERT INTO aurora_bookings (user_id, booking_reference, property_id, check_in, check_out,
                                          booking_amount, currency)
             VALUES (1, '{reference}', 'P-1', '{check_in}', '{check_out}', 420.00, 'EUR')"
        )
    };
    must_succeed(conn, &booking("B-ok", "2026-03-01", "2026-03-04"));
    must_be_refused(
        conn,
        "aurora_bookings",
        &booking("B-backwards", "2026-03-04", "2026-03-01"),
        "aurora_bookings_stay_check",
    );
    must_be_refused(
        conn,
        "aurora_bookings",
        &booking("B-zero-nights", "2026-03-04", "2026-03-04"),
        "aurora_bookings_stay_check",
    );
    must_be_refused(
        conn,
        "staking_records",
        "INSERT INTO staking_records (user_id, amount, reward_rate, lock_start, lock_end)
         VALUES (1, 10, 0.05, '2027-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00')",
        "staking_records_lock_check",
    );
}

/// The audit log takes INSERTs, and refuses UPDATE and DELETE.
fn check_audit_log(conn: &mut dyn Exec) {
    must_succeed(
        conn,
        "INSERT INTO audit_log (actor_user_id, actor, action, entity_type, entity_id, new_values)
         VALUES (1, 'user:1', 'user.create', 'user', '1', '{\"wallet_address\": \"0x\"}')",
    );
    must_be_refused(
        conn,
        "audit_log",
        "UPDATE audit_log SET actor = 'someone else'",
        "append-only",
    );
    must_be_refused(conn, "audit_log", "DELETE FROM audit_log", "append-only");
    must_be_refused(
        conn,
        "audit_log",
        "INSERT INTO audit_log (actor, action, entity_type, new_values) VALUES ('system', 'x', 'y', '[1, 2]')",
        "audit_log_new_values_check",
    );
    assert_eq!(conn.count("audit_log"), 1);
}

#[test]
fn pg_constraints_refuse_bad_rows() {
    let db = support::pg_database();
    let mut conn = pg_at_head(&db.url);
    check_constraints(&mut conn);
    // PostgreSQL also refuses TRUNCATE.
    must_be_refused(&mut conn, "audit_log", "TRUNCATE audit_log", "append-only");
    // The actor column is unchanged after the refused UPDATE.
    assert_eq!(db.psql("SELECT actor FROM audit_log").trim(), "user:1");
}

#[test]
fn sqlite_constraints_refuse_bad_rows() {
    let db = support::sqlite_database();
    let mut conn = sqlite_at_head(&db.url);
    check_constraints(&mut conn);
    // Text in an amount column would compare greater than any number in SQLite.
    must_be_refused(
        &mut conn,
        "transactions",
        "INSERT INTO transactions (kind, amount, to_user_id) VALUES ('mint', 'lots', 1)",
        "transactions_amount_check",
    );
    must_be_refused(
        &mut conn,
        "transactions",
        "INSERT INTO transactions (kind, amount, to_user_id) VALUES ('minted', 1, 1)",
        "transactions_kind_check",
    );
}

#[test]
fn foreign_keys_act_as_declared_on_both_backends() {
    let pg_db = support::pg_database();
    let sqlite_db = support::sqlite_database();
    let mut pg = pg_at_head(&pg_db.url);
    let mut sqlite = sqlite_at_head(&sqlite_db.url);
    for conn in [&mut pg as &mut dyn Exec, &mut sqlite] {
        must_succeed(
            conn,
            &format!("INSERT INTO users (wallet_address) VALUES ('{WALLET_A}')"),
        );
        must_succeed(
            conn,
            &format!("INSERT INTO users (wallet_address) VALUES ('{WALLET_B}')"),
        );
        must_succeed(
            conn,
            "INSERT INTO tribe_events (user_id, event_id, event_name, attended_at)
             VALUES (2, 'ev-1', 'Meetup', '2026-03-01 18:00:00+00:00')",
        );
        must_succeed(
            conn,
            "INSERT INTO tribe_rewards (user_id, contribution_kind, amount, tribe_event_id)
             VALUES (1, 'event_hosting', 5, 1)",
        );
        must_succeed(
            conn,
            "INSERT INTO transactions (kind, amount, to_user_id) VALUES ('mint', 5, 1)",
        );
        // RESTRICT: a user with transactions stays.
        must_be_refused(
            conn,
            "users",
            "DELETE FROM users WHERE id = 1",
            "FOREIGN KEY",
        );
        // CASCADE and SET NULL: user 2's attendance goes, the reward stays, unlinked.
        must_succeed(conn, "DELETE FROM users WHERE id = 2");
        assert_eq!(conn.count("tribe_events"), 0);
        assert_eq!(conn.count("tribe_rewards WHERE tribe_event_id IS NULL"), 1);
    }
}

// ---------------------------------------------------------------------------------------
// The models round-trip on PostgreSQL
// ---------------------------------------------------------------------------------------

fn at(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0)
        .single()
        .expect("a valid UTC time")
}

fn dec(s: &str) -> BigDecimal {
    BigDecimal::from_str(s).expect("a decimal literal")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

#[test]
fn pg_every_model_round_trips() {
    let db = support::pg_database();
    let conn = &mut pg_at_head(&db.url);
    let (alice, bob) = round_trip_users(conn);
    let (transfer_id, burn_id) = round_trip_transactions(conn, alice, bob);
    round_trip_redemption(conn, alice, burn_id);
    round_trip_metric(conn);
    round_trip_booking(conn, alice, transfer_id);
    round_trip_tribe(conn, bob);
    round_trip_staking(conn, bob);
    round_trip_audit(conn, alice);
}

/// Inserts `$new` into `$table`, loads the row back by its id, asserts that both are
/// equal (every column, enums and exact amounts included), and returns the row.
macro_rules! round_trip {
    ($conn:expr, $table:path, $model:ty, $new:expr, $what:literal) => {{
        let inserted: $model = diesel::insert_into($table)
            .values($new)
            .returning(<$model>::as_returning())
            .get_result($conn)
            .expect($what);
        let loaded: $model = $table
            .find(inserted.id)
            .select(<$model>::as_select())
            .first($conn)
            .expect("load it back");
        assert_eq!(loaded, inserted);
        loaded
    }};
}

/// Inserts Alice (every field set) and Bob (defaults); returns their ids.
fn round_trip_users(conn: &mut PgConnection) -> (i64, i64) {
    use haven_schema::models::*;
    use haven_schema::schema::users;

    let new_user = NewUser {
        wallet_address: WALLET_A,
        email: Some("alice@example.com"),
        display_name: Some("Alice"),
        kyc_status: Some(KycStatus::Verified),
        status: Some(UserStatus::Suspended),
    };
    let alice: User = round_trip!(conn, users::table, User, &new_user, "insert a user");
    let loaded = &alice;
    assert_eq!(
        (
            loaded.wallet_address.as_str(),
            loaded.email.as_deref(),
            loaded.display_name.as_deref()
        ),
        (WALLET_A, Some("alice@example.com"), Some("Alice"))
    );
    assert_eq!(
        (loaded.kyc_status, loaded.status),
        (KycStatus::Verified, UserStatus::Suspended)
    );
    let bob: User = diesel::insert_into(users::table)
        .values(NewUser::new(WALLET_B))
        .returning(User::as_returning())
        .get_result(conn)
        .expect("insert a user with defaults");
    assert_eq!(
        (bob.kyc_status, bob.status, bob.email),
        (KycStatus::NotStarted, UserStatus::Active, None)
    );
    (alice.id, bob.id)
}

/// Inserts a transfer from `alice` to `bob` and a burn; returns their ids.
fn round_trip_transactions(conn: &mut PgConnection, alice: i64, bob: i64) -> (i64, i64) {
    use haven_schema::models::*;
    use haven_schema::schema::transactions;

    let exact = dec("12345.678901234567890123");
    let tx: Transaction = round_trip!(
        conn,
        transactions::table,
        Transaction,
        NewTransaction {
            kind: TransactionKind::Transfer,
            status: Some(TransactionStatus::Confirmed),
            amount: exact.clone(),
            from_user_id: Some(alice),
            to_user_id: Some(bob),
            tx_hash: Some("0x88df016429689c079f3b2f6ad39fa052532c56795b733da78a91ebe6a713944b"),
            block_number: Some(19_000_000),
            memo: Some("rent share"),
            confirmed_at: Some(at(2026, 3, 1, 12)),
        },
        "insert a transaction"
    );
    let loaded = &tx;
    assert_eq!(loaded.amount, exact);
    assert_eq!(
        loaded.amount.to_plain_string(),
        "12345.678901234567890123",
        "no digit lost"
    );
    assert_eq!(
        (loaded.kind, loaded.status),
        (TransactionKind::Transfer, TransactionStatus::Confirmed)
    );
    assert_eq!(
        (loaded.from_user_id, loaded.to_user_id),
        (Some(alice), Some(bob))
    );
    assert_eq!(loaded.confirmed_at, Some(at(2026, 3, 1, 12)));
    assert_eq!(loaded.block_number, Some(19_000_000));

    let burn: Transaction = diesel::insert_into(transactions::table)
        .values(NewTransaction {
            kind: TransactionKind::Burn,
            status: None,
            amount: dec("0.000000000000000001"),
            from_user_id: Some(alice),
            to_user_id: None,
            tx_hash: None,
            block_number: None,
            memo: None,
            confirmed_at: None,
        })
        .returning(Transaction::as_returning())
        .get_result(conn)
        .expect("insert a burn of the smallest unit");
    assert_eq!(
        (burn.status, burn.amount.to_plain_string().as_str()),
        (TransactionStatus::Pending, "0.000000000000000001")
    );
    (tx.id, burn.id)
}

fn round_trip_redemption(conn: &mut PgConnection, user_id: i64, burn_id: i64) {
    use haven_schema::models::*;
    use haven_schema::schema::redemption_requests::dsl as rr;

    let request: RedemptionRequest = diesel::insert_into(rr::redemption_requests)
        .values(NewRedemptionRequest {
            user_id,
            token_amount: dec("250.000000000000000001"),
            fiat_currency: "EUR",
            fiat_amount: dec("249.9950"),
            burn_transaction_id: Some(burn_id),
        })
        .returning(RedemptionRequest::as_returning())
        .get_result(conn)
        .expect("insert a redemption request");
    assert_eq!(request.status, RedemptionStatus::Requested);
    assert_eq!(
        request.token_amount.to_plain_string(),
        "250.000000000000000001"
    );
    assert_eq!(request.fiat_amount, dec("249.995"));

    // The later steps are updates: the enum binds in SET and WHERE too.
    let approved_at = request.requested_at + chrono::Duration::hours(1);
    let paid_out_at = approved_at + chrono::Duration::hours(1);
    let paid: RedemptionRequest = diesel::update(rr::redemption_requests.find(request.id))
        .filter(rr::status.eq(RedemptionStatus::Requested))
        .set((
            rr::status.eq(RedemptionStatus::PaidOut),
            rr::approved_at.eq(Some(approved_at)),
            rr::paid_out_at.eq(Some(paid_out_at)),
            rr::payout_reference.eq(Some("SEPA-2026-0001")),
        ))
        .returning(RedemptionRequest::as_returning())
        .get_result(conn)
        .expect("pay out the request");
    let loaded: RedemptionRequest = rr::redemption_requests
        .find(request.id)
        .select(RedemptionRequest::as_select())
        .first(conn)
        .expect("load");
    assert_eq!(loaded, paid);
    assert_eq!(loaded.status, RedemptionStatus::PaidOut);
    assert_eq!(
        (loaded.approved_at, loaded.paid_out_at),
        (Some(approved_at), Some(paid_out_at))
    );
    assert!(
        loaded.updated_at >= request.updated_at,
        "the trigger keeps updated_at"
    );
}

fn round_trip_metric(conn: &mut PgConnection) {
    use haven_schema::models::*;
    use haven_schema::schema::system_metrics;

    let metric: SystemMetric = round_trip!(
        conn,
        system_metrics::table,
        SystemMetric,
        NewSystemMetric {
            metric_name: "total_supply",
            value: dec("1000000000.123456789012345678901234567890"),
            recorded_at: Some(at(2026, 3, 2, 0)),
        },
        "insert a metric"
    );
    let loaded = &metric;
    assert_eq!(
        loaded.value.to_plain_string(),
        "1000000000.123456789012345678901234567890"
    );
    assert_eq!(
        (loaded.metric_name.as_str(), loaded.recorded_at),
        ("total_supply", at(2026, 3, 2, 0))
    );
}

fn round_trip_booking(conn: &mut PgConnection, user_id: i64, tx_id: i64) {
    use haven_schema::models::*;
    use haven_schema::schema::aurora_bookings;

    let booking: AuroraBooking = round_trip!(
        conn,
        aurora_bookings::table,
        AuroraBooking,
        NewAuroraBooking {
            user_id,
            booking_reference: "AUR-000123",
            property_id: "haven-lisbon-01",
            property_name: Some("Haven Lisbon"),
            check_in: date(2026, 4, 10),
            check_out: date(2026, 4, 14),
            booking_amount: dec("812.5000"),
            currency: "EUR",
            reward_earned: Some(dec("40.625")),
            reward_transaction_id: Some(tx_id),
            status: Some(AuroraBookingStatus::Completed),
        },
        "insert a booking"
    );
    let loaded = &booking;
    assert_eq!(
        (loaded.check_in, loaded.check_out),
        (date(2026, 4, 10), date(2026, 4, 14))
    );
    assert_eq!(
        (loaded.booking_amount.clone(), loaded.reward_earned.clone()),
        (dec("812.5"), dec("40.625"))
    );
    assert_eq!(loaded.status, AuroraBookingStatus::Completed);
    assert_eq!(loaded.reward_transaction_id, Some(tx_id));
}

fn round_trip_tribe(conn: &mut PgConnection, user_id: i64) {
    use haven_schema::models::*;
    use haven_schema::schema::{tribe_events, tribe_rewards};

    let event: TribeEvent = round_trip!(
        conn,
        tribe_events::table,
        TribeEvent,
        NewTribeEvent {
            user_id,
            event_id: "tribe-ev-42",
            event_name: "Founders' dinner",
            attended_at: at(2026, 5, 1, 19),
            reward_amount: Some(dec("7.5")),
            reward_transaction_id: None,
        },
        "insert an attendance"
    );
    let loaded = &event;
    assert_eq!(
        (loaded.event_name.as_str(), loaded.attended_at),
        ("Founders' dinner", at(2026, 5, 1, 19))
    );
    assert_eq!(loaded.reward_amount, dec("7.5"));

    let reward: TribeReward = round_trip!(
        conn,
        tribe_rewards::table,
        TribeReward,
        NewTribeReward {
            user_id,
            contribution_kind: TribeContributionKind::EventHosting,
            amount: dec("15.000000000000000015"),
            description: Some("hosted the dinner"),
            tribe_event_id: Some(event.id),
            reward_transaction_id: None,
            awarded_at: Some(at(2026, 5, 2, 9)),
        },
        "insert a reward"
    );
    let loaded = &reward;
    assert_eq!(
        loaded.contribution_kind,
        TribeContributionKind::EventHosting
    );
    assert_eq!(loaded.amount.to_plain_string(), "15.000000000000000015");
    assert_eq!(loaded.tribe_event_id, Some(event.id));
}

fn round_trip_staking(conn: &mut PgConnection, user_id: i64) {
    use haven_schema::models::*;
    use haven_schema::schema::staking_records;

    let stake: StakingRecord = round_trip!(
        conn,
        staking_records::table,
        StakingRecord,
        NewStakingRecord {
            user_id,
            amount: dec("1000.000000000000000001"),
            reward_rate: dec("0.0525"),
            accrued_rewards: Some(dec("3.5")),
            lock_start: Some(at(2026, 1, 1, 0)),
            lock_end: at(2027, 1, 1, 0),
            status: Some(StakingStatus::Withdrawn),
            withdrawn_at: Some(at(2027, 1, 2, 0)),
        },
        "insert a stake"
    );
    let loaded = &stake;
    assert_eq!(loaded.amount.to_plain_string(), "1000.000000000000000001");
    assert_eq!(loaded.reward_rate, dec("0.0525"));
    assert_eq!(
        (loaded.lock_start, loaded.lock_end),
        (at(2026, 1, 1, 0), at(2027, 1, 1, 0))
    );
    assert_eq!(
        (loaded.status, loaded.withdrawn_at),
        (StakingStatus::Withdrawn, Some(at(2027, 1, 2, 0)))
    );
}

fn round_trip_audit(conn: &mut PgConnection, user_id: i64) {
    use haven_schema::models::*;
    use haven_schema::schema::audit_log;

    let old_values = JsonValue(serde_json::json!({ "status": "requested" }));
    let new_values = JsonValue(serde_json::json!({
        "status": "paid_out",
        "payout": { "reference": "SEPA-2026-0001", "amount": "249.9950" },
        "notes": ["ünïcödé", null, 1.5]
    }));
    let entry: AuditLogEntry = round_trip!(
        conn,
        audit_log::table,
        AuditLogEntry,
        NewAuditLogEntry {
            actor_user_id: Some(user_id),
            actor: "admin:alice",
            action: "redemption.pay_out",
            entity_type: "redemption_request",
            entity_id: Some("1"),
            old_values: Some(old_values.clone()),
            new_values: Some(new_values.clone()),
            ip_address: Some("203.0.113.7"),
        },
        "insert an audit entry"
    );
    let loaded = &entry;
    assert_eq!(
        (&loaded.old_values, &loaded.new_values),
        (&Some(old_values), &Some(new_values))
    );
    assert_eq!(
        (loaded.actor_user_id, loaded.ip_address.as_deref()),
        (Some(user_id), Some("203.0.113.7"))
    );
    let refused = diesel::update(audit_log::table.find(entry.id))
        .set(audit_log::actor.eq("someone else"))
        .execute(conn);
    assert!(
        refused.is_err(),
        "the audit log refuses updates through Diesel too"
    );
}

/// Every Rust variant binds to, and reads back from, its PostgreSQL enum label, and every
/// label has a variant.
#[test]
fn pg_every_enum_variant_round_trips() {
    use haven_schema::models::*;
    use haven_schema::schema::sql_types;

    let db = support::pg_database();
    let conn = &mut pg_at_head(&db.url);
    macro_rules! check {
        ($rust:ident, $sql:ident, $pg:literal, [$($variant:ident),+ $(,)?]) => {{
            let variants = [$($rust::$variant),+];
            for variant in variants {
                let back: $rust = diesel::select(variant.into_sql::<sql_types::$sql>())
                    .get_result(conn)
                    .unwrap_or_else(|e| panic!("{variant:?} as {}: {e}", $pg));
                assert_eq!(back, variant);
            }
            let labels = db.psql(concat!("SELECT count(*) FROM pg_enum WHERE enumtypid = '", $pg, "'::regtype"));
            assert_eq!(labels.trim(), variants.len().to_string(), "labels of {}", $pg);
        }};
    }
    check!(
        UserStatus,
        UserStatus,
        "user_status",
        [Active, Suspended, Closed]
    );
    check!(
        KycStatus,
        KycStatus,
        "kyc_status",
        [NotStarted, Pending, Verified, Rejected]
    );
    check!(
        TransactionKind,
        TransactionKind,
        "transaction_kind",
        [Mint, Burn, Transfer]
    );
    check!(
        TransactionStatus,
        TransactionStatus,
        "transaction_status",
        [Pending, Confirmed, Failed]
    );
    check!(
        RedemptionStatus,
        RedemptionStatus,
        "redemption_status",
        [Requested, Approved, PaidOut, Rejected, Cancelled]
    );
    check!(
        AuroraBookingStatus,
        AuroraBookingStatus,
        "aurora_booking_status",
        [Pending, Confirmed, Completed, Cancelled]
    );
    check!(
        TribeContributionKind,
        TribeContributionKind,
        "tribe_contribution_kind",
        [Content, Referral, EventHosting, Moderation, Feedback, Other]
    );
    check!(
        StakingStatus,
        StakingStatus,
        "staking_status",
        [Active, Matured, Withdrawn]
    );
}

// ---------------------------------------------------------------------------------------
// The real diesel CLI (ignored: .ci/run installs it and runs these)
// ---------------------------------------------------------------------------------------

fn diesel_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("DIESEL") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("diesel"))
        .find(|p| p.is_file());
    let in_cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .map(|home| home.join("bin/diesel"))
        .filter(|p| p.is_file());
    on_path.or(in_cargo_home).expect(
        "no diesel CLI: cargo install diesel_cli --no-default-features --features postgres,sqlite --locked",
    )
}

/// Runs the diesel CLI from `dir` with `config` as its diesel.toml; panics unless it
/// succeeds. Returns stdout.
fn run_diesel(dir: &Path, config: &Path, args: &[&str]) -> String {
    let output = Command::new(diesel_cli())
        .args(args)
        .current_dir(dir)
        .env("DIESEL_CONFIG_FILE", config)
        .env_remove("DATABASE_URL")
        .env_remove("MIGRATION_DIRECTORY")
        .output()
        .expect("run the diesel CLI");
    assert!(
        output.status.success(),
        "diesel {args:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("diesel prints UTF-8")
}

fn repo_schema_rs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/schema.rs")
}

#[test]
#[ignore = "needs the diesel CLI; run by .ci/run"]
fn diesel_print_schema_matches_src_schema_rs() {
    let db = support::pg_database();
    drop(pg_at_head(&db.url));
    // A copy of the repository's diesel.toml in a scratch dir: the same [print_schema]
    // settings, and a relative `file` that can only ever point into the scratch dir.
    let scratch = tempfile::tempdir().expect("scratch dir");
    let config = scratch.path().join("diesel.toml");
    let repo_config = Path::new(env!("CARGO_MANIFEST_DIR")).join("diesel.toml");
    std::fs::copy(&repo_config, &config).expect("copy diesel.toml");
    let printed = run_diesel(
        scratch.path(),
        &config,
        &["print-schema", "--database-url", &db.url],
    );
    let committed = include_str!("../src/schema.rs");
    assert!(
        printed == committed,
        "src/schema.rs is not what `diesel print-schema` prints; run scripts/regenerate-schema.sh\n\
         --- src/schema.rs\n{committed}\n--- diesel print-schema\n{printed}"
    );
}

#[test]
#[ignore = "needs the diesel CLI; run by .ci/run"]
fn diesel_cli_runs_and_reverts_both_migration_sets() {
    let schema_before = std::fs::read(repo_schema_rs()).expect("read src/schema.rs");
    let scratch = tempfile::tempdir().expect("scratch dir");
    // No [print_schema]: `migration run` and `revert` would otherwise rewrite a schema file.
    let config = scratch.path().join("diesel.toml");
    std::fs::write(&config, "").expect("write an empty diesel.toml");
    let cli = |url: &str, dir: &str, args: &[&str]| {
        let mut all = vec!["migration"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--migration-dir", dir, "--database-url", url]);
        run_diesel(scratch.path(), &config, &all)
    };

    let pg_db = support::pg_database();
    cli(&pg_db.url, PG_MIGRATIONS, &["run"]);
    let mut pg = pg_connect(&pg_db.url);
    assert_eq!(snapshot_pg(&mut pg).expect("snapshot").tables(), TABLES);
    assert_eq!(pg.count("__diesel_schema_migrations"), 4);
    cli(&pg_db.url, PG_MIGRATIONS, &["revert", "--all"]);
    assert_eq!(pg.count("__diesel_schema_migrations"), 0);
    assert!(snapshot_pg(&mut pg).expect("snapshot").is_empty());

    let sqlite_db = support::sqlite_database();
    cli(&sqlite_db.url, SQLITE_MIGRATIONS, &["run"]);
    let mut sqlite = sqlite_connect(&sqlite_db.url);
    assert_eq!(
        snapshot_sqlite(&mut sqlite).expect("snapshot").tables(),
        TABLES
    );
    assert_eq!(sqlite.count("__diesel_schema_migrations"), 4);
    cli(&sqlite_db.url, SQLITE_MIGRATIONS, &["revert", "--all"]);
    assert_eq!(sqlite.count("__diesel_schema_migrations"), 0);
    assert!(snapshot_sqlite(&mut sqlite).expect("snapshot").is_empty());

    let files: Vec<String> = std::fs::read_dir(scratch.path())
        .expect("list the scratch dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["diesel.toml"], "the diesel CLI wrote files");
    assert_eq!(
        std::fs::read(repo_schema_rs()).expect("read src/schema.rs"),
        schema_before,
        "the diesel CLI rewrote src/schema.rs"
    );
}
