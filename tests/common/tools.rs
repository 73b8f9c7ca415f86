//! Finding and running the PostgreSQL client and server programs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::conn::{redact, ConnParams};

/// Where Debian-style packages install each major version's programs.
const VERSIONED_BIN_ROOT: &str = "/usr/lib/postgresql";

/// The system user that runs the private server when the tests run as root.
pub const SERVER_USER: &str = "postgres";

/// Finds a PostgreSQL program: on `PATH`, else in the highest `/usr/lib/postgresql/*/bin`.
pub fn find_pg_bin(tool: &str) -> Result<PathBuf, String> {
    // Debian's `pg_wrapper` (what /usr/bin/psql links to) is a Perl script that picks a
    // version per call; the real binary is faster and matches the server we start.
    on_path(tool)
        .filter(|path| !is_pg_wrapper(path))
        .or_else(|| in_versioned_dirs(tool))
        .or_else(|| on_path(tool))
        .ok_or_else(|| {
            format!(
                "PostgreSQL program `{tool}` not found on PATH or under {VERSIONED_BIN_ROOT}/*/bin; \
                 install PostgreSQL, or set HAVEN_TEST_DATABASE_URL to an existing server"
            )
        })
}

fn on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

fn is_pg_wrapper(path: &Path) -> bool {
    std::fs::canonicalize(path)
        .is_ok_and(|real| real.file_name().is_some_and(|name| name == "pg_wrapper"))
}

fn in_versioned_dirs(tool: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(VERSIONED_BIN_ROOT).ok()?;
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version = version_key(&entry.file_name().to_string_lossy())?;
            let candidate = entry.path().join("bin").join(tool);
            candidate.is_file().then_some((version, candidate))
        })
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, path)| path)
}

// "15" -> [15], "9.6" -> [9, 6]; anything else is not a version directory.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// Whether this process runs as root, where initdb and postgres refuse to run.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A command that runs `program` as the server's owner: [`SERVER_USER`] when we are root,
/// else ourselves. Its working directory is `/`, which every user may enter.
pub fn as_server_user(program: &Path, root: bool) -> Command {
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

/// The words of `as_server_user` for a shell script: `runuser -u postgres -- program`.
pub fn server_user_argv(program: &Path, root: bool) -> Vec<String> {
    let prefix = ["runuser", "-u", SERVER_USER, "--"];
    let prefix = if root { &prefix[..] } else { &[] };
    let program = program.to_string_lossy().into_owned();
    prefix
        .iter()
        .map(|word| word.to_string())
        .chain([program])
        .collect()
}

/// Runs `psql -X -A -t -v ON_ERROR_STOP=1 -c SQL`; `Err` holds stderr.
pub fn psql(params: &ConnParams, sql: &str) -> Result<String, String> {
    let output = pg_client("psql", params)?
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output();
    stdout_or_error("psql", params, output)
}

/// Runs `pg_dump --schema-only --no-owner`; `Err` holds stderr.
pub fn pg_dump_schema(params: &ConnParams) -> Result<String, String> {
    let output = pg_client("pg_dump", params)?
        .args(["--schema-only", "--no-owner"])
        .output();
    stdout_or_error("pg_dump", params, output)
}

// A client command for `params`. The URL goes in `--dbname`, which both tools accept, so
// that extra parameters such as sslmode work too.
fn pg_client(tool: &str, params: &ConnParams) -> Result<Command, String> {
    let mut command = Command::new(find_pg_bin(tool)?);
    command
        .arg("--dbname")
        .arg(params.url())
        // Never prompt for a password: stdin is not a terminal, and a test must not wait.
        .arg("--no-password")
        // A stopped server must fail a test, not hang it.
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null());
    Ok(command)
}

fn stdout_or_error(
    tool: &str,
    params: &ConnParams,
    output: std::io::Result<Output>,
) -> Result<String, String> {
    let output = output.map_err(|e| format!("cannot run {tool}: {e}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(format!(
        "{tool} on {} failed ({}): {}",
        redact(&params.url()),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim_end()
    ))
}
