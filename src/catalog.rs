//! Snapshots of a database's catalog, to compare schemas.
//!
//! Two views of a schema, both plain sorted values that compare with `==`:
//!
//! - [`CatalogSnapshot`]: every object of one backend with its full definition, as the
//!   server itself prints it (`pg_get_constraintdef`, `pg_get_indexdef`, SQLite's stored
//!   `CREATE` text, ...). Taken before an `up.sql` and after its `down.sql`, two snapshots
//!   must be equal: that is how `verify` and the tests prove a migration reverts exactly.
//!   [`CatalogSnapshot::differences`] says what differs, one readable line per object.
//! - [`StructureSummary`]: the backend-neutral shape (tables, columns with nullability and
//!   primary key, foreign keys with their `ON DELETE`), so that the PostgreSQL and the
//!   SQLite migration sets can be compared with each other.
//!
//! The bookkeeping tables ([`BOOKKEEPING_TABLES`]) and everything attached to them are
//! left out: they belong to the migration tools, not to the schema.
//!
//! Everything here only reads the catalog, and reports failures as `diesel::QueryResult`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Tables that record migrations rather than belong to the schema: Diesel's own and the
/// side table of `haven-migrate`. Snapshots and summaries leave them out.
pub const BOOKKEEPING_TABLES: [&str; 2] = ["__diesel_schema_migrations", "__haven_migrations"];

/// Whether `table` is one of the [`BOOKKEEPING_TABLES`].
pub fn is_bookkeeping_table(table: &str) -> bool {
    BOOKKEEPING_TABLES.contains(&table)
}

/// The kind of a catalog object; the first part of a [`CatalogSnapshot`] key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// An installed extension (PostgreSQL).
    Extension,
    /// A user-defined type: enum, domain, composite, range (PostgreSQL).
    Type,
    /// A function or procedure (PostgreSQL).
    Function,
    /// A sequence, identity sequences included (PostgreSQL).
    Sequence,
    /// A table.
    Table,
    /// A view or materialized view.
    View,
    /// A column of a table or view; named `table.column`.
    Column,
    /// A table constraint (PostgreSQL); named `table.constraint`.
    Constraint,
    /// A foreign key as SQLite reports it; named `table.(columns)`.
    ForeignKey,
    /// An index; named `table.index`.
    Index,
    /// A trigger; named `table.trigger`.
    Trigger,
}

impl ObjectKind {
    /// The kind as a lowercase word, as used in [`CatalogSnapshot::differences`].
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Extension => "extension",
            ObjectKind::Type => "type",
            ObjectKind::Function => "function",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
            ObjectKind::Column => "column",
            ObjectKind::Constraint => "constraint",
            ObjectKind::ForeignKey => "foreign key",
            ObjectKind::Index => "index",
            ObjectKind::Trigger => "trigger",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every object of a database schema with its definition, sorted by kind and name.
///
/// Equal snapshots mean equal schemas, as far as the catalog queries see: two databases,
/// or one database before a migration's `up.sql` and after its `down.sql`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogSnapshot {
    entries: BTreeMap<(ObjectKind, String), String>,
}

impl CatalogSnapshot {
    /// An empty snapshot: the state of a database without any schema object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one object; a later insert of the same kind and name replaces it.
    pub fn insert(
        &mut self,
        kind: ObjectKind,
        name: impl Into<String>,
        definition: impl Into<String>,
    ) {
        self.entries.insert((kind, name.into()), definition.into());
    }

    /// The definition of an object, if the snapshot has it.
    pub fn get(&self, kind: ObjectKind, name: &str) -> Option<&str> {
        self.entries
            .get(&(kind, name.to_owned()))
            .map(String::as_str)
    }

    /// Every object as `(kind, name, definition)`, sorted by kind, then name.
    pub fn iter(&self) -> impl Iterator<Item = (ObjectKind, &str, &str)> {
        self.entries
            .iter()
            .map(|((kind, name), def)| (*kind, name.as_str(), def.as_str()))
    }

    /// The same snapshot without column positions (`#3 text` becomes `text`): for a
    /// `down.sql` that re-adds a dropped column, which PostgreSQL can only append.
    pub fn without_column_positions(&self) -> CatalogSnapshot {
        let mut out = self.clone();
        for ((kind, _), definition) in out.entries.iter_mut() {
            let position = definition
                .split_once(' ')
                .filter(|(position, _)| position.starts_with('#'));
            if let (ObjectKind::Column, Some((_, rest))) = (kind, position) {
                *definition = rest.to_owned();
            }
        }
        out
    }

    /// The number of objects.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the schema has no object at all (bookkeeping tables aside).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The names of the tables, sorted.
    pub fn tables(&self) -> Vec<&str> {
        self.names(ObjectKind::Table)
    }

    /// The names of the objects of one kind, sorted.
    pub fn names(&self, kind: ObjectKind) -> Vec<&str> {
        self.iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, name, _)| name)
            .collect()
    }

    /// What differs from `self` (the expected state, say before a migration) to `other`
    /// (the actual state, say after its up and down), one line per object:
    ///
    /// - `index users.users_email_key: missing (was: CREATE UNIQUE INDEX ...)`
    /// - `table audit_log: unexpected (table)`
    /// - `column users.email: was `#3 text`, now `#3 text NOT NULL``
    ///
    /// Empty exactly when the snapshots are equal.
    pub fn differences(&self, other: &CatalogSnapshot) -> Vec<String> {
        diff_maps(&self.entries, &other.entries)
    }
}

/// The lines of [`CatalogSnapshot::differences`] for any two sorted maps.
fn diff_maps(
    before: &BTreeMap<(ObjectKind, String), String>,
    after: &BTreeMap<(ObjectKind, String), String>,
) -> Vec<String> {
    let keys: BTreeSet<&(ObjectKind, String)> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (kind, name) = key;
            match (before.get(key), after.get(key)) {
                (Some(was), None) => {
                    Some(format!("{kind} {name}: missing (was: {})", one_line(was)))
                }
                (None, Some(now)) => Some(format!("{kind} {name}: unexpected ({})", one_line(now))),
                (Some(was), Some(now)) if was != now => Some(format!(
                    "{kind} {name}: was `{}`, now `{}`",
                    one_line(was),
                    one_line(now)
                )),
                _ => None,
            }
        })
        .collect()
}

/// Collapses whitespace runs, so that multi-line definitions fit on one report line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a foreign key does when its referenced row is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReferentialAction {
    /// `NO ACTION`: refused at the end of the statement (the default).
    NoAction,
    /// `RESTRICT`: refused at once.
    Restrict,
    /// `CASCADE`: the referencing rows are deleted too.
    Cascade,
    /// `SET NULL`: the referencing columns become NULL.
    SetNull,
    /// `SET DEFAULT`: the referencing columns get their defaults.
    SetDefault,
}

impl ReferentialAction {
    /// The SQL words, such as `SET NULL`.
    pub fn as_sql(self) -> &'static str {
        match self {
            ReferentialAction::NoAction => "NO ACTION",
            ReferentialAction::Restrict => "RESTRICT",
            ReferentialAction::Cascade => "CASCADE",
            ReferentialAction::SetNull => "SET NULL",
            ReferentialAction::SetDefault => "SET DEFAULT",
        }
    }

    /// Parses the SQL words (as SQLite's `foreign_key_list` reports them).
    pub fn from_sql(words: &str) -> Option<Self> {
        let all = [
            ReferentialAction::NoAction,
            ReferentialAction::Restrict,
            ReferentialAction::Cascade,
            ReferentialAction::SetNull,
            ReferentialAction::SetDefault,
        ];
        all.into_iter()
            .find(|a| a.as_sql().eq_ignore_ascii_case(words.trim()))
    }

    /// Parses PostgreSQL's one-letter code (`pg_constraint.confdeltype`).
    pub fn from_pg_code(code: &str) -> Option<Self> {
        match code {
            "a" => Some(ReferentialAction::NoAction),
            "r" => Some(ReferentialAction::Restrict),
            "c" => Some(ReferentialAction::Cascade),
            "n" => Some(ReferentialAction::SetNull),
            "d" => Some(ReferentialAction::SetDefault),
            _ => None,
        }
    }
}

impl fmt::Display for ReferentialAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_sql())
    }
}

/// The backend-neutral shape of a schema: what both migration sets must agree on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StructureSummary {
    /// Every table (bookkeeping aside), by name.
    pub tables: BTreeMap<String, TableStructure>,
}

/// The shape of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableStructure {
    /// The columns, in table order.
    pub columns: Vec<ColumnStructure>,
    /// The foreign keys, sorted.
    pub foreign_keys: BTreeSet<ForeignKeyStructure>,
}

/// The shape of one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnStructure {
    /// The column name.
    pub name: String,
    /// Whether it accepts NULL.
    pub nullable: bool,
    /// Whether it is part of the primary key.
    pub primary_key: bool,
}

/// One foreign key: `columns` reference `referenced_table (referenced_columns)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKeyStructure {
    /// The referencing columns, in key order.
    pub columns: Vec<String>,
    /// The referenced table.
    pub referenced_table: String,
    /// The referenced columns, in key order.
    pub referenced_columns: Vec<String>,
    /// What happens when the referenced row is deleted.
    pub on_delete: ReferentialAction,
}

impl fmt::Display for ForeignKeyStructure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({}) REFERENCES {} ({}) ON DELETE {}",
            self.columns.join(", "),
            self.referenced_table,
            self.referenced_columns.join(", "),
            self.on_delete
        )
    }
}

impl StructureSummary {
    /// The table names, sorted.
    pub fn table_names(&self) -> Vec<&str> {
        self.tables.keys().map(String::as_str).collect()
    }

    /// What differs from `self` to `other`, one line per table, column or foreign key,
    /// in the format of [`CatalogSnapshot::differences`]. Empty exactly when equal.
    pub fn differences(&self, other: &StructureSummary) -> Vec<String> {
        diff_maps(&self.entries(), &other.entries())
    }

    /// The summary flattened into catalog-style entries, for [`Self::differences`].
    fn entries(&self) -> BTreeMap<(ObjectKind, String), String> {
        let mut entries = BTreeMap::new();
        for (table, structure) in &self.tables {
            entries.insert((ObjectKind::Table, table.clone()), "table".to_owned());
            for (position, column) in structure.columns.iter().enumerate() {
                let definition = format!(
                    "#{}{}{}",
                    position + 1,
                    if column.nullable {
                        " NULL"
                    } else {
                        " NOT NULL"
                    },
                    if column.primary_key {
                        " PRIMARY KEY"
                    } else {
                        ""
                    }
                );
                entries.insert(
                    (ObjectKind::Column, format!("{table}.{}", column.name)),
                    definition,
                );
            }
            for fk in &structure.foreign_keys {
                let name = format!("{table}.({})", fk.columns.join(", "));
                entries.insert((ObjectKind::ForeignKey, name), fk.to_string());
            }
        }
        entries
    }
}

/// A `DeserializationError` for a catalog value this module cannot read.
pub(crate) fn unreadable(what: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(what.into())
}

#[cfg(feature = "postgres")]
pub use crate::backend::postgres::catalog::{snapshot as snapshot_pg, structure as structure_pg};

#[cfg(feature = "sqlite")]
pub use crate::backend::sqlite::catalog::{
    snapshot as snapshot_sqlite, structure as structure_sqlite,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_missing_unexpected_and_changed_objects() {
        let mut before = CatalogSnapshot::new();
        before.insert(ObjectKind::Table, "users", "table");
        before.insert(ObjectKind::Column, "users.email", "#2 text");
        before.insert(
            ObjectKind::Index,
            "users.users_email_key",
            "CREATE UNIQUE INDEX\n  x",
        );
        let mut after = before.clone();
        assert!(before.differences(&after).is_empty());

        after.insert(ObjectKind::Column, "users.email", "#2 text NOT NULL");
        after.insert(ObjectKind::Trigger, "users.t", "CREATE TRIGGER t");
        after
            .entries
            .remove(&(ObjectKind::Index, "users.users_email_key".to_owned()));
        assert_eq!(
            before.differences(&after),
            vec![
                "column users.email: was `#2 text`, now `#2 text NOT NULL`",
                "index users.users_email_key: missing (was: CREATE UNIQUE INDEX x)",
                "trigger users.t: unexpected (CREATE TRIGGER t)",
            ]
        );
        assert_eq!(after.tables(), vec!["users"]);
    }

    #[test]
    fn referential_actions_parse_both_spellings() {
        for action in [
            ReferentialAction::NoAction,
            ReferentialAction::Restrict,
            ReferentialAction::Cascade,
            ReferentialAction::SetNull,
            ReferentialAction::SetDefault,
        ] {
            assert_eq!(ReferentialAction::from_sql(action.as_sql()), Some(action));
        }
        assert_eq!(
            ReferentialAction::from_sql("set null"),
            Some(ReferentialAction::SetNull)
        );
        assert_eq!(
            ReferentialAction::from_pg_code("r"),
            Some(ReferentialAction::Restrict)
        );
        assert_eq!(ReferentialAction::from_pg_code("x"), None);
    }

    #[test]
    fn structure_differences_show_nullability_and_foreign_keys() {
        let mut left = StructureSummary::default();
        let table = left.tables.entry("t".to_owned()).or_default();
        table.columns.push(ColumnStructure {
            name: "id".to_owned(),
            nullable: false,
            primary_key: true,
        });
        table.foreign_keys.insert(ForeignKeyStructure {
            columns: vec!["id".to_owned()],
            referenced_table: "u".to_owned(),
            referenced_columns: vec!["id".to_owned()],
            on_delete: ReferentialAction::Cascade,
        });
        let mut right = left.clone();
        assert!(left.differences(&right).is_empty());
        if let Some(t) = right.tables.get_mut("t") {
            t.columns[0].nullable = true;
            t.foreign_keys.clear();
        }
        assert_eq!(
            left.differences(&right),
            vec![
                "column t.id: was `#1 NOT NULL PRIMARY KEY`, now `#1 NULL PRIMARY KEY`",
                "foreign key t.(id): missing (was: (id) REFERENCES u (id) ON DELETE CASCADE)",
            ]
        );
    }
}
