//! The migration set: what migrations exist, read from a directory or embedded in the build.
//!
//! Names follow the diesel CLI: a directory `2026-01-01-000001_initial_schema` has the
//! version `20260101000001` (everything before the first `_`, dashes removed), and versions
//! compare as strings. The SQL text is read only when asked for, so status commands that
//! need only versions and names never open an `up.sql`.

pub mod checksum;
mod embedded;
pub mod locate;
pub mod revision;
mod root;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};
use crate::url::Backend;
use root::Root;

pub use embedded::EmbeddedEntry;

/// Where a migration's SQL text lives. A file's path is not stored: it is derived from
/// the migration's directory when needed, which saves thousands of allocations for status
/// commands on large sets.
#[derive(Debug)]
enum SqlText {
    Embedded(&'static str),
    /// A file of the migration's directory, read when first asked for.
    File(OnceLock<String>),
    /// No such text (an embedded migration without `down.sql`).
    Missing,
}

impl SqlText {
    fn file() -> Self {
        SqlText::File(OnceLock::new())
    }

    /// Whether the text exists. A file is looked for only when asked: most commands never
    /// need `down.sql`, and with thousands of migrations the `stat`s add up.
    fn exists(&self, path: impl FnOnce() -> PathBuf) -> bool {
        match self {
            SqlText::Embedded(_) => true,
            SqlText::Missing => false,
            SqlText::File(text) => text.get().is_some() || path().is_file(),
        }
    }

    fn read(&self, read: impl FnOnce() -> Result<String>) -> Result<&str> {
        match self {
            SqlText::Embedded(text) => Ok(text),
            SqlText::File(text) => {
                if let Some(t) = text.get() {
                    return Ok(t);
                }
                let read = read()?;
                Ok(text.get_or_init(|| read))
            }
            // Only embedded migrations lack a text, and they have no files to read: `read`
            // reports the text missing.
            SqlText::Missing => read().map(|_| ""),
        }
    }
}

/// One migration: a version, a name, its SQL and how it runs.
#[derive(Debug)]
pub struct Migration {
    version: String,
    dir_name: String,
    /// The directory that holds the migration's directory, shared by the whole set;
    /// `None` for embedded migrations.
    root: Option<Arc<Root>>,
    up: SqlText,
    down: SqlText,
    run_in_transaction: bool,
    metadata_without_transaction_flag: bool,
    checksum: OnceLock<String>,
    /// False when read with [`Preload::Names`]: the files were not looked at, so
    /// `has_down`, `run_in_transaction` and the metadata warning are assumptions.
    files_checked: bool,
}

impl Migration {
    /// Whether the directory's files were looked at (see [`Preload::Names`]).
    pub fn files_checked(&self) -> bool {
        self.files_checked
    }

    /// The version diesel records: the digits before the first `_`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The directory name, e.g. `2026-01-01-000001_initial_schema`.
    pub fn dir_name(&self) -> &str {
        &self.dir_name
    }

    /// The name after the version, e.g. `initial_schema`.
    pub fn name(&self) -> &str {
        self.dir_name.split_once('_').map_or("", |(_, n)| n)
    }

    /// The `up.sql` text.
    pub fn up_sql(&self) -> Result<&str> {
        self.up.read(|| self.read_file("up.sql"))
    }

    /// The `down.sql` text; an error naming the file when there is none.
    pub fn down_sql(&self) -> Result<&str> {
        match &self.down {
            text if text.exists(|| self.location().join("down.sql")) => {
                text.read(|| self.read_file("down.sql"))
            }
            _ => Err(Error::MalformedMigrations {
                path: self.location().join("down.sql"),
                problem: format!(
                    "migration {} ({}) has no down.sql, so it cannot be reverted; add one",
                    self.version,
                    self.name()
                ),
            }),
        }
    }

    /// The text of `up.sql` (`up: true`) or `down.sql`, refused when it holds a statement
    /// that haven-migrate does not run (see [`crate::sql::forbidden`]): for every command that runs
    /// it or prints it to be run.
    pub fn runnable_sql(&self, up: bool) -> Result<&str> {
        let (sql, file) = if up {
            (self.up_sql()?, "up.sql")
        } else {
            (self.down_sql()?, "down.sql")
        };
        match crate::sql::forbidden::find(sql, self.run_in_transaction) {
            None => Ok(sql),
            Some(finding) => Err(Error::ForbiddenSql {
                path: self.location().join(file),
                line: finding.line,
                problem: finding.advice(),
            }),
        }
    }

    /// Whether a `down.sql` exists.
    pub fn has_down(&self) -> bool {
        self.down.exists(|| self.location().join("down.sql"))
    }

    /// Whether it runs inside a transaction (diesel's `run_in_transaction`).
    pub fn run_in_transaction(&self) -> bool {
        self.run_in_transaction
    }

    /// True when a `metadata.toml` exists without `run_in_transaction`: diesel then runs the
    /// migration outside a transaction, which is rarely what its author meant.
    pub fn metadata_lacks_transaction_flag(&self) -> bool {
        self.metadata_without_transaction_flag
    }

    /// The directory on disk, or `None` for embedded migrations.
    pub fn path(&self) -> Option<PathBuf> {
        self.root
            .as_ref()
            .map(|root| root.path().join(&self.dir_name))
    }

    /// Reads one of the migration's files; an error names it.
    fn read_file(&self, file: &str) -> Result<String> {
        let read = match &self.root {
            Some(root) => root.read(&self.dir_name, file),
            None => Err(std::io::ErrorKind::NotFound.into()),
        };
        read.map_err(|e| read_error(self.location().join(file), e))
    }

    fn location(&self) -> PathBuf {
        self.path()
            .unwrap_or_else(|| PathBuf::from(format!("<embedded>/{}", self.dir_name)))
    }

    /// SHA-256 of `up.sql`, normalised for CRLF and a leading BOM.
    pub fn checksum(&self) -> Result<String> {
        if let Some(sum) = self.checksum.get() {
            return Ok(sum.clone());
        }
        let sum = checksum::of_sql(self.up_sql()?);
        Ok(self.checksum.get_or_init(|| sum).clone())
    }
}

/// Where the migration set was read from, for `-v` output and `history --verbose`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--migration-dir` or `MIGRATION_DIRECTORY`.
    Flag(PathBuf),
    /// `[migrations_directory]` of a `diesel.toml` (the config file, then the directory used).
    DieselToml {
        /// The `diesel.toml` that named it.
        config: PathBuf,
        /// The directory read (maybe the sibling for the URL's backend).
        dir: PathBuf,
    },
    /// Compiled into the binary.
    Embedded(Backend),
    /// A directory given by a library caller.
    Directory(PathBuf),
}

impl Origin {
    /// The directory migrations are read from, if they come from disk.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            Origin::Flag(d) | Origin::Directory(d) | Origin::DieselToml { dir: d, .. } => Some(d),
            Origin::Embedded(_) => None,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag(d) => write!(f, "{} (from --migration-dir)", d.display()),
            Origin::DieselToml { config, dir } => {
                write!(f, "{} (from {})", dir.display(), config.display())
            }
            Origin::Embedded(b) => write!(f, "the {b} migrations embedded in this binary"),
            Origin::Directory(d) => write!(f, "{}", d.display()),
        }
    }
}

/// How much of each migration directory [`MigrationSet::read_with`] reads up front.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Preload {
    /// Directory names only: one listing of the migration directory, nothing inside it.
    /// For `current`, which needs versions and names; a missing `up.sql` or a metadata
    /// problem is left to the commands that use the files.
    Names,
    /// Names, metadata and which files exist; the SQL is read when first asked for, so
    /// `current` never opens an `up.sql`.
    #[default]
    Lazy,
    /// Also every `up.sql` and its checksum, in the same parallel pass over the
    /// directories: for commands that need them all (upgrade, check, history, `--sql`),
    /// it saves a second pass and a `stat` per file.
    UpSql,
}

/// An ordered, validated set of migrations.
#[derive(Debug)]
pub struct MigrationSet {
    origin: Origin,
    migrations: Vec<Migration>,
}

impl MigrationSet {
    /// The migrations embedded at build time for `backend`.
    pub fn embedded(backend: Backend) -> Result<Self> {
        let entries = match backend {
            Backend::Postgres => embedded::POSTGRES,
            Backend::Sqlite => embedded::SQLITE,
        };
        let migrations = entries
            .iter()
            .map(|e| migration_from_embedded(e, backend))
            .collect::<Result<Vec<_>>>()?;
        Self::new(Origin::Embedded(backend), migrations)
    }

    /// The migrations in a directory, validated.
    pub fn from_dir(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        Self::read(Origin::Directory(dir))
    }

    /// Reads the migrations that `origin` names; SQL files are read when first needed.
    pub fn read(origin: Origin) -> Result<Self> {
        Self::read_with(origin, Preload::Lazy)
    }

    /// Reads the migrations that `origin` names, and as much of their files as `preload`
    /// says.
    pub fn read_with(origin: Origin, preload: Preload) -> Result<Self> {
        if let Origin::Embedded(backend) = origin {
            return Self::embedded(backend);
        }
        let root = Arc::new(Root::open(origin.dir().unwrap_or(Path::new("")))?);
        let names = root.migration_dirs()?;
        if preload == Preload::Names {
            let migrations = names
                .into_iter()
                .map(|name| migration_from_name(&root, name));
            return Self::new(origin, migrations.collect::<Result<Vec<_>>>()?);
        }
        let read = |name: &String| migration_from_dir(&root, name, preload);
        let migrations = par_map(&names, read)?;
        Self::new(origin, migrations)
    }

    fn new(origin: Origin, mut migrations: Vec<Migration>) -> Result<Self> {
        migrations.sort_by(|a, b| a.version.cmp(&b.version).then(a.dir_name.cmp(&b.dir_name)));
        if let Some(pair) = migrations.windows(2).find(|w| w[0].version == w[1].version) {
            return Err(Error::MalformedMigrations {
                path: origin.dir().map_or_else(|| PathBuf::from("<embedded>"), Path::to_path_buf),
                problem: format!(
                    "two migrations share the version {}: {} and {}; diesel would silently treat \
                     them as one. Give one of them a new timestamp (e.g. with `haven-migrate revision`)",
                    pair[0].version, pair[0].dir_name, pair[1].dir_name
                ),
            });
        }
        Ok(MigrationSet { origin, migrations })
    }

    /// Where the set was read from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// All migrations, oldest first.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// The newest migration, if any.
    pub fn head(&self) -> Option<&Migration> {
        self.migrations.last()
    }

    /// The position of `version`, if it is in the set.
    pub fn position(&self, version: &str) -> Option<usize> {
        self.migrations
            .binary_search_by(|m| m.version.as_str().cmp(version))
            .ok()
    }

    /// The migration with this exact version.
    pub fn get(&self, version: &str) -> Option<&Migration> {
        self.position(version).map(|i| &self.migrations[i])
    }

    /// Reads the `up.sql` and computes the checksum of the migrations at `indexes`, on
    /// several threads when there are many, so that later calls find them ready. For
    /// `check` and `--sql` on thousands of migrations, reading the files is most of the work.
    pub fn preload_checksums(&self, indexes: &[usize]) -> Result<()> {
        // Those read with `Preload::UpSql` already have theirs: no threads for nothing.
        let missing: Vec<usize> = indexes
            .iter()
            .copied()
            .filter(|&i| self.migrations[i].checksum.get().is_none())
            .collect();
        let load = |i: &usize| self.migrations[*i].checksum().map(drop);
        par_map(&missing, load).map(drop)
    }
}

/// Below this many items, [`par_map`] stays on one thread.
const PARALLEL_MIN: usize = 256;

/// `items.iter().map(f).collect()`, on up to 4 threads for large inputs, in order. With
/// thousands of migrations, the per-directory file work (checking up.sql and down.sql,
/// reading metadata.toml and up.sql) is most of what status commands and `--sql` do.
fn par_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> Result<U> + Sync) -> Result<Vec<U>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || items.len() < PARALLEL_MIN {
        return items.iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Result<Vec<U>>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for worker in workers {
            let chunk = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            out.extend(chunk);
        }
        Ok(out)
    })
}

/// Splits a directory name into its version; an error names the directory and the fix.
pub fn version_of(dir_name: &str) -> std::result::Result<String, String> {
    let (stamp, name) = dir_name.split_once('_').unwrap_or((dir_name, ""));
    let version: String = stamp.chars().filter(|c| *c != '-').collect();
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
        return Err(format!(
            "`{dir_name}` is not a migration name: expected <timestamp>_<name>, \
             e.g. 2026-01-01-120000_add_users (digits and dashes, then `_`, then a name)"
        ));
    }
    if version.len() > 50 {
        return Err(format!(
            "the version of `{dir_name}` is longer than the 50 characters diesel can record"
        ));
    }
    Ok(version)
}

fn migration_from_dir(root: &Arc<Root>, dir_name: &str, preload: Preload) -> Result<Migration> {
    let malformed = |problem: String| Error::MalformedMigrations {
        path: root.path().join(dir_name),
        problem,
    };
    let version = version_of(dir_name).map_err(malformed)?;
    let Some(up) = up_sql_file(root, dir_name, preload)? else {
        return Err(malformed(format!(
            "migration {version} has no up.sql; add {}, or remove the directory",
            root.file_path(dir_name, "up.sql").display()
        )));
    };
    let checksum = match &up {
        SqlText::File(text) => text.get().map(|t| checksum::of_sql(t)),
        _ => None,
    };
    let metadata_path = || root.file_path(dir_name, "metadata.toml");
    let metadata = match root.read(dir_name, "metadata.toml") {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(read_error(metadata_path(), e)),
    };
    let tx = parse_metadata(metadata.as_deref(), metadata_path)?;
    Ok(Migration {
        version,
        dir_name: dir_name.to_owned(),
        root: Some(Arc::clone(root)),
        up,
        down: SqlText::file(),
        run_in_transaction: tx.run_in_transaction,
        metadata_without_transaction_flag: tx.flag_missing,
        checksum: checksum.map_or_else(OnceLock::new, OnceLock::from),
        files_checked: true,
    })
}

/// A migration known by its directory name alone ([`Preload::Names`]).
fn migration_from_name(root: &Arc<Root>, dir_name: String) -> Result<Migration> {
    let version = version_of(&dir_name).map_err(|problem| Error::MalformedMigrations {
        path: root.path().join(&dir_name),
        problem,
    })?;
    Ok(Migration {
        version,
        dir_name,
        root: Some(Arc::clone(root)),
        up: SqlText::file(),
        down: SqlText::file(),
        run_in_transaction: true,
        metadata_without_transaction_flag: false,
        checksum: OnceLock::new(),
        files_checked: false,
    })
}

/// The `up.sql` of `dir_name`, read now or later as `preload` says; `None` when there is
/// none.
fn up_sql_file(root: &Root, dir_name: &str, preload: Preload) -> Result<Option<SqlText>> {
    let path = || root.file_path(dir_name, "up.sql");
    if preload == Preload::Lazy {
        return Ok(path().is_file().then(SqlText::file));
    }
    // Reading is the existence check: no separate stat.
    match root.read(dir_name, "up.sql") {
        Ok(text) => Ok(Some(SqlText::File(OnceLock::from(text)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || path().is_dir() => Ok(None),
        Err(e) => Err(read_error(path(), e)),
    }
}

/// The error for a migration file that could not be read: a file that is not UTF-8 is a
/// malformed migration (exit 2), anything else an I/O failure.
fn read_error(path: PathBuf, err: std::io::Error) -> Error {
    if err.kind() == std::io::ErrorKind::InvalidData {
        return Error::MalformedMigrations {
            path,
            problem: format!("{err}; save it as UTF-8"),
        };
    }
    Error::io("cannot read", path, err)
}

fn migration_from_embedded(entry: &EmbeddedEntry, backend: Backend) -> Result<Migration> {
    let pseudo_path = PathBuf::from(format!(
        "<embedded {}>/{}",
        backend.dir_name(),
        entry.dir_name
    ));
    let malformed = |problem: String| Error::MalformedMigrations {
        path: pseudo_path.clone(),
        problem,
    };
    let version = version_of(entry.dir_name).map_err(malformed)?;
    let up = entry
        .up
        .ok_or_else(|| malformed(format!("migration {version} has no up.sql")))?;
    let tx = parse_metadata(entry.metadata, || pseudo_path.join("metadata.toml"))?;
    Ok(Migration {
        version,
        dir_name: entry.dir_name.to_owned(),
        up: SqlText::Embedded(up),
        down: entry.down.map_or(SqlText::Missing, SqlText::Embedded),
        run_in_transaction: tx.run_in_transaction,
        metadata_without_transaction_flag: tx.flag_missing,
        root: None,
        checksum: OnceLock::new(),
        files_checked: true,
    })
}

struct TransactionMode {
    run_in_transaction: bool,
    flag_missing: bool,
}

#[derive(serde::Deserialize)]
struct MetadataToml {
    run_in_transaction: Option<bool>,
}

/// The transaction mode `metadata.toml` sets; `path` names the file in an error, and is
/// built only then (thousands of migrations have none).
fn parse_metadata(text: Option<&str>, path: impl FnOnce() -> PathBuf) -> Result<TransactionMode> {
    let Some(text) = text else {
        return Ok(TransactionMode {
            run_in_transaction: true,
            flag_missing: false,
        });
    };
    let parsed: MetadataToml = toml::from_str(text).map_err(|e| Error::MalformedMigrations {
        path: path(),
        problem: format!("metadata.toml does not parse: {}", e.message()),
    })?;
    // diesel's TomlMetadata defaults the field to false when the file exists: match it.
    Ok(TransactionMode {
        run_in_transaction: parsed.run_in_transaction.unwrap_or(false),
        flag_missing: parsed.run_in_transaction.is_none(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_diesel() {
        assert_eq!(
            version_of("2026-01-01-000001_initial_schema").as_deref(),
            Ok("20260101000001")
        );
        assert_eq!(
            version_of("2026-11-24-060403-0000_x").as_deref(),
            Ok("202611240604030000")
        );
        assert_eq!(
            version_of("00000000000000_diesel_initial_setup").as_deref(),
            Ok("00000000000000")
        );
        assert!(version_of("initial_schema").is_err());
        assert!(version_of("2026-01-01").is_err());
        assert!(version_of("_x").is_err());
    }

    #[test]
    fn embedded_sets_match_their_directories() {
        for backend in [Backend::Postgres, Backend::Sqlite] {
            let embedded = MigrationSet::embedded(backend).expect("embedded set");
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(backend.dir_name());
            let on_disk = MigrationSet::from_dir(dir).expect("directory set");
            let names = |s: &MigrationSet| -> Vec<String> {
                s.migrations()
                    .iter()
                    .map(|m| m.dir_name().to_owned())
                    .collect()
            };
            assert_eq!(names(&embedded), names(&on_disk));
            for (a, b) in embedded.migrations().iter().zip(on_disk.migrations()) {
                assert_eq!(a.up_sql().expect("up"), b.up_sql().expect("up"));
            }
        }
    }
}
