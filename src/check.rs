//! Integrity problems: what differs between the migration set and the recorded state in a
//! way a deploy must not ignore, and which of them block which command.
//!
//! Errors (exit 4) block `upgrade` and `downgrade` ([`refuse`]); warnings are shown but
//! block nothing; `stamp`, the repair tool, is never refused.

use crate::error::{Error, Result};
pub use crate::problem::{Problem, ProblemKind};
use crate::source::{Listing, MigrationSet};
use crate::state::{DbState, DirtyAction};

/// Which checks to run beyond those that need only names.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Compare checksums with every applied `up.sql`.
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
pub fn find_problems(set: &MigrationSet, state: &DbState, opts: CheckOptions) -> Vec<Problem> {
    let listing = set.listing();
    let mut problems = Vec::new();
    missing(listing, state, &mut problems);
    dirty(listing, state, &mut problems);
    if opts.checksums {
        edited(set, state, &mut problems);
    }
    out_of_order(listing, state, &mut problems);
    if opts.statements {
        forbidden_statements(set, state, &mut problems);
    }
    no_transaction_flag(set, &mut problems);
    problems
}

/// The problems that names alone show (for `current`, which reads no file): versions
/// recorded but missing, dirty markers, out-of-order pending migrations.
pub fn listing_problems(listing: &Listing, state: &DbState) -> Vec<Problem> {
    let mut problems = Vec::new();
    missing(listing, state, &mut problems);
    dirty(listing, state, &mut problems);
    out_of_order(listing, state, &mut problems);
    problems
}

/// True when any problem is an error.
pub fn has_errors(problems: &[Problem]) -> bool {
    problems.iter().any(|p| p.kind.is_error())
}

/// Which command is asking, for [`refuse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// `upgrade`, which `--allow-out-of-order` lets past out-of-order migrations.
    Upgrade {
        /// `--allow-out-of-order`.
        allow_out_of_order: bool,
    },
    /// `downgrade`: an out-of-order pending migration is not its business.
    Downgrade,
    /// `stamp`, the repair tool: never refused.
    Stamp,
}

/// Refuses the command (exit 4) when `problems` holds an error that blocks it; otherwise
/// returns the warnings, which block nothing.
pub fn refuse(problems: Vec<Problem>, policy: Policy) -> Result<Vec<Problem>> {
    let blocks = |p: &Problem| {
        p.kind.is_error()
            && match policy {
                Policy::Stamp => false,
                Policy::Downgrade => p.kind != ProblemKind::OutOfOrder,
                Policy::Upgrade { allow_out_of_order } => {
                    p.kind != ProblemKind::OutOfOrder || !allow_out_of_order
                }
            }
    };
    let (blocking, rest): (Vec<Problem>, Vec<Problem>) = problems.into_iter().partition(blocks);
    if !blocking.is_empty() {
        return Err(Error::Integrity { problems: blocking });
    }
    Ok(rest.into_iter().filter(|p| !p.kind.is_error()).collect())
}

fn missing(listing: &Listing, state: &DbState, out: &mut Vec<Problem>) {
    for rec in state
        .records()
        .filter(|r| listing.get(&r.version).is_none())
    {
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
                listing.origin()
            ),
        });
    }
}

fn dirty(listing: &Listing, state: &DbState, out: &mut Vec<Problem>) {
    for rec in state.records().filter(|r| r.dirty) {
        let name = listing.get(&rec.version).map_or("?", |m| m.name());
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

fn edited(set: &MigrationSet, state: &DbState, out: &mut Vec<Problem>) {
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
            Some(stored) if stored != migration.checksum() => out.push(Problem {
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
}

fn out_of_order(listing: &Listing, state: &DbState, out: &mut Vec<Problem>) {
    let Some(newest) = state.newest_applied() else {
        return;
    };
    for m in listing.entries() {
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
        if let Err(Error::ForbiddenSql {
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
