//! Every command of haven-migrate as one [`Request`] in and one [`Outcome`] out: the
//! library reads the migrations and the database, plans, executes or renders, and says how
//! it went ([`Outcome::exit`]); the binary parses the command line, calls [`run`], and
//! renders the outcome.

use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "autogen")]
use super::schema::{Generated, SchemaCheck, SchemaSources};
use super::script;
use super::status::Status;
use super::verify::VerifyReport;
use super::write::{self, UpgradeOptions, Write, WriteKind};
use super::{read_recorded, Context};
use crate::backup::PgDump;
use crate::check::{self, CheckOptions, Problem, ProblemKind};
use crate::error::{Error, Result};
use crate::execute::Observer;
use crate::plan::{self, Action, Plan, StampRules, Target};
use crate::source::{locate, revision, Listing, MigrationSet};
use crate::url::Backend;

/// A command, with what it needs.
pub enum Request<'o> {
    /// The newest applied migration, and whether it is head.
    Current {
        /// The status lists every migration (as JSON output does). Without, it holds the
        /// position only: a row per migration costs more than the rest of the command.
        rows: bool,
    },
    /// Every migration, applied or not; `range` is `START:END`.
    History {
        /// `-r START:END`.
        range: Option<String>,
    },
    /// At head and consistent?
    Check,
    /// Applies migrations up to `target`.
    Upgrade {
        /// head, +N, a revision; with [`Mode::Sql`] also FROM:TO.
        target: String,
        /// `--allow-out-of-order`, `--single-transaction`.
        options: UpgradeOptions,
        /// `--backup FILE` (PostgreSQL).
        backup: Option<Backup>,
        /// Run it, plan it, or print its SQL.
        mode: Mode<'o>,
    },
    /// Reverts migrations newer than `target`.
    Downgrade {
        /// -N, base, a revision that stays applied; with [`Mode::Sql`] also FROM:TO.
        target: String,
        /// Run it, or print its SQL.
        mode: Mode<'o>,
    },
    /// Records "everything up to `target`" without running migration SQL.
    Stamp {
        /// head, base, a revision, +N, -N.
        target: String,
        /// `--purge`, `--rehash`.
        rules: StampRules,
        /// Run it, or print its SQL.
        mode: Mode<'o>,
    },
    /// Up, down, up of every migration in a scratch database.
    Verify,
    /// A new, empty migration in every backend directory.
    Revision {
        /// What it does: the directory's name.
        message: String,
    },
    /// `check --schema`: `schema.rs` against the schema the migrations produce.
    #[cfg(feature = "autogen")]
    CheckSchema(SchemaSources),
    /// `revision --autogenerate`: the migration that makes the migrations produce
    /// `schema.rs`, proved in scratch databases, then written.
    #[cfg(feature = "autogen")]
    Autogenerate {
        /// What it does: the directory's name.
        message: String,
        /// `schema.rs` and the scratch server.
        sources: SchemaSources,
    },
}

/// `upgrade --backup`.
#[derive(Debug, Clone)]
pub struct Backup {
    /// Where the dump goes.
    pub file: PathBuf,
    /// `--pg-dump PATH`: the program to use, instead of looking for one.
    pub pg_dump: Option<PathBuf>,
}

/// How a write command is carried out.
pub enum Mode<'o> {
    /// For real.
    Run,
    /// The plan only, writing nothing (`--dry-run`).
    DryRun,
    /// Its SQL script, written to the writer as it is rendered (`--sql`).
    Sql(&'o mut dyn std::io::Write),
}

/// Which command an outcome is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `current`.
    Current,
    /// `history`.
    History,
    /// `check`.
    Check,
    /// `upgrade`.
    Upgrade,
    /// `downgrade`.
    Downgrade,
    /// `stamp`.
    Stamp,
    /// `verify`.
    Verify,
    /// `revision`.
    Revision,
}

impl Command {
    /// The command's name, as typed.
    pub fn name(self) -> &'static str {
        match self {
            Command::Current => "current",
            Command::History => "history",
            Command::Check => "check",
            Command::Upgrade => "upgrade",
            Command::Downgrade => "downgrade",
            Command::Stamp => "stamp",
            Command::Verify => "verify",
            Command::Revision => "revision",
        }
    }
}

/// A step of a `--dry-run` plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedStep {
    /// What it does.
    pub action: Action,
    /// The version.
    pub version: String,
    /// The name (empty for an unknown version).
    pub name: String,
    /// Whether it runs in a transaction.
    pub transactional: bool,
}

/// What a command did, beyond the status.
#[derive(Debug, Clone)]
pub enum Work {
    /// Nothing: a status command.
    Nothing,
    /// A write command ran.
    Written {
        /// One report per step.
        steps: Vec<crate::execute::StepReport>,
        /// The time waited for the migration lock.
        lock_wait: Duration,
        /// How the lock was held: `session`, `transaction` (per transaction, behind a
        /// transaction pooler) or `file` (SQLite).
        lock: &'static str,
        /// The `pg_dump` that wrote `--backup`.
        backup: Option<PgDump>,
    },
    /// The plan of `--dry-run`.
    Planned {
        /// The steps.
        steps: Vec<PlannedStep>,
        /// They run in one transaction.
        single_transaction: bool,
    },
    /// The `--sql` script went to the writer.
    Script,
    /// What `verify` found.
    Verified(VerifyReport),
    /// The directories `revision` created.
    Created(Vec<PathBuf>),
    /// What `check --schema` found.
    #[cfg(feature = "autogen")]
    SchemaChecked(SchemaCheck),
    /// What `revision --autogenerate` generated, proved and wrote.
    #[cfg(feature = "autogen")]
    Generated(Generated),
}

/// How a command ended, for its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exit 0.
    Success,
    /// Exit 2: a migration holds a statement the next run would refuse (`check`).
    BadInput,
    /// Exit 3: migrations are pending, and nothing worse (`check`).
    Pending,
    /// Exit 4: an integrity problem (`check`), or a `verify` failure.
    Integrity,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::BadInput => 2,
            Exit::Pending => 3,
            Exit::Integrity => 4,
        }
    }
}

/// The outcome of a command that did not fail.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The command.
    pub command: Command,
    /// The status it read or left (`None` for `verify`, `revision` and `--sql`).
    pub status: Option<Status>,
    /// What it did.
    pub work: Work,
}

impl Outcome {
    /// How it ended: the one place that decides the exit code of a command that ran.
    pub fn exit(&self) -> Exit {
        let failed = match &self.work {
            Work::Verified(report) => Some(report.failure.is_some()),
            #[cfg(feature = "autogen")]
            Work::SchemaChecked(check) => Some(!check.differences.is_empty()),
            #[cfg(feature = "autogen")]
            Work::Generated(generated) => Some(generated.failure.is_some()),
            _ => None,
        };
        match failed {
            Some(true) => return Exit::Integrity,
            Some(false) => return Exit::Success,
            None => {}
        }
        let (Command::Check, Some(status)) = (self.command, &self.status) else {
            return Exit::Success;
        };
        let has = |kind: ProblemKind| status.problems.iter().any(|p| p.kind == kind);
        let integrity = status
            .problems
            .iter()
            .any(|p| p.kind.is_error() && p.kind != ProblemKind::ForbiddenSql);
        // 4 over 2 over 3: a refused statement is bad input, as for the upgrade that
        // would refuse it.
        match () {
            _ if integrity => Exit::Integrity,
            _ if has(ProblemKind::ForbiddenSql) => Exit::BadInput,
            _ if !status.at_head => Exit::Pending,
            _ => Exit::Success,
        }
    }
}

/// Runs `request`. Progress (steps, lock waits) goes to `observer`; the library prints
/// nothing.
pub fn run(ctx: &Context, request: Request<'_>, observer: &mut dyn Observer) -> Result<Outcome> {
    match request {
        Request::Current { rows } => current(ctx, rows),
        Request::History { range } => history(ctx, range.as_deref()),
        Request::Check => status_of(ctx, Command::Check),
        Request::Verify => verify(ctx),
        Request::Revision { message } => create_revision(ctx, &message),
        #[cfg(feature = "autogen")]
        Request::CheckSchema(sources) => Ok(Outcome {
            command: Command::Check,
            status: None,
            work: Work::SchemaChecked(super::schema::check_schema(ctx, &sources)?),
        }),
        #[cfg(feature = "autogen")]
        Request::Autogenerate { message, sources } => Ok(Outcome {
            command: Command::Revision,
            status: None,
            work: Work::Generated(super::schema::autogenerate(ctx, &sources, &message)?),
        }),
        Request::Upgrade {
            target,
            options,
            backup,
            mode,
        } => {
            let kind = WriteKind::Upgrade(options);
            run_write(
                ctx,
                WriteRequest::new(&target, kind, backup),
                mode,
                observer,
            )
        }
        Request::Downgrade { target, mode } => {
            let req = WriteRequest::new(&target, WriteKind::Downgrade, None);
            run_write(ctx, req, mode, observer)
        }
        Request::Stamp {
            target,
            rules,
            mode,
        } => {
            let req = WriteRequest::new(&target, WriteKind::Stamp(rules), None);
            run_write(ctx, req, mode, observer)
        }
    }
}

/// `current`: names only, one listing of the directory and no file read; a row per
/// migration only when `rows`.
fn current(ctx: &Context, rows: bool) -> Result<Outcome> {
    let (listing, state) = alongside(
        || Listing::read(ctx.origin.clone()),
        || read_recorded(&ctx.url, &ctx.pool, false),
    );
    let (listing, state) = (listing?, state?);
    let problems = check::listing_problems(&listing, &state);
    Ok(Outcome {
        command: Command::Current,
        status: Some(Status::of_listing(&listing, &state, problems, rows)),
        work: Work::Nothing,
    })
}

/// `files()` on a second thread while `database()` runs on this one: a read-only command's
/// migration directory is read while the database server starts a backend and answers,
/// instead of after. Nothing is shared between the two but what they read. A panic on the
/// second thread is a bug, passed on as it is.
fn alongside<F, D>(files: impl FnOnce() -> F + Send, database: impl FnOnce() -> D) -> (F, D)
where
    F: Send,
{
    std::thread::scope(|scope| {
        let files = scope.spawn(files);
        let database = database();
        let files = files
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (files, database)
    })
}

/// `history` and `check`: every file read, checksums compared, the SQL that would run next
/// looked at.
fn status_of(ctx: &Context, command: Command) -> Result<Outcome> {
    let (set, state) = alongside(
        || -> Result<MigrationSet> {
            let set = MigrationSet::read(ctx.origin.clone())?;
            set.read_down_files()?;
            Ok(set)
        },
        || read_recorded(&ctx.url, &ctx.pool, true),
    );
    // A broken migration directory is reported before a database that cannot be reached.
    let (set, state) = (set?, state?);
    let checks = CheckOptions {
        checksums: true,
        statements: true,
    };
    let problems = check::find_problems(&set, &state, checks);
    Ok(Outcome {
        command,
        status: Some(Status::of_set(&set, &state, problems)),
        work: Work::Nothing,
    })
}

fn history(ctx: &Context, range: Option<&str>) -> Result<Outcome> {
    let mut outcome = status_of(ctx, Command::History)?;
    if let (Some(range), Some(status)) = (range, &mut outcome.status) {
        let set = MigrationSet::read(ctx.origin.clone())?;
        status.keep_range(&set, range)?;
    }
    Ok(outcome)
}

fn verify(ctx: &Context) -> Result<Outcome> {
    let set = MigrationSet::read(ctx.origin.clone())?;
    Ok(Outcome {
        command: Command::Verify,
        status: None,
        work: Work::Verified(super::verify::verify(ctx, &set)?),
    })
}

fn create_revision(ctx: &Context, message: &str) -> Result<Outcome> {
    let Some(dir) = ctx.origin.dir() else {
        return Err(Error::BadInput(
            "revision needs a migration directory: pass --migration-dir DIR (or set \
             MIGRATION_DIRECTORY), or run it in a project whose diesel.toml names one"
                .into(),
        ));
    };
    let dirs = locate::backend_siblings(dir);
    let created = revision::create(&dirs, message, chrono::Utc::now())?;
    Ok(Outcome {
        command: Command::Revision,
        status: None,
        work: Work::Created(created),
    })
}

/// A write command: its target (still text: `--sql` takes FROM:TO), which command, and
/// `--backup`.
struct WriteRequest<'a> {
    target: &'a str,
    kind: WriteKind,
    backup: Option<Backup>,
}

impl<'a> WriteRequest<'a> {
    fn new(target: &'a str, kind: WriteKind, backup: Option<Backup>) -> Self {
        WriteRequest {
            target,
            kind,
            backup,
        }
    }

    /// The command for a parsed target.
    fn write<'t>(&self, target: &'t Target) -> Write<'t> {
        Write {
            kind: self.kind,
            target,
        }
    }
}

fn run_write(
    ctx: &Context,
    req: WriteRequest<'_>,
    mode: Mode<'_>,
    observer: &mut dyn Observer,
) -> Result<Outcome> {
    if req.backup.is_some() {
        crate::backup::check_backend(&ctx.url)?;
    }
    let set = MigrationSet::read(ctx.origin.clone())?;
    match mode {
        Mode::Sql(out) => sql(ctx, &set, &req, out),
        Mode::DryRun => dry_run(ctx, &set, req.write(&single(req.target)?)),
        Mode::Run => {
            let target = single(req.target)?;
            let write = req.write(&target);
            let (work, status) = execute(ctx, &set, write, req.backup.as_ref(), observer)?;
            Ok(Outcome {
                command: write.kind.command(),
                status: Some(status),
                work,
            })
        }
    }
}

/// A target that is not a `FROM:TO` range, which only `--sql` takes.
fn single(target: &str) -> Result<Target> {
    if target.contains(':') {
        return Err(Error::BadInput(format!(
            "`{target}` is a FROM:TO range, which only --sql takes"
        )));
    }
    target.parse()
}

/// A write command for real: the work, and the status it left, with the warnings found
/// before and the problems after, each once.
fn execute(
    ctx: &Context,
    set: &MigrationSet,
    write: Write<'_>,
    backup: Option<&Backup>,
    observer: &mut dyn Observer,
) -> Result<(Work, Status)> {
    let mut dumped = None;
    let mut before_executing = || -> Result<()> {
        if let Some(backup) = backup {
            let dump = crate::backup::pg_dump(&ctx.url, &backup.file, backup.pg_dump.as_deref())?;
            dumped = Some(dump);
        }
        Ok(())
    };
    let written = write::write(ctx, set, write, &mut before_executing, observer)?;
    let mut problems = written.warnings;
    let after = check::find_problems(set, &written.after, CheckOptions::for_writes());
    merge_problems(&mut problems, after);
    let lock = match (ctx.url.backend(), written.lock_per_transaction) {
        (Backend::Sqlite, _) => "file",
        (_, true) => "transaction",
        (_, false) => "session",
    };
    let status = Status::of_set(set, &written.after, problems);
    let work = Work::Written {
        steps: written.steps,
        lock_wait: written.lock_wait,
        lock,
        backup: dumped,
    };
    Ok((work, status))
}

/// Adds the problems of `more` that `problems` does not hold yet (same kind and version).
fn merge_problems(problems: &mut Vec<Problem>, more: Vec<Problem>) {
    for p in more {
        if !problems
            .iter()
            .any(|q| q.kind == p.kind && q.version == p.version)
        {
            problems.push(p);
        }
    }
}

/// `--dry-run`: the plan the command would execute now, read without writing, and refused
/// as the real command would be.
fn dry_run(ctx: &Context, set: &MigrationSet, write: Write<'_>) -> Result<Outcome> {
    let state = read_recorded(&ctx.url, &ctx.pool, true)?;
    let (plan, _, exec) = write::plan_for(set, ctx.url.backend(), &write, &state)?;
    let problems = check::find_problems(set, &state, CheckOptions::for_writes());
    Ok(Outcome {
        command: write.kind.command(),
        status: Some(Status::of_set(set, &state, problems)),
        work: Work::Planned {
            steps: planned_steps(&plan),
            single_transaction: exec.single_transaction && write.kind.command() == Command::Upgrade,
        },
    })
}

fn planned_steps(plan: &Plan<'_>) -> Vec<PlannedStep> {
    plan.steps
        .iter()
        .map(|s| PlannedStep {
            action: s.action(),
            version: s.version().to_owned(),
            name: s.name().to_owned(),
            transactional: s.migration().is_none_or(|m| m.run_in_transaction()),
        })
        .collect()
}

/// `--sql`: the script of the plan, from the database's state (read-only) or, with
/// `FROM:TO`, from the state FROM implies (offline, no database at all).
fn sql(
    ctx: &Context,
    set: &MigrationSet,
    req: &WriteRequest<'_>,
    out: &mut dyn std::io::Write,
) -> Result<Outcome> {
    let (state, target) = match req.target.split_once(':') {
        Some((from, to)) => (
            plan::assumed_state(set, plan::range_point(set, from)?),
            to.parse::<Target>()?,
        ),
        None => (
            read_recorded(&ctx.url, &ctx.pool, true)?,
            req.target.parse()?,
        ),
    };
    // An assumed state has nothing recorded to check; a read one is checked as the real
    // command would check it.
    let write = req.write(&target);
    let (plan, _, exec) = write::plan_for(set, ctx.url.backend(), &write, &state)?;
    let command = write.kind.command();
    let options = script::Options {
        backend: ctx.url.backend(),
        command,
        // stamp's script is one transaction of its own making.
        single_transaction: exec.single_transaction && command != Command::Stamp,
        side_layout: state.side_layout,
    };
    script::write(&plan, &options, out)?;
    Ok(Outcome {
        command,
        status: None,
        work: Work::Script,
    })
}
