//! The working session of a write command: one connection that holds the migration lock
//! and does all the work, so that the lock lives exactly as long as the server backend
//! that could still change the database.
//!
//! On PostgreSQL, behind a transaction pooler, the lock is instead taken at the start of
//! every transaction ([`Session::transaction`]); the state is then read, and each step
//! checks again that it still has work to do, under that lock.

use std::time::Duration;

use crate::backend::Driver;
use crate::backend::PoolOptions;
use crate::backend::WaitNotice;
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::state::DbState;

/// How a session is opened.
#[derive(Debug, Clone, Copy)]
pub struct SessionOptions<'a> {
    /// Connection settings (SQLite busy timeout, `--pooler`).
    pub pool: &'a PoolOptions,
    /// How long to wait for the migration lock.
    pub lock_timeout: Duration,
    /// Checked while waiting for the lock and between steps; told which server statement
    /// to cancel.
    pub interrupt: &'a Interrupt,
}

/// A connection holding the migration lock; dropping it releases the lock.
pub struct Session<D: Driver> {
    conn: D,
    lock: D::Lock,
    waited: Duration,
    interrupt: Interrupt,
}

impl<D: Driver> Session<D> {
    /// A session over `conn`, which holds (or will take per transaction) `lock`.
    pub(crate) fn new(conn: D, lock: D::Lock, waited: Duration, interrupt: &Interrupt) -> Self {
        Session {
            conn,
            lock,
            waited,
            interrupt: interrupt.clone(),
        }
    }

    /// The interrupt the session answers to.
    pub(crate) fn interrupt(&self) -> &Interrupt {
        &self.interrupt
    }

    /// How long the session has waited for the lock so far.
    pub fn lock_wait(&self) -> Duration {
        self.waited
    }

    /// Whether each transaction takes the lock again (behind a transaction pooler).
    pub fn lock_per_transaction(&self) -> bool {
        D::lock_per_transaction(&self.lock)
    }

    /// Runs `work` in one transaction that starts by taking the lock where it is held per
    /// transaction. The time waited for it is counted in [`Session::lock_wait`].
    pub fn transaction<T>(
        &mut self,
        notice: WaitNotice<'_>,
        work: impl FnOnce(&mut D) -> Result<T>,
    ) -> Result<T> {
        let Session {
            conn, lock, waited, ..
        } = self;
        let fail = |e| Error::query("cannot begin or commit a transaction", e);
        transaction(conn, fail, |conn| {
            *waited += conn.begin_transaction(lock, notice)?;
            work(conn)
        })
    }

    /// The connection, for reading (the catalog of a scratch database).
    pub(crate) fn connection(&mut self) -> &mut D {
        &mut self.conn
    }

    /// The connection, with the lock it runs under, for the steps of a plan.
    pub(crate) fn parts(&mut self) -> (&mut D, &D::Lock, &mut Duration) {
        (&mut self.conn, &self.lock, &mut self.waited)
    }

    /// As [`Session::parts`], with the lock mutable, to take it once the session exists.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn parts_mut(&mut self) -> (&mut D, &mut D::Lock, &mut Duration) {
        (&mut self.conn, &mut self.lock, &mut self.waited)
    }

    /// Reads the recorded state under the lock.
    pub fn read_state(&mut self, notice: WaitNotice<'_>) -> Result<DbState> {
        if self.lock_per_transaction() {
            return self.transaction(notice, |conn| conn.read_state(true));
        }
        self.conn.read_state(true)
    }

    /// Creates the bookkeeping tables, or brings an older side table up to date, under the
    /// lock.
    pub fn setup_bookkeeping(&mut self, notice: WaitNotice<'_>) -> Result<()> {
        let run = |conn: &mut D| {
            conn.setup_bookkeeping()
                .map_err(|e| Error::query("cannot create the bookkeeping tables", e))
        };
        if self.lock_per_transaction() {
            return self.transaction(notice, run);
        }
        run(&mut self.conn)
    }
}

/// Runs `work` in a transaction (a savepoint, when one is open already), and returns the
/// error of `work` when it fails, even if the rollback fails too. diesel's
/// `Connection::transaction` returns the rollback's error instead: when SQLite rolls a
/// transaction back by itself (a full disk), that hid "database or disk is full" behind
/// "Cannot perform this operation outside of a transaction". `fail` maps an error of the
/// BEGIN or the COMMIT (a deferred constraint, a full disk at commit).
pub(crate) fn transaction<D: Driver, T>(
    conn: &mut D,
    fail: impl Fn(diesel::result::Error) -> Error,
    work: impl FnOnce(&mut D) -> Result<T>,
) -> Result<T> {
    use diesel::connection::TransactionManager;
    D::TransactionManager::begin_transaction(conn).map_err(&fail)?;
    match work(conn) {
        Ok(value) => {
            D::TransactionManager::commit_transaction(conn).map_err(&fail)?;
            Ok(value)
        }
        Err(error) => {
            // Best effort: the server (or SQLite) may have ended the transaction already.
            let _ = D::TransactionManager::rollback_transaction(conn);
            Err(error)
        }
    }
}

impl<D: Driver> Drop for Session<D> {
    fn drop(&mut self) {
        self.interrupt.unwatch();
        self.conn.release(&mut self.lock);
    }
}
