//! The migration lock, so that concurrent deploys run one after the other.
//!
//! - PostgreSQL: a session advisory lock on a dedicated connection (never a pooled one, which
//!   could keep it), keyed by a hash of the database name.
//! - SQLite: an exclusive OS lock on `<db>.lock` beside the database, holding the pid.
//!
//! Both are released by `Drop`, on every path, and by the server or the OS when the process
//! dies. The wait is bounded; a timeout names the holder.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Called with a description of the holder when the lock is busy, once per wait.
pub type WaitNotice<'a> = &'a mut dyn FnMut(&str);

/// When a wait of `timeout` from now ends. A timeout too long for the clock (a caller's
/// `Duration::MAX`) waits as long as the clock can count, instead of panicking.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
}

/// Sleeps a little longer each time, up to a cap, without overshooting the deadline.
fn backoff(attempt: u32, deadline: Instant) {
    let step = Duration::from_millis((u64::from(attempt.min(20)) + 1) * 20)
        .min(Duration::from_millis(250));
    let left = deadline.saturating_duration_since(Instant::now());
    std::thread::sleep(step.min(left));
}

#[cfg(feature = "postgres")]
pub use pg::PgLock;
#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use crate::db::DatabaseUrl;
    use crate::pool::connect_pg;
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
    use diesel::{PgConnection, QueryableByName, RunQueryDsl};
    use sha2::{Digest, Sha256};

    /// A held PostgreSQL advisory lock; dropping it unlocks and closes its connection.
    pub struct PgLock {
        conn: PgConnection,
        key: i64,
    }

    impl std::fmt::Debug for PgLock {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "PgLock({})", self.key)
        }
    }

    #[derive(QueryableByName)]
    struct Flag {
        #[diesel(sql_type = Bool)]
        ok: bool,
    }

    #[derive(QueryableByName)]
    struct DbName {
        #[diesel(sql_type = Text)]
        name: String,
    }

    #[derive(QueryableByName)]
    struct Holder {
        #[diesel(sql_type = Integer)]
        pid: i32,
        #[diesel(sql_type = Nullable<Text>)]
        application_name: Option<String>,
    }

    /// The lock key: the first 8 bytes of SHA-256("haven-migrate:" + database name).
    pub fn key_for(database: &str) -> i64 {
        let digest = Sha256::digest(format!("haven-migrate:{database}").as_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(bytes)
    }

    impl PgLock {
        /// Takes the lock, waiting at most `timeout`.
        pub fn acquire(
            url: &DatabaseUrl,
            timeout: Duration,
            notice: WaitNotice<'_>,
        ) -> Result<Self> {
            let mut conn = connect_pg(url)?;
            let fail = |e: diesel::result::Error| Error::query("cannot take the migration lock", e);
            conn.batch_execute(&format!(
                "SET application_name = 'haven-migrate (pid {})'",
                std::process::id()
            ))
            .map_err(fail)?;
            let name = diesel::sql_query("SELECT current_database() AS name")
                .get_result::<DbName>(&mut conn)
                .map_err(fail)?
                .name;
            let key = key_for(&name);
            let deadline = Instant::now() + timeout;
            let mut attempt = 0u32;
            loop {
                if try_lock(&mut conn, key).map_err(fail)? {
                    return Ok(PgLock { conn, key });
                }
                let holder = holder(&mut conn, key).unwrap_or(None);
                if Instant::now() >= deadline {
                    return Err(Error::LockTimeout {
                        lock: format!("(PostgreSQL advisory lock {key} on database {name})"),
                        holder,
                        seconds: timeout.as_secs(),
                    });
                }
                if attempt == 0 {
                    notice(&holder.unwrap_or_else(|| "another session".into()));
                }
                backoff(attempt, deadline);
                attempt = attempt.saturating_add(1);
            }
        }
    }

    fn try_lock(conn: &mut PgConnection, key: i64) -> diesel::QueryResult<bool> {
        Ok(diesel::sql_query("SELECT pg_try_advisory_lock($1) AS ok")
            .bind::<BigInt, _>(key)
            .get_result::<Flag>(conn)?
            .ok)
    }

    /// "pid N (application_name)" of the session holding the lock, if visible.
    fn holder(conn: &mut PgConnection, key: i64) -> diesel::QueryResult<Option<String>> {
        // A bigint advisory key is stored as classid = high 32 bits, objid = low 32 bits.
        // Mask the high half too: `>>` keeps the sign, and a negative value is no oid.
        let rows = diesel::sql_query(
            "SELECT l.pid, a.application_name FROM pg_locks l \
             LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND l.classid = (($1 >> 32) & 4294967295)::oid AND l.objid = ($1 & 4294967295)::oid",
        )
        .bind::<BigInt, _>(key)
        .load::<Holder>(conn)?;
        Ok(rows.first().map(|h| match h.application_name.as_deref() {
            Some(app) if !app.is_empty() => format!("pid {} ({app})", h.pid),
            _ => format!("pid {}", h.pid),
        }))
    }

    impl Drop for PgLock {
        fn drop(&mut self) {
            // Closing the connection would release it too; unlocking first is explicit.
            let _ = diesel::sql_query("SELECT pg_advisory_unlock($1) AS ok")
                .bind::<BigInt, _>(self.key)
                .get_result::<Flag>(&mut self.conn);
        }
    }
}

#[cfg(feature = "sqlite")]
pub use file::FileLock;
#[cfg(feature = "sqlite")]
mod file {
    use super::*;
    use std::fs::{File, OpenOptions, TryLockError};
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::path::{Path, PathBuf};

    /// A held exclusive lock on `<db>.lock`; dropping it unlocks.
    #[derive(Debug)]
    pub struct FileLock {
        file: File,
        path: PathBuf,
    }

    /// The lock file that guards `db`.
    pub fn lock_path(db: &Path) -> PathBuf {
        let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".lock");
        db.with_file_name(name)
    }

    impl FileLock {
        /// Takes the lock on `<db>.lock`, waiting at most `timeout`.
        pub fn acquire(db: &Path, timeout: Duration, notice: WaitNotice<'_>) -> Result<Self> {
            let path = lock_path(db);
            let mut file = open_lock_file(&path)?;
            let deadline = deadline_after(timeout);
            let mut attempt = 0u32;
            loop {
                match file.try_lock() {
                    Ok(()) => {
                        write_pid(&mut file).map_err(|e| Error::io("cannot write", &path, e))?;
                        return Ok(FileLock { file, path });
                    }
                    Err(TryLockError::WouldBlock) => {}
                    Err(TryLockError::Error(e)) => return Err(Error::io("cannot lock", &path, e)),
                }
                let holder = read_pid(&mut file).map(|pid| format!("pid {pid}"));
                if Instant::now() >= deadline {
                    return Err(Error::LockTimeout {
                        lock: format!("(lock file {})", path.display()),
                        holder,
                        seconds: timeout.as_secs(),
                    });
                }
                if attempt == 0 {
                    notice(&holder.unwrap_or_else(|| "another process".into()));
                }
                backoff(attempt, deadline);
                attempt = attempt.saturating_add(1);
            }
        }

        /// The lock file's path.
        pub fn path(&self) -> &Path {
            &self.path
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
}
