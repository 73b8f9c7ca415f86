//! The benchmark's private PostgreSQL cluster, under the benchmark conditions of DESIGN.md:
//! default settings (fsync on), a unix socket only, trust authentication.
//!
//! Starting it, running it as the `postgres` user when we are root, and the watchdog that
//! stops it and removes its directory when this process ends (however it ends, Ctrl-C
//! included) are shared with the test harness, in `support/pg_cluster.rs`. What is here is
//! how the benchmark talks to it.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::Result;

#[path = "../../support/pg_cluster.rs"]
mod pg_cluster;

pub use pg_cluster::find_on_path;

/// The superuser; with trust auth it needs no password.
const SUPERUSER: &str = "postgres";

/// A running cluster; [`Cluster::stop`] (or the end of the process) stops it.
pub struct Cluster {
    /// The cluster's directory: `data/`, `sock/`, `server.log`; the workloads go here too.
    pub dir: PathBuf,
    pg: pg_cluster::Cluster,
}

impl Cluster {
    /// initdb, configure and start a cluster in a new directory under the temp dir.
    pub fn start() -> Result<Cluster> {
        let pg = pg_cluster::Cluster::start(&pg_cluster::Config {
            purpose: "benchmark",
            dir_prefix: "haven-bench-pg-",
            superuser: SUPERUSER,
            auth: pg_cluster::Auth::Trust,
            // Only where to listen: every other setting stays at its default.
            settings: &[],
        })?;
        Ok(Cluster {
            dir: pg.dir.clone(),
            pg,
        })
    }

    /// The URL of database `name`, over the unix socket.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres:///{name}?host={}&port={}&user={SUPERUSER}",
            self.pg.socket_dir().display(),
            self.pg.port
        )
    }

    /// The path of a PostgreSQL program of the cluster's version.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.pg.tool(name)
    }

    /// Runs SQL in the maintenance database (or `db`); returns psql's unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String> {
        let output = Command::new(self.tool("psql"))
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url(db))
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() {
            return Err(format!(
                "psql -c {sql:?} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Creates an empty database, then checkpoints, so that every measured run starts
    /// with no dirty buffers left over from the one before.
    pub fn create_db(&self, name: &str) -> Result<()> {
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        self.psql("postgres", "CHECKPOINT").map(drop)
    }

    /// Drops a database made by [`Cluster::create_db`].
    pub fn drop_db(&self, name: &str) -> Result<()> {
        self.psql("postgres", &format!("DROP DATABASE IF EXISTS {name}"))
            .map(drop)
    }

    /// Stops the server and removes its directory, waiting until both are done.
    pub fn stop(self) -> Result<()> {
        Ok(self.pg.stop()?)
    }
}
