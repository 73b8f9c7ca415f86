//! What the database records beside the migrations, as the status commands (`current`,
//! `history`, `check`) and every write command report it: one row per migration, the
//! current and head versions, and the problems.

use crate::check::{Problem, ProblemKind};
use crate::error::{Error, Result};
use crate::plan;
use crate::source::{Entry, Listing, Migration, MigrationSet};
use crate::state::{DbState, Recorded};

/// One migration as `history`, `current` and the JSON output show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationRow {
    /// The version.
    pub version: String,
    /// The name; empty for a version that no migration has.
    pub name: String,
    /// Whether diesel records it as applied.
    pub applied: bool,
    /// When it was applied, to the second.
    pub run_on: Option<String>,
    /// `true`: matches; `false`: edited; `None`: not applied, not recorded, or not checked.
    pub checksum_ok: Option<bool>,
    /// An interrupted non-transactional migration left its marker.
    pub dirty: bool,
    /// `false` for a version the database records but no migration has.
    pub known: bool,
    /// Whether it runs in a transaction (`None` when its files were not read: `current`).
    pub transactional: Option<bool>,
    /// Whether it has a `down.sql` (`None` when it was not read: `current`, and write
    /// commands for the migrations they do not revert).
    pub has_down: Option<bool>,
    /// Its directory, when on disk.
    pub path: Option<String>,
}

/// The status of a database against its migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Where the migrations were read from.
    pub source: String,
    /// The newest applied version.
    pub current: Option<String>,
    /// The name of `current`, when a migration has that version.
    pub current_name: Option<String>,
    /// The newest migration.
    pub head: Option<String>,
    /// The name of `head`.
    pub head_name: Option<String>,
    /// Whether nothing is pending and `current` is `head`.
    pub at_head: bool,
    /// How many migrations are not applied.
    pub pending: usize,
    /// One row per migration, and per recorded version that no migration has.
    pub migrations: Vec<MigrationRow>,
    /// Errors and warnings.
    pub problems: Vec<Problem>,
}

impl Status {
    /// The status of `state` against a listing (names only: `current`), with a row per
    /// migration when `rows`.
    pub(crate) fn of_listing(
        listing: &Listing,
        state: &DbState,
        problems: Vec<Problem>,
        rows: bool,
    ) -> Self {
        let rows = rows.then(|| {
            listing
                .entries()
                .iter()
                .map(|e| row(e, None, state.get(e.version()), &problems, listing))
                .collect()
        });
        Self::build(listing, state, problems, rows)
    }

    /// The status of `state` against a set whose files were read.
    pub(crate) fn of_set(set: &MigrationSet, state: &DbState, problems: Vec<Problem>) -> Self {
        let listing = set.listing();
        let rows = set
            .migrations()
            .iter()
            .map(|m| {
                row(
                    m.entry(),
                    Some(m),
                    state.get(m.version()),
                    &problems,
                    listing,
                )
            })
            .collect();
        Self::build(listing, state, problems, Some(rows))
    }

    /// The status, with `rows` (a row per listed migration, `None` for none at all) and a
    /// row per recorded version that no migration has.
    fn build(
        listing: &Listing,
        state: &DbState,
        problems: Vec<Problem>,
        rows: Option<Vec<MigrationRow>>,
    ) -> Self {
        let rows = rows.map_or_else(Vec::new, |mut rows| {
            rows.extend(
                state
                    .records()
                    .filter(|r| listing.get(&r.version).is_none())
                    .map(unknown_row),
            );
            rows.sort_by(|a, b| a.version.cmp(&b.version));
            rows
        });
        let pending = listing
            .entries()
            .iter()
            .filter(|e| !state.is_applied(e.version()))
            .count();
        let current = state.newest_applied().map(|r| r.version.clone());
        let head = listing.head().map(|e| e.version().to_owned());
        let name = |v: &Option<String>| {
            v.as_deref()
                .and_then(|v| listing.get(v))
                .map(|e| e.name().to_owned())
        };
        Status {
            source: listing.origin().to_string(),
            current_name: name(&current),
            head_name: name(&head),
            // Not at head when the newest applied version is one that no migration has.
            at_head: pending == 0 && current == head,
            current,
            head,
            pending,
            migrations: rows,
            problems,
        }
    }

    /// Keeps the rows of `START:END` (inclusive; either side may be empty), as
    /// `history -r` asks.
    pub(crate) fn keep_range(&mut self, set: &MigrationSet, range: &str) -> Result<()> {
        let (start, end) = range.split_once(':').ok_or_else(|| {
            Error::BadInput(format!(
                "-r takes START:END (either side may be empty), not `{range}`"
            ))
        })?;
        let bound = |text: &str| -> Result<Option<String>> {
            if text.is_empty() {
                return Ok(None);
            }
            Ok(plan::range_point(set, text)?.map(|m| m.version().to_owned()))
        };
        let (lo, hi) = (bound(start)?, bound(end)?);
        // `END` = base: nothing is at or before base.
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
        self.migrations.retain(|r| {
            lo.as_ref().is_none_or(|lo| r.version >= *lo)
                && hi.as_ref().is_none_or(|hi| r.version <= *hi)
                && !base_end
        });
        Ok(())
    }
}

/// `2026-11-24 07:53:25`: a timestamp to the second. Display of a value without fraction
/// is much cheaper than a strftime pattern, which shows with thousands of rows.
fn seconds(t: chrono::NaiveDateTime) -> String {
    use chrono::Timelike;
    t.with_nanosecond(0).unwrap_or(t).to_string()
}

/// The row of a listed migration (`files`: its files, when they were read).
fn row(
    entry: &Entry,
    files: Option<&Migration>,
    rec: Option<&Recorded>,
    problems: &[Problem],
    listing: &Listing,
) -> MigrationRow {
    let applied = rec.is_some_and(|r| r.applied);
    let edited = problems
        .iter()
        .any(|p| p.kind == ProblemKind::Edited && p.version == entry.version());
    let checksum_ok = match rec {
        Some(r) if applied && r.checksum.is_some() && files.is_some() => Some(!edited),
        _ => None,
    };
    let path = listing
        .origin()
        .dir()
        .map(|d| d.join(entry.dir_name()).display().to_string());
    MigrationRow {
        version: entry.version().to_owned(),
        name: entry.name().to_owned(),
        applied,
        run_on: rec.and_then(|r| r.run_on).map(seconds),
        checksum_ok,
        dirty: rec.is_some_and(|r| r.dirty),
        known: true,
        transactional: files.map(Migration::run_in_transaction),
        has_down: files.and_then(Migration::has_down_if_read),
        path,
    }
}

/// The row of a recorded version that no migration has.
fn unknown_row(rec: &Recorded) -> MigrationRow {
    MigrationRow {
        version: rec.version.clone(),
        name: String::new(),
        applied: rec.applied,
        run_on: rec.run_on.map(seconds),
        checksum_ok: None,
        dirty: rec.dirty,
        known: false,
        transactional: None,
        has_down: None,
        path: None,
    }
}
