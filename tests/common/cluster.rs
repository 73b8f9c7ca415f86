//! A private PostgreSQL cluster for one test process: initdb in a temp dir, a server on a
//! unix socket only, and a watchdog that removes both when the process ends.
//!
//! Layout of the temp dir: `data/` (PGDATA), `sock/` (the socket), `server.log` (the
//! server's log), `pg_ctl.log` and `pwfile`. Nothing is ever written to the test's output.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};

use super::conn::ConnParams;
use super::tools::{as_server_user, find_pg_bin, is_root, psql, server_user_argv, SERVER_USER};

/// The superuser that initdb creates; it logs in with a password (scram-sha-256).
pub const SUPERUSER: &str = "haven_test";

/// How long the server may take to accept connections.
const START_TIMEOUT_SECS: u32 = 30;

/// A running private cluster. Never dropped (it lives in a static): the watchdog stops it.
pub struct Cluster {
    /// The `postgres` maintenance database, as the superuser.
    pub admin: ConnParams,
    // The write end of the watchdog's stdin. The kernel closes it when this process exits,
    // however it exits, and the watchdog's `read` then returns.
    _watchdog: ChildStdin,
}

impl Cluster {
    /// initdb, configure, start, and check that the superuser can log in.
    pub fn start() -> Result<Cluster, String> {
        let root = is_root();
        let dir = make_dir()?;
        // First, so that whatever fails below, the dir is removed when the process ends.
        let watchdog = spawn_watchdog(&dir, root)?;
        let admin = ConnParams {
            user: SUPERUSER.to_owned(),
            password: super::random_token(),
            host: dir.join("sock").to_string_lossy().into_owned(),
            port: free_port()?.to_string(),
            dbname: "postgres".to_owned(),
            extra: Vec::new(),
        };
        prepare_dir(&dir, &admin.password, root)?;
        initdb(&dir, root)?;
        configure(&dir, &admin)?;
        start_server(&dir, root)?;
        psql(&admin, "SELECT 1").map_err(|e| failure(&dir, &format!("cannot log in: {e}")))?;
        Ok(Cluster {
            admin,
            _watchdog: watchdog,
        })
    }
}

fn make_dir() -> Result<PathBuf, String> {
    let dir = tempfile::Builder::new()
        .prefix("haven-pg-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir for the test cluster: {e}"))?;
    // The watchdog removes it, after the process (and so every destructor) is gone.
    Ok(dir.keep())
}

// `sh` waits for EOF on stdin (this process exited), then stops the server and removes the
// dir. Its own process group keeps a Ctrl-C aimed at `cargo test` from killing it first.
fn spawn_watchdog(dir: &Path, root: bool) -> Result<ChildStdin, String> {
    use std::os::unix::process::CommandExt;
    let pg_ctl = find_pg_bin("pg_ctl")?;
    let script = r#"read _ignored; "$@" -D "$DIR/data" -m immediate -w stop; rm -rf "$DIR""#;
    let mut child = Command::new("sh")
        .args(["-c", script, "haven-pg-watchdog"])
        .args(server_user_argv(&pg_ctl, root))
        .env("DIR", dir)
        .current_dir("/")
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the test cluster's watchdog: {e}"))?;
    child
        .stdin
        .take()
        .ok_or_else(|| "the watchdog has no stdin".to_owned())
}

// The server user must own the dir: initdb creates data/ in it and pg_ctl writes the log.
fn prepare_dir(dir: &Path, password: &str, root: bool) -> Result<(), String> {
    fs::create_dir(dir.join("sock")).map_err(|e| format!("cannot create sock/: {e}"))?;
    fs::write(dir.join("pwfile"), format!("{password}\n"))
        .map_err(|e| format!("cannot write the password file: {e}"))?;
    if root {
        let owner = format!("{SERVER_USER}:");
        run(Command::new("chown").args(["-R", &owner]).arg(dir), "chown")
            .map_err(|e| format!("{e}\n(tests run as root need a `{SERVER_USER}` user)"))?;
    }
    Ok(())
}

fn initdb(dir: &Path, root: bool) -> Result<(), String> {
    let pwfile = format!("--pwfile={}", dir.join("pwfile").display());
    let mut command = as_server_user(&find_pg_bin("initdb")?, root);
    command
        .args(["-D"])
        .arg(dir.join("data"))
        .args(["--username", SUPERUSER, "--auth=scram-sha-256", &pwfile])
        // C locale: no dependence on the machine's locales. --no-sync: a test cluster
        // need not survive a power cut, and syncing costs seconds on slow disks.
        .args(["--no-locale", "--encoding=UTF8", "--no-sync"]);
    run(&mut command, "initdb")
}

// Unix socket only, in our own dir; modest sizes for a 2-core box. fsync stays on.
fn configure(dir: &Path, admin: &ConnParams) -> Result<(), String> {
    let settings = format!(
        "\n# haven-schema test harness\n\
         listen_addresses = ''\n\
         unix_socket_directories = '{}'\n\
         port = {}\n\
         max_connections = 200\n\
         shared_buffers = 32MB\n",
        admin.host, admin.port
    );
    fs::OpenOptions::new()
        .append(true)
        .open(dir.join("data/postgresql.conf"))
        .and_then(|mut conf| conf.write_all(settings.as_bytes()))
        .map_err(|e| format!("cannot write postgresql.conf: {e}"))
}

// `pg_ctl -w` waits until the server accepts connections, bounded by `-t`. Its own chatter
// goes to a file: the test's output stays clean.
fn start_server(dir: &Path, root: bool) -> Result<(), String> {
    let ctl_log = fs::File::create(dir.join("pg_ctl.log"))
        .map_err(|e| format!("cannot create pg_ctl.log: {e}"))?;
    let ctl_log_err = ctl_log.try_clone().map_err(|e| e.to_string())?;
    let status = as_server_user(&find_pg_bin("pg_ctl")?, root)
        .arg("-D")
        .arg(dir.join("data"))
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-w", "-t", &START_TIMEOUT_SECS.to_string(), "start"])
        .stdout(ctl_log)
        .stderr(ctl_log_err)
        .status()
        .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
    if status.success() {
        return Ok(());
    }
    let ctl = fs::read_to_string(dir.join("pg_ctl.log")).unwrap_or_default();
    Err(failure(
        dir,
        &format!("pg_ctl start failed ({status}): {}", ctl.trim_end()),
    ))
}

/// A startup error, with the tail of the server log.
fn failure(dir: &Path, what: &str) -> String {
    let log = fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(30)..].join("\n");
    format!(
        "the private PostgreSQL test cluster in {} did not start: {what}\n\
         --- last lines of server.log ---\n{tail}",
        dir.display()
    )
}

// The socket lives in our private dir, so the port only names the socket file and keys
// SysV shared memory. An OS-assigned free TCP port still keeps concurrent test binaries
// apart, which makes `ps` output and server logs unambiguous.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot pick a port number: {e}"))
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
