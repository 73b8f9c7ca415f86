//! Scratch databases: the tool's own, for `verify`, `check --schema` and `revision
//! --autogenerate`. A temporary PostgreSQL database on a server (the role needs CREATEDB),
//! or a temporary SQLite file. No lock is needed, nobody else knows them, and the guard
//! removes them however the command ends: success, failure, error, or a signal (the CLI
//! stops gracefully while a scratch database exists, so this guard's `Drop` runs).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

use super::Context;
use crate::backend::session::Session;
use crate::backend::Driver;
use crate::error::{Error, Result};
use crate::execute::{self, ExecOptions, Silent};
use crate::plan::{Plan, Step};
use crate::source::MigrationSet;
use crate::url::{Backend, DatabaseUrl};

/// A scratch database that is dropped (or deleted) when this guard goes.
pub(crate) struct Scratch {
    /// Where to connect to it.
    pub(crate) url: DatabaseUrl,
    cleanup: Cleanup,
}

/// The scratch databases of this process that still exist, for [`remove_all`]: a second
/// signal exits at once, without unwinding, so no guard's `Drop` runs then.
static LIVE: Mutex<Vec<Cleanup>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<Cleanup>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes every scratch database of this process that still exists: for a process that
/// exits at once (a second signal), so that none outlives it.
pub fn remove_all() {
    let all = std::mem::take(&mut *live());
    for cleanup in &all {
        cleanup.run();
    }
}

#[derive(Clone, PartialEq)]
enum Cleanup {
    File(PathBuf),
    #[cfg(feature = "postgres")]
    PgDatabase {
        admin: DatabaseUrl,
        name: String,
    },
}

/// `haven_scratch_<pid>_<n>_<nanos>`: unique within the process (`n`), and unlikely to meet
/// the leftover of a killed run whose pid was reused (`nanos`).
fn scratch_name() -> String {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("haven_scratch_{}_{n}_{nanos}", std::process::id())
}

impl Scratch {
    /// A scratch database of the same backend as `url`: on its PostgreSQL server, or a
    /// temporary SQLite file.
    pub(crate) fn beside(url: &DatabaseUrl) -> Result<Self> {
        match url.backend() {
            #[cfg(feature = "postgres")]
            Backend::Postgres => Self::postgres(url),
            _ => Self::sqlite_file(),
        }
    }

    /// A temporary SQLite file.
    pub(crate) fn sqlite_file() -> Result<Self> {
        let path = std::env::temp_dir().join(format!("{}.db", scratch_name()));
        let url = DatabaseUrl::parse(&path.to_string_lossy())?;
        Ok(Scratch::registered(url, Cleanup::File(path)))
    }

    /// A temporary database on the PostgreSQL server of `server`.
    #[cfg(feature = "postgres")]
    pub(crate) fn postgres(server: &DatabaseUrl) -> Result<Self> {
        use diesel::connection::SimpleConnection;
        if server.backend() != Backend::Postgres {
            return Err(Error::BadInput(format!(
                "the scratch database needs a PostgreSQL server, and {} is not one",
                server.redacted()
            )));
        }
        let name = scratch_name();
        let mut admin = crate::backend::postgres::connect_pg(server)?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| {
                Error::query(
                    format!("cannot create the scratch database {name} (the role needs CREATEDB)"),
                    e,
                )
            })?;
        let cleanup = Cleanup::PgDatabase {
            admin: server.clone(),
            name: name.clone(),
        };
        let url = match server.with_database(&name) {
            Ok(url) => url,
            Err(e) => {
                cleanup.run();
                return Err(e);
            }
        };
        Ok(Scratch::registered(url, cleanup))
    }

    fn registered(url: DatabaseUrl, cleanup: Cleanup) -> Self {
        live().push(cleanup.clone());
        Scratch { url, cleanup }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Under the registry's lock: a second signal now waits in `remove_all` until the
        // database is gone, instead of exiting while it is being dropped.
        let mut live = live();
        self.cleanup.run();
        live.retain(|c| *c != self.cleanup);
    }
}

impl Cleanup {
    fn run(&self) {
        match self {
            Cleanup::File(path) => {
                let _ = std::fs::remove_file(path);
                #[cfg(feature = "sqlite")]
                let _ = std::fs::remove_file(crate::backend::sqlite::lock_path(path));
            }
            #[cfg(feature = "postgres")]
            Cleanup::PgDatabase { admin, name } => {
                use diesel::connection::SimpleConnection;
                // Briefly: a process exiting on a second signal must not hang on a server
                // that does not answer. WITH (FORCE): a connection to it that is still
                // closing must not keep it.
                if let Ok(mut conn) = crate::backend::postgres::connect_pg_briefly(admin) {
                    let _ =
                        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
        }
    }
}

/// Runs `steps` on the session of a scratch database, through the engine a deploy uses, so
/// that what is proved there is what a deploy runs.
pub(crate) fn run_steps<D: Driver>(
    session: &mut Session<D>,
    url: &DatabaseUrl,
    ctx: &Context,
    steps: Vec<Step<'_>>,
) -> Result<()> {
    let plan = Plan { steps };
    execute::execute(session, &plan, ExecOptions::default(), &mut Silent)
        .map(drop)
        .map_err(|e| super::read_back(session, url, &ctx.pool, e))
}

/// A session on the scratch database `url` with every migration of `set` applied.
pub(crate) fn replay<D: Driver>(
    url: &DatabaseUrl,
    ctx: &Context,
    set: &MigrationSet,
) -> Result<Session<D>> {
    // The scratch database is the tool's own: nobody waits for its lock.
    let mut session = D::open_session(url, &ctx.session_options(), &mut |_| {})?;
    let steps = set.migrations().iter().map(Step::Apply).collect();
    run_steps(&mut session, url, ctx, steps)?;
    Ok(session)
}
