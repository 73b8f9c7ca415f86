//! Database URLs: which backend, what the driver is given, and how to print them safely.
//!
//! The URL chooses the backend, as in the diesel CLI: `postgres://` and `postgresql://` are
//! PostgreSQL; `sqlite://PATH`, `sqlite:PATH`, `file:PATH` and a plain path are SQLite.
//! Anything else is a clear error, never a panic.
//!
//! - A PostgreSQL URL is read exactly as libpq reads it (`url::libpq`), so that what libpq uses
//!   as the password is what gets redacted.
//! - A SQLite URL becomes one path, which is opened, locked and reported (`url::sqlite`).
//! - `postgres:` without `//` and libpq `key=value` strings are refused without being
//!   echoed: both may hold a password in a place no parser here can be sure of.
//!
//! Passwords never leave this module unredacted except through
//! [`DatabaseUrl::connection_string`] and [`DatabaseUrl::password`].

mod libpq;
mod redact;
mod sqlite;

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

pub use redact::{redact_urls, Secrets};
pub use sqlite::SqliteMode;

/// The two supported database backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Backend {
    /// PostgreSQL, the production database.
    Postgres,
    /// SQLite, the embedded default.
    Sqlite,
}

impl Backend {
    /// The directory name used for this backend's migrations (`postgres` or `sqlite`).
    pub fn dir_name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }

    /// The backend a directory name stands for, if any (`postgres`, `postgresql`, `pg`, `sqlite`).
    pub fn from_dir_name(name: &str) -> Option<Backend> {
        match name {
            "postgres" | "postgresql" | "pg" => Some(Backend::Postgres),
            "sqlite" | "sqlite3" => Some(Backend::Sqlite),
            _ => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Postgres => "PostgreSQL",
            Backend::Sqlite => "SQLite",
        })
    }
}

/// A parsed database URL that knows its backend and how to print itself safely.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: Backend,
    /// What the driver is given: the libpq URL, or a `file:` URI built from the path.
    connection: String,
    /// What is shown: the URL with its secrets as `***`, or the SQLite path.
    redacted: String,
    secrets: Secrets,
    password: Option<String>,
    sqlite: Option<sqlite::Target>,
    // Boxed: most of a URL's size, and only PostgreSQL URLs have one.
    pg: Option<Box<libpq::ConnUri>>,
}

// Debug must not leak the password either.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// Shown instead of a URL that must never be echoed.
const NOT_SHOWN: &str = "(not shown: it may hold a password)";

impl DatabaseUrl {
    /// Parses a URL or path and detects its backend.
    pub fn parse(raw: &str) -> Result<Self> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Error::InvalidUrl {
                url: "(empty)".into(),
                reason: "the URL is empty".into(),
            });
        }
        if libpq::prefix_len(raw).is_some() {
            return parse_postgres(raw);
        }
        if let Some(reason) = never_echoed(raw) {
            return Err(Error::InvalidUrl {
                url: NOT_SHOWN.into(),
                reason: reason.into(),
            });
        }
        match scheme_of(raw) {
            Some(s) if s.eq_ignore_ascii_case("sqlite") => {
                parse_sqlite(raw, strip_sqlite_scheme(raw), sqlite::Form::Path)
            }
            Some(s) if s.eq_ignore_ascii_case("file") => {
                parse_sqlite(raw, &raw["file:".len()..], sqlite::Form::FileUri)
            }
            Some(scheme) => Err(Error::UnsupportedScheme {
                scheme: format!("{scheme}://"),
                url: redact_urls(raw),
            }),
            None => parse_sqlite(raw, raw, sqlite::Form::Path),
        }
    }

    /// The backend this URL selects.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The string to hand to the driver. It may hold a password: never print it.
    pub fn connection_string(&self) -> &str {
        &self.connection
    }

    /// The URL with any password replaced by `***`; for SQLite, the database file's path.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The password libpq will use, if the URL holds one (for `PGPASSWORD` of child
    /// processes).
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The database file of a SQLite URL: the one file opened, locked and reported.
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite.as_ref().map(|t| t.path.as_path())
    }

    /// The `mode=` of a SQLite URL, if it has one.
    pub fn sqlite_mode(&self) -> Option<SqliteMode> {
        self.sqlite.as_ref().and_then(|t| t.mode)
    }

    /// The SQLite file a write command may lock and change: an error for `mode=ro`, and for
    /// `mode=rw` when the file does not exist (SQLite would not create it).
    pub fn writable_sqlite_path(&self) -> Result<&Path> {
        let Some(target) = &self.sqlite else {
            return Err(Error::BadInput(format!(
                "{self} names no SQLite file to lock"
            )));
        };
        let path = target.path.as_path();
        match target.mode {
            Some(SqliteMode::ReadOnly) => Err(Error::BadInput(format!(
                "the SQLite database {} is opened read-only (mode=ro), and this command \
                 writes: drop mode=ro from the URL, or use a read-only command (current, \
                 history, check, --sql, --dry-run)",
                path.display()
            ))),
            Some(SqliteMode::ReadWrite) if !path.exists() => Err(Error::BadInput(format!(
                "the SQLite database {} does not exist, and mode=rw does not create it: \
                 create it with mode=rwc (or no mode), or fix the path",
                path.display()
            ))),
            _ => Ok(path),
        }
    }

    /// The connection string without its password, for child processes that take the
    /// password from `PGPASSWORD` instead. Every other parameter is passed on as written.
    pub fn without_password(&self) -> String {
        match &self.pg {
            Some(uri) => uri.without_password(),
            None => self.connection.clone(),
        }
    }

    /// The same server and credentials, another database (PostgreSQL).
    pub fn with_database(&self, name: &str) -> Result<DatabaseUrl> {
        let Some(uri) = &self.pg else {
            return Err(Error::BadInput(format!(
                "{self} is not a PostgreSQL URL, so it has no other databases"
            )));
        };
        DatabaseUrl::parse(&uri.with_database(name))
    }

    /// The connection string with libpq parameters added (values percent-encoded), for
    /// PostgreSQL URLs. A parameter the URL already sets is left as the user wrote it.
    #[cfg(feature = "postgres")]
    pub(crate) fn connection_string_with(&self, params: &[(&str, &str)]) -> String {
        match &self.pg {
            Some(uri) => uri.with_params_added(params),
            None => self.connection.clone(),
        }
    }

    /// Replaces every occurrence of a secret in `text` (driver messages can echo them), and
    /// any password in a URL of `text`.
    pub fn scrub(&self, text: &str) -> String {
        self.secrets.scrub(text)
    }

    /// The secrets of this URL, to scrub other text with.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }
}

/// Why `raw` is refused without being echoed, if it is: `postgres:` without `//` (libpq
/// would not read it as a URL), or a libpq `key=value` string.
fn never_echoed(raw: &str) -> Option<&'static str> {
    let lower = raw.to_ascii_lowercase();
    if lower.starts_with("postgres:") || lower.starts_with("postgresql:") {
        return Some(
            "a PostgreSQL URL starts with postgres:// or postgresql:// (with `//`); a SQLite \
             file with that name is written ./NAME",
        );
    }
    let keyword = raw.split('=').next().unwrap_or("").trim();
    if raw.contains('=') && libpq::is_keyword(keyword) {
        return Some(
            "libpq key=value connection strings are not supported: write a URL, \
             postgres://USER:PASSWORD@HOST:PORT/DB?param=value; a SQLite file with that \
             name is written ./NAME",
        );
    }
    None
}

/// The parts of a command-line argument or environment value that must never be printed:
/// a URL's secrets (raw and decoded), or the whole text when it must never be echoed.
fn sensitive_parts(text: &str) -> Vec<String> {
    let text = text.trim();
    if libpq::prefix_len(text).is_none() && never_echoed(text).is_some() {
        return vec![text.to_owned()];
    }
    match libpq::ConnUri::parse(text) {
        Ok(uri) => uri.secrets(),
        Err(_) if text.contains("://") || text.contains('=') => libpq::lenient_secrets(text),
        Err(_) => Vec::new(),
    }
}

/// The scheme before `:`, when the text looks like `scheme:...` rather than a path.
fn scheme_of(raw: &str) -> Option<&str> {
    let (scheme, _) = raw.split_once(':')?;
    let looks_like_scheme = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic());
    // A one-letter "scheme" is a Windows drive (C:\...), and only `scheme://`, `sqlite:` and
    // `file:` make a URL; anything else with a colon (`./a:b.db`) is a plain path.
    let is_url = raw[scheme.len()..].starts_with("://")
        || scheme.eq_ignore_ascii_case("sqlite")
        || scheme.eq_ignore_ascii_case("file");
    (looks_like_scheme && scheme.len() > 1 && is_url).then_some(scheme)
}

fn strip_sqlite_scheme(raw: &str) -> &str {
    let rest = &raw["sqlite:".len()..];
    rest.strip_prefix("//").unwrap_or(rest)
}

fn parse_sqlite(raw: &str, rest: &str, form: sqlite::Form) -> Result<DatabaseUrl> {
    let target = sqlite::parse(rest, form).map_err(|reason| Error::InvalidUrl {
        url: redact_urls(raw),
        reason,
    })?;
    Ok(DatabaseUrl {
        backend: Backend::Sqlite,
        connection: sqlite::open_uri(&target),
        redacted: target.path.display().to_string(),
        secrets: Secrets::new(),
        password: None,
        sqlite: Some(target),
        pg: None,
    })
}

fn parse_postgres(raw: &str) -> Result<DatabaseUrl> {
    let uri = libpq::ConnUri::parse(raw).map_err(|reason| Error::InvalidUrl {
        url: Secrets::of_argument(raw).scrub(raw),
        reason,
    })?;
    let mut secrets = Secrets::new();
    secrets.extend(uri.secrets());
    Ok(DatabaseUrl {
        backend: Backend::Postgres,
        connection: uri.text().to_owned(),
        redacted: uri.redacted(),
        secrets,
        password: uri.password(),
        sqlite: None,
        pg: Some(Box::new(uri)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> DatabaseUrl {
        DatabaseUrl::parse(s).expect("valid URL")
    }

    #[test]
    fn schemes_choose_the_backend() {
        assert_eq!(parse("postgres://u@h/db").backend(), Backend::Postgres);
        assert_eq!(parse("POSTGRESQL://u@h/db").backend(), Backend::Postgres);
        assert_eq!(
            parse("POSTGRESQL://u@h/db").connection_string(),
            "postgresql://u@h/db",
            "libpq knows the scheme in lower case only"
        );
        for s in [
            "sqlite://a.db",
            "sqlite:a.db",
            "file:a.db",
            "a.db",
            "./dir/a:b.db",
            "/abs/x.db",
            "./a=b.db",
            "./postgres:x.db",
        ] {
            assert_eq!(parse(s).backend(), Backend::Sqlite, "{s}");
        }
    }

    #[test]
    fn sqlite_paths_are_extracted() {
        assert_eq!(
            parse("sqlite:///tmp/x.db").sqlite_path(),
            Some(Path::new("/tmp/x.db"))
        );
        assert_eq!(
            parse("sqlite://rel.db").sqlite_path(),
            Some(Path::new("rel.db"))
        );
        assert_eq!(
            parse("sqlite:rel.db").sqlite_path(),
            Some(Path::new("rel.db"))
        );
        let uri = parse("file:data/h.db?mode=rwc");
        assert_eq!(uri.sqlite_path(), Some(Path::new("data/h.db")));
        assert_eq!(uri.connection_string(), "file:data/h.db?mode=rwc");
        assert_eq!(uri.sqlite_mode(), Some(SqliteMode::ReadWriteCreate));
        assert_eq!(uri.to_string(), "data/h.db", "reported as the path");
    }

    #[test]
    fn one_sqlite_path_is_opened_locked_and_reported() {
        let spaced = parse("file:/tmp/d/f%20x.db?mode=rwc");
        assert_eq!(spaced.sqlite_path(), Some(Path::new("/tmp/d/f x.db")));
        assert_eq!(spaced.redacted(), "/tmp/d/f x.db");
        assert_eq!(
            spaced.connection_string(),
            "file:///tmp/d/f%20x.db?mode=rwc"
        );
        let ro = parse("sqlite:///tmp/q.db?mode=ro");
        assert_eq!(ro.sqlite_path(), Some(Path::new("/tmp/q.db")));
        assert_eq!(ro.connection_string(), "file:///tmp/q.db?mode=ro");
        let err = ro.writable_sqlite_path().expect_err("read-only");
        assert!(err.to_string().contains("mode=ro"), "{err}");
        let plain = parse("/tmp/a#b%c.db");
        assert_eq!(plain.sqlite_path(), Some(Path::new("/tmp/a#b%c.db")));
        assert_eq!(plain.connection_string(), "file:///tmp/a%23b%25c.db");
        let rw = parse("file:/nonexistent-dir/x.db?mode=rw");
        let err = rw.writable_sqlite_path().expect_err("missing");
        assert!(err.to_string().contains("mode=rw does not create"), "{err}");
        assert!(DatabaseUrl::parse("x.db?cache=shared").is_err());
    }

    #[test]
    fn other_schemes_are_refused_with_the_scheme_named() {
        let err = DatabaseUrl::parse("mysql://root:hunter22@db/haven").expect_err("refused");
        let msg = err.to_string();
        assert!(msg.contains("mysql://"), "{msg}");
        assert!(!msg.contains("hunter22"), "{msg}");
        assert_eq!(err.class(), crate::error::ErrorClass::BadInput);
    }

    #[test]
    fn bare_postgres_and_key_value_strings_are_refused_unechoed() {
        for raw in [
            "postgres:u:S3cretPW@h/db",
            "PostgreSQL:/u:S3cretPW@h/db",
            "host=localhost password=S3cretPW dbname=x",
            "password = S3cretPW",
            "dbname=x",
        ] {
            let err = DatabaseUrl::parse(raw).expect_err(raw);
            let msg = err.to_string();
            assert_eq!(err.class(), crate::error::ErrorClass::BadInput, "{raw}");
            assert!(!msg.contains("S3cretPW"), "{msg}");
            assert!(msg.contains("not shown"), "{msg}");
        }
    }

    #[test]
    fn passwords_are_redacted_everywhere() {
        let url = parse("postgres://alice:s3cr%40t@db:5432/haven?sslmode=require");
        assert_eq!(
            url.redacted(),
            "postgres://alice:***@db:5432/haven?sslmode=require"
        );
        assert_eq!(url.password(), Some("s3cr@t"));
        assert_eq!(url.scrub("failed for s3cr@t"), "failed for ***");
        assert_eq!(url.scrub("failed for s3cr%40t"), "failed for ***");
        assert!(!format!("{url:?} {url}").contains("s3cr"));
        let socket = parse("postgres://u:pw99@/haven?host=/tmp/s&port=5499");
        assert_eq!(
            socket.redacted(),
            "postgres://u:***@/haven?host=/tmp/s&port=5499"
        );
        assert_eq!(
            socket.without_password(),
            "postgres://u@/haven?host=/tmp/s&port=5499"
        );
        let other = socket.with_database("scratch").expect("same server");
        assert_eq!(
            other.connection_string(),
            "postgres://u:pw99@/scratch?host=/tmp/s&port=5499"
        );
        let q = parse("postgres:///haven?host=/tmp&password=topsecret");
        assert_eq!(q.redacted(), "postgres:///haven?host=/tmp&password=***");
        assert_eq!(q.password(), Some("topsecret"));
        let hash = parse("postgres://u:5432#S3cret@127.0.0.1/db");
        assert_eq!(hash.redacted(), "postgres://u:***@127.0.0.1/db");
        assert_eq!(hash.password(), Some("5432#S3cret"));
    }

    #[test]
    fn malformed_urls_are_errors_without_the_password() {
        for raw in [
            "postgres://bob:pw1234@host:5432/db?sslmode",
            "postgres://bob:pw1234%zz@host/db",
            "postgres://bob:pw1234@x@host/db",
            "postgres://bob:pw12/34@host/db",
            "postgres://bob:pw1234 @host/db",
            "postgres://bob:pw1234",
            "postgres://bob:pw1234/haven",
        ] {
            let err = DatabaseUrl::parse(raw).expect_err(raw);
            let msg = err.to_string();
            assert!(msg.contains("malformed database URL"), "{msg}");
            assert!(!msg.contains("pw12"), "{raw}: {msg}");
        }
        assert!(DatabaseUrl::parse("  ").is_err());
        for memory in [
            ":memory:",
            "sqlite::memory:",
            "file::memory:",
            "file:x?mode=memory",
            "sqlite://",
        ] {
            let err = DatabaseUrl::parse(memory).expect_err("no file");
            assert!(
                err.to_string().contains("give a database file path"),
                "{memory}: {err}"
            );
        }
    }

    #[test]
    fn arguments_yield_their_secrets() {
        let secrets = Secrets::of_argument("postgres://u:p%40ss@h/db");
        assert_eq!(secrets.scrub("p@ss p%40ss"), "*** ***");
        let whole = Secrets::of_argument("host=h password=S3cretPW");
        assert_eq!(whole.scrub("got 'host=h password=S3cretPW'"), "got '***'");
        let broken = Secrets::of_argument("postgres://u:a b@c@h/db");
        assert!(!broken.scrub("x a b@c y").contains("a b@c"));
    }
}
