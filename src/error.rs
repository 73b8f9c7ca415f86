//! The one error type of the library.
//!
//! Every variant carries what happened, to what (version, path, table), and enough for
//! the message to name the next step. The binary maps [`Error::class`] to exit codes.

use std::path::PathBuf;

use crate::problem::Problem;
use crate::stop::{Signal, Stop};

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How an error is classified, for exit codes and JSON `error.kind` families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Connection, SQL error, lock timeout, I/O: the operation failed (exit 1).
    Operational,
    /// Usage, unknown or ambiguous revision, malformed migration directory (exit 2).
    BadInput,
    /// Edited, missing, out-of-order or interrupted migrations (exit 4).
    Integrity,
    /// Stopped by a signal, after rolling back and unlocking (exit 130 or 143).
    Interrupted(Signal),
}

/// Everything that can go wrong in haven-schema.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL names a scheme that is neither PostgreSQL nor SQLite.
    #[error(
        "unsupported database URL scheme `{scheme}` in {url}: use postgres://, postgresql://, \
         sqlite://PATH, sqlite:PATH, file:PATH or a plain file path"
    )]
    UnsupportedScheme {
        /// The scheme as written.
        scheme: String,
        /// The URL, password redacted.
        url: String,
    },
    /// The URL could not be parsed.
    #[error("malformed database URL {url}: {reason}; expected e.g. postgres://user:password@host:5432/haven")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A connection could not be made.
    #[error(
        "cannot connect to {url}: {}; {}",
        distinct_lines(message),
        connection_hint(message)
    )]
    Connection {
        /// The URL, password redacted.
        url: String,
        /// The driver's message.
        message: String,
    },
    /// A SQLite database file could not be opened.
    #[error("cannot open the SQLite database {}: {message}; check that its directory exists and that you may read and write there", path.display())]
    SqliteOpen {
        /// The database file.
        path: PathBuf,
        /// SQLite's message.
        message: String,
    },
    /// A migration directory is not usable as it is.
    #[error("malformed migration directory {}: {problem}", path.display())]
    MalformedMigrations {
        /// The directory or file at fault.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A migration file holds a statement that haven-migrate refuses to run.
    #[error("{}:{line}: refused before anything ran: {problem}", path.display())]
    ForbiddenSql {
        /// The file.
        path: PathBuf,
        /// The line where the statement starts (from 1).
        line: usize,
        /// What was found, why it is refused, and what to do.
        problem: String,
    },
    /// A revision argument names no migration.
    #[error(
        "unknown revision `{rev}`: no migration has that version, version prefix or name{}",
        candidates_hint(candidates)
    )]
    UnknownRevision {
        /// The argument as given.
        rev: String,
        /// Known migrations, to help the user.
        candidates: Vec<String>,
    },
    /// A revision argument matches several migrations.
    #[error("ambiguous revision `{rev}` matches {}: give more digits or the full version", candidates.join(", "))]
    AmbiguousRevision {
        /// The argument as given.
        rev: String,
        /// The matching migrations.
        candidates: Vec<String>,
    },
    /// A command-line value that does not parse or does not apply.
    #[error("{0}")]
    BadInput(String),
    /// Integrity problems block the command.
    #[error("{}", integrity_message(problems))]
    Integrity {
        /// The problems found, each naming a version and the next step.
        problems: Vec<Problem>,
    },
    /// A migration's SQL failed.
    #[error("{}", failed_message(source, stop))]
    MigrationFailed {
        /// The database's error.
        #[source]
        source: diesel::result::Error,
        /// Where the command stopped; `stop.running` is the failed migration.
        stop: Box<Stop>,
    },
    /// A signal stopped the command; the running statement was cancelled, its transaction
    /// rolled back, and the lock released.
    #[error("interrupted by {}{}", signal.name(), interrupted_tail(stop))]
    Interrupted {
        /// The signal.
        signal: Signal,
        /// Where the command stopped.
        stop: Box<Stop>,
    },
    /// A query of the tool's own failed.
    #[error("{context}: {source}")]
    Query {
        /// What the tool was doing.
        context: String,
        /// The database's error, kept whole for callers that look into it.
        #[source]
        source: diesel::result::Error,
    },
    /// The migration lock could not be taken in time.
    #[error("timed out after {seconds} s waiting for the migration lock {lock}{}; wait for that deploy to finish, or raise --lock-timeout", holder.as_ref().map(|h| format!(" held by {h}")).unwrap_or_default())]
    LockTimeout {
        /// The lock (advisory key or lock file).
        lock: String,
        /// Who holds it (pid, application name), when known.
        holder: Option<String>,
        /// How long we waited.
        seconds: u64,
    },
    /// The lock file cannot be used safely (a symbolic link, not a plain file).
    #[error("refusing to use the lock file {}: {problem}", path.display())]
    LockFile {
        /// The lock file.
        path: PathBuf,
        /// What is wrong with it, and what to do.
        problem: String,
    },
    /// A file-system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The pre-deploy backup failed; nothing was applied.
    #[error("backup failed, nothing was applied: {0}")]
    Backup(String),
    /// Replaying the migrations into a scratch database failed (`check --schema`,
    /// `revision --autogenerate`): the migrations themselves are broken.
    #[error(
        "replaying the {dialect} migrations into a scratch database failed (the database \
         of the URL was not touched): {source}"
    )]
    Replay {
        /// Whose migrations.
        dialect: crate::url::Backend,
        /// What failed.
        source: Box<Error>,
    },
    /// `check --schema` or `revision --autogenerate` could not read `schema.rs` or the
    /// database's catalog, or refused a change it cannot write safely.
    #[cfg(feature = "autogen")]
    #[error(transparent)]
    Autogen(#[from] crate::autogen::Error),
}

/// The next step after a failed connection, from what failed: a message that comes from a
/// pooler is not about the user's password.
fn connection_hint(message: &str) -> &'static str {
    let has = |needle: &str| message.contains(needle);
    if has("unsupported startup parameter")
        || has("no such database")
        || has("no more connections allowed")
        || has("server login has been failing")
        || has("pgbouncer")
    {
        "the refusal comes from a connection pooler in front of the server (such as PgBouncer): \
         check its configuration, and the parameters of the URL"
    } else if has("password authentication failed") || has("no password supplied") {
        "check the user and password in the URL"
    } else if has("does not exist") {
        "check the names in the URL (database, user), or create what is missing"
    } else {
        "check that the server runs, and the host and port of the URL"
    }
}

fn failed_message(source: &diesel::result::Error, stop: &Stop) -> String {
    let message = source.to_string();
    match &stop.running {
        Some(r) => format!(
            "migration {} ({}) failed while {}: {message}; {}",
            r.version,
            r.name,
            r.action,
            stop.text("it")
        ),
        None => message.to_owned(),
    }
}

fn interrupted_tail(stop: &Stop) -> String {
    let subject = stop
        .running
        .as_ref()
        .map(|r| format!("the running migration {} ({})", r.version, r.name))
        .unwrap_or_default();
    match stop.text(&subject) {
        text if text.is_empty() => "; nothing had started".to_owned(),
        text => format!("; {text}"),
    }
}

fn candidates_hint(candidates: &[String]) -> String {
    if candidates.is_empty() {
        "; there are no migrations".to_owned()
    } else {
        format!("; known: {}", candidates.join(", "))
    }
}

/// `text` without repeated lines. libpq retries with another SSL or GSS mode after some
/// failures, and then reports the same failure twice, one line per attempt.
fn distinct_lines(text: &str) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for line in text.lines() {
        if !seen.contains(&line) {
            seen.push(line);
        }
    }
    seen.join("\n")
}

fn integrity_message(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
    format!("integrity check failed:\n  {}", lines.join("\n  "))
}

impl Error {
    /// The class that decides the exit code.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::UnsupportedScheme { .. }
            | Error::InvalidUrl { .. }
            | Error::MalformedMigrations { .. }
            | Error::ForbiddenSql { .. }
            | Error::UnknownRevision { .. }
            | Error::AmbiguousRevision { .. }
            | Error::BadInput(_) => ErrorClass::BadInput,
            Error::Integrity { .. } => ErrorClass::Integrity,
            Error::Interrupted { signal, .. } => ErrorClass::Interrupted(*signal),
            Error::Replay { source, .. } => source.class(),
            // A catalog query that failed is operational; everything else autogenerate
            // refuses is about schema.rs or the change it asks for.
            #[cfg(feature = "autogen")]
            Error::Autogen(crate::autogen::Error::Catalog { .. }) => ErrorClass::Operational,
            #[cfg(feature = "autogen")]
            Error::Autogen(_) => ErrorClass::BadInput,
            _ => ErrorClass::Operational,
        }
    }

    /// A stable machine-readable name for the JSON `error.kind` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::UnsupportedScheme { .. } => "unsupported_scheme",
            Error::InvalidUrl { .. } => "invalid_url",
            Error::Connection { .. } | Error::SqliteOpen { .. } => "connection",
            Error::MalformedMigrations { .. } => "malformed_migrations",
            Error::ForbiddenSql { .. } => "forbidden_sql",
            Error::UnknownRevision { .. } => "unknown_revision",
            Error::AmbiguousRevision { .. } => "ambiguous_revision",
            Error::BadInput(_) => "bad_input",
            Error::Integrity { .. } => "integrity",
            Error::MigrationFailed { .. } => "migration_failed",
            Error::Interrupted { .. } => "interrupted",
            Error::Query { .. } => "query",
            Error::LockTimeout { .. } => "lock_timeout",
            Error::LockFile { .. } => "lock_file",
            Error::Io { .. } => "io",
            Error::Backup(_) => "backup",
            Error::Replay { source, .. } => source.kind(),
            #[cfg(feature = "autogen")]
            Error::Autogen(e) => e.kind(),
        }
    }

    /// Wraps a diesel error from one of the tool's own queries.
    pub(crate) fn query(context: impl Into<String>, source: diesel::result::Error) -> Self {
        Error::Query {
            context: context.into(),
            source,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(err: diesel::result::Error) -> Self {
        Error::query("database error", err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_libpq_reports_once_per_attempt_is_shown_once() {
        // libpq with sslmode=prefer (the default) against a server with SSL on: the
        // attempt over SSL fails, the one without SSL too, and both say so.
        let line = r#"connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "u""#;
        let err = Error::Connection {
            url: "postgres://u:***@127.0.0.1/db".into(),
            message: format!("{line}\n{line}"),
        };
        let text = err.to_string();
        assert_eq!(
            text.matches("password authentication failed").count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn a_sqlite_file_that_cannot_be_opened_gets_no_server_advice() {
        let err = Error::SqliteOpen {
            path: "/no/such/dir/x.db".into(),
            message: "unable to open database file".into(),
        };
        let text = err.to_string();
        assert!(text.contains("/no/such/dir/x.db"), "{text}");
        for word in ["server", "user", "password"] {
            assert!(!text.contains(word), "{text}");
        }
        assert_eq!(err.kind(), "connection");
    }
}
