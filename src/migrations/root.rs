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
    /// diesel does.
    pub(super) fn migration_dirs(&self) -> Result<Vec<String>> {
        let entries = fs::read_dir(as_dir(&self.path))
            .map_err(|e| Error::io("cannot list", &self.path, e))?;
        let mut dirs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("cannot list", &self.path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir =
                entry.file_type().map(|t| t.is_dir()).unwrap_or(false) || entry.path().is_dir();
            if is_dir && !name.starts_with('.') {
                dirs.push(name);
            }
        }
        Ok(dirs)
    }

    /// The path of `dir/file`, for messages and for callers that want it.
    pub(super) fn file_path(&self, dir: &str, file: &str) -> PathBuf {
        self.path.join(dir).join(file)
    }

    /// Reads `dir/file`: open, read, read, close. `fs::read_to_string` also asks for the
    /// size and position (two more system calls per file); migration files are small, so a
    /// 1 KiB buffer, grown when needed, does without them.
    pub(super) fn read(&self, dir: &str, file: &str) -> io::Result<String> {
        let mut text = String::with_capacity(1024);
        // `take` hides that this is a `File`, whose `read_to_string` would ask for the size.
        self.open_file(dir, file)?
            .take(u64::MAX)
            .read_to_string(&mut text)?;
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
