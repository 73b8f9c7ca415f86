//! The one PostgreSQL server that a test binary's databases live on: the server named by
//! `HAVEN_TEST_DATABASE_URL`, or else a private cluster started on first use.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use haven_schema::pg_tools::PgVersion;

use super::cluster::Cluster;
use super::conn::ConnParams;
use super::tools::psql;

/// The environment variable that names an existing server to use instead.
pub const URL_VAR: &str = "HAVEN_TEST_DATABASE_URL";

pub struct Server {
    /// The maintenance database, as a user that may create databases.
    pub admin: ConnParams,
    /// Whether a wrong password is refused (an external server may use trust auth).
    pub checks_passwords: bool,
    /// The server's version.
    pub version: PgVersion,
    // The private cluster; it also keeps its watchdog pipe open until the process exits.
    #[allow(dead_code)]
    cluster: Option<Cluster>,
}

/// The server, started on the first call. A start failure is kept, so that every test
/// reports it at once instead of each trying (and failing) to start its own.
#[track_caller]
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(message) => panic!("{message}"),
    }
}

fn start() -> Result<Server, String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => external(url.trim()),
        _ => {
            let cluster = Cluster::start()?;
            Ok(Server {
                version: server_version(&cluster.admin)?,
                admin: cluster.admin.clone(),
                checks_passwords: true,
                cluster: Some(cluster),
            })
        }
    }
}

fn server_version(admin: &ConnParams) -> Result<PgVersion, String> {
    let num = psql(admin, "SHOW server_version_num")?;
    num.trim()
        .parse()
        .map(PgVersion::from_num)
        .map_err(|e| format!("server_version_num {num:?}: {e}"))
}

fn external(url: &str) -> Result<Server, String> {
    let mut admin = ConnParams::parse(url).map_err(|e| format!("{URL_VAR}: {e}"))?;
    if admin.dbname.is_empty() {
        admin.dbname = "postgres".to_owned();
    }
    psql(&admin, "SELECT 1").map_err(|e| format!("{URL_VAR} is set, but: {e}"))?;
    let wrong = ConnParams {
        password: format!("wrong-{}", super::random_token()),
        ..admin.clone()
    };
    Ok(Server {
        checks_passwords: psql(&wrong, "SELECT 1").is_err(),
        version: server_version(&admin)?,
        admin,
        cluster: None,
    })
}

/// A name unique to this process and call: `<prefix>_<pid>_<token>_<n>`.
fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    static TOKEN: OnceLock<String> = OnceLock::new();
    // The token keeps two machines' (or containers') pid 42 apart on a shared server.
    let token = TOKEN.get_or_init(|| super::random_token()[..6].to_owned());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{token}_{n}", std::process::id())
}

impl Server {
    /// The private cluster's log so far; `None` for an external server, whose log is not
    /// ours to read.
    #[allow(dead_code)]
    pub fn log(&self) -> Option<String> {
        self.cluster.as_ref().map(Cluster::log)
    }

    /// Creates an empty database with a name unique to this process and call, owned by
    /// `owner` (a role of [`Server::create_role`]) or else by the admin.
    pub fn create_database(&self, owner: Option<&str>) -> Result<String, String> {
        let name = unique_name("haven_t");
        let owner = owner.map(|o| format!(" OWNER \"{o}\"")).unwrap_or_default();
        let sql = format!("CREATE DATABASE \"{name}\"{owner}");
        // We never connect to template1, but on a shared server someone else might; then
        // CREATE DATABASE fails with "being accessed by other users" for a moment.
        let mut attempt = 0;
        loop {
            match psql(&self.admin, &sql) {
                Ok(_) => return Ok(name),
                Err(e) if attempt < 10 && e.contains("being accessed by other users") => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(200 * attempt));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Drops a database, closing the connections still open on it (pools, leaked handles).
    pub fn drop_database(&self, name: &str) -> Result<(), String> {
        // WITH (FORCE) needs PostgreSQL 13; older servers get a plain DROP.
        let force = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        psql(&self.admin, &force)
            .or_else(|_| psql(&self.admin, &format!("DROP DATABASE IF EXISTS \"{name}\"")))
            .map(drop)
    }

    /// Creates a login role with a random password, which may create databases (`verify`
    /// makes scratch ones): what a test about secrets needs, whatever the server's auth.
    /// Returns its name and password.
    pub fn create_role(&self) -> Result<(String, String), String> {
        let name = unique_name("haven_r");
        let password = super::random_token();
        let sql = format!("CREATE ROLE \"{name}\" LOGIN CREATEDB PASSWORD '{password}'");
        psql(&self.admin, &sql).map_err(|e| {
            format!("cannot create a test role (the {URL_VAR} role needs CREATEROLE): {e}")
        })?;
        Ok((name, password))
    }

    /// Drops a role of [`Server::create_role`], after the databases it owns.
    pub fn drop_role(&self, name: &str) -> Result<(), String> {
        psql(&self.admin, &format!("DROP ROLE IF EXISTS \"{name}\"")).map(drop)
    }
}
