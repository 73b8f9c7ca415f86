//! SQLite: connections (`foreign_keys=ON`, a busy timeout), the lock file, the catalog, and
//! the [`Driver`] of `SqliteConnection`.

#[cfg(feature = "commands")]
pub(crate) mod catalog;
mod lock;

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

use super::{is_recorded_impl, load_tables, read_state_impl, Driver, WaitNotice};
use crate::backend::session::{Session, SessionOptions};
use crate::backend::PoolOptions;
#[cfg(feature = "commands")]
use crate::catalog::CatalogSnapshot;
use crate::error::{Error, Result};
use crate::state::{DbState, SideLayout};
use crate::url::{Backend, DatabaseUrl};

#[cfg(feature = "commands")]
pub(crate) use lock::lock_path;
pub(crate) use lock::FileLock;

/// `foreign_keys=ON` (off by default in SQLite) and the busy timeout.
pub(crate) fn apply_pragmas(
    conn: &mut SqliteConnection,
    busy: Duration,
) -> diesel::QueryResult<()> {
    // Foreign keys are off by default in SQLite; busy_timeout makes concurrent writers
    // wait instead of failing with SQLITE_BUSY at once.
    conn.batch_execute(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {};",
        busy.as_millis()
    ))
}

/// Opens one SQLite connection with `foreign_keys=ON` and a busy timeout.
pub(crate) fn connect(url: &DatabaseUrl, options: &PoolOptions) -> Result<SqliteConnection> {
    let map = |e: String| Error::SqliteOpen {
        path: url.sqlite_path().unwrap_or(Path::new("")).to_path_buf(),
        message: e,
    };
    let mut conn =
        SqliteConnection::establish(url.connection_string()).map_err(|e| map(e.to_string()))?;
    apply_pragmas(&mut conn, options.sqlite_busy_timeout).map_err(|e| map(e.to_string()))?;
    Ok(conn)
}

impl Driver for SqliteConnection {
    const BACKEND: Backend = Backend::Sqlite;
    const RESET_SESSION: &'static str = crate::bookkeeping::reset_session(Backend::Sqlite);
    const SPLIT_NON_TRANSACTIONAL: bool = false;
    // In-process: there is no round trip to save, and the tool's own timing is exact.
    const ELAPSED_MS_SQL: Option<&'static str> = None;
    const DIRTY_ACTION_ANY_LAYOUT: Option<&'static str> = None;
    type Lock = FileLock;

    fn connect(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self> {
        connect(url, options)
    }

    fn open_existing(url: &DatabaseUrl, options: &PoolOptions) -> Result<Option<Self>> {
        match url.sqlite_path() {
            Some(path) if path.exists() => connect(url, options).map(Some),
            _ => Ok(None),
        }
    }

    fn open_session(
        url: &DatabaseUrl,
        options: &SessionOptions<'_>,
        notice: WaitNotice<'_>,
    ) -> Result<Session<Self>> {
        // Refused before the lock file is created: mode=ro, or mode=rw without the file.
        let path = url.writable_sqlite_path()?;
        // The lock first: the database file is created only by the one who holds it.
        let (lock, waited) =
            FileLock::acquire(path, options.lock_timeout, options.interrupt, notice)?;
        let conn = connect(url, options.pool)?;
        Ok(Session::new(conn, lock, waited, options.interrupt))
    }

    fn begin_transaction(
        &mut self,
        _lock: &Self::Lock,
        _notice: WaitNotice<'_>,
    ) -> Result<Duration> {
        Ok(Duration::ZERO)
    }

    fn lock_per_transaction(_lock: &Self::Lock) -> bool {
        false
    }

    // The file lock's own `Drop` unlocks it.
    fn release(&mut self, _lock: &mut Self::Lock) {}

    fn is_recorded(&mut self, version: &str) -> diesel::QueryResult<bool> {
        is_recorded_impl(self, version)
    }

    fn bookkeeping_tables(&mut self) -> diesel::QueryResult<(bool, SideLayout)> {
        load_tables(
            self,
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
             AND name = '__diesel_schema_migrations') AS diesel, \
             EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
             AND name = '__haven_migrations') AS side, \
             EXISTS (SELECT 1 FROM pragma_table_info('__haven_migrations') \
             WHERE name = 'dirty_action') AS direction",
        )
    }

    fn setup_bookkeeping(&mut self) -> diesel::QueryResult<()> {
        // SQLite has no ADD COLUMN IF NOT EXISTS: look first.
        let (_, layout) = self.bookkeeping_tables()?;
        self.batch_execute(&crate::bookkeeping::setup_sql(Backend::Sqlite, layout))
    }

    #[cfg(feature = "commands")]
    fn catalog(&mut self) -> diesel::QueryResult<CatalogSnapshot> {
        catalog::snapshot(self)
    }

    fn read_state(&mut self, checksums: bool) -> Result<DbState> {
        read_state_impl(self, checksums)
    }
}
