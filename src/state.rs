//! What the database has recorded: diesel's `__diesel_schema_migrations` joined with the
//! tool's side table `__haven_migrations` (checksum, duration, dirty marker).
//!
//! Reading never writes: a missing table means "nothing recorded".

use std::collections::BTreeMap;

use chrono::NaiveDateTime;

/// One version as the database records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The migration version.
    pub version: String,
    /// Whether diesel's table lists it (that is, it counts as applied).
    pub applied: bool,
    /// diesel's `run_on`, when applied.
    pub run_on: Option<NaiveDateTime>,
    /// The stored checksum of `up.sql`; `None` when applied by another tool (unverified).
    pub checksum: Option<String>,
    /// An interrupted non-transactional migration left its marker.
    pub dirty: bool,
    /// What the interrupted migration was doing, when its marker says (markers written
    /// before the side table had the column do not).
    pub dirty_action: Option<DirtyAction>,
    /// How long it took to apply, in milliseconds.
    pub duration_ms: Option<i64>,
}

/// What an interrupted migration was doing, as its dirty marker records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirtyAction {
    /// Applying its `up.sql`.
    Applying,
    /// Reverting it with its `down.sql`.
    Reverting,
}

impl DirtyAction {
    /// The value stored in the side table's `dirty_action` column.
    pub fn as_sql(self) -> &'static str {
        match self {
            DirtyAction::Applying => "apply",
            DirtyAction::Reverting => "revert",
        }
    }

    /// The stored value, read back.
    pub fn from_sql(text: &str) -> Option<Self> {
        match text {
            "apply" => Some(DirtyAction::Applying),
            "revert" => Some(DirtyAction::Reverting),
            _ => None,
        }
    }
}

/// The layout of the side table `__haven_migrations`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SideLayout {
    /// There is none yet.
    #[default]
    Missing,
    /// Made by an older haven-migrate: no `dirty_action` column. Write commands add it.
    /// Told on SQLite only: PostgreSQL adds the column "if not exists" and reads it either
    /// way, so it does not look, and calls any side table `Current`.
    WithoutDirection,
    /// This version's.
    Current,
}

/// The recorded state of a database.
#[derive(Debug, Clone, Default)]
pub struct DbState {
    rows: BTreeMap<String, Recorded>,
    /// The side table's layout.
    pub side_layout: SideLayout,
}

/// A row of diesel's table, as loaded.
#[derive(Debug, Clone)]
pub struct DieselRow {
    /// The version.
    pub version: String,
    /// When it was applied.
    pub run_on: Option<NaiveDateTime>,
}

/// A row of the side table, as loaded.
#[derive(Debug, Clone)]
pub struct SideRow {
    /// The version.
    pub version: String,
    /// The checksum recorded.
    pub checksum: Option<String>,
    /// The dirty marker.
    pub dirty: bool,
    /// What the marked migration was doing.
    pub dirty_action: Option<DirtyAction>,
    /// The duration recorded.
    pub duration_ms: Option<i64>,
}

impl DbState {
    /// Builds the state from the rows of both tables.
    pub fn from_rows(diesel: Vec<DieselRow>, side: Vec<SideRow>) -> Self {
        let mut rows: BTreeMap<String, Recorded> = BTreeMap::new();
        for row in diesel {
            let entry = rows.entry(row.version.clone()).or_default();
            entry.version = row.version;
            entry.applied = true;
            entry.run_on = row.run_on;
        }
        for row in side {
            let entry = rows.entry(row.version.clone()).or_default();
            entry.version = row.version;
            entry.checksum = row.checksum;
            entry.dirty = row.dirty;
            entry.dirty_action = row.dirty_action;
            entry.duration_ms = row.duration_ms;
        }
        DbState {
            rows,
            side_layout: SideLayout::Current,
        }
    }

    /// The state of a database that has recorded nothing (no tables).
    pub fn empty() -> Self {
        DbState::default()
    }

    /// The record of a version, if any.
    pub fn get(&self, version: &str) -> Option<&Recorded> {
        self.rows.get(version)
    }

    /// Whether diesel counts `version` as applied.
    pub fn is_applied(&self, version: &str) -> bool {
        self.rows.get(version).is_some_and(|r| r.applied)
    }

    /// Every record, oldest version first.
    pub fn records(&self) -> impl Iterator<Item = &Recorded> {
        self.rows.values()
    }

    /// The applied versions, oldest first.
    pub fn applied(&self) -> impl Iterator<Item = &Recorded> {
        self.rows.values().filter(|r| r.applied)
    }

    /// The newest applied version.
    pub fn newest_applied(&self) -> Option<&Recorded> {
        self.rows.values().rev().find(|r| r.applied)
    }
}
