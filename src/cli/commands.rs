//! Runs each command through the library and collects a [`Report`]. Nothing here prints
//! results; `output` does.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use haven_schema::check::{CheckOptions, Problem, ProblemKind};
use haven_schema::migrate::{self, Context, SqlRange, SqlRequest, Status, UpgradeOptions};
use haven_schema::plan::{self, StampRules, Target};
use haven_schema::script;
use haven_schema::source::{locate, revision, Origin};
use haven_schema::state::DbState;
use haven_schema::{Error, Result};

use super::args::Format;
use super::args::{Command, DowngradeArgs, HistoryArgs, StampArgs, UpgradeArgs};
use super::output::Output;
use super::report::{ErrorInfo, Report};

/// Runs `command` and returns its report (errors are the caller's to report). `recorded`
/// is the database's state when it was read already, beside the migration set.
pub fn run(
    command: &Command,
    ctx: &Context,
    recorded: Option<DbState>,
    out: &mut Output,
) -> Result<Report> {
    let rows = out.format == Format::Json || out.verbose || !matches!(command, Command::Current);
    match command {
        Command::Current => status_report("current", ctx, false, recorded, rows),
        Command::History(args) => history(ctx, args, recorded),
        Command::Upgrade(args) => upgrade(ctx, args, out),
        Command::Downgrade(args) => downgrade(ctx, args, out),
        Command::Stamp(args) => stamp(ctx, args, out),
        Command::Check => check(ctx, recorded),
        Command::Verify => verify(ctx),
        Command::Revision(_) | Command::Completions(_) => {
            Err(Error::BadInput("this command needs no database".into()))
        }
    }
}

/// The status as a report; `rows: false` skips the per-migration rows (text `current`
/// shows none, and thousands of them are most of its work).
fn status_report(
    command: &'static str,
    ctx: &Context,
    checksums: bool,
    recorded: Option<DbState>,
    rows: bool,
) -> Result<Report> {
    // The status commands that compare checksums (history, check) also look for statements
    // that the next upgrade or downgrade would refuse.
    let checks = CheckOptions {
        checksums,
        statements: checksums,
    };
    let state = match recorded {
        Some(state) => state,
        None => migrate::read_recorded(&ctx.url, &ctx.pool, checksums)?,
    };
    let Status { state, problems } = migrate::status_of(&ctx.set, state, checks)?;
    Ok(Report::new(command).with_status(&ctx.set, &state, problems, rows))
}

fn history(ctx: &Context, args: &HistoryArgs, recorded: Option<DbState>) -> Result<Report> {
    let mut report = status_report("history", ctx, true, recorded, true)?;
    if let Some(range) = &args.range {
        let (start, end) = range.split_once(':').ok_or_else(|| {
            Error::BadInput(format!(
                "-r takes START:END (either side may be empty), not `{range}`"
            ))
        })?;
        let bound = |text: &str| -> Result<Option<String>> {
            if text.is_empty() {
                return Ok(None);
            }
            Ok(plan::range_point(&ctx.set, text)?
                .map(|i| ctx.set.migrations()[i].version().to_owned()))
        };
        let (lo, hi) = (bound(start)?, bound(end)?);
        let base_end = end == "base";
        let reversed = match (&lo, &hi) {
            (Some(lo), Some(hi)) => lo > hi,
            (Some(_), None) => base_end,
            _ => false,
        };
        if reversed {
            return Err(Error::BadInput(format!(
                "the range {range} is reversed: START must not be newer than END (bounds are \
                 inclusive, oldest first); write {end}:{start}"
            )));
        }
        report.migrations.retain(|r| {
            lo.as_ref().is_none_or(|lo| r.version >= *lo)
                && hi.as_ref().is_none_or(|hi| r.version <= *hi)
                && !base_end
        });
    }
    Ok(report)
}

fn range_of(target: &str) -> Option<SqlRange> {
    target.split_once(':').map(|(from, to)| SqlRange::Offline {
        from: from.to_owned(),
        to: to.to_owned(),
    })
}

/// `--sql` of `command`, for `target` (a target, or FROM:TO).
fn sql_report(
    command: &'static str,
    ctx: &Context,
    kind: script::Command,
    target: &str,
    stamp: StampRules,
    upgrade: UpgradeOptions,
    out: &Output,
) -> Result<Report> {
    let range = match range_of(target) {
        Some(range) => range,
        None => SqlRange::FromDatabase(target.parse()?),
    };
    let request = SqlRequest {
        command: kind,
        range,
        stamp,
        upgrade,
    };
    if out.format == Format::Text {
        // Megabytes for thousands of migrations: written as it is rendered, not held whole.
        out.script(|stdout| migrate::write_sql_script(ctx, &request, stdout))?;
        return Ok(Report {
            printed: true,
            ..Report::new(command)
        });
    }
    let sql = migrate::sql_script(ctx, &request)?;
    Ok(Report {
        sql: Some(sql),
        ..Report::new(command)
    })
}

fn single_target(target: &str) -> Result<Target> {
    if target.contains(':') {
        return Err(Error::BadInput(format!(
            "`{target}` is a FROM:TO range, which only --sql takes"
        )));
    }
    target.parse()
}

fn upgrade(ctx: &Context, args: &UpgradeArgs, out: &mut Output) -> Result<Report> {
    let options = UpgradeOptions {
        allow_out_of_order: args.allow_out_of_order,
        single_transaction: args.single_transaction,
        backup: args.backup.clone(),
        pg_dump: args.pg_dump.clone(),
    };
    if args.sql {
        return sql_report(
            "upgrade",
            ctx,
            script::Command::Upgrade,
            &args.target,
            StampRules::default(),
            options,
            out,
        );
    }
    let target = single_target(&args.target)?;
    if args.dry_run {
        return dry_run(ctx, &target, &options);
    }
    let started = Instant::now();
    let outcome = migrate::upgrade(ctx, &target, &options, &mut out.progress())?;
    if let (Some(file), Some(pg_dump)) = (&args.backup, &outcome.backup) {
        let file = file.display();
        out.debug(&format!("backup {file} written by {}", pg_dump.describe()));
    }
    finish("upgrade", ctx, outcome, started.elapsed())
}

fn dry_run(ctx: &Context, target: &Target, options: &UpgradeOptions) -> Result<Report> {
    let (plan, Status { state, problems }) = migrate::upgrade_plan(ctx, target, options)?;
    Ok(Report {
        single_transaction: options.single_transaction,
        ..Report::new("upgrade")
            .with_status(&ctx.set, &state, problems, true)
            .with_plan(&ctx.set, &plan)
    })
}

fn downgrade(ctx: &Context, args: &DowngradeArgs, out: &mut Output) -> Result<Report> {
    if args.sql {
        return sql_report(
            "downgrade",
            ctx,
            script::Command::Downgrade,
            &args.target,
            StampRules::default(),
            UpgradeOptions::default(),
            out,
        );
    }
    let target = single_target(&args.target)?;
    let started = Instant::now();
    let outcome = migrate::downgrade(ctx, &target, &mut out.progress())?;
    finish("downgrade", ctx, outcome, started.elapsed())
}

fn stamp(ctx: &Context, args: &StampArgs, out: &mut Output) -> Result<Report> {
    let rules = StampRules {
        purge: args.purge,
        rehash: args.rehash,
    };
    if args.sql {
        return sql_report(
            "stamp",
            ctx,
            script::Command::Stamp,
            &args.target,
            rules,
            UpgradeOptions::default(),
            out,
        );
    }
    let target = single_target(&args.target)?;
    let started = Instant::now();
    let outcome = migrate::stamp(ctx, &target, rules, &mut out.progress())?;
    finish("stamp", ctx, outcome, started.elapsed())
}

/// The report of a write command: what ran, then the state it left (read by the command
/// itself, before it let go of the lock).
fn finish(
    command: &'static str,
    ctx: &Context,
    outcome: migrate::Outcome,
    total: Duration,
) -> Result<Report> {
    let Status { state, problems } = outcome.after;
    let after = Report::new(command).with_status(&ctx.set, &state, problems, true);
    let mut problems = outcome.problems;
    problems.extend(
        after
            .problems
            .iter()
            .filter(|p| !problems_contains(&problems, p))
            .cloned()
            .collect::<Vec<_>>(),
    );
    let lock = match (ctx.url.backend(), outcome.lock_per_transaction) {
        (haven_schema::Backend::Sqlite, _) => "file",
        (_, true) => "transaction",
        (_, false) => "session",
    };
    Ok(Report {
        steps: Some(outcome.reports),
        total_ms: Some(total.as_secs_f64() * 1000.0),
        lock_wait_ms: Some(outcome.lock_wait.as_secs_f64() * 1000.0),
        lock: Some(lock),
        problems,
        ..after
    })
}

fn problems_contains(
    list: &[haven_schema::check::Problem],
    p: &haven_schema::check::Problem,
) -> bool {
    list.iter()
        .any(|q| q.kind == p.kind && q.version == p.version)
}

fn check(ctx: &Context, recorded: Option<DbState>) -> Result<Report> {
    let mut report = status_report("check", ctx, true, recorded, true)?;
    let is = |kind: ProblemKind| report.problems.iter().any(|p| p.kind == kind);
    let integrity = report
        .problems
        .iter()
        .any(|p| p.kind.is_error() && p.kind != ProblemKind::ForbiddenSql);
    // A refused statement is bad input, as for the upgrade that would refuse it.
    report.exit = if integrity {
        4
    } else if is(ProblemKind::ForbiddenSql) {
        2
    } else if report.at_head == Some(false) {
        3
    } else {
        0
    };
    report.ok = report.exit == 0;
    Ok(report)
}

fn verify(ctx: &Context) -> Result<Report> {
    let result = haven_schema::verify::verify(ctx)?;
    let Some(failure) = &result.failure else {
        return Ok(Report {
            verify: Some(result),
            ..Report::new("verify")
        });
    };
    let message = format!(
        "verify failed: migration {} ({}): {}: {}",
        failure.version,
        failure.name,
        failure.phase,
        failure.differences.join("; ")
    );
    let problem = Problem {
        kind: ProblemKind::VerifyFailed,
        version: failure.version.clone(),
        message: message.clone(),
    };
    Ok(Report {
        ok: false,
        exit: 4,
        error: Some(ErrorInfo {
            kind: "verify_failed".into(),
            message,
        }),
        problems: vec![problem],
        verify: Some(result),
        ..Report::new("verify")
    })
}

/// `revision`: needs only the migration directory.
pub fn revision(message: &str, origin: &Origin) -> Result<Report> {
    let Some(dir) = origin.dir() else {
        return Err(Error::BadInput(
            "revision needs a migration directory: pass --migration-dir DIR (or set \
             MIGRATION_DIRECTORY), or run it in a project whose diesel.toml names one"
                .into(),
        ));
    };
    let dirs = locate::backend_siblings(dir);
    let created: Vec<PathBuf> = revision::create(&dirs, message, chrono::Utc::now())?;
    Ok(Report {
        created: Some(created.iter().map(|p| p.display().to_string()).collect()),
        ..Report::new("revision")
    })
}
