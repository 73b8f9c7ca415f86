//! Integrity problems: what differs between the migration set and the recorded state in a
//! way a deploy must not ignore.
//!
//! Errors (exit 4) block `upgrade` and `downgrade`; warnings are shown but block nothing.

pub use crate::problem::{Problem, ProblemKind};
use crate::source::MigrationSet;
use crate::state::{DbState, DirtyAction};
use crate::Result;

/// Which checks to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Compare checksums (reads every applied `up.sql`).
    pub checksums: bool,
    /// Look for refused statements in the SQL that would run next (`check`, `history`);
    /// write commands refuse them when they are about to run them, naming the line.
    pub statements: bool,
}

impl CheckOptions {
    /// What write commands and their `--sql` and `--dry-run` check before planning.
    pub fn for_writes() -> Self {
        CheckOptions {
            checksums: true,
            statements: false,
        }
    }
}

/// Finds every problem between `set` and `state`, in version order within each kind.
pub fn find_problems(
    set: &MigrationSet,
    state: &DbState,
    opts: CheckOptions,
) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    missing(set, state, &mut problems);
    dirty(set, state, &mut problems);
    if opts.checksums {
        edited(set, state, &mut problems)?;
    }
    out_of_order(set, state, &mut problems);
    if opts.statements {
        forbidden_statements(set, state, &mut problems);
    }
    no_transaction_flag(set, &mut problems);
    Ok(problems)
}

/// True when any problem is an error.
pub fn has_errors(problems: &[Problem]) -> bool {
    problems.iter().any(|p| p.kind.is_error())
}

fn missing(set: &MigrationSet, state: &DbState, out: &mut Vec<Problem>) {
    for rec in state.records().filter(|r| set.get(&r.version).is_none()) {
        let what = if rec.applied {
            "is recorded as applied"
        } else {
            "has a leftover marker"
        };
        out.push(Problem {
            kind: ProblemKind::Missing,
            version: rec.version.clone(),
            message: format!(
                "version {} {what} in the database, but no migration in {} has that version \
                 (can't locate revision); point --migration-dir at the right directory, or, if \
                 the database is right as it is, run `haven-migrate stamp <REV> --purge`",
                rec.version,
                set.origin()
            ),
        });
    }
}

fn dirty(set: &MigrationSet, state: &DbState, out: &mut Vec<Problem>) {
    for rec in state.records().filter(|r| r.dirty) {
        let name = set.get(&rec.version).map_or("?", |m| m.name());
        let when = match rec.dirty_action {
            Some(DirtyAction::Applying) => "applying",
            Some(DirtyAction::Reverting) => "reverting",
            // A marker written before the side table recorded the direction: diesel's row
            // tells, unless the run was cut between its two last writes.
            None if rec.applied => "reverting",
            None => "applying",
        };
        out.push(Problem {
            kind: ProblemKind::Dirty,
            version: rec.version.clone(),
            message: format!(
                "migration {} ({name}) was interrupted while {when}: it is not transactional, so \
                 part of it may have run. Inspect the database, finish or undo its statements by \
                 hand, then record the truth with `haven-migrate stamp {}` (it ran fully) or \
                 `haven-migrate stamp <previous version>` (it did not)",
                rec.version, rec.version
            ),
        });
    }
}

fn edited(set: &MigrationSet, state: &DbState, out: &mut Vec<Problem>) -> Result<()> {
    let to_hash: Vec<usize> = state
        .applied()
        .filter(|rec| rec.checksum.is_some())
        .filter_map(|rec| set.position(&rec.version))
        .collect();
    set.preload_checksums(&to_hash)?;
    // The repair stamps the newest applied version: stamping the edited one itself would
    // unrecord everything applied after it, and `stamp head` would record pending ones.
    let here = state
        .applied()
        .filter(|r| set.get(&r.version).is_some())
        .last()
        .map_or("", |r| r.version.as_str());
    for rec in state.applied() {
        let Some(migration) = set.get(&rec.version) else {
            continue;
        };
        match &rec.checksum {
            None => out.push(Problem {
                kind: ProblemKind::Unverified,
                version: rec.version.clone(),
                message: format!(
                    "migration {} ({}) was applied without a checksum (by another tool); \
                     `haven-migrate stamp {here}` records it",
                    rec.version,
                    migration.name()
                ),
            }),
            Some(stored) if *stored != migration.checksum()? => out.push(Problem {
                kind: ProblemKind::Edited,
                version: rec.version.clone(),
                message: format!(
                    "migration {} ({}) was edited after it was applied (checksum differs); \
                     restore its up.sql, or write a new migration for the change. If the edit is \
                     deliberate and harmless, re-record it with `haven-migrate stamp {here} --rehash`",
                    rec.version,
                    migration.name(),
                ),
            }),
            Some(_) => {}
        }
    }
    Ok(())
}

fn out_of_order(set: &MigrationSet, state: &DbState, out: &mut Vec<Problem>) {
    let Some(newest) = state.newest_applied() else {
        return;
    };
    for m in set.migrations() {
        if m.version() < newest.version.as_str() && !state.is_applied(m.version()) {
            let dirty = state.get(m.version()).is_some_and(|r| r.dirty);
            if dirty {
                continue;
            }
            out.push(Problem {
                kind: ProblemKind::OutOfOrder,
                version: m.version().to_owned(),
                message: format!(
                    "migration {} ({}) is pending but older than the newest applied {}; it was \
                     probably merged late. Apply it with `haven-migrate upgrade \
                     --allow-out-of-order`, or give it a newer timestamp",
                    m.version(),
                    m.name(),
                    newest.version
                ),
            });
        }
    }
}

/// Refused statements in each pending `up.sql` and in each applied migration's `down.sql`:
/// what `upgrade` and `downgrade` would run. A file that cannot be read is left to the
/// command that needs it.
fn forbidden_statements(set: &MigrationSet, state: &DbState, out: &mut Vec<Problem>) {
    for m in set.migrations() {
        let up = !state.is_applied(m.version());
        if !up && !m.has_down() {
            continue;
        }
        if let Err(crate::Error::ForbiddenSql {
            path,
            line,
            problem,
        }) = m.runnable_sql(up)
        {
            out.push(Problem {
                kind: ProblemKind::ForbiddenSql,
                version: m.version().to_owned(),
                message: format!(
                    "migration {} ({}): {}:{line}: {problem}",
                    m.version(),
                    m.name(),
                    path.display()
                ),
            });
        }
    }
}

fn no_transaction_flag(set: &MigrationSet, out: &mut Vec<Problem>) {
    for m in set
        .migrations()
        .iter()
        .filter(|m| m.metadata_lacks_transaction_flag())
    {
        out.push(Problem {
            kind: ProblemKind::NoTransactionFlag,
            version: m.version().to_owned(),
            message: format!(
                "migration {} ({}) has a metadata.toml without `run_in_transaction`, so it runs \
                 OUTSIDE a transaction (diesel's default for that file); add \
                 `run_in_transaction = true` unless that is intended",
                m.version(),
                m.name()
            ),
        });
    }
}
