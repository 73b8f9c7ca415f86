//! `upgrade --backup FILE`: a `pg_dump` of the database before anything is applied.
//!
//! The password goes to `pg_dump` through `PGPASSWORD`, never on its command line (where
//! `ps` would show it), and is scrubbed from anything `pg_dump` prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::db::{Backend, DatabaseUrl};
use crate::error::{Error, Result};

/// Finds a PostgreSQL client tool: on `PATH`, else the newest `/usr/lib/postgresql/*/bin`.
pub fn pg_tool(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
            .filter(|p| p.is_file())
            .collect();
        versions.sort_by_key(|p| version_number(p));
        versions.pop()
    })
}

fn version_number(tool: &Path) -> u32 {
    tool.ancestors()
        .nth(2)
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_string_lossy().parse().ok())
        .unwrap_or(0)
}

/// Refuses a backup of anything but PostgreSQL (`pg_dump` is all this module knows).
pub fn check_backend(url: &DatabaseUrl) -> Result<()> {
    if url.backend() == Backend::Postgres {
        return Ok(());
    }
    Err(Error::BadInput(
        "--backup uses pg_dump and is for PostgreSQL; copy the SQLite file instead".into(),
    ))
}

/// Dumps the database at `url` to `file` with `pg_dump`; fails if the dump fails.
pub fn pg_dump(url: &DatabaseUrl, file: &Path) -> Result<()> {
    check_backend(url)?;
    let tool = pg_tool("pg_dump").ok_or_else(|| {
        Error::Backup("pg_dump was not found on PATH or under /usr/lib/postgresql; install the PostgreSQL client".into())
    })?;
    let mut command = Command::new(&tool);
    command
        .arg("--file")
        .arg(file)
        .arg("--dbname")
        .arg(url.without_password());
    if let Some(password) = url.password() {
        command.env("PGPASSWORD", password);
    }
    let output = command
        .output()
        .map_err(|e| Error::Backup(format!("cannot run {}: {e}", tool.display())))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(Error::Backup(format!(
        "pg_dump to {} failed ({}): {}",
        file.display(),
        output.status,
        url.scrub(stderr.trim())
    )))
}
