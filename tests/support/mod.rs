//! The shared harness of the integration tests: real databases, never mocks.
//!
//! - [`pg_database`]: a fresh, empty PostgreSQL database per test, on the server named by
//!   `HAVEN_TEST_DATABASE_URL`, or else on a private cluster that this test process starts
//!   on first use (initdb + pg_ctl, unix socket only, password auth) and that a watchdog
//!   stops and deletes when the process exits. The cluster's version is that of the first
//!   `initdb` found (`PATH` first), so `PATH=/pg18/bin:$PATH cargo test` tests on 18.
//! - [`pg_database_with_password`]: the same, owned by a role of its own that logs in with
//!   a password, for the tests about secrets: an external server may need no password.
//! - [`pg_server_version`]: the server's version, for tests of version-specific behaviour.
//! - [`sqlite_database`]: a SQLite file path in its own temp dir.
//! - [`pg_bin`]: where psql, pg_dump, initdb, pg_ctl and postgres are.
//!
//! - [`process`]: running `haven-migrate` and other programs, one [`Run`] of what they
//!   printed; [`Migrations`], copies of the migrations; [`Background`], [`PgGate`].
//! - [`fixtures`]: migration directories, the HAVEN versions, JSON readers.
//!
//! Every `tests/*.rs` compiles this module on its own (`mod support;`), and most use only
//! part of it: hence the `allow(dead_code)`.

#![allow(dead_code)]

pub mod cluster;
pub mod conn;
// Shared with the benchmark (examples/bench), hence outside tests/.
#[path = "../../support/pg_cluster.rs"]
pub mod pg_cluster;
pub mod pgbouncer;
pub mod server;
pub mod tools;

pub mod fixtures;
pub mod process;

pub use fixtures::*;
#[allow(unused_imports)]
pub use process::*;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;

use conn::ConnParams;
use haven_schema::pg_tools::PgVersion;

/// A fresh, empty PostgreSQL database for one test. Dropping it drops the database (best
/// effort, never panics), closing any connections still open on it, and its own role.
pub struct PgTestDb {
    /// `postgres://user:PASSWORD@/dbname?host=/socket/dir&port=N` on the private cluster.
    pub url: String,
    /// The database name, unique per process and call.
    pub name: String,
    /// The password in `url`. Empty when the `HAVEN_TEST_DATABASE_URL` server needs none:
    /// a test that checks that no output shows the password uses
    /// [`pg_database_with_password`], whose password is never empty.
    pub password: String,
    params: ConnParams,
    // The role of `pg_database_with_password`, dropped with the database.
    role: Option<String>,
}

/// Creates a fresh database (starting the private cluster on the first call).
#[track_caller]
pub fn pg_database() -> PgTestDb {
    let server = server::server();
    let name = match server.create_database(None) {
        Ok(name) => name,
        Err(e) => panic!("cannot create a test database: {e}"),
    };
    PgTestDb::new(server.admin.with_dbname(&name), None)
}

/// Creates a fresh database owned by a new login role with a random password; the URL,
/// `psql`, `env` and the rest act as that role. For the tests about secrets: whatever the
/// server's auth (trust too), the URL holds a password that no output may show. The role
/// owns the database and may create databases, which is all that `haven-migrate` needs.
#[track_caller]
pub fn pg_database_with_password() -> PgTestDb {
    let server = server::server();
    let (role, password) = match server.create_role() {
        Ok(role) => role,
        Err(e) => panic!("{e}"),
    };
    let name = match server.create_database(Some(&role)) {
        Ok(name) => name,
        Err(e) => {
            let _ = server.drop_role(&role);
            panic!("cannot create a test database: {e}")
        }
    };
    let params = ConnParams {
        user: role.clone(),
        password,
        ..server.admin.with_dbname(&name)
    };
    assert!(!params.password.is_empty());
    PgTestDb::new(params, Some(role))
}

/// The version of the server the PostgreSQL tests run on (starting it on the first call),
/// for behaviour that differs between versions: `pg_server_version().num() >= 140000`.
#[track_caller]
pub fn pg_server_version() -> PgVersion {
    server::server().version
}

impl PgTestDb {
    fn new(params: ConnParams, role: Option<String>) -> PgTestDb {
        PgTestDb {
            url: params.url(),
            password: params.password.clone(),
            name: params.dbname.clone(),
            params,
            role,
        }
    }

    /// The same server and credentials, another database (which need not exist).
    pub fn url_for_database(&self, dbname: &str) -> String {
        self.params.with_dbname(dbname).url()
    }

    /// The server's major version: 18 for 18.x (PostgreSQL 10 and later).
    pub fn server_major(&self) -> u32 {
        pg_server_version().num() / 10000
    }

    /// The same database with another password, for wrong-password tests.
    pub fn url_with_password(&self, pw: &str) -> String {
        ConnParams {
            password: pw.to_owned(),
            ..self.params.clone()
        }
        .url()
    }

    /// This database through the test PgBouncer of `mode` (started on first use).
    pub fn pgbouncer_url(&self, mode: pgbouncer::Mode) -> String {
        pgbouncer::bouncer(mode).url(&self.params)
    }

    /// The server's maintenance database (`postgres`), as the harness's admin role.
    pub fn maintenance_url(&self) -> String {
        server::server().admin.url()
    }

    /// Whether the server refuses a wrong password. Always true for the private cluster;
    /// a `HAVEN_TEST_DATABASE_URL` server may use trust auth, where wrong-password tests
    /// have nothing to prove.
    pub fn checks_passwords(&self) -> bool {
        server::server().checks_passwords
    }

    /// `psql -X -A -t -v ON_ERROR_STOP=1 -c SQL`: stdout as is (one row per line, `|`
    /// between columns, plus command tags such as `INSERT 0 1`). Panics with stderr on error.
    #[track_caller]
    pub fn psql(&self, sql: &str) -> String {
        match self.try_psql(sql) {
            Ok(stdout) => stdout,
            Err(e) => panic!("{e}"),
        }
    }

    /// As [`PgTestDb::psql`], for SQL that is meant to fail: `Err` holds psql's stderr.
    pub fn try_psql(&self, sql: &str) -> Result<String, String> {
        tools::psql(&self.params, sql)
    }

    /// `pg_dump --schema-only --no-owner`, without the lines that vary between runs or
    /// databases: comments, `SET`s, `set_config`, `\restrict` keys; blank runs squeezed.
    #[track_caller]
    pub fn pg_dump_schema(&self) -> String {
        match tools::pg_dump_schema(&self.params) {
            Ok(dump) => filter_dump(&dump),
            Err(e) => panic!("{e}"),
        }
    }

    /// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE` for this database, to run
    /// PostgreSQL programs directly (`Command::new(pg_bin("psql")).envs(db.env())`).
    pub fn env(&self) -> Vec<(String, String)> {
        self.params.env()
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        // Best effort: a leftover database dies with the private cluster anyway.
        let server = server::server();
        let _ = server.drop_database(&self.name);
        if let Some(role) = &self.role {
            let _ = server.drop_role(role);
        }
    }
}

fn filter_dump(dump: &str) -> String {
    let mut out = String::new();
    let mut blank = true; // also drops leading blank lines
    for line in dump.lines() {
        let noise = line.starts_with("--")
            || line.starts_with("SET ")
            || line.starts_with("SELECT pg_catalog.set_config(")
            // pg_dump 15.14+ brackets its output with a random `\restrict KEY`.
            || line.starts_with("\\restrict")
            || line.starts_with("\\unrestrict");
        let is_blank = line.trim().is_empty();
        if noise || (is_blank && blank) {
            continue;
        }
        blank = is_blank;
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A real SQLite database file in its own temp dir. The file is not created yet.
pub struct SqliteTestDb {
    /// Removed with everything in it when this value is dropped.
    pub dir: tempfile::TempDir,
    /// `<dir>/haven.db`.
    pub path: PathBuf,
    /// The plain path, as a URL for `haven-migrate` and diesel.
    pub url: String,
}

pub fn sqlite_database() -> SqliteTestDb {
    let dir = tempfile::Builder::new()
        .prefix("haven-sqlite-")
        .tempdir()
        .expect("cannot create a temp dir for a SQLite test database");
    let path = dir.path().join("haven.db");
    let url = path
        .to_str()
        .expect("the temp dir path is not UTF-8")
        .to_owned();
    SqliteTestDb { dir, path, url }
}

/// A PostgreSQL program: on `PATH` (skipping Debian's `pg_wrapper`), else in the highest
/// `/usr/lib/postgresql/*/bin`. Panics with advice when there is none.
#[track_caller]
pub fn pg_bin(tool: &str) -> PathBuf {
    match tools::find_pg_bin(tool) {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

/// 32 hex digits, different in every call and process: passwords and name suffixes.
fn random_token() -> String {
    // Each RandomState has fresh keys (seeded from the OS once per process, then bumped),
    // so even the hash of nothing is unpredictable.
    (0..2)
        .map(|_| format!("{:016x}", RandomState::new().build_hasher().finish()))
        .collect()
}
