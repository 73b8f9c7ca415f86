//! PostgreSQL URLs read exactly as libpq reads them (`conninfo_uri_parse_options` and
//! `conninfo_uri_parse_params` in libpq's `fe-connect.c`), so that what libpq will use as the
//! password is what gets redacted, whatever characters it holds.
//!
//! libpq's reading is not RFC 3986's (nor the `url` crate's): the user information runs to the
//! first `@` before the first `/`, so a `#` or `?` there belongs to the password; `+` is not a
//! space; `#` means nothing anywhere. Three kinds of URL are refused here, with the URL
//! redacted, rather than handed to libpq:
//! - what libpq versions read differently: an unencoded space (libpq 18 strips or refuses
//!   it, older versions keep it);
//! - what libpq refuses with a message that echoes part of the URL, maybe the password: a
//!   bad `%` escape, a `[` without `]`, a query parameter that is not `key=value`;
//! - what people read differently from libpq: an `@` anywhere but between the user
//!   information and the host (`u:p@ss@host`, or a `/` in the password).

use std::ops::Range;

/// The keywords whose values are secrets, and so never printed.
const SECRET_KEYWORDS: [&str; 5] = [
    "password",
    "sslpassword",
    "oauth_client_secret",
    "scram_client_key",
    "scram_server_key",
];

/// libpq 18's connection keywords (`PQconninfoOptions`), a superset of older versions'.
const KEYWORDS: &[&str] = &[
    "service",
    "user",
    "password",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslcertmode",
    "sslpassword",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "require_auth",
    "min_protocol_version",
    "max_protocol_version",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "gssencmode",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "replication",
    "target_session_attrs",
    "load_balance_hosts",
    "scram_client_key",
    "scram_server_key",
    "oauth_issuer",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
    "sslkeylogfile",
    // Taken by the URI parser only: `requiressl` becomes sslmode, `ssl=true` (JDBC)
    // becomes sslmode=require.
    "requiressl",
    "ssl",
];

/// Whether `word` is a libpq connection keyword (`host`, `password`, ...).
pub(super) fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// The length of `postgresql://` or `postgres://` at the start of `text`, in any case.
pub(super) fn prefix_len(text: &str) -> Option<usize> {
    ["postgresql://", "postgres://"]
        .into_iter()
        .find_map(|prefix| {
            let head = text.get(..prefix.len())?;
            head.eq_ignore_ascii_case(prefix).then_some(prefix.len())
        })
}

/// A PostgreSQL URL as libpq reads it, with the positions of its parts in `text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ConnUri {
    /// The URL as handed to libpq: as given, with the scheme in lower case (libpq knows
    /// only `postgresql://` and `postgres://`).
    text: String,
    /// The password of the user information, raw (between `:` and `@`).
    userinfo_password: Option<Range<usize>>,
    /// Where the host and port list ends: at a `/`, a `?` or the end.
    netloc_end: usize,
    /// The database name after the `/`, raw; `None` without a `/`.
    dbname: Option<Range<usize>>,
    /// The query parameters, in order.
    params: Vec<Param>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Param {
    /// `key=value`, raw, without the `&`s around it.
    span: Range<usize>,
    /// The value, raw.
    value: Range<usize>,
    /// The keyword, percent-decoded.
    key: String,
    /// The value, percent-decoded.
    decoded: String,
}

impl Param {
    fn is_secret(&self) -> bool {
        SECRET_KEYWORDS.contains(&self.key.as_str())
    }
}

impl ConnUri {
    /// Reads `raw`, which starts with `postgres://` or `postgresql://`. The error says what
    /// is wrong without quoting the URL.
    pub(super) fn parse(raw: &str) -> Result<ConnUri, String> {
        let start = prefix_len(raw).ok_or("it does not start with postgres://")?;
        let text = format!("{}{}", raw[..start].to_ascii_lowercase(), &raw[start..]);
        if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "it holds a space or control character ({}); percent-encode it (a space is %20)",
                c.escape_debug()
            ));
        }
        let (userinfo_password, host_start) = userinfo(&text, start)?;
        let netloc_end = netloc(&text, host_start)?;
        let (dbname, query_start) = dbname(&text, netloc_end)?;
        let params = match query_start {
            Some(q) => params(&text, q)?,
            None => Vec::new(),
        };
        Ok(ConnUri {
            text,
            userinfo_password,
            netloc_end,
            dbname,
            params,
        })
    }

    /// The URL to hand to libpq.
    pub(super) fn text(&self) -> &str {
        &self.text
    }

    /// The password libpq will use: the last one stored, from the user information or a
    /// `password` parameter; `None` when empty (libpq then reads its password file).
    pub(super) fn password(&self) -> Option<String> {
        let from_userinfo = self
            .userinfo_password
            .as_ref()
            .filter(|r| !r.is_empty())
            .and_then(|r| decode(&self.text[r.clone()]).ok());
        let from_params = self.params.iter().filter(|p| p.key == "password");
        let last = from_params
            .map(|p| p.decoded.clone())
            .next_back()
            .or(from_userinfo);
        last.filter(|p| !p.is_empty())
    }

    /// Every secret, raw and decoded: the user information's password and the values of
    /// `password`, `sslpassword` and the other secret keywords.
    pub(super) fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        for range in self.secret_ranges() {
            let raw = &self.text[range];
            secrets.push(raw.to_owned());
            secrets.extend(decode(raw).ok());
        }
        secrets
    }

    fn secret_ranges(&self) -> Vec<Range<usize>> {
        let params = self.params.iter().filter(|p| p.is_secret());
        let mut ranges: Vec<Range<usize>> = self.userinfo_password.iter().cloned().collect();
        ranges.extend(params.map(|p| p.value.clone()));
        ranges.retain(|r| !r.is_empty());
        ranges
    }

    /// The URL with every secret replaced by `***`.
    pub(super) fn redacted(&self) -> String {
        let mut out = String::new();
        let mut at = 0;
        for range in self.secret_ranges() {
            out.push_str(&self.text[at..range.start]);
            out.push_str("***");
            at = range.end;
        }
        out.push_str(&self.text[at..]);
        out
    }

    /// The URL without the user information's password and without `password`
    /// parameters; every other byte as it was, so that libpq reads the same parameters.
    pub(super) fn without_password(&self) -> String {
        let head_end = self.query_start().map_or(self.text.len(), |q| q - 1);
        let head = match &self.userinfo_password {
            // `user:secret@host` becomes `user@host`.
            Some(pw) => format!(
                "{}{}",
                &self.text[..pw.start - 1],
                &self.text[pw.end..head_end]
            ),
            None => self.text[..head_end].to_owned(),
        };
        self.with_params(head, |p| p.key != "password")
    }

    /// The same URL naming the database `name` (a `dbname` parameter would override it,
    /// so those go).
    pub(super) fn with_database(&self, name: &str) -> String {
        let encoded = super::sqlite::encode_component(name);
        let head = match &self.dbname {
            Some(db) => format!("{}{encoded}", &self.text[..db.start]),
            None => format!("{}/{encoded}", &self.text[..self.netloc_end]),
        };
        self.with_params(head, |p| p.key != "dbname")
    }

    /// The URL with `key=value` parameters appended (values percent-encoded), except those
    /// it sets already: those stay as the user wrote them.
    #[cfg(feature = "postgres")]
    pub(super) fn with_params_added(&self, params: &[(&str, &str)]) -> String {
        let mut text = self.text.clone();
        let mut has_query = self.query_start().is_some();
        for (key, value) in params {
            if self.params.iter().any(|p| p.key == *key) {
                continue;
            }
            let separator = match text.as_bytes().last() {
                Some(b'?' | b'&') if has_query => "",
                _ if has_query => "&",
                _ => "?",
            };
            let value = super::sqlite::encode_component(value);
            text.push_str(&format!("{separator}{key}={value}"));
            has_query = true;
        }
        text
    }

    /// `head`, then the query parameters that `keep` keeps, each exactly as written.
    fn with_params(&self, mut head: String, keep: impl Fn(&Param) -> bool) -> String {
        let kept: Vec<&str> = self
            .params
            .iter()
            .filter(|p| keep(p))
            .map(|p| &self.text[p.span.clone()])
            .collect();
        if !kept.is_empty() {
            head.push('?');
            head.push_str(&kept.join("&"));
        }
        head
    }

    fn query_start(&self) -> Option<usize> {
        let after = self.dbname.as_ref().map_or(self.netloc_end, |d| d.end);
        (self.text.as_bytes().get(after) == Some(&b'?')).then_some(after + 1)
    }
}

/// The user information: the password's range, and where the host list starts. libpq looks
/// for an `@` before the first `/`; the user name runs to the first `:`, the password from
/// there to that `@`.
fn userinfo(text: &str, start: usize) -> Result<(Option<Range<usize>>, usize), String> {
    let Some(at) = text[start..]
        .find(['@', '/'])
        .map(|i| start + i)
        .filter(|&i| text.as_bytes()[i] == b'@')
    else {
        return Ok((None, start));
    };
    let info = &text[start..at];
    let colon = info.find(':').map(|i| start + i);
    let user_end = colon.unwrap_or(at);
    decode(&text[start..user_end]).map_err(|e| format!("the user name {e}"))?;
    let password = colon.map(|c| c + 1..at);
    if let Some(pw) = &password {
        decode(&text[pw.clone()]).map_err(|e| format!("the password {e}"))?;
    }
    Ok((password, at + 1))
}

/// The host and port list, `host[:port][,host[:port]]...`, checked; returns where it ends.
fn netloc(text: &str, mut pos: usize) -> Result<usize, String> {
    let bytes = text.as_bytes();
    let scan = |from: usize, stops: &[u8]| {
        (from..bytes.len())
            .find(|&i| stops.contains(&bytes[i]))
            .unwrap_or(bytes.len())
    };
    loop {
        let host_end = if bytes.get(pos) == Some(&b'[') {
            let close = text[pos..]
                .find(']')
                .map(|i| pos + i)
                .ok_or("a `[` (IPv6 host) has no matching `]`")?;
            if close == pos + 1 {
                return Err("an IPv6 host between `[` and `]` is empty".into());
            }
            if !matches!(bytes.get(close + 1), None | Some(b':' | b'/' | b'?' | b',')) {
                return Err(
                    "an IPv6 host `[...]` is followed by something other than `:`, `/`, `?` or `,`"
                        .into(),
                );
            }
            close + 1
        } else {
            let end = scan(pos, b":/?,");
            check_plain("a host name", &text[pos..end])?;
            end
        };
        pos = host_end;
        if bytes.get(pos) == Some(&b':') {
            let end = scan(pos + 1, b"/?,");
            check_port(&text[pos + 1..end])?;
            pos = end;
        }
        if bytes.get(pos) != Some(&b',') {
            return Ok(pos);
        }
        pos += 1;
    }
}

/// The database name after `/` (up to `?`), checked; and where the query starts, if any.
fn dbname(text: &str, pos: usize) -> Result<(Option<Range<usize>>, Option<usize>), String> {
    match text.as_bytes().get(pos) {
        Some(b'/') => {
            let end = text[pos..].find('?').map_or(text.len(), |i| pos + i);
            check_plain("the database name", &text[pos + 1..end])?;
            let query = (end < text.len()).then_some(end + 1);
            Ok((Some(pos + 1..end), query))
        }
        Some(b'?') => Ok((None, Some(pos + 1))),
        _ => Ok((None, None)),
    }
}

/// A host, port or database name: decodes, and holds no `@`. libpq would read an `@` there
/// as part of the name, where a person (and most URL parsers) meant it to end a password.
fn check_plain(what: &str, raw: &str) -> Result<(), String> {
    if raw.contains('@') {
        return Err(format!(
            "{what} holds an `@`: libpq ends the user and password at the first `@` before the \
             first `/`, so a password holding `@` or `/` must be percent-encoded (%40, %2F)"
        ));
    }
    decode(raw).map(drop).map_err(|e| format!("{what} {e}"))
}

/// A port: digits, or nothing. libpq refuses anything else with a message that quotes it,
/// and in `postgres://user:secret` (no `@host`) the "port" is the password.
fn check_port(raw: &str) -> Result<(), String> {
    check_plain("a port", raw)?;
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    Err("a port is not a number (if it is a password, the `@` before the host is missing)".into())
}

/// The query, `key=value&key=value...`, as libpq reads it.
fn params(text: &str, start: usize) -> Result<Vec<Param>, String> {
    let mut params = Vec::new();
    let mut pos = start;
    while pos < text.len() {
        let end = text[pos..].find('&').map_or(text.len(), |i| pos + i);
        let number = params.len() + 1;
        let segment = &text[pos..end];
        // The segment is not quoted: after a raw `&` in a password, it is part of one.
        let eq = segment
            .find('=')
            .ok_or_else(|| format!("query parameter {number} has no `=`; write key=value"))?;
        let key = decode(&segment[..eq])
            .map_err(|e| format!("the name of query parameter {number} {e}"))?;
        let value = pos + eq + 1..end;
        if text[value.clone()].contains('=') {
            return Err(format!(
                "the value of query parameter {number} ({}) holds a second `=`; percent-encode \
                 it as %3D",
                shown_key(&key)
            ));
        }
        let decoded = decode(&text[value.clone()]).map_err(|e| {
            format!(
                "the value of query parameter {number} ({}) {e}",
                shown_key(&key)
            )
        })?;
        check_keyword(&key, &decoded)?;
        params.push(Param {
            span: pos..end,
            value,
            key,
            decoded,
        });
        pos = end + 1;
    }
    Ok(params)
}

/// How a parameter's name appears in a message: libpq keywords by name, anything else not
/// at all (after a raw `&` in a password, it is part of the password).
fn shown_key(key: &str) -> String {
    if is_keyword(key) {
        format!("`{key}`")
    } else {
        "an unknown name".to_owned()
    }
}

fn check_keyword(key: &str, value: &str) -> Result<(), String> {
    let known = match key {
        // libpq maps `ssl=true` to sslmode=require, and refuses any other value.
        "ssl" => value == "true",
        _ => is_keyword(key),
    };
    if known {
        return Ok(());
    }
    Err(format!(
        "a query parameter is not a libpq connection parameter{}; see \
         https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS \
         (if a password holds `&`, `=` or `#`, percent-encode it)",
        if key == "ssl" {
            " (`ssl` takes only `true`)".to_owned()
        } else {
            String::new()
        }
    ))
}

/// libpq's `conninfo_uri_decode`: `%XX` escapes (never `%00`), nothing else (`+` stays).
/// The result must be UTF-8 too, so that it can be found in messages and redacted.
pub(super) fn decode(raw: &str) -> Result<String, String> {
    let bytes = raw.as_bytes();
    for (i, _) in raw.match_indices('%') {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        match hex {
            None => {
                return Err("has a `%` that does not start a %XX escape; write `%` as %25".into())
            }
            Some(b"00") => return Err("holds %00, which libpq refuses".into()),
            Some(_) => {}
        }
    }
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| "decodes to bytes that are not UTF-8".into())
}

/// For a URL that does not parse: what may be a password, found generously (the user
/// information up to the last `@`, and the values of secret keywords), raw and decoded.
pub(super) fn lenient_secrets(text: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    // `user:secret@host`; or, with the `@host` forgotten, `user:secret` (not `host:5432`).
    let userinfo = match rest.rsplit_once('@') {
        Some((info, _)) => Some(info),
        None => rest.split(['/', '?']).next(),
    };
    if let Some((_, pw)) = userinfo.and_then(|info| info.split_once(':')) {
        if !pw.bytes().all(|b| b.is_ascii_digit() || b == b',') {
            secrets.push(pw.to_owned());
        }
    }
    for pair in rest.split(['?', '&']) {
        if let Some((key, value)) = pair.split_once('=') {
            let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
            if SECRET_KEYWORDS.contains(&key.as_ref()) {
                secrets.push(value.to_owned());
            }
        }
    }
    let decoded: Vec<String> = secrets
        .iter()
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    secrets.extend(decoded);
    secrets
}

/// Whether `key` names a secret (`password`, `sslpassword`, ...).
pub(super) fn is_secret_keyword(key: &str) -> bool {
    SECRET_KEYWORDS.contains(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> ConnUri {
        ConnUri::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn the_userinfo_runs_to_the_first_at_before_the_first_slash() {
        let u = uri("postgres://u:5432#S3cret@127.0.0.1/db");
        assert_eq!(u.password().as_deref(), Some("5432#S3cret"));
        assert_eq!(u.redacted(), "postgres://u:***@127.0.0.1/db");
        let u = uri("postgres://u:1234?S3cret@127.0.0.1/db");
        assert_eq!(u.password().as_deref(), Some("1234?S3cret"));
        assert_eq!(u.redacted(), "postgres://u:***@127.0.0.1/db");
        // `+` is not a space for libpq, and `:` after the first belongs to the password.
        let u = uri("postgres://u:a+b:c@h/db");
        assert_eq!(u.password().as_deref(), Some("a+b:c"));
    }

    #[test]
    fn query_passwords_override_and_are_all_redacted() {
        let u = uri("postgres://u:one@h/db?password=two&sslpassword=k3y&sslmode=require");
        assert_eq!(u.password().as_deref(), Some("two"));
        assert_eq!(
            u.redacted(),
            "postgres://u:***@h/db?password=***&sslpassword=***&sslmode=require"
        );
        for secret in ["one", "two", "k3y"] {
            assert!(u.secrets().iter().any(|s| s == secret), "{secret}");
        }
        assert_eq!(
            uri("postgres://u:one@h/db?password=").password(),
            None,
            "an empty password parameter overrides, and means none"
        );
    }

    #[test]
    fn parameters_pass_through_byte_for_byte() {
        let u = uri(
            "postgres://u:p%40w@/db?host=/tmp/s&options=-c%20statement_timeout%3D100000&password=x",
        );
        assert_eq!(
            u.without_password(),
            "postgres://u@/db?host=/tmp/s&options=-c%20statement_timeout%3D100000"
        );
        assert_eq!(u.password().as_deref(), Some("x"));
        assert_eq!(
            u.with_database("scratch_1"),
            "postgres://u:p%40w@/scratch_1?host=/tmp/s&options=-c%20statement_timeout%3D100000&password=x"
        );
        assert_eq!(
            uri("postgres://h:5/a?dbname=b").with_database("c"),
            "postgres://h:5/c"
        );
        assert_eq!(uri("postgres://h").with_database("c"), "postgres://h/c");
        assert_eq!(
            uri("postgres://u:a?b@h/db?sslmode=disable").with_database("c"),
            "postgres://u:a?b@h/c?sslmode=disable"
        );
        assert_eq!(
            uri("postgres://u:a?b@h?password=x&port=5").without_password(),
            "postgres://u@h?port=5"
        );
        assert_eq!(
            uri("postgres://h?sslmode=disable").with_database("c"),
            "postgres://h/c?sslmode=disable"
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn parameters_are_added_unless_the_url_sets_them() {
        let params = [
            ("application_name", "haven migrate"),
            ("sslmode", "disable"),
        ];
        assert_eq!(
            uri("postgres://u:a?b@h/db").with_params_added(&params),
            "postgres://u:a?b@h/db?application_name=haven%20migrate&sslmode=disable"
        );
        assert_eq!(
            uri("postgres://h/db?sslmode=require").with_params_added(&params),
            "postgres://h/db?sslmode=require&application_name=haven%20migrate"
        );
        assert_eq!(
            uri("postgres://h/db?").with_params_added(&params[1..]),
            "postgres://h/db?sslmode=disable"
        );
        assert_eq!(
            uri("postgres://h/db?ssl%6dode=require").with_params_added(&params[1..]),
            "postgres://h/db?ssl%6dode=require",
            "keywords are compared decoded, as libpq does"
        );
    }

    #[test]
    fn what_libpq_would_read_differently_or_echo_is_refused() {
        for (url, says) in [
            ("postgres://u:p@ss@h/db", "`@`"),
            ("postgres://u:a/b@h/db", "`@`"),
            ("postgres://u:a b@h/db", "space"),
            ("postgres://u:ab%zz@h/db", "%25"),
            ("postgres://u:ab%00@h/db", "%00"),
            ("postgres://u:ab%ff@h/db", "UTF-8"),
            ("postgres://[::1/db", "`]`"),
            ("postgres://[]/db", "empty"),
            ("postgres://[::1]x/db", "followed"),
            ("postgres://h/db?sslmode", "no `=`"),
            ("postgres://h/db?password=a=b", "second `=`"),
            ("postgres://h/db?nosuch=1", "not a libpq"),
            ("postgres://h/db?ssl=false", "only `true`"),
            ("postgres://user:abS3cret", "not a number"),
            ("postgres://h:5432:5433/db", "not a number"),
        ] {
            let err = ConnUri::parse(url).expect_err(url);
            assert!(err.contains(says), "{url}: {err}");
            for secret in ["ss@h", "a b", "ab%", "abS3cret"] {
                if url.contains(secret) && secret.len() > 2 {
                    assert!(!err.contains(secret), "{url}: {err}");
                }
            }
        }
        assert!(ConnUri::parse("postgres://h/db?ssl=true&requiressl=1").is_ok());
    }

    #[test]
    fn hosts_ports_and_ipv6_are_read_as_libpq_does() {
        let u = uri("postgresql://u@[::1]:5432,h2:5433/db?target_session_attrs=any");
        assert_eq!(u.password(), None);
        assert_eq!(u.redacted(), u.text());
        let u = uri("POSTGRES://U:Pw@H/D#x");
        assert_eq!(u.text(), "postgres://U:Pw@H/D#x");
        assert_eq!(u.password().as_deref(), Some("Pw"));
    }
}
