//! Connections and r2d2 pools for a [`DatabaseUrl`](crate::DatabaseUrl).
//!
//! Sized and timed for a CLI and a service alike: few connections, opened lazily, a short
//! wait. SQLite connections set `foreign_keys=ON` and a `busy_timeout`. One pool per
//! backend (not diesel's `MultiConnection`, whose `establish` drops the real error), and
//! one first connection that surfaces a wrong password or a missing database at once.

pub use crate::backend::{PoolOptions, Pooler};

#[cfg(feature = "postgres")]
pub use pg::*;
#[cfg(feature = "postgres")]
mod pg {
    use super::{PoolOptions, Pooler};
    use crate::backend::postgres::connection;
    use crate::error::{Error, Result};
    use crate::url::DatabaseUrl;
    use diesel::connection::CacheSize;
    use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
    use diesel::{Connection, PgConnection};

    /// An r2d2 pool of PostgreSQL connections.
    pub type PgPool = Pool<ConnectionManager<PgConnection>>;

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
        let mut first = connection::connect_pg(url)?;
        let pooled = match options.pooler {
            Pooler::Auto => connection::probe(url, &mut first)?,
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
    use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
    use diesel::SqliteConnection;
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
            crate::backend::sqlite::apply_pragmas(conn, self.busy_timeout)
                .map_err(diesel::r2d2::Error::QueryError)
        }
    }

    /// Builds a SQLite pool whose connections set `foreign_keys=ON` and `busy_timeout`.
    pub fn sqlite_pool(url: &DatabaseUrl, options: &PoolOptions) -> Result<SqlitePool> {
        drop(crate::backend::sqlite::connect(url, options)?);
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
