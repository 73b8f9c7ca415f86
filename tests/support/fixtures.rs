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

/// The names in `dir` (files and directories alike), sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The nine tables of the HAVEN schema at head, sorted.
pub const HAVEN_TABLES: [&str; 9] = [
    "audit_log",
    "aurora_bookings",
    "redemption_requests",
    "staking_records",
    "system_metrics",
    "transactions",
    "tribe_events",
    "tribe_rewards",
    "users",
];

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

/// A temp project laid out as `check --schema` and `revision --autogenerate` expect:
/// `diesel.toml` naming `src/schema.rs` and `migrations/postgres`, copies of the repo's
/// migrations of both dialects, and a copy of its `src/schema.rs` for a test to edit.
pub struct Project {
    /// Holds everything; removed on drop.
    pub tmp: tempfile::TempDir,
}

/// The `diesel.toml` of a [`Project`].
pub const PROJECT_DIESEL_TOML: &str = "[print_schema]\nfile = \"src/schema.rs\"\n\n\
                                       [migrations_directory]\ndir = \"migrations/postgres\"\n";

impl Project {
    /// A project with its `diesel.toml`, an empty `src/` and an empty
    /// `migrations/postgres`.
    pub fn empty() -> Project {
        let tmp = tempfile::Builder::new()
            .prefix("haven-project-")
            .tempdir()
            .expect("a temp dir for the project");
        let root = tmp.path();
        fs::create_dir_all(root.join("src")).expect("mkdir src");
        fs::create_dir_all(root.join("migrations/postgres")).expect("mkdir migrations");
        fs::write(root.join("diesel.toml"), PROJECT_DIESEL_TOML).expect("write diesel.toml");
        Project { tmp }
    }

    /// The HAVEN project as it is in the repository: schema.rs and the migrations agree.
    pub fn haven() -> Project {
        let project = Project::empty();
        let root = project.root();
        copy_tree(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"),
            &root.join("migrations"),
        );
        fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("src/schema.rs"),
            root.join("src/schema.rs"),
        )
        .expect("copy src/schema.rs");
        project
    }

    /// The project directory (where `diesel.toml` is).
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// `<root>/src/schema.rs`.
    pub fn schema_rs(&self) -> PathBuf {
        self.root().join("src/schema.rs")
    }

    /// `<root>/migrations/<backend>` (`postgres` or `sqlite`).
    pub fn migrations(&self, backend: &str) -> PathBuf {
        self.root().join("migrations").join(backend)
    }

    /// Replaces `from`, which must occur exactly once in `schema.rs`, by `to`.
    #[track_caller]
    pub fn edit_schema(&self, from: &str, to: &str) {
        let path = self.schema_rs();
        let text = fs::read_to_string(&path).expect("read schema.rs");
        assert_eq!(
            text.matches(from).count(),
            1,
            "the edit must match schema.rs exactly once: {from:?}"
        );
        fs::write(&path, text.replacen(from, to, 1)).expect("write schema.rs");
    }

    /// Adds the migration `name` to both dialects: `(up, down)` for each.
    pub fn add_migration(&self, name: &str, postgres: (&str, &str), sqlite: (&str, &str)) {
        write_migration(
            &self.migrations("postgres"),
            name,
            postgres.0,
            Some(postgres.1),
        );
        write_migration(&self.migrations("sqlite"), name, sqlite.0, Some(sqlite.1));
    }

    /// Every file under the project but `skip` (relative to the root), with its content,
    /// sorted: to show that a command wrote nothing.
    pub fn files(&self, skip: &str) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        list_files(self.root(), self.root(), skip, &mut out);
        out.sort();
        out
    }
}

fn list_files(root: &Path, dir: &Path, skip: &str, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in fs::read_dir(dir).expect("list a project dir") {
        let path = entry.expect("a dir entry").path();
        let relative = path
            .strip_prefix(root)
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        if relative == skip {
            continue;
        }
        if path.is_dir() {
            out.push((format!("{relative}/"), Vec::new()));
            list_files(root, &path, skip, out);
        } else {
            out.push((relative, fs::read(&path).expect("read a project file")));
        }
    }
}
