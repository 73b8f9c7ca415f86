//! From the schema the migrations produce (the *actual* side) and the one `schema.rs`
//! declares, the `up.sql` and `down.sql` of the migration that closes the gap, in both
//! dialects; or a typed refusal for what cannot be generated safely.
//!
//! [`plan`] turns the two models into a list of [`Change`]s, refusing what `ADD COLUMN` or
//! the model cannot express (a new column before existing ones, a new enum type, a primary
//! key or column order change, a foreign key on an existing column). [`pg::render`] and
//! [`sqlite::render`] write each dialect's SQL from the same plan, with the catalog facts
//! that an exact `down.sql` needs ([`pg::PgDetails`], [`sqlite::SqliteObject`]).

pub mod pg;
mod sql;
pub mod sqlite;
mod sqlite_text;

use std::collections::BTreeSet;

use super::error::{Error, Result};
use super::model::{Column, Schema, SqlType, Table};

/// One dialect's migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// `up.sql`, starting with the comment of what `schema.rs` cannot express.
    pub up_sql: String,
    /// `down.sql`: back to the actual side.
    pub down_sql: String,
    /// `false` when the migration needs a `metadata.toml` with `run_in_transaction =
    /// false`: a SQLite table rebuild switches `foreign_keys` off, which SQLite ignores
    /// inside a transaction, so the SQL carries its own `BEGIN`/`COMMIT`.
    pub run_in_transaction: bool,
}

/// A foreign key a new column gets from its `joinable!`: `REFERENCES parent (column)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The referenced table.
    pub parent: String,
    /// Its one primary key column.
    pub column: String,
}

/// One step from the actual schema to the declared one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A table only `schema.rs` has; its columns' references from `joinable!`.
    CreateTable {
        /// The declared table.
        table: Table,
        /// `(column, reference)` for each joinable of the table.
        references: Vec<(String, Reference)>,
    },
    /// A table only the migrations have.
    DropTable {
        /// The actual table.
        table: Table,
    },
    /// A column only `schema.rs` has, last in its table.
    AddColumn {
        /// The table.
        table: String,
        /// The declared column.
        column: Column,
        /// From its `joinable!`.
        reference: Option<Reference>,
    },
    /// A column only the migrations have.
    DropColumn {
        /// The table.
        table: String,
        /// The actual column.
        column: Column,
    },
    /// Another type (or `#[max_length]`).
    AlterType {
        /// The table.
        table: String,
        /// The actual column.
        before: Column,
        /// The declared column.
        after: Column,
    },
    /// `Nullable` on one side only.
    SetNullable {
        /// The table.
        table: String,
        /// The declared column.
        column: Column,
    },
}

impl Change {
    /// The table the change is about.
    pub fn table(&self) -> &str {
        match self {
            Change::CreateTable { table, .. } | Change::DropTable { table } => &table.name,
            Change::AddColumn { table, .. }
            | Change::DropColumn { table, .. }
            | Change::AlterType { table, .. }
            | Change::SetNullable { table, .. } => table,
        }
    }
}

impl std::fmt::Display for Change {
    /// One line of what `revision --autogenerate` writes: `add column users.nickname (Text)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::CreateTable { table, .. } => write!(f, "create table {}", table.name),
            Change::DropTable { table } => write!(f, "drop table {}", table.name),
            Change::AddColumn { table, column, .. } => {
                write!(
                    f,
                    "add column {table}.{} ({})",
                    column.name,
                    column.type_text()
                )
            }
            Change::DropColumn { table, column } => {
                write!(f, "drop column {table}.{}", column.name)
            }
            Change::AlterType {
                table,
                before,
                after,
            } => write!(
                f,
                "change the type of {table}.{} from {} to {}",
                after.name,
                before.type_text(),
                after.type_text()
            ),
            Change::SetNullable { table, column } => {
                let what = if column.nullable {
                    "nullable"
                } else {
                    "NOT NULL"
                };
                write!(f, "make {table}.{} {what}", column.name)
            }
        }
    }
}

/// The PostgreSQL migration from `actual` (the migrations, with `details` of the database
/// they produce) to `declared` (`schema.rs`); `None` when there is nothing to change.
pub fn postgres(
    actual: &Schema,
    details: &pg::PgDetails,
    declared: &Schema,
) -> Result<Option<Migration>> {
    let changes = plan(actual, declared)?;
    if changes.is_empty() {
        return Ok(None);
    }
    pg::render(&changes, details).map(Some)
}

/// The SQLite migration from `actual` (the PostgreSQL model of the migrations, which gives
/// the enum labels) to `declared`, with `objects`, the `sqlite_master` of the database
/// `migrations/sqlite` produce; `None` when there is nothing to change.
pub fn sqlite(
    actual: &Schema,
    objects: &[sqlite::SqliteObject],
    declared: &Schema,
) -> Result<Option<Migration>> {
    let changes = plan(actual, declared)?;
    if changes.is_empty() {
        return Ok(None);
    }
    sqlite::render(&changes, actual, objects).map(Some)
}

/// The changes from `actual` (the migrations) to `declared` (`schema.rs`): tables to
/// create (parents first), then per existing table its column changes, then tables to
/// drop (children first). Empty when the two agree on everything the model holds.
pub fn plan(actual: &Schema, declared: &Schema) -> Result<Vec<Change>> {
    // Checked first: a dropped table still referenced is the root of the joinable
    // differences it causes.
    let dropped = drop_order(actual, declared)?;
    let mut changes = Vec::new();
    for table in creation_order(declared, actual) {
        check_enum_types(table, &table.columns, actual)?;
        let references = table
            .columns
            .iter()
            .filter_map(|c| reference(declared, &table.name, &c.name).transpose())
            .collect::<Result<Vec<_>>>()?;
        changes.push(Change::CreateTable {
            table: table.clone(),
            references,
        });
    }
    for table in &declared.tables {
        if let Some(before) = actual.table(&table.name) {
            changes.extend(table_changes(actual, declared, before, table)?);
        }
    }
    for table in dropped {
        changes.push(Change::DropTable {
            table: table.clone(),
        });
    }
    Ok(changes)
}

/// The reference of `table.column` from its declared joinable, to the parent's key.
fn reference(declared: &Schema, table: &str, column: &str) -> Result<Option<(String, Reference)>> {
    let Some(joinable) = declared.joinable_of(table, column) else {
        return Ok(None);
    };
    let unsupported = |what: String| Error::Unsupported {
        table: table.to_owned(),
        what,
    };
    let parent = declared.table(&joinable.parent).ok_or_else(|| {
        unsupported(format!(
            "joinable!({joinable}) names a table schema.rs lacks"
        ))
    })?;
    match parent.primary_key.as_slice() {
        [key] => Ok(Some((
            column.to_owned(),
            Reference {
                parent: parent.name.clone(),
                column: key.clone(),
            },
        ))),
        _ => Err(unsupported(format!(
            "joinable!({joinable}) points at a table whose primary key is not one column"
        ))),
    }
}

/// Every custom type of `columns` must be an enum type the migrations create.
fn check_enum_types(table: &Table, columns: &[Column], actual: &Schema) -> Result<()> {
    for column in columns {
        let Some(pg_name) = column.sql_type.custom_pg_name() else {
            continue;
        };
        if actual.enum_type(pg_name).is_none() {
            return Err(new_enum_type(&table.name, column));
        }
    }
    Ok(())
}

fn new_enum_type(table: &str, column: &Column) -> Error {
    let (rust_name, pg_name) = match custom_names(&column.sql_type) {
        Some((rust, pg)) => (rust.to_owned(), pg.to_owned()),
        None => (column.sql_type.to_string(), String::new()),
    };
    Error::NewEnumType {
        table: table.to_owned(),
        column: column.name.clone(),
        rust_name,
        pg_name,
    }
}

fn custom_names(sql_type: &SqlType) -> Option<(&str, &str)> {
    match sql_type {
        SqlType::Custom {
            rust_name, pg_name, ..
        } => Some((rust_name, pg_name)),
        SqlType::Array { element } => custom_names(element),
        SqlType::Builtin { .. } => None,
    }
}

/// The new tables, each after the new tables it references (a cycle keeps name order:
/// the dialects then add those references after the tables exist).
fn creation_order<'a>(declared: &'a Schema, actual: &Schema) -> Vec<&'a Table> {
    let new: Vec<&Table> = declared
        .tables
        .iter()
        .filter(|t| actual.table(&t.name).is_none())
        .collect();
    let parents = |t: &Table| -> BTreeSet<String> {
        declared
            .joinables
            .iter()
            .filter(|j| j.child == t.name && j.parent != t.name)
            .map(|j| j.parent.clone())
            .collect()
    };
    dependency_order(&new, parents)
}

/// `tables` with each after the ones `parents` names among them (stable, by name).
fn dependency_order<'a>(
    tables: &[&'a Table],
    parents: impl Fn(&Table) -> BTreeSet<String>,
) -> Vec<&'a Table> {
    let mut placed: Vec<&Table> = Vec::new();
    let mut waiting: Vec<&Table> = tables.to_vec();
    while !waiting.is_empty() {
        let ready = waiting.iter().position(|t| {
            parents(t).iter().all(|p| {
                placed.iter().any(|d| &d.name == p) || !waiting.iter().any(|w| &w.name == p)
            })
        });
        // A cycle: take the first by name.
        let next = waiting.remove(ready.unwrap_or(0));
        placed.push(next);
    }
    placed
}

/// The tables to drop, children first. Refused when a kept table still references one.
fn drop_order<'a>(actual: &'a Schema, declared: &Schema) -> Result<Vec<&'a Table>> {
    let gone: Vec<&Table> = actual
        .tables
        .iter()
        .filter(|t| declared.table(&t.name).is_none())
        .collect();
    for table in &gone {
        let kept_reference = actual.joinables.iter().find(|j| {
            j.parent == table.name
                && declared
                    .table(&j.child)
                    .is_some_and(|child| child.column(&j.column).is_some())
        });
        if let Some(j) = kept_reference {
            return Err(Error::Unsupported {
                table: table.name.clone(),
                what: format!(
                    "is dropped, but {}.{} still references it (joinable!({j})): drop that \
                     column from schema.rs too, or remove the foreign key in a hand-written \
                     migration first",
                    j.child, j.column
                ),
            });
        }
    }
    // Parents of a table are the tables it references; children go first when dropping.
    let parents = |t: &Table| -> BTreeSet<String> {
        actual
            .joinables
            .iter()
            .filter(|j| j.child == t.name && j.parent != t.name)
            .map(|j| j.parent.clone())
            .collect()
    };
    let mut order = dependency_order(&gone, parents);
    order.reverse();
    Ok(order)
}

/// The column changes of one table both sides have.
fn table_changes(
    actual: &Schema,
    declared: &Schema,
    before: &Table,
    after: &Table,
) -> Result<Vec<Change>> {
    check_same_key_and_order(before, after)?;
    check_new_columns_last(before, after)?;
    let mut changes = Vec::new();
    for column in after
        .columns
        .iter()
        .filter(|c| before.column(&c.name).is_none())
    {
        check_enum_types(after, std::slice::from_ref(column), actual)?;
        changes.push(Change::AddColumn {
            table: after.name.clone(),
            column: column.clone(),
            reference: reference(declared, &after.name, &column.name)?.map(|(_, r)| r),
        });
    }
    for column in &after.columns {
        if let Some(old) = before.column(&column.name) {
            changes.extend(column_changes(actual, declared, after, old, column)?);
        }
    }
    for column in before
        .columns
        .iter()
        .filter(|c| after.column(&c.name).is_none())
    {
        changes.push(Change::DropColumn {
            table: before.name.clone(),
            column: column.clone(),
        });
    }
    Ok(changes)
}

fn check_same_key_and_order(before: &Table, after: &Table) -> Result<()> {
    let unsupported = |what: String| Error::Unsupported {
        table: after.name.clone(),
        what,
    };
    if before.primary_key != after.primary_key {
        return Err(unsupported(format!(
            "the primary key changes from ({}) to ({}), which autogenerate does not write: \
             write this migration by hand",
            before.primary_key.join(", "),
            after.primary_key.join(", ")
        )));
    }
    let common = |t: &Table, other: &Table| -> Vec<String> {
        t.columns
            .iter()
            .filter(|c| other.column(&c.name).is_some())
            .map(|c| c.name.clone())
            .collect()
    };
    let (was, now) = (common(before, after), common(after, before));
    if was != now {
        return Err(unsupported(format!(
            "schema.rs orders the columns ({}) but the migrations give ({}), and a table's \
             columns cannot be reordered in place: order them in schema.rs as the database \
             does",
            now.join(", "),
            was.join(", ")
        )));
    }
    Ok(())
}

/// `ADD COLUMN` appends: no existing column may follow a new one in `schema.rs`.
fn check_new_columns_last(before: &Table, after: &Table) -> Result<()> {
    let mut first_new: Option<&Column> = None;
    for column in &after.columns {
        match (before.column(&column.name), first_new) {
            (None, None) => first_new = Some(column),
            (Some(existing), Some(new)) => {
                return Err(Error::ColumnNotLast {
                    table: after.name.clone(),
                    column: new.name.clone(),
                    next: existing.name.clone(),
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// Type and nullability changes of a column both sides have; its joinable must not change.
fn column_changes(
    actual: &Schema,
    declared: &Schema,
    table: &Table,
    before: &Column,
    after: &Column,
) -> Result<Vec<Change>> {
    let (was, now) = (
        actual.joinable_of(&table.name, &after.name),
        declared.joinable_of(&table.name, &after.name),
    );
    if was != now {
        let shown = |j: Option<&super::model::Joinable>| {
            j.map_or("none".to_owned(), |j| format!("joinable!({j})"))
        };
        return Err(Error::Unsupported {
            table: table.name.clone(),
            what: format!(
                "the joinable of existing column {} changes from {} to {}; autogenerate \
                 writes foreign keys for new tables and columns only: write this one by hand \
                 (two foreign keys to one table also hide both joinables)",
                after.name,
                shown(was),
                shown(now)
            ),
        });
    }
    let mut changes = Vec::new();
    if before.sql_type != after.sql_type || before.max_length != after.max_length {
        check_enum_types(table, std::slice::from_ref(after), actual)?;
        changes.push(Change::AlterType {
            table: table.name.clone(),
            before: before.clone(),
            after: after.clone(),
        });
    }
    if before.nullable != after.nullable {
        changes.push(Change::SetNullable {
            table: table.name.clone(),
            column: after.clone(),
        });
    }
    Ok(changes)
}

/// The comment each `up.sql` starts with: what `schema.rs` cannot express, then what the
/// reviewer must look at in this migration.
fn header(notes: &[String]) -> String {
    let mut text = String::from(
        "-- Generated by haven-migrate revision --autogenerate from the difference between\n\
         -- schema.rs and the schema the earlier migrations produce. Review it before use.\n\
         --\n\
         -- schema.rs cannot express these, so add them by hand where they are needed:\n\
         -- column defaults, CHECK constraints, UNIQUE constraints, indexes other than those\n\
         -- of foreign keys, identity columns, NUMERIC precision and scale, ON DELETE actions\n\
         -- other than RESTRICT, comments, and the values of enum types (a new enum type\n\
         -- needs a hand-written migration first).\n",
    );
    if !notes.is_empty() {
        text.push_str("--\n-- In this migration:\n");
        for note in notes {
            text.push_str(&format!("-- * {note}\n"));
        }
    }
    text.push('\n');
    text
}

/// Notes that hold in both dialects.
fn common_notes(changes: &[Change]) -> Vec<String> {
    let mut notes = Vec::new();
    for change in changes {
        match change {
            Change::CreateTable { table, .. } => notes.push(format!(
                "new table {}: add its defaults, CHECKs, UNIQUEs and other indexes",
                table.name
            )),
            Change::DropColumn { table, column } => notes.push(format!(
                "{table}.{} is dropped with its data; a renamed column shows as a dropped \
                 and a new one: use RENAME COLUMN instead to keep the data",
                column.name
            )),
            Change::AlterType { table, after, .. } => notes.push(format!(
                "{table}.{} changes type with a cast: check that every value converts",
                after.name
            )),
            _ => {}
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autogen::model::Joinable;

    fn column(name: &str) -> Column {
        Column {
            name: name.into(),
            sql_type: SqlType::builtin("Int8"),
            nullable: false,
            max_length: None,
        }
    }

    fn table(name: &str, columns: &[&str]) -> Table {
        Table {
            name: name.into(),
            columns: columns.iter().map(|c| column(c)).collect(),
            primary_key: vec!["id".into()],
        }
    }

    fn joinable(child: &str, parent: &str, column: &str) -> Joinable {
        Joinable {
            child: child.into(),
            parent: parent.into(),
            column: column.into(),
        }
    }

    fn schema(tables: Vec<Table>, joinables: Vec<Joinable>) -> Schema {
        Schema {
            tables,
            joinables,
            enums: vec![],
        }
        .sorted()
    }

    fn base() -> Schema {
        schema(
            vec![
                table("users", &["id", "name"]),
                table("posts", &["id", "user_id"]),
            ],
            vec![joinable("posts", "users", "user_id")],
        )
    }

    fn unsupported(result: Result<Vec<Change>>) -> String {
        match result {
            Err(Error::Unsupported { what, .. }) => what,
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn nothing_to_do_is_an_empty_plan() {
        assert_eq!(plan(&base(), &base()).expect("plans"), []);
    }

    #[test]
    fn new_tables_come_parents_first_and_drops_children_first() {
        let mut declared = base();
        declared
            .tables
            .push(table("a_comments", &["id", "z_thread_id"]));
        declared.tables.push(table("z_threads", &["id"]));
        declared
            .joinables
            .push(joinable("a_comments", "z_threads", "z_thread_id"));
        let declared = declared.sorted();
        let created: Vec<String> = plan(&base(), &declared)
            .expect("plans")
            .iter()
            .map(|c| c.table().to_owned())
            .collect();
        assert_eq!(created, ["z_threads", "a_comments"]);
        let dropped: Vec<String> = plan(&declared, &base())
            .expect("plans")
            .iter()
            .map(|c| c.table().to_owned())
            .collect();
        assert_eq!(dropped, ["a_comments", "z_threads"]);
    }

    #[test]
    fn a_new_column_gets_the_reference_of_its_joinable() {
        let mut declared = base();
        declared.tables[0].columns.push(column("editor_id"));
        let mut declared = schema(declared.tables, declared.joinables);
        declared.tables.push(table("editors", &["id"]));
        declared
            .joinables
            .push(joinable("posts", "editors", "editor_id"));
        let declared = declared.sorted();
        let changes = plan(&base(), &declared).expect("plans");
        assert!(changes.contains(&Change::AddColumn {
            table: "posts".into(),
            column: column("editor_id"),
            reference: Some(Reference {
                parent: "editors".into(),
                column: "id".into()
            }),
        }));
    }

    #[test]
    fn a_primary_key_change_is_refused() {
        let mut declared = base();
        declared.tables[1].primary_key = vec!["name".into()];
        assert!(unsupported(plan(&base(), &declared)).contains("primary key changes"));
    }

    #[test]
    fn reordered_columns_are_refused() {
        let mut declared = base();
        declared.tables[1].columns.reverse();
        let what = unsupported(plan(&base(), &declared));
        assert!(what.contains("cannot be reordered"), "{what}");
    }

    #[test]
    fn a_joinable_change_on_an_existing_column_is_refused() {
        let mut declared = base();
        declared.joinables.clear();
        let what = unsupported(plan(&base(), &declared));
        assert!(
            what.contains("joinable of existing column user_id"),
            "{what}"
        );
    }

    #[test]
    fn the_header_lists_what_schema_rs_cannot_express() {
        let text = header(&["a note".into()]);
        for expected in [
            "defaults",
            "CHECK constraints",
            "indexes other than",
            "enum types",
            "-- * a note\n",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
        assert!(text.lines().all(|l| l.is_empty() || l.starts_with("--")));
    }
}
