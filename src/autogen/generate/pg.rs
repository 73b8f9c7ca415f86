//! The PostgreSQL dialect of a generated migration, and the catalog facts it needs.
//!
//! `up.sql` is written from the declared model; `down.sql` restores the actual side. Where
//! the up drops something (a table, a column) or changes it (a type), the model alone
//! cannot say what to restore (defaults, identity, CHECKs, indexes, triggers, comments,
//! `NUMERIC(36,18)`), so the down is written from [`PgDetails`], read from the database the
//! migrations produced ([`read_details`]). One limit remains: a dropped column comes back
//! as the last column of its table.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Nullable, Text};
use diesel::PgConnection;

use super::sql::{self, create_index, ident, literal};
use super::{common_notes, header, Change, Migration, Reference};
use crate::autogen::error::{Error, Result};
use crate::autogen::model::{Column, SqlType, Table};
use crate::autogen::types::pg_name_of;

/// The full definitions of the tables of the `public` schema, by table name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgDetails {
    /// By table name.
    pub tables: BTreeMap<String, PgTable>,
}

/// One table's full definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgTable {
    /// In their order.
    pub columns: Vec<PgColumn>,
    /// Every constraint but NOT NULL, by name.
    pub constraints: Vec<PgConstraint>,
    /// The indexes that back no constraint.
    pub indexes: Vec<PgIndex>,
    /// `CREATE TRIGGER ...` of each trigger (internal ones left out).
    pub triggers: Vec<String>,
    /// `COMMENT ON TABLE`.
    pub comment: Option<String>,
}

/// One column's full definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgColumn {
    /// The name.
    pub name: String,
    /// `format_type`: `numeric(36,18)`, `character varying(3)`, `user_status`.
    pub type_sql: String,
    /// A collation other than the type's, quoted.
    pub collation: Option<String>,
    /// The default expression: `now()`, `'active'::user_status`.
    pub default: Option<String>,
    /// ` GENERATED ALWAYS AS IDENTITY`, ` GENERATED ALWAYS AS (...) STORED`, or empty.
    pub clauses: String,
    /// `attnotnull`.
    pub not_null: bool,
    /// `COMMENT ON COLUMN`.
    pub comment: Option<String>,
}

/// One constraint (primary key, unique, check, foreign key, exclusion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgConstraint {
    /// The name.
    pub name: String,
    /// `pg_get_constraintdef`.
    pub definition: String,
    /// The columns of this table it involves.
    pub columns: Vec<String>,
    /// For a foreign key, the referenced table.
    pub references: Option<String>,
}

/// One index that backs no constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgIndex {
    /// The name.
    pub name: String,
    /// `pg_get_indexdef`: `CREATE INDEX ...`.
    pub definition: String,
    /// The columns it involves, expressions and predicates included.
    pub columns: Vec<String>,
}

fn catalog(what: &'static str) -> impl FnOnce(diesel::result::Error) -> Error {
    move |source| Error::Catalog {
        what: what.to_owned(),
        source,
    }
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    type_sql: String,
    #[diesel(sql_type = Nullable<Text>)]
    collation: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    default: Option<String>,
    #[diesel(sql_type = Text)]
    clauses: String,
    #[diesel(sql_type = Bool)]
    not_null: bool,
    #[diesel(sql_type = Nullable<Text>)]
    comment: Option<String>,
}

const TABLES: &str = "n.nspname = 'public' AND c.relkind IN ('r', 'p')";

/// Reads [`PgDetails`] from the database behind `conn`.
pub fn read_details(conn: &mut PgConnection) -> Result<PgDetails> {
    let mut details = PgDetails::default();
    for (table, comment) in table_comments(conn)? {
        details.tables.entry(table).or_default().comment = comment;
    }
    for row in column_rows(conn)? {
        let table = details.tables.entry(row.table_name).or_default();
        table.columns.push(PgColumn {
            name: row.name,
            type_sql: row.type_sql,
            collation: row.collation,
            default: row.default,
            clauses: row.clauses,
            not_null: row.not_null,
            comment: row.comment,
        });
    }
    for (table, constraint) in constraints(conn)? {
        details
            .tables
            .entry(table)
            .or_default()
            .constraints
            .push(constraint);
    }
    for (table, index) in indexes(conn)? {
        details.tables.entry(table).or_default().indexes.push(index);
    }
    for (table, trigger) in triggers(conn)? {
        details
            .tables
            .entry(table)
            .or_default()
            .triggers
            .push(trigger);
    }
    Ok(details)
}

#[derive(QueryableByName)]
struct CommentRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    comment: Option<String>,
}

fn table_comments(conn: &mut PgConnection) -> Result<Vec<(String, Option<String>)>> {
    let rows: Vec<CommentRow> = diesel::sql_query(format!(
        "SELECT c.relname::text AS table_name, obj_description(c.oid, 'pg_class') AS comment
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {TABLES}"
    ))
    .load(conn)
    .map_err(catalog("the tables"))?;
    Ok(rows
        .into_iter()
        .map(|r| (r.table_name, r.comment))
        .collect())
}

fn column_rows(conn: &mut PgConnection) -> Result<Vec<ColumnRow>> {
    diesel::sql_query(format!(
        "SELECT c.relname::text AS table_name, a.attname::text AS name,
                format_type(a.atttypid, a.atttypmod) AS type_sql,
                CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                     THEN quote_ident(co.collname) END AS collation,
                CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS default,
                CASE a.attgenerated
                     WHEN 's' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ') STORED'
                     WHEN 'v' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ') VIRTUAL'
                     ELSE '' END
                || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY'
                                      WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY'
                                      ELSE '' END AS clauses,
                a.attnotnull AS not_null,
                col_description(c.oid, a.attnum) AS comment
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_collation co ON co.oid = a.attcollation
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE {TABLES} AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY c.relname, a.attnum"
    ))
    .load(conn)
    .map_err(catalog("the column definitions"))
}

#[derive(QueryableByName)]
struct ConstraintRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
    #[diesel(sql_type = Nullable<Text>)]
    references: Option<String>,
}

fn constraints(conn: &mut PgConnection) -> Result<Vec<(String, PgConstraint)>> {
    // NOT NULL constraints (contype 'n', PostgreSQL 18) travel with their columns.
    let rows: Vec<ConstraintRow> = diesel::sql_query(format!(
        "SELECT c.relname::text AS table_name, con.conname::text AS name,
                pg_get_constraintdef(con.oid) AS definition,
                coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord)
                          FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum),
                         '{{}}') AS columns,
                f.relname::text AS references
         FROM pg_constraint con
         JOIN pg_class c ON c.oid = con.conrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_class f ON f.oid = con.confrelid
         WHERE {TABLES} AND con.contype <> 'n'
         ORDER BY c.relname, con.contype = 'f', con.conname"
    ))
    .load(conn)
    .map_err(catalog("the constraints"))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let constraint = PgConstraint {
                name: r.name,
                definition: r.definition,
                columns: r.columns,
                references: r.references,
            };
            (r.table_name, constraint)
        })
        .collect())
}

#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
}

fn indexes(conn: &mut PgConnection) -> Result<Vec<(String, PgIndex)>> {
    // The columns an index involves are its dependencies on the table's columns: keys,
    // expressions and the predicate alike.
    let rows: Vec<IndexRow> = diesel::sql_query(format!(
        "SELECT c.relname::text AS table_name, i.relname::text AS name,
                pg_get_indexdef(i.oid) AS definition,
                coalesce((SELECT array_agg(DISTINCT a.attname::text)
                          FROM pg_depend d
                          JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = i.oid
                            AND d.refobjsubid > 0), '{{}}') AS columns
         FROM pg_index x
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_class c ON c.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE {TABLES} AND NOT EXISTS (
             SELECT 1 FROM pg_constraint con
             WHERE con.conindid = x.indexrelid AND con.conrelid = c.oid
               AND con.contype IN ('p', 'u', 'x'))
         ORDER BY c.relname, i.relname"
    ))
    .load(conn)
    .map_err(catalog("the indexes"))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let index = PgIndex {
                name: r.name,
                definition: r.definition,
                columns: r.columns,
            };
            (r.table_name, index)
        })
        .collect())
}

#[derive(QueryableByName)]
struct TriggerRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

fn triggers(conn: &mut PgConnection) -> Result<Vec<(String, String)>> {
    let rows: Vec<TriggerRow> = diesel::sql_query(format!(
        "SELECT c.relname::text AS table_name, pg_get_triggerdef(tg.oid) AS definition
         FROM pg_trigger tg
         JOIN pg_class c ON c.oid = tg.tgrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE {TABLES} AND NOT tg.tgisinternal
         ORDER BY c.relname, tg.tgname"
    ))
    .load(conn)
    .map_err(catalog("the triggers"))?;
    Ok(rows
        .into_iter()
        .map(|r| (r.table_name, r.definition))
        .collect())
}

/// The PostgreSQL type of a model type.
pub fn type_sql(sql_type: &SqlType, max_length: Option<u64>) -> String {
    match sql_type {
        SqlType::Builtin { name } => builtin_type_sql(name, max_length),
        SqlType::Custom {
            pg_name, schema, ..
        } => match schema {
            Some(schema) => format!("{}.{}", ident(schema), ident(pg_name)),
            None => ident(pg_name),
        },
        SqlType::Array { element } => format!("{}[]", type_sql(element, None)),
    }
}

fn builtin_type_sql(name: &str, max_length: Option<u64>) -> String {
    let sized = |base: &str| match max_length {
        Some(n) => format!("{base}({n})"),
        None => base.to_owned(),
    };
    match name {
        "Int2" => "SMALLINT".into(),
        "Int4" => "INTEGER".into(),
        "Int8" => "BIGINT".into(),
        "Float4" => "REAL".into(),
        "Float8" => "DOUBLE PRECISION".into(),
        "Bool" => "BOOLEAN".into(),
        "Varchar" => sized("VARCHAR"),
        "Bpchar" => sized("CHAR"),
        other => pg_name_of(other).to_ascii_uppercase(),
    }
}

/// One reversible piece of the migration.
struct Step {
    up: String,
    down: String,
}

/// The PostgreSQL migration for `changes`, with `details` of the actual database.
pub fn render(changes: &[Change], details: &PgDetails) -> Result<Migration> {
    let mut notes = common_notes(changes);
    let mut steps = Vec::new();
    for change in changes {
        steps.push(step(change, changes, details, &mut notes)?);
    }
    let mut up_sql = header(&notes);
    let mut down_sql = String::from("-- Reverts the generated migration of the same name.\n\n");
    for step in &steps {
        up_sql.push_str(&step.up);
        up_sql.push('\n');
    }
    for step in steps.iter().rev() {
        down_sql.push_str(&step.down);
        down_sql.push('\n');
    }
    Ok(Migration {
        up_sql,
        down_sql,
        run_in_transaction: true,
    })
}

fn step(
    change: &Change,
    all: &[Change],
    details: &PgDetails,
    notes: &mut Vec<String>,
) -> Result<Step> {
    match change {
        Change::CreateTable { table, references } => Ok(create_table(table, references)),
        Change::DropTable { table } => drop_table(table, all, details),
        Change::AddColumn {
            table,
            column,
            reference,
        } => Ok(add_column(table, column, reference.as_ref(), notes)),
        Change::DropColumn { table, column } => drop_column(table, column, details, notes),
        Change::AlterType {
            table,
            before,
            after,
        } => Ok(alter_type(table, before, after, details, notes)),
        Change::SetNullable { table, column } => Ok(set_nullable(table, column, notes)),
    }
}

fn table_details<'a>(details: &'a PgDetails, table: &str) -> Result<&'a PgTable> {
    details.tables.get(table).ok_or_else(|| Error::Unsupported {
        table: table.to_owned(),
        what: "the PostgreSQL catalog facts given to the generator lack this table".into(),
    })
}

fn column_sql(column: &Column) -> String {
    let null = if column.nullable { "" } else { " NOT NULL" };
    format!(
        "{} {}{null}",
        ident(&column.name),
        type_sql(&column.sql_type, column.max_length)
    )
}

fn foreign_key_sql(table: &str, column: &str, reference: &Reference) -> String {
    format!(
        "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE RESTRICT",
        ident(&format!("{table}_{column}_fkey")),
        ident(column),
        ident(&reference.parent),
        ident(&reference.column)
    )
}

fn create_table(table: &Table, references: &[(String, Reference)]) -> Step {
    let mut lines: Vec<String> = table.columns.iter().map(column_sql).collect();
    let key: Vec<String> = table.primary_key.iter().map(|k| ident(k)).collect();
    lines.push(format!("PRIMARY KEY ({})", key.join(", ")));
    for (column, reference) in references {
        lines.push(foreign_key_sql(&table.name, column, reference));
    }
    let indexed = references.iter().map(|(column, _)| column.as_str());
    let (up, down) = sql::create_table(&table.name, &lines, indexed);
    Step { up, down }
}

/// Drops the table, after the foreign keys of kept tables that reference it; the down
/// recreates all of it from the catalog facts.
fn drop_table(table: &Table, all: &[Change], details: &PgDetails) -> Result<Step> {
    let facts = table_details(details, &table.name)?;
    let dropped = |name: &str| {
        all.iter()
            .any(|c| matches!(c, Change::DropTable { table } if table.name == name))
    };
    let incoming: Vec<(&String, &PgConstraint)> = details
        .tables
        .iter()
        .filter(|(name, _)| !dropped(name))
        .flat_map(|(name, t)| t.constraints.iter().map(move |c| (name, c)))
        .filter(|(_, c)| c.references.as_deref() == Some(table.name.as_str()))
        .collect();
    let mut up = String::new();
    for (other, constraint) in &incoming {
        up.push_str(&drop_constraint(other, &constraint.name));
    }
    up.push_str(&format!("DROP TABLE {};\n", ident(&table.name)));
    let mut down = recreate_table(&table.name, facts);
    for (other, constraint) in &incoming {
        down.push_str(&add_constraint(other, constraint));
    }
    Ok(Step { up, down })
}

fn drop_constraint(table: &str, name: &str) -> String {
    format!(
        "ALTER TABLE {} DROP CONSTRAINT {};\n",
        ident(table),
        ident(name)
    )
}

fn add_constraint(table: &str, constraint: &PgConstraint) -> String {
    format!(
        "ALTER TABLE {} ADD CONSTRAINT {} {};\n",
        ident(table),
        ident(&constraint.name),
        constraint.definition
    )
}

fn full_column_sql(column: &PgColumn) -> String {
    let collation = column
        .collation
        .as_ref()
        .map_or(String::new(), |c| format!(" COLLATE {c}"));
    let default = column
        .default
        .as_ref()
        .map_or(String::new(), |d| format!(" DEFAULT {d}"));
    let null = if column.not_null { " NOT NULL" } else { "" };
    format!(
        "{} {}{collation}{default}{}{null}",
        ident(&column.name),
        column.type_sql,
        column.clauses
    )
}

fn recreate_table(name: &str, facts: &PgTable) -> String {
    let columns: Vec<String> = facts.columns.iter().map(full_column_sql).collect();
    let mut sql = format!(
        "CREATE TABLE {} (\n    {}\n);\n",
        ident(name),
        columns.join(",\n    ")
    );
    for constraint in &facts.constraints {
        sql.push_str(&add_constraint(name, constraint));
    }
    for index in &facts.indexes {
        sql.push_str(&format!("{};\n", index.definition));
    }
    for trigger in &facts.triggers {
        sql.push_str(&format!("{trigger};\n"));
    }
    if let Some(comment) = &facts.comment {
        sql.push_str(&format!(
            "COMMENT ON TABLE {} IS {};\n",
            ident(name),
            literal(comment)
        ));
    }
    for column in &facts.columns {
        sql.push_str(&column_comment(name, column));
    }
    sql
}

fn column_comment(table: &str, column: &PgColumn) -> String {
    match &column.comment {
        Some(comment) => format!(
            "COMMENT ON COLUMN {}.{} IS {};\n",
            ident(table),
            ident(&column.name),
            literal(comment)
        ),
        None => String::new(),
    }
}

fn alter_column(table: &str, column: &str, action: &str) -> String {
    format!(
        "ALTER TABLE {} ALTER COLUMN {} {action};\n",
        ident(table),
        ident(column)
    )
}

fn not_null_note(table: &str, column: &str) -> String {
    format!(
        "{table}.{column} becomes NOT NULL, which fails while a row has no value: backfill \
         it or give it a default first"
    )
}

fn add_column(
    table: &str,
    column: &Column,
    reference: Option<&Reference>,
    notes: &mut Vec<String>,
) -> Step {
    let foreign_key = reference.map_or(String::new(), |r| {
        format!(
            " CONSTRAINT {} REFERENCES {} ({}) ON DELETE RESTRICT",
            ident(&format!("{table}_{}_fkey", column.name)),
            ident(&r.parent),
            ident(&r.column)
        )
    });
    let nullable = Column {
        nullable: true,
        ..column.clone()
    };
    let mut up = format!(
        "ALTER TABLE {} ADD COLUMN {}{foreign_key};\n",
        ident(table),
        column_sql(&nullable)
    );
    if !column.nullable {
        notes.push(not_null_note(table, &column.name));
        up.push_str("-- Added nullable first: backfill existing rows here, or add a default.\n");
        up.push_str(&alter_column(table, &column.name, "SET NOT NULL"));
    }
    if reference.is_some() {
        up.push_str(&create_index(table, &column.name));
    }
    let down = format!(
        "ALTER TABLE {} DROP COLUMN {};\n",
        ident(table),
        ident(&column.name)
    );
    Step { up, down }
}

fn drop_column(
    table: &str,
    column: &Column,
    details: &PgDetails,
    notes: &mut Vec<String>,
) -> Result<Step> {
    let facts = table_details(details, table)?;
    let Some(full) = facts.columns.iter().find(|c| c.name == column.name) else {
        return Err(Error::Unsupported {
            table: table.to_owned(),
            what: format!("the catalog facts lack column {}", column.name),
        });
    };
    let involved = |columns: &[String]| columns.contains(&column.name);
    let constraints: Vec<&PgConstraint> = facts
        .constraints
        .iter()
        .filter(|c| involved(&c.columns))
        .collect();
    let indexes: Vec<&PgIndex> = facts
        .indexes
        .iter()
        .filter(|i| involved(&i.columns))
        .collect();
    let gone: Vec<&str> = constraints
        .iter()
        .map(|c| c.name.as_str())
        .chain(indexes.iter().map(|i| i.name.as_str()))
        .collect();
    if !gone.is_empty() {
        notes.push(format!(
            "dropping {table}.{} drops {} with it",
            column.name,
            gone.join(", ")
        ));
    }
    let up = format!(
        "ALTER TABLE {} DROP COLUMN {};\n",
        ident(table),
        ident(&column.name)
    );
    let mut down = format!(
        "-- {} comes back as the last column of {table}.\nALTER TABLE {} ADD COLUMN {};\n",
        column.name,
        ident(table),
        full_column_sql(full)
    );
    for constraint in constraints {
        down.push_str(&add_constraint(table, constraint));
    }
    for index in indexes {
        down.push_str(&format!("{};\n", index.definition));
    }
    down.push_str(&column_comment(table, full));
    Ok(Step { up, down })
}

fn alter_type(
    table: &str,
    before: &Column,
    after: &Column,
    details: &PgDetails,
    notes: &mut Vec<String>,
) -> Step {
    let new_type = type_sql(&after.sql_type, after.max_length);
    let facts = details.tables.get(table);
    let full = facts.and_then(|t| t.columns.iter().find(|c| c.name == before.name));
    let old_type = full.map_or_else(
        || type_sql(&before.sql_type, before.max_length),
        |c| c.type_sql.clone(),
    );
    let change = |to: &str| {
        alter_column(
            table,
            &after.name,
            &format!("TYPE {to} USING {}::{to}", ident(&after.name)),
        )
    };
    notes.push(format!(
        "{table}.{} changes type: PostgreSQL converts its default, CHECKs and indexes too, \
         review them",
        after.name
    ));
    let mut down = change(&old_type);
    // Converting back leaves casts in the default, CHECKs and index expressions: restore
    // their text as it was.
    if let Some(default) = full.and_then(|c| c.default.as_ref()) {
        down.push_str(&alter_column(
            table,
            &after.name,
            &format!("SET DEFAULT {default}"),
        ));
    }
    if let Some(facts) = facts {
        down.push_str(&restore_involving(table, &after.name, facts));
    }
    Step {
        up: change(&new_type),
        down,
    }
}

/// Drops and re-adds, as they were, the CHECKs and indexes that involve `column`.
fn restore_involving(table: &str, column: &str, facts: &PgTable) -> String {
    let involved = |columns: &[String]| columns.iter().any(|c| c == column);
    let mut sql = String::new();
    for constraint in facts.constraints.iter().filter(|c| involved(&c.columns)) {
        if constraint.definition.starts_with("CHECK") {
            sql.push_str(&drop_constraint(table, &constraint.name));
            sql.push_str(&add_constraint(table, constraint));
        }
    }
    for index in facts.indexes.iter().filter(|i| involved(&i.columns)) {
        sql.push_str(&format!(
            "DROP INDEX {};\n{};\n",
            ident(&index.name),
            index.definition
        ));
    }
    sql
}

fn set_nullable(table: &str, column: &Column, notes: &mut Vec<String>) -> Step {
    let (drop, set) = (
        alter_column(table, &column.name, "DROP NOT NULL"),
        alter_column(table, &column.name, "SET NOT NULL"),
    );
    if column.nullable {
        Step {
            up: drop,
            down: set,
        }
    } else {
        notes.push(not_null_note(table, &column.name));
        Step {
            up: set,
            down: drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_types_become_postgresql_types() {
        let b = |name: &str| SqlType::builtin(name);
        assert_eq!(type_sql(&b("Int8"), None), "BIGINT");
        assert_eq!(type_sql(&b("Timestamptz"), None), "TIMESTAMPTZ");
        assert_eq!(type_sql(&b("Numeric"), None), "NUMERIC");
        assert_eq!(type_sql(&b("Varchar"), Some(3)), "VARCHAR(3)");
        assert_eq!(type_sql(&b("Float8"), None), "DOUBLE PRECISION");
        assert_eq!(type_sql(&b("Jsonb"), None), "JSONB");
        let status = SqlType::Custom {
            rust_name: "UserStatus".into(),
            pg_name: "user_status".into(),
            schema: None,
        };
        assert_eq!(type_sql(&status, None), "user_status");
        let array = SqlType::Array {
            element: Box::new(status),
        };
        assert_eq!(type_sql(&array, None), "user_status[]");
    }
}
