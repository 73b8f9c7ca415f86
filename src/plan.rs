//! Where the plan is computed: targets, revision resolution, and the ordered list of steps
//! that `upgrade`, `downgrade` and `stamp` will execute or print.
//!
//! A plan is pure data computed from the migration set and the recorded state; the same
//! plan is either executed (`execute`) or rendered as SQL (`script`), so the two cannot
//! diverge. Each step carries the migration it acts on (a plan borrows its set), so no
//! consumer looks anything up by position.

use crate::error::{Error, Result};
use crate::source::{Migration, MigrationSet};
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

/// Resolves a revision: exact version, then unique version prefix, then name.
pub fn resolve_rev<'s>(set: &'s MigrationSet, rev: &str) -> Result<&'s Migration> {
    if let Some(m) = set.get(rev) {
        return Ok(m);
    }
    let by_prefix: Vec<&Migration> = set
        .migrations()
        .iter()
        .filter(|m| m.version().starts_with(rev))
        .collect();
    let found = if by_prefix.is_empty() {
        set.migrations()
            .iter()
            .filter(|m| m.name() == rev || m.dir_name() == rev)
            .collect()
    } else {
        by_prefix
    };
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::UnknownRevision {
            rev: rev.to_owned(),
            candidates: set.migrations().iter().map(label).collect(),
        }),
        many => Err(Error::AmbiguousRevision {
            rev: rev.to_owned(),
            candidates: many.iter().map(|m| label(m)).collect(),
        }),
    }
}

/// `version (name)`, for messages.
fn label(m: &Migration) -> String {
    format!("{} ({})", m.version(), m.name())
}

/// What a step does, for reports.
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

/// One step of a plan, with the migration it acts on.
#[derive(Debug, Clone)]
pub enum Step<'s> {
    /// Run `up.sql` and record the version.
    Apply(&'s Migration),
    /// Run `down.sql` and remove the record.
    Revert(&'s Migration),
    /// Record as applied without running SQL (stamp).
    Record(&'s Migration),
    /// Re-record the checksum of an applied migration (stamp --rehash).
    Rehash(&'s Migration),
    /// Remove the record of a version (stamp), which may be unknown to the set
    /// (`stamp --purge`).
    Unrecord(Recorded<'s>),
}

/// A recorded version, with its migration when the set has one.
#[derive(Debug, Clone)]
pub enum Recorded<'s> {
    /// A version of the set.
    Known(&'s Migration),
    /// A version the database records but no migration has.
    Unknown(String),
}

impl<'s> Step<'s> {
    /// What the step does.
    pub fn action(&self) -> Action {
        match self {
            Step::Apply(_) => Action::Apply,
            Step::Revert(_) => Action::Revert,
            Step::Record(_) => Action::Record,
            Step::Rehash(_) => Action::Rehash,
            Step::Unrecord(_) => Action::Unrecord,
        }
    }

    /// The migration it acts on; `None` for an unknown recorded version.
    pub fn migration(&self) -> Option<&'s Migration> {
        match self {
            Step::Apply(m) | Step::Revert(m) | Step::Record(m) | Step::Rehash(m) => Some(m),
            Step::Unrecord(Recorded::Known(m)) => Some(m),
            Step::Unrecord(Recorded::Unknown(_)) => None,
        }
    }

    /// The version it acts on.
    pub fn version(&self) -> &str {
        match self {
            Step::Unrecord(Recorded::Unknown(v)) => v,
            _ => self.migration().map_or("", Migration::version),
        }
    }

    /// The migration's name; empty for an unknown version.
    pub fn name(&self) -> &'s str {
        self.migration().map_or("", Migration::name)
    }
}

/// An ordered list of steps.
#[derive(Debug, Clone, Default)]
pub struct Plan<'s> {
    /// The steps, in execution order.
    pub steps: Vec<Step<'s>>,
}

impl Plan<'_> {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Checks the SQL every step would run, before anything runs: a missing `down.sql` or
    /// a refused statement (see `sql::forbidden`) stops a command, or a script, with
    /// nothing changed or printed, not half-way through.
    pub fn check_sql(&self) -> Result<()> {
        for step in &self.steps {
            match step {
                Step::Apply(m) => m.runnable_sql(true).map(drop)?,
                Step::Revert(m) => m.runnable_sql(false).map(drop)?,
                Step::Record(_) | Step::Rehash(_) | Step::Unrecord(_) => {}
            }
        }
        Ok(())
    }
}

/// Options that change what an upgrade may include.
#[derive(Debug, Clone, Copy, Default)]
pub struct UpgradeRules {
    /// Include pending migrations older than the newest applied one.
    pub allow_out_of_order: bool,
}

/// The pending migrations, in order.
fn pending<'s>(set: &'s MigrationSet, state: &DbState, rules: UpgradeRules) -> Vec<&'s Migration> {
    let newest = state.newest_applied().map(|r| r.version.as_str());
    set.migrations()
        .iter()
        .filter(|m| {
            let v = m.version();
            !state.is_applied(v) && (rules.allow_out_of_order || newest.is_none_or(|n| v > n))
        })
        .collect()
}

/// The plan of `upgrade TARGET`.
pub fn upgrade<'s>(
    set: &'s MigrationSet,
    state: &DbState,
    target: &Target,
    rules: UpgradeRules,
) -> Result<Plan<'s>> {
    let pending = pending(set, state, rules);
    let chosen: Vec<&Migration> = match target {
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
            let last = resolve_rev(set, rev)?.version();
            pending
                .into_iter()
                .filter(|m| m.version() <= last)
                .collect()
        }
        Target::Back(0) => Vec::new(),
        Target::Base | Target::Back(_) => {
            return Err(Error::BadInput(format!(
                "upgrade cannot go to {target}; use `haven-migrate downgrade` to revert"
            )))
        }
    };
    Ok(Plan {
        steps: chosen.into_iter().map(Step::Apply).collect(),
    })
}

/// The applied migrations known to the set, newest first.
fn applied_newest_first<'s>(set: &'s MigrationSet, state: &DbState) -> Vec<&'s Migration> {
    let mut applied: Vec<&Migration> = state
        .applied()
        .filter_map(|r| set.get(&r.version))
        .collect();
    applied.reverse();
    applied
}

/// The plan of `downgrade TARGET`: revert every applied migration newer than the target.
pub fn downgrade<'s>(set: &'s MigrationSet, state: &DbState, target: &Target) -> Result<Plan<'s>> {
    let applied = applied_newest_first(set, state);
    let chosen: Vec<&Migration> = match target {
        Target::Base => applied,
        Target::Back(n) if *n > applied.len() => {
            return Err(Error::BadInput(format!(
                "cannot downgrade -{n}: only {} migration(s) are applied",
                applied.len()
            )))
        }
        Target::Back(n) => applied.into_iter().take(*n).collect(),
        Target::Forward(0) => Vec::new(),
        Target::Head => match set.head() {
            Some(head) => keep_through(state, applied, head)?,
            None => Vec::new(),
        },
        Target::Rev(rev) => keep_through(state, applied, resolve_rev(set, rev)?)?,
        Target::Forward(_) => {
            return Err(Error::BadInput(format!(
                "downgrade cannot go to {target}; use `haven-migrate upgrade`"
            )))
        }
    };
    Ok(Plan {
        steps: chosen.into_iter().map(Step::Revert).collect(),
    })
}

/// The applied migrations newer than `keep`, which must itself be applied.
fn keep_through<'s>(
    state: &DbState,
    applied: Vec<&'s Migration>,
    keep: &Migration,
) -> Result<Vec<&'s Migration>> {
    if !state.is_applied(keep.version()) {
        return Err(Error::BadInput(format!(
            "cannot downgrade to {}: it is not applied, so there is nothing to keep; \
             see `haven-migrate history`, or use `downgrade base`",
            label(keep)
        )));
    }
    Ok(applied
        .into_iter()
        .filter(|m| m.version() > keep.version())
        .collect())
}

/// Options of `stamp`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StampRules {
    /// Also remove records unknown to the migration set.
    pub purge: bool,
    /// Re-record the checksums of applied migrations whose file changed.
    pub rehash: bool,
}

/// How many migrations of the set are applied up to the newest applied one.
fn applied_count(set: &MigrationSet, state: &DbState) -> usize {
    state
        .applied()
        .filter_map(|r| set.position(&r.version))
        .max()
        .map_or(0, |p| p + 1)
}

/// Resolves a target to "everything up to this migration" (`None` = base) for `stamp`.
pub fn stamp_target<'s>(
    set: &'s MigrationSet,
    state: &DbState,
    target: &Target,
) -> Result<Option<&'s Migration>> {
    let count = set.migrations().len();
    let here = applied_count(set, state);
    let upto = |n: usize| n.checked_sub(1).and_then(|i| set.migrations().get(i));
    match target {
        Target::Head => Ok(set.head()),
        Target::Base => Ok(None),
        Target::Rev(rev) => resolve_rev(set, rev).map(Some),
        Target::Forward(n) if here + n <= count => Ok(upto(here + n)),
        Target::Back(n) if *n <= here => Ok(upto(here - n)),
        _ => Err(Error::BadInput(format!(
            "cannot stamp {target}: {here} of {count} migrations are applied"
        ))),
    }
}

/// The plan of `stamp`: make the recorded set equal "everything up to `upto`".
pub fn stamp<'s>(
    set: &'s MigrationSet,
    state: &DbState,
    upto: Option<&Migration>,
    rules: StampRules,
) -> Result<Plan<'s>> {
    let wanted = |m: &Migration| upto.is_some_and(|u| m.version() <= u.version());
    let mut steps = Vec::new();
    if rules.purge {
        let unknown = state.records().filter(|r| set.get(&r.version).is_none());
        steps.extend(unknown.map(|r| Step::Unrecord(Recorded::Unknown(r.version.clone()))));
    }
    for m in set.migrations().iter().rev() {
        if !wanted(m) && state.get(m.version()).is_some() {
            steps.push(Step::Unrecord(Recorded::Known(m)));
        }
    }
    for m in set.migrations().iter().filter(|m| wanted(m)) {
        if let Some(step) = stamp_step(m, state, rules)? {
            steps.push(step);
        }
    }
    Ok(Plan { steps })
}

/// What stamping `m` as applied takes: nothing when it is recorded with the right checksum.
fn stamp_step<'s>(
    m: &'s Migration,
    state: &DbState,
    rules: StampRules,
) -> Result<Option<Step<'s>>> {
    Ok(match state.get(m.version()) {
        Some(r) if r.applied && !r.dirty => match r.checksum.as_deref() {
            // Applied by another tool: record the checksum it lacks.
            None => Some(Step::Rehash(m)),
            Some(stored) if rules.rehash && stored != m.checksum() => Some(Step::Rehash(m)),
            Some(_) => None,
        },
        _ => Some(Step::Record(m)),
    })
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Head => f.write_str("head"),
            Target::Base => f.write_str("base"),
            Target::Forward(n) => write!(f, "+{n}"),
            Target::Back(n) => write!(f, "-{n}"),
            Target::Rev(r) => f.write_str(r),
        }
    }
}

/// Resolves one side of an offline `FROM:TO` range to "applied up to this migration"
/// (`None` = base).
pub fn range_point<'s>(set: &'s MigrationSet, text: &str) -> Result<Option<&'s Migration>> {
    match text.parse::<Target>()? {
        Target::Base => Ok(None),
        Target::Head => Ok(set.head()),
        Target::Rev(rev) => resolve_rev(set, &rev).map(Some),
        other => Err(Error::BadInput(format!(
            "`{other}` cannot be part of FROM:TO; use base, head or a revision"
        ))),
    }
}

/// The recorded state implied by "everything up to `upto` is applied", for offline plans.
pub fn assumed_state(set: &MigrationSet, upto: Option<&Migration>) -> DbState {
    let rows = set
        .migrations()
        .iter()
        .filter(|m| upto.is_some_and(|u| m.version() <= u.version()))
        .map(|m| crate::state::DieselRow {
            version: m.version().to_owned(),
            run_on: None,
        })
        .collect();
    DbState::from_rows(rows, Vec::new())
}
