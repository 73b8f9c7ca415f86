//! `verify`: proves every `down.sql` undoes its `up.sql`, in a scratch database.
//!
//! For each migration in order: snapshot the catalog, apply, snapshot, revert, compare with
//! the first snapshot, apply again, and compare with the second. The scratch database is
//! the tool's own (a temporary PostgreSQL database, or a temporary SQLite file), so no lock
//! is needed, and it is removed afterwards, whatever happens.

use super::scratch::{run_steps, Scratch};
use super::Context;
use crate::backend::session::Session;
use crate::backend::with_driver;
use crate::backend::Driver;
use crate::error::{Error, Result};
use crate::plan::Step;
use crate::source::MigrationSet;
use crate::url::DatabaseUrl;

/// The first migration whose round trip does not restore the catalog.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyFailure {
    /// Its version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// "down.sql does not restore ..." or "up.sql after down.sql ...".
    pub phase: String,
    /// What differs, one line each.
    pub differences: Vec<String>,
}

impl std::fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "verify failed: migration {} ({}): {}: {}",
            self.version,
            self.name,
            self.phase,
            self.differences.join("; ")
        )
    }
}

/// What `verify` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    /// The versions checked, in order.
    pub checked: Vec<String>,
    /// The first failure, if any.
    pub failure: Option<VerifyFailure>,
}

/// Runs the up/down/up check of every migration of `set` in a scratch database on the
/// server (or beside the file) of `ctx.url`.
pub fn verify(ctx: &Context, set: &MigrationSet) -> Result<VerifyReport> {
    // Dropped on every way out: success, failure, error, interrupt.
    let scratch = Scratch::beside(&ctx.url)?;
    with_driver!(ctx.url.backend(), D => check_all::<D>(&scratch.url, ctx, set))
}

fn check_all<D: Driver>(
    url: &DatabaseUrl,
    ctx: &Context,
    set: &MigrationSet,
) -> Result<VerifyReport> {
    // The scratch database is the tool's own: nobody waits for its lock. It runs through
    // the same session as a deploy, so that what is verified is what a deploy runs.
    let mut session = D::open_session(url, &ctx.session_options(), &mut |_| {})?;
    let mut checked = Vec::new();
    for m in set.migrations() {
        let before = snapshot(&mut session)?;
        run_steps(&mut session, url, ctx, vec![Step::Apply(m)])?;
        let after_up = snapshot(&mut session)?;
        run_steps(&mut session, url, ctx, vec![Step::Revert(m)])?;
        let failure = |phase: &str, differences: Vec<String>| VerifyFailure {
            version: m.version().to_owned(),
            name: m.name().to_owned(),
            phase: phase.to_owned(),
            differences,
        };
        let diff = before.differences(&snapshot(&mut session)?);
        if !diff.is_empty() {
            let phase = "down.sql does not restore the state before up.sql";
            return Ok(VerifyReport {
                checked,
                failure: Some(failure(phase, diff)),
            });
        }
        run_steps(&mut session, url, ctx, vec![Step::Apply(m)])?;
        let diff = after_up.differences(&snapshot(&mut session)?);
        if !diff.is_empty() {
            let phase = "up.sql after down.sql does not give the same state as the first time";
            return Ok(VerifyReport {
                checked,
                failure: Some(failure(phase, diff)),
            });
        }
        checked.push(m.version().to_owned());
    }
    Ok(VerifyReport {
        checked,
        failure: None,
    })
}

fn snapshot<D: Driver>(session: &mut Session<D>) -> Result<crate::catalog::CatalogSnapshot> {
    session
        .connection()
        .catalog()
        .map_err(|e| Error::query("cannot read the catalog", e))
}
