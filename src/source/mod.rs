//! The migration set: what migrations exist, read from a directory or embedded in the build.
//!
//! Names follow the diesel CLI: a directory `2026-01-01-000001_initial_schema` has the
//! version `20260101000001` (everything before the first `_`, dashes removed), and versions
//! compare as strings.
//!
//! Two types, two depths of reading: a [`Listing`] is the versions and names, from one
//! listing of the directory (all that `current` needs); a [`MigrationSet`] has every file
//! of every migration read and checked, and each `up.sql`'s checksum computed, once, when
//! it is built (`load`).

pub mod checksum;
mod embedded;
mod load;
#[cfg(feature = "commands")]
pub mod locate;
mod metadata;
#[cfg(feature = "commands")]
pub mod revision;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::sql::forbidden::{self, Scan};
use crate::url::Backend;

pub use embedded::EmbeddedEntry;

/// A migration as a listing knows it: its version and directory name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    version: String,
    dir_name: String,
}

impl Entry {
    /// The entry of the directory `dir_name`; an error names it and the fix.
    fn new(dir_name: String) -> std::result::Result<Self, String> {
        Ok(Entry {
            version: version_of(&dir_name)?,
            dir_name,
        })
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
}

/// The versions and names of a set of migrations, oldest first, without their files.
#[derive(Debug, Clone)]
pub struct Listing {
    origin: Origin,
    entries: Vec<Entry>,
}

impl Listing {
    /// Lists the migrations that `origin` names: one listing of the directory (or the
    /// embedded table), duplicates and bad names refused.
    pub fn read(origin: Origin) -> Result<Self> {
        load::listing(origin)
    }

    /// Where the listing was read from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry of `version`, if any.
    pub fn get(&self, version: &str) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.version.as_str().cmp(version))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The newest entry.
    pub fn head(&self) -> Option<&Entry> {
        self.entries.last()
    }
}

/// One migration, with its SQL and how it runs. `up.sql` and `metadata.toml` are read when
/// its set is loaded; `down.sql` the first time it is asked for.
#[derive(Debug)]
pub struct Migration {
    entry: Entry,
    /// Its directory on disk; `None` when embedded.
    dir: Option<PathBuf>,
    up: Cow<'static, str>,
    /// One scan of `up.sql` (refused statements, a missing last `;`), made when it is read,
    /// on the loading threads, so that no command scans it again.
    up_scan: Scan,
    /// `down.sql` (`None`: there is none), set when it is first read. Only reverts, `check`
    /// and `history` need it, and reading it for every migration cost an upgrade's `--sql`
    /// a fifth of its time at N = 2000. A failed read is not kept: the next ask reads again,
    /// and fails the same way.
    down: OnceLock<Option<Down>>,
    run_in_transaction: bool,
    metadata_without_transaction_flag: bool,
    checksum: String,
}

/// A `down.sql` and its scan.
#[derive(Debug)]
struct Down {
    text: Cow<'static, str>,
    scan: Scan,
}

impl Down {
    fn new(text: Cow<'static, str>, run_in_transaction: bool) -> Self {
        let scan = forbidden::scan(&text, run_in_transaction);
        Down { text, scan }
    }
}

impl Migration {
    /// A migration read from `dir` (its `down.sql` is read when first asked for).
    fn on_disk(entry: Entry, dir: PathBuf, up: String, mode: metadata::TransactionMode) -> Self {
        Self::new(entry, Some(dir), Cow::Owned(up), OnceLock::new(), mode)
    }

    /// A migration embedded in the binary, with all its texts.
    fn embedded(
        entry: Entry,
        (up, down): (&'static str, Option<&'static str>),
        mode: metadata::TransactionMode,
    ) -> Self {
        let down = down.map(|text| Down::new(Cow::Borrowed(text), mode.run_in_transaction));
        Self::new(entry, None, Cow::Borrowed(up), OnceLock::from(down), mode)
    }

    /// The checksum and the scan of `up.sql` are worked out here, once.
    fn new(
        entry: Entry,
        dir: Option<PathBuf>,
        up: Cow<'static, str>,
        down: OnceLock<Option<Down>>,
        mode: metadata::TransactionMode,
    ) -> Self {
        Migration {
            checksum: checksum::of_sql(&up),
            up_scan: forbidden::scan(&up, mode.run_in_transaction),
            entry,
            dir,
            up,
            down,
            run_in_transaction: mode.run_in_transaction,
            metadata_without_transaction_flag: mode.flag_missing,
        }
    }

    /// Its `down.sql`, read now if it was not yet (`None`: there is none). A file that
    /// cannot be read, or is not UTF-8, is an error naming it.
    fn down(&self) -> Result<Option<&Down>> {
        if let Some(down) = self.down.get() {
            return Ok(down.as_ref());
        }
        let path = self.location().join("down.sql");
        let read = load::read_if_present(&path)?
            .map(|text| Down::new(Cow::Owned(text), self.run_in_transaction));
        // Another thread may have read it meanwhile: the same file, the same text.
        let _ = self.down.set(read);
        Ok(self.down.get().and_then(Option::as_ref))
    }

    /// Its version and name.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The version diesel records: the digits before the first `_`.
    pub fn version(&self) -> &str {
        self.entry.version()
    }

    /// The directory name, e.g. `2026-01-01-000001_initial_schema`.
    pub fn dir_name(&self) -> &str {
        self.entry.dir_name()
    }

    /// The name after the version, e.g. `initial_schema`.
    pub fn name(&self) -> &str {
        self.entry.name()
    }

    /// The `up.sql` text.
    pub fn up_sql(&self) -> &str {
        &self.up
    }

    /// The `down.sql` text; an error naming the file when there is none, or when it cannot
    /// be read.
    pub fn down_sql(&self) -> Result<&str> {
        Ok(&self.required_down()?.text)
    }

    /// The `down.sql` and its scan, which a revert needs: an error naming the file when
    /// there is none, or when it cannot be read.
    fn required_down(&self) -> Result<&Down> {
        self.down()?.ok_or_else(|| Error::MalformedMigrations {
            path: self.location().join("down.sql"),
            problem: format!(
                "migration {} ({}) has no down.sql, so it cannot be reverted; add one",
                self.version(),
                self.name()
            ),
        })
    }

    /// The text of `up.sql` (`up: true`) or `down.sql`, refused when it holds a statement
    /// that haven-migrate does not run (see `sql::forbidden`): for every command
    /// that runs it or prints it to be run.
    pub fn runnable_sql(&self, up: bool) -> Result<&str> {
        let (sql, file, scan) = if up {
            (self.up_sql(), "up.sql", &self.up_scan)
        } else {
            let down = self.required_down()?;
            (down.text.as_ref(), "down.sql", &down.scan)
        };
        match &scan.refusal {
            None => Ok(sql),
            Some(finding) => Err(Error::ForbiddenSql {
                path: self.location().join(file),
                line: finding.line,
                problem: finding.advice(),
            }),
        }
    }

    /// Whether the last statement of `up.sql` (`up: true`) or `down.sql` has no `;` after
    /// it, so that one must be added before anything follows it.
    ///
    /// A `down.sql` that is missing or cannot be read has none to lack: callers read it first,
    /// through [`Migration::down_sql`], which reports why.
    pub fn lacks_terminator(&self, up: bool) -> bool {
        match up {
            true => self.up_scan.unterminated,
            false => self
                .down()
                .ok()
                .flatten()
                .is_some_and(|d| d.scan.unterminated),
        }
    }

    /// Whether a readable `down.sql` exists (reading it if it was not yet).
    pub fn has_down(&self) -> bool {
        self.down().is_ok_and(|down| down.is_some())
    }

    /// Whether a `down.sql` exists, if it was read already (`None`: not read, or
    /// unreadable): what a report can say without reading any file.
    pub fn has_down_if_read(&self) -> Option<bool> {
        self.down.get().map(Option::is_some)
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
    pub fn path(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Where its files are, for messages (`<embedded>/...` when embedded).
    fn location(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("<embedded>/{}", self.dir_name())))
    }

    /// SHA-256 of `up.sql`, normalised for CRLF and a leading BOM.
    pub fn checksum(&self) -> &str {
        &self.checksum
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
    /// The same kind of origin, for another directory (a sibling for another backend).
    pub fn with_dir(&self, dir: PathBuf) -> Origin {
        match self {
            Origin::Flag(_) => Origin::Flag(dir),
            Origin::Directory(_) | Origin::Embedded(_) => Origin::Directory(dir),
            Origin::DieselToml { config, .. } => Origin::DieselToml {
                config: config.clone(),
                dir,
            },
        }
    }

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

/// An ordered, validated set of migrations, every file read.
#[derive(Debug)]
pub struct MigrationSet {
    listing: Listing,
    migrations: Vec<Migration>,
}

impl MigrationSet {
    /// The migrations embedded at build time for `backend`.
    pub fn embedded(backend: Backend) -> Result<Self> {
        Self::read(Origin::Embedded(backend))
    }

    /// The migrations in a directory, validated.
    pub fn from_dir(dir: impl Into<PathBuf>) -> Result<Self> {
        Self::read(Origin::Directory(dir.into()))
    }

    /// Reads the migrations that `origin` names, with all their files.
    pub fn read(origin: Origin) -> Result<Self> {
        Listing::read(origin)?.load()
    }

    /// The versions and names.
    pub fn listing(&self) -> &Listing {
        &self.listing
    }

    /// Where the set was read from.
    pub fn origin(&self) -> &Origin {
        self.listing.origin()
    }

    /// All migrations, oldest first.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// The newest migration, if any.
    pub fn head(&self) -> Option<&Migration> {
        self.migrations.last()
    }

    /// Reads every `down.sql` now, on the loading threads, for the commands that look at
    /// all of them (`check`, `history`): the first that cannot be read, in version order,
    /// is the error.
    pub fn read_down_files(&self) -> Result<()> {
        load::in_parallel(&self.migrations, |m| m.down().map(drop)).map(drop)
    }

    /// The position of `version`, if it is in the set.
    pub fn position(&self, version: &str) -> Option<usize> {
        self.migrations
            .binary_search_by(|m| m.version().cmp(version))
            .ok()
    }

    /// The migration with this exact version.
    pub fn get(&self, version: &str) -> Option<&Migration> {
        self.position(version).map(|i| &self.migrations[i])
    }
}

impl Listing {
    /// Reads the files of every listed migration: the set.
    pub fn load(self) -> Result<MigrationSet> {
        let migrations = load::migrations(&self)?;
        Ok(MigrationSet {
            listing: self,
            migrations,
        })
    }
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
                assert_eq!(a.up_sql(), b.up_sql());
                assert_eq!(a.checksum(), b.checksum());
            }
        }
    }
}
