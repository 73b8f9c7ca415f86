//! The differences between the schema `schema.rs` declares and the one the migrations
//! produce: what `check --schema` reports, one [`Difference`] per line of text or per
//! entry of the JSON `schema_diff`.
//!
//! "Expected" is always `schema.rs`, "actual" the migrations. The comparison covers what
//! `diesel print-schema` writes: tables, columns in order, types (custom types by their
//! PostgreSQL name), nullability, primary keys and joinables.

use std::fmt;

use serde::Serialize;

use super::model::{Column, Schema, Table};

/// One way the two schemas differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The table (for a joinable, the child table).
    pub table: String,
    /// The column, for a column or joinable difference.
    pub column: Option<String>,
    /// What differs.
    pub kind: DiffKind,
    /// What `schema.rs` says.
    pub expected: String,
    /// What the migrations produce.
    pub actual: String,
}

/// The kinds of [`Difference`]; in JSON, `missing_table`, `column_order`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// In `schema.rs`, not produced by the migrations.
    MissingTable,
    /// Produced by the migrations, not in `schema.rs`.
    ExtraTable,
    /// A column in `schema.rs` that the migrations do not produce.
    MissingColumn,
    /// A column the migrations produce that `schema.rs` lacks.
    ExtraColumn,
    /// The columns both sides have come in another order.
    ColumnOrder,
    /// Another SQL type (or `#[max_length]`).
    Type,
    /// `Nullable` on one side only.
    Nullability,
    /// Other primary key columns.
    PrimaryKey,
    /// A `joinable!` in `schema.rs` that the migrations' foreign keys do not give.
    MissingJoinable,
    /// A joinable the migrations' foreign keys give that `schema.rs` lacks.
    ExtraJoinable,
}

impl DiffKind {
    /// The kind in words, as in the text output.
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::MissingTable => "missing table",
            DiffKind::ExtraTable => "extra table",
            DiffKind::MissingColumn => "missing column",
            DiffKind::ExtraColumn => "extra column",
            DiffKind::ColumnOrder => "column order",
            DiffKind::Type => "type",
            DiffKind::Nullability => "nullability",
            DiffKind::PrimaryKey => "primary key",
            DiffKind::MissingJoinable => "missing joinable",
            DiffKind::ExtraJoinable => "extra joinable",
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "{}.{column}", self.table)?,
            None => f.write_str(&self.table)?,
        }
        write!(
            f,
            ": {}: schema.rs has {}, the migrations give {}",
            self.kind.as_str(),
            self.expected,
            self.actual
        )
    }
}

const ABSENT: &str = "nothing";

/// Every difference between `expected` (`schema.rs`) and `actual` (the migrations): by
/// table name, then the joinables; empty when they agree.
pub fn differences(expected: &Schema, actual: &Schema) -> Vec<Difference> {
    let mut out = Vec::new();
    for table in &expected.tables {
        match actual.table(&table.name) {
            Some(other) => table_differences(table, other, &mut out),
            None => out.push(table_presence(table, DiffKind::MissingTable)),
        }
    }
    for table in &actual.tables {
        if expected.table(&table.name).is_none() {
            out.push(table_presence(table, DiffKind::ExtraTable));
        }
    }
    out.sort_by(|a, b| a.table.cmp(&b.table));
    joinable_differences(expected, actual, &mut out);
    out
}

fn table_presence(table: &Table, kind: DiffKind) -> Difference {
    let shown = format!("table {}", table.name);
    let (expected, actual) = match kind {
        DiffKind::MissingTable => (shown, ABSENT.to_owned()),
        _ => (ABSENT.to_owned(), shown),
    };
    Difference {
        table: table.name.clone(),
        column: None,
        kind,
        expected,
        actual,
    }
}

fn table_differences(expected: &Table, actual: &Table, out: &mut Vec<Difference>) {
    let table = |kind, column: Option<&str>, declared: String, produced: String| Difference {
        table: expected.name.clone(),
        column: column.map(str::to_owned),
        kind,
        expected: declared,
        actual: produced,
    };
    for column in &expected.columns {
        match actual.column(&column.name) {
            Some(other) => column_differences(expected, column, other, out),
            None => out.push(table(
                DiffKind::MissingColumn,
                Some(&column.name),
                column.type_text(),
                ABSENT.to_owned(),
            )),
        }
    }
    for column in &actual.columns {
        if expected.column(&column.name).is_none() {
            out.push(table(
                DiffKind::ExtraColumn,
                Some(&column.name),
                ABSENT.to_owned(),
                column.type_text(),
            ));
        }
    }
    let (mine, theirs) = (
        common_order(expected, actual),
        common_order(actual, expected),
    );
    if mine != theirs {
        out.push(table(DiffKind::ColumnOrder, None, mine, theirs));
    }
    if expected.primary_key != actual.primary_key {
        let key = |t: &Table| format!("({})", t.primary_key.join(", "));
        out.push(table(
            DiffKind::PrimaryKey,
            None,
            key(expected),
            key(actual),
        ));
    }
}

/// The columns of `table` that `other` has too, in `table`'s order.
fn common_order(table: &Table, other: &Table) -> String {
    let names: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| other.column(&c.name).is_some())
        .map(|c| c.name.as_str())
        .collect();
    names.join(", ")
}

fn column_differences(
    table: &Table,
    expected: &Column,
    actual: &Column,
    out: &mut Vec<Difference>,
) {
    let difference = |kind, declared: String, produced: String| Difference {
        table: table.name.clone(),
        column: Some(expected.name.clone()),
        kind,
        expected: declared,
        actual: produced,
    };
    if expected.sql_type != actual.sql_type || expected.max_length != actual.max_length {
        let shown = |c: &Column| Column {
            nullable: false,
            ..c.clone()
        };
        out.push(difference(
            DiffKind::Type,
            shown(expected).type_text(),
            shown(actual).type_text(),
        ));
    }
    if expected.nullable != actual.nullable {
        let shown = |c: &Column| if c.nullable { "Nullable" } else { "NOT NULL" };
        out.push(difference(
            DiffKind::Nullability,
            shown(expected).to_owned(),
            shown(actual).to_owned(),
        ));
    }
}

fn joinable_differences(expected: &Schema, actual: &Schema, out: &mut Vec<Difference>) {
    let mut push = |joinable: &super::model::Joinable, kind| {
        let shown = format!("joinable!({joinable})");
        let (expected, actual) = match kind {
            DiffKind::MissingJoinable => (shown, ABSENT.to_owned()),
            _ => (ABSENT.to_owned(), shown),
        };
        out.push(Difference {
            table: joinable.child.clone(),
            column: Some(joinable.column.clone()),
            kind,
            expected,
            actual,
        });
    };
    for joinable in &expected.joinables {
        if !actual.joinables.contains(joinable) {
            push(joinable, DiffKind::MissingJoinable);
        }
    }
    for joinable in &actual.joinables {
        if !expected.joinables.contains(joinable) {
            push(joinable, DiffKind::ExtraJoinable);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autogen::model::{Joinable, SqlType};

    fn column(name: &str, sql_type: &str, nullable: bool) -> Column {
        Column {
            name: name.into(),
            sql_type: SqlType::builtin(sql_type),
            nullable,
            max_length: None,
        }
    }

    fn users() -> Table {
        Table {
            name: "users".into(),
            columns: vec![
                column("id", "Int8", false),
                column("email", "Text", true),
                column("created_at", "Timestamptz", false),
            ],
            primary_key: vec!["id".into()],
        }
    }

    fn schema(tables: Vec<Table>, joinables: Vec<Joinable>) -> Schema {
        Schema {
            tables,
            joinables,
            enums: vec![],
        }
    }

    fn kinds(diffs: &[Difference]) -> Vec<(DiffKind, Option<&str>)> {
        diffs
            .iter()
            .map(|d| (d.kind, d.column.as_deref()))
            .collect()
    }

    #[test]
    fn equal_schemas_have_no_difference() {
        let s = schema(vec![users()], vec![]);
        assert_eq!(differences(&s, &s), []);
    }

    #[test]
    fn tables_missing_or_extra() {
        let posts = Table {
            name: "posts".into(),
            ..users()
        };
        let expected = schema(vec![users()], vec![]);
        let actual = schema(vec![posts], vec![]);
        let diffs = differences(&expected, &actual);
        assert_eq!(
            kinds(&diffs),
            [(DiffKind::ExtraTable, None), (DiffKind::MissingTable, None)]
        );
        assert_eq!(diffs[0].table, "posts");
        assert_eq!(
            diffs[1].to_string(),
            "users: missing table: schema.rs has table users, the migrations give nothing"
        );
    }

    #[test]
    fn columns_types_nullability_order_and_keys() {
        let mut declared = users();
        declared.columns[1] = column("email", "Varchar", false);
        declared.columns.push(column("nickname", "Text", true));
        declared.columns.swap(0, 2);
        declared.primary_key = vec!["created_at".into()];
        let mut produced = users();
        produced.columns.push(column("legacy", "Int4", false));
        let diffs = differences(
            &schema(vec![declared], vec![]),
            &schema(vec![produced], vec![]),
        );
        assert_eq!(
            kinds(&diffs),
            [
                (DiffKind::Type, Some("email")),
                (DiffKind::Nullability, Some("email")),
                (DiffKind::MissingColumn, Some("nickname")),
                (DiffKind::ExtraColumn, Some("legacy")),
                (DiffKind::ColumnOrder, None),
                (DiffKind::PrimaryKey, None),
            ]
        );
        assert_eq!(diffs[0].expected, "Varchar");
        assert_eq!(diffs[0].actual, "Text");
        assert_eq!(diffs[1].expected, "NOT NULL");
        assert_eq!(diffs[1].actual, "Nullable");
        assert_eq!(diffs[4].expected, "created_at, email, id");
        assert_eq!(diffs[4].actual, "id, email, created_at");
        assert_eq!(diffs[5].expected, "(created_at)");
        assert_eq!(
            diffs[3].to_string(),
            "users.legacy: extra column: schema.rs has nothing, the migrations give Int4"
        );
    }

    #[test]
    fn max_length_is_part_of_the_type() {
        let mut declared = users();
        declared.columns[1].max_length = Some(40);
        let diffs = differences(
            &schema(vec![declared], vec![]),
            &schema(vec![users()], vec![]),
        );
        assert_eq!(kinds(&diffs), [(DiffKind::Type, Some("email"))]);
        assert_eq!(diffs[0].expected, "Text (max_length 40)");
    }

    #[test]
    fn joinables_missing_or_extra() {
        let posts = Table {
            name: "posts".into(),
            ..users()
        };
        let joinable = |column: &str| Joinable {
            child: "posts".into(),
            parent: "users".into(),
            column: column.into(),
        };
        let expected = schema(vec![posts.clone(), users()], vec![joinable("id")]);
        let actual = schema(vec![posts, users()], vec![joinable("email")]);
        let diffs = differences(&expected, &actual);
        assert_eq!(
            kinds(&diffs),
            [
                (DiffKind::MissingJoinable, Some("id")),
                (DiffKind::ExtraJoinable, Some("email"))
            ]
        );
        assert_eq!(diffs[0].expected, "joinable!(posts -> users (id))");
    }

    #[test]
    fn serializes_as_schema_diff_entries() {
        let mut declared = users();
        declared.columns[1].nullable = false;
        let diffs = differences(
            &schema(vec![declared], vec![]),
            &schema(vec![users()], vec![]),
        );
        let json = serde_json::to_value(&diffs).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!([{
                "table": "users",
                "column": "email",
                "kind": "nullability",
                "expected": "NOT NULL",
                "actual": "Nullable",
            }])
        );
    }
}
