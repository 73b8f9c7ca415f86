//! Reading a migration set: one listing of the directory (or of the embedded table), then
//! every file of every migration.
//!
//! What diesel would skip silently, though it was meant as a migration, is an error naming
//! it: a directory whose name is not UTF-8, a symbolic link named like a migration that
//! leads nowhere, a file that is not UTF-8 text.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{embedded, metadata, Entry, Listing, Migration, Origin};
use crate::error::{Error, Result};
use crate::url::Backend;

/// The listing of `origin`: sorted, with duplicate versions refused.
pub(super) fn listing(origin: Origin) -> Result<Listing> {
    let mut entries = match &origin {
        Origin::Embedded(backend) => embedded_entries(*backend)?,
        _ => dir_entries(origin.dir().unwrap_or(Path::new("")))?,
    };
    entries.sort_by(|a, b| a.version.cmp(&b.version).then(a.dir_name.cmp(&b.dir_name)));
    if let Some(pair) = entries.windows(2).find(|w| w[0].version == w[1].version) {
        return Err(Error::MalformedMigrations {
            path: origin.dir().map_or_else(|| PathBuf::from("<embedded>"), Path::to_path_buf),
            problem: format!(
                "two migrations share the version {}: {} and {}; diesel would silently treat \
                 them as one. Give one of them a new timestamp (e.g. with `haven-migrate revision`)",
                pair[0].version, pair[0].dir_name, pair[1].dir_name
            ),
        });
    }
    Ok(Listing { origin, entries })
}

/// Every listed migration, with its files.
pub(super) fn migrations(listing: &Listing) -> Result<Vec<Migration>> {
    match listing.origin() {
        Origin::Embedded(backend) => {
            let table = embedded_table(*backend);
            listing
                .entries()
                .iter()
                .map(|entry| embedded_migration(entry, table, *backend))
                .collect()
        }
        origin => {
            let root = origin.dir().unwrap_or(Path::new(""));
            in_parallel(listing.entries(), |entry| dir_migration(root, entry))
        }
    }
}

/// Below this many migrations, one thread reads them all: a thread costs more than it saves.
const ONE_THREAD_UP_TO: usize = 64;

/// `read` of every item, in order, on up to four scoped threads that each take one
/// contiguous share. Reading thousands of small files is mostly the kernel's work per file
/// (path walk, open, read, close) plus the scan of their SQL, and it divides between cores:
/// two threads nearly halve `check` and `--sql` on a large directory. Each share stops at
/// its first error, and the shares are joined in order, so the error reported is the first
/// in order, as with one thread.
pub(super) fn in_parallel<I: Sync, T: Send>(
    entries: &[I],
    read: impl Fn(&I) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    if entries.len() <= ONE_THREAD_UP_TO {
        return entries.iter().map(&read).collect();
    }
    // Asked only past the threshold: std reads the cgroup's CPU quota files to answer.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads == 1 {
        return entries.iter().map(&read).collect();
    }
    let share = entries.len().div_ceil(threads);
    let read_share = |part: &[I]| part.iter().map(&read).collect::<Result<Vec<T>>>();
    std::thread::scope(|scope| {
        let mut parts = entries.chunks(share);
        let first = parts.next().unwrap_or_default();
        let others: Vec<_> = parts.map(|part| scope.spawn(|| read_share(part))).collect();
        let mut all = read_share(first)?;
        for other in others {
            // A panic on a reading thread is a bug: pass it on as it is.
            let part = other
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
            all.extend(part);
        }
        Ok(all)
    })
}

fn embedded_table(backend: Backend) -> &'static [embedded::EmbeddedEntry] {
    match backend {
        Backend::Postgres => embedded::POSTGRES,
        Backend::Sqlite => embedded::SQLITE,
    }
}

fn embedded_entries(backend: Backend) -> Result<Vec<Entry>> {
    embedded_table(backend)
        .iter()
        .map(|e| {
            Entry::new(e.dir_name.to_owned()).map_err(|problem| Error::MalformedMigrations {
                path: embedded_path(backend, e.dir_name),
                problem,
            })
        })
        .collect()
}

fn embedded_path(backend: Backend, dir_name: &str) -> PathBuf {
    PathBuf::from(format!("<embedded {}>/{dir_name}", backend.dir_name()))
}

fn embedded_migration(
    entry: &Entry,
    table: &'static [embedded::EmbeddedEntry],
    backend: Backend,
) -> Result<Migration> {
    let path = embedded_path(backend, entry.dir_name());
    let found = table.iter().find(|e| e.dir_name == entry.dir_name());
    let Some(up) = found.and_then(|e| e.up) else {
        return Err(Error::MalformedMigrations {
            path,
            problem: format!("migration {} has no up.sql", entry.version()),
        });
    };
    let tx = metadata::parse(found.and_then(|e| e.metadata), || {
        path.join("metadata.toml")
    })?;
    Ok(Migration::embedded(
        entry.clone(),
        (up, found.and_then(|e| e.down)),
        tx,
    ))
}

fn dir_migration(root: &Path, entry: &Entry) -> Result<Migration> {
    let dir = root.join(entry.dir_name());
    let Some(up) = read_if_present(&dir.join("up.sql"))? else {
        return Err(Error::MalformedMigrations {
            problem: format!(
                "migration {} has no up.sql; add {}, or remove the directory",
                entry.version(),
                dir.join("up.sql").display()
            ),
            path: dir,
        });
    };
    let meta = read_if_present(&dir.join("metadata.toml"))?;
    let tx = metadata::parse(meta.as_deref(), || dir.join("metadata.toml"))?;
    Ok(Migration::on_disk(entry.clone(), dir, up, tx))
}

/// The text of `path`, `None` when there is no such file. A file that is not UTF-8 is a
/// malformed migration (exit 2), saying where the first bad byte is; anything else that
/// stops the read is an I/O failure.
pub(super) fn read_if_present(path: &Path) -> Result<Option<String>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // A directory of that name is no file either.
        Err(_) if path.is_dir() => return Ok(None),
        Err(e) => return Err(Error::io("cannot read", path, e)),
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| Error::MalformedMigrations {
            path: path.to_path_buf(),
            problem: format!(
                "it is not UTF-8 text (the first bad byte is at offset {}); save it as UTF-8",
                e.utf8_error().valid_up_to()
            ),
        })
}

/// The migration directories of `root`, skipping files and hidden entries as diesel does.
fn dir_entries(root: &Path) -> Result<Vec<Entry>> {
    let unreadable = |e: io::Error| Error::MalformedMigrations {
        path: root.to_path_buf(),
        problem: format!(
            "cannot read the migration directory ({e}); check --migration-dir, \
             MIGRATION_DIRECTORY or diesel.toml"
        ),
    };
    let listing = if root.as_os_str().is_empty() {
        fs::read_dir(".")
    } else {
        fs::read_dir(root)
    };
    let mut entries = Vec::new();
    for dir_entry in listing.map_err(unreadable)? {
        let dir_entry = dir_entry.map_err(|e| Error::io("cannot list", root, e))?;
        if let Some(name) = migration_dir_name(&dir_entry)? {
            let entry = Entry::new(name).map_err(|problem| Error::MalformedMigrations {
                path: dir_entry.path(),
                problem,
            })?;
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// The entry's name if it is a migration directory; `None` for what is skipped.
fn migration_dir_name(entry: &fs::DirEntry) -> Result<Option<String>> {
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
            Err(e) => return broken_link(entry, &e).map(|()| None),
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
            path: entry.path(),
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
fn broken_link(entry: &fs::DirEntry, err: &io::Error) -> Result<()> {
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

/// ELOOP: too many levels of symbolic links.
#[cfg(unix)]
fn is_loop(err: &io::Error) -> bool {
    err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

#[cfg(not(unix))]
fn is_loop(_: &io::Error) -> bool {
    false
}
