//! The SQLite dialect of a generated migration, from the same [`Change`]s as PostgreSQL.
//!
//! Types are the nearest SQLite ones, as `migrations/sqlite` writes them: `INTEGER` for
//! integers (a one-column integer key is `INTEGER PRIMARY KEY`, the rowid), `TEXT`,
//! `NUMERIC`, `REAL`, `BOOLEAN`, `DATE`, `TIMESTAMP`, `BLOB`, and an enum as `TEXT` with
//! `CHECK (column IN (...labels))`.
//!
//! Its input beyond the model is the actual database's `sqlite_master` ([`SqliteObject`]):
//! the stored `CREATE` statements of its tables, indexes, triggers and views.
//!
//! `ALTER TABLE` adds a nullable column without a reference and drops a column nothing
//! else uses. Anything else (a type or nullability change, a NOT NULL or referencing new
//! column, a column used by a key, CHECK, index, trigger or view, and every down.sql that
//! must put a dropped column back in its place) rebuilds the table, as SQLite documents:
//! with `foreign_keys` off and inside one transaction, the rows are copied aside, the table
//! is dropped and created again from its edited `CREATE TABLE` text, the rows come back,
//! its indexes and triggers are recreated, and `PRAGMA foreign_key_check` must find
//! nothing. One deliberate difference from SQLite's recipe: the rows go to a TEMP table
//! and the table keeps its name, instead of a `new_X` renamed to `X`, because a rename
//! rewrites the stored text as `CREATE TABLE "X"` (so no down.sql could restore the
//! catalog exactly) and fails while a trigger or view elsewhere names `X`. Such a
//! migration needs `run_in_transaction = false` ([`Migration::run_in_transaction`]) and
//! carries its own `BEGIN`/`COMMIT`, since SQLite ignores `PRAGMA foreign_keys` inside a
//! transaction.

use std::collections::BTreeSet;

use super::sql::{self, create_index, ident, in_labels};
use super::sqlite_text::{mentions, CreateTable, Edits};
use super::{common_notes, header, Change, Migration, Reference};
use crate::autogen::error::{Error, Result};
use crate::autogen::model::{Column, Schema, SqlType, Table};

/// One row of `sqlite_master`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteObject {
    /// `table`, `index`, `trigger` or `view`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The table it belongs to (`tbl_name`).
    pub table: String,
    /// Its `CREATE` statement; `None` for the automatic indexes of keys.
    pub sql: Option<String>,
}

/// Reads `sqlite_master` (SQLite's own `sqlite_*` objects left out), in creation order.
#[cfg(feature = "sqlite")]
pub fn read_objects(conn: &mut diesel::SqliteConnection) -> Result<Vec<SqliteObject>> {
    let rows = crate::backend::sqlite::catalog::master(conn).map_err(|source| Error::Catalog {
        what: "sqlite_master".into(),
        source,
    })?;
    Ok(rows
        .into_iter()
        .map(|r| SqliteObject {
            kind: r.kind,
            name: r.name,
            table: r.table_name,
            sql: r.sql,
        })
        .collect())
}

/// The SQLite type of a model column, and the CHECK an enum gets.
fn sqlite_type(table: &str, column: &Column, actual: &Schema) -> Result<(String, Option<String>)> {
    let unsupported = |what: String| Error::Unsupported {
        table: table.to_owned(),
        what,
    };
    match &column.sql_type {
        SqlType::Builtin { name } => {
            builtin_type(name)
                .map(|t| (t.to_owned(), None))
                .ok_or_else(|| {
                    unsupported(format!(
                        "{}: no SQLite type is chosen for {name}",
                        column.name
                    ))
                })
        }
        SqlType::Custom { pg_name, .. } => match actual.enum_type(pg_name) {
            Some(e) => Ok(("TEXT".to_owned(), Some(in_labels(&column.name, &e.labels)))),
            None => Err(unsupported(format!(
                "{}: {pg_name} is not an enum type",
                column.name
            ))),
        },
        SqlType::Array { .. } => Err(unsupported(format!(
            "{} is an array, which SQLite does not have: write the SQLite migration by hand",
            column.name
        ))),
    }
}

fn builtin_type(name: &str) -> Option<&'static str> {
    Some(match name {
        "Int2" | "Int4" | "Int8" => "INTEGER",
        "Text" | "Varchar" | "Bpchar" | "Citext" | "Json" | "Jsonb" | "Uuid" | "Inet" | "Cidr"
        | "Macaddr" | "Macaddr8" | "Interval" => "TEXT",
        "Numeric" | "Money" => "NUMERIC",
        "Float4" | "Float8" => "REAL",
        "Bool" => "BOOLEAN",
        "Date" => "DATE",
        "Time" => "TIME",
        "Timestamp" | "Timestamptz" => "TIMESTAMP",
        "Bytea" => "BLOB",
        _ => return None,
    })
}

/// A column definition for `CREATE TABLE` or `ADD COLUMN`.
fn column_sql(
    table: &Table,
    column: &Column,
    reference: Option<&Reference>,
    actual: &Schema,
) -> Result<String> {
    let (sql_type, check) = sqlite_type(&table.name, column, actual)?;
    let mut sql = format!("{} {sql_type}", ident(&column.name));
    if table.primary_key == [column.name.clone()] {
        sql.push_str(" PRIMARY KEY");
    }
    if !column.nullable {
        sql.push_str(" NOT NULL");
    }
    if let Some(r) = reference {
        sql.push_str(&format!(
            " REFERENCES {} ({}) ON DELETE RESTRICT",
            ident(&r.parent),
            ident(&r.column)
        ));
    }
    if let Some(check) = check {
        let name = format!("{}_{}_check", table.name, column.name);
        sql.push_str(&format!(" CONSTRAINT {} CHECK ({check})", ident(&name)));
    }
    Ok(sql)
}

/// The SQLite migration for `changes`, with the actual model and its `sqlite_master`.
pub fn render(changes: &[Change], actual: &Schema, objects: &[SqliteObject]) -> Result<Migration> {
    let mut out = Rendered {
        notes: common_notes(changes),
        ..Rendered::default()
    };
    for change in changes {
        if let Change::CreateTable { table, references } = change {
            out.step(create_table(table, references, actual)?);
        }
    }
    let mut altered: Vec<&str> = Vec::new();
    for change in changes {
        let name = change.table();
        let column_change = !matches!(
            change,
            Change::CreateTable { .. } | Change::DropTable { .. }
        );
        if column_change && !altered.contains(&name) {
            altered.push(name);
            alter_table(name, changes, actual, objects, &mut out)?;
        }
    }
    for change in changes {
        if let Change::DropTable { table } = change {
            out.step(drop_table(&table.name, objects)?);
        }
    }
    Ok(out.finish())
}

/// The pieces of a migration being written.
#[derive(Default)]
struct Rendered {
    notes: Vec<String>,
    up: Vec<String>,
    down: Vec<String>,
    rebuilds: bool,
}

impl Rendered {
    fn step(&mut self, (up, down): (String, String)) {
        self.up.push(up);
        self.down.push(down);
    }

    fn finish(self) -> Migration {
        let mut up_sql = header(&self.notes);
        let mut down_sql = String::from("-- Reverts the generated migration of the same name.\n\n");
        let up: String = self.up.iter().map(|s| format!("{s}\n")).collect();
        let down: String = self.down.iter().rev().map(|s| format!("{s}\n")).collect();
        if self.rebuilds {
            up_sql.push_str(&rebuild_frame(&up));
            down_sql.push_str(&rebuild_frame(&down));
        } else {
            up_sql.push_str(&up);
            down_sql.push_str(&down);
        }
        Migration {
            up_sql,
            down_sql,
            run_in_transaction: !self.rebuilds,
        }
    }
}

/// `foreign_keys` off, one transaction, and a foreign key check that fails the migration.
fn rebuild_frame(body: &str) -> String {
    format!(
        "-- A table rebuild: foreign keys are off while tables are dropped and recreated\n\
         -- (SQLite ignores that pragma inside a transaction: metadata.toml has\n\
         -- run_in_transaction = false), and checked before COMMIT.\n\
         PRAGMA foreign_keys = OFF;\n\
         BEGIN;\n\n\
         {body}\
         -- PRAGMA foreign_key_check, made to fail the migration when it reports a row.\n\
         CREATE TEMP TABLE haven_foreign_key_check (violations INTEGER CHECK (violations = 0));\n\
         INSERT INTO temp.haven_foreign_key_check SELECT count(*) FROM pragma_foreign_key_check;\n\
         DROP TABLE temp.haven_foreign_key_check;\n\n\
         COMMIT;\n\
         PRAGMA foreign_keys = ON;\n"
    )
}

fn create_table(
    table: &Table,
    references: &[(String, Reference)],
    actual: &Schema,
) -> Result<(String, String)> {
    let reference = |column: &str| references.iter().find(|(c, _)| c == column).map(|(_, r)| r);
    let mut lines = Vec::new();
    for column in &table.columns {
        lines.push(column_sql(table, column, reference(&column.name), actual)?);
    }
    if table.primary_key.len() > 1 {
        let key: Vec<String> = table.primary_key.iter().map(|k| ident(k)).collect();
        lines.push(format!("PRIMARY KEY ({})", key.join(", ")));
    }
    let indexed = references.iter().map(|(column, _)| column.as_str());
    Ok(sql::create_table(&table.name, &lines, indexed))
}

/// The stored statements of `table`'s own objects: the table, then its indexes and
/// triggers, in creation order.
fn objects_of<'a>(
    table: &str,
    objects: &'a [SqliteObject],
) -> Result<(&'a str, Vec<&'a SqliteObject>)> {
    let create = objects
        .iter()
        .find(|o| o.kind == "table" && o.name == table)
        .and_then(|o| o.sql.as_deref())
        .ok_or_else(|| Error::SqliteSchema {
            table: table.to_owned(),
            message: "is not in the SQLite schema given to the generator".into(),
        })?;
    let attached = objects
        .iter()
        .filter(|o| o.table == table && o.sql.is_some())
        .filter(|o| o.kind == "index" || o.kind == "trigger")
        .collect();
    Ok((create, attached))
}

fn statement(sql: &str) -> String {
    format!("{};\n", sql.trim_end().trim_end_matches(';'))
}

fn drop_table(table: &str, objects: &[SqliteObject]) -> Result<(String, String)> {
    let (create, attached) = objects_of(table, objects)?;
    let mut down = statement(create);
    for object in attached {
        down.push_str(&statement(object.sql.as_deref().unwrap_or_default()));
    }
    Ok((format!("DROP TABLE {};\n", ident(table)), down))
}

/// The column changes of one existing table.
#[derive(Default)]
struct TableChanges<'c> {
    adds: Vec<(&'c Column, Option<&'c Reference>)>,
    drops: Vec<&'c Column>,
    retypes: Vec<(String, String)>,
    nullability: Vec<(String, bool)>,
}

fn table_changes<'c>(
    name: &str,
    changes: &'c [Change],
    actual: &Schema,
    notes: &mut Vec<String>,
) -> Result<TableChanges<'c>> {
    let mut out = TableChanges::default();
    let table = actual.table(name).ok_or_else(|| Error::Unsupported {
        table: name.to_owned(),
        what: "is not in the actual schema".into(),
    })?;
    for change in changes.iter().filter(|c| c.table() == name) {
        match change {
            Change::AddColumn {
                column, reference, ..
            } => out.adds.push((column, reference.as_ref())),
            Change::DropColumn { column, .. } => out.drops.push(column),
            Change::AlterType { before, after, .. } => {
                if let Some(retype) = retype(table, before, after, actual, notes)? {
                    out.retypes.push(retype);
                }
            }
            Change::SetNullable { column, .. } => {
                out.nullability.push((column.name.clone(), column.nullable));
            }
            Change::CreateTable { .. } | Change::DropTable { .. } => {}
        }
    }
    Ok(out)
}

/// The new SQLite type text of a column whose type changes, if it changes on SQLite.
fn retype(
    table: &Table,
    before: &Column,
    after: &Column,
    actual: &Schema,
    notes: &mut Vec<String>,
) -> Result<Option<(String, String)>> {
    let (old, old_check) = sqlite_type(&table.name, before, actual)?;
    let (new, new_check) = sqlite_type(&table.name, after, actual)?;
    if old_check.is_some() && old_check != new_check {
        notes.push(format!(
            "SQLite: {}.{} keeps the CHECK of its former enum values: change it by hand",
            table.name, after.name
        ));
    }
    match new_check.filter(|_| old_check.is_none()) {
        Some(check) => {
            let name = ident(&format!("{}_{}_check", table.name, after.name));
            Ok(Some((
                after.name.clone(),
                format!("{new} CONSTRAINT {name} CHECK ({check})"),
            )))
        }
        None if new != old => Ok(Some((after.name.clone(), new))),
        None => Ok(None),
    }
}

fn alter_table(
    name: &str,
    changes: &[Change],
    actual: &Schema,
    objects: &[SqliteObject],
    out: &mut Rendered,
) -> Result<()> {
    let (create, attached) = objects_of(name, objects)?;
    let parsed = CreateTable::parse(create).map_err(|message| Error::SqliteSchema {
        table: name.to_owned(),
        message,
    })?;
    let table_changes = table_changes(name, changes, actual, &mut out.notes)?;
    let table = actual.table(name).ok_or_else(|| Error::Unsupported {
        table: name.to_owned(),
        what: "is not in the actual schema".into(),
    })?;
    let plan = AlterPlan {
        name,
        create,
        parsed: &parsed,
        attached: &attached,
        objects,
        table,
        actual,
        changes: &table_changes,
    };
    let step = plan.render(&mut out.notes)?;
    out.rebuilds |= step.rebuilds;
    out.step((step.up, step.down));
    Ok(())
}

/// Everything known about one existing table whose columns change.
struct AlterPlan<'p> {
    name: &'p str,
    create: &'p str,
    parsed: &'p CreateTable<'p>,
    attached: &'p [&'p SqliteObject],
    objects: &'p [SqliteObject],
    table: &'p Table,
    actual: &'p Schema,
    changes: &'p TableChanges<'p>,
}

struct AlterStep {
    up: String,
    down: String,
    rebuilds: bool,
}

impl AlterPlan<'_> {
    fn render(&self, notes: &mut Vec<String>) -> Result<AlterStep> {
        let up_rebuilds = self.needs_rebuild();
        let up = if up_rebuilds {
            notes.push(format!(
                "SQLite: {} is rebuilt (copied aside, recreated, filled again) to change it",
                self.name
            ));
            self.rebuild_up(notes)?
        } else {
            self.alter_up()?
        };
        // Dropped columns come back in their place only through a rebuild.
        let down_rebuilds = up_rebuilds || !self.changes.drops.is_empty();
        let down = if down_rebuilds {
            self.rebuild_down()
        } else {
            self.alter_down()
        };
        Ok(AlterStep {
            up,
            down,
            rebuilds: up_rebuilds || down_rebuilds,
        })
    }

    /// Whether `ALTER TABLE` cannot do what the up needs.
    fn needs_rebuild(&self) -> bool {
        let c = self.changes;
        let complex_add = c.adds.iter().any(|(col, r)| !col.nullable || r.is_some());
        let used_drop = c.drops.iter().any(|col| self.used(&col.name));
        !c.retypes.is_empty() || !c.nullability.is_empty() || complex_add || used_drop
    }

    /// Whether something beyond the column's own definition uses it: a key, a table
    /// constraint, an index of the table, or any trigger or view.
    fn used(&self, column: &str) -> bool {
        let elsewhere = self.objects.iter().any(|o| {
            let relevant = o.kind == "trigger"
                || o.kind == "view"
                || (o.kind == "index" && o.table == self.name);
            relevant && o.sql.as_deref().is_some_and(|sql| mentions(sql, column))
        });
        self.parsed.constrains(column) || elsewhere
    }

    fn alter_up(&self) -> Result<String> {
        let mut sql = String::new();
        for (column, reference) in &self.changes.adds {
            let definition = column_sql(self.table, column, *reference, self.actual)?;
            sql.push_str(&format!(
                "ALTER TABLE {} ADD COLUMN {definition};\n",
                ident(self.name)
            ));
        }
        for column in &self.changes.drops {
            sql.push_str(&format!(
                "ALTER TABLE {} DROP COLUMN {};\n",
                ident(self.name),
                ident(&column.name)
            ));
        }
        Ok(sql)
    }

    fn alter_down(&self) -> String {
        self.changes
            .adds
            .iter()
            .rev()
            .map(|(column, _)| {
                format!(
                    "ALTER TABLE {} DROP COLUMN {};\n",
                    ident(self.name),
                    ident(&column.name)
                )
            })
            .collect()
    }

    fn rebuild_up(&self, notes: &mut Vec<String>) -> Result<String> {
        let c = self.changes;
        let mut edits = Edits {
            drop: c.drops.iter().map(|col| col.name.clone()).collect(),
            retype: c.retypes.clone(),
            nullability: c.nullability.clone(),
            append: Vec::new(),
        };
        for (column, reference) in &c.adds {
            edits
                .append
                .push(column_sql(self.table, column, *reference, self.actual)?);
            if !column.nullable {
                notes.push(format!(
                    "SQLite: {}.{} is NOT NULL without a default, so the rebuild fails while \
                     {} has rows: give it a default, or backfill in two steps",
                    self.name, column.name, self.name
                ));
            }
        }
        for column in &c.drops {
            for constraint in self.parsed.constraints_naming(&column.name) {
                notes.push(format!(
                    "SQLite: dropping {}.{} drops `{constraint}`",
                    self.name, column.name
                ));
            }
        }
        let text =
            self.parsed
                .edited(self.name, &edits)
                .map_err(|message| Error::SqliteSchema {
                    table: self.name.to_owned(),
                    message,
                })?;
        let dropped: BTreeSet<&str> = c.drops.iter().map(|col| col.name.as_str()).collect();
        let kept = |o: &&&SqliteObject| {
            !dropped
                .iter()
                .any(|d| o.sql.as_deref().is_some_and(|sql| mentions(sql, d)))
        };
        let attached: Vec<&SqliteObject> = self.attached.iter().filter(kept).copied().collect();
        let mut sql = rebuild(self.name, &text, &self.copied_columns(), &attached);
        for (column, reference) in &c.adds {
            if reference.is_some() {
                sql.push_str(&create_index(self.name, &column.name));
            }
        }
        Ok(sql)
    }

    fn rebuild_down(&self) -> String {
        rebuild(
            self.name,
            self.create,
            &self.copied_columns(),
            self.attached,
        )
    }

    /// The columns both before and after: the rows' values that the rebuild copies.
    fn copied_columns(&self) -> Vec<String> {
        let dropped = |name: &str| self.changes.drops.iter().any(|c| c.name == name);
        self.parsed
            .columns()
            .into_iter()
            .filter(|c| !dropped(c))
            .map(str::to_owned)
            .collect()
    }
}

/// Copies `table`'s rows aside, recreates it from `create`, copies them back, and
/// recreates `attached` (its indexes and triggers).
fn rebuild(table: &str, create: &str, columns: &[String], attached: &[&SqliteObject]) -> String {
    let copy = ident(&format!("haven_rebuild_{table}"));
    let columns: Vec<String> = columns.iter().map(|c| ident(c)).collect();
    let columns = columns.join(", ");
    let mut sql = format!(
        "-- Rebuild {table}.\n\
         CREATE TEMP TABLE {copy} AS SELECT * FROM {name};\n\
         DROP TABLE {name};\n\
         {create}\
         INSERT INTO {name} ({columns}) SELECT {columns} FROM temp.{copy};\n\
         DROP TABLE temp.{copy};\n",
        name = ident(table),
        create = statement(create),
    );
    for object in attached {
        sql.push_str(&statement(object.sql.as_deref().unwrap_or_default()));
    }
    sql
}
