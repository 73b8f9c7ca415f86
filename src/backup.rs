//! `upgrade --backup FILE`: a `pg_dump` of the database before anything is applied.
//!
//! `pg_dump` refuses a server of a newer major version than its own ("aborting because of
//! server version mismatch"), and a dump by a newer `pg_dump` may not restore into the
//! server it came from. So the `pg_dump` is chosen for the server's version: a `--pg-dump`
//! given explicitly, else the first candidate of the server's major version (`PATH`, then
//! `/usr/lib/postgresql/<major>/bin`: the rule of [`crate::pg_tools`]), else the closest
//! newer one. The choice comes back as a [`PgDump`], for the caller to show.
//!
//! The password goes to `pg_dump` through `PGPASSWORD`, never on its command line (where
//! `ps` would show it), and is scrubbed from anything `pg_dump` prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::pg_tools::{self, PgVersion};
use crate::url::{Backend, DatabaseUrl};

/// The `pg_dump` a backup uses, and the versions it was chosen by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgDump {
    /// The program.
    pub path: PathBuf,
    /// Its version (`pg_dump --version`).
    pub version: PgVersion,
    /// The server's version.
    pub server: PgVersion,
}

impl PgDump {
    /// One line for logs: which `pg_dump`, of which version, for which server.
    pub fn describe(&self) -> String {
        let newer = if self.version.same_major(self.server) {
            ""
        } else {
            " (newer than the server: the dump may not restore into this server's version)"
        };
        format!(
            "pg_dump {} ({}) for PostgreSQL {}{newer}",
            self.version,
            self.path.display(),
            self.server
        )
    }
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

/// Dumps the database at `url` to `file` with a `pg_dump` for the server's version
/// (`explicit`, when given); fails if none fits or the dump fails. Returns the one used.
pub fn pg_dump(url: &DatabaseUrl, file: &Path, explicit: Option<&Path>) -> Result<PgDump> {
    check_backend(url)?;
    let server = server_version(url)?;
    let chosen = match explicit {
        Some(path) => check_explicit(path, server)?,
        None => choose(server)?,
    };
    run_pg_dump(url, file, &chosen)?;
    Ok(chosen)
}

/// The `pg_dump` given with `--pg-dump`: used if it can dump this server.
pub fn check_explicit(path: &Path, server: PgVersion) -> Result<PgDump> {
    let version = pg_tools::program_version(path)
        .map_err(|e| Error::Backup(format!("--pg-dump {}: {e}", path.display())))?;
    if server.newer_major_than(version) {
        return Err(Error::Backup(format!(
            "--pg-dump {} is pg_dump {version}, which refuses a PostgreSQL {server} server; {}",
            path.display(),
            install_hint(server)
        )));
    }
    Ok(PgDump {
        path: path.to_owned(),
        version,
        server,
    })
}

/// The first candidate of the server's major version, else the closest newer one.
pub fn choose(server: PgVersion) -> Result<PgDump> {
    let found: Vec<PgDump> = pg_tools::candidates("pg_dump")
        .into_iter()
        .filter_map(|path| {
            // One that cannot tell its version cannot be trusted with the backup either.
            let version = pg_tools::program_version(&path).ok()?;
            Some(PgDump {
                path,
                version,
                server,
            })
        })
        .collect();
    let same = found.iter().find(|d| d.version.same_major(server));
    let newer = found
        .iter()
        .filter(|d| d.version.newer_major_than(server))
        .min_by_key(|d| d.version);
    same.or(newer)
        .cloned()
        .ok_or_else(|| Error::Backup(none_fits(server, &found)))
}

fn none_fits(server: PgVersion, found: &[PgDump]) -> String {
    let seen = if found.is_empty() {
        format!(
            "pg_dump was not found on PATH or under {}/*/bin",
            pg_tools::VERSIONED_BIN_ROOT
        )
    } else {
        let list: Vec<String> = found
            .iter()
            .map(|d| format!("pg_dump {} at {}", d.version, d.path.display()))
            .collect();
        format!(
            "no pg_dump can dump this PostgreSQL {server} server: found only {}, and pg_dump \
             refuses a server newer than itself",
            list.join(", ")
        )
    };
    format!("{seen}; {}", install_hint(server))
}

fn install_hint(server: PgVersion) -> String {
    let major = server.major_name();
    format!(
        "install the PostgreSQL {major} client programs (postgresql-client-{major} on Debian, \
         found in {}), or pass --pg-dump PATH to a pg_dump {major} or newer",
        pg_tools::versioned_bin_dir(server).display()
    )
}

/// The server's version, from a connection of its own.
#[cfg(feature = "postgres")]
fn server_version(url: &DatabaseUrl) -> Result<PgVersion> {
    use diesel::dsl::sql;
    use diesel::sql_types::Text;
    use diesel::RunQueryDsl;
    let mut conn = crate::backend::postgres::connect_pg(url)?;
    let num: String = diesel::select(sql::<Text>("current_setting('server_version_num')"))
        .get_result(&mut conn)
        .map_err(|e| Error::query("cannot read the server's version", e))?;
    num.trim()
        .parse()
        .map(PgVersion::from_num)
        .map_err(|_| Error::Backup(format!("the server reports an unreadable version {num:?}")))
}

#[cfg(not(feature = "postgres"))]
fn server_version(_url: &DatabaseUrl) -> Result<PgVersion> {
    Err(Error::BadInput(
        "--backup needs haven-schema's postgres feature".into(),
    ))
}

fn run_pg_dump(url: &DatabaseUrl, file: &Path, pg_dump: &PgDump) -> Result<()> {
    let tool = &pg_dump.path;
    let mut command = Command::new(tool);
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
        "pg_dump {} ({}) to {} failed ({}): {}",
        pg_dump.version,
        tool.display(),
        file.display(),
        output.status,
        url.scrub(stderr.trim())
    )))
}
