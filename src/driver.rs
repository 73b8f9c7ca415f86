//! The backend driver: the little that differs between PostgreSQL and SQLite, behind one
//! trait, so that the engine (`execute`, `session`) is written once.

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use diesel::{Connection, QueryableByName};
use std::time::Duration;

use crate::catalog::CatalogSnapshot;
use crate::error::{Error, Result};
use crate::lock::WaitNotice;
use crate::pool::PoolOptions;
use crate::session::{Session, SessionOptions};
use crate::state::{DbState, DieselRow, DirtyAction, SideLayout, SideRow};
use crate::url::{Backend, DatabaseUrl};

/// Runs `$body` with `$d` bound to the connection type of `$backend`.
macro_rules! with_driver {
    ($backend:expr, $d:ident => $body:expr) => {
        match $backend {
            #[cfg(feature = "postgres")]
            $crate::url::Backend::Postgres => {
                type $d = diesel::PgConnection;
                $body
            }
            #[cfg(feature = "sqlite")]
            $crate::url::Backend::Sqlite => {
                type $d = diesel::SqliteConnection;
                $body
            }
            #[allow(unreachable_patterns)]
            other => Err($crate::error::Error::BadInput(format!(
                "this build of haven-schema has no {other} support; enable the feature"
            ))),
        }
    };
}

pub(crate) use with_driver;

/// What the engine needs from a backend.
pub trait Driver: Connection + SimpleConnection + Sized + 'static {
    /// Which backend this is.
    const BACKEND: Backend;
    /// SQL run after each migration so its `SET`s do not leak into the next one.
    const RESET_SESSION: &'static str;
    /// Whether a non-transactional migration must be sent one statement at a time
    /// (PostgreSQL wraps a multi-statement simple query in an implicit transaction).
    const SPLIT_NON_TRANSACTIONAL: bool;
    /// An SQL expression for the milliseconds since the current batch of statements began,
    /// when sending a transactional migration's body and bookkeeping as one batch saves a
    /// round trip.
    const ELAPSED_MS_SQL: Option<&'static str>;
    /// The migration lock, as a session holds it.
    type Lock;

    /// Opens a connection, creating a missing SQLite file (scratch databases).
    fn connect(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self>;
    /// Opens a connection for reading only, or `None` when there is no database yet
    /// (a SQLite file that does not exist, which must not be created).
    fn open_existing(url: &DatabaseUrl, options: &PoolOptions) -> Result<Option<Self>>;
    /// Opens the working session of a write command: one connection, holding the migration
    /// lock (or ready to take it in each transaction).
    fn open_session(
        url: &DatabaseUrl,
        options: &SessionOptions<'_>,
        notice: WaitNotice<'_>,
    ) -> Result<Session<Self>>;
    /// The first work of every transaction of a session: takes the lock when it is held per
    /// transaction. Returns the time waited for it.
    fn begin_transaction(&mut self, lock: &Self::Lock, notice: WaitNotice<'_>) -> Result<Duration>;
    /// Whether the lock is taken per transaction, so that each step must check again, in its
    /// transaction, that it still has work to do.
    fn lock_per_transaction(lock: &Self::Lock) -> bool;
    /// Releases the lock (at the end of a session).
    fn release(&mut self, lock: &mut Self::Lock);
    /// Whether diesel's table records `version` (inside a step's transaction).
    fn is_recorded(&mut self, version: &str) -> diesel::QueryResult<bool>;
    /// Whether diesel's table exists, and the side table's layout.
    fn bookkeeping_tables(&mut self) -> diesel::QueryResult<(bool, SideLayout)>;
    /// Creates the bookkeeping tables where missing, and brings an older side table to this
    /// version's layout.
    fn setup_bookkeeping(&mut self) -> diesel::QueryResult<()>;
    /// The catalog, for `verify`.
    fn catalog(&mut self) -> diesel::QueryResult<CatalogSnapshot>;
    /// Reads what the database records, without writing anything. Without `checksums`,
    /// only the dirty markers of the side table are read (a status needs no more).
    fn read_state(&mut self, checksums: bool) -> Result<DbState>;
}

#[derive(QueryableByName)]
struct TablesRow {
    #[diesel(sql_type = Bool)]
    diesel: bool,
    #[diesel(sql_type = Bool)]
    side: bool,
    #[diesel(sql_type = Bool)]
    direction: bool,
}

#[derive(QueryableByName)]
struct DieselRowSql {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = Nullable<Timestamp>)]
    run_on: Option<chrono::NaiveDateTime>,
}

#[derive(QueryableByName)]
struct SideRowSql {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = Nullable<Text>)]
    checksum: Option<String>,
    #[diesel(sql_type = Bool)]
    dirty: bool,
    #[diesel(sql_type = Nullable<Text>)]
    dirty_action: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    duration_ms: Option<i64>,
}

/// Reads what the database records, without writing anything.
fn read_state_impl<D: Driver>(conn: &mut D, checksums: bool) -> Result<DbState>
where
    DieselRowSql: QueryableByName<D::Backend>,
    SideRowSql: QueryableByName<D::Backend>,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, D, DieselRowSql>
        + diesel::query_dsl::LoadQuery<'static, D, SideRowSql>,
{
    use diesel::RunQueryDsl;
    let fail = |e| Error::query("cannot read the migration bookkeeping", e);
    let (has_diesel, side_layout) = conn.bookkeeping_tables().map_err(fail)?;
    let diesel_rows: Vec<DieselRowSql> = if has_diesel {
        diesel::sql_query("SELECT version, run_on FROM __diesel_schema_migrations")
            .load(conn)
            .map_err(fail)?
    } else {
        Vec::new()
    };
    let side_rows: Vec<SideRowSql> = match side_layout {
        SideLayout::Missing => Vec::new(),
        layout => {
            let direction = match layout {
                SideLayout::Current => "dirty_action",
                _ => "NULL AS dirty_action",
            };
            // Checksums are most of the side table's bytes: fetch them only when compared.
            let (checksum, filter) = if checksums {
                ("checksum", "")
            } else {
                ("NULL AS checksum", " WHERE dirty")
            };
            let query = format!(
                "SELECT version, {checksum}, dirty, {direction}, duration_ms \
                 FROM __haven_migrations{filter}"
            );
            diesel::sql_query(query).load(conn).map_err(fail)?
        }
    };
    let mut state = DbState::from_rows(
        diesel_rows
            .into_iter()
            .map(|r| DieselRow {
                version: r.version,
                run_on: r.run_on,
            })
            .collect(),
        side_rows
            .into_iter()
            .map(|r| SideRow {
                version: r.version,
                checksum: r.checksum,
                dirty: r.dirty,
                dirty_action: r.dirty_action.as_deref().and_then(DirtyAction::from_sql),
                duration_ms: r.duration_ms,
            })
            .collect(),
    );
    state.side_layout = side_layout;
    Ok(state)
}

#[derive(QueryableByName)]
struct RecordedRow {
    #[diesel(sql_type = Bool)]
    recorded: bool,
}

fn is_recorded_impl<C>(conn: &mut C, version: &str) -> diesel::QueryResult<bool>
where
    C: Connection,
    RecordedRow: QueryableByName<C::Backend>,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, RecordedRow>,
{
    use diesel::RunQueryDsl;
    // Versions are digits (checked when the set is read), so the literal is safe to inline.
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM __diesel_schema_migrations WHERE version = {}) AS recorded",
        crate::bookkeeping::literal(version)
    );
    let row: RecordedRow = diesel::sql_query(sql).get_result(conn)?;
    Ok(row.recorded)
}

fn load_tables<C>(conn: &mut C, sql: &str) -> diesel::QueryResult<(bool, SideLayout)>
where
    C: Connection,
    TablesRow: QueryableByName<C::Backend>,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, TablesRow>,
{
    use diesel::RunQueryDsl;
    let row: TablesRow = diesel::sql_query(sql).get_result(conn)?;
    let layout = match (row.side, row.direction) {
        (false, _) => SideLayout::Missing,
        (true, false) => SideLayout::WithoutDirection,
        (true, true) => SideLayout::Current,
    };
    Ok((row.diesel, layout))
}

#[cfg(feature = "postgres")]
impl Driver for diesel::PgConnection {
    const BACKEND: Backend = Backend::Postgres;
    const RESET_SESSION: &'static str = crate::bookkeeping::reset_session(Backend::Postgres);
    const SPLIT_NON_TRANSACTIONAL: bool = true;
    // statement_timestamp() is when the batch arrived, clock_timestamp() the current time;
    // not now(), the start of the transaction, which can be a lock wait earlier.
    const ELAPSED_MS_SQL: Option<&'static str> =
        Some("(EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint");
    type Lock = crate::lock::PgLock;

    fn connect(url: &DatabaseUrl, _options: &PoolOptions) -> Result<Self> {
        crate::pool::connect_pg(url)
    }

    fn open_existing(url: &DatabaseUrl, _options: &PoolOptions) -> Result<Option<Self>> {
        crate::pool::connect_pg(url).map(Some)
    }

    fn open_session(
        url: &DatabaseUrl,
        options: &SessionOptions<'_>,
        notice: WaitNotice<'_>,
    ) -> Result<Session<Self>> {
        let (mut conn, link) = crate::pool::connect_for_migrations(url, options.pool.pooler)?;
        options
            .interrupt
            .watch(crate::pool::cancel_target(&mut conn, url)?);
        let lock =
            crate::lock::PgLock::new(&mut conn, link, options.lock_timeout, options.interrupt)?;
        // From here, the session unwatches and unlocks when it goes, error or not.
        let mut session = Session::new(conn, lock, Duration::ZERO, Some(link), options.interrupt);
        let (conn, lock, waited) = session.parts_mut();
        *waited = lock.acquire_session(conn, notice)?;
        Ok(session)
    }

    fn begin_transaction(&mut self, lock: &Self::Lock, notice: WaitNotice<'_>) -> Result<Duration> {
        lock.begin_transaction(self, notice)
    }

    fn lock_per_transaction(lock: &Self::Lock) -> bool {
        lock.per_transaction()
    }

    fn release(&mut self, lock: &mut Self::Lock) {
        lock.release(self);
    }

    fn is_recorded(&mut self, version: &str) -> diesel::QueryResult<bool> {
        is_recorded_impl(self, version)
    }

    fn bookkeeping_tables(&mut self) -> diesel::QueryResult<(bool, SideLayout)> {
        load_tables(
            self,
            "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS diesel, \
             to_regclass('__haven_migrations') IS NOT NULL AS side, \
             EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('__haven_migrations') \
             AND attname = 'dirty_action' AND NOT attisdropped) AS direction",
        )
    }

    fn setup_bookkeeping(&mut self) -> diesel::QueryResult<()> {
        // PostgreSQL adds the column "if not exists": no need to look first.
        let sql = crate::bookkeeping::setup_sql(Backend::Postgres, SideLayout::WithoutDirection);
        self.batch_execute(&sql)
    }

    fn catalog(&mut self) -> diesel::QueryResult<CatalogSnapshot> {
        crate::catalog::snapshot_pg(self)
    }

    fn read_state(&mut self, checksums: bool) -> Result<DbState> {
        read_state_impl(self, checksums)
    }
}

#[cfg(feature = "sqlite")]
impl Driver for diesel::SqliteConnection {
    const BACKEND: Backend = Backend::Sqlite;
    const RESET_SESSION: &'static str = crate::bookkeeping::reset_session(Backend::Sqlite);
    const SPLIT_NON_TRANSACTIONAL: bool = false;
    // In-process: there is no round trip to save, and the tool's own timing is exact.
    const ELAPSED_MS_SQL: Option<&'static str> = None;
    type Lock = crate::lock::FileLock;

    fn connect(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self> {
        crate::pool::connect_sqlite(url, options)
    }

    fn open_existing(url: &DatabaseUrl, options: &PoolOptions) -> Result<Option<Self>> {
        match url.sqlite_path() {
            Some(path) if path.exists() => crate::pool::connect_sqlite(url, options).map(Some),
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
            crate::lock::FileLock::acquire(path, options.lock_timeout, options.interrupt, notice)?;
        let conn = crate::pool::connect_sqlite(url, options.pool)?;
        Ok(Session::new(conn, lock, waited, None, options.interrupt))
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

    fn catalog(&mut self) -> diesel::QueryResult<CatalogSnapshot> {
        crate::catalog::snapshot_sqlite(self)
    }

    fn read_state(&mut self, checksums: bool) -> Result<DbState> {
        read_state_impl(self, checksums)
    }
}
