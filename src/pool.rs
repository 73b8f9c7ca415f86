//! Connections and r2d2 pools for a [`DatabaseUrl`](crate::DatabaseUrl).
//!
//! Sized and timed for a CLI and a service alike: few connections, opened lazily, a short
//! wait. SQLite connections set `foreign_keys=ON` and a `busy_timeout`. One pool per
//! backend (not diesel's `MultiConnection`, whose `establish` drops the real error), and
//! one first connection that surfaces a wrong password or a missing database at once.

use std::time::Duration;

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

#[cfg(feature = "postgres")]
pub use pg::*;
#[cfg(feature = "postgres")]
mod pg {
    use super::PoolOptions;
    use crate::error::{Error, Result};
    use crate::url::DatabaseUrl;
    use diesel::connection::{CacheSize, SimpleConnection};
    use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
    use diesel::sql_types::{Integer, Nullable};
    use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};

    /// An r2d2 pool of PostgreSQL connections.
    pub type PgPool = Pool<ConnectionManager<PgConnection>>;

    /// What stands between the tool and the PostgreSQL server, which decides how the
    /// migration lock can be held (`--pooler`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Pooler {
        /// Find out with a probe (two connections; see [`connect_for_migrations`]).
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

    /// What the working connection of a write command turned out to be.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PgLink {
        /// Each transaction may run on another server connection: the migration lock must be
        /// taken inside each transaction.
        pub transaction_pooled: bool,
        /// A transaction pooler was assumed from what the connection showed (rather than
        /// given by `--pooler`).
        pub detected: bool,
        /// `client_connection_check_interval` must be set in each transaction, since the
        /// connection's startup parameters could not carry it (PostgreSQL 14 or later).
        pub check_interval_per_transaction: bool,
    }

    /// How often an orphaned server backend (its client killed) checks that the client is
    /// still there, so that it stops instead of running on, and maybe committing.
    pub const CHECK_INTERVAL_MS: i32 = 1000;

    /// The startup option that sets [`CHECK_INTERVAL_MS`] (PostgreSQL 14 or later).
    fn check_interval_option() -> String {
        format!("-c client_connection_check_interval={CHECK_INTERVAL_MS}")
    }

    /// The application name a server shows for this process (`pg_stat_activity`), unless the
    /// URL sets its own.
    fn application_name() -> String {
        format!("haven-migrate (pid {})", std::process::id())
    }

    /// Opens one PostgreSQL connection, keeping the server's real error. It never uses
    /// named prepared statements, which a transaction-pooling proxy would mix up between
    /// server connections.
    pub fn connect_pg(url: &DatabaseUrl) -> Result<PgConnection> {
        let app = application_name();
        establish(
            url,
            &url.connection_string_with(&[("fallback_application_name", &app)]),
        )
    }

    /// A connection that gives up after a few seconds (unless the URL says otherwise), for
    /// work that must not hold anything up, such as cancelling a statement on a signal.
    pub(crate) fn connect_pg_briefly(url: &DatabaseUrl) -> Result<PgConnection> {
        let app = application_name();
        let params = [
            ("fallback_application_name", app.as_str()),
            ("connect_timeout", "3"),
        ];
        establish(url, &url.connection_string_with(&params))
    }

    fn establish(url: &DatabaseUrl, conninfo: &str) -> Result<PgConnection> {
        let mut conn = PgConnection::establish(conninfo).map_err(|e| Error::Connection {
            url: url.redacted().to_owned(),
            message: url.scrub(e.to_string().trim()),
        })?;
        conn.set_prepared_statement_cache_size(CacheSize::Disabled);
        Ok(conn)
    }

    #[derive(QueryableByName)]
    struct ServerFacts {
        #[diesel(sql_type = Integer)]
        pid: i32,
        #[diesel(sql_type = Integer)]
        version: i32,
        /// In milliseconds; `None` before PostgreSQL 14.
        #[diesel(sql_type = Nullable<Integer>)]
        check_interval: Option<i32>,
    }

    fn server_facts(conn: &mut PgConnection) -> diesel::QueryResult<ServerFacts> {
        diesel::sql_query(
            "SELECT pg_backend_pid() AS pid, \
             current_setting('server_version_num')::int AS version, \
             (SELECT setting::int FROM pg_settings \
              WHERE name = 'client_connection_check_interval') AS check_interval",
        )
        .get_result(conn)
    }

    #[derive(QueryableByName)]
    struct Identity {
        #[diesel(sql_type = Integer)]
        pid: i32,
        #[diesel(sql_type = diesel::sql_types::Text)]
        application_name: String,
    }

    /// What [`crate::interrupt::Interrupt::trigger`] needs to cancel the statements of the
    /// session on `conn`: its backend, and its application name when it is haven-migrate's
    /// own (behind a transaction pooler, the backend changes from one transaction to the
    /// next, the application name goes with the client).
    pub(crate) fn cancel_target(
        conn: &mut PgConnection,
        url: &DatabaseUrl,
    ) -> Result<crate::interrupt::Target> {
        let me: Identity = diesel::sql_query(
            "SELECT pg_backend_pid() AS pid, current_setting('application_name') AS application_name",
        )
        .get_result(conn)
        .map_err(|e| Error::query("cannot read the session's identity", e))?;
        let ours = me.application_name == application_name();
        Ok(crate::interrupt::Target {
            url: url.clone(),
            pid: me.pid,
            application_name: ours.then_some(me.application_name),
        })
    }

    fn backend_pid(conn: &mut PgConnection) -> diesel::QueryResult<i32> {
        server_facts(conn).map(|f| f.pid)
    }

    /// Opens the working connection of a write command and finds out how it reaches the
    /// server. `client_connection_check_interval` goes in the startup packet, where
    /// `RESET ALL` between migrations cannot undo it.
    ///
    /// With [`Pooler::Auto`], a pooler that refuses that startup option (PgBouncer does) has
    /// shown itself: its pool mode cannot be told from the outside, so the lock is then
    /// taken in each transaction, which is safe in both modes. When the option is accepted,
    /// a probe looks for a transaction pooler that passed it on.
    pub fn connect_for_migrations(
        url: &DatabaseUrl,
        pooler: Pooler,
    ) -> Result<(PgConnection, PgLink)> {
        let app = application_name();
        let options = check_interval_option();
        let mut params = vec![("fallback_application_name", app.as_str())];
        if pooler != Pooler::Transaction {
            params.push(("options", options.as_str()));
        }
        let (mut conn, pooler_seen) = match establish(url, &url.connection_string_with(&params)) {
            Err(Error::Connection { message, .. })
                if params.len() > 1 && refused_option(&message) =>
            {
                (
                    connect_pg(url)?,
                    message.contains("unsupported startup parameter"),
                )
            }
            other => (other?, false),
        };
        let fail = |e| Error::query("cannot read the server's version", e);
        let facts = server_facts(&mut conn).map_err(fail)?;
        let transaction_pooled = match pooler {
            Pooler::Auto => pooler_seen || probe_transaction_pooler(url, &mut conn, facts.pid)?,
            other => other == Pooler::Transaction,
        };
        let interval_set = facts.check_interval == Some(CHECK_INTERVAL_MS);
        let link = PgLink {
            transaction_pooled,
            detected: pooler == Pooler::Auto && transaction_pooled,
            check_interval_per_transaction: facts.version >= 140_000
                && (transaction_pooled || !interval_set),
        };
        Ok((conn, link))
    }

    /// Whether a failed connection was refused for the `options` startup parameter: by a
    /// pooler (PgBouncer: "unsupported startup parameter: options") or by a server older than
    /// PostgreSQL 14, which has no `client_connection_check_interval`.
    fn refused_option(message: &str) -> bool {
        message.contains("unsupported startup parameter")
            || message.contains("client_connection_check_interval")
    }

    /// Whether `conn` goes through a pooler that hands transactions to any server connection.
    ///
    /// A lone client usually gets the same server connection back, so a changed pid alone
    /// proves nothing. Instead a second connection holds a transaction open (which pins its
    /// server connection) while the first asks again: behind a transaction pooler, the
    /// second got the first's idle server connection, or the first now lands on another.
    /// Under load the pooler may have other idle server connections to give, and the probe
    /// sees nothing: it is a second line of defence, after the startup option.
    fn probe_transaction_pooler(
        url: &DatabaseUrl,
        conn: &mut PgConnection,
        first_pid: i32,
    ) -> Result<bool> {
        let fail = |e| Error::query("cannot probe for a connection pooler", e);
        let mut other = connect_pg(url)?;
        other.batch_execute("BEGIN").map_err(fail)?;
        let other_pid = backend_pid(&mut other).map_err(fail)?;
        let again = backend_pid(conn).map_err(fail)?;
        // Ends the transaction before closing: a pooler closes a server connection whose
        // client left in the middle of a transaction.
        other.batch_execute("ROLLBACK").map_err(fail)?;
        Ok(other_pid == first_pid || again != first_pid)
    }

    /// Disables named prepared statements on each connection of a pool that goes through a
    /// transaction pooler.
    #[derive(Debug, Clone, Copy)]
    struct NoNamedStatements;

    impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for NoNamedStatements {
        fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
            conn.set_prepared_statement_cache_size(CacheSize::Disabled);
            Ok(())
        }
    }

    /// Builds a PostgreSQL pool. One connection is made first, so that a wrong password or
    /// a missing database fails at once with the server's message instead of a pool timeout.
    /// Behind a transaction pooler ([`PoolOptions::pooler`], probed when `Auto`), the pool's
    /// connections use no named prepared statements.
    pub fn pg_pool(url: &DatabaseUrl, options: &PoolOptions) -> Result<PgPool> {
        let mut first = connect_pg(url)?;
        let pooled = match options.pooler {
            Pooler::Auto => {
                let fail = |e| Error::query("cannot probe for a connection pooler", e);
                let pid = backend_pid(&mut first).map_err(fail)?;
                probe_transaction_pooler(url, &mut first, pid)?
            }
            other => other == Pooler::Transaction,
        };
        drop(first);
        let mut builder = Pool::builder()
            .max_size(options.max_size)
            .min_idle(Some(0))
            .connection_timeout(options.connection_timeout);
        if pooled {
            builder = builder.connection_customizer(Box::new(NoNamedStatements));
        }
        builder
            .build(ConnectionManager::new(url.connection_string()))
            .map_err(|e| Error::Connection {
                url: url.redacted().to_owned(),
                message: url.scrub(&e.to_string()),
            })
    }
}

#[cfg(feature = "sqlite")]
pub use sqlite_pool::*;
#[cfg(feature = "sqlite")]
mod sqlite_pool {
    use super::PoolOptions;
    use crate::error::{Error, Result};
    use crate::url::DatabaseUrl;
    use diesel::connection::SimpleConnection;
    use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
    use diesel::{Connection, SqliteConnection};
    use std::path::Path;
    use std::time::Duration;

    /// An r2d2 pool of SQLite connections.
    pub type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;

    #[derive(Debug, Clone, Copy)]
    struct SqlitePragmas {
        busy_timeout: Duration,
    }

    impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
        fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
            apply_pragmas(conn, self.busy_timeout).map_err(diesel::r2d2::Error::QueryError)
        }
    }

    fn apply_pragmas(conn: &mut SqliteConnection, busy: Duration) -> diesel::QueryResult<()> {
        // Foreign keys are off by default in SQLite; busy_timeout makes concurrent writers
        // wait instead of failing with SQLITE_BUSY at once.
        conn.batch_execute(&format!(
            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {};",
            busy.as_millis()
        ))
    }

    /// Opens one SQLite connection with `foreign_keys=ON` and a busy timeout.
    pub fn connect_sqlite(url: &DatabaseUrl, options: &PoolOptions) -> Result<SqliteConnection> {
        let map = |e: String| Error::SqliteOpen {
            path: url.sqlite_path().unwrap_or(Path::new("")).to_path_buf(),
            message: e,
        };
        let mut conn =
            SqliteConnection::establish(url.connection_string()).map_err(|e| map(e.to_string()))?;
        apply_pragmas(&mut conn, options.sqlite_busy_timeout).map_err(|e| map(e.to_string()))?;
        Ok(conn)
    }

    /// Builds a SQLite pool whose connections set `foreign_keys=ON` and `busy_timeout`.
    pub fn sqlite_pool(url: &DatabaseUrl, options: &PoolOptions) -> Result<SqlitePool> {
        drop(connect_sqlite(url, options)?);
        Pool::builder()
            .max_size(options.max_size)
            .min_idle(Some(0))
            .connection_timeout(options.connection_timeout)
            .connection_customizer(Box::new(SqlitePragmas {
                busy_timeout: options.sqlite_busy_timeout,
            }))
            .build(ConnectionManager::new(url.connection_string()))
            .map_err(|e| Error::SqliteOpen {
                path: url.sqlite_path().unwrap_or(Path::new("")).to_path_buf(),
                message: e.to_string(),
            })
    }
}
