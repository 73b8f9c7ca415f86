//! `haven-migrate` end to end on SQLite, and what needs no database at all: help text,
//! completions, `revision`, and offline `--sql` scripts. Every test runs the built binary in
//! its own temp dir with a clean environment (see `cli_support`).

mod support;

use std::fs;
use std::path::Path;
use std::process::Command as StdCommand;

use support::{
    applied_flags, applied_versions, copy_of_repo_migrations, history_filters, hm, repo_migrations,
    run_std, subdirs, workdir, write_migration, Run, NAMES, VERSIONS,
};

/// An unreachable PostgreSQL URL: offline commands must not need it.
const NOWHERE: &str = "postgres://nobody:Unused-Pw-77@127.0.0.1:1/none";

/// `haven-migrate --database-url DB --migration-dir migrations/sqlite ARGS` in `cwd`.
fn sq(cwd: &Path, db: &str, args: &[&str]) -> Run {
    let dir = repo_migrations("sqlite");
    let dir = dir.to_str().expect("UTF-8 path");
    let mut all = vec!["--database-url", db, "--migration-dir", dir];
    all.extend_from_slice(args);
    hm(cwd, &all)
}

/// `haven-migrate --database-url DB --migration-dir DIR ARGS` in `cwd`.
fn with_dir(cwd: &Path, db: &str, dir: &Path, args: &[&str]) -> Run {
    let dir = dir.to_str().expect("UTF-8 path");
    let mut all = vec!["--database-url", db, "--migration-dir", dir];
    all.extend_from_slice(args);
    hm(cwd, &all)
}

/// The applied versions, as `history --format json` reports them.
fn applied(cwd: &Path, db: &str, dir: &Path) -> Vec<String> {
    let run = with_dir(cwd, db, dir, &["history", "--format", "json"]);
    run.ok();
    applied_versions(&run.json())
}

/// `sqlite3 DB SQL`, panicking with stderr on failure.
#[track_caller]
fn sqlite3(db: &Path, sql: &str) -> String {
    let run = run_std(StdCommand::new("sqlite3").arg(db).arg(sql));
    assert_eq!(run.code, 0, "sqlite3 failed on {sql}: {}", run.stderr);
    run.stdout
}

/// The user tables of a SQLite database, sorted (no bookkeeping, no sqlite_ internals).
fn user_tables(db: &Path) -> Vec<String> {
    sqlite3(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    )
    .lines()
    .map(str::to_owned)
    .filter(|n| !n.starts_with("__") && !n.starts_with("sqlite_"))
    .collect()
}

/// Both bookkeeping tables, as text: diesel's versions, and the side table's
/// version|name|checksum|dirty.
fn bookkeeping(db: &Path) -> String {
    sqlite3(
        db,
        "SELECT version FROM __diesel_schema_migrations ORDER BY version; \
         SELECT version, name, checksum, dirty FROM __haven_migrations ORDER BY version;",
    )
}

// ---------------------------------------------------------------- help and completions

#[test]
fn help_of_the_binary_and_of_every_subcommand_is_pinned() {
    let cwd = workdir();
    let commands = [
        "current",
        "history",
        "upgrade",
        "downgrade",
        "stamp",
        "revision",
        "check",
        "verify",
        "completions",
    ];
    let top = hm(cwd.path(), &["--help"]);
    top.ok();
    for command in commands {
        assert!(
            top.stdout.contains(&format!("\n  {command} ")),
            "--help lists {command}"
        );
    }
    for code in ["0  success", "2  bad input", "3  check", "4  integrity"] {
        assert!(top.stdout.contains(code), "--help documents exit {code}");
    }
    insta::assert_snapshot!("help", top.stdout);
    for command in commands {
        let run = hm(cwd.path(), &[command, "--help"]);
        run.ok();
        assert!(run.stderr.is_empty(), "{command} --help: {}", run.stderr);
        insta::assert_snapshot!(format!("help_{command}"), run.stdout);
    }
}

#[test]
fn version_and_missing_command() {
    let cwd = workdir();
    let run = hm(cwd.path(), &["--version"]);
    run.ok();
    assert_eq!(
        run.stdout.trim(),
        format!("haven-migrate {}", env!("CARGO_PKG_VERSION"))
    );
    // No subcommand is a usage error: exit 2 with the help on stderr.
    hm(cwd.path(), &[])
        .code(2)
        .stderr_has("Usage: haven-migrate");
    hm(cwd.path(), &["upgrade", "--no-such-flag"])
        .code(2)
        .stderr_has("--no-such-flag");
}

#[test]
fn completions_bash_prints_a_completion_script() {
    let cwd = workdir();
    let run = hm(cwd.path(), &["completions", "bash"]);
    run.ok();
    // bash accepts it and registers a completion for the binary.
    let script = cwd.path().join("haven-migrate.bash");
    fs::write(&script, &run.stdout).expect("write the completion script");
    let bash = run_std(
        StdCommand::new("bash")
            .args(["-c", "source \"$1\" && complete -p haven-migrate", "bash"])
            .arg(&script),
    );
    assert_eq!(bash.code, 0, "{}", bash.stderr);
    assert!(bash.stdout.contains("haven-migrate"), "{}", bash.stdout);
    for word in ["upgrade", "downgrade", "stamp", "--database-url", "--sql"] {
        assert!(run.stdout.contains(word), "completion knows {word}");
    }
    // It needs no database and creates none.
    assert!(!cwd.path().join("haven.db").exists());
    hm(cwd.path(), &["completions", "tcsh"]).code(2);
}

// ---------------------------------------------------------------- the commands on SQLite

#[test]
fn sqlite_upgrade_and_downgrade_to_every_kind_of_target() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    let dir = repo_migrations("sqlite");

    let current = sq(cwd, &db.url, &["current"]);
    current.ok().says(&["base (nothing applied)", "4 pending"]);

    sq(cwd, &db.url, &["upgrade", "+1"])
        .ok()
        .says(&["applied    20260101000001 initial_schema"]);
    assert_eq!(applied(cwd, &db.url, &dir), VERSIONS[..1]);
    sq(cwd, &db.url, &["current"])
        .ok()
        .says(&["20260101000001 (initial_schema)", "3 pending"]);

    // By name, then by full version.
    sq(cwd, &db.url, &["upgrade", "aurora_integration_tables"]).ok();
    assert_eq!(applied(cwd, &db.url, &dir), VERSIONS[..2]);
    sq(cwd, &db.url, &["upgrade", "20260101000003"]).ok();
    assert_eq!(applied(cwd, &db.url, &dir), VERSIONS[..3]);
    sq(cwd, &db.url, &["upgrade", "head"])
        .ok()
        .says(&["applied    20260101000004 audit_log_table"]);
    assert_eq!(applied(cwd, &db.url, &dir), VERSIONS);
    let at_head = sq(cwd, &db.url, &["current"]);
    at_head.ok();
    assert_eq!(
        at_head.stdout.trim(),
        "20260101000004 (audit_log_table) (head)"
    );
    assert_eq!(user_tables(&db.path), support::HAVEN_TABLES);
    // Nothing left to do is success.
    sq(cwd, &db.url, &["upgrade"]).ok().says(&["nothing to do"]);

    sq(cwd, &db.url, &["downgrade", "-1"])
        .ok()
        .says(&["reverted   20260101000004 audit_log_table"]);
    assert_eq!(applied(cwd, &db.url, &dir), VERSIONS[..3]);
    assert!(!user_tables(&db.path).contains(&"audit_log".to_owned()));
    // downgrade REV keeps REV applied.
    sq(cwd, &db.url, &["downgrade", "initial_schema"]).ok();
    assert_eq!(applied(cwd, &db.url, &dir), VERSIONS[..1]);
    assert_eq!(
        user_tables(&db.path),
        [
            "redemption_requests",
            "system_metrics",
            "transactions",
            "users"
        ]
    );
    sq(cwd, &db.url, &["downgrade", "base"]).ok();
    assert!(applied(cwd, &db.url, &dir).is_empty());
    assert!(
        user_tables(&db.path).is_empty(),
        "{:?}",
        user_tables(&db.path)
    );
    // The bookkeeping tables stay, and are empty.
    assert_eq!(bookkeeping(&db.path), "");
}

#[test]
fn an_exact_version_beats_a_prefix_and_a_unique_prefix_resolves() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    let dir = cwd.join("migrations");
    // diesel CLI 2.3 style 18-digit versions next to 14-digit ones: 20260301000000 is one
    // migration's full version and a prefix of another's.
    write_migration(
        &dir,
        "2026-03-01-000000_short",
        "CREATE TABLE short (x INTEGER);",
        Some("DROP TABLE short;"),
    );
    write_migration(
        &dir,
        "2026-03-01-000000-0000_long",
        "CREATE TABLE long (x INTEGER);",
        Some("DROP TABLE long;"),
    );
    write_migration(
        &dir,
        "2026-04-01-000000_later",
        "CREATE TABLE later (x INTEGER);",
        Some("DROP TABLE later;"),
    );

    with_dir(cwd, &db.url, &dir, &["upgrade", "20260301000000"]).ok();
    assert_eq!(applied(cwd, &db.url, &dir), ["20260301000000"]);
    // A unique prefix of the 18-digit version.
    with_dir(cwd, &db.url, &dir, &["upgrade", "2026030100000000"]).ok();
    assert_eq!(
        applied(cwd, &db.url, &dir),
        ["20260301000000", "202603010000000000"]
    );
    // A prefix of two versions is ambiguous and names exactly those two.
    let before = applied(cwd, &db.url, &dir);
    let run = with_dir(cwd, &db.url, &dir, &["downgrade", "2026030"]);
    run.code(2).stderr_has("ambiguous revision `2026030`");
    assert!(
        run.stderr.contains("20260301000000 (short)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("202603010000000000 (long)"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("later"),
        "only the matching ones: {}",
        run.stderr
    );
    assert_eq!(applied(cwd, &db.url, &dir), before);
    // A unique prefix of the third.
    with_dir(cwd, &db.url, &dir, &["upgrade", "202604"]).ok();
    assert_eq!(applied(cwd, &db.url, &dir).len(), 3);
    with_dir(cwd, &db.url, &dir, &["downgrade", "20260301000000"]).ok();
    assert_eq!(applied(cwd, &db.url, &dir), ["20260301000000"]);
}

#[test]
fn a_name_shared_by_two_migrations_is_ambiguous_and_the_directory_name_is_not() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    let dir = cwd.join("migrations");
    for name in [
        "2026-01-01-000001_add_index",
        "2026-01-02-000001_add_index",
        "2026-01-03-000001_other",
    ] {
        write_migration(&dir, name, "SELECT 1;", Some("SELECT 1;"));
    }
    let run = with_dir(cwd, &db.url, &dir, &["upgrade", "add_index"]);
    run.code(2)
        .stderr_has("ambiguous revision `add_index`")
        .stderr_has("20260101000001 (add_index), 20260102000001 (add_index)");
    assert!(!run.stderr.contains("other"), "{}", run.stderr);
    assert!(!db.path.exists(), "nothing was applied");
    // Neither a typo creates the database, whatever the command.
    for args in [
        ["upgrade", "nope"],
        ["downgrade", "nope"],
        ["stamp", "add_index"],
    ] {
        with_dir(cwd, &db.url, &dir, &args).code(2);
        assert!(!db.path.exists(), "{args:?} created the database");
    }
    with_dir(
        cwd,
        &db.url,
        &dir,
        &["upgrade", "2026-01-01-000001_add_index"],
    )
    .ok();
    assert_eq!(applied(cwd, &db.url, &dir), ["20260101000001"]);
    with_dir(cwd, &db.url, &dir, &["upgrade", "other"]).ok();
    assert_eq!(applied(cwd, &db.url, &dir).len(), 3);
}

#[test]
fn sqlite_stamp_head_base_rev_and_purge() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    let dir = repo_migrations("sqlite");

    sq(cwd, &db.url, &["stamp", "head"]).ok().says(&[
        "recorded   20260101000001 initial_schema",
        "recorded 4 migration(s)",
    ]);
    assert_eq!(applied(cwd, &db.url, &dir), VERSIONS);
    // Stamp runs no migration SQL.
    assert!(user_tables(&db.path).is_empty());
    // The side table records the checksums, so nothing shows as unverified.
    let check = sq(cwd, &db.url, &["check"]);
    check.ok();
    assert!(!check.stdout.contains("warning"), "{}", check.stdout);

    sq(cwd, &db.url, &["stamp", "aurora_integration_tables"])
        .ok()
        .says(&["unrecorded 20260101000004", "unrecorded 20260101000003"]);
    assert_eq!(applied(cwd, &db.url, &dir), VERSIONS[..2]);
    sq(cwd, &db.url, &["stamp", "20260101000003"]).ok();
    assert_eq!(applied(cwd, &db.url, &dir), VERSIONS[..3]);
    sq(cwd, &db.url, &["stamp", "base"]).ok();
    assert!(applied(cwd, &db.url, &dir).is_empty());
    assert_eq!(bookkeeping(&db.path), "");

    // --purge also removes versions that no migration has; without it they stay.
    sq(cwd, &db.url, &["stamp", "head"]).ok();
    sqlite3(
        &db.path,
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('20200101000000')",
    );
    sq(cwd, &db.url, &["stamp", "head"]).ok();
    assert!(bookkeeping(&db.path).contains("20200101000000"));
    sq(cwd, &db.url, &["stamp", "head", "--purge"])
        .ok()
        .says(&["unrecorded 20200101000000"]);
    assert!(!bookkeeping(&db.path).contains("20200101000000"));
    sq(cwd, &db.url, &["check"]).ok();
}

#[test]
fn sqlite_check_exits_0_3_and_4() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    // Nothing applied (and no file yet): pending.
    sq(cwd, &db.url, &["check"])
        .code(3)
        .says(&["pending", "run `haven-migrate upgrade head`"]);
    sq(cwd, &db.url, &["upgrade", "+3"]).ok();
    sq(cwd, &db.url, &["check"]).code(3).says(&["1 pending"]);
    sq(cwd, &db.url, &["upgrade"]).ok();
    sq(cwd, &db.url, &["check"])
        .ok()
        .says(&["ok: 20260101000004"]);
    // An edited applied migration is an integrity problem.
    sqlite3(
        &db.path,
        "UPDATE __haven_migrations SET checksum = 'edited' WHERE version = '20260101000002'",
    );
    sq(cwd, &db.url, &["check"])
        .code(4)
        .says(&["20260101000002", "edited"]);
    // 4 beats 3: also make one pending.
    sq(cwd, &db.url, &["stamp", "-1"]).ok();
    let run = sq(cwd, &db.url, &["check", "--format", "json"]);
    run.code(4);
    let report = run.json();
    assert_eq!(report["ok"], false);
    assert_eq!(report["at_head"], false);
    assert_eq!(report["problems"][0]["kind"], "edited");
    assert_eq!(report["problems"][0]["version"], "20260101000002");
}

#[test]
fn zero_steps_are_no_ops() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    let dir = repo_migrations("sqlite");
    sq(cwd, &db.url, &["upgrade", "+2"]).ok();
    let before = bookkeeping(&db.path);
    for args in [
        ["upgrade", "+0"],
        ["downgrade", "-0"],
        ["stamp", "+0"],
        ["stamp", "-0"],
    ] {
        sq(cwd, &db.url, &args).ok();
        assert_eq!(bookkeeping(&db.path), before, "{args:?} changed nothing");
    }
    assert_eq!(applied(cwd, &db.url, &dir), VERSIONS[..2]);
}

#[test]
fn global_flags_work_before_and_after_the_subcommand() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    let dir = repo_migrations("sqlite");
    let dir = dir.to_str().expect("UTF-8");
    hm(
        cwd,
        &[
            "upgrade",
            "+1",
            "--database-url",
            &db.url,
            "--migration-dir",
            dir,
            "-q",
        ],
    )
    .ok();
    let after = hm(
        cwd,
        &[
            "current",
            "--format",
            "json",
            "--database-url",
            &db.url,
            "--migration-dir",
            dir,
        ],
    );
    after.ok();
    assert_eq!(after.json()["current"], VERSIONS[0]);
    let mixed = hm(
        cwd,
        &[
            "--format",
            "json",
            "current",
            "--database-url",
            &db.url,
            "--migration-dir",
            dir,
        ],
    );
    assert_eq!(mixed.json()["current"], VERSIONS[0]);
    let before = hm(
        cwd,
        &[
            "--database-url",
            &db.url,
            "--migration-dir",
            dir,
            "--format=json",
            "current",
        ],
    );
    assert_eq!(before.json()["current"], VERSIONS[0]);
    // -q after the subcommand silences the step lines.
    let quiet = hm(
        cwd,
        &[
            "upgrade",
            "--database-url",
            &db.url,
            "--migration-dir",
            dir,
            "-q",
        ],
    );
    quiet.ok();
    assert_eq!(quiet.stdout, "", "-q prints nothing on success");
    // -v after the subcommand says where the migrations come from.
    hm(
        cwd,
        &[
            "current",
            "--database-url",
            &db.url,
            "--migration-dir",
            dir,
            "-v",
        ],
    )
    .ok()
    .stderr_has("from --migration-dir");
}

/// Text `current` shows the position only (the library then builds no row per migration);
/// `-v` still shows when the current one ran, JSON still lists every migration, and a
/// recorded version that no migration has is still named.
#[test]
fn current_rows_follow_what_the_output_shows() {
    let cwd = workdir();
    let db = cwd.path().join("h.db");
    let url = db.to_str().expect("UTF-8");
    sq(cwd.path(), url, &["upgrade", "+2"]).ok();
    let text = sq(cwd.path(), url, &["current"]);
    text.ok();
    assert_eq!(
        text.stdout,
        format!(
            "{} ({}); not up to date: 2 pending, head is {} ({}); run `haven-migrate upgrade head`\n",
            VERSIONS[1], NAMES[1], VERSIONS[3], NAMES[3]
        )
    );
    let verbose = sq(cwd.path(), url, &["current", "-v"]);
    verbose.ok();
    let run_on = verbose
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("  run on:     "))
        .unwrap_or_else(|| panic!("no run-on line:\n{}", verbose.stdout));
    assert!(run_on.starts_with("20") && run_on.len() == 19, "{run_on}");
    let json = sq(cwd.path(), url, &["current", "--format", "json"]);
    json.ok();
    assert_eq!(
        applied_flags(&json.json()),
        VERSIONS
            .iter()
            .enumerate()
            .map(|(i, v)| (v.to_string(), i < 2))
            .collect::<Vec<_>>()
    );
    sqlite3(
        &db,
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('20990101000000')",
    );
    let unknown = sq(cwd.path(), url, &["current"]);
    unknown
        .ok()
        .says(&["20990101000000 (unknown to the migrations)"]);
}

#[test]
fn read_only_commands_never_create_the_sqlite_file() {
    let cwd = workdir();
    let db = cwd.path().join("never.db");
    let url = db.to_str().expect("UTF-8");
    for args in [
        vec!["current"],
        vec!["current", "--verbose"],
        vec!["history"],
        vec!["history", "--verbose"],
        vec!["upgrade", "--sql"],
        vec!["upgrade", "+2", "--sql"],
        vec!["upgrade", "--dry-run"],
        vec!["stamp", "head", "--sql"],
        vec!["downgrade", "base", "--sql"],
    ] {
        let run = sq(cwd.path(), url, &args);
        run.ok();
        assert!(!db.exists(), "{args:?} created {}", db.display());
        assert!(
            !cwd.path().join("never.db.lock").exists(),
            "{args:?} created a lock file"
        );
    }
    sq(cwd.path(), url, &["check"]).code(3);
    assert!(!db.exists(), "check created {}", db.display());
    // The embedded set, too.
    hm(cwd.path(), &["--database-url", url, "history"]).ok();
    assert!(!db.exists());
    // The dry run lists the plan, not SQL.
    let dry = sq(cwd.path(), url, &["upgrade", "--dry-run"]);
    dry.says(&[
        "plan (4 step(s), nothing is written)",
        "1. apply 20260101000001 initial_schema (in its own transaction)",
        "4. apply 20260101000004 audit_log_table",
    ]);
    assert!(!dry.stdout.contains("CREATE TABLE"), "{}", dry.stdout);
}

#[test]
fn without_any_database_url_the_embedded_default_haven_db_is_used_and_announced() {
    let cwd = workdir();
    let default_db = cwd.path().join("haven.db");
    let run = hm(cwd.path(), &["current"]);
    run.ok()
        .stderr_has("no DATABASE_URL")
        .stderr_has("./haven.db");
    assert!(!default_db.exists(), "current must not create ./haven.db");
    // Embedded migrations: nothing on disk around the temp dir.
    hm(cwd.path(), &["history", "--verbose"])
        .ok()
        .says(&["embedded in this binary"]);
    hm(cwd.path(), &["upgrade"])
        .ok()
        .stderr_has("./haven.db")
        .says(&["applied 4 migration(s)"]);
    assert!(default_db.is_file(), "upgrade creates ./haven.db");
    assert!(bookkeeping(&default_db).contains("20260101000004|audit_log_table|"));
    // -q silences the note.
    let quiet = hm(cwd.path(), &["-q", "check"]);
    quiet.ok();
    assert_eq!(quiet.stderr, "");
}

#[test]
fn a_diesel_toml_in_the_working_dir_selects_the_sibling_for_a_sqlite_url() {
    let (tmp, migrations) = copy_of_repo_migrations();
    fs::write(
        tmp.path().join("diesel.toml"),
        "[migrations_directory]\ndir = \"migrations/postgres\"\n",
    )
    .expect("write diesel.toml");
    let db = tmp.path().join("t.db");
    let url = db.to_str().expect("UTF-8");
    let run = hm(tmp.path(), &["--database-url", url, "history", "--verbose"]);
    run.ok();
    assert!(
        run.stdout
            .contains(&format!("{}", migrations.join("sqlite").display())),
        "reads the sqlite sibling: {}",
        run.stdout
    );
    assert!(run.stdout.contains("diesel.toml"), "{}", run.stdout);
    // --migration-dir wins over diesel.toml.
    let flagged = hm(
        tmp.path(),
        &[
            "--database-url",
            url,
            "--migration-dir",
            "elsewhere",
            "history",
        ],
    );
    flagged.code(2).stderr_has("elsewhere");
}

#[test]
fn from_the_repo_root_diesel_toml_selects_the_backend_directory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let db = support::sqlite_database();
    // Read-only commands only: nothing in the checkout may change.
    let sqlite = hm(root, &["--database-url", &db.url, "history", "--verbose"]);
    sqlite.ok();
    let expected = format!(
        "migrations: {} (from {})",
        root.join("migrations/sqlite").display(),
        root.join("diesel.toml").display()
    );
    assert!(sqlite.stdout.contains(&expected), "{}", sqlite.stdout);
    assert!(!db.path.exists());
    let pg = hm(
        root,
        &[
            "--database-url",
            NOWHERE,
            "-v",
            "upgrade",
            "base:head",
            "--sql",
        ],
    );
    pg.ok();
    let expected = format!(
        "migrations: {} (from {})",
        root.join("migrations/postgres").display(),
        root.join("diesel.toml").display()
    );
    assert!(pg.stderr.contains(&expected), "{}", pg.stderr);
    assert!(pg.stdout.contains("upgrade script for PostgreSQL"));
}

#[test]
fn history_shows_every_migration_and_takes_an_inclusive_range() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    sq(cwd, &db.url, &["upgrade", "+2"]).ok();
    let run = sq(cwd, &db.url, &["history"]);
    run.ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(VERSIONS[i]), "{line}");
        assert!(line.contains(NAMES[i]), "{line}");
        let state = if i < 2 { " applied " } else { " pending " };
        assert!(line.contains(state), "{line}");
    }
    assert!(lines[1].ends_with("(current)"), "{}", lines[1]);
    assert!(lines[3].ends_with("(head)"), "{}", lines[3]);

    let range = |r: &str| -> Vec<String> {
        let run = sq(cwd, &db.url, &["history", "--format", "json", "-r", r]);
        run.ok();
        applied_flags(&run.json())
            .into_iter()
            .map(|(v, _)| v)
            .collect()
    };
    assert_eq!(
        range("initial_schema:aurora_integration_tables"),
        VERSIONS[..2]
    );
    assert_eq!(range(":20260101000002"), VERSIONS[..2]);
    assert_eq!(range("20260101000003:"), VERSIONS[2..]);
    assert_eq!(range("base:head"), VERSIONS);
    assert_eq!(range(":"), VERSIONS);
    assert_eq!(range("20260101000002:20260101000002"), VERSIONS[1..2]);
    sq(cwd, &db.url, &["history", "-r", "nope:"])
        .code(2)
        .stderr_has("unknown revision `nope`");
}

#[test]
fn json_output_is_one_object_for_success_and_for_failure() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    sq(cwd, &db.url, &["upgrade", "+1", "-q"]).ok();
    let run = sq(cwd, &db.url, &["history", "--format", "json"]);
    run.ok();
    let report = run.json();
    assert_eq!(report["command"], "history");
    assert_eq!(report["ok"], true);
    assert!(report["error"].is_null());
    assert_eq!(report["current"], VERSIONS[0]);
    assert_eq!(report["head"], VERSIONS[3]);
    assert_eq!(report["at_head"], false);
    assert_eq!(report["problems"], serde_json::json!([]));
    let migrations = report["migrations"].as_array().expect("array");
    assert_eq!(migrations.len(), 4);
    let first = &migrations[0];
    assert_eq!(first["version"], VERSIONS[0]);
    assert_eq!(first["name"], NAMES[0]);
    assert_eq!(first["applied"], true);
    assert_eq!(first["checksum_ok"], true);
    let run_on = first["run_on"]
        .as_str()
        .expect("run_on is a string when applied");
    assert!(
        chrono_like(run_on),
        "run_on looks like a timestamp: {run_on}"
    );
    let last = &migrations[3];
    assert_eq!(last["applied"], false);
    assert!(last["run_on"].is_null());
    assert!(last["checksum_ok"].is_null());

    // A write command: the object, and the step lines on stderr only.
    let up = sq(cwd, &db.url, &["upgrade", "--format", "json"]);
    up.ok();
    let report = up.json();
    assert_eq!(report["command"], "upgrade");
    assert_eq!(report["at_head"], true);
    assert_eq!(report["current"], VERSIONS[3]);
    assert_eq!(applied_versions(&report), VERSIONS);

    // Failures: still exactly one object on stdout, with the error.
    for (args, kind, code) in [
        (vec!["upgrade", "nope"], "unknown_revision", 2),
        (vec!["downgrade", "-9"], "bad_input", 2),
        (vec!["upgrade", "2026"], "ambiguous_revision", 2),
    ] {
        let mut all = args.clone();
        all.extend(["--format", "json"]);
        let run = sq(cwd, &db.url, &all);
        run.code(code);
        let report = run.json();
        assert_eq!(report["ok"], false, "{args:?}");
        assert_eq!(report["command"], args[0]);
        assert_eq!(report["error"]["kind"], kind, "{args:?}");
        let message = report["error"]["message"].as_str().expect("message");
        assert!(
            message.contains(args[1].trim_start_matches('-')),
            "{message}"
        );
        for key in ["current", "head", "at_head", "migrations", "problems"] {
            assert!(report.get(key).is_some(), "{key} present on failure");
        }
    }
    // A usage error, too.
    let usage = sq(cwd, &db.url, &["--format", "json", "upgrade", "--bogus"]);
    usage.code(2);
    assert_eq!(usage.json()["ok"], false);
    assert_eq!(usage.json()["error"]["kind"], "usage");
    let message = usage.json()["error"]["message"].clone();
    assert!(
        message.as_str().expect("message").contains("'--bogus'"),
        "{message}"
    );
    // An integrity failure carries its problems.
    sqlite3(
        &db.path,
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('20991231235959')",
    );
    let refused = sq(cwd, &db.url, &["upgrade", "--format", "json"]);
    refused.code(4);
    let report = refused.json();
    assert_eq!(report["error"]["kind"], "integrity");
    assert_eq!(report["problems"][0]["kind"], "missing");
    assert_eq!(report["problems"][0]["version"], "20991231235959");
    assert!(report["problems"][0]["message"]
        .as_str()
        .expect("message")
        .contains("stamp"));
}

/// `YYYY-MM-DD hh:mm:ss`.
fn chrono_like(text: &str) -> bool {
    text.len() == 19
        && text.chars().enumerate().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            _ => c.is_ascii_digit(),
        })
}

// ---------------------------------------------------------------- bad input

/// Asserts that `args` fails with `code` and says each of `needles`, and that the database
/// (bookkeeping and tables) is unchanged.
#[track_caller]
fn refused(db: &support::SqliteTestDb, args: &[&str], code: i32, needles: &[&str]) -> Run {
    let (tables, books) = (user_tables(&db.path), bookkeeping(&db.path));
    let run = sq(db.dir.path(), &db.url, args);
    run.code(code).says(needles);
    assert_eq!(user_tables(&db.path), tables, "{args:?} changed the tables");
    assert_eq!(
        bookkeeping(&db.path),
        books,
        "{args:?} changed the bookkeeping"
    );
    run
}

#[test]
fn bad_targets_exit_2_and_change_nothing() {
    let db = support::sqlite_database();
    sq(db.dir.path(), &db.url, &["upgrade", "+2"]).ok();
    let unknown = refused(&db, &["upgrade", "nope"], 2, &["unknown revision `nope`"]);
    for (v, n) in VERSIONS.iter().zip(NAMES) {
        assert!(
            unknown.stderr.contains(&format!("{v} ({n})")),
            "lists candidates"
        );
    }
    refused(&db, &["downgrade", "nope"], 2, &["unknown revision `nope`"]);
    refused(&db, &["stamp", "nope"], 2, &["unknown revision `nope`"]);
    refused(
        &db,
        &["upgrade", "2026010100000"],
        2,
        &[
            "ambiguous revision `2026010100000`",
            "20260101000003 (tribe_integration_tables)",
        ],
    );
    refused(
        &db,
        &["upgrade", "+3"],
        2,
        &["cannot upgrade +3", "only 2 migration(s) are pending"],
    );
    refused(
        &db,
        &["downgrade", "-3"],
        2,
        &["cannot downgrade -3", "only 2 migration(s) are applied"],
    );
    refused(&db, &["upgrade", "base"], 2, &["downgrade"]);
    refused(&db, &["downgrade", "+1"], 2, &["upgrade"]);
    refused(&db, &["upgrade", "+x"], 2, &["not a step count"]);
    refused(&db, &["upgrade", "base:head"], 2, &["only --sql takes"]);
    // downgrade REV when REV is not applied.
    refused(
        &db,
        &["downgrade", "audit_log_table"],
        2,
        &["20260101000004", "not applied"],
    );
    refused(&db, &["revision"], 2, &["--message"]);
}

#[test]
fn a_database_version_unknown_to_the_migrations_is_named_with_stamp_suggested() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    sq(cwd, &db.url, &["upgrade", "-q"]).ok();
    sqlite3(
        &db.path,
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('20991231235959')",
    );
    // current and history show it but exit 0.
    let current = sq(cwd, &db.url, &["current"]);
    current
        .ok()
        .says(&["20991231235959", "unknown to the migrations"]);
    assert!(!current.stdout.contains("(head)"), "{}", current.stdout);
    let history = sq(cwd, &db.url, &["history"]);
    history.ok();
    let row = history
        .stdout
        .lines()
        .find(|l| l.starts_with("20991231235959"))
        .expect("history lists the unknown version");
    assert!(
        row.contains("MISSING") && row.contains("not in the migrations"),
        "{row}"
    );
    // check and upgrade exit 4, naming it and suggesting stamp.
    refused(
        &db,
        &["check"],
        4,
        &["20991231235959", "stamp", "--migration-dir"],
    );
    refused(&db, &["upgrade"], 4, &["20991231235959", "stamp"]);
    refused(&db, &["downgrade", "-1"], 4, &["20991231235959"]);
    // stamp is the repair tool.
    sq(cwd, &db.url, &["stamp", "head", "--purge"]).ok();
    sq(cwd, &db.url, &["check"]).ok();
}

#[test]
fn a_malformed_migration_directory_name_is_exit_2() {
    let db = support::sqlite_database();
    let dir = db.dir.path().join("m");
    write_migration(&dir, "2026-01-01-000001_ok", "SELECT 1;", Some("SELECT 1;"));
    write_migration(&dir, "add_users", "SELECT 1;", Some("SELECT 1;"));
    for args in [
        &["upgrade"][..],
        &["current"],
        &["check"],
        &["upgrade", "--sql"],
    ] {
        let run = with_dir(db.dir.path(), &db.url, &dir, args);
        run.code(2)
            .stderr_has("add_users")
            .stderr_has("<timestamp>_<name>");
    }
    assert!(!db.path.exists(), "nothing was opened or created");
}

#[test]
fn a_migration_without_up_sql_is_exit_2() {
    let db = support::sqlite_database();
    let dir = db.dir.path().join("m");
    write_migration(
        &dir,
        "2026-01-01-000001_ok",
        "CREATE TABLE ok (x INTEGER);",
        Some("DROP TABLE ok;"),
    );
    fs::create_dir_all(dir.join("2026-01-01-000002_empty")).expect("mkdir");
    fs::write(dir.join("2026-01-01-000002_empty/down.sql"), "SELECT 1;").expect("write");
    let run = with_dir(db.dir.path(), &db.url, &dir, &["upgrade"]);
    run.code(2)
        .stderr_has("20260101000002")
        .stderr_has("up.sql");
    assert!(!db.path.exists(), "nothing was applied");
}

#[test]
fn a_metadata_toml_that_does_not_parse_is_exit_2_and_named() {
    let db = support::sqlite_database();
    let dir = db.dir.path().join("m");
    write_migration(
        &dir,
        "2026-01-01-000001_ok",
        "CREATE TABLE ok (x INTEGER);",
        Some("DROP TABLE ok;"),
    );
    with_dir(db.dir.path(), &db.url, &dir, &["upgrade"]).ok();
    let (tables, books) = (user_tables(&db.path), bookkeeping(&db.path));
    write_migration(
        &dir,
        "2026-01-01-000002_odd",
        "CREATE TABLE odd (x INTEGER);",
        Some("DROP TABLE odd;"),
    );
    fs::write(
        dir.join("2026-01-01-000002_odd/metadata.toml"),
        "run_in_transaction = maybe\n",
    )
    .expect("write");
    let run = with_dir(db.dir.path(), &db.url, &dir, &["upgrade"]);
    run.code(2)
        .stderr_has("2026-01-01-000002_odd/metadata.toml")
        .stderr_has("metadata.toml does not parse");
    assert_eq!(user_tables(&db.path), tables, "nothing was applied");
    assert_eq!(bookkeeping(&db.path), books);
}

#[test]
fn duplicate_versions_are_exit_2() {
    let db = support::sqlite_database();
    let dir = db.dir.path().join("m");
    // The same version once with dashes and once without.
    write_migration(
        &dir,
        "2026-01-01-000001_one",
        "CREATE TABLE one (x INTEGER);",
        Some("DROP TABLE one;"),
    );
    write_migration(
        &dir,
        "20260101000001_other",
        "CREATE TABLE other (x INTEGER);",
        Some("DROP TABLE other;"),
    );
    let run = with_dir(db.dir.path(), &db.url, &dir, &["upgrade"]);
    run.code(2)
        .stderr_has("20260101000001")
        .stderr_has("2026-01-01-000001_one")
        .stderr_has("20260101000001_other");
    assert!(!db.path.exists());
    with_dir(db.dir.path(), &db.url, &dir, &["check"]).code(2);
}

#[test]
fn a_missing_down_sql_stops_a_downgrade_before_anything_is_reverted() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    let dir = cwd.join("m");
    // The OLDEST lacks down.sql: `downgrade base` must not revert the newer ones first.
    write_migration(
        &dir,
        "2026-01-01-000001_one",
        "CREATE TABLE one (x INTEGER);",
        None,
    );
    write_migration(
        &dir,
        "2026-01-01-000002_two",
        "CREATE TABLE two (x INTEGER);",
        Some("DROP TABLE two;"),
    );
    write_migration(
        &dir,
        "2026-01-01-000003_three",
        "CREATE TABLE three (x INTEGER);",
        Some("DROP TABLE three;"),
    );
    with_dir(cwd, &db.url, &dir, &["upgrade"]).ok();
    let (tables, books) = (user_tables(&db.path), bookkeeping(&db.path));
    let run = with_dir(cwd, &db.url, &dir, &["downgrade", "base"]);
    run.code(2)
        .stderr_has("20260101000001")
        .stderr_has("down.sql");
    assert_eq!(user_tables(&db.path), tables, "nothing reverted");
    assert_eq!(bookkeeping(&db.path), books);
    assert_eq!(tables, ["one", "three", "two"]);
    // A downgrade that does not need it works.
    with_dir(cwd, &db.url, &dir, &["downgrade", "-2"]).ok();
    assert_eq!(user_tables(&db.path), ["one"]);
    // history --verbose says which one cannot be reverted.
    let history = with_dir(cwd, &db.url, &dir, &["history", "--verbose"]);
    history.ok().says(&["down.sql: NO"]);
}

#[test]
fn unsupported_url_schemes_are_exit_2_without_the_password() {
    let cwd = workdir();
    for url in ["mysql://root:Hunter2-Secret@db/haven", "foo://x"] {
        for args in [&["current"][..], &["upgrade"], &["-v", "check"]] {
            let mut all = vec!["--database-url", url];
            all.extend_from_slice(args);
            let run = hm(cwd.path(), &all);
            run.code(2).stderr_has("unsupported database URL scheme");
            assert!(!run.all().contains("Hunter2-Secret"), "{}", run.all());
            assert!(!run.all().contains("panicked"), "{}", run.all());
        }
    }
    let json = hm(
        cwd.path(),
        &[
            "--database-url",
            "mysql://root:Hunter2-Secret@db/haven",
            "current",
            "--format",
            "json",
        ],
    );
    json.code(2);
    assert_eq!(json.json()["error"]["kind"], "unsupported_scheme");
    assert!(!json.all().contains("Hunter2-Secret"));
}

#[test]
fn every_sqlite_url_form_names_the_same_kind_of_file() {
    let cwd = workdir();
    let abs = cwd.path().join("abs.db");
    let uri = cwd.path().join("uri.db");
    for (url, file) in [
        (format!("sqlite://{}", abs.display()), abs.clone()),
        (format!("file:{}", uri.display()), uri.clone()),
        ("sqlite:rel.db".to_owned(), cwd.path().join("rel.db")),
        ("plain.db".to_owned(), cwd.path().join("plain.db")),
    ] {
        hm(cwd.path(), &["--database-url", &url, "current"]).ok();
        assert!(!file.exists(), "{url}: current created {}", file.display());
        hm(cwd.path(), &["--database-url", &url, "upgrade", "-q"]).ok();
        assert!(file.is_file(), "{url} created {}", file.display());
        assert_eq!(user_tables(&file).len(), 9, "{url}");
        let current = hm(cwd.path(), &["--database-url", &url, "current"]);
        assert_eq!(
            current.stdout.trim(),
            "20260101000004 (audit_log_table) (head)"
        );
    }
}

#[test]
fn an_unopenable_sqlite_path_is_exit_1() {
    let cwd = workdir();
    let url = cwd.path().join("no/such/dir/x.db");
    let url = url.to_str().expect("UTF-8");
    hm(cwd.path(), &["--database-url", url, "upgrade"])
        .code(1)
        .stderr_has("no/such/dir");
}

#[test]
fn a_failing_statement_names_the_migration_and_keeps_the_earlier_ones() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    let dir = cwd.join("m");
    write_migration(
        &dir,
        "2026-01-01-000001_good",
        "CREATE TABLE good (x INTEGER);",
        Some("DROP TABLE good;"),
    );
    write_migration(
        &dir,
        "2026-01-01-000002_bad",
        "CREATE TABLE half (x INTEGER);\nINSERT INTO half VALUES (1);\nINSERT INTO no_such_table VALUES (1);\n",
        Some("DROP TABLE half;"),
    );
    write_migration(
        &dir,
        "2026-01-01-000003_after",
        "CREATE TABLE after (x INTEGER);",
        Some("DROP TABLE after;"),
    );
    let run = with_dir(cwd, &db.url, &dir, &["upgrade"]);
    run.code(1)
        .stderr_has("20260101000002 (bad)")
        .stderr_has("no such table: no_such_table");
    assert_eq!(user_tables(&db.path), ["good"], "nothing of `bad` remains");
    assert_eq!(applied(cwd, &db.url, &dir), ["20260101000001"]);
    let books = bookkeeping(&db.path);
    assert!(!books.contains("20260101000002"), "{books}");
    // In JSON too.
    let json = with_dir(cwd, &db.url, &dir, &["upgrade", "--format", "json"]);
    json.code(1);
    assert_eq!(json.json()["error"]["kind"], "migration_failed");
    assert_eq!(user_tables(&db.path), ["good"]);
}

// ---------------------------------------------------------------- --sql

#[test]
fn offline_sql_needs_no_connection() {
    let cwd = workdir();
    for (args, needle) in [
        (
            &["upgrade", "base:head", "--sql"][..],
            "-- Apply 20260101000004 audit_log_table",
        ),
        (
            &["upgrade", "initial_schema:20260101000002", "--sql"],
            "-- Apply 20260101000002",
        ),
        (
            &["downgrade", "head:base", "--sql"],
            "-- Revert 20260101000001 initial_schema",
        ),
        (
            &["downgrade", "head:aurora_integration_tables", "--sql"],
            "-- Revert 20260101000003",
        ),
        (
            &["stamp", "base:head", "--sql"],
            "INSERT INTO __diesel_schema_migrations",
        ),
    ] {
        let mut all = vec!["--database-url", NOWHERE];
        all.extend_from_slice(args);
        let run = hm(cwd.path(), &all);
        run.ok().says(&[needle]);
        assert!(!run.all().contains("Unused-Pw-77"));
    }
    // FROM counts as applied and is not emitted; TO is included.
    let partial = hm(
        cwd.path(),
        &[
            "--database-url",
            NOWHERE,
            "upgrade",
            "initial_schema:20260101000003",
            "--sql",
        ],
    );
    partial.ok();
    assert!(!partial.stdout.contains("-- Apply 20260101000001"));
    assert!(partial.stdout.contains("-- Apply 20260101000002"));
    assert!(partial.stdout.contains("-- Apply 20260101000003"));
    assert!(!partial.stdout.contains("-- Apply 20260101000004"));
    let down = hm(
        cwd.path(),
        &[
            "--database-url",
            NOWHERE,
            "downgrade",
            "head:aurora_integration_tables",
            "--sql",
        ],
    );
    assert!(down.stdout.contains("-- Revert 20260101000004"));
    assert!(down.stdout.contains("-- Revert 20260101000003"));
    assert!(!down.stdout.contains("-- Revert 20260101000002"));
    // And without FROM:TO it does need the database.
    hm(cwd.path(), &["--database-url", NOWHERE, "upgrade", "--sql"]).code(1);
}

/// `haven-migrate --database-url NOWHERE --migration-dir DIR ARGS`, as a std command whose
/// stdout the caller chooses.
fn offline_sql(cwd: &Path, dir: &Path, args: &[&str]) -> StdCommand {
    let mut cmd = support::haven_on(NOWHERE, dir, cwd);
    cmd.args(args);
    cmd
}

/// A script is written as it is rendered: a file it needs that cannot be read stops it
/// before its first byte, a full disk is an error, and a reader that goes away is not.
#[test]
fn sql_scripts_are_written_whole_or_not_at_all() {
    let cwd = workdir();
    let dir = cwd.path().join("m");
    // Enough migrations for a script several times a pipe's buffer (64 KiB).
    let padding = "-- padding to make the script large\n".repeat(30);
    for i in 1..=200 {
        write_migration(
            &dir,
            &format!("2026-01-01-{i:06}_table_{i}"),
            &format!("CREATE TABLE t{i} (x INTEGER);\n{padding}"),
            Some(&format!("DROP TABLE t{i};\n{padding}")),
        );
    }
    let full_script = run_std(&mut offline_sql(
        cwd.path(),
        &dir,
        &["downgrade", "head:base", "--sql"],
    ));
    full_script.ok();
    assert!(
        full_script.stdout.len() > 4 * 65536,
        "{}",
        full_script.stdout.len()
    );
    assert!(full_script.stdout.ends_with("COMMIT;\n\n"));

    // The last one reverted is not UTF-8 text (exit 2, naming it): nothing of the script is
    // written.
    let oldest = dir.join("2026-01-01-000001_table_1/down.sql");
    fs::write(&oldest, b"DROP TABLE t1; -- \xff not UTF-8\n").expect("write");
    let unreadable = run_std(&mut offline_sql(
        cwd.path(),
        &dir,
        &["downgrade", "head:base", "--sql"],
    ));
    unreadable
        .code(2)
        .stderr_has("not UTF-8")
        .stderr_has("000001_table_1/down.sql");
    assert_eq!(unreadable.stdout, "", "no partial script");
    // Every command that reads the migrations' files refuses a set with such a file: mend it.
    fs::write(&oldest, b"DROP TABLE t1;\n").expect("write");

    // A full disk is an error that names what could not be written.
    let mut to_full = offline_sql(cwd.path(), &dir, &["upgrade", "base:head", "--sql"]);
    to_full.stdout(fs::File::create("/dev/full").expect("/dev/full"));
    let full = run_std(&mut to_full);
    full.code(1)
        .stderr_has("cannot write the script to the output");

    // A reader that closes its end first (`| head`): not an error, nothing on stderr.
    let mut child = offline_sql(cwd.path(), &dir, &["upgrade", "base:head", "--sql"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn upgrade_sql_of_the_haven_migrations_is_pinned() {
    let cwd = workdir();
    for backend in ["postgres", "sqlite"] {
        let url = if backend == "postgres" {
            NOWHERE.to_owned()
        } else {
            cwd.path().join("x.db").display().to_string()
        };
        // The embedded set, which is what a deploy runs.
        let run = hm(
            cwd.path(),
            &["--database-url", &url, "upgrade", "base:head", "--sql"],
        );
        run.ok();
        let script = &run.stdout;
        assert_eq!(
            script.matches("\nBEGIN;\n").count(),
            4,
            "one transaction each"
        );
        assert_eq!(script.matches("\nCOMMIT;\n").count(), 4);
        for v in VERSIONS {
            assert!(script.contains(&format!(
                "INSERT INTO __diesel_schema_migrations (version) VALUES ('{v}')"
            )));
        }
        insta::assert_snapshot!(format!("upgrade_sql_{backend}"), script);
    }
}

/// Applies a script the documented way: `sqlite3 DB < FILE`.
#[track_caller]
fn sqlite3_script(db: &Path, script: &str) {
    let file = db.with_extension("sql");
    fs::write(&file, script).expect("write the script");
    let run = run_std(
        StdCommand::new("sh")
            .args(["-c", "sqlite3 \"$1\" < \"$2\"", "sh"])
            .arg(db)
            .arg(&file),
    );
    assert_eq!(
        run.code, 0,
        "sqlite3 failed: {}\n{}",
        run.stderr, run.stdout
    );
    assert!(run.stderr.is_empty(), "sqlite3 complained: {}", run.stderr);
}

fn sqlite_schema(db: &Path) -> String {
    sqlite3(db, ".schema")
}

#[test]
fn sqlite_sql_scripts_leave_the_same_database_as_the_real_commands() {
    let real = support::sqlite_database();
    let scripted = support::sqlite_database();
    let cwd = workdir();
    sq(cwd.path(), &real.url, &["upgrade"]).ok();
    let up = sq(
        cwd.path(),
        &scripted.url,
        &["upgrade", "base:head", "--sql"],
    );
    up.ok();
    assert!(!scripted.path.exists(), "--sql wrote nothing");
    sqlite3_script(&scripted.path, &up.stdout);
    assert_eq!(sqlite_schema(&scripted.path), sqlite_schema(&real.path));
    assert_eq!(bookkeeping(&scripted.path), bookkeeping(&real.path));
    assert_eq!(bookkeeping(&real.path).lines().count(), 8);
    // And haven-migrate sees the scripted one as at head, with checksums that match.
    let check = sq(cwd.path(), &scripted.url, &["check"]);
    check.ok();
    assert!(!check.stdout.contains("warning"), "{}", check.stdout);

    // Downgrade: head:base ends with only the bookkeeping tables, like the real one.
    let down = sq(
        cwd.path(),
        &scripted.url,
        &["downgrade", "head:base", "--sql"],
    );
    down.ok();
    sqlite3_script(&scripted.path, &down.stdout);
    sq(cwd.path(), &real.url, &["downgrade", "base"]).ok();
    assert_eq!(sqlite_schema(&scripted.path), sqlite_schema(&real.path));
    assert_eq!(bookkeeping(&scripted.path), "");
    assert!(user_tables(&scripted.path).is_empty());

    // Partial ranges compose: base:aurora, then aurora:head, equals base:head.
    let first = sq(
        cwd.path(),
        &scripted.url,
        &["upgrade", "base:aurora_integration_tables", "--sql"],
    );
    sqlite3_script(&scripted.path, &first.stdout);
    // Online --sql starts from the database's state.
    let rest = sq(cwd.path(), &scripted.url, &["upgrade", "--sql"]);
    rest.ok();
    assert!(!rest.stdout.contains("-- Apply 20260101000002"));
    assert!(rest.stdout.contains("-- Apply 20260101000003"));
    sqlite3_script(&scripted.path, &rest.stdout);
    sq(cwd.path(), &real.url, &["upgrade"]).ok();
    assert_eq!(sqlite_schema(&scripted.path), sqlite_schema(&real.path));
    assert_eq!(bookkeeping(&scripted.path), bookkeeping(&real.path));
}

#[test]
fn history_output_is_pinned() {
    let db = support::sqlite_database();
    let cwd = db.dir.path();
    sq(cwd, &db.url, &["upgrade", "+2", "-q"]).ok();
    let plain = sq(cwd, &db.url, &["history"]);
    plain.ok();
    let verbose = sq(cwd, &db.url, &["history", "--verbose"]);
    verbose.ok();
    let current = sq(cwd, &db.url, &["current", "--verbose"]);
    current.ok();
    let mut settings = insta::Settings::clone_current();
    for (regex, replacement) in history_filters() {
        settings.add_filter(&regex, replacement);
    }
    settings.bind(|| {
        insta::assert_snapshot!("history_sqlite", plain.stdout);
        insta::assert_snapshot!("history_sqlite_verbose", verbose.stdout);
        insta::assert_snapshot!("current_sqlite_verbose", current.stdout);
    });
}

// ---------------------------------------------------------------- revision

#[test]
fn revision_creates_the_same_directory_in_every_backend_dir() {
    let (tmp, migrations) = copy_of_repo_migrations();
    let pg_dir = migrations.join("postgres");
    let run = hm(
        tmp.path(),
        &[
            "revision",
            "-m",
            "Add staking index!",
            "--migration-dir",
            pg_dir.to_str().expect("UTF-8"),
        ],
    );
    run.ok();
    let new_pg: Vec<String> = subdirs(&pg_dir)
        .into_iter()
        .filter(|d| d.ends_with("_add_staking_index"))
        .collect();
    let new_sqlite: Vec<String> = subdirs(&migrations.join("sqlite"))
        .into_iter()
        .filter(|d| d.ends_with("_add_staking_index"))
        .collect();
    assert_eq!(new_pg.len(), 1, "{:?}", subdirs(&pg_dir));
    assert_eq!(new_pg, new_sqlite, "the same name in both backends");
    let name = &new_pg[0];
    // YYYY-MM-DD-HHMMSS_add_staking_index
    let stamp = &name[..17];
    assert!(
        stamp
            .chars()
            .enumerate()
            .all(|(i, c)| if [4, 7, 10].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_digit()
            }),
        "{name}"
    );
    for backend in ["postgres", "sqlite"] {
        let made = migrations.join(backend).join(name);
        assert!(made.join("up.sql").is_file() && made.join("down.sql").is_file());
        assert!(
            run.stdout.contains(&format!("created {}", made.display())),
            "{}",
            run.stdout
        );
    }
    // diesel.toml in the working dir: revision writes to the same place.
    fs::write(
        tmp.path().join("diesel.toml"),
        "[migrations_directory]\ndir = \"migrations/postgres\"\n",
    )
    .expect("write diesel.toml");
    hm(tmp.path(), &["revision", "-m", "second"]).ok();
    assert_eq!(
        subdirs(&pg_dir)
            .iter()
            .filter(|d| d.ends_with("_second"))
            .count(),
        1
    );
    assert_eq!(
        subdirs(&migrations.join("sqlite"))
            .iter()
            .filter(|d| d.ends_with("_second"))
            .count(),
        1
    );
    // Without any migration directory there is nowhere to write.
    let cwd = workdir();
    hm(cwd.path(), &["revision", "-m", "x"])
        .code(2)
        .stderr_has("--migration-dir");
    hm(
        cwd.path(),
        &["revision", "-m", "!!!", "--migration-dir", "."],
    )
    .code(2);
}

#[test]
fn revision_versions_strictly_increase_within_one_second() {
    let tmp = workdir();
    let pg = tmp.path().join("postgres");
    let sqlite = tmp.path().join("sqlite");
    // A newest version far in the future: every new revision must still sort after it, so
    // calls in the same second (or in the past) get bumped seconds, deterministically.
    for dir in [&pg, &sqlite] {
        write_migration(
            dir,
            "2999-12-31-235958_future",
            "SELECT 1;",
            Some("SELECT 1;"),
        );
    }
    let dir = pg.to_str().expect("UTF-8");
    hm(
        tmp.path(),
        &["revision", "-m", "first", "--migration-dir", dir],
    )
    .ok();
    hm(
        tmp.path(),
        &["revision", "-m", "second", "--migration-dir", dir],
    )
    .ok();
    hm(
        tmp.path(),
        &["revision", "-m", "third", "--migration-dir", dir],
    )
    .ok();
    let expected = [
        "2999-12-31-235958_future",
        "2999-12-31-235959_first",
        "3000-01-01-000000_second",
        "3000-01-01-000001_third",
    ];
    assert_eq!(subdirs(&pg), expected);
    assert_eq!(subdirs(&sqlite), expected);

    // Real time: consecutive calls still give strictly increasing versions.
    let now = workdir();
    let dir = now.path().join("postgres");
    fs::create_dir_all(&dir).expect("mkdir");
    let dir_str = dir.to_str().expect("UTF-8");
    for i in 0..3 {
        hm(
            now.path(),
            &[
                "revision",
                "-m",
                &format!("m{i}"),
                "--migration-dir",
                dir_str,
            ],
        )
        .ok();
    }
    let names = subdirs(&dir);
    let versions: Vec<String> = names
        .iter()
        .map(|n| n.split('_').next().expect("stamp").replace('-', ""))
        .collect();
    assert_eq!(versions.len(), 3);
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    let order: Vec<&str> = names
        .iter()
        .map(|n| n.rsplit('_').next().expect("name"))
        .collect();
    assert_eq!(
        order,
        ["m0", "m1", "m2"],
        "sorted by version = creation order"
    );
}

#[test]
fn a_new_revision_runs_as_a_no_op_and_is_recorded() {
    let (tmp, migrations) = copy_of_repo_migrations();
    let sqlite_dir = migrations.join("sqlite");
    hm(
        tmp.path(),
        &[
            "revision",
            "-m",
            "nothing yet",
            "--migration-dir",
            sqlite_dir.to_str().expect("UTF-8"),
        ],
    )
    .ok();
    let name = subdirs(&sqlite_dir)
        .into_iter()
        .find(|d| d.ends_with("_nothing_yet"))
        .expect("the new revision");
    let version = name.split('_').next().expect("stamp").replace('-', "");
    let db = tmp.path().join("r.db");
    let url = db.to_str().expect("UTF-8");
    with_dir(tmp.path(), url, &sqlite_dir, &["upgrade"])
        .ok()
        .says(&["applied 5 migration(s)"]);
    assert_eq!(applied(tmp.path(), url, &sqlite_dir).last(), Some(&version));
    assert!(bookkeeping(&db).contains(&format!("{version}|nothing_yet|")));
    with_dir(tmp.path(), url, &sqlite_dir, &["downgrade", "-1"]).ok();
    assert_eq!(applied(tmp.path(), url, &sqlite_dir), VERSIONS);
}
