//! Interoperability with the real diesel CLI: what one tool applied, the other sees, both
//! ways, on PostgreSQL and SQLite. Ignored by default (they need the `diesel` binary);
//! `.ci/run` installs it and runs them with `cargo test --test interop -- --ignored`.
//!
//! The diesel CLI rewrites the `[print_schema]` file of the `diesel.toml` it finds, so it
//! always runs here in a temp dir, with `DIESEL_CONFIG_FILE` pointing at a config that has
//! no `[print_schema]`, and with explicit `--migration-dir` and `--database-url`.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use support::{applied_versions, diesel_bin, hm, repo_migrations, run_std, workdir, Run, VERSIONS};

/// One backend's database and migrations, and the two tools pointed at them.
struct Setup {
    url: String,
    dir: PathBuf,
    // A working dir with a diesel config that has no [print_schema]: diesel cannot touch
    // src/schema.rs from here.
    cwd: tempfile::TempDir,
    _pg: Option<support::PgTestDb>,
    _sqlite: Option<support::SqliteTestDb>,
}

impl Setup {
    fn postgres() -> Setup {
        let db = support::pg_database();
        Setup::new(db.url.clone(), "postgres", Some(db), None)
    }

    fn sqlite() -> Setup {
        let db = support::sqlite_database();
        Setup::new(db.url.clone(), "sqlite", None, Some(db))
    }

    fn new(
        url: String,
        backend: &str,
        pg: Option<support::PgTestDb>,
        sqlite: Option<support::SqliteTestDb>,
    ) -> Setup {
        let cwd = workdir();
        fs::write(
            cwd.path().join("diesel-test.toml"),
            "# For tests: no [print_schema], so diesel never rewrites a schema file.\n",
        )
        .expect("write the diesel config");
        Setup {
            url,
            dir: repo_migrations(backend),
            cwd,
            _pg: pg,
            _sqlite: sqlite,
        }
    }

    fn diesel(&self, args: &[&str]) -> Run {
        let run = run_std(
            StdCommand::new(diesel_bin())
                .current_dir(self.cwd.path())
                .env_remove("DATABASE_URL")
                .env_remove("MIGRATION_DIRECTORY")
                .env(
                    "DIESEL_CONFIG_FILE",
                    self.cwd.path().join("diesel-test.toml"),
                )
                .args(args)
                .arg("--migration-dir")
                .arg(&self.dir)
                .args(["--database-url", &self.url]),
        );
        assert!(
            !self.cwd.path().join("src").exists(),
            "diesel wrote a schema file"
        );
        run
    }

    fn haven(&self, args: &[&str]) -> Run {
        let dir = self.dir.to_str().expect("UTF-8 path");
        let mut all = vec!["--database-url", self.url.as_str(), "--migration-dir", dir];
        all.extend_from_slice(args);
        hm(self.cwd.path(), &all)
    }

    fn haven_applied(&self) -> Vec<String> {
        let run = self.haven(&["history", "--format", "json"]);
        run.ok();
        applied_versions(&run.json())
    }

    /// diesel's `migration pending`: "true" or "false".
    fn diesel_pending(&self) -> String {
        let run = self.diesel(&["migration", "pending"]);
        run.ok();
        run.stdout.trim().to_owned()
    }

    /// The directory names diesel lists as applied (`[X]`).
    fn diesel_applied(&self) -> Vec<String> {
        let run = self.diesel(&["migration", "list"]);
        run.ok();
        run.stdout
            .lines()
            .filter_map(|l| l.trim().strip_prefix("[X] "))
            .map(str::to_owned)
            .collect()
    }
}

fn dir_names() -> Vec<String> {
    support::names_in(&repo_migrations("postgres"))
}

fn both() -> [Setup; 2] {
    [Setup::postgres(), Setup::sqlite()]
}

fn schema_rs_unchanged(before: &str) {
    let now = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/schema.rs"))
        .expect("read src/schema.rs");
    assert!(now == before, "the diesel CLI rewrote src/schema.rs");
}

fn schema_rs() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/schema.rs"))
        .expect("read src/schema.rs")
}

#[test]
#[ignore = "needs the diesel CLI; .ci/run installs it"]
fn applied_by_diesel_is_seen_by_haven_migrate() {
    let schema = schema_rs();
    for setup in both() {
        setup.diesel(&["migration", "run"]).ok();
        assert_eq!(setup.diesel_pending(), "false");
        let current = setup.haven(&["current"]);
        current.ok();
        assert_eq!(
            current.stdout.lines().next().expect("a line"),
            "20260101000004 (audit_log_table) (head)",
            "{}",
            current.stdout
        );
        assert_eq!(setup.haven_applied(), VERSIONS);
        // No checksums were recorded by diesel: shown as unverified warnings, not errors.
        let history = setup.haven(&["history", "--format", "json"]);
        history.ok();
        let report = history.json();
        let problems = report["problems"].as_array().expect("problems");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().all(|p| p["kind"] == "unverified"));
        setup.haven(&["history"]).ok().says(&[
            "warning:",
            "without a checksum",
            "haven-migrate stamp 20260101000004",
        ]);
        setup.haven(&["check"]).ok();
        setup.haven(&["upgrade"]).ok().says(&["nothing to do"]);
        // stamp head records the checksums; the warnings go away.
        setup.haven(&["stamp", "head"]).ok();
        let history = setup.haven(&["history"]);
        history.ok();
        assert!(!history.stdout.contains("warning"), "{}", history.stdout);
        // haven-migrate reverts what diesel applied.
        setup.haven(&["downgrade", "-1"]).ok();
        assert_eq!(setup.diesel_pending(), "true");
    }
    schema_rs_unchanged(&schema);
}

#[test]
#[ignore = "needs the diesel CLI; .ci/run installs it"]
fn applied_by_haven_migrate_is_seen_by_diesel() {
    let schema = schema_rs();
    for setup in both() {
        setup.haven(&["upgrade", "+2"]).ok();
        assert_eq!(setup.diesel_pending(), "true");
        assert_eq!(setup.diesel_applied(), dir_names()[..2]);
        setup.haven(&["upgrade"]).ok();
        assert_eq!(setup.diesel_pending(), "false");
        assert_eq!(setup.diesel_applied(), dir_names());
        // diesel has nothing to run, and haven-migrate is still consistent afterwards.
        let run = setup.diesel(&["migration", "run"]);
        run.ok();
        assert!(!run.stdout.contains("Running migration"), "{}", run.stdout);
        setup.haven(&["check"]).ok();
    }
    schema_rs_unchanged(&schema);
}

#[test]
#[ignore = "needs the diesel CLI; .ci/run installs it"]
fn stamp_head_then_diesel_has_nothing_pending() {
    for setup in both() {
        assert_eq!(setup.diesel_pending(), "true");
        setup.haven(&["stamp", "head"]).ok();
        assert_eq!(setup.diesel_pending(), "false");
        assert_eq!(setup.diesel_applied(), dir_names());
        setup.haven(&["stamp", "aurora_integration_tables"]).ok();
        assert_eq!(setup.diesel_applied(), dir_names()[..2]);
    }
}

#[test]
#[ignore = "needs the diesel CLI; .ci/run installs it"]
fn reverted_by_diesel_shows_the_previous_migration_in_haven_migrate() {
    let schema = schema_rs();
    for setup in both() {
        setup.haven(&["upgrade"]).ok();
        setup.diesel(&["migration", "revert"]).ok();
        let current = setup.haven(&["current"]);
        current.ok();
        assert!(
            current.stdout.starts_with(
                "20260101000003 (tribe_integration_tables); not up to date: 1 pending"
            ),
            "{}",
            current.stdout
        );
        assert_eq!(setup.haven_applied(), VERSIONS[..3]);
        setup.haven(&["check"]).code(3);
        // haven-migrate applies it again, and all is consistent (the stale side-table row
        // of the reverted migration is overwritten).
        setup.haven(&["upgrade"]).ok();
        setup.haven(&["check"]).ok();
        let history = setup.haven(&["history"]);
        assert!(!history.stdout.contains("warning"), "{}", history.stdout);
        // Mixed: diesel reverts two, haven-migrate's downgrade continues from there.
        setup.diesel(&["migration", "revert", "-n", "2"]).ok();
        assert_eq!(setup.haven_applied(), VERSIONS[..2]);
        setup.haven(&["downgrade", "base"]).ok();
        assert_eq!(setup.diesel_pending(), "true");
        assert!(setup.diesel_applied().is_empty());
    }
    schema_rs_unchanged(&schema);
}
