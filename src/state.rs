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
    /// How long it took to apply, in milliseconds.
    pub duration_ms: Option<i64>,
}

/// The recorded state of a database.
#[derive(Debug, Clone, Default)]
pub struct DbState {
    rows: BTreeMap<String, Recorded>,
    /// Whether `__diesel_schema_migrations` exists.
    pub has_diesel_table: bool,
    /// Whether `__haven_migrations` exists.
    pub has_side_table: bool,
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
            entry.duration_ms = row.duration_ms;
        }
        DbState {
            rows,
            has_diesel_table: true,
            has_side_table: true,
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
