//! The backends: the little that differs between PostgreSQL and SQLite, behind one trait
//! ([`Driver`]), so that the engine (`execute`, `session`, `migrate`) is written once; and
//! the one wait loop of the migration lock, whatever holds it.
//!
//! Each backend lives in one place: [`postgres`] (connections and the pooler probe, the
//! advisory lock, cancelling a statement, the catalog) and [`sqlite`] (connections, the
//! lock file, the catalog).

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod session;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use diesel::{Connection, QueryableByName};
use std::time::Duration;

use crate::backend::session::{Session, SessionOptions};
#[cfg(feature = "commands")]
use crate::catalog::CatalogSnapshot;
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::state::{DbState, DieselRow, DirtyAction, SideLayout, SideRow};
use crate::stop::Stop;
use crate::url::{Backend, DatabaseUrl};
use std::time::Instant;

/// How pools are sized and timed. The defaults suit a CLI: few connections, opened lazily,
/// and a short wait, rather than r2d2's ten eager connections and 30 s wait.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections the pool opens.
    pub max_size: u32,
    /// How long `get()` waits for a connection.
    pub connection_timeout: Duration,
    /// SQLite `busy_timeout`.
    pub sqlite_busy_timeout: Duration,
    /// What stands between the pool and a PostgreSQL server (see [`Pooler`]).
    #[cfg(feature = "postgres")]
    pub pooler: Pooler,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 2,
            connection_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(5),
            #[cfg(feature = "postgres")]
            pooler: Pooler::default(),
        }
    }
}

/// What stands between the tool and the PostgreSQL server, which decides how the
/// migration lock can be held (`--pooler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooler {
    /// Find out: a PgBouncer that refuses a startup option is taken for a transaction
    /// pooler; otherwise a probe compares the server backends of two connections.
    #[default]
    Auto,
    /// A direct connection to the server.
    None,
    /// A pooler that gives each client one server connection for its whole session
    /// (PgBouncer `pool_mode = session`): the same as a direct connection.
    Session,
    /// A pooler that may hand each transaction to another server connection (PgBouncer
    /// `pool_mode = transaction`): session state, session locks and named prepared
    /// statements do not survive between transactions.
    Transaction,
}

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
    /// An expression that reads a row's `dirty_action` from the side table (`h`) whether
    /// the column exists or not, when the backend has one; `None`: the side table's layout
    /// decides between the column and NULL.
    const DIRTY_ACTION_ANY_LAYOUT: Option<&'static str>;
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
    #[cfg(feature = "commands")]
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
            let direction = match (D::DIRTY_ACTION_ANY_LAYOUT, layout) {
                (Some(any_layout), _) => any_layout,
                (None, SideLayout::Current) => "dirty_action",
                (None, _) => "NULL AS dirty_action",
            };
            // Checksums are most of the side table's bytes: fetch them only when compared.
            let (checksum, filter) = if checksums {
                ("checksum", "")
            } else {
                ("NULL AS checksum", " WHERE dirty")
            };
            let query = format!(
                "SELECT version, {checksum}, dirty, {direction}, duration_ms \
                 FROM __haven_migrations h{filter}"
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

// ---- The wait loop of the migration lock.

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
