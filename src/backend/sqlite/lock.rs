//! The migration lock on SQLite: an exclusive OS lock on `<db>.lock` beside the database,
//! holding the holder's pid. The OS releases it when the process dies. The lock file is
//! never a symbolic (or hard) link: following one would overwrite its target.

use std::time::Duration;

use crate::backend::{wait_for, Attempt, WaitNotice};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A held exclusive lock on `<db>.lock`; dropping it unlocks.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

/// The lock file that guards `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    db.with_file_name(name)
}

impl FileLock {
    /// Takes the lock on `<db>.lock`, waiting at most `timeout`; also returns the time
    /// waited.
    pub fn acquire(
        db: &Path,
        timeout: Duration,
        interrupt: &Interrupt,
        notice: WaitNotice<'_>,
    ) -> Result<(Self, Duration)> {
        let path = lock_path(db);
        let file = std::cell::RefCell::new(open_lock_file(&path)?);
        let attempt = Attempt {
            try_lock: &mut || match file.borrow().try_lock() {
                Ok(()) => Ok(true),
                Err(TryLockError::WouldBlock) => Ok(false),
                Err(TryLockError::Error(e)) => Err(Error::io("cannot lock", &path, e)),
            },
            holder: &mut || read_pid(&mut file.borrow_mut()).map(|pid| format!("pid {pid}")),
            name: &|| format!("(lock file {})", path.display()),
        };
        let waited = wait_for(attempt, timeout, interrupt, notice)?;
        let mut file = file.into_inner();
        write_pid(&mut file).map_err(|e| Error::io("cannot write", &path, e))?;
        Ok((FileLock { file }, waited))
    }
}

/// Opens (or creates) the lock file, which is then truncated and given our pid. So it
/// must be a plain file of its own: never followed through a symbolic link
/// (`O_NOFOLLOW`), never another file's second name (a hard link). In a shared directory
/// either would let anyone who can write there make us overwrite any file we may write.
fn open_lock_file(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(nofollow());
    }
    let file = options
        .open(path)
        .map_err(|e| match symlink_problem(path, &e) {
            Some(problem) => Error::LockFile {
                path: path.to_path_buf(),
                problem,
            },
            None => Error::io("cannot open the lock file", path, e),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io("cannot inspect the lock file", path, e))?;
    if let Some(problem) = not_a_lone_file(&meta) {
        return Err(Error::LockFile {
            path: path.to_path_buf(),
            problem,
        });
    }
    Ok(file)
}

#[cfg(unix)]
fn nofollow() -> i32 {
    // open(2) takes the flags as a C int; rustix keeps them as the same bits, unsigned.
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// Why opening failed, when the cause is a symbolic link at `path` (`O_NOFOLLOW` makes
/// that ELOOP, which the path's own metadata confirms).
fn symlink_problem(path: &Path, err: &std::io::Error) -> Option<String> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    #[cfg(unix)]
    let eloop = err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error());
    #[cfg(not(unix))]
    let eloop = {
        let _ = err;
        false
    };
    (is_link || eloop).then(|| {
        "it is a symbolic link, and haven-migrate never follows one there (it would \
         overwrite the link's target with a pid); remove the link, and make sure no one \
         else can write to the database's directory"
            .to_owned()
    })
}

fn not_a_lone_file(meta: &std::fs::Metadata) -> Option<String> {
    if !meta.is_file() {
        return Some("it is not a plain file; remove it".to_owned());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            return Some(format!(
                "it has {} names (hard links), so writing our pid to it would overwrite \
                 another file; remove it, and make sure no one else can write to the \
                 database's directory",
                meta.nlink()
            ));
        }
    }
    None
}

fn write_pid(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "{}", std::process::id())?;
    file.flush()
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // The file stays: removing it would race with a waiter that already opened it.
        let _ = self.file.unlock();
    }
}
