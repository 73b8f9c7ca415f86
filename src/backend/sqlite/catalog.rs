//! SQLite: `sqlite_schema` and the `pragma_table_info` / `pragma_foreign_key_list`
//! table-valued functions.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};
use diesel::SqliteConnection;

use crate::catalog::{
    is_bookkeeping_table, one_line, unreadable, CatalogSnapshot, ColumnStructure,
    ForeignKeyStructure, ObjectKind, ReferentialAction, StructureSummary, TableStructure,
};

/// One object of `sqlite_schema`.
#[derive(QueryableByName)]
pub(crate) struct MasterRow {
    /// `table`, `index`, `trigger` or `view`.
    #[diesel(sql_type = Text)]
    pub(crate) kind: String,
    #[diesel(sql_type = Text)]
    pub(crate) name: String,
    /// `tbl_name`: the table it belongs to.
    #[diesel(sql_type = Text)]
    pub(crate) table_name: String,
    /// Its `CREATE` statement; `None` for the automatic indexes of keys.
    #[diesel(sql_type = Nullable<Text>)]
    pub(crate) sql: Option<String>,
}

/// The objects of `sqlite_schema` in creation order, without SQLite's own `sqlite_%`
/// objects (autoindexes, sqlite_sequence, sqlite_stat1).
pub(crate) fn master(conn: &mut SqliteConnection) -> QueryResult<Vec<MasterRow>> {
    diesel::sql_query(
        "SELECT type AS kind, name, tbl_name AS table_name, sql FROM sqlite_master
         WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
    )
    .load(conn)
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Integer)]
    cid: i32,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    declared_type: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
    #[diesel(sql_type = Nullable<Text>)]
    default_value: Option<String>,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

const COLUMNS: &str = "\
    SELECT cid, name, type AS declared_type, \"notnull\", dflt_value AS default_value, pk
    FROM pragma_table_info(?) ORDER BY cid";

#[derive(QueryableByName)]
struct ForeignKeyRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    referenced_table: String,
    #[diesel(sql_type = Text)]
    from_column: String,
    #[diesel(sql_type = Nullable<Text>)]
    to_column: Option<String>,
    #[diesel(sql_type = Text)]
    on_delete: String,
}

const FOREIGN_KEYS: &str = "\
    SELECT id, \"table\" AS referenced_table, \"from\" AS from_column, \"to\" AS to_column, on_delete
    FROM pragma_foreign_key_list(?) ORDER BY id, seq";

/// Snapshots a SQLite database: every `sqlite_schema` object (tables, indexes,
/// triggers, views) with its stored `CREATE` text, whitespace-normalized, plus each
/// table's columns and foreign keys as the pragmas report them. SQLite's own objects
/// and the bookkeeping tables are left out.
pub fn snapshot(conn: &mut SqliteConnection) -> QueryResult<CatalogSnapshot> {
    let mut snapshot = CatalogSnapshot::new();
    for row in master(conn)? {
        if is_bookkeeping_table(&row.table_name) {
            continue;
        }
        let definition = one_line(row.sql.as_deref().unwrap_or(""));
        let (kind, name) = match row.kind.as_str() {
            "table" => (ObjectKind::Table, row.name),
            "view" => (ObjectKind::View, row.name),
            "index" => (
                ObjectKind::Index,
                format!("{}.{}", row.table_name, row.name),
            ),
            "trigger" => (
                ObjectKind::Trigger,
                format!("{}.{}", row.table_name, row.name),
            ),
            other => return Err(unreadable(format!("unknown sqlite_schema type {other:?}"))),
        };
        if kind == ObjectKind::Table || kind == ObjectKind::View {
            add_columns(conn, &mut snapshot, &name)?;
        }
        snapshot.insert(kind, name, definition);
    }
    Ok(snapshot)
}

/// Adds the columns and foreign keys of one table or view to `snapshot`.
fn add_columns(
    conn: &mut SqliteConnection,
    snapshot: &mut CatalogSnapshot,
    table: &str,
) -> QueryResult<()> {
    for column in table_columns(conn, table)? {
        let definition = format!(
            "#{} {}{}{}{}",
            column.cid + 1,
            column.declared_type,
            if column.notnull != 0 { " NOT NULL" } else { "" },
            column
                .default_value
                .map(|d| format!(" DEFAULT {d}"))
                .unwrap_or_default(),
            if column.pk > 0 {
                format!(" PRIMARY KEY({})", column.pk)
            } else {
                String::new()
            },
        );
        snapshot.insert(
            ObjectKind::Column,
            format!("{table}.{}", column.name),
            definition,
        );
    }
    for fk in foreign_keys(conn, table)? {
        let name = format!("{table}.({})", fk.columns.join(", "));
        snapshot.insert(ObjectKind::ForeignKey, name, fk.to_string());
    }
    Ok(())
}

fn table_columns(conn: &mut SqliteConnection, table: &str) -> QueryResult<Vec<ColumnRow>> {
    diesel::sql_query(COLUMNS).bind::<Text, _>(table).load(conn)
}

/// The foreign keys of `table`; a key written without referenced columns references
/// the parent's primary key, which is looked up.
fn foreign_keys(conn: &mut SqliteConnection, table: &str) -> QueryResult<Vec<ForeignKeyStructure>> {
    let rows: Vec<ForeignKeyRow> = diesel::sql_query(FOREIGN_KEYS)
        .bind::<Text, _>(table)
        .load(conn)?;
    let mut grouped: BTreeMap<i32, Vec<ForeignKeyRow>> = BTreeMap::new();
    for row in rows {
        grouped.entry(row.id).or_default().push(row);
    }
    grouped
        .into_values()
        .map(|rows| foreign_key(conn, table, rows))
        .collect()
}

/// One foreign key from its rows (one per column, in key order; never empty).
fn foreign_key(
    conn: &mut SqliteConnection,
    table: &str,
    rows: Vec<ForeignKeyRow>,
) -> QueryResult<ForeignKeyStructure> {
    let first = rows
        .first()
        .ok_or_else(|| unreadable(format!("empty foreign key on table {table}")))?;
    let referenced_table = first.referenced_table.clone();
    let on_delete = ReferentialAction::from_sql(&first.on_delete).ok_or_else(|| {
        unreadable(format!(
            "unknown ON DELETE action {:?} on table {table}",
            first.on_delete
        ))
    })?;
    let columns = rows.iter().map(|r| r.from_column.clone()).collect();
    let referenced_columns = match rows
        .iter()
        .map(|r| r.to_column.clone())
        .collect::<Option<Vec<_>>>()
    {
        Some(explicit) => explicit,
        None => primary_key_columns(conn, &referenced_table)?,
    };
    Ok(ForeignKeyStructure {
        columns,
        referenced_table,
        referenced_columns,
        on_delete,
    })
}

fn primary_key_columns(conn: &mut SqliteConnection, table: &str) -> QueryResult<Vec<String>> {
    let mut columns: Vec<ColumnRow> = table_columns(conn, table)?
        .into_iter()
        .filter(|c| c.pk > 0)
        .collect();
    columns.sort_by_key(|c| c.pk);
    Ok(columns.into_iter().map(|c| c.name).collect())
}

#[derive(QueryableByName)]
struct TableRow {
    #[diesel(sql_type = Text)]
    name: String,
}

const TABLES: &str = "\
    SELECT name FROM sqlite_master
    WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
    ORDER BY name";

/// The backend-neutral shape of a SQLite database: tables, columns (nullability,
/// primary key), foreign keys (`ON DELETE`). Bookkeeping tables are left out.
///
/// An `INTEGER PRIMARY KEY` column counts as NOT NULL only when declared so, as the
/// pragma reports it: declare it `NOT NULL` to match PostgreSQL.
pub fn structure(conn: &mut SqliteConnection) -> QueryResult<StructureSummary> {
    let mut tables = BTreeMap::new();
    for TableRow { name } in diesel::sql_query(TABLES).load::<TableRow>(conn)? {
        if is_bookkeeping_table(&name) {
            continue;
        }
        let columns = table_columns(conn, &name)?
            .into_iter()
            .map(|c| ColumnStructure {
                name: c.name,
                nullable: c.notnull == 0,
                primary_key: c.pk > 0,
            })
            .collect();
        let foreign_keys = foreign_keys(conn, &name)?.into_iter().collect();
        tables.insert(
            name,
            TableStructure {
                columns,
                foreign_keys,
            },
        );
    }
    Ok(StructureSummary { tables })
}
