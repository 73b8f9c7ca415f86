//! Finding and running the PostgreSQL client programs.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use super::conn::{redact, ConnParams};
use super::pg_cluster;
use super::server::URL_VAR;

/// Finds a PostgreSQL program (see [`pg_cluster::find_pg_bin`]), with advice for the tests.
pub fn find_pg_bin(tool: &str) -> Result<PathBuf, String> {
    pg_cluster::find_pg_bin(tool)
        .map_err(|e| format!("{e}, or set {URL_VAR} to an existing server"))
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
