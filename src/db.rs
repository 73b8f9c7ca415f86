//! Database URLs: which backend, and how to print them safely.
//!
//! The URL chooses the backend, as in the diesel CLI: `postgres://` and `postgresql://` are
//! PostgreSQL; `sqlite://PATH`, `sqlite:PATH`, `file:PATH` and a plain path are SQLite.
//! Anything else is a clear error, never a panic. Passwords never leave this module
//! unredacted except through [`DatabaseUrl::connection_string`].

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

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
    connection: String,
    redacted: String,
    password: Option<String>,
    sqlite_path: Option<PathBuf>,
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
        match scheme_of(raw) {
            Some(s)
                if s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql") =>
            {
                parse_postgres(raw)
            }
            Some(s) if s.eq_ignore_ascii_case("sqlite") => sqlite(strip_sqlite_scheme(raw), None),
            Some(s) if s.eq_ignore_ascii_case("file") => sqlite(&raw["file:".len()..], Some(raw)),
            Some(scheme) => Err(Error::UnsupportedScheme {
                scheme: format!("{scheme}://"),
                url: redact_unknown(raw),
            }),
            None => sqlite(raw, None),
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

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The password, if the URL holds one (for `PGPASSWORD` of child processes).
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The database file of a SQLite URL.
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite_path.as_deref()
    }

    /// The connection string without its password, for child processes that take the
    /// password from `PGPASSWORD` instead.
    pub fn without_password(&self) -> String {
        let Ok(mut url) = PgUrl::parse(&self.connection) else {
            return self.redacted.clone();
        };
        let _ = url.0.set_password(None);
        let pairs: Vec<(String, String)> = url
            .0
            .query_pairs()
            .filter(|(k, _)| k != "password")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if pairs.is_empty() {
            url.0.set_query(None);
        } else {
            url.0.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.render()
    }

    /// The same server and credentials, another database (PostgreSQL).
    pub fn with_database(&self, name: &str) -> Result<DatabaseUrl> {
        let mut url = PgUrl::parse(&self.connection).map_err(|e| Error::InvalidUrl {
            url: self.redacted.clone(),
            reason: e.to_string(),
        })?;
        url.0.set_path(&format!("/{name}"));
        DatabaseUrl::parse(&url.render())
    }

    /// The connection string with libpq parameters added (values percent-encoded), for
    /// PostgreSQL URLs. A parameter the URL already sets is left as the user wrote it.
    #[cfg(feature = "postgres")]
    pub(crate) fn connection_string_with(&self, params: &[(&str, &str)]) -> String {
        let mut text = self.connection.clone();
        let query = libpq_query(&text).map(|q| q.to_owned());
        for (key, value) in params {
            let set_already = query.as_deref().is_some_and(|q| {
                q.split('&')
                    .any(|pair| pair.split('=').next() == Some(*key))
            });
            if set_already {
                continue;
            }
            let separator = if libpq_query(&text).is_some() {
                '&'
            } else {
                '?'
            };
            let value =
                percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC);
            text.push_str(&format!("{separator}{key}={value}"));
        }
        text
    }

    /// Replaces every occurrence of the password in `text` (driver messages can echo it).
    pub fn scrub(&self, text: &str) -> String {
        match self.password.as_deref() {
            Some(pw) if pw.len() >= 2 => text.replace(pw, "***"),
            _ => text.to_owned(),
        }
    }
}

/// The query of a PostgreSQL URL as libpq finds it: the user part runs to the first `@`
/// before any `/` (so a `?` or `#` in a password is not a query), then the query starts at
/// the first `?`. `None` when there is no query.
#[cfg(feature = "postgres")]
fn libpq_query(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let user_end = rest
        .find(['@', '/'])
        .filter(|&i| rest.as_bytes()[i] == b'@');
    let host = user_end.map_or(rest, |i| &rest[i + 1..]);
    host.split_once('?').map(|(_, query)| query)
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

fn sqlite(path_part: &str, uri: Option<&str>) -> Result<DatabaseUrl> {
    let path = path_part.split('?').next().unwrap_or(path_part);
    let connection = uri.map_or_else(|| path_part.to_owned(), str::to_owned);
    // Every pooled connection to `:memory:` is a new, empty database, and the lock file
    // would land beside a file that does not exist: migrations need a real file.
    if path == ":memory:" || path.is_empty() || connection.contains("mode=memory") {
        return Err(Error::InvalidUrl {
            url: connection,
            reason: "an in-memory or unnamed SQLite database lives only as long as one \
                     connection; give a database file path"
                .into(),
        });
    }
    Ok(DatabaseUrl {
        backend: Backend::Sqlite,
        redacted: connection.clone(),
        connection,
        password: None,
        sqlite_path: Some(PathBuf::from(path)),
    })
}

fn parse_postgres(raw: &str) -> Result<DatabaseUrl> {
    let mut parsed = PgUrl::parse(raw).map_err(|e| Error::InvalidUrl {
        url: redact_unknown(raw),
        reason: e.to_string(),
    })?;
    let url = &mut parsed.0;
    let password = url
        .password()
        .map(|p| percent_decode(p).unwrap_or_else(|| p.to_owned()));
    let query_password = url
        .query_pairs()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.into_owned());
    if url.password().is_some() {
        // Infallible for URLs with a host part, which a parsed password implies.
        let _ = url.set_password(Some("***"));
    }
    let redacted = redact_query_password(&parsed.render());
    Ok(DatabaseUrl {
        backend: Backend::Postgres,
        connection: raw.to_owned(),
        redacted,
        password: password.or(query_password),
        sqlite_path: None,
    })
}

/// A PostgreSQL URL parsed by the `url` crate. libpq accepts an empty host with user
/// credentials (`postgres://user:pw@/db?host=/run/postgresql`), which `url` refuses, so such
/// URLs are parsed with a placeholder host that `render` takes out again.
struct PgUrl(url::Url, bool);

const PLACEHOLDER_HOST: &str = "haven-placeholder-host";

impl PgUrl {
    fn parse(raw: &str) -> Result<Self, url::ParseError> {
        match url::Url::parse(raw) {
            Err(url::ParseError::EmptyHost) => {
                let (scheme, rest) = raw.split_once("://").ok_or(url::ParseError::EmptyHost)?;
                let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
                if !rest[..authority_end].ends_with('@') {
                    return Err(url::ParseError::EmptyHost);
                }
                let patched = format!(
                    "{scheme}://{}{PLACEHOLDER_HOST}{}",
                    &rest[..authority_end],
                    &rest[authority_end..]
                );
                url::Url::parse(&patched).map(|u| PgUrl(u, true))
            }
            other => other.map(|u| PgUrl(u, false)),
        }
    }

    fn render(&self) -> String {
        let text = self.0.to_string();
        if self.1 {
            text.replacen(&format!("@{PLACEHOLDER_HOST}"), "@", 1)
        } else {
            text
        }
    }
}

fn percent_decode(text: &str) -> Option<String> {
    // url::Url keeps userinfo percent-encoded; libpq decodes it, and so must the scrubber.
    let pairs = url::form_urlencoded::parse(format!("p={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned());
    pairs
}

fn redact_query_password(text: &str) -> String {
    let Some((head, query)) = text.split_once('?') else {
        return text.to_owned();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k == "password" => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{head}?{}", parts.join("&"))
}

/// Best-effort redaction of a URL we could not parse: hide `user:secret@`.
fn redact_unknown(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return redact_query_password(raw);
    };
    let redacted_rest = match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => rest.to_owned(),
        },
        None => rest.to_owned(),
    };
    redact_query_password(&format!("{scheme}://{redacted_rest}"))
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
        for s in [
            "sqlite://a.db",
            "sqlite:a.db",
            "file:a.db",
            "a.db",
            "./dir/a:b.db",
            "/abs/x.db",
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
    fn passwords_are_redacted_everywhere() {
        let url = parse("postgres://alice:s3cr%40t@db:5432/haven?sslmode=require");
        assert_eq!(
            url.redacted(),
            "postgres://alice:***@db:5432/haven?sslmode=require"
        );
        assert_eq!(url.password(), Some("s3cr@t"));
        assert_eq!(url.scrub("failed for s3cr@t"), "failed for ***");
        assert!(!format!("{url:?} {url}").contains("s3cr"));
        let socket = parse("postgres://u:pw99@/haven?host=/tmp/s&port=5499");
        assert_eq!(
            socket.redacted(),
            "postgres://u:***@/haven?host=/tmp/s&port=5499"
        );
        assert_eq!(
            socket.without_password(),
            "postgres://u@/haven?host=%2Ftmp%2Fs&port=5499"
        );
        let other = socket.with_database("scratch").expect("same server");
        assert_eq!(
            other.connection_string(),
            "postgres://u:pw99@/scratch?host=/tmp/s&port=5499"
        );
        let q = parse("postgres:///haven?host=/tmp&password=topsecret");
        assert_eq!(q.redacted(), "postgres:///haven?host=/tmp&password=***");
        assert_eq!(q.password(), Some("topsecret"));
    }

    #[test]
    fn malformed_urls_are_errors_without_the_password() {
        let err = DatabaseUrl::parse("postgres://bob:pw1234@host:notaport/db").expect_err("bad");
        let msg = err.to_string();
        assert!(msg.contains("malformed database URL"), "{msg}");
        assert!(!msg.contains("pw1234"), "{msg}");
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
}
