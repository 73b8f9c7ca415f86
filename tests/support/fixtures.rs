//! Fixtures: migration directories in temp dirs, the HAVEN migrations' versions and names,
//! and readers of the JSON reports.

use std::fs;
use std::path::{Path, PathBuf};

/// The migrations of this repository for `backend` (`postgres` or `sqlite`).
pub fn repo_migrations(backend: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend)
}

/// A temp dir to run commands in: no `diesel.toml`, `Cargo.toml` or `.env` above it, so
/// only what a test passes explicitly counts.
pub fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("haven-cli-")
        .tempdir()
        .expect("cannot create a temp working dir")
}

/// Writes `<dir>/<name>/up.sql` and, when given, `down.sql`.
pub fn write_migration(dir: &Path, name: &str, up: &str, down: Option<&str>) {
    let target = dir.join(name);
    fs::create_dir_all(&target).expect("cannot create a migration dir");
    fs::write(target.join("up.sql"), up).expect("cannot write up.sql");
    if let Some(down) = down {
        fs::write(target.join("down.sql"), down).expect("cannot write down.sql");
    }
}

/// Copies a directory tree (migration directories hold only files and directories).
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
pub const VERSIONS: [&str; 4] = [
    "20260101000001",
    "20260101000002",
    "20260101000003",
    "20260101000004",
];

/// The names of the HAVEN migrations, oldest first.
pub const NAMES: [&str; 4] = [
    "initial_schema",
    "aurora_integration_tables",
    "tribe_integration_tables",
    "audit_log_table",
];

/// `(version, applied)` of every migration in a `--format json` report.
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
