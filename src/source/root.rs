//! The migration directory on disk: its listing, and the files of its migrations.
//!
//! On Unix the directory is opened once and each migration's files are opened relative to
//! it (`openat`), so the kernel looks up two path components per file instead of the whole
//! path. With thousands of migrations, those lookups were a third of `--sql`'s time
//! (BENCHMARKS.md).

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A migration directory, open for reading its migrations' files.
#[derive(Debug)]
pub(super) struct Root {
    path: PathBuf,
    #[cfg(unix)]
    fd: rustix::fd::OwnedFd,
}

impl Root {
    /// Opens the directory; an error names it and where its name came from.
    pub(super) fn open(path: &Path) -> Result<Self> {
        let unreadable = |e: io::Error| Error::MalformedMigrations {
            path: path.to_path_buf(),
            problem: format!(
                "cannot read the migration directory ({e}); check --migration-dir, \
                 MIGRATION_DIRECTORY or diesel.toml"
            ),
        };
        #[cfg(unix)]
        let fd = {
            use rustix::fs::{Mode, OFlags, CWD};
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            rustix::fs::openat(CWD, as_dir(path), flags, Mode::empty())
                .map_err(|e| unreadable(e.into()))?
        };
        #[cfg(not(unix))]
        if !path.is_dir() {
            return Err(unreadable(io::ErrorKind::NotFound.into()));
        }
        Ok(Root {
            path: path.to_path_buf(),
            #[cfg(unix)]
            fd,
        })
    }

    /// The directory's path, as given.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The names of the migration subdirectories, skipping files and hidden entries as
    /// diesel does. What diesel would skip silently, though it was meant as a migration, is
    /// an error naming it: a directory whose name is not UTF-8, and a symbolic link named
    /// like a migration that leads nowhere (dangling, or a loop).
    pub(super) fn migration_dirs(&self) -> Result<Vec<String>> {
        let entries = fs::read_dir(as_dir(&self.path))
            .map_err(|e| Error::io("cannot list", &self.path, e))?;
        let mut dirs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("cannot list", &self.path, e))?;
            if let Some(name) = self.migration_dir_name(&entry)? {
                dirs.push(name);
            }
        }
        Ok(dirs)
    }

    /// The entry's name if it is a migration directory; `None` for what is skipped.
    fn migration_dir_name(&self, entry: &fs::DirEntry) -> Result<Option<String>> {
        let file_name = entry.file_name();
        if file_name.as_encoded_bytes().starts_with(b".") {
            return Ok(None);
        }
        let file_type = entry
            .file_type()
            .map_err(|e| Error::io("cannot inspect", entry.path(), e))?;
        let is_dir = if file_type.is_symlink() {
            match fs::metadata(entry.path()) {
                Ok(target) => target.is_dir(),
                Err(e) => return self.broken_link(entry, &e).map(|()| None),
            }
        } else {
            file_type.is_dir()
        };
        if !is_dir {
            return Ok(None);
        }
        match file_name.into_string() {
            Ok(name) => Ok(Some(name)),
            Err(name) => Err(Error::MalformedMigrations {
                path: self.path.join(&name),
                problem: format!(
                    "the directory name {} is not valid UTF-8, so it cannot be a migration's \
                     name (diesel records names as text); rename it",
                    name.to_string_lossy()
                ),
            }),
        }
    }

    /// A symbolic link whose target cannot be reached: an error when it is named like a
    /// migration (it was surely meant as one), skipped otherwise.
    fn broken_link(&self, entry: &fs::DirEntry, err: &io::Error) -> Result<()> {
        let name = entry.file_name();
        let looks_like_migration = name.to_str().is_some_and(|n| super::version_of(n).is_ok());
        if !looks_like_migration {
            return Ok(());
        }
        let why = match err.kind() {
            io::ErrorKind::NotFound => "its target does not exist (a dangling link)".to_owned(),
            _ if is_loop(err) => "it is part of a loop of links".to_owned(),
            _ => format!("its target cannot be read ({err})"),
        };
        Err(Error::MalformedMigrations {
            path: entry.path(),
            problem: format!(
                "this symbolic link is named like a migration, but {why}; point it at the \
                 migration's directory, or remove it"
            ),
        })
    }

    /// The path of `dir/file`, for messages and for callers that want it.
    pub(super) fn file_path(&self, dir: &str, file: &str) -> PathBuf {
        self.path.join(dir).join(file)
    }

    /// Reads `dir/file`: open, read, read, close. `fs::read_to_string` also asks for the
    /// size and position (two more system calls per file); migration files are small, so a
    /// 1 KiB buffer, grown when needed, does without them.
    /// Text that is not UTF-8 is an `InvalidData` error saying where the first bad byte is.
    pub(super) fn read(&self, dir: &str, file: &str) -> io::Result<String> {
        let mut bytes = Vec::with_capacity(1024);
        // `take` hides that this is a `File`, whose `read_to_end` would ask for the size.
        self.open_file(dir, file)?
            .take(u64::MAX)
            .read_to_end(&mut bytes)?;
        let mut text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("it is not UTF-8 text (the first bad byte is at offset {at})"),
            )
        })?;
        // Thousands are kept: give back the unused part of the buffer (in place, no copy).
        text.shrink_to_fit();
        Ok(text)
    }

    #[cfg(unix)]
    fn open_file(&self, dir: &str, file: &str) -> io::Result<fs::File> {
        use rustix::fs::{Mode, OFlags};
        let relative = format!("{dir}/{file}");
        let flags = OFlags::RDONLY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, relative.as_str(), flags, Mode::empty())?;
        Ok(fs::File::from(fd))
    }

    #[cfg(not(unix))]
    fn open_file(&self, dir: &str, file: &str) -> io::Result<fs::File> {
        fs::File::open(self.file_path(dir, file))
    }
}

#[cfg(unix)]
fn is_loop(err: &io::Error) -> bool {
    err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

#[cfg(not(unix))]
fn is_loop(_: &io::Error) -> bool {
    false
}

/// `path` as a directory to open: an empty path is the working directory (the system
/// calls would refuse it).
fn as_dir(path: &Path) -> &Path {
    if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_relative_to_the_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("2026-01-01-000001_x");
        fs::create_dir(&dir).expect("mkdir");
        let long = "x".repeat(5000);
        fs::write(dir.join("up.sql"), &long).expect("write");
        let root = Root::open(tmp.path()).expect("open");
        assert_eq!(
            root.read("2026-01-01-000001_x", "up.sql").expect("read"),
            long
        );
        let missing = root.read("2026-01-01-000001_x", "metadata.toml");
        assert_eq!(missing.expect_err("absent").kind(), io::ErrorKind::NotFound);
        assert_eq!(
            root.migration_dirs().expect("list"),
            ["2026-01-01-000001_x"]
        );
    }

    #[test]
    fn a_missing_directory_is_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err = Root::open(&tmp.path().join("nope")).expect_err("missing");
        let text = err.to_string();
        assert!(
            text.contains("nope") && text.contains("--migration-dir"),
            "{text}"
        );
    }
}
