//! Where the plan is computed: targets, revision resolution, and the ordered list of steps
//! that `upgrade`, `downgrade` and `stamp` will execute or print.
//!
//! A plan is pure data computed from the migration set and the recorded state; the same
//! plan is either executed (`execute`) or rendered as SQL (`script`), so the two cannot
//! diverge.

use crate::error::{Error, Result};
use crate::source::MigrationSet;
use crate::state::DbState;

/// Where a command should take the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The newest migration.
    Head,
    /// Nothing applied.
    Base,
    /// N steps forward (`+N`).
    Forward(usize),
    /// N steps back (`-N`).
    Back(usize),
    /// A version, unique version prefix or name.
    Rev(String),
}

impl std::str::FromStr for Target {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        // Digits only: `usize::from_str` also takes a sign, which made `++1` and `-+1` steps.
        let steps = |digits: &str| {
            let count = digits
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| digits.parse::<usize>().ok())
                .flatten();
            count.ok_or_else(|| {
                Error::BadInput(format!(
                    "`{s}` is not a step count: write + or - and digits, e.g. +1 or -2"
                ))
            })
        };
        match s {
            "" => Err(Error::BadInput(
                "empty target; use head, base, +N, -N or a revision".into(),
            )),
            "head" | "heads" => Ok(Target::Head),
            "base" => Ok(Target::Base),
            _ if s.starts_with('+') => steps(&s[1..]).map(Target::Forward),
            _ if s.starts_with('-') => steps(&s[1..]).map(Target::Back),
            _ => Ok(Target::Rev(s.to_owned())),
        }
    }
}

/// Resolves a revision to an index in `set`: exact version, then unique prefix, then name.
pub fn resolve_rev(set: &MigrationSet, rev: &str) -> Result<usize> {
    if let Some(i) = set.position(rev) {
        return Ok(i);
    }
    let describe = |i: &usize| {
        let m = &set.migrations()[*i];
        format!("{} ({})", m.version(), m.name())
    };
    let all = set.migrations().iter().enumerate();
    let by_prefix: Vec<usize> = all
        .clone()
        .filter(|(_, m)| m.version().starts_with(rev))
        .map(|(i, _)| i)
        .collect();
    let by_name: Vec<usize> = all
        .filter(|(_, m)| m.name() == rev || m.dir_name() == rev)
        .map(|(i, _)| i)
        .collect();
    let found = if by_prefix.is_empty() {
        by_name
    } else {
        by_prefix
    };
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(Error::UnknownRevision {
            rev: rev.to_owned(),
            candidates: set
                .migrations()
                .iter()
                .map(|m| format!("{} ({})", m.version(), m.name()))
                .collect(),
        }),
        many => Err(Error::AmbiguousRevision {
            rev: rev.to_owned(),
            candidates: many.iter().map(describe).collect(),
        }),
    }
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Run `up.sql` and record the version.
    Apply,
    /// Run `down.sql` and remove the record.
    Revert,
    /// Record as applied without running SQL (stamp).
    Record,
    /// Remove the record without running SQL (stamp).
    Unrecord,
    /// Re-record the checksum of an applied migration (stamp --rehash).
    Rehash,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What to do.
    pub action: Action,
    /// The version concerned.
    pub version: String,
    /// Its index in the migration set; `None` for a recorded version unknown to the set.
    pub index: Option<usize>,
}

/// An ordered list of steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The steps, in execution order.
    pub steps: Vec<Step>,
}

impl Plan {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

fn step(set: &MigrationSet, action: Action, index: usize) -> Step {
    Step {
        action,
        version: set.migrations()[index].version().to_owned(),
        index: Some(index),
    }
}

/// Options that change what an upgrade may include.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpgradeRules {
    /// Include pending migrations older than the newest applied one.
    pub allow_out_of_order: bool,
}

/// The indexes of pending migrations, in order.
fn pending(set: &MigrationSet, state: &DbState, rules: UpgradeRules) -> Vec<usize> {
    let newest = state.newest_applied().map(|r| r.version.as_str());
    (0..set.migrations().len())
        .filter(|&i| {
            let v = set.migrations()[i].version();
            !state.is_applied(v) && (rules.allow_out_of_order || newest.is_none_or(|n| v > n))
        })
        .collect()
}

/// The plan of `upgrade TARGET`.
pub fn upgrade(
    set: &MigrationSet,
    state: &DbState,
    target: &Target,
    rules: UpgradeRules,
) -> Result<Plan> {
    let pending = pending(set, state, rules);
    let chosen: Vec<usize> = match target {
        Target::Head => pending,
        Target::Forward(n) if *n > pending.len() => {
            return Err(Error::BadInput(format!(
                "cannot upgrade +{n}: only {} migration(s) are pending (of {} in all)",
                pending.len(),
                set.migrations().len()
            )))
        }
        Target::Forward(n) => pending.into_iter().take(*n).collect(),
        Target::Rev(rev) => {
            let last = resolve_rev(set, rev)?;
            pending.into_iter().filter(|&i| i <= last).collect()
        }
        Target::Back(0) => Vec::new(),
        Target::Base | Target::Back(_) => {
            return Err(Error::BadInput(format!(
                "upgrade cannot go to {}; use `haven-migrate downgrade` to revert",
                describe(target)
            )))
        }
    };
    Ok(Plan {
        steps: chosen
            .into_iter()
            .map(|i| step(set, Action::Apply, i))
            .collect(),
    })
}

/// The indexes of applied migrations known to the set, newest first.
fn applied_newest_first(set: &MigrationSet, state: &DbState) -> Vec<usize> {
    let mut applied: Vec<usize> = state
        .applied()
        .filter_map(|r| set.position(&r.version))
        .collect();
    applied.reverse();
    applied
}

/// The plan of `downgrade TARGET`: revert every applied migration newer than the target.
pub fn downgrade(set: &MigrationSet, state: &DbState, target: &Target) -> Result<Plan> {
    let applied = applied_newest_first(set, state);
    let chosen: Vec<usize> = match target {
        Target::Base => applied,
        Target::Back(n) if *n > applied.len() => {
            return Err(Error::BadInput(format!(
                "cannot downgrade -{n}: only {} migration(s) are applied",
                applied.len()
            )))
        }
        Target::Back(n) => applied.into_iter().take(*n).collect(),
        Target::Forward(0) => Vec::new(),
        Target::Head => {
            let head = set.migrations().len().saturating_sub(1);
            keep_through(set, state, applied, head)?
        }
        Target::Rev(rev) => {
            let keep = resolve_rev(set, rev)?;
            keep_through(set, state, applied, keep)?
        }
        Target::Forward(_) => {
            return Err(Error::BadInput(format!(
                "downgrade cannot go to {}; use `haven-migrate upgrade`",
                describe(target)
            )))
        }
    };
    Ok(Plan {
        steps: chosen
            .into_iter()
            .map(|i| step(set, Action::Revert, i))
            .collect(),
    })
}

fn keep_through(
    set: &MigrationSet,
    state: &DbState,
    applied: Vec<usize>,
    keep: usize,
) -> Result<Vec<usize>> {
    let Some(m) = set.migrations().get(keep) else {
        return Ok(Vec::new());
    };
    if !state.is_applied(m.version()) {
        return Err(Error::BadInput(format!(
            "cannot downgrade to {} ({}): it is not applied, so there is nothing to keep; \
             see `haven-migrate history`, or use `downgrade base`",
            m.version(),
            m.name()
        )));
    }
    Ok(applied.into_iter().filter(|&i| i > keep).collect())
}

/// Options of `stamp`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StampRules {
    /// Also remove records unknown to the migration set.
    pub purge: bool,
    /// Re-record the checksums of applied migrations whose file changed.
    pub rehash: bool,
}

/// The index of the newest applied migration known to the set, or `None` at base.
fn position(set: &MigrationSet, state: &DbState) -> Option<usize> {
    state
        .applied()
        .filter_map(|r| set.position(&r.version))
        .max()
}

/// Resolves a target to "everything up to this index" (`None` = base) for `stamp`.
pub fn stamp_target(set: &MigrationSet, state: &DbState, target: &Target) -> Result<Option<usize>> {
    let count = set.migrations().len();
    let here = position(set, state).map_or(0, |p| p + 1);
    let upto = |n: usize| if n == 0 { None } else { Some(n - 1) };
    match target {
        Target::Head => Ok(count.checked_sub(1)),
        Target::Base => Ok(None),
        Target::Rev(rev) => resolve_rev(set, rev).map(Some),
        Target::Forward(n) if here + n <= count => Ok(upto(here + n)),
        Target::Back(n) if *n <= here => Ok(upto(here - n)),
        _ => Err(Error::BadInput(format!(
            "cannot stamp {}: {here} of {count} migrations are applied",
            describe(target)
        ))),
    }
}

/// The plan of `stamp`: make the recorded set equal "everything up to `upto`".
pub fn stamp(
    set: &MigrationSet,
    state: &DbState,
    upto: Option<usize>,
    rules: StampRules,
) -> Result<Plan> {
    let wanted = |i: usize| upto.is_some_and(|u| i <= u);
    let mut steps = Vec::new();
    if rules.purge {
        for rec in state.records().filter(|r| set.get(&r.version).is_none()) {
            steps.push(Step {
                action: Action::Unrecord,
                version: rec.version.clone(),
                index: None,
            });
        }
    }
    for i in (0..set.migrations().len()).rev() {
        let rec = state.get(set.migrations()[i].version());
        if !wanted(i) && rec.is_some() {
            steps.push(step(set, Action::Unrecord, i));
        }
    }
    for (i, m) in set
        .migrations()
        .iter()
        .enumerate()
        .filter(|(i, _)| wanted(*i))
    {
        let rec = state.get(m.version());
        let action = match rec {
            Some(r) if r.applied && !r.dirty && r.checksum.is_some() => {
                if rules.rehash && r.checksum.as_deref() != Some(m.checksum()?.as_str()) {
                    Some(Action::Rehash)
                } else {
                    None
                }
            }
            Some(r) if r.applied && !r.dirty => Some(Action::Rehash),
            _ => Some(Action::Record),
        };
        steps.extend(action.map(|a| step(set, a, i)));
    }
    Ok(Plan { steps })
}

/// A human-readable name of a target for messages.
pub fn describe(target: &Target) -> String {
    match target {
        Target::Head => "head".into(),
        Target::Base => "base".into(),
        Target::Forward(n) => format!("+{n}"),
        Target::Back(n) => format!("-{n}"),
        Target::Rev(r) => r.clone(),
    }
}

/// Resolves one side of an offline `FROM:TO` range to "applied up to index" (`None` = base).
pub fn range_point(set: &MigrationSet, text: &str) -> Result<Option<usize>> {
    match text.parse::<Target>()? {
        Target::Base => Ok(None),
        Target::Head => Ok(set.migrations().len().checked_sub(1)),
        Target::Rev(rev) => resolve_rev(set, &rev).map(Some),
        other => Err(Error::BadInput(format!(
            "`{}` cannot be part of FROM:TO; use base, head or a revision",
            describe(&other)
        ))),
    }
}

/// The recorded state implied by "everything up to `upto` is applied", for offline plans.
pub fn assumed_state(set: &MigrationSet, upto: Option<usize>) -> DbState {
    let rows = set.migrations()[..upto.map_or(0, |u| u + 1)]
        .iter()
        .map(|m| crate::state::DieselRow {
            version: m.version().to_owned(),
            run_on: None,
        })
        .collect();
    DbState::from_rows(rows, Vec::new())
}
