//! Helpers shared by the tests that drive the `haven-migrate` binary (`tests/cli*.rs`,
//! `tests/interop.rs`): running it with a clean environment, reading its output, and
//! building migration directories in temp dirs.
//!
//! Every item is `allow(dead_code)`: each test binary compiles this module on its own and
//! uses only part of it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

/// What one run of a program produced.
#[allow(dead_code)]
#[derive(Debug)]
pub struct Run {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

#[allow(dead_code)]
impl Run {
    /// Panics, showing both streams, unless the exit code is `code`.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit code {code}, got {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the run succeeded.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.code(0)
    }

    /// stdout and stderr together, for "is it said somewhere" checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Panics unless stdout or stderr contains every one of `needles`.
    #[track_caller]
    pub fn says(&self, needles: &[&str]) -> &Self {
        let all = self.all();
        for needle in needles {
            assert!(
                all.contains(needle),
                "expected the output to contain {needle:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout,
                self.stderr
            );
        }
        self
    }

    /// Panics unless stderr contains `needle` (error messages go to stderr).
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "expected stderr to contain {needle:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout parsed as exactly one JSON value.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.stdout) {
            Ok(value) => value,
            Err(e) => panic!(
                "stdout is not one JSON value ({e})\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.stdout, self.stderr
            ),
        }
    }
}

/// The migrations of this repository for `backend` (`postgres` or `sqlite`).
#[allow(dead_code)]
pub fn repo_migrations(backend: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend)
}

/// A temp dir to run commands in: no `diesel.toml`, `Cargo.toml` or `.env` above it, so
/// only what a test passes explicitly counts.
#[allow(dead_code)]
pub fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("haven-cli-")
        .tempdir()
        .expect("cannot create a temp working dir")
}

/// `haven-migrate` with `cwd` as working directory and none of the developer's settings:
/// `DATABASE_URL`, `MIGRATION_DIRECTORY` and `DIESEL_CONFIG_FILE` removed, a fixed
/// terminal width for help text, and a generous timeout so a hang fails instead of blocking.
#[allow(dead_code)]
pub fn haven(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("haven-migrate").expect("the haven-migrate binary is built");
    cmd.current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env_remove("MIGRATION_DIRECTORY")
        .env_remove("DIESEL_CONFIG_FILE")
        .env("COLUMNS", "100")
        .env("LINES", "50")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(180));
    cmd
}

/// Runs a prepared command and collects its output.
#[allow(dead_code)]
pub fn run(cmd: &mut Command) -> Run {
    let output = cmd.output().expect("cannot run haven-migrate");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `haven-migrate ARGS` in `cwd`.
#[allow(dead_code)]
pub fn hm(cwd: &Path, args: &[&str]) -> Run {
    run(haven(cwd).args(args))
}

/// Runs a std command (psql, sqlite3, diesel) and collects its output.
#[allow(dead_code)]
pub fn run_std(cmd: &mut std::process::Command) -> Run {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Writes `<dir>/<name>/up.sql` and, when given, `down.sql`.
#[allow(dead_code)]
pub fn write_migration(dir: &Path, name: &str, up: &str, down: Option<&str>) {
    let target = dir.join(name);
    fs::create_dir_all(&target).expect("cannot create a migration dir");
    fs::write(target.join("up.sql"), up).expect("cannot write up.sql");
    if let Some(down) = down {
        fs::write(target.join("down.sql"), down).expect("cannot write down.sql");
    }
}

/// Copies a directory tree (migration directories hold only files and directories).
#[allow(dead_code)]
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("cannot create a copy target");
    for entry in fs::read_dir(from).expect("cannot list a dir to copy") {
        let entry = entry.expect("cannot read a dir entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("cannot copy a file");
        }
    }
}

/// A temp copy of `migrations/` (both `postgres/` and `sqlite/`); returns the dir and the
/// path of its `migrations` folder.
#[allow(dead_code)]
pub fn copy_of_repo_migrations() -> (tempfile::TempDir, PathBuf) {
    let tmp = workdir();
    let migrations = tmp.path().join("migrations");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"),
        &migrations,
    );
    (tmp, migrations)
}

/// The subdirectory names of `dir`, sorted.
#[allow(dead_code)]
pub fn subdirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("cannot list a dir")
        .map(|e| e.expect("dir entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The versions of the HAVEN migrations, oldest first.
#[allow(dead_code)]
pub const VERSIONS: [&str; 4] = [
    "20260101000001",
    "20260101000002",
    "20260101000003",
    "20260101000004",
];

/// The names of the HAVEN migrations, oldest first.
#[allow(dead_code)]
pub const NAMES: [&str; 4] = [
    "initial_schema",
    "aurora_integration_tables",
    "tribe_integration_tables",
    "audit_log_table",
];

/// `(version, applied)` of every migration in a `--format json` report.
#[allow(dead_code)]
#[track_caller]
pub fn applied_flags(report: &serde_json::Value) -> Vec<(String, bool)> {
    report["migrations"]
        .as_array()
        .expect("`migrations` is an array")
        .iter()
        .map(|m| {
            (
                m["version"]
                    .as_str()
                    .expect("version is a string")
                    .to_owned(),
                m["applied"].as_bool().expect("applied is a bool"),
            )
        })
        .collect()
}

/// The versions that a `--format json` report lists as applied.
#[allow(dead_code)]
#[track_caller]
pub fn applied_versions(report: &serde_json::Value) -> Vec<String> {
    applied_flags(report)
        .into_iter()
        .filter(|(_, applied)| *applied)
        .map(|(v, _)| v)
        .collect()
}

/// Insta filters for `history`: run_on timestamps (kept at their width, so columns stay
/// aligned) and the repository path.
#[allow(dead_code)]
pub fn history_filters() -> Vec<(String, String)> {
    vec![
        (
            r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}".to_owned(),
            "YYYY-MM-DD hh:mm:ss".to_owned(),
        ),
        (
            regex_escape(env!("CARGO_MANIFEST_DIR")),
            "[repo]".to_owned(),
        ),
    ]
}

/// Escapes regex metacharacters in a literal path.
#[allow(dead_code)]
pub fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
