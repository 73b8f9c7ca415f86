//! A private PostgreSQL cluster for this process: initdb in a new temp dir, a server on a
//! unix socket only, and a watchdog that stops the server and removes the dir when the
//! process ends, however it ends (a panic, `exit`, Ctrl-C).
//!
//! One implementation for two users that differ only in their [`Config`]: the test harness
//! (`tests/support`: scram-sha-256 with a generated password, room for many connections) and
//! the benchmark (`examples/bench`: trust auth and default settings, the benchmark
//! conditions of DESIGN.md). Both include this file with `#[path = "..."] mod pg_cluster;`,
//! so it stays self-contained: std, tempfile and the library's `pg_tools` (where the
//! PostgreSQL programs are) only, errors as `String`.
//!
//! As root, initdb and the server run as the `postgres` user (they refuse to run as root).
//! Layout of the dir: `data/` (PGDATA), `sock/` (the socket), `server.log` (the server's
//! log), `pg_ctl.log`, and `pwfile` with password auth. Nothing goes to our own output.

// Each includer uses a different part of this file.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use haven_schema::pg_tools;

/// The system user that runs the server when we are root.
const SERVER_USER: &str = "postgres";

/// How long the server may take to accept connections.
const START_TIMEOUT_SECS: u32 = 60;

/// How clients log in.
pub enum Auth {
    /// Anyone who reaches the socket, as any role (the benchmark).
    Trust,
    /// scram-sha-256, with this password for the superuser (the tests).
    Password(String),
}

/// What differs between the clusters of the tests and of the benchmark.
pub struct Config<'a> {
    /// What the cluster is for ("test", "benchmark"): in postgresql.conf and in errors.
    pub purpose: &'a str,
    /// The start of the temp dir's name, e.g. `haven-pg-`.
    pub dir_prefix: &'a str,
    /// The superuser that initdb creates.
    pub superuser: &'a str,
    /// How clients log in.
    pub auth: Auth,
    /// postgresql.conf settings besides where to listen, e.g. `("max_connections", "200")`.
    pub settings: &'a [(&'a str, &'a str)],
}

/// A running cluster. [`Cluster::stop`] stops it and removes its dir; the watchdog does the
/// same on its own when the process ends, or when the value is dropped.
pub struct Cluster {
    /// The cluster's dir (see the module docs).
    pub dir: PathBuf,
    /// The port, which names the socket file in [`Cluster::socket_dir`].
    pub port: u16,
    // Where initdb really is (symlinks resolved); pg_ctl and postgres are taken from there
    // too, so that all three are of one version.
    bin: PathBuf,
    watchdog: Child,
    // The write end of the watchdog's stdin. The kernel closes it when this process exits,
    // however it exits, and the watchdog's `read` then returns.
    watchdog_stdin: ChildStdin,
}

impl Cluster {
    /// initdb, configure and start a cluster in a new dir under the temp dir.
    pub fn start(config: &Config<'_>) -> Result<Cluster, String> {
        let root = is_root();
        let bin = server_bin_dir()?;
        let port = free_port()?;
        let dir = make_dir(config)?;
        // First, so that whatever fails below, the dir is removed when the process ends.
        let (watchdog, watchdog_stdin) = spawn_watchdog(&dir, &bin, root)?;
        let cluster = Cluster {
            dir,
            port,
            bin,
            watchdog,
            watchdog_stdin,
        };
        cluster.prepare_dir(&config.auth, root)?;
        cluster.initdb(config, root)?;
        cluster.configure(config)?;
        cluster.start_server(root)?;
        Ok(cluster)
    }

    /// The directory of the socket: `host=` in a URL, or `PGHOST`.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.join("sock")
    }

    /// A PostgreSQL program from the server's own directory.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// A startup error, with the tail of the server log.
    pub fn failure(&self, what: &str) -> String {
        let log = fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!(
            "the private PostgreSQL cluster in {} did not start: {what}\n\
             --- last lines of server.log ---\n{tail}",
            self.dir.display()
        )
    }

    /// Stops the server and removes the dir now, waiting until both are done.
    pub fn stop(self) -> Result<(), String> {
        let Cluster {
            mut watchdog,
            watchdog_stdin,
            ..
        } = self;
        // Closing the pipe is what the watchdog waits for.
        drop(watchdog_stdin);
        watchdog
            .wait()
            .map(drop)
            .map_err(|e| format!("cannot wait for the cluster's watchdog: {e}"))
    }

    // The server user must own the dir: initdb creates data/ in it and pg_ctl writes the log.
    fn prepare_dir(&self, auth: &Auth, root: bool) -> Result<(), String> {
        fs::create_dir(self.socket_dir()).map_err(|e| format!("cannot create sock/: {e}"))?;
        if let Auth::Password(password) = auth {
            fs::write(self.dir.join("pwfile"), format!("{password}\n"))
                .map_err(|e| format!("cannot write the password file: {e}"))?;
        }
        if root {
            let owner = format!("{SERVER_USER}:");
            run(
                Command::new("chown").args(["-R", &owner]).arg(&self.dir),
                "chown",
            )
            .map_err(|e| format!("{e}\n(running as root needs a `{SERVER_USER}` user)"))?;
        }
        Ok(())
    }

    fn initdb(&self, config: &Config<'_>, root: bool) -> Result<(), String> {
        let mut command = as_server_user(&self.tool("initdb"), root);
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg(format!("--username={}", config.superuser))
            // C locale: no dependence on the machine's locales. --no-sync only skips
            // initdb's own final flush (seconds on slow disks); the server keeps fsync on.
            .args(["--no-locale", "--encoding=UTF8", "--no-sync"]);
        match &config.auth {
            Auth::Trust => command.arg("--auth=trust"),
            Auth::Password(_) => command
                .arg("--auth=scram-sha-256")
                .arg(format!("--pwfile={}", self.dir.join("pwfile").display())),
        };
        run(&mut command, "initdb")
    }

    // A unix socket in our own dir, no TCP; then `config.settings`. fsync stays on.
    fn configure(&self, config: &Config<'_>) -> Result<(), String> {
        let mut settings = format!(
            "\n# haven-schema {} cluster\nlisten_addresses = ''\n\
             unix_socket_directories = '{}'\nport = {}\n",
            config.purpose,
            self.socket_dir().display(),
            self.port
        );
        for (name, value) in config.settings {
            settings += &format!("{name} = {value}\n");
        }
        fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("data/postgresql.conf"))
            .and_then(|mut conf| conf.write_all(settings.as_bytes()))
            .map_err(|e| format!("cannot write postgresql.conf: {e}"))
    }

    // `pg_ctl -w` waits until the server accepts connections, bounded by `-t`. Its own
    // chatter goes to a file, and into the error when it fails.
    fn start_server(&self, root: bool) -> Result<(), String> {
        let ctl_log = fs::File::create(self.dir.join("pg_ctl.log"))
            .map_err(|e| format!("cannot create pg_ctl.log: {e}"))?;
        let ctl_log_err = ctl_log.try_clone().map_err(|e| e.to_string())?;
        let status = as_server_user(&self.tool("pg_ctl"), root)
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", &START_TIMEOUT_SECS.to_string(), "start"])
            .stdout(ctl_log)
            .stderr(ctl_log_err)
            .status()
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        if status.success() {
            return Ok(());
        }
        let ctl = fs::read_to_string(self.dir.join("pg_ctl.log")).unwrap_or_default();
        Err(self.failure(&format!(
            "pg_ctl start failed ({status}): {}",
            ctl.trim_end()
        )))
    }
}

/// Finds a PostgreSQL program by the rule of `haven_schema::pg_tools` (the one
/// `upgrade --backup` follows too): on `PATH`, else in the newest
/// `/usr/lib/postgresql/*/bin`, else Debian's `pg_wrapper` on `PATH`.
pub fn find_pg_bin(tool: &str) -> Result<PathBuf, String> {
    pg_tools::find(tool).ok_or_else(|| {
        format!(
            "PostgreSQL program `{tool}` not found on PATH or under {}/*/bin; \
             install PostgreSQL",
            pg_tools::VERSIONED_BIN_ROOT
        )
    })
}

/// The first `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

// The real directory of initdb: /usr/local/bin/initdb may be a link into
// /usr/lib/postgresql/15/bin, where pg_ctl and postgres are too.
fn server_bin_dir() -> Result<PathBuf, String> {
    let initdb = find_pg_bin("initdb")?;
    let real = fs::canonicalize(&initdb)
        .map_err(|e| format!("cannot resolve {}: {e}", initdb.display()))?;
    real.parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("{} has no parent directory", real.display()))
}

/// Whether this process runs as root, where initdb and postgres refuse to run.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A command that runs `program` as the server's owner: [`SERVER_USER`] when we are root,
/// else ourselves. Its working directory is `/`, which every user may enter.
fn as_server_user(program: &Path, root: bool) -> Command {
    let mut command = if root {
        let mut runuser = Command::new("runuser");
        runuser.args(["-u", SERVER_USER, "--"]).arg(program);
        runuser
    } else {
        Command::new(program)
    };
    command.current_dir("/").stdin(Stdio::null());
    command
}

// The words of `as_server_user` for a shell script: `runuser -u postgres -- program`.
fn server_user_argv(program: &Path, root: bool) -> Vec<String> {
    let prefix = ["runuser", "-u", SERVER_USER, "--"];
    let prefix = if root { &prefix[..] } else { &[] };
    let program = program.to_string_lossy().into_owned();
    prefix
        .iter()
        .map(|word| word.to_string())
        .chain([program])
        .collect()
}

fn make_dir(config: &Config<'_>) -> Result<PathBuf, String> {
    let dir = tempfile::Builder::new()
        .prefix(config.dir_prefix)
        .tempdir()
        .map_err(|e| {
            format!(
                "cannot create a temp dir for the {} cluster: {e}",
                config.purpose
            )
        })?;
    // The watchdog removes it, after the process (and so every destructor) is gone.
    Ok(dir.keep())
}

// `sh` waits for EOF on stdin (this process exited, or `stop`), then stops the server if it
// runs and removes the dir. Immediate mode: the data is thrown away anyway. Its own process
// group keeps a Ctrl-C aimed at us (or at `cargo test`) from killing it first.
fn spawn_watchdog(dir: &Path, bin: &Path, root: bool) -> Result<(Child, ChildStdin), String> {
    use std::os::unix::process::CommandExt;
    let script = r#"read _ignored; if [ -f "$DIR/data/postmaster.pid" ]; then
        "$@" -D "$DIR/data" -m immediate -w stop; fi; rm -rf "$DIR""#;
    let mut child = Command::new("sh")
        .args(["-c", script, "haven-pg-watchdog"])
        .args(server_user_argv(&bin.join("pg_ctl"), root))
        .env("DIR", dir)
        .current_dir("/")
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the cluster's watchdog: {e}"))?;
    let stdin = child.stdin.take().ok_or("the watchdog has no stdin")?;
    Ok((child, stdin))
}

// The socket lives in our private dir, so the port only names the socket file and keys
// SysV shared memory. An OS-assigned free TCP port still keeps concurrent clusters apart,
// which makes `ps` output and server logs unambiguous.
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
