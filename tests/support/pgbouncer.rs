//! A private PgBouncer in front of the test server, one per pool mode and test process,
//! started on first use, stopped when the process exits (a watchdog, as for the cluster).
//!
//! It needs the `pgbouncer` program (Debian package `pgbouncer`), which a fresh machine
//! lacks: the tests that use it are `#[ignore]`d, and `.ci/run` installs it and runs them.
//! PgBouncer refuses to run as root, so as root it runs as the `postgres` user, like the
//! cluster. It listens on 127.0.0.1 only, on a free port, and passes every database
//! (`* = host=... port=...`) to the server, logging in with the client's password.

// Only the pooler tests use it.
#![allow(dead_code)]

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::conn::ConnParams;
use super::server;

/// PgBouncer's `pool_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One server connection per client, for the client's whole session.
    Session,
    /// A server connection per transaction.
    Transaction,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Session => "session",
            Mode::Transaction => "transaction",
        }
    }
}

/// A running PgBouncer.
pub struct Bouncer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    // Keeps the watchdog's pipe open until the process exits.
    _watchdog: (Child, ChildStdin),
}

/// The PgBouncer of `mode`, started on the first call. Panics, with advice, when the
/// program is missing or does not start.
#[track_caller]
pub fn bouncer(mode: Mode) -> &'static Bouncer {
    static SESSION: OnceLock<Result<Bouncer, String>> = OnceLock::new();
    static TRANSACTION: OnceLock<Result<Bouncer, String>> = OnceLock::new();
    let cell = match mode {
        Mode::Session => &SESSION,
        Mode::Transaction => &TRANSACTION,
    };
    match cell.get_or_init(|| Bouncer::start(mode)) {
        Ok(bouncer) => bouncer,
        Err(message) => panic!("{message}"),
    }
}

impl Bouncer {
    fn start(mode: Mode) -> Result<Bouncer, String> {
        let program = find_pgbouncer()?;
        let admin = &server::server().admin;
        let dir = tempfile::Builder::new()
            .prefix(&format!("haven-pgbouncer-{}-", mode.name()))
            .tempdir()
            .map_err(|e| format!("cannot create a dir for PgBouncer: {e}"))?
            .keep();
        let port = free_port()?;
        write_config(&dir, port, mode, admin)?;
        let root = is_root();
        if root {
            chown_to_postgres(&dir)?;
        }
        let watchdog = spawn(&program, &dir, root)?;
        let bouncer = Bouncer {
            port,
            dir,
            _watchdog: watchdog,
        };
        bouncer.wait_until_listening()?;
        Ok(bouncer)
    }

    /// The URL of `params`'s database through this PgBouncer.
    pub fn url(&self, params: &ConnParams) -> String {
        ConnParams {
            host: "127.0.0.1".to_owned(),
            port: self.port.to_string(),
            extra: Vec::new(),
            ..params.clone()
        }
        .url()
    }

    /// PgBouncer's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }

    fn wait_until_listening(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "PgBouncer did not listen on port {} within 20 s; its log:\n{}",
            self.port,
            self.log()
        ))
    }
}

fn find_pgbouncer() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("pgbouncer"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| Some(PathBuf::from("/usr/sbin/pgbouncer")).filter(|p| p.is_file()))
        .ok_or_else(|| {
            "PgBouncer is not installed (`apt-get install pgbouncer`); the pooler tests are \
             #[ignore]d for that reason, and .ci/run installs it"
                .to_owned()
        })
}

fn write_config(dir: &Path, port: u16, mode: Mode, server: &ConnParams) -> Result<(), String> {
    let auth_type = if server.password.is_empty() {
        "trust"
    } else {
        "scram-sha-256"
    };
    let host = if server.host.is_empty() {
        "/var/run/postgresql"
    } else {
        &server.host
    };
    let port_of_server = if server.port.is_empty() {
        "5432"
    } else {
        &server.port
    };
    let ini = format!(
        "[databases]\n* = host={host} port={port_of_server}\n\n[pgbouncer]\n\
         listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
         auth_type = {auth_type}\nauth_file = {users}\npool_mode = {mode}\n\
         default_pool_size = 20\nmax_client_conn = 500\n\
         logfile = {log}\npidfile = {pid}\n",
        users = dir.join("users.txt").display(),
        mode = mode.name(),
        log = dir.join("pgbouncer.log").display(),
        pid = dir.join("pgbouncer.pid").display(),
    );
    let users = format!("\"{}\" \"{}\"\n", server.user, server.password);
    fs::write(dir.join("pgbouncer.ini"), ini)
        .and_then(|()| fs::write(dir.join("users.txt"), users))
        .map_err(|e| format!("cannot write PgBouncer's configuration: {e}"))
}

// PgBouncer, in the foreground, under `sh` that waits for EOF on stdin (this process has
// exited) and then stops it and removes the dir.
fn spawn(program: &Path, dir: &Path, root: bool) -> Result<(Child, ChildStdin), String> {
    use std::os::unix::process::CommandExt;
    let script = r#""$@" & pid=$!; read _ignored; kill "$pid"; wait "$pid"; rm -rf "$DIR""#;
    let mut command = Command::new("sh");
    command.args(["-c", script, "haven-pgbouncer-watchdog"]);
    if root {
        command.args(["runuser", "-u", "postgres", "--"]);
    }
    let mut child = command
        .arg(program)
        .arg(dir.join("pgbouncer.ini"))
        .env("DIR", dir)
        .current_dir("/")
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start PgBouncer: {e}"))?;
    let stdin = child
        .stdin
        .take()
        .ok_or("PgBouncer's watchdog has no stdin")?;
    Ok((child, stdin))
}

fn chown_to_postgres(dir: &Path) -> Result<(), String> {
    let status = Command::new("chown")
        .args(["-R", "postgres:"])
        .arg(dir)
        .status()
        .map_err(|e| format!("cannot run chown: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("chown of {} failed", dir.display()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot pick a port number: {e}"))
}
