//! A private PostgreSQL cluster for the benchmark, under the benchmark conditions of
//! DESIGN.md: default settings (fsync on), a unix socket only, trust authentication.
//!
//! As root, initdb and postgres run as the `postgres` user (they refuse to run as root). A
//! watchdog shell, reading our stdin pipe, stops the server and removes its directory when
//! this process ends, however it ends (Ctrl-C included).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use super::Result;

/// The system user that runs the server when we are root.
const SERVER_USER: &str = "postgres";

/// A running cluster; [`Cluster::stop`] (or the end of the process) stops it.
pub struct Cluster {
    /// The cluster's directory: `data/`, `sock/`, `server.log`.
    pub dir: PathBuf,
    port: u16,
    bin: PathBuf,
    watchdog: Child,
    watchdog_stdin: Option<ChildStdin>,
}

impl Cluster {
    /// initdb, configure and start a cluster in a new directory under the temp dir.
    pub fn start() -> Result<Cluster> {
        let bin = pg_bin_dir()?;
        let root = is_root();
        let dir = make_dir()?;
        let (watchdog, stdin) = spawn_watchdog(&dir, &bin, root)?;
        let port = free_port()?;
        let mut cluster = Cluster {
            dir,
            port,
            bin,
            watchdog,
            watchdog_stdin: Some(stdin),
        };
        cluster.init(root)?;
        Ok(cluster)
    }

    fn init(&mut self, root: bool) -> Result<()> {
        fs::create_dir(self.dir.join("sock"))?;
        if root {
            run(Command::new("chown")
                .args(["-R", SERVER_USER])
                .arg(&self.dir))?;
        }
        let mut initdb = as_server_user(&self.bin.join("initdb"), root);
        initdb.arg("-D").arg(self.dir.join("data"));
        // --no-sync only skips initdb's own final flush; the server keeps fsync on.
        initdb.args(["--username=postgres", "--auth=trust", "--encoding=UTF8"]);
        initdb.args(["--no-locale", "--no-sync"]);
        run(&mut initdb)?;
        self.configure()?;
        let mut start = as_server_user(&self.bin.join("pg_ctl"), root);
        start.arg("-D").arg(self.dir.join("data"));
        start.arg("-l").arg(self.dir.join("server.log"));
        run(start.args(["-w", "-t", "60", "start"]))
    }

    // Only where to listen: every other setting stays at its default (fsync on).
    fn configure(&self) -> Result<()> {
        let settings = format!(
            "\n# haven-schema benchmark\nlisten_addresses = ''\n\
             unix_socket_directories = '{}'\nport = {}\n",
            self.dir.join("sock").display(),
            self.port
        );
        let mut conf = fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("data/postgresql.conf"))?;
        conf.write_all(settings.as_bytes())?;
        Ok(())
    }

    /// The URL of database `name`, over the unix socket.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres:///{name}?host={}&port={}&user=postgres",
            self.dir.join("sock").display(),
            self.port
        )
    }

    /// The path of a PostgreSQL program of the cluster's version.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
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
    pub fn stop(mut self) -> Result<()> {
        // Closing the pipe is what the watchdog waits for.
        drop(self.watchdog_stdin.take());
        self.watchdog.wait()?;
        Ok(())
    }
}

/// Finds the server programs: beside `psql` on PATH when that is a real binary, else the
/// newest `/usr/lib/postgresql/*/bin` (Debian's /usr/bin/psql is a Perl wrapper).
fn pg_bin_dir() -> Result<PathBuf> {
    let versioned = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin);
    versioned
        .or_else(|| find_on_path("initdb").and_then(|p| p.parent().map(Path::to_path_buf)))
        .ok_or_else(|| "PostgreSQL server programs (initdb, pg_ctl) not found".into())
}

/// The first `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

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

fn make_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("haven-bench-pg-{}", std::process::id()));
    fs::create_dir(&dir)?;
    Ok(dir)
}

// `sh` waits for EOF on stdin, then stops the server and removes the directory. Its own
// process group keeps a Ctrl-C from killing it before it has cleaned up.
fn spawn_watchdog(dir: &Path, bin: &Path, root: bool) -> Result<(Child, ChildStdin)> {
    use std::os::unix::process::CommandExt;
    let script = r#"read _ignored; if [ -f "$DIR/data/postmaster.pid" ]; then
        $AS "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1; fi; rm -rf "$DIR""#;
    let mut child = Command::new("sh")
        .args(["-c", script])
        .env("DIR", dir)
        .env("BIN", bin)
        .env("AS", if root { "runuser -u postgres --" } else { "" })
        .current_dir("/")
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let stdin = child.stdin.take().ok_or("the watchdog has no stdin")?;
    Ok((child, stdin))
}

// The socket file's name carries the port; a free TCP port keeps parallel runs apart.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn run(command: &mut Command) -> Result<()> {
    let output = command.output()?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
    .into())
}
