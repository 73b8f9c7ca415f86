//! SQLite URLs: each becomes one path, which is opened, locked (`<path>.lock`) and reported,
//! and one `file:` URI, built here from that path, which is all SQLite ever sees. So the file
//! SQLite opens and the file the lock guards cannot differ.
//!
//! - `sqlite://PATH`, `sqlite:PATH` and plain paths are taken as written, up to a `?`.
//! - `file:` URIs are read as SQLite reads them: `%XX` escapes are decoded, `file:///abs`
//!   and `file://localhost/abs` are absolute, a `#fragment` is refused (SQLite would drop it
//!   from the name silently).
//! - The query may hold `mode=ro`, `mode=rw` or `mode=rwc`, and nothing else: a query string
//!   is never part of a file name.

use std::path::PathBuf;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// How a SQLite database is opened (the `mode=` of its URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteMode {
    /// `mode=ro`: read-only; write commands are refused.
    ReadOnly,
    /// `mode=rw`: read-write, the file must exist.
    ReadWrite,
    /// `mode=rwc`: read-write, created when missing (also the default).
    ReadWriteCreate,
}

impl SqliteMode {
    fn as_str(self) -> &'static str {
        match self {
            SqliteMode::ReadOnly => "ro",
            SqliteMode::ReadWrite => "rw",
            SqliteMode::ReadWriteCreate => "rwc",
        }
    }
}

/// How the URL was written, which decides how its path is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// A plain path, or the rest of `sqlite://` or `sqlite:`: taken as written.
    Path,
    /// The rest of a `file:` URI: percent-decoded.
    FileUri,
}

/// A SQLite database: its file, and how to open it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) path: PathBuf,
    pub(super) mode: Option<SqliteMode>,
}

/// Why a URL names no file of its own: said the same way for every form.
pub(super) const IN_MEMORY: &str = "an in-memory or unnamed SQLite database lives only as long \
     as one connection; give a database file path";

/// Reads the part of a SQLite URL after its scheme. The error says what is wrong.
pub(super) fn parse(rest: &str, form: Form) -> Result<Target, String> {
    let (path, query) = match form {
        Form::Path => {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            (path.to_owned(), query.to_owned())
        }
        Form::FileUri => file_uri(rest)?,
    };
    let mode = mode_of(&query, form)?;
    check_path(&path)?;
    Ok(Target {
        path: PathBuf::from(path),
        mode,
    })
}

/// The path and raw query of the part of a `file:` URI after `file:`.
fn file_uri(rest: &str) -> Result<(String, String), String> {
    let rest = match rest.strip_prefix("//") {
        Some(after) => {
            let slash = after.find('/').unwrap_or(after.len());
            let host = &after[..slash];
            if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
                return Err(format!(
                    "the file: URI names the host `{host}`; SQLite opens local files only \
                     (file:///path or file://localhost/path)"
                ));
            }
            &after[slash..]
        }
        None => rest,
    };
    if rest.contains('#') {
        return Err(
            "a `#` in a file: URI starts a fragment, which SQLite leaves out of the \
                    file name; write a `#` of the name as %23"
                .into(),
        );
    }
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    Ok((decode(path)?, query.to_owned()))
}

/// `%XX`-decodes as SQLite does (a `%` without two hex digits stays as it is); the name must
/// be UTF-8, to be reported as it is.
fn decode(raw: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| "the file name decodes to bytes that are not UTF-8".into())
}

/// The `mode=` of the query; anything else there is refused.
fn mode_of(query: &str, form: Form) -> Result<Option<SqliteMode>, String> {
    let mut mode = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = match form {
            Form::FileUri => (decode(key)?, decode(value)?),
            Form::Path => (key.to_owned(), value.to_owned()),
        };
        if key != "mode" {
            return Err(format!(
                "the SQLite URL parameter `{key}` is not supported: only mode=ro, mode=rw or \
                 mode=rwc (a `?` that belongs to the file name is written %3F in a file: URI)"
            ));
        }
        mode = Some(match value.as_str() {
            "ro" => SqliteMode::ReadOnly,
            "rw" => SqliteMode::ReadWrite,
            "rwc" => SqliteMode::ReadWriteCreate,
            "memory" => return Err(IN_MEMORY.into()),
            _ => return Err(format!("mode={value} is not a mode: use ro, rw or rwc")),
        });
    }
    Ok(mode)
}

fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path == ":memory:" {
        return Err(IN_MEMORY.into());
    }
    if path.contains('\0') {
        return Err("the file name holds a NUL byte".into());
    }
    let names_a_dir = path.ends_with('/')
        || PathBuf::from(path)
            .file_name()
            .is_none_or(|n| n == "." || n == "..");
    if names_a_dir {
        return Err("the path names a directory, not a database file".into());
    }
    Ok(())
}

/// Every byte but unreserved characters and `/` is escaped in a `file:` URI path.
const PATH_BYTES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Every byte but unreserved characters is escaped in a URL component.
const COMPONENT_BYTES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded for any part of a URL.
pub(super) fn encode_component(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, COMPONENT_BYTES).to_string()
}

/// The `file:` URI that opens exactly `target.path`, whatever its characters.
pub(super) fn open_uri(target: &Target) -> String {
    let path = target.path.to_string_lossy();
    let encoded = percent_encoding::utf8_percent_encode(&path, PATH_BYTES);
    // `file:///abs` (an empty authority) or `file:rel`: a relative path never starts with
    // `/`, so it cannot be taken for an authority.
    let uri = if target.path.is_absolute() {
        format!("file://{encoded}")
    } else {
        format!("file:{encoded}")
    };
    match target.mode {
        Some(mode) => format!("{uri}?mode={}", mode.as_str()),
        None => uri,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(rest: &str, form: Form) -> Target {
        parse(rest, form).unwrap_or_else(|e| panic!("{rest}: {e}"))
    }

    #[test]
    fn file_uris_are_decoded_and_paths_are_not() {
        let t = target("/tmp/d/f%20x.db?mode=rwc", Form::FileUri);
        assert_eq!(t.path, PathBuf::from("/tmp/d/f x.db"));
        assert_eq!(t.mode, Some(SqliteMode::ReadWriteCreate));
        assert_eq!(open_uri(&t), "file:///tmp/d/f%20x.db?mode=rwc");
        let t = target("///tmp/q.db?mode=ro", Form::FileUri);
        assert_eq!(t.path, PathBuf::from("/tmp/q.db"));
        let t = target("//localhost/tmp/q.db", Form::FileUri);
        assert_eq!(t.path, PathBuf::from("/tmp/q.db"));
        let t = target("/tmp/f%20x.db?mode=ro", Form::Path);
        assert_eq!(t.path, PathBuf::from("/tmp/f%20x.db"));
        assert_eq!(t.mode, Some(SqliteMode::ReadOnly));
        assert_eq!(open_uri(&t), "file:///tmp/f%2520x.db?mode=ro");
    }

    #[test]
    fn odd_names_round_trip_through_the_uri() {
        let t = Target {
            path: PathBuf::from("d ir/a?b#c%d€.db"),
            mode: None,
        };
        let uri = open_uri(&t);
        assert_eq!(uri, "file:d%20ir/a%3Fb%23c%25d%E2%82%AC.db");
        let back = target(uri.strip_prefix("file:").expect("file:"), Form::FileUri);
        assert_eq!(back, t);
    }

    #[test]
    fn queries_and_fragments_never_become_file_names() {
        for (rest, form, says) in [
            ("x.db?cache=shared", Form::Path, "`cache`"),
            ("x.db?mode=bogus", Form::FileUri, "not a mode"),
            ("x.db#frag", Form::FileUri, "%23"),
            ("//otherhost/x.db", Form::FileUri, "`otherhost`"),
            ("x.db?mode=memory", Form::Path, "in-memory"),
            (":memory:", Form::Path, "in-memory"),
            ("?mode=rw", Form::Path, "in-memory"),
            ("dir/", Form::Path, "directory"),
            ("dir/..", Form::FileUri, "directory"),
            ("a%00b", Form::FileUri, "NUL"),
            ("a%ffb", Form::FileUri, "UTF-8"),
        ] {
            let err = parse(rest, form).expect_err(rest);
            assert!(err.contains(says), "{rest}: {err}");
        }
    }
}
