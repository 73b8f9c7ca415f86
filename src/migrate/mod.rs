//! The commands as library calls.
//!
//! - [`run_pending_migrations`]: what a backend service calls before it starts: every
//!   pending embedded migration, with the lock and the integrity checks of
//!   `haven-migrate upgrade head`.
//! - `write`: the core that `upgrade`, `downgrade` and `stamp` share; `script` renders
//!   the same plan as SQL (`--sql`), and `verify` proves it in a scratch database.
//! - `run` (feature `commands`): every command of haven-migrate, one `Request` in and
//!   one `Outcome` out, which already knows its exit class; the binary only parses,
//!   calls, and renders.
//! - `schema` (feature `autogen`): `check --schema` and `revision --autogenerate`.

#[cfg(feature = "commands")]
mod request;
#[cfg(feature = "autogen")]
mod schema;
#[cfg(feature = "commands")]
mod scratch;
#[cfg(feature = "commands")]
mod script;
#[cfg(feature = "commands")]
mod status;
#[cfg(feature = "commands")]
pub mod verify;
mod write;

use std::time::Duration;

use crate::backend::session::SessionOptions;
use crate::backend::PoolOptions;
use crate::backend::{with_driver, Driver};
use crate::error::Result;
use crate::execute::{Silent, StepReport};
use crate::interrupt::Interrupt;
use crate::plan::Target;
use crate::source::{MigrationSet, Origin};
use crate::state::DbState;
use crate::url::DatabaseUrl;

#[cfg(feature = "commands")]
pub use request::{run, Backup, Command, Exit, Mode, Outcome, PlannedStep, Request, Work};
#[cfg(feature = "autogen")]
pub use schema::{Generated, ProofFailure, SchemaCheck, SchemaSources};
#[cfg(feature = "commands")]
pub use scratch::remove_all as remove_scratch_databases;
#[cfg(feature = "commands")]
pub use status::{MigrationRow, Status};
#[cfg(feature = "commands")]
pub(crate) use write::read_back;
pub use write::{UpgradeOptions, Written};

/// What every command needs: the database, where the migrations are, and the limits.
#[derive(Debug, Clone)]
pub struct Context {
    /// The database.
    pub url: DatabaseUrl,
    /// Where the migrations are read from.
    pub origin: Origin,
    /// How long to wait for the migration lock.
    pub lock_timeout: Duration,
    /// Connection settings.
    pub pool: PoolOptions,
    /// Stops the command at its next safe point, cancelling the server's statement.
    pub interrupt: Interrupt,
}

impl Context {
    /// A context with default limits (60 s lock wait).
    pub fn new(url: DatabaseUrl, origin: Origin) -> Self {
        Context {
            url,
            origin,
            lock_timeout: Duration::from_secs(60),
            pool: PoolOptions::default(),
            interrupt: Interrupt::new(),
        }
    }

    /// How a session of this context is opened.
    pub(crate) fn session_options(&self) -> SessionOptions<'_> {
        SessionOptions {
            pool: &self.pool,
            lock_timeout: self.lock_timeout,
            interrupt: &self.interrupt,
        }
    }
}

/// Reads what the database records, without writing anything: no tables, and no missing
/// SQLite file, are created (nothing recorded, then). Without `checksums`, the side table's
/// checksums are not fetched.
pub(crate) fn read_recorded(
    url: &DatabaseUrl,
    pool: &PoolOptions,
    checksums: bool,
) -> Result<DbState> {
    with_driver!(url.backend(), D => match D::open_existing(url, pool)? {
        Some(mut conn) => conn.read_state(checksums),
        None => Ok(DbState::empty()),
    })
}

/// Runs the pending migrations embedded in this build on `url`, with the lock and checksum
/// checks of `haven-migrate upgrade head`. Call it before a service starts.
pub fn run_pending_migrations(url: &DatabaseUrl) -> Result<Vec<StepReport>> {
    let ctx = Context::new(url.clone(), Origin::Embedded(url.backend()));
    let set = MigrationSet::read(ctx.origin.clone())?;
    let upgrade = write::Write {
        kind: write::WriteKind::Upgrade(UpgradeOptions::default()),
        target: &Target::Head,
    };
    let written = write::write(&ctx, &set, upgrade, &mut || Ok(()), &mut Silent)?;
    Ok(written.steps)
}
