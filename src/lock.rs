//! The migration lock, so that concurrent deploys run one after the other.
//!
//! - PostgreSQL: an advisory lock keyed by a hash of the database name, held by the very
//!   session that runs the migrations. A killed client's server backend can run on, and
//!   still commit; since it holds the lock, the next deploy waits for it instead of reading
//!   a state that is about to change. On a direct (or session-pooled) connection it is a
//!   session lock, which survives COMMIT, ROLLBACK and `RESET ALL`. Behind a pooler that
//!   hands each transaction to any server connection, a session lock would stay on one of
//!   them, so the lock is taken as the first statement of every transaction instead
//!   (`pg_try_advisory_xact_lock`), and released by its COMMIT or ROLLBACK.
//! - SQLite: an exclusive OS lock on `<db>.lock` beside the database, holding the pid.
//!
//! Both are released on every path (by `Drop`, by the end of a transaction), and by the
//! server or the OS when the process dies. One wait loop serves every kind: bounded by the
//! timeout, with a notice while waiting and the holder named on timeout.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::stop::Stop;

/// Called with a description of the holder when the lock is busy, once per wait.
pub type WaitNotice<'a> = &'a mut dyn FnMut(&str);

/// Sleeps a little longer each time, up to a cap, without overshooting the deadline.
fn backoff(attempt: u32, deadline: Instant) {
    let step = Duration::from_millis((u64::from(attempt.min(20)) + 1) * 20)
        .min(Duration::from_millis(250));
    let left = deadline.saturating_duration_since(Instant::now());
    std::thread::sleep(step.min(left));
}

/// A lock being waited for: how to try it, who holds it, and what to call it.
pub(crate) struct Attempt<'a> {
    /// Tries to take the lock once.
    pub try_lock: &'a mut dyn FnMut() -> Result<bool>,
    /// Describes the holder ("pid N (...)"), when it can be found.
    pub holder: &'a mut dyn FnMut() -> Option<String>,
    /// The lock, for the timeout message.
    pub name: &'a dyn Fn() -> String,
}

/// Waits until `attempt` takes the lock, at most `timeout`, or until `interrupt` fires;
/// returns how long it waited.
pub(crate) fn wait_for(
    attempt: Attempt<'_>,
    timeout: Duration,
    interrupt: &Interrupt,
    notice: WaitNotice<'_>,
) -> Result<Duration> {
    let started = Instant::now();
    // A timeout too large to add to the clock is as good as none.
    let deadline = started
        .checked_add(timeout)
        .unwrap_or_else(|| started + Duration::from_secs(100 * 365 * 24 * 3600));
    let mut tries = 0u32;
    loop {
        interrupt.check(Stop::default)?;
        if (attempt.try_lock)()? {
            return Ok(started.elapsed());
        }
        let holder = (attempt.holder)();
        if Instant::now() >= deadline {
            return Err(Error::LockTimeout {
                lock: (attempt.name)(),
                holder,
                seconds: timeout.as_secs(),
            });
        }
        if tries == 0 {
            notice(holder.as_deref().unwrap_or("another deploy"));
        }
        backoff(tries, deadline);
        tries = tries.saturating_add(1);
    }
}

#[cfg(feature = "postgres")]
pub use pg::PgLock;
#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use crate::pool::{PgLink, CHECK_INTERVAL_MS};
    use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
    use diesel::{PgConnection, QueryableByName, RunQueryDsl};
    use sha2::{Digest, Sha256};

    /// The migration lock of one PostgreSQL database, as the working session holds it.
    #[derive(Debug)]
    pub struct PgLock {
        key: i64,
        database: String,
        timeout: Duration,
        /// Taken in each transaction (behind a transaction pooler), not for the session.
        per_transaction: bool,
        /// `client_connection_check_interval` is set in each transaction too.
        check_interval_per_transaction: bool,
        /// The session lock is held, and must be released.
        held: bool,
        /// Stops a wait for the lock.
        interrupt: Interrupt,
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

    fn fail(e: diesel::result::Error) -> Error {
        Error::query("cannot take the migration lock", e)
    }

    impl PgLock {
        /// The lock of the database `conn` is connected to; nothing is taken yet.
        pub(crate) fn new(
            conn: &mut PgConnection,
            link: PgLink,
            timeout: Duration,
            interrupt: &Interrupt,
        ) -> Result<Self> {
            let database = diesel::sql_query("SELECT current_database() AS name")
                .get_result::<DbName>(conn)
                .map_err(fail)?
                .name;
            Ok(PgLock {
                key: key_for(&database),
                database,
                timeout,
                per_transaction: link.transaction_pooled,
                check_interval_per_transaction: link.check_interval_per_transaction,
                held: false,
                interrupt: interrupt.clone(),
            })
        }

        /// Whether the lock is taken in each transaction rather than held for the session.
        pub(crate) fn per_transaction(&self) -> bool {
            self.per_transaction
        }

        /// Takes the session lock (on a direct or session-pooled connection); returns the
        /// time waited. Behind a transaction pooler, nothing is taken here.
        pub(crate) fn acquire_session(
            &mut self,
            conn: &mut PgConnection,
            notice: WaitNotice<'_>,
        ) -> Result<Duration> {
            if self.per_transaction {
                return Ok(Duration::ZERO);
            }
            let waited = self.wait(conn, "SELECT pg_try_advisory_lock($1) AS ok", notice)?;
            self.held = true;
            Ok(waited)
        }

        /// The first work of each transaction of the session: behind a transaction pooler,
        /// takes the lock for this transaction; where startup parameters could not set
        /// it, sets `client_connection_check_interval` for this transaction.
        pub(crate) fn begin_transaction(
            &self,
            conn: &mut PgConnection,
            notice: WaitNotice<'_>,
        ) -> Result<Duration> {
            if self.check_interval_per_transaction {
                diesel::sql_query(format!(
                    "SELECT set_config('client_connection_check_interval', '{CHECK_INTERVAL_MS}', \
                     true) IS NOT NULL AS ok"
                ))
                .get_result::<Flag>(conn)
                .map_err(fail)?;
            }
            if !self.per_transaction {
                return Ok(Duration::ZERO);
            }
            self.wait(conn, "SELECT pg_try_advisory_xact_lock($1) AS ok", notice)
        }

        fn wait(
            &self,
            conn: &mut PgConnection,
            try_sql: &str,
            notice: WaitNotice<'_>,
        ) -> Result<Duration> {
            let key = self.key;
            // Both closures need the connection, one at a time.
            let conn = std::cell::RefCell::new(conn);
            let attempt = Attempt {
                try_lock: &mut || {
                    diesel::sql_query(try_sql)
                        .bind::<BigInt, _>(key)
                        .get_result::<Flag>(&mut **conn.borrow_mut())
                        .map(|f| f.ok)
                        .map_err(fail)
                },
                holder: &mut || holder(&mut conn.borrow_mut(), key).ok().flatten(),
                name: &|| {
                    format!(
                        "(PostgreSQL advisory lock {key} on database {})",
                        self.database
                    )
                },
            };
            wait_for(attempt, self.timeout, &self.interrupt, notice)
        }

        /// Releases the session lock. Closing the connection would release it too; this
        /// makes it explicit, and immediate for a caller that keeps the connection.
        pub(crate) fn release(&mut self, conn: &mut PgConnection) {
            if std::mem::take(&mut self.held) {
                let _ = diesel::sql_query("SELECT pg_advisory_unlock($1) AS ok")
                    .bind::<BigInt, _>(self.key)
                    .get_result::<Flag>(conn);
            }
        }
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
}

#[cfg(feature = "sqlite")]
pub use file::{lock_path, FileLock};
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
            Ok((FileLock { file, path }, waited))
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
