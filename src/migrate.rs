//! The commands as library calls: read the status, upgrade, downgrade, stamp, render SQL.
//!
//! Each write command takes the migration lock first, reads the recorded state only after
//! holding it, refuses on integrity errors, then computes a plan and executes it. A backend
//! service calls [`run_pending_migrations`] before it starts.

use std::time::Duration;

use crate::check::{self, CheckOptions, Problem, ProblemKind};
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::execute::{self, ExecOptions, Observer, StepReport};
use crate::interrupt::Interrupt;
use crate::plan::{self, Plan, StampRules, Target, UpgradeRules};
use crate::pool::PoolOptions;
use crate::script;
use crate::session::{Session, SessionOptions};
use crate::source::MigrationSet;
use crate::state::DbState;
use crate::stop::{Fate, Stop};
use crate::url::{Backend, DatabaseUrl};

/// Runs `$body` with `$d` bound to the connection type of `$backend`.
macro_rules! with_driver {
    ($backend:expr, $d:ident => $body:expr) => {
        match $backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                type $d = diesel::PgConnection;
                $body
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => {
                type $d = diesel::SqliteConnection;
                $body
            }
            #[allow(unreachable_patterns)]
            other => Err(Error::BadInput(format!(
                "this build of haven-schema has no {other} support; enable the feature"
            ))),
        }
    };
}

pub(crate) use with_driver;

/// What every command needs: the database, the migrations and the limits.
#[derive(Debug)]
pub struct Context {
    /// The database.
    pub url: DatabaseUrl,
    /// The migrations.
    pub set: MigrationSet,
    /// How long to wait for the migration lock.
    pub lock_timeout: Duration,
    /// Pool sizing and timeouts.
    pub pool: PoolOptions,
    /// Stops the command at its next safe point, cancelling the server's statement.
    pub interrupt: Interrupt,
}

impl Context {
    /// A context with default limits (60 s lock wait).
    pub fn new(url: DatabaseUrl, set: MigrationSet) -> Self {
        Context {
            url,
            set,
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

/// The recorded state and the problems found, from a read-only look.
#[derive(Debug, Clone)]
pub struct Status {
    /// What the database records.
    pub state: DbState,
    /// Problems, errors and warnings.
    pub problems: Vec<Problem>,
}

/// Reads the state without writing anything (no tables, no SQLite file are created).
pub fn status(ctx: &Context, checks: CheckOptions) -> Result<Status> {
    let state = read_recorded(&ctx.url, &ctx.pool, checks.checksums)?;
    status_of(&ctx.set, state, checks)
}

/// The status of a state already read with [`read_recorded`].
pub fn status_of(set: &MigrationSet, state: DbState, checks: CheckOptions) -> Result<Status> {
    let problems = check::find_problems(set, &state, checks)?;
    Ok(Status { state, problems })
}

/// Reads what the database records, without writing anything (no tables, no SQLite file
/// are created). It needs no migration set, so it can run while the set is being read.
/// Without `checksums`, the side table's checksums are not fetched.
pub fn read_recorded(url: &DatabaseUrl, pool: &PoolOptions, checksums: bool) -> Result<DbState> {
    with_driver!(url.backend(), D => match D::open_existing(url, pool)? {
        Some(mut conn) => conn.read_state(checksums),
        None => Ok(DbState::empty()),
    })
}

/// The result of a write command.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The plan that was executed.
    pub plan: Plan,
    /// One report per executed step.
    pub reports: Vec<StepReport>,
    /// Warnings found before executing (errors would have stopped the command).
    pub problems: Vec<Problem>,
    /// How long the command waited for the migration lock, in all.
    pub lock_wait: Duration,
    /// The lock was taken in each transaction (a transaction pooler is in front of the
    /// server), rather than held by the session.
    pub lock_per_transaction: bool,
    /// The state the command left, read on its own connection before releasing the lock.
    pub after: Status,
    /// The `pg_dump` that wrote the backup, with `upgrade --backup`.
    pub backup: Option<crate::backup::PgDump>,
}

/// Options of `upgrade`.
#[derive(Debug, Clone, Default)]
pub struct UpgradeOptions {
    /// Apply pending migrations older than the newest applied one.
    pub allow_out_of_order: bool,
    /// Commit all steps together or none (PostgreSQL).
    pub single_transaction: bool,
    /// Run `pg_dump` to this file first (PostgreSQL).
    pub backup: Option<std::path::PathBuf>,
    /// The `pg_dump` to run; by default, one of the server's major version.
    pub pg_dump: Option<std::path::PathBuf>,
}

/// What the write commands do once the lock is held and the state read.
enum Write<'a> {
    Upgrade(&'a Target, &'a UpgradeOptions),
    Downgrade(&'a Target),
    Stamp(&'a Target, StampRules),
}

/// Applies migrations up to `target`.
pub fn upgrade(
    ctx: &Context,
    target: &Target,
    opts: &UpgradeOptions,
    observer: &mut dyn Observer,
) -> Result<Outcome> {
    run_write(ctx, Write::Upgrade(target, opts), observer)
}

/// Reverts applied migrations newer than `target`.
pub fn downgrade(ctx: &Context, target: &Target, observer: &mut dyn Observer) -> Result<Outcome> {
    run_write(ctx, Write::Downgrade(target), observer)
}

/// Records the set "everything up to `target`" without running migration SQL.
pub fn stamp(
    ctx: &Context,
    target: &Target,
    rules: StampRules,
    observer: &mut dyn Observer,
) -> Result<Outcome> {
    run_write(ctx, Write::Stamp(target, rules), observer)
}

fn run_write(ctx: &Context, write: Write<'_>, observer: &mut dyn Observer) -> Result<Outcome> {
    check_backend_options(ctx, &write)?;
    // A SQLite file that does not exist yet: a target that cannot apply is refused before
    // the lock file and the database file are created.
    if ctx.url.sqlite_path().is_some_and(|p| !p.exists()) {
        prepare(ctx, &write, &DbState::empty())?;
    }
    // A revision that names no migration is bad input whatever the state: refuse it before
    // the lock and the connection, which would create a missing SQLite file.
    let (Write::Upgrade(target, _) | Write::Downgrade(target) | Write::Stamp(target, _)) = &write;
    if let Target::Rev(rev) = target {
        plan::resolve_rev(&ctx.set, rev)?;
    }
    with_driver!(ctx.url.backend(), D => run_write_with::<D>(ctx, &write, observer))
}

fn run_write_with<D: Driver>(
    ctx: &Context,
    write: &Write<'_>,
    observer: &mut dyn Observer,
) -> Result<Outcome> {
    let mut session = D::open_session(&ctx.url, &ctx.session_options(), &mut |h| {
        observer.waiting_for_lock(h)
    })?;
    // Read only now that the lock is held: a deploy that waited sees its predecessor's work.
    let state = session.read_state(&mut |h| observer.waiting_for_lock(h))?;
    let (plan, problems, exec) = prepare(ctx, write, &state)?;
    if session.lock_per_transaction() {
        refuse_unprotected(&ctx.set, &plan)?;
    }
    let backup = match write {
        Write::Upgrade(_, opts) => backup_first(ctx, opts)?,
        _ => None,
    };
    let reports = execute::execute(&mut session, &ctx.set, &plan, exec, observer)
        .map_err(|e| read_back(&mut session, &ctx.url, &ctx.pool, e))?;
    let after = session.read_state(&mut |h| observer.waiting_for_lock(h))?;
    Ok(Outcome {
        plan,
        reports,
        problems,
        lock_wait: session.lock_wait(),
        lock_per_transaction: session.lock_per_transaction(),
        after: status_of(&ctx.set, after, CheckOptions::for_writes())?,
        backup,
    })
}

/// `upgrade --backup FILE`: the dump, taken before anything is applied.
fn backup_first(ctx: &Context, opts: &UpgradeOptions) -> Result<Option<crate::backup::PgDump>> {
    let Some(file) = &opts.backup else {
        return Ok(None);
    };
    crate::backup::pg_dump(&ctx.url, file, opts.pg_dump.as_deref()).map(Some)
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

/// Behind a transaction pooler the lock lives only as long as each transaction, so a
/// migration that runs outside one would run unprotected: refused before anything runs.
fn refuse_unprotected(set: &MigrationSet, plan: &Plan) -> Result<()> {
    let unprotected: Vec<String> = plan
        .steps
        .iter()
        .filter_map(|s| s.index.map(|i| &set.migrations()[i]))
        .filter(|m| !m.run_in_transaction())
        .map(|m| format!("{} ({})", m.version(), m.name()))
        .collect();
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

/// Checks integrity and computes the plan of a write command.
fn prepare(
    ctx: &Context,
    write: &Write<'_>,
    state: &DbState,
) -> Result<(Plan, Vec<Problem>, ExecOptions)> {
    let problems = check::find_problems(&ctx.set, state, CheckOptions::for_writes())?;
    plan_checked(ctx, write, state, problems)
}

/// The plan of a write command, refused when `problems` holds an error that blocks it.
fn plan_checked(
    ctx: &Context,
    write: &Write<'_>,
    state: &DbState,
    problems: Vec<Problem>,
) -> Result<(Plan, Vec<Problem>, ExecOptions)> {
    let set = &ctx.set;
    let (plan, blocking, exec) = match write {
        Write::Upgrade(target, opts) => {
            let rules = UpgradeRules {
                allow_out_of_order: opts.allow_out_of_order,
            };
            let plan = plan::upgrade(set, state, target, rules)?;
            check_single_transaction(ctx, &plan, opts)?;
            let blocking =
                |p: &Problem| p.kind != ProblemKind::OutOfOrder || !opts.allow_out_of_order;
            let exec = ExecOptions {
                single_transaction: opts.single_transaction,
            };
            (
                plan,
                problems
                    .iter()
                    .filter(|p| blocking(p))
                    .cloned()
                    .collect::<Vec<_>>(),
                exec,
            )
        }
        Write::Downgrade(target) => {
            let plan = plan::downgrade(set, state, target)?;
            let blocking = problems
                .iter()
                .filter(|p| p.kind != ProblemKind::OutOfOrder)
                .cloned()
                .collect();
            (plan, blocking, ExecOptions::default())
        }
        Write::Stamp(target, rules) => {
            let upto = plan::stamp_target(set, state, target)?;
            // stamp is the repair tool: never refused for an integrity problem.
            (
                plan::stamp(set, state, upto, *rules)?,
                Vec::new(),
                ExecOptions {
                    single_transaction: true,
                },
            )
        }
    };
    if check::has_errors(&blocking) {
        return Err(Error::Integrity {
            problems: blocking.into_iter().filter(|p| p.kind.is_error()).collect(),
        });
    }
    let warnings = problems
        .into_iter()
        .filter(|p| !p.kind.is_error())
        .collect();
    Ok((plan, warnings, exec))
}

/// Refuses PostgreSQL-only options on SQLite before the lock is taken or the file created.
fn check_backend_options(ctx: &Context, write: &Write<'_>) -> Result<()> {
    let Write::Upgrade(_, opts) = write else {
        return Ok(());
    };
    if ctx.url.backend() == Backend::Postgres {
        return Ok(());
    }
    if opts.single_transaction {
        return Err(Error::BadInput(
            "--single-transaction is for PostgreSQL, whose DDL is transactional".into(),
        ));
    }
    if opts.backup.is_some() {
        crate::backup::check_backend(&ctx.url)?;
    }
    Ok(())
}

fn check_single_transaction(ctx: &Context, plan: &Plan, opts: &UpgradeOptions) -> Result<()> {
    if !opts.single_transaction {
        return Ok(());
    }
    let non_tx: Vec<String> = plan
        .steps
        .iter()
        .filter_map(|s| s.index.map(|i| &ctx.set.migrations()[i]))
        .filter(|m| !m.run_in_transaction())
        .map(|m| format!("{} ({})", m.version(), m.name()))
        .collect();
    if non_tx.is_empty() {
        Ok(())
    } else {
        Err(Error::BadInput(format!(
            "--single-transaction cannot include non-transactional migrations: {}; upgrade to \
             the one before them first, or run without --single-transaction",
            non_tx.join(", ")
        )))
    }
}

/// The plan `upgrade` would execute now (`--dry-run`), read without writing and refused
/// as the real command would be; with the status it was computed from.
pub fn upgrade_plan(
    ctx: &Context,
    target: &Target,
    opts: &UpgradeOptions,
) -> Result<(Plan, Status)> {
    let status = status(ctx, CheckOptions::for_writes())?;
    let write = Write::Upgrade(target, opts);
    let (plan, _, _) = plan_checked(ctx, &write, &status.state, status.problems.clone())?;
    execute::preflight(&ctx.set, &plan)?;
    Ok((plan, status))
}

/// Where an offline or online `--sql` script starts from.
#[derive(Debug, Clone)]
pub enum SqlRange {
    /// From the database's recorded state (read-only) to the target.
    FromDatabase(Target),
    /// Offline: `FROM:TO`, with FROM counted as applied.
    Offline {
        /// The state assumed applied.
        from: String,
        /// The target.
        to: String,
    },
}

/// What a `--sql` script is asked for.
#[derive(Debug, Clone)]
pub struct SqlRequest {
    /// The command the script stands for.
    pub command: script::Command,
    /// Where it starts from.
    pub range: SqlRange,
    /// `stamp`'s rules.
    pub stamp: StampRules,
    /// `upgrade`'s options (`--single-transaction`, `--allow-out-of-order`), as the real
    /// command takes them.
    pub upgrade: UpgradeOptions,
}

/// Renders the script of `request`, writing nothing.
pub fn sql_script(ctx: &Context, request: &SqlRequest) -> Result<String> {
    let (plan, options) = script_plan(ctx, request)?;
    script::render(&ctx.set, &plan, &options)
}

/// Writes the script of `request` to `out` as it is rendered (see [`script::write`]);
/// nothing is written when the plan is refused.
pub fn write_sql_script(
    ctx: &Context,
    request: &SqlRequest,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let (plan, options) = script_plan(ctx, request)?;
    script::write(&ctx.set, &plan, &options, out)
}

/// The plan a `--sql` script renders, checked as the real command would check it, and how
/// to render it.
fn script_plan(ctx: &Context, request: &SqlRequest) -> Result<(Plan, script::Options)> {
    let set = &ctx.set;
    let (state, target, problems) = match &request.range {
        SqlRange::FromDatabase(target) => {
            // The same checks as the real command: an edited migration refuses both.
            let Status { state, problems } = status(ctx, CheckOptions::for_writes())?;
            (state, target.clone(), problems)
        }
        SqlRange::Offline { from, to } => {
            // A state assumed from FROM has nothing recorded to check.
            let state = plan::assumed_state(set, plan::range_point(set, from)?);
            (state, to.parse::<Target>()?, Vec::new())
        }
    };
    let write = match request.command {
        script::Command::Upgrade => Write::Upgrade(&target, &request.upgrade),
        script::Command::Downgrade => Write::Downgrade(&target),
        script::Command::Stamp => Write::Stamp(&target, request.stamp),
    };
    check_backend_options(ctx, &write)?;
    let (plan, _, exec) = plan_checked(ctx, &write, &state, problems)?;
    let options = script::Options {
        backend: ctx.url.backend(),
        command: request.command,
        single_transaction: exec.single_transaction && request.command != script::Command::Stamp,
        side_layout: state.side_layout,
    };
    Ok((plan, options))
}

/// Runs the pending migrations embedded in this build on `url`, with the lock and checksum
/// checks of `haven-migrate upgrade head`. Call it before a service starts.
pub fn run_pending_migrations(url: &DatabaseUrl) -> Result<Vec<StepReport>> {
    let ctx = Context::new(url.clone(), MigrationSet::embedded(url.backend())?);
    let outcome = upgrade(
        &ctx,
        &Target::Head,
        &UpgradeOptions::default(),
        &mut execute::Silent,
    )?;
    Ok(outcome.reports)
}
