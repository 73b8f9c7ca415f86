//! PostgreSQL: connections (and the probe for a pooler), the advisory lock, cancelling a
//! statement, the catalog, and the [`Driver`] of `PgConnection`.

#[cfg(feature = "commands")]
pub(crate) mod catalog;
pub(crate) mod connection;
mod lock;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::PgConnection;

use super::{is_recorded_impl, load_tables, read_state_impl, Driver, WaitNotice};
use crate::backend::session::{Session, SessionOptions};
use crate::backend::PoolOptions;
#[cfg(feature = "commands")]
use crate::catalog::CatalogSnapshot;
use crate::error::Result;
use crate::state::{DbState, SideLayout};
use crate::url::{Backend, DatabaseUrl};

#[cfg(feature = "commands")]
pub(crate) use connection::{connect_pg, connect_pg_briefly};
pub use lock::PgLock;

impl Driver for PgConnection {
    const BACKEND: Backend = Backend::Postgres;
    const RESET_SESSION: &'static str = crate::bookkeeping::reset_session(Backend::Postgres);
    const SPLIT_NON_TRANSACTIONAL: bool = true;
    // statement_timestamp() is when the batch arrived, clock_timestamp() the current time;
    // not now(), the start of the transaction, which can be a lock wait earlier.
    const ELAPSED_MS_SQL: Option<&'static str> =
        Some("(EXTRACT(EPOCH FROM clock_timestamp() - statement_timestamp()) * 1000)::bigint");
    // Only a dirty row has a direction to read, so only a dirty row is turned into JSON: the
    // column is read by name when it exists and is NULL when it does not (a side table of
    // an older haven-migrate), with no catalog query to find out which. That query cost a
    // fresh backend 0.75 ms, a twentieth of `current`.
    const DIRTY_ACTION_ANY_LAYOUT: Option<&'static str> =
        Some("CASE WHEN h.dirty THEN to_jsonb(h) ->> 'dirty_action' END AS dirty_action");
    type Lock = PgLock;

    fn connect(url: &DatabaseUrl, _options: &PoolOptions) -> Result<Self> {
        connection::connect_pg(url)
    }

    fn open_existing(url: &DatabaseUrl, _options: &PoolOptions) -> Result<Option<Self>> {
        connection::connect_pg(url).map(Some)
    }

    fn open_session(
        url: &DatabaseUrl,
        options: &SessionOptions<'_>,
        notice: WaitNotice<'_>,
    ) -> Result<Session<Self>> {
        let (mut conn, link) = connection::connect_for_migrations(url, options.pool.pooler)?;
        let target = connection::cancel_target(&mut conn, url)?;
        let lock = PgLock::new(&mut conn, link, options.lock_timeout, options.interrupt)?;
        // From here, the session unwatches and unlocks when it goes, error or not.
        let mut session = Session::new(conn, lock, Duration::ZERO, options.interrupt);
        let cancel = move || connection::cancel(&target);
        options.interrupt.watch(std::sync::Arc::new(cancel));
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
            // Whether the side table has `dirty_action` is not looked up: PostgreSQL's setup
            // adds the column "if not exists" and its reads work either way (see
            // DIRTY_ACTION_ANY_LAYOUT), so an existing side table counts as this version's.
            "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS diesel, \
             to_regclass('__haven_migrations') IS NOT NULL AS side, \
             to_regclass('__haven_migrations') IS NOT NULL AS direction",
        )
    }

    fn setup_bookkeeping(&mut self) -> diesel::QueryResult<()> {
        // PostgreSQL adds the column "if not exists": no need to look first.
        let sql = crate::bookkeeping::setup_sql(Backend::Postgres, SideLayout::WithoutDirection);
        self.batch_execute(&sql)
    }

    #[cfg(feature = "commands")]
    fn catalog(&mut self) -> diesel::QueryResult<CatalogSnapshot> {
        catalog::snapshot(self)
    }

    fn read_state(&mut self, checksums: bool) -> Result<DbState> {
        read_state_impl(self, checksums)
    }
}
