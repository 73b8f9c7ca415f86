//! The migration lock on PostgreSQL: an advisory lock keyed by a hash of the database
//! name, held by the very session that runs the migrations. On a direct (or session-pooled)
//! connection it is a session lock, which survives COMMIT, ROLLBACK and `RESET ALL`, and
//! lives exactly as long as the server backend that could still change the database: a
//! killed client's orphaned backend keeps it until it stops. Behind a pooler that hands
//! each transaction to any server connection, a session lock would stay on one of them, so
//! the lock is taken as the first statement of every transaction instead
//! (`pg_try_advisory_xact_lock`), and released by its COMMIT or ROLLBACK.

use std::time::Duration;

use super::connection::{PgLink, CHECK_INTERVAL_MS};
use crate::backend::{wait_for, Attempt, WaitNotice};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
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
