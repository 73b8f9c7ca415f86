//! The real diesel CLI as the oracle of `revision --autogenerate` (issue 14): for an edit of
//! `schema.rs` that `diesel migration generate --diff-schema` handles correctly (a new table
//! of built-in types with a joinable, a dropped table, an added and a dropped column), our
//! migration and diesel's, each applied to a fresh PostgreSQL database, leave the same
//! `diesel print-schema`, which is the edited `schema.rs` itself.
//!
//! The project is a small one of built-in types, not the HAVEN schema: diesel 2.3 compares
//! a column's Rust type name with its SQL type name, so it reads every enum column of the
//! HAVEN schema (`UserStatus` against `user_status`) as changed, and drops and re-adds it
//! as the invalid type `USERSTATUS`, even when nothing was edited.
//!
//! Ignored by default (it needs the `diesel` binary); `.ci/run` installs it and runs the
//! ignored tests. diesel runs in the projects' own temp dirs, or with a config of its own
//! for `print-schema`, so it never touches the checkout's `src/schema.rs`.
#![cfg(all(feature = "cli", feature = "sqlite"))]

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use support::{diesel_bin, haven, run, run_std, subdirs, workdir, write_migration, Project, Run};

const BASE_UP: &str = "CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    wallet_address TEXT NOT NULL UNIQUE,
    email TEXT,
    display_name TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE transactions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_user_id BIGINT REFERENCES users (id) ON DELETE RESTRICT,
    amount NUMERIC(36, 18) NOT NULL,
    memo TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX transactions_from_user_id_idx ON transactions (from_user_id);
CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    new_values JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
";

const BASE_DOWN: &str = "DROP TABLE audit_log;\nDROP TABLE transactions;\nDROP TABLE users;\n";

/// `haven-migrate --database-url URL ARGS` in the project.
fn hm(project: &Project, url: &str, args: &[&str]) -> Run {
    run(haven(project.root())
        .args(["--database-url", url])
        .args(args))
}

/// The diesel CLI in the project's dir, which finds the project's `diesel.toml`.
fn diesel(project: &Project, args: &[&str]) -> Run {
    run_std(
        Command::new(diesel_bin())
            .current_dir(project.root())
            .env_remove("DATABASE_URL")
            .env_remove("MIGRATION_DIRECTORY")
            .env_remove("DIESEL_CONFIG_FILE")
            .args(args),
    )
}

/// `diesel print-schema` of a database, with a config of its own (no `[print_schema]`).
fn print_schema(url: &str) -> String {
    let cwd = workdir();
    let config = cwd.path().join("diesel.toml");
    fs::write(&config, "# no [print_schema]: print-schema's defaults\n").expect("write");
    let run = run_std(
        Command::new(diesel_bin())
            .current_dir(cwd.path())
            .env_remove("DATABASE_URL")
            .env("DIESEL_CONFIG_FILE", &config)
            .args(["print-schema", "--database-url", url]),
    );
    run.ok();
    run.stdout
}

/// A project at the base migration, with the `schema.rs` print-schema gives for it.
fn project(schema_rs: &str) -> Project {
    let project = Project::empty();
    write_migration(
        &project.migrations("postgres"),
        "2026-01-01-000001_base",
        BASE_UP,
        Some(BASE_DOWN),
    );
    fs::write(project.schema_rs(), schema_rs).expect("write schema.rs");
    project
}

/// The edit, on print-schema's text: a new table with a joinable, a dropped table, an
/// added and a dropped column.
fn edit(project: &Project) {
    let audit_log = "diesel::table! {\n    audit_log (id) {\n        id -> Int8,\n        \
                     actor -> Text,\n        action -> Text,\n        \
                     new_values -> Nullable<Jsonb>,\n        created_at -> Timestamptz,\n    \
                     }\n}\n\n";
    project.edit_schema(audit_log, "");
    project.edit_schema("        memo -> Nullable<Text>,\n", "");
    project.edit_schema(
        "        display_name -> Nullable<Text>,\n        created_at -> Timestamptz,\n",
        "        display_name -> Nullable<Text>,\n        created_at -> Timestamptz,\n        \
         nickname -> Nullable<Text>,\n",
    );
    project.edit_schema(
        "diesel::joinable!(transactions -> users (from_user_id));\n",
        "diesel::table! {\n    wallet_links (id) {\n        id -> Int8,\n        \
         user_id -> Int8,\n        chain -> Text,\n        note -> Nullable<Text>,\n        \
         created_at -> Timestamptz,\n    }\n}\n\n\
         diesel::joinable!(transactions -> users (from_user_id));\n\
         diesel::joinable!(wallet_links -> users (user_id));\n",
    );
    project.edit_schema(
        "(audit_log, transactions, users,)",
        "(transactions, users, wallet_links,)",
    );
}

/// The one migration directory of `project` that is not the base.
fn new_migration(project: &Project) -> String {
    let mut dirs = subdirs(&project.migrations("postgres"));
    dirs.retain(|d| d != "2026-01-01-000001_base");
    assert_eq!(dirs.len(), 1, "one new migration: {dirs:?}");
    dirs.remove(0)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
#[ignore = "needs the diesel CLI; .ci/run installs it"]
fn our_migration_and_diesels_leave_the_same_print_schema() {
    // The base, at head, as diesel prints it: the schema.rs both projects start from.
    let head = support::pg_database();
    let seed = project("");
    hm(&seed, &head.url, &["upgrade", "head"]).ok();
    let at_head = print_schema(&head.url);
    assert!(at_head.contains("    audit_log (id) {"), "{at_head}");
    let (ours, theirs) = (project(&at_head), project(&at_head));
    hm(&ours, &head.url, &["check", "--schema"])
        .ok()
        .says(&["schema.rs agrees with the migrations"]);

    for project in [&ours, &theirs] {
        edit(project);
    }
    let edited = read(&ours.schema_rs());
    diesel(
        &theirs,
        &[
            "migration",
            "generate",
            "edit",
            "--diff-schema",
            "--database-url",
            &head.url,
        ],
    )
    .ok();
    hm(
        &ours,
        &head.url,
        &["revision", "-m", "edit", "--autogenerate"],
    )
    .ok();
    let (our_dir, their_dir) = (new_migration(&ours), new_migration(&theirs));
    let their_up = read(
        &theirs
            .migrations("postgres")
            .join(&their_dir)
            .join("up.sql"),
    );
    assert!(
        their_up.contains("CREATE TABLE \"wallet_links\""),
        "diesel generated: {their_up}"
    );

    let applied = |project: &Project| {
        let db = support::pg_database();
        hm(project, &db.url, &["upgrade", "head"]).ok();
        print_schema(&db.url)
    };
    let (our_schema, their_schema) = (applied(&ours), applied(&theirs));
    assert_eq!(
        our_schema, their_schema,
        "ours ({our_dir}) and diesel's ({their_dir}) differ"
    );
    assert_eq!(
        our_schema, edited,
        "print-schema gives back the edited schema.rs"
    );
}
