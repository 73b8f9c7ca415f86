//! Connections to PostgreSQL: the working connection of a write command (with
//! `client_connection_check_interval` in its startup packet, and a probe for a pooler in
//! front of the server), plain connections for reads, and cancelling a statement.
//! No connection uses named prepared statements, which a transaction-pooling proxy would
//! mix up between server connections.

use diesel::connection::{CacheSize, SimpleConnection};
use diesel::sql_types::{Bool, Integer, Nullable, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};

use crate::backend::Pooler;
use crate::error::{Error, Result};
use crate::url::DatabaseUrl;

/// What the working connection of a write command turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PgLink {
    /// Each transaction may run on another server connection: the migration lock must be
    /// taken inside each transaction.
    pub transaction_pooled: bool,
    /// `client_connection_check_interval` must be set in each transaction, since the
    /// connection's startup parameters could not carry it (PostgreSQL 14 or later).
    pub check_interval_per_transaction: bool,
}

/// How often an orphaned server backend (its client killed) checks that the client is
/// still there, so that it stops instead of running on, and maybe committing.
pub(crate) const CHECK_INTERVAL_MS: i32 = 1000;

/// The startup option that sets [`CHECK_INTERVAL_MS`] (PostgreSQL 14 or later).
fn check_interval_option() -> String {
    format!("-c client_connection_check_interval={CHECK_INTERVAL_MS}")
}

/// The application name a server shows for this process (`pg_stat_activity`), unless the
/// URL sets its own.
fn application_name() -> String {
    format!("haven-migrate (pid {})", std::process::id())
}

/// Opens one PostgreSQL connection, keeping the server's real error. It never uses
/// named prepared statements, which a transaction-pooling proxy would mix up between
/// server connections.
pub(crate) fn connect_pg(url: &DatabaseUrl) -> Result<PgConnection> {
    let app = application_name();
    establish(
        url,
        &url.connection_string_with(&[("fallback_application_name", &app)]),
    )
}

/// A connection that gives up after a few seconds (unless the URL says otherwise), for
/// work that must not hold anything up, such as cancelling a statement on a signal.
pub(crate) fn connect_pg_briefly(url: &DatabaseUrl) -> Result<PgConnection> {
    let app = application_name();
    let params = [
        ("fallback_application_name", app.as_str()),
        ("connect_timeout", "3"),
    ];
    establish(url, &url.connection_string_with(&params))
}

fn establish(url: &DatabaseUrl, conninfo: &str) -> Result<PgConnection> {
    let mut conn = PgConnection::establish(conninfo).map_err(|e| Error::Connection {
        url: url.redacted().to_owned(),
        message: url.scrub(e.to_string().trim()),
    })?;
    conn.set_prepared_statement_cache_size(CacheSize::Disabled);
    Ok(conn)
}

#[derive(QueryableByName)]
struct ServerFacts {
    #[diesel(sql_type = Integer)]
    pid: i32,
    #[diesel(sql_type = Integer)]
    version: i32,
    /// In milliseconds; `None` before PostgreSQL 14.
    #[diesel(sql_type = Nullable<Integer>)]
    check_interval: Option<i32>,
}

fn server_facts(conn: &mut PgConnection) -> diesel::QueryResult<ServerFacts> {
    diesel::sql_query(
        "SELECT pg_backend_pid() AS pid, \
         current_setting('server_version_num')::int AS version, \
         (SELECT setting::int FROM pg_settings \
          WHERE name = 'client_connection_check_interval') AS check_interval",
    )
    .get_result(conn)
}

#[derive(QueryableByName)]
struct Identity {
    #[diesel(sql_type = Integer)]
    pid: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    application_name: String,
}

/// The server session to cancel: its backend, and the application name it runs under
/// (behind a transaction pooler each transaction may run on another backend).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    url: DatabaseUrl,
    pid: i32,
    /// The application name, when it is haven-migrate's own (unique to this process).
    application_name: Option<String>,
}

/// What cancels the statements of the session on `conn`: its backend, and its
/// application name when it is haven-migrate's own (behind a transaction pooler, the
/// backend changes from one transaction to the next, the application name goes with the
/// client).
pub(crate) fn cancel_target(conn: &mut PgConnection, url: &DatabaseUrl) -> Result<Target> {
    let me: Identity = diesel::sql_query(
        "SELECT pg_backend_pid() AS pid, current_setting('application_name') AS application_name",
    )
    .get_result(conn)
    .map_err(|e| Error::query("cannot read the session's identity", e))?;
    let ours = me.application_name == application_name();
    Ok(Target {
        url: url.clone(),
        pid: me.pid,
        application_name: ours.then_some(me.application_name),
    })
}

fn backend_pid(conn: &mut PgConnection) -> diesel::QueryResult<i32> {
    server_facts(conn).map(|f| f.pid)
}

/// Opens the working connection of a write command and finds out how it reaches the
/// server. `client_connection_check_interval` goes in the startup packet, where
/// `RESET ALL` between migrations cannot undo it.
///
/// With [`Pooler::Auto`], a pooler that refuses that startup option (PgBouncer does) has
/// shown itself: its pool mode cannot be told from the outside, so the lock is then
/// taken in each transaction, which is safe in both modes. When the option is accepted,
/// a probe looks for a transaction pooler that passed it on.
pub(crate) fn connect_for_migrations(
    url: &DatabaseUrl,
    pooler: Pooler,
) -> Result<(PgConnection, PgLink)> {
    let app = application_name();
    let options = check_interval_option();
    let mut params = vec![("fallback_application_name", app.as_str())];
    if pooler != Pooler::Transaction {
        params.push(("options", options.as_str()));
    }
    let (mut conn, pooler_seen) = match establish(url, &url.connection_string_with(&params)) {
        Err(Error::Connection { message, .. }) if params.len() > 1 && refused_option(&message) => (
            connect_pg(url)?,
            message.contains("unsupported startup parameter"),
        ),
        other => (other?, false),
    };
    let fail = |e| Error::query("cannot read the server's version", e);
    let facts = server_facts(&mut conn).map_err(fail)?;
    let transaction_pooled = match pooler {
        Pooler::Auto => pooler_seen || probe_transaction_pooler(url, &mut conn, facts.pid)?,
        other => other == Pooler::Transaction,
    };
    let interval_set = facts.check_interval == Some(CHECK_INTERVAL_MS);
    let link = PgLink {
        transaction_pooled,
        check_interval_per_transaction: facts.version >= 140_000
            && (transaction_pooled || !interval_set),
    };
    Ok((conn, link))
}

/// Whether a failed connection was refused for the `options` startup parameter: by a
/// pooler (PgBouncer: "unsupported startup parameter: options") or by a server older than
/// PostgreSQL 14, which has no `client_connection_check_interval`.
fn refused_option(message: &str) -> bool {
    message.contains("unsupported startup parameter")
        || message.contains("client_connection_check_interval")
}

/// Whether `conn` goes through a pooler that hands transactions to any server connection.
///
/// A lone client usually gets the same server connection back, so a changed pid alone
/// proves nothing. Instead a second connection holds a transaction open (which pins its
/// server connection) while the first asks again: behind a transaction pooler, the
/// second got the first's idle server connection, or the first now lands on another.
/// Under load the pooler may have other idle server connections to give, and the probe
/// sees nothing: it is a second line of defence, after the startup option.
fn probe_transaction_pooler(
    url: &DatabaseUrl,
    conn: &mut PgConnection,
    first_pid: i32,
) -> Result<bool> {
    let fail = |e| Error::query("cannot probe for a connection pooler", e);
    let mut other = connect_pg(url)?;
    other.batch_execute("BEGIN").map_err(fail)?;
    let other_pid = backend_pid(&mut other).map_err(fail)?;
    let again = backend_pid(conn).map_err(fail)?;
    // Ends the transaction before closing: a pooler closes a server connection whose
    // client left in the middle of a transaction.
    other.batch_execute("ROLLBACK").map_err(fail)?;
    Ok(other_pid == first_pid || again != first_pid)
}

/// Whether `conn` (just opened on `url`) goes through a transaction pooler, by the probe.
pub(crate) fn probe(url: &DatabaseUrl, conn: &mut PgConnection) -> Result<bool> {
    let fail = |e| Error::query("cannot probe for a connection pooler", e);
    let pid = backend_pid(conn).map_err(fail)?;
    probe_transaction_pooler(url, conn, pid)
}

/// Cancels the statement that the session of `target` is running, if it runs one.
pub(crate) fn cancel(target: &Target) -> bool {
    #[derive(QueryableByName)]
    struct Cancelled {
        #[diesel(sql_type = Bool)]
        cancelled: bool,
    }
    let Ok(mut conn) = connect_pg_briefly(&target.url) else {
        return false;
    };
    // Only a statement that is running: an idle session has nothing to cancel, and a
    // cancel that arrived late could hit the next statement instead.
    diesel::sql_query(
        "SELECT COALESCE(bool_or(pg_cancel_backend(pid)), false) AS cancelled \
         FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state = 'active' \
         AND (pid = $1 OR application_name = $2)",
    )
    .bind::<Integer, _>(target.pid)
    .bind::<Nullable<Text>, _>(target.application_name.as_deref())
    .get_result::<Cancelled>(&mut conn)
    .is_ok_and(|row| row.cancelled)
}
