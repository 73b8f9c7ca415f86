//! The SQL text of the bookkeeping statements, shared by execution and `--sql` scripts.
//!
//! diesel's `__diesel_schema_migrations` (version, run_on) stays the source of truth, so the
//! diesel CLI and haven-migrate always agree. `__haven_migrations` holds what diesel has no
//! room for: the checksum, duration, tool version and the dirty marker. Its leading `__`
//! keeps `diesel print-schema` from listing it. Values are inlined as literals: versions are
//! digits, checksums hex, and names are quoted, so the same text serves both backends.

use crate::plan::Step;
use crate::source::Migration;
use crate::state::{DirtyAction, SideLayout};

/// diesel's own definition of its table, byte for byte (diesel/src/migration/setup_migration_table.sql).
pub const DIESEL_TABLE_DDL: &str = "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
       version VARCHAR(50) PRIMARY KEY NOT NULL,
       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);";

/// The side table; the same DDL works on PostgreSQL and SQLite. `dirty_action` (`apply` or
/// `revert`) says what an interrupted migration was doing; it came after the other columns,
/// and [`setup_sql`] adds it to a side table made before it.
pub const SIDE_TABLE_DDL: &str = "CREATE TABLE IF NOT EXISTS __haven_migrations (
       version VARCHAR(50) PRIMARY KEY NOT NULL,
       name TEXT NOT NULL,
       checksum VARCHAR(64),
       dirty BOOLEAN NOT NULL DEFAULT FALSE,
       duration_ms BIGINT,
       tool_version TEXT NOT NULL,
       recorded_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
       dirty_action VARCHAR(10)
);";

/// The version of this tool, recorded with every row.
pub const TOOL_VERSION: &str = concat!("haven-migrate ", env!("CARGO_PKG_VERSION"));

/// SQL that undoes a migration's session changes (`SET search_path`, `SET ROLE`, ...)
/// before the bookkeeping runs and the next migration starts. `RESET ALL` leaves the role
/// alone (it is `GUC_NO_RESET_ALL`), hence `RESET ROLE`. SQLite has no such state.
pub const fn reset_session(backend: crate::url::Backend) -> &'static str {
    match backend {
        crate::url::Backend::Postgres => "RESET ALL; RESET ROLE;",
        crate::url::Backend::Sqlite => "",
    }
}

/// Quotes a string literal for SQL (standard `''` doubling, valid on both backends). It is
/// written where it is formatted, without a string of its own: a script of thousands of
/// migrations formats several per migration.
pub fn literal(text: &str) -> Literal<'_> {
    Literal(text)
}

/// A string quoted as an SQL literal when displayed; see [`literal`].
#[derive(Debug, Clone, Copy)]
pub struct Literal<'a>(&'a str);

impl std::fmt::Display for Literal<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        f.write_char('\'')?;
        for (i, part) in self.0.split('\'').enumerate() {
            if i > 0 {
                f.write_str("''")?;
            }
            f.write_str(part)?;
        }
        f.write_char('\'')
    }
}

/// Records `version` in diesel's table (idempotent).
pub fn insert_diesel_row(version: &str) -> String {
    format!(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ({}) ON CONFLICT DO NOTHING;",
        literal(version)
    )
}

/// Removes `version` from diesel's table.
pub fn delete_diesel_row(version: &str) -> String {
    format!(
        "DELETE FROM __diesel_schema_migrations WHERE version = {};",
        literal(version)
    )
}

/// The duration written in a side-table row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elapsed<'a> {
    /// Not known (`NULL`): a dirty marker, a stamp, or a `--sql` script.
    Unknown,
    /// Measured by the tool, in milliseconds.
    Millis(u128),
    /// Measured by the database: an SQL expression giving milliseconds.
    Sql(&'a str),
}

/// Writes the side-table row of a migration: its checksum, dirty marker (`Some`: what the
/// migration is about to do) and duration.
pub fn upsert_side_row(
    migration: &Migration,
    dirty: Option<DirtyAction>,
    elapsed: Elapsed<'_>,
) -> String {
    let duration: &dyn std::fmt::Display = match &elapsed {
        Elapsed::Unknown => &"NULL",
        Elapsed::Millis(ms) => ms,
        Elapsed::Sql(expr) => expr,
    };
    let action = dirty.map_or_else(|| "NULL".to_owned(), |a| literal(a.as_sql()).to_string());
    format!(
        "INSERT INTO __haven_migrations (version, name, checksum, dirty, dirty_action, \
         duration_ms, tool_version) \
         VALUES ({v}, {n}, {c}, {d}, {action}, {duration}, {t}) ON CONFLICT (version) DO UPDATE SET \
         name = excluded.name, checksum = excluded.checksum, dirty = excluded.dirty, \
         dirty_action = excluded.dirty_action, duration_ms = excluded.duration_ms, \
         tool_version = excluded.tool_version, recorded_at = CURRENT_TIMESTAMP;",
        v = literal(migration.version()),
        n = literal(migration.name()),
        c = literal(migration.checksum()),
        d = if dirty.is_some() { "TRUE" } else { "FALSE" },
        t = literal(TOOL_VERSION),
    )
}

/// Removes the side-table row of `version`.
pub fn delete_side_row(version: &str) -> String {
    format!(
        "DELETE FROM __haven_migrations WHERE version = {};",
        literal(version)
    )
}

/// Both bookkeeping tables, created if missing, with an older side table (`layout`)
/// brought to this version's. PostgreSQL adds the column if it is missing, whatever
/// `layout` says; SQLite cannot say "if missing", so `layout` decides.
pub fn setup_sql(backend: crate::url::Backend, layout: SideLayout) -> String {
    let upgrade = match (backend, layout) {
        (crate::url::Backend::Postgres, _) => {
            "\nALTER TABLE __haven_migrations ADD COLUMN IF NOT EXISTS dirty_action VARCHAR(10);"
        }
        (crate::url::Backend::Sqlite, SideLayout::WithoutDirection) => {
            "\nALTER TABLE __haven_migrations ADD COLUMN dirty_action VARCHAR(10);"
        }
        (crate::url::Backend::Sqlite, _) => "",
    };
    format!("{DIESEL_TABLE_DDL}\n{SIDE_TABLE_DDL}{upgrade}")
}

/// The bookkeeping of applying or reverting one migration, built once per step.
///
/// Execution and `--sql` scripts write it in the same order: the `marker` (a
/// non-transactional migration only) before the migration's SQL, outside any transaction;
/// then, in the migration's transaction (or in one of their own, for a non-transactional
/// migration), the session reset and [`StepSql::end`]: the side table's row and diesel's.
#[derive(Debug, Clone)]
pub struct StepSql<'m> {
    migration: &'m Migration,
    apply: bool,
}

impl<'m> StepSql<'m> {
    /// The bookkeeping of applying (`apply`) or reverting `migration`.
    pub fn new(migration: &'m Migration, apply: bool) -> Self {
        StepSql { migration, apply }
    }

    /// The dirty marker written before a non-transactional migration's SQL, so that a crash
    /// anywhere before [`StepSql::end`] is seen, with its direction; `None` for a
    /// transactional one, which leaves no trace when it fails.
    pub fn marker(&self) -> Option<String> {
        let action = if self.apply {
            DirtyAction::Applying
        } else {
            DirtyAction::Reverting
        };
        (!self.migration.run_in_transaction())
            .then(|| upsert_side_row(self.migration, Some(action), Elapsed::Unknown))
    }

    /// The rows at the end of the step: the side table's (written with its duration, or
    /// deleted, which also clears a marker), then diesel's.
    pub fn end(&self, elapsed: Elapsed<'_>) -> String {
        let version = self.migration.version();
        if self.apply {
            format!(
                "{}\n{}",
                upsert_side_row(self.migration, None, elapsed),
                insert_diesel_row(version)
            )
        } else {
            format!(
                "{}\n{}",
                delete_side_row(version),
                delete_diesel_row(version)
            )
        }
    }
}

/// The statements of a `stamp` step: record (diesel's row and the side table's, with the
/// checksum), rehash (the side table's row only), or unrecord (both rows go).
pub fn stamp_sql(step: &Step<'_>) -> String {
    match *step {
        Step::Record(m) => format!(
            "{}\n{}",
            insert_diesel_row(m.version()),
            upsert_side_row(m, None, Elapsed::Unknown)
        ),
        Step::Rehash(m) => upsert_side_row(m, None, Elapsed::Unknown),
        Step::Unrecord(_) | Step::Apply(_) | Step::Revert(_) => format!(
            "{}\n{}",
            delete_diesel_row(step.version()),
            delete_side_row(step.version())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::literal;

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("bench").to_string(), "'bench'");
        assert_eq!(literal("").to_string(), "''");
        assert_eq!(literal("it's").to_string(), "'it''s'");
        assert_eq!(literal("'").to_string(), "''''");
        assert_eq!(literal("a''b'").to_string(), "'a''''b'''");
    }
}
