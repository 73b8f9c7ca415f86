//! Connection parameters of one PostgreSQL database, and their two spellings: a libpq URL
//! (for diesel and `haven-migrate`) and `PG*` environment variables (for psql and pg_dump).
//!
//! The parser is deliberately small: it understands what `HAVEN_TEST_DATABASE_URL` is likely
//! to hold (`postgres://user:pw@host:port/db?host=/dir&port=N&sslmode=...`), so that the
//! harness can derive per-test URLs from it without a URL crate.

/// Where and as whom to connect. Empty strings mean "not given, use libpq's default".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnParams {
    pub user: String,
    pub password: String,
    /// A host name, an IP address, or (starting with `/`) a unix socket directory.
    pub host: String,
    pub port: String,
    pub dbname: String,
    /// Other query parameters (`sslmode`, ...), kept verbatim for the URL.
    pub extra: Vec<(String, String)>,
}

impl ConnParams {
    /// Parses a `postgres://` or `postgresql://` URL.
    pub fn parse(url: &str) -> Result<ConnParams, String> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| format!("not a postgres:// URL: {:?}...", url.split(':').next()))?;
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = main.split_once('/').unwrap_or((main, ""));
        let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let (host, port) = split_host_port(hostport);
        let mut params = ConnParams {
            user: decode(user),
            password: decode(password),
            host: decode(host),
            port: port.to_owned(),
            dbname: decode(path),
            extra: Vec::new(),
        };
        params.apply_query(query);
        Ok(params)
    }

    // Query parameters override the authority part, as in libpq.
    fn apply_query(&mut self, query: &str) {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value);
            match key {
                "host" => self.host = value,
                "port" => self.port = value,
                "user" => self.user = value,
                "password" => self.password = value,
                "dbname" => self.dbname = value,
                _ => self.extra.push((key.to_owned(), value)),
            }
        }
    }

    /// The URL form. A socket directory goes in the query (`?host=/dir&port=N`), since a path
    /// cannot be written in the authority part.
    pub fn url(&self) -> String {
        let mut url = String::from("postgres://");
        if !self.user.is_empty() {
            url += &encode(&self.user, "");
            if !self.password.is_empty() {
                url += &format!(":{}", encode(&self.password, ""));
            }
            url.push('@');
        }
        let mut query = Vec::new();
        if self.host.starts_with('/') {
            query.push(format!("host={}", encode(&self.host, "/")));
            query.extend(self.port_param());
        } else {
            url += &bracket_ipv6(&self.host);
            if !self.port.is_empty() {
                url += &format!(":{}", self.port);
            }
        }
        url += &format!("/{}", encode(&self.dbname, ""));
        query.extend(
            self.extra
                .iter()
                .map(|(k, v)| format!("{k}={}", encode(v, "/"))),
        );
        if !query.is_empty() {
            url += &format!("?{}", query.join("&"));
        }
        url
    }

    fn port_param(&self) -> Option<String> {
        (!self.port.is_empty()).then(|| format!("port={}", self.port))
    }

    /// The same connection as `PG*` variables; unset fields are left out.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("PGHOST", &self.host),
            ("PGPORT", &self.port),
            ("PGUSER", &self.user),
            ("PGPASSWORD", &self.password),
            ("PGDATABASE", &self.dbname),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (key.to_owned(), value.clone()))
        .collect()
    }

    /// The same server and credentials, another database.
    pub fn with_dbname(&self, dbname: &str) -> ConnParams {
        ConnParams {
            dbname: dbname.to_owned(),
            ..self.clone()
        }
    }
}

// `[::1]:5432`, `host:5432`, `host`, or empty.
fn split_host_port(hostport: &str) -> (&str, &str) {
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':').unwrap_or(""));
    }
    hostport.split_once(':').unwrap_or((hostport, ""))
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        encode(host, ".")
    }
}

/// Percent-encodes everything but unreserved characters and those in `keep`.
fn encode(text: &str, keep: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        let c = char::from(byte);
        if c.is_ascii_alphanumeric() || "-._~".contains(c) || keep.contains(c) {
            out.push(c);
        } else {
            out += &format!("%{byte:02X}");
        }
    }
    out
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The URL with its password replaced, for error messages.
pub fn redact(url: &str) -> String {
    match ConnParams::parse(url) {
        Ok(mut params) => {
            if !params.password.is_empty() {
                params.password = "REDACTED".to_owned();
            }
            params.url()
        }
        Err(_) => "<not a postgres:// URL>".to_owned(),
    }
}
