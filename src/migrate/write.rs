//! The core of `upgrade`, `downgrade` and `stamp`, shared by haven-migrate and by a
//! backend's [`run_pending_migrations`](super::run_pending_migrations): the lock, the state
//! read under it, the plan (refused when a problem blocks it), its execution, and what the
//! command left, read back from the database, on success and on failure.

use std::time::Duration;

use super::{read_recorded, Context};
use crate::backend::session::Session;
use crate::backend::PoolOptions;
use crate::backend::{with_driver, Driver};
use crate::check::{self, CheckOptions, Policy, Problem};
use crate::error::{Error, Result};
use crate::execute::{self, ExecOptions, Observer, StepReport};
use crate::plan::{self, Plan, StampRules, Target, UpgradeRules};
use crate::source::{Migration, MigrationSet};
use crate::state::DbState;
use crate::stop::{Fate, Stop};
use crate::url::{Backend, DatabaseUrl};

/// Options of `upgrade`.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpgradeOptions {
    /// Apply pending migrations older than the newest applied one.
    pub allow_out_of_order: bool,
    /// Commit all steps together or none (PostgreSQL).
    pub single_transaction: bool,
}

/// Which write command, with its own options.
#[derive(Debug, Clone, Copy)]
// A backend's build runs upgrades only (run_pending_migrations).
#[cfg_attr(not(feature = "commands"), allow(dead_code))]
pub(crate) enum WriteKind {
    Upgrade(UpgradeOptions),
    Downgrade,
    Stamp(StampRules),
}

impl WriteKind {
    /// Which command it is.
    #[cfg(feature = "commands")]
    pub(crate) fn command(self) -> super::Command {
        match self {
            WriteKind::Upgrade(_) => super::Command::Upgrade,
            WriteKind::Downgrade => super::Command::Downgrade,
            WriteKind::Stamp(_) => super::Command::Stamp,
        }
    }
}

/// What a write command does: which one, and where it takes the database.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Write<'a> {
    pub kind: WriteKind,
    pub target: &'a Target,
}

/// What a write command did, and the state it left.
#[derive(Debug, Clone)]
pub struct Written {
    /// One report per step.
    pub steps: Vec<StepReport>,
    /// Warnings found before executing (errors would have stopped the command).
    pub warnings: Vec<Problem>,
    /// How long the command waited for the migration lock, in all.
    pub lock_wait: Duration,
    /// The lock was taken in each transaction (a transaction pooler is in front of the
    /// server), rather than held by the session.
    pub lock_per_transaction: bool,
    /// The state the command left, read on its own connection before it let go of the
    /// lock.
    pub after: DbState,
}

/// Runs a write command. `before_executing` runs once the plan is known and accepted, under
/// the lock, before the first step (`upgrade --backup` dumps the database there).
pub(crate) fn write(
    ctx: &Context,
    set: &MigrationSet,
    write: Write<'_>,
    before_executing: &mut dyn FnMut() -> Result<()>,
    observer: &mut dyn Observer,
) -> Result<Written> {
    refuse_early(ctx, set, &write)?;
    with_driver!(ctx.url.backend(), D => {
        write_with::<D>(ctx, set, write, before_executing, observer)
    })
}

/// What can be refused before the lock is taken and a missing SQLite file created: an
/// option of the other backend, a revision that names no migration, and (when the database
/// does not exist yet, so nothing is recorded) a target that cannot apply.
fn refuse_early(ctx: &Context, set: &MigrationSet, write: &Write<'_>) -> Result<()> {
    refuse_backend_options(ctx.url.backend(), write)?;
    if let Target::Rev(rev) = write.target {
        plan::resolve_rev(set, rev)?;
    }
    if ctx.url.sqlite_path().is_some_and(|p| !p.exists()) {
        let recorded = read_recorded(&ctx.url, &ctx.pool, true)?;
        plan_for(set, ctx.url.backend(), write, &recorded)?;
    }
    Ok(())
}

fn write_with<D: Driver>(
    ctx: &Context,
    set: &MigrationSet,
    write: Write<'_>,
    before_executing: &mut dyn FnMut() -> Result<()>,
    observer: &mut dyn Observer,
) -> Result<Written> {
    let mut session = D::open_session(&ctx.url, &ctx.session_options(), &mut |h| {
        observer.waiting_for_lock(h)
    })?;
    // Read only now that the lock is held: a deploy that waited sees its predecessor's work.
    let state = session.read_state(&mut |h| observer.waiting_for_lock(h))?;
    let (plan, warnings, exec) = plan_for(set, ctx.url.backend(), &write, &state)?;
    if session.lock_per_transaction() {
        refuse_unprotected(&plan)?;
    }
    before_executing()?;
    let steps = execute::execute(&mut session, &plan, exec, observer)
        .map_err(|e| read_back(&mut session, &ctx.url, &ctx.pool, e))?;
    let after = session.read_state(&mut |h| observer.waiting_for_lock(h))?;
    Ok(Written {
        steps,
        warnings,
        lock_wait: session.lock_wait(),
        lock_per_transaction: session.lock_per_transaction(),
        after,
    })
}

/// The plan of a write command from `state`, refused as the command would refuse it (an
/// integrity problem that blocks it, a step it cannot take, SQL it does not run); with the
/// warnings found, and how to execute it. `--sql` and `--dry-run` plan the same way.
pub(crate) fn plan_for<'s>(
    set: &'s MigrationSet,
    backend: Backend,
    write: &Write<'_>,
    state: &DbState,
) -> Result<(Plan<'s>, Vec<Problem>, ExecOptions)> {
    refuse_backend_options(backend, write)?;
    let problems = check::find_problems(set, state, CheckOptions::for_writes());
    let target = write.target;
    let (plan, policy, exec) = match write.kind {
        WriteKind::Upgrade(opts) => {
            let rules = UpgradeRules {
                allow_out_of_order: opts.allow_out_of_order,
            };
            let plan = plan::upgrade(set, state, target, rules)?;
            if opts.single_transaction {
                refuse_outside_transaction(&plan)?;
            }
            let policy = Policy::Upgrade {
                allow_out_of_order: opts.allow_out_of_order,
            };
            let exec = ExecOptions {
                single_transaction: opts.single_transaction,
            };
            (plan, policy, exec)
        }
        WriteKind::Downgrade => (
            plan::downgrade(set, state, target)?,
            Policy::Downgrade,
            ExecOptions::default(),
        ),
        WriteKind::Stamp(rules) => {
            let upto = plan::stamp_target(set, state, target)?;
            // One transaction: a stamp is recorded whole, or not at all.
            let exec = ExecOptions {
                single_transaction: true,
            };
            (plan::stamp(set, state, upto, rules)?, Policy::Stamp, exec)
        }
    };
    let warnings = check::refuse(problems, policy)?;
    plan.check_sql()?;
    Ok((plan, warnings, exec))
}

/// Refuses PostgreSQL-only options on SQLite.
fn refuse_backend_options(backend: Backend, write: &Write<'_>) -> Result<()> {
    match write.kind {
        WriteKind::Upgrade(opts) if opts.single_transaction && backend != Backend::Postgres => {
            Err(Error::BadInput(
                "--single-transaction is for PostgreSQL, whose DDL is transactional".into(),
            ))
        }
        _ => Ok(()),
    }
}

/// `version (name)` of each migration of `plan` that runs outside a transaction.
fn outside_transaction(plan: &Plan<'_>) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|s| s.migration())
        .filter(|m| !m.run_in_transaction())
        .map(|m: &Migration| format!("{} ({})", m.version(), m.name()))
        .collect()
}

/// `--single-transaction` cannot take a migration that must run outside a transaction.
fn refuse_outside_transaction(plan: &Plan<'_>) -> Result<()> {
    let non_tx = outside_transaction(plan);
    if non_tx.is_empty() {
        return Ok(());
    }
    Err(Error::BadInput(format!(
        "--single-transaction cannot include non-transactional migrations: {}; upgrade to \
         the one before them first, or run without --single-transaction",
        non_tx.join(", ")
    )))
}

/// Behind a transaction pooler the lock lives only as long as each transaction, so a
/// migration that runs outside one would run unprotected: refused before anything runs.
fn refuse_unprotected(plan: &Plan<'_>) -> Result<()> {
    let unprotected = outside_transaction(plan);
    if unprotected.is_empty() {
        return Ok(());
    }
    Err(Error::BadInput(format!(
        "the connection goes through a pooler that may hand each transaction to another \
         server connection (a transaction-pooling proxy, such as PgBouncer with pool_mode = \
         transaction), where the migration lock lasts only as long as each transaction, so \
         the non-transactional migration(s) {} cannot be protected from a concurrent deploy; \
         nothing was run. Use a direct or session-pooled URL for this deploy; if the pooler \
         pools sessions, say so with --pooler session",
        unprotected.join(", ")
    )))
}

/// Fills in what a stopped command left, read from the database after the stop: never
/// what the code expected it to be. Without the lock: it is for the report only.
pub(crate) fn read_back<D: Driver>(
    session: &mut Session<D>,
    url: &DatabaseUrl,
    pool: &PoolOptions,
    error: Error,
) -> Error {
    let (Error::MigrationFailed { stop, .. } | Error::Interrupted { stop, .. }) = &error else {
        return error;
    };
    let state = session
        .connection()
        .read_state(false)
        .or_else(|_| read_recorded(url, pool, false));
    let settled = settle(stop, state.ok().as_ref());
    match error {
        Error::MigrationFailed { source, .. } => Error::MigrationFailed {
            source,
            stop: settled,
        },
        Error::Interrupted { signal, .. } => Error::Interrupted {
            signal,
            stop: settled,
        },
        other => other,
    }
}

/// `stop` as `state` shows it (`None`: unreadable).
fn settle(stop: &Stop, state: Option<&DbState>) -> Box<Stop> {
    let mut stop = stop.clone();
    let Some(state) = state else {
        if let Some(running) = &mut stop.running {
            running.fate = Fate::Unknown;
        }
        return Box::new(stop);
    };
    if let Some(running) = &mut stop.running {
        running.fate = match state.get(&running.version) {
            Some(rec) if rec.dirty => Fate::Dirty,
            rec if rec.is_some_and(|r| r.applied) == running.applying() => Fate::Recorded,
            _ => Fate::RolledBack,
        };
    }
    // A step said to be rolled back with the batch that the database still records was
    // committed after all.
    let (committed, rolled_back) = stop
        .rolled_back
        .drain(..)
        .partition(|v| state.is_applied(v));
    stop.rolled_back = rolled_back;
    stop.done.extend::<Vec<String>>(committed);
    Box::new(stop)
}
