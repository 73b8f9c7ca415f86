//! The private PostgreSQL cluster of one test process: [`pg_cluster`](super::pg_cluster)
//! with password auth (scram-sha-256) for a superuser of our own, and room for the
//! connections of many parallel tests. Nothing is ever written to the test's output.

use super::conn::ConnParams;
use super::pg_cluster::{self, Auth, Config};
use super::tools::psql;

/// The superuser that initdb creates; it logs in with a password (scram-sha-256).
pub const SUPERUSER: &str = "haven_test";

/// A running private cluster. Never dropped (it lives in a static): the watchdog stops it.
pub struct Cluster {
    /// The `postgres` maintenance database, as the superuser.
    pub admin: ConnParams,
    // Keeps the watchdog's pipe open until the process exits.
    _cluster: pg_cluster::Cluster,
}

impl Cluster {
    /// initdb, configure, start, and check that the superuser can log in.
    pub fn start() -> Result<Cluster, String> {
        let password = super::random_token();
        let cluster = pg_cluster::Cluster::start(&Config {
            purpose: "test",
            dir_prefix: "haven-pg-",
            superuser: SUPERUSER,
            auth: Auth::Password(password.clone()),
            // Modest sizes for a 2-core box, enough connections for parallel tests.
            settings: &[("max_connections", "200"), ("shared_buffers", "32MB")],
        })?;
        let admin = ConnParams {
            user: SUPERUSER.to_owned(),
            password,
            host: cluster.socket_dir().to_string_lossy().into_owned(),
            port: cluster.port.to_string(),
            dbname: "postgres".to_owned(),
            extra: Vec::new(),
        };
        psql(&admin, "SELECT 1").map_err(|e| cluster.failure(&format!("cannot log in: {e}")))?;
        Ok(Cluster {
            admin,
            _cluster: cluster,
        })
    }

    /// The server's log so far.
    #[allow(dead_code)]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._cluster.dir.join("server.log")).unwrap_or_default()
    }
}
