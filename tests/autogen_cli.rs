//! `haven-migrate check --schema` and `revision -m MSG --autogenerate` (issue 14), driving
//! the built binary in a temp project (`diesel.toml`, `src/schema.rs`, `migrations/postgres`
//! and `migrations/sqlite`, copies of the repository's), with `schema.rs` edited per test.
//!
//! Every generated migration is then applied with `upgrade head` to a fresh PostgreSQL
//! database and a fresh SQLite file: `check --schema` agrees, both dialects have the same
//! tables, columns, nullability and keys, and `downgrade -1` leaves the catalog (pg_dump,
//! `sqlite3 .schema`) as it was. The refusals (exit 2) and a failed proof (exit 4) write
//! nothing. Every run of either command is checked afterwards: no scratch database of its
//! pid is left on the server, no scratch file in its TMPDIR, and the database of
//! `--database-url` is unchanged.
#![cfg(all(feature = "cli", feature = "sqlite"))]

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, SqliteConnection};
use haven_schema::catalog::{structure_pg, structure_sqlite};
use serde_json::{json, Value};
use support::{
    haven, haven_and, names_in, pg_recorded, pg_rows, run, run_std, send_signal, sqlite_recorded,
    sqlite_rows, subdirs, wait_until, Background, PgTestDb, Project, Run, SqliteTestDb,
};

/// Where the scratch SQLite files of a run go (its TMPDIR), inside the project.
const SCRATCH_TMP: &str = "scratch-tmp";

/// The last HAVEN migration, which the generated one follows.
const HAVEN_HEAD: &str = "20260101000004";

/// A project, and the databases the commands are pointed at: `--database-url` is the
/// PostgreSQL database `server`, or with `sqlite` set, that SQLite file and
/// `--scratch-url` the PostgreSQL one. Neither may be written by `check --schema` or
/// `revision --autogenerate`.
struct Case {
    project: Project,
    server: PgTestDb,
    server_dump: String,
    sqlite: Option<SqliteTestDb>,
}

impl Case {
    /// The target is a fresh PostgreSQL database.
    fn postgres() -> Case {
        let project = Project::haven();
        fs::create_dir(project.root().join(SCRATCH_TMP)).expect("mkdir the scratch TMPDIR");
        let server = support::pg_database();
        let server_dump = server.pg_dump_schema();
        Case {
            project,
            server,
            server_dump,
            sqlite: None,
        }
    }

    /// The target is a SQLite file (not created), the scratch server `--scratch-url`.
    fn sqlite() -> Case {
        Case {
            sqlite: Some(support::sqlite_database()),
            ..Case::postgres()
        }
    }

    fn edit(&self, from: &str, to: &str) {
        self.project.edit_schema(from, to);
    }

    /// `haven-migrate --database-url TARGET ARGS [--scratch-url SERVER]` in the project.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = haven(self.project.root());
        cmd.env("TMPDIR", self.project.root().join(SCRATCH_TMP));
        match &self.sqlite {
            Some(lite) => {
                cmd.arg("--database-url").arg(&lite.url).args(args);
                cmd.arg("--scratch-url").arg(&self.server.url);
            }
            None => {
                cmd.arg("--database-url").arg(&self.server.url).args(args);
            }
        }
        cmd
    }

    /// Runs the command to the end, then checks that it cleaned up after itself and wrote
    /// nothing to the databases it was given.
    #[track_caller]
    fn hm(&self, args: &[&str]) -> Run {
        let child = Background::spawn(&mut self.cmd(args));
        let pid = child.pid();
        let run = child.wait();
        self.assert_clean(pid, &run);
        run
    }

    #[track_caller]
    fn assert_clean(&self, pid: u32, run: &Run) {
        assert_eq!(
            scratch_databases(&self.server, pid),
            Vec::<String>::new(),
            "a scratch database was left behind\n{run:?}"
        );
        let tmp = self.project.root().join(SCRATCH_TMP);
        assert_eq!(
            names_in(&tmp),
            Vec::<String>::new(),
            "scratch files were left behind"
        );
        assert!(
            self.server.pg_dump_schema() == self.server_dump,
            "the PostgreSQL database of --database-url/--scratch-url was written\n{run:?}"
        );
        if let Some(lite) = &self.sqlite {
            assert!(
                !lite.path.exists(),
                "the SQLite target was created\n{run:?}"
            );
        }
    }

    /// The project's files (the scratch TMPDIR aside), to show that nothing was written.
    fn files(&self) -> Vec<(String, Vec<u8>)> {
        self.project.files(SCRATCH_TMP)
    }

    /// Runs `args`, which must fail with `code`, and checks that no file changed.
    #[track_caller]
    fn refused(&self, args: &[&str], code: i32) -> Run {
        let before = self.files();
        let run = self.hm(args);
        run.code(code);
        assert!(self.files() == before, "a refused command wrote files");
        run
    }
}

/// The PostgreSQL scratch databases of the run with this pid still on the server.
fn scratch_databases(db: &PgTestDb, pid: u32) -> Vec<String> {
    pg_rows(
        db,
        &format!(
            "SELECT datname FROM pg_database WHERE datname LIKE 'haven\\_scratch\\_{pid}\\_%'"
        ),
    )
}

fn repo_schema_rs() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/schema.rs"))
        .expect("read src/schema.rs")
}

/// The whole `diesel::table! { ... }` block of `table` in the repository's schema.rs, with
/// the blank line after it.
fn table_block(table: &str) -> String {
    let text = repo_schema_rs();
    let decl = text
        .find(&format!("\n    {table} ("))
        .unwrap_or_else(|| panic!("schema.rs declares {table}"));
    let start = text[..decl]
        .rfind("diesel::table! {")
        .expect("a table! before it");
    let end = decl + text[decl..].find("\n}\n").expect("the block's end") + "\n}\n\n".len();
    text[start..end].to_owned()
}

/// What `users` ends with in schema.rs: to append a column.
const USERS_END: &str =
    "        updated_at -> Timestamptz,\n    }\n}\n\ndiesel::joinable!(aurora_bookings";
/// Where new `table!` blocks go (after `users`, the last one).
const TABLES_END: &str = "diesel::joinable!(aurora_bookings -> transactions";

fn append_to_users(case: &Case, column: &str) {
    case.edit(
        USERS_END,
        &format!(
            "        updated_at -> Timestamptz,\n        {column},\n    }}\n}}\n\n\
             diesel::joinable!(aurora_bookings"
        ),
    );
}

// ---------------------------------------------------------------------------------------
// revision --autogenerate: generate, apply to fresh databases, check, downgrade
// ---------------------------------------------------------------------------------------

/// A generated migration: its directory name in both dialects.
struct Generated {
    name: String,
    version: String,
}

impl Generated {
    fn file(&self, case: &Case, backend: &str, file: &str) -> String {
        let path = case.project.migrations(backend).join(&self.name).join(file);
        fs::read_to_string(&path).unwrap_or_default()
    }

    /// Whether the migration's `metadata.toml` turns the transaction off.
    fn non_transactional(&self, case: &Case, backend: &str) -> bool {
        self.file(case, backend, "metadata.toml")
            .contains("run_in_transaction = false")
    }
}

/// `revision -m MESSAGE --autogenerate`: exit 0, one new directory of the same name in
/// each dialect, with `up.sql` and `down.sql`, reported as created.
#[track_caller]
fn autogenerate(case: &Case, message: &str, slug: &str) -> Generated {
    let before = (
        subdirs(&case.project.migrations("postgres")),
        subdirs(&case.project.migrations("sqlite")),
    );
    let run = case.hm(&["revision", "-m", message, "--autogenerate"]);
    run.ok();
    let new = |backend: &str, old: &[String]| -> Vec<String> {
        subdirs(&case.project.migrations(backend))
            .into_iter()
            .filter(|d| !old.contains(d))
            .collect()
    };
    let (pg, lite) = (new("postgres", &before.0), new("sqlite", &before.1));
    assert_eq!(pg.len(), 1, "one new PostgreSQL migration: {pg:?}\n{run:?}");
    assert_eq!(pg, lite, "the same directory in both dialects");
    let name = pg[0].clone();
    assert!(name.ends_with(&format!("_{slug}")), "{name}");
    let version = name.split('_').next().expect("a stamp").replace('-', "");
    assert!(
        version.as_str() > HAVEN_HEAD,
        "{name} sorts after the HAVEN migrations"
    );
    let generated = Generated { name, version };
    for backend in ["postgres", "sqlite"] {
        let dir = case.project.migrations(backend).join(&generated.name);
        run.says(&[&format!("created {}", dir.display())]);
        let up = generated.file(case, backend, "up.sql");
        assert!(
            up.starts_with("-- Generated by haven-migrate"),
            "{backend} up.sql:\n{up}"
        );
        // The header names what schema.rs cannot say, for the reviewer to add.
        for unsaid in [
            "column defaults",
            "CHECK constraints",
            "indexes other than those\n-- of foreign keys",
            "the values of enum types",
        ] {
            assert!(
                up.contains(unsaid),
                "{backend} up.sql lacks {unsaid:?}:\n{up}"
            );
        }
        assert!(dir.join("down.sql").is_file(), "{backend} has a down.sql");
    }
    generated
}

/// When a check on the applied databases runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// At the HAVEN head, before the generated migration.
    Before,
    /// After `upgrade head`.
    Head,
    /// After `downgrade -1`.
    Reverted,
}

/// Whether `downgrade -1` on PostgreSQL restores the columns in place: a dropped column
/// can only come back at the end of its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PgColumns {
    InPlace,
    DroppedComeBackLast,
}

/// `sqlite3 FILE .schema`, as a sorted list of its statements (pieces ending in `;` at
/// the end of a line): a rebuilt table moves to the end of `sqlite_master`, and the order
/// of `.schema` with it, though the schema is the same.
fn sqlite_schema(path: &Path) -> String {
    let run = run_std(Command::new("sqlite3").arg(path).arg(".schema"));
    run.ok();
    let mut statements: Vec<&str> = run
        .stdout
        .split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    statements.sort_unstable();
    statements.join(";\n")
}

/// A pg_dump without column order: lines sorted, trailing commas dropped.
fn unordered(dump: &str) -> Vec<String> {
    let mut lines: Vec<String> = dump
        .lines()
        .map(|l| l.trim_end().trim_end_matches(',').to_owned())
        .collect();
    lines.sort();
    lines
}

/// Applies the project's migrations, the generated one last, to a fresh PostgreSQL
/// database and a fresh SQLite file, and back; `check` runs at each [`Stage`].
#[track_caller]
fn apply_and_revert(
    case: &Case,
    generated: &Generated,
    columns: PgColumns,
    check: &dyn Fn(Stage, &PgTestDb, &Path),
) {
    let pg = support::pg_database();
    let lite = support::sqlite_database();
    let root = case.project.root();
    let on_pg = |args: &[&str]| run(haven(root).args(["--database-url", &pg.url]).args(args));
    let on_lite = |args: &[&str]| {
        run(haven(root)
            .args([
                "--database-url",
                &lite.url,
                "--migration-dir",
                "migrations/sqlite",
            ])
            .args(args))
    };
    on_pg(&["upgrade", HAVEN_HEAD]).ok();
    on_lite(&["upgrade", HAVEN_HEAD]).ok();
    let (pg_before, lite_before) = (pg.pg_dump_schema(), sqlite_schema(&lite.path));
    check(Stage::Before, &pg, &lite.path);

    on_pg(&["upgrade", "head"]).ok();
    on_lite(&["upgrade", "head"]).ok();
    let with_new = haven_and(&[&generated.version]);
    assert_eq!(pg_recorded(&pg).0, with_new);
    assert_eq!(sqlite_recorded(&lite.path).0, with_new);
    case.hm(&["check", "--schema"])
        .ok()
        .says(&["schema.rs agrees with the migrations"]);
    let pg_structure = structure_pg(&mut PgConnection::establish(&pg.url).expect("connect"))
        .expect("the PostgreSQL structure");
    let lite_structure =
        structure_sqlite(&mut SqliteConnection::establish(&lite.url).expect("open"))
            .expect("the SQLite structure");
    let differences = pg_structure.differences(&lite_structure);
    assert!(
        differences.is_empty(),
        "the dialects differ after the generated migration:\n  {}",
        differences.join("\n  ")
    );
    check(Stage::Head, &pg, &lite.path);

    on_pg(&["downgrade", "-1"]).ok();
    on_lite(&["downgrade", "-1"]).ok();
    assert_eq!(pg_recorded(&pg).0, haven_and(&[]));
    assert_eq!(sqlite_recorded(&lite.path).0, haven_and(&[]));
    let pg_after = pg.pg_dump_schema();
    match columns {
        PgColumns::InPlace => assert!(
            pg_after == pg_before,
            "PostgreSQL after downgrade -1:\n{}",
            dump_diff(&pg_before, &pg_after)
        ),
        PgColumns::DroppedComeBackLast => {
            assert_ne!(pg_after, pg_before, "a dropped column comes back last");
            assert!(
                unordered(&pg_after) == unordered(&pg_before),
                "PostgreSQL after downgrade -1 (column order aside):\n{}",
                dump_diff(&pg_before, &pg_after)
            );
        }
    }
    let lite_after = sqlite_schema(&lite.path);
    assert!(
        lite_after == lite_before,
        "SQLite after downgrade -1:\n{}",
        dump_diff(&lite_before, &lite_after)
    );
    check(Stage::Reverted, &pg, &lite.path);
}

/// The lines only in `before` (`-`) or only in `after` (`+`), for a failure message.
fn dump_diff(before: &str, after: &str) -> String {
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    let gone = b
        .iter()
        .filter(|l| !a.contains(l))
        .map(|l| format!("- {l}"));
    let new = a
        .iter()
        .filter(|l| !b.contains(l))
        .map(|l| format!("+ {l}"));
    gone.chain(new).collect::<Vec<_>>().join("\n")
}

/// One value of PostgreSQL.
fn pg_value(db: &PgTestDb, sql: &str) -> String {
    pg_rows(db, sql).join("\n")
}

/// Runs statements on a SQLite file.
fn sqlite_exec(path: &Path, sql: &str) -> Result<(), String> {
    use diesel::connection::SimpleConnection;
    let mut conn = SqliteConnection::establish(path.to_str().expect("a UTF-8 path"))
        .map_err(|e| e.to_string())?;
    conn.batch_execute(sql).map_err(|e| e.to_string())
}

/// One value of SQLite: the first column of the first row of `sql`.
fn sqlite_value(path: &Path, sql: &str) -> String {
    sqlite_rows(path, &format!("SELECT ({sql}) AS v")).join("\n")
}

const WALLET_LINKS: &str = "diesel::table! {
    wallet_links (id) {
        id -> Int8,
        user_id -> Int8,
        chain -> Text,
        note -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

";

#[test]
fn a_new_table_with_a_joinable_gets_a_restricting_foreign_key() {
    let case = Case::postgres();
    case.edit(TABLES_END, &format!("{WALLET_LINKS}{TABLES_END}"));
    case.edit(
        "diesel::joinable!(tribe_rewards -> users (user_id));\n",
        "diesel::joinable!(tribe_rewards -> users (user_id));\n\
         diesel::joinable!(wallet_links -> users (user_id));\n",
    );
    case.edit("    users,\n);", "    users,\n    wallet_links,\n);");
    let generated = autogenerate(&case, "Add wallet links", "add_wallet_links");
    let pg_up = generated.file(&case, "postgres", "up.sql");
    assert!(pg_up.contains("ON DELETE RESTRICT"), "{pg_up}");
    assert!(
        !generated.non_transactional(&case, "sqlite"),
        "a new table needs no SQLite rebuild"
    );
    apply_and_revert(&case, &generated, PgColumns::InPlace, &|stage, pg, lite| {
        if stage != Stage::Head {
            assert_eq!(
                pg_value(pg, "SELECT to_regclass('wallet_links') IS NULL"),
                "t"
            );
            assert_eq!(
                sqlite_value(
                    lite,
                    "SELECT count(*) FROM sqlite_master WHERE name = 'wallet_links'"
                ),
                "0"
            );
            return;
        }
        assert_eq!(
            pg_value(
                pg,
                "SELECT confrelid::regclass || '|' || a.attname || '|' || confdeltype::text \
                 FROM pg_constraint c JOIN pg_attribute a \
                   ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
                 WHERE conrelid = 'wallet_links'::regclass AND contype = 'f'"
            ),
            "users|user_id|r",
            "one foreign key, ON DELETE RESTRICT"
        );
        assert_eq!(
            pg_value(
                pg,
                "SELECT count(*) FROM pg_indexes WHERE tablename = 'wallet_links' \
                 AND indexdef LIKE '%(user_id)'"
            ),
            "1",
            "the foreign key has an index"
        );
        let orphan = pg.try_psql(
            "INSERT INTO wallet_links (id, user_id, chain, created_at) \
             OVERRIDING SYSTEM VALUE VALUES (1, 999, 'eth', now())",
        );
        assert!(
            orphan.as_ref().is_err_and(|e| e.contains("foreign key")),
            "{orphan:?}"
        );
        assert_eq!(
            sqlite_value(
                lite,
                "SELECT \"table\" || '|' || \"from\" || '|' || \"to\" || '|' || on_delete \
                 FROM pragma_foreign_key_list('wallet_links')"
            ),
            "users|user_id|id|RESTRICT"
        );
        assert_eq!(
            sqlite_value(
                lite,
                "SELECT count(*) FROM pragma_index_list('wallet_links') AS il \
                 JOIN pragma_index_info(il.name) AS ii WHERE ii.name = 'user_id'"
            ),
            "1",
            "the foreign key has an index on SQLite too"
        );
    });
}

#[test]
fn a_dropped_table_is_dropped_and_comes_back_with_its_triggers() {
    let case = Case::postgres();
    case.edit(&table_block("audit_log"), "");
    case.edit("    audit_log,\n", "");
    let generated = autogenerate(&case, "drop audit log", "drop_audit_log");
    assert!(generated
        .file(&case, "postgres", "up.sql")
        .contains("DROP TABLE audit_log"));
    apply_and_revert(&case, &generated, PgColumns::InPlace, &|stage, pg, lite| {
        let exists = if stage == Stage::Head { "f" } else { "t" };
        assert_eq!(
            pg_value(pg, "SELECT to_regclass('audit_log') IS NOT NULL"),
            exists,
            "{stage:?}"
        );
        let count = if stage == Stage::Head { "0" } else { "1" };
        assert_eq!(
            sqlite_value(
                lite,
                "SELECT count(*) FROM sqlite_master WHERE name = 'audit_log'"
            ),
            count,
            "{stage:?}"
        );
    });
}

#[test]
fn new_columns_nullable_and_not_null_are_appended() {
    let case = Case::postgres();
    append_to_users(&case, "nickname -> Nullable<Text>");
    case.edit(
        "        confirmed_at -> Nullable<Timestamptz>,\n    }",
        "        confirmed_at -> Nullable<Timestamptz>,\n        fee -> Numeric,\n    }",
    );
    let generated = autogenerate(&case, "new columns", "new_columns");
    let pg_up = generated.file(&case, "postgres", "up.sql");
    assert!(
        pg_up.contains("SET NOT NULL") && pg_up.contains("backfill"),
        "a NOT NULL column is added nullable, then SET NOT NULL, with a note: {pg_up}"
    );
    apply_and_revert(&case, &generated, PgColumns::InPlace, &|stage, pg, lite| {
        let pg_columns = pg_value(
            pg,
            "SELECT string_agg(table_name || '.' || column_name || ':' || is_nullable, ',' \
             ORDER BY table_name) FROM information_schema.columns \
             WHERE column_name IN ('nickname', 'fee')",
        );
        let lite_columns = sqlite_value(
            lite,
            "SELECT group_concat(t || '.' || name || ':' || \"notnull\", ',') FROM ( \
             SELECT 'transactions' AS t, * FROM pragma_table_info('transactions') \
             UNION ALL SELECT 'users', * FROM pragma_table_info('users') \
             ORDER BY 1) WHERE name IN ('nickname', 'fee')",
        );
        if stage == Stage::Head {
            assert_eq!(pg_columns, "transactions.fee:NO,users.nickname:YES");
            assert_eq!(lite_columns, "transactions.fee:1,users.nickname:0");
            assert_eq!(
                pg_value(
                    pg,
                    "SELECT column_name FROM information_schema.columns \
                     WHERE table_name = 'users' ORDER BY ordinal_position DESC LIMIT 1"
                ),
                "nickname",
                "appended"
            );
        } else {
            assert_eq!(pg_columns, "", "{stage:?}");
            assert_eq!(lite_columns, "", "{stage:?}");
        }
    });
}

#[test]
fn a_dropped_column_is_dropped_and_comes_back_with_its_constraints() {
    let case = Case::postgres();
    case.edit("        display_name -> Nullable<Text>,\n", "");
    case.edit("        tx_hash -> Nullable<Text>,\n", "");
    let generated = autogenerate(&case, "drop columns", "drop_columns");
    let pg_up = generated.file(&case, "postgres", "up.sql");
    assert!(
        pg_up.contains("DROP COLUMN display_name") && pg_up.contains("DROP COLUMN tx_hash"),
        "{pg_up}"
    );
    apply_and_revert(
        &case,
        &generated,
        PgColumns::DroppedComeBackLast,
        &|stage, pg, lite| {
            let count = if stage == Stage::Head { "0" } else { "2" };
            assert_eq!(
                pg_value(
                    pg,
                    "SELECT count(*) FROM information_schema.columns \
                     WHERE column_name IN ('display_name', 'tx_hash')"
                ),
                count,
                "{stage:?}"
            );
            assert_eq!(
                sqlite_value(
                    lite,
                    "SELECT (SELECT count(*) FROM pragma_table_info('users') \
                     WHERE name = 'display_name') + (SELECT count(*) FROM \
                     pragma_table_info('transactions') WHERE name = 'tx_hash')"
                ),
                count,
                "{stage:?}"
            );
        },
    );
}

#[test]
fn a_type_change_casts_in_place_and_keeps_the_data() {
    let case = Case::postgres();
    case.edit("        value -> Numeric,\n", "        value -> Float8,\n");
    case.edit(
        "        metric_name -> Text,\n",
        "        #[max_length = 100]\n        metric_name -> Varchar,\n",
    );
    let generated = autogenerate(&case, "metric types", "metric_types");
    for (backend, file) in [
        ("postgres", "up.sql"),
        ("postgres", "down.sql"),
        ("sqlite", "up.sql"),
        ("sqlite", "down.sql"),
    ] {
        let sql = generated.file(&case, backend, file);
        assert!(!sql.contains("DROP COLUMN"), "{backend} {file}:\n{sql}");
    }
    let pg_up = generated.file(&case, "postgres", "up.sql");
    assert!(
        pg_up.contains("ALTER COLUMN value TYPE") && pg_up.contains("USING"),
        "{pg_up}"
    );
    assert!(
        generated.non_transactional(&case, "sqlite"),
        "NUMERIC to REAL is a SQLite table rebuild, outside diesel's transaction"
    );
    let row = "SELECT metric_name || '|' || value FROM system_metrics";
    apply_and_revert(&case, &generated, PgColumns::InPlace, &|stage, pg, lite| {
        if stage == Stage::Before {
            let insert = "INSERT INTO system_metrics (metric_name, value) VALUES ('supply', 12.5)";
            pg.psql(insert);
            sqlite_exec(lite, insert).expect("a metric row");
        }
        assert_eq!(pg_value(pg, row), "supply|12.5", "{stage:?}");
        assert_eq!(sqlite_value(lite, row), "supply|12.5", "{stage:?}");
        let types = pg_value(
            pg,
            "SELECT pg_typeof(metric_name) || '|' || pg_typeof(value) FROM system_metrics",
        );
        let expected = match stage {
            Stage::Head => "character varying|double precision",
            _ => "text|numeric",
        };
        assert_eq!(types, expected, "{stage:?}");
        if stage == Stage::Head {
            assert_eq!(
                pg_value(
                    pg,
                    "SELECT character_maximum_length FROM information_schema.columns \
                     WHERE table_name = 'system_metrics' AND column_name = 'metric_name'"
                ),
                "100"
            );
        }
    });
}

#[test]
fn nullability_changes_both_ways_keep_the_triggers() {
    let case = Case::postgres();
    case.edit(
        "        display_name -> Nullable<Text>,\n",
        "        display_name -> Text,\n",
    );
    case.edit(
        "        property_id -> Text,\n",
        "        property_id -> Nullable<Text>,\n",
    );
    let generated = autogenerate(&case, "nullability", "nullability");
    let pg_up = generated.file(&case, "postgres", "up.sql");
    assert!(
        pg_up.contains("ALTER COLUMN display_name SET NOT NULL")
            && pg_up.contains("ALTER COLUMN property_id DROP NOT NULL"),
        "{pg_up}"
    );
    assert!(
        generated.non_transactional(&case, "sqlite"),
        "SQLite changes nullability by a table rebuild"
    );
    let sqlite_up = generated.file(&case, "sqlite", "up.sql");
    assert!(
        sqlite_up.contains("PRAGMA foreign_keys = OFF")
            && sqlite_up.contains("BEGIN")
            && sqlite_up.contains("foreign_key_check")
            && sqlite_up.contains("COMMIT"),
        "{sqlite_up}"
    );
    apply_and_revert(&case, &generated, PgColumns::InPlace, &|stage, pg, lite| {
        let pg_nullable = pg_value(
            pg,
            "SELECT string_agg(column_name || ':' || is_nullable, ',' ORDER BY column_name) \
             FROM information_schema.columns WHERE column_name IN ('display_name', 'property_id')",
        );
        let lite_notnull = sqlite_value(
            lite,
            "SELECT (SELECT \"notnull\" FROM pragma_table_info('users') WHERE name = 'display_name') \
             || ',' || (SELECT \"notnull\" FROM pragma_table_info('aurora_bookings') \
             WHERE name = 'property_id')",
        );
        let (pg_expected, lite_expected) = match stage {
            Stage::Head => ("display_name:NO,property_id:YES", "1,0"),
            _ => ("display_name:YES,property_id:NO", "0,1"),
        };
        assert_eq!(pg_nullable, pg_expected, "{stage:?}");
        assert_eq!(lite_notnull, lite_expected, "{stage:?}");
        // users keeps its updated_at trigger through the rebuild.
        assert_eq!(
            sqlite_value(
                lite,
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' \
                 AND name = 'users_set_updated_at'"
            ),
            "1",
            "{stage:?}"
        );
    });
}

#[test]
fn a_new_column_of_an_existing_enum_type_with_a_sqlite_target() {
    let case = Case::sqlite();
    append_to_users(&case, "previous_status -> Nullable<UserStatus>");
    let generated = autogenerate(&case, "previous status", "previous_status");
    let pg_up = generated.file(&case, "postgres", "up.sql");
    assert!(
        pg_up.contains("ADD COLUMN previous_status user_status"),
        "{pg_up}"
    );
    apply_and_revert(&case, &generated, PgColumns::InPlace, &|stage, pg, lite| {
        let pg_type = pg_value(
            pg,
            "SELECT udt_name FROM information_schema.columns \
             WHERE table_name = 'users' AND column_name = 'previous_status'",
        );
        let lite_column = sqlite_value(
            lite,
            "SELECT count(*) FROM pragma_table_info('users') WHERE name = 'previous_status'",
        );
        if stage != Stage::Head {
            assert_eq!((pg_type.as_str(), lite_column.as_str()), ("", "0"));
            return;
        }
        assert_eq!(pg_type, "user_status");
        assert_eq!(lite_column, "1");
        // On SQLite, as in the HAVEN migrations, the enum is TEXT with a CHECK of its labels.
        let insert = |status: &str| {
            sqlite_exec(
                lite,
                &format!(
                    "INSERT INTO users (wallet_address, previous_status) \
                     VALUES ('0x52908400098527886E0F7030069857D2E4169EE7', '{status}')"
                ),
            )
        };
        let wrong = insert("gone");
        assert!(
            wrong
                .as_ref()
                .is_err_and(|e| e.contains("CHECK constraint failed")),
            "{wrong:?}"
        );
        insert("suspended").expect("a label of user_status");
    });
}

#[test]
fn the_created_directories_are_reported_in_json() {
    let case = Case::postgres();
    append_to_users(&case, "nickname -> Nullable<Text>");
    let run = case.hm(&[
        "--format",
        "json",
        "revision",
        "-m",
        "nick",
        "--autogenerate",
    ]);
    run.ok();
    let report = run.json();
    let name = subdirs(&case.project.migrations("postgres"))
        .pop()
        .expect("a migration");
    assert!(name.ends_with("_nick"), "{name}");
    let created: Vec<&str> = report["created"]
        .as_array()
        .unwrap_or_else(|| panic!("created is a list: {report}"))
        .iter()
        .map(|p| p.as_str().expect("a path"))
        .collect();
    let expected: Vec<PathBuf> = ["postgres", "sqlite"]
        .iter()
        .map(|b| case.project.migrations(b).join(&name))
        .collect();
    let expected: Vec<&str> = expected
        .iter()
        .map(|p| p.to_str().expect("UTF-8"))
        .collect();
    assert_eq!(created, expected, "{report}");
}

// ---------------------------------------------------------------------------------------
// revision --autogenerate: nothing to do, refusals, a failed proof
// ---------------------------------------------------------------------------------------

#[test]
fn no_changes_create_nothing() {
    let case = Case::postgres();
    let before = case.files();
    case.hm(&["revision", "-m", "nothing", "--autogenerate"])
        .ok()
        .says(&["no changes"]);
    let json = case.hm(&[
        "--format",
        "json",
        "revision",
        "-m",
        "nothing",
        "--autogenerate",
    ]);
    json.ok();
    assert_eq!(json.json()["created"], json!([]), "{}", json.stdout);
    assert!(case.files() == before, "no directory was created");
}

#[test]
fn a_new_column_that_is_not_last_is_refused() {
    let case = Case::postgres();
    case.edit(
        "        kyc_status -> KycStatus,\n",
        "        nickname -> Nullable<Text>,\n        kyc_status -> KycStatus,\n",
    );
    case.refused(&["revision", "-m", "nick", "--autogenerate"], 2)
        .stderr_has("users.nickname")
        .says(&["move it to the end of the table! block"]);
}

#[test]
fn a_new_enum_type_is_refused() {
    let case = Case::postgres();
    case.edit(
        "pub mod sql_types {\n",
        "pub mod sql_types {\n    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]\n    \
         #[diesel(postgres_type(name = \"mood\"))]\n    pub struct Mood;\n\n",
    );
    case.edit(
        "    use super::sql_types::UserStatus;\n",
        "    use super::sql_types::UserStatus;\n    use super::sql_types::Mood;\n",
    );
    append_to_users(&case, "mood -> Nullable<Mood>");
    case.refused(&["revision", "-m", "mood", "--autogenerate"], 2)
        .stderr_has("users.mood")
        .says(&["CREATE TYPE mood AS ENUM"]);
}

#[test]
fn dropping_a_table_that_a_kept_table_references_is_refused() {
    let case = Case::postgres();
    case.edit(&table_block("tribe_events"), "");
    for line in [
        "diesel::joinable!(tribe_events -> transactions (reward_transaction_id));\n",
        "diesel::joinable!(tribe_events -> users (user_id));\n",
        "diesel::joinable!(tribe_rewards -> tribe_events (tribe_event_id));\n",
        "    tribe_events,\n",
    ] {
        case.edit(line, "");
    }
    case.refused(&["revision", "-m", "drop events", "--autogenerate"], 2)
        .stderr_has("tribe_events")
        .says(&["tribe_rewards.tribe_event_id still references it"]);
}

/// A migration of the copied set that leaves a user whose display name is a word.
fn seed_a_user(case: &Case) {
    let up = "INSERT INTO users (wallet_address, display_name) \
              VALUES ('0x52908400098527886E0F7030069857D2E4169EE7', 'Ann');\n";
    let down = "DELETE FROM users WHERE display_name = 'Ann';\n";
    case.project
        .add_migration("2026-06-01-000000_seed_ann", (up, down), (up, down));
}

#[test]
fn a_proof_that_fails_writes_nothing_and_names_the_step() {
    let case = Case::postgres();
    seed_a_user(&case);
    case.edit(
        "        display_name -> Nullable<Text>,\n",
        "        display_name -> Nullable<Int4>,\n",
    );
    // The USING cast of 'Ann' to an integer fails in the scratch replay.
    case.refused(&["revision", "-m", "numeric name", "--autogenerate"], 4)
        .says(&[
            "at up.sql on PostgreSQL; nothing was written",
            "invalid input syntax for type integer: \"Ann\"",
        ]);
    let json = case.refused(
        &["--format", "json", "revision", "-m", "n", "--autogenerate"],
        4,
    );
    let report = json.json();
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["error"]["kind"], "proof_failed", "{report}");
}

#[test]
fn scratch_url_is_for_autogenerate_only() {
    let case = Case::postgres();
    let before = case.files();
    let run = run(haven(case.project.root()).args([
        "--database-url",
        &case.server.url,
        "revision",
        "-m",
        "x",
        "--scratch-url",
        &case.server.url,
    ]));
    run.code(2).stderr_has("--autogenerate");
    assert!(case.files() == before);
}

// ---------------------------------------------------------------------------------------
// check --schema
// ---------------------------------------------------------------------------------------

#[test]
fn check_schema_agrees_ignores_docs_and_pending_migrations() {
    let case = Case::postgres();
    // Plain check sees an empty database: everything pending.
    case.hm(&["check"]).code(3);
    case.hm(&["check", "--schema"])
        .ok()
        .says(&["schema.rs agrees with the migrations"])
        .never_says(&["pending"]);
    let json = case.hm(&["--format", "json", "check", "--schema"]);
    json.ok();
    let report = json.json();
    assert_eq!(report["command"], "check", "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["schema_diff"], json!([]), "{report}");
    // Doc comments do not count, and an enum type is its postgres_type name, whatever
    // the Rust struct is called.
    case.edit(
        "/// A HAVEN account, identified by its wallet.",
        "/// Someone with a wallet.",
    );
    case.edit(
        "    pub struct UserStatus;",
        "    pub struct AccountStatus;",
    );
    case.edit(
        "    use super::sql_types::UserStatus;",
        "    use super::sql_types::AccountStatus;",
    );
    case.edit(
        "        status -> UserStatus,",
        "        status -> AccountStatus,",
    );
    case.hm(&["check", "--schema"])
        .ok()
        .says(&["schema.rs agrees with the migrations"]);
}

/// One `schema_diff` entry.
fn entry(table: &str, column: Option<&str>, kind: &str, expected: &str, actual: &str) -> Value {
    json!({"table": table, "column": column, "kind": kind, "expected": expected, "actual": actual})
}

/// The text line of an entry, as `check --schema` prints it.
fn line_of(entry: &Value) -> String {
    let text = |key: &str| entry[key].as_str().expect("a string").to_owned();
    let place = match entry["column"].as_str() {
        Some(column) => format!("{}.{column}", text("table")),
        None => text("table"),
    };
    format!(
        "{place}: {}: schema.rs has {}, the migrations give {}",
        text("kind").replace('_', " "),
        text("expected"),
        text("actual")
    )
}

#[test]
fn check_schema_reports_every_kind_of_difference() {
    let case = Case::postgres();
    // missing_column
    append_to_users(&case, "nickname -> Nullable<Text>");
    // missing_table
    case.edit(
        TABLES_END,
        &format!(
            "{}{TABLES_END}",
            WALLET_LINKS.replace("        note -> Nullable<Text>,\n", "")
        ),
    );
    // extra_table
    case.edit(&table_block("system_metrics"), "");
    case.edit("    system_metrics,\n", "");
    // extra_column
    case.edit("        memo -> Nullable<Text>,\n", "");
    // column_order
    case.edit("        event_id -> Text,\n", "");
    case.edit(
        "        event_name -> Text,\n",
        "        event_name -> Text,\n        event_id -> Text,\n",
    );
    // type, twice: a built-in type and an enum type
    case.edit(
        "        email -> Nullable<Text>,\n",
        "        email -> Nullable<Varchar>,\n",
    );
    case.edit(
        "        status -> UserStatus,\n",
        "        status -> KycStatus,\n",
    );
    // nullability
    case.edit(
        "        display_name -> Nullable<Text>,\n",
        "        display_name -> Text,\n",
    );
    // primary_key
    case.edit("    audit_log (id) {", "    audit_log (id, created_at) {");
    // missing_joinable, extra_joinable
    case.edit(
        TABLES_END,
        &format!("diesel::joinable!(audit_log -> users (actor_user_id));\n{TABLES_END}"),
    );
    case.edit(
        "diesel::joinable!(staking_records -> users (user_id));\n",
        "",
    );

    let tribe_order = |first: &str, second: &str| {
        format!(
            "id, user_id, {first}, {second}, attended_at, reward_amount, \
             reward_transaction_id, created_at"
        )
    };
    let mut expected = vec![
        entry(
            "wallet_links",
            None,
            "missing_table",
            "table wallet_links",
            "nothing",
        ),
        entry(
            "system_metrics",
            None,
            "extra_table",
            "nothing",
            "table system_metrics",
        ),
        entry(
            "users",
            Some("nickname"),
            "missing_column",
            "Nullable<Text>",
            "nothing",
        ),
        entry(
            "transactions",
            Some("memo"),
            "extra_column",
            "nothing",
            "Nullable<Text>",
        ),
        entry(
            "tribe_events",
            None,
            "column_order",
            &tribe_order("event_name", "event_id"),
            &tribe_order("event_id", "event_name"),
        ),
        entry("users", Some("email"), "type", "Varchar", "Text"),
        entry(
            "users",
            Some("status"),
            "type",
            "KycStatus (postgres_type \"kyc_status\")",
            "UserStatus (postgres_type \"user_status\")",
        ),
        entry(
            "users",
            Some("display_name"),
            "nullability",
            "NOT NULL",
            "Nullable",
        ),
        entry("audit_log", None, "primary_key", "(id, created_at)", "(id)"),
        entry(
            "audit_log",
            Some("actor_user_id"),
            "missing_joinable",
            "joinable!(audit_log -> users (actor_user_id))",
            "nothing",
        ),
        entry(
            "staking_records",
            Some("user_id"),
            "extra_joinable",
            "nothing",
            "joinable!(staking_records -> users (user_id))",
        ),
    ];

    let text = case.hm(&["check", "--schema"]);
    text.code(4);
    for e in &expected {
        text.says(&[&line_of(e)]);
    }
    text.says(&[
        "and the migrations differ in 11 place(s)",
        "haven-migrate revision -m MESSAGE --autogenerate",
        "diesel print-schema",
    ]);

    let json = case.hm(&["--format", "json", "check", "--schema"]);
    json.code(4);
    let report = json.json();
    assert_eq!(report["command"], "check", "{report}");
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["error"]["kind"], "schema_diff", "{report}");
    let mut got = report["schema_diff"]
        .as_array()
        .unwrap_or_else(|| panic!("schema_diff is a list: {report}"))
        .clone();
    let key = |v: &Value| v.to_string();
    got.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(got, expected);
}

#[test]
fn check_schema_on_a_sqlite_url_replays_on_the_scratch_server() {
    let case = Case::sqlite();
    let lite = case.sqlite.as_ref().expect("a SQLite target");
    // Without --scratch-url there is no PostgreSQL server to replay on.
    let before = case.files();
    let run = run(haven(case.project.root())
        .env("TMPDIR", case.project.root().join(SCRATCH_TMP))
        .args(["--database-url", &lite.url, "check", "--schema"]));
    run.code(2).stderr_has("--scratch-url");
    assert!(!lite.path.exists(), "the SQLite target was created");
    assert!(case.files() == before);
    // With it, the PostgreSQL migrations are replayed there, also when the migration
    // directory given is the SQLite one: its postgres sibling is replayed.
    case.hm(&["check", "--schema"])
        .ok()
        .says(&["schema.rs agrees with the migrations"]);
    case.hm(&["--migration-dir", "migrations/sqlite", "check", "--schema"])
        .ok()
        .says(&["schema.rs agrees with the migrations"]);
    let alone = case.project.root().join("sqlite-only");
    support::copy_tree(&case.project.migrations("sqlite"), &alone.join("sqlite"));
    let run = case.hm(&["--migration-dir", "sqlite-only/sqlite", "check", "--schema"]);
    run.code(2).stderr_has("no postgres directory beside");
    fs::remove_dir_all(&alone).expect("remove the copy");
    case.edit(
        "        email -> Nullable<Text>,\n",
        "        email -> Nullable<Varchar>,\n",
    );
    case.hm(&["check", "--schema"])
        .code(4)
        .says(&["users.email: type: schema.rs has Varchar, the migrations give Text"]);
}

#[test]
fn a_schema_rs_that_does_not_parse_is_named_with_its_line() {
    let case = Case::postgres();
    case.edit(
        "        email -> Nullable<Text>,\n",
        "        email -> Nullable<Text>,\n        broken -> ,\n",
    );
    let text = fs::read_to_string(case.project.schema_rs()).expect("read schema.rs");
    let line = text[..text.find("broken ->").expect("the edit")]
        .matches('\n')
        .count()
        + 1;
    let at = format!("schema.rs:{line}:");
    case.refused(&["check", "--schema"], 2).stderr_has(&at);
    case.refused(&["revision", "-m", "x", "--autogenerate"], 2)
        .stderr_has(&at);
}

#[test]
fn schema_rs_is_found_as_the_diesel_cli_finds_it() {
    let case = Case::postgres();
    // DIESEL_CONFIG_FILE from anywhere: the files it names are relative to it.
    let elsewhere = support::workdir();
    let config = case.project.root().join("diesel.toml");
    let run = run(haven(elsewhere.path())
        .env("DIESEL_CONFIG_FILE", &config)
        .args(["--database-url", &case.server.url, "check", "--schema"]));
    run.ok().says(&["schema.rs agrees with the migrations"]);
    // A print_schema file that is not there is named.
    fs::write(
        &config,
        "[print_schema]\nfile = \"src/gone.rs\"\n\n\
         [migrations_directory]\ndir = \"migrations/postgres\"\n",
    )
    .expect("write diesel.toml");
    case.refused(&["check", "--schema"], 2)
        .stderr_has("gone.rs");
    // No [print_schema] at all: both commands say what to add.
    fs::write(
        &config,
        "[migrations_directory]\ndir = \"migrations/postgres\"\n",
    )
    .expect("write diesel.toml");
    for args in [
        &["check", "--schema"][..],
        &["revision", "-m", "x", "--autogenerate"][..],
    ] {
        case.refused(args, 2)
            .stderr_has("diesel.toml")
            .stderr_has("print_schema");
    }
}

// ---------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------

#[test]
fn a_signal_during_the_replay_drops_the_scratch_database() {
    for (args, signal, code) in [
        (&["check", "--schema"][..], "TERM", 143),
        (&["revision", "-m", "x", "--autogenerate"][..], "INT", 130),
    ] {
        let case = Case::postgres();
        case.project.add_migration(
            "2026-06-01-000000_sleepy",
            ("SELECT pg_sleep(60);\n", "SELECT 1;\n"),
            ("SELECT 1;\n", "SELECT 1;\n"),
        );
        append_to_users(&case, "nickname -> Nullable<Text>");
        let before = case.files();
        let child = Background::spawn(&mut case.cmd(args));
        let pid = child.pid();
        // The scratch database, named after the pid, is replaying the sleepy migration.
        wait_until("the replay sleeps in the scratch database", || {
            pg_value(
                &case.server,
                &format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE \
                     'haven\\_scratch\\_{pid}\\_%' AND state = 'active' \
                     AND position('pg_sleep' in query) > 0"
                ),
            ) == "1"
        });
        send_signal(signal, pid);
        let since = Instant::now();
        let stopped = child.wait();
        stopped.code(code);
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "{args:?} exited {:?} after SIG{signal}",
            since.elapsed()
        );
        case.assert_clean(pid, &stopped);
        assert!(case.files() == before, "{args:?} wrote files");
    }
}

/// A SQLite statement that counts for far longer than any test runs.
const SQLITE_ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                              WHERE x < 100000000000) SELECT count(*) FROM c;\n";

/// How many migrations the scratch SQLite file in `tmp` records as applied (0 while
/// there is none, or it cannot be read yet).
fn scratch_sqlite_applied(tmp: &Path) -> usize {
    use diesel::sql_types::BigInt;
    use diesel::{QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let files = fs::read_dir(tmp).expect("read TMPDIR");
    let Some(db) = files
        .map(|e| e.expect("an entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "db"))
    else {
        return 0;
    };
    let Ok(mut conn) = SqliteConnection::establish(&db.to_string_lossy()) else {
        return 0;
    };
    diesel::sql_query("SELECT count(*) AS n FROM __diesel_schema_migrations")
        .get_result::<Count>(&mut conn)
        .map_or(0, |c| usize::try_from(c.n).unwrap_or(0))
}

/// A PostgreSQL statement that shrugs off the first cancel.
const PG_STUBBORN: &str = "DO $$ BEGIN PERFORM pg_sleep(60); EXCEPTION WHEN query_canceled THEN \
                           PERFORM pg_sleep(60); END $$;\n";

#[test]
fn a_second_signal_exits_at_once_and_still_drops_the_scratch_databases() {
    // check --schema in a PostgreSQL statement that survives the first cancel, and
    // revision --autogenerate in the SQLite replay, whose statement nothing cancels.
    let scenarios = [
        (
            &["check", "--schema"][..],
            (PG_STUBBORN, "SELECT 1;\n"),
            ("SELECT 1;\n", "SELECT 1;\n"),
        ),
        (
            &["revision", "-m", "x", "--autogenerate"][..],
            ("SELECT 1;\n", "SELECT 1;\n"),
            (SQLITE_ENDLESS, "SELECT 1;\n"),
        ),
    ];
    for (args, pg, sqlite) in scenarios {
        let case = Case::postgres();
        case.project
            .add_migration("2026-06-01-000000_endless", pg, sqlite);
        append_to_users(&case, "nickname -> Nullable<Text>");
        let before = case.files();
        let tmp = case.project.root().join(SCRATCH_TMP);
        let child = Background::spawn(&mut case.cmd(args));
        let pid = child.pid();
        wait_until("the replay runs its endless migration", || {
            let sqlite_replay = scratch_sqlite_applied(&tmp) == 4;
            let pg_sleeps = pg_value(
                &case.server,
                &format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE \
                     'haven\\_scratch\\_{pid}\\_%' AND state = 'active' \
                     AND position('pg_sleep' in query) > 0"
                ),
            ) == "1";
            sqlite_replay || pg_sleeps
        });
        send_signal("TERM", pid);
        wait_until("the first signal is acknowledged", || {
            child
                .stderr_so_far()
                .contains("send it again to exit at once")
        });
        send_signal("TERM", pid);
        let since = Instant::now();
        let stopped = child.wait();
        stopped.code(143).says(&["exiting at once (second signal)"]);
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "{args:?} exited {:?} after the second signal",
            since.elapsed()
        );
        case.assert_clean(pid, &stopped);
        assert!(case.files() == before, "{args:?} wrote files");
    }
}

// ---------------------------------------------------------------------------------------
// Scratch servers that will not do
// ---------------------------------------------------------------------------------------

#[test]
fn a_role_without_createdb_is_told_so_and_its_password_is_never_shown() {
    let db = support::pg_database_with_password();
    let role = support::conn::ConnParams::parse(&db.url)
        .expect("the test URL parses")
        .user;
    let admin = support::conn::ConnParams::parse(&db.maintenance_url()).expect("admin URL");
    support::tools::psql(&admin, &format!("ALTER ROLE \"{role}\" NOCREATEDB")).expect("alter");
    let project = Project::haven();
    let before = project.files("");
    let dump = db.pg_dump_schema();
    for args in [
        &["check", "--schema"][..],
        &["revision", "-m", "x", "--autogenerate"][..],
    ] {
        let run = run(haven(project.root())
            .args(["--database-url", &db.url])
            .args(args));
        run.code(1)
            .stderr_has("CREATEDB")
            .never_says(&[&db.password]);
    }
    assert!(project.files("") == before, "nothing was written");
    assert!(db.pg_dump_schema() == dump, "the database is unchanged");
}

#[test]
fn a_wrong_password_or_a_sqlite_scratch_url_is_refused_without_a_trace() {
    let case = Case::postgres();
    if case.server.checks_passwords() {
        let wrong = "wrong-password-123";
        let run = run(haven(case.project.root())
            .args(["--database-url", &case.server.url_with_password(wrong)])
            .args(["check", "--schema"]));
        run.code(1).never_says(&[wrong]);
    }
    let lite = support::sqlite_database();
    let run = run(haven(case.project.root())
        .args(["--database-url", &lite.url, "check", "--schema"])
        .args(["--scratch-url", &lite.url]));
    run.code(2).stderr_has("PostgreSQL");
    assert!(!lite.path.exists(), "no SQLite file was created");
}
