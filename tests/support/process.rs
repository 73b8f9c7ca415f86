//! Running programs: the real `haven-migrate` (with a clean environment), in the
//! foreground or the background, and psql, sqlite3 or the diesel CLI; one [`Run`] for
//! what any of them printed and how it exited; waiting on observable conditions (never on
//! fixed sleeps); copies of the migrations to add to or to break; reading the bookkeeping
//! tables.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{pg_bin, PgTestDb, VERSIONS};

/// How long any wait on a condition may take before the test fails. It bounds hangs; it
/// is never what makes a test pass.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The HAVEN versions followed by `extra`.
pub fn haven_and(extra: &[&str]) -> Vec<String> {
    VERSIONS
        .iter()
        .chain(extra)
        .map(|v| (*v).to_owned())
        .collect()
}

/// Which dialect of the migrations to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `migrations/postgres`.
    Postgres,
    /// `migrations/sqlite`.
    Sqlite,
}

/// A private copy of the real migrations in a temp dir, to add to or to break.
pub struct Migrations {
    /// Holds everything; removed on drop.
    pub tmp: tempfile::TempDir,
    /// `<tmp>/migrations`, the `--migration-dir`.
    pub dir: PathBuf,
}

impl Migrations {
    /// A copy of the HAVEN migrations of `dialect`.
    pub fn haven(dialect: Dialect) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("haven-safety-")
            .tempdir()
            .expect("a temp dir for the migrations");
        let dir = tmp.path().join("migrations");
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(match dialect {
                Dialect::Postgres => "postgres",
                Dialect::Sqlite => "sqlite",
            });
        super::copy_tree(&source, &dir);
        Migrations { tmp, dir }
    }

    /// Adds (or replaces) the migration directory `name` with this `up.sql` and `down.sql`.
    pub fn add(&self, name: &str, up: &str, down: &str) -> PathBuf {
        super::write_migration(&self.dir, name, up, Some(down));
        self.dir.join(name)
    }

    /// As [`Migrations::add`], with a `metadata.toml`.
    pub fn add_with_metadata(&self, name: &str, up: &str, down: &str, metadata: &str) -> PathBuf {
        let path = self.add(name, up, down);
        fs::write(path.join("metadata.toml"), metadata).expect("write metadata.toml");
        path
    }

    /// A file of one migration, found by the version prefix of its directory name.
    pub fn file(&self, dir_prefix: &str, file: &str) -> PathBuf {
        let entry = fs::read_dir(&self.dir)
            .expect("read the migration dir")
            .map(|e| e.expect("a dir entry").path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(dir_prefix))
            })
            .unwrap_or_else(|| panic!("no migration directory starts with {dir_prefix}"));
        entry.join(file)
    }

    /// `haven-migrate --database-url URL --migration-dir DIR`, with a clean environment.
    pub fn cmd(&self, url: &str) -> Command {
        haven_on(url, &self.dir, self.tmp.path())
    }
}

/// Sends `signal` (`TERM`, `INT`, `KILL`) to `pid` with kill(1).
pub fn send_signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// The built `haven-migrate`, run in `cwd` (so that no `.env`, `diesel.toml` or
/// `Cargo.toml` of the checkout counts) without any of the developer's settings:
/// `DATABASE_URL`, `MIGRATION_DIRECTORY` and `DIESEL_CONFIG_FILE` removed, no colours, and
/// a fixed terminal size for help text. The one command builder of the tests.
pub fn haven(cwd: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("haven-migrate"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("MIGRATION_DIRECTORY")
        .env_remove("DIESEL_CONFIG_FILE")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env("LINES", "50")
        .current_dir(cwd)
        .stdin(Stdio::null());
    cmd
}

/// [`haven`] with `--database-url URL --migration-dir DIR`.
pub fn haven_on(url: &str, dir: &Path, cwd: &Path) -> Command {
    let mut cmd = haven(cwd);
    cmd.arg("--database-url")
        .arg(url)
        .arg("--migration-dir")
        .arg(dir);
    cmd
}

/// Runs `haven-migrate ARGS` in `cwd`.
#[track_caller]
pub fn hm(cwd: &Path, args: &[&str]) -> Run {
    run(haven(cwd).args(args))
}

/// What a finished run printed, and how it exited.
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

impl Run {
    /// stdout and stderr together, for "does the output mention X".
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit code {code}, got {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Asserts that the run succeeded.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.code(0)
    }

    /// Asserts that stdout or stderr contains each of `needles`.
    #[track_caller]
    pub fn says(&self, needles: &[&str]) -> &Self {
        let all = self.all();
        for needle in needles {
            assert!(
                all.contains(needle),
                "the output lacks `{needle}`\n--- stdout:\n{}\n--- stderr:\n{}",
                self.stdout,
                self.stderr
            );
        }
        self
    }

    /// Asserts that neither stdout nor stderr contains any of `needles`; an empty needle
    /// proves nothing, and is refused.
    #[track_caller]
    pub fn never_says(&self, needles: &[&str]) -> &Self {
        let all = self.all();
        for needle in needles {
            assert!(
                !needle.is_empty(),
                "checking that no output shows \"\" proves nothing"
            );
            assert!(
                !all.contains(needle),
                "the output contains `{needle}`\n--- stdout:\n{}\n--- stderr:\n{}",
                self.stdout,
                self.stderr
            );
        }
        self
    }

    /// Asserts that stderr contains `needle` (error messages go to stderr).
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "expected stderr to contain {needle:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout parsed as exactly one JSON value.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_str(&self.stdout) {
            Ok(value) => value,
            Err(e) => panic!(
                "stdout is not one JSON value ({e})\n--- stdout:\n{}\n--- stderr:\n{}",
                self.stdout, self.stderr
            ),
        }
    }

    /// The run of an `Output`.
    fn of(output: &std::process::Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Why a test that runs the real diesel CLI is `#[ignore]`d.
pub const NEEDS_DIESEL: &str = "needs the diesel CLI; .ci/run installs it";

/// The `diesel` binary: on PATH, else in `$CARGO_HOME/bin` or `~/.cargo/bin`.
#[track_caller]
pub fn diesel_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("diesel"))
            .find(|candidate| candidate.is_file())
    });
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    on_path
        .or_else(|| {
            cargo_home
                .map(|home| home.join("bin/diesel"))
                .filter(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("the diesel CLI is not installed ({NEEDS_DIESEL})"))
}

/// Runs another program (psql, sqlite3, the diesel CLI) and collects its output.
#[track_caller]
pub fn run_std(cmd: &mut Command) -> Run {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    Run::of(&output)
}

/// Runs `cmd` to completion, failing the test if it takes longer than [`PATIENCE`].
#[track_caller]
pub fn run(cmd: &mut Command) -> Run {
    Background::spawn(cmd).wait()
}

/// A child process whose output is collected by reader threads while it runs.
pub struct Background {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<thread::JoinHandle<()>>,
}

fn collect(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => into
                    .lock()
                    .expect("the output buffer lock")
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    })
}

impl Background {
    /// Starts `cmd` with stdout and stderr captured.
    #[track_caller]
    pub fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start haven-migrate");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().expect("piped stdout"), stdout.clone()),
            collect(child.stderr.take().expect("piped stderr"), stderr.clone()),
        ];
        Background {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.lock().expect("the stderr lock").clone()
    }

    /// Whether it has exited already.
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("poll the child").is_some()
    }

    /// Waits for it to exit (at most [`PATIENCE`], then kills it and fails the test).
    #[track_caller]
    pub fn wait(mut self) -> Run {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "haven-migrate did not finish in {PATIENCE:?}\n--- stderr:\n{}",
                    self.stderr_so_far()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            reader.join().expect("an output reader thread");
        }
        let take = |s: &Arc<Mutex<String>>| s.lock().expect("an output lock").clone();
        Run {
            code: status.code().unwrap_or(-1),
            stdout: take(&self.stdout),
            stderr: take(&self.stderr),
        }
    }

    /// `kill -9`, then reaps it.
    pub fn kill9(mut self) -> Run {
        self.child.kill().expect("SIGKILL the child");
        self.wait()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // A test that panicked must not leave a child behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `condition` until it holds; fails the test after [`PATIENCE`].
#[track_caller]
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        thread::sleep(Duration::from_millis(25));
    }
}

/// The sorted rows of a one-column query on PostgreSQL.
#[track_caller]
pub fn pg_rows(db: &PgTestDb, sql: &str) -> Vec<String> {
    db.psql(sql)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The versions in diesel's table and in the side table (all rows, sorted, duplicates
/// kept), on PostgreSQL; empty when a table does not exist.
#[track_caller]
pub fn pg_recorded(db: &PgTestDb) -> (Vec<String>, Vec<String>) {
    let read = |table: &str| {
        if pg_rows(db, &format!("SELECT to_regclass('{table}') IS NULL")) == ["t"] {
            return Vec::new();
        }
        pg_rows(db, &format!("SELECT version FROM {table} ORDER BY version"))
    };
    (
        read("__diesel_schema_migrations"),
        read("__haven_migrations"),
    )
}

/// Whether a table exists in `public` on PostgreSQL.
#[track_caller]
pub fn pg_table_exists(db: &PgTestDb, table: &str) -> bool {
    pg_rows(
        db,
        &format!("SELECT to_regclass('public.{table}') IS NOT NULL"),
    ) == ["t"]
}

/// The PostgreSQL sessions of this test's database, other than the one asking, whose
/// query contains `text` and that wait on `wait_event` (e.g. `PgSleep`, or a lock type).
#[track_caller]
pub fn pg_sessions_waiting(db: &PgTestDb, text: &str, wait_event_type: &str) -> usize {
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND state = 'active' AND wait_event_type = '{wait_event_type}' \
         AND position('{text}' in query) > 0"
    );
    pg_rows(db, &sql)
        .first()
        .and_then(|n| n.parse().ok())
        .expect("a count")
}

/// A `psql` session that holds `LOCK TABLE gate IN ACCESS EXCLUSIVE MODE` until released,
/// so that a migration reading `gate` blocks for exactly as long as the test wants.
pub struct PgGate {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl PgGate {
    /// Creates the table `gate` (if needed) and locks it.
    #[track_caller]
    pub fn lock(db: &PgTestDb) -> Self {
        db.psql("CREATE TABLE IF NOT EXISTS gate (x int)");
        let mut child = Command::new(pg_bin("psql"))
            .envs(db.env())
            .args([
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--no-password",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start psql for the gate");
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(
                b"BEGIN;\nLOCK TABLE gate IN ACCESS EXCLUSIVE MODE;\nSELECT 'gate-locked';\n",
            )
            .expect("send the gate lock");
        stdin.flush().expect("flush the gate lock");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.trim() == "gate-locked" {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(PATIENCE)
            .expect("psql locked the gate table");
        PgGate {
            child,
            stdin: Some(stdin),
        }
    }

    /// Commits the gate's transaction, letting the blocked migration go on.
    pub fn release(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"COMMIT;\n");
            drop(stdin);
            let _ = self.child.wait();
        }
    }
}

impl Drop for PgGate {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The first column of every row of `sql` on a SQLite file, as text.
#[track_caller]
pub fn sqlite_rows(path: &Path, sql: &str) -> Vec<String> {
    use diesel::sql_types::{Nullable, Text};
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Nullable<Text>)]
        v: Option<String>,
    }
    let mut conn = SqliteConnection::establish(path.to_str().expect("a UTF-8 path"))
        .expect("open the SQLite test database");
    // A haven-migrate running in the background may hold a write lock for a moment.
    diesel::connection::SimpleConnection::batch_execute(&mut conn, "PRAGMA busy_timeout = 30000;")
        .expect("set busy_timeout");
    diesel::sql_query(format!("SELECT CAST(v AS TEXT) AS v FROM ({sql})"))
        .load::<Row>(&mut conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|r| r.v.unwrap_or_default())
        .collect()
}

/// As [`pg_recorded`], on a SQLite file (which must exist).
#[track_caller]
pub fn sqlite_recorded(path: &Path) -> (Vec<String>, Vec<String>) {
    let read = |table: &str| {
        let exists = sqlite_rows(
            path,
            &format!(
                "SELECT count(*) AS v FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
            ),
        );
        if exists == ["0"] {
            return Vec::new();
        }
        sqlite_rows(
            path,
            &format!("SELECT version AS v FROM {table} ORDER BY version"),
        )
    };
    (
        read("__diesel_schema_migrations"),
        read("__haven_migrations"),
    )
}

/// Whether a table exists in a SQLite file.
#[track_caller]
pub fn sqlite_table_exists(path: &Path, table: &str) -> bool {
    sqlite_rows(
        path,
        &format!(
            "SELECT count(*) AS v FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
        ),
    ) == ["1"]
}

/// The text of the SQLite lock file beside `db`, if it exists.
pub fn sqlite_lock_text(db: &Path) -> Option<String> {
    let mut name = db.file_name().expect("a file name").to_os_string();
    name.push(".lock");
    fs::read_to_string(db.with_file_name(name)).ok()
}

/// The side-table `dirty` flags, `version|dirty` per row, on PostgreSQL.
#[track_caller]
pub fn pg_dirty(db: &PgTestDb) -> Vec<String> {
    pg_rows(
        db,
        "SELECT version || '|' || dirty::text FROM __haven_migrations ORDER BY version",
    )
}
