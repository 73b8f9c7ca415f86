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
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 2,
            connection_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }
}

#[cfg(feature = "postgres")]
pub use pg::*;
#[cfg(feature = "postgres")]
mod pg {
    use super::PoolOptions;
    use crate::db::DatabaseUrl;
    use crate::error::{Error, Result};
    use diesel::r2d2::{ConnectionManager, Pool};
    use diesel::{Connection, PgConnection};

    /// An r2d2 pool of PostgreSQL connections.
    pub type PgPool = Pool<ConnectionManager<PgConnection>>;

    /// Opens one PostgreSQL connection, keeping the server's real error.
    pub fn connect_pg(url: &DatabaseUrl) -> Result<PgConnection> {
        PgConnection::establish(url.connection_string()).map_err(|e| Error::Connection {
            url: url.redacted().to_owned(),
            message: url.scrub(e.to_string().trim()),
        })
    }

    /// Builds a PostgreSQL pool. One connection is made first, so that a wrong password or
    /// a missing database fails at once with the server's message instead of a pool timeout.
    pub fn pg_pool(url: &DatabaseUrl, options: &PoolOptions) -> Result<PgPool> {
        drop(connect_pg(url)?);
        Pool::builder()
            .max_size(options.max_size)
            .min_idle(Some(0))
            .connection_timeout(options.connection_timeout)
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
    use crate::db::DatabaseUrl;
    use crate::error::{Error, Result};
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
