//! Reads the [`Schema`] model from a live PostgreSQL database exactly as `diesel
//! print-schema` (diesel_cli 2.3, `infer_schema_internals`) infers it, plus what the
//! generator needs beyond it:
//!
//! - [`inspect`]: the `public` schema's base tables, except those whose name starts with
//!   `__` (the bookkeeping tables); columns in ordinal order with their `udt_name` turned
//!   into print-schema's type names, nullability and `character_maximum_length`; primary
//!   keys; joinables from the foreign keys, filtered as print-schema filters them (single
//!   column, not self-referencing, to the parent's one-column primary key, and never two
//!   between the same pair of tables); the enum types with their labels.
//! - [`pg_details`]: per table, the full definitions (types with their modifiers,
//!   defaults, identity, constraints, indexes, triggers, comments) that an exact `down.sql`
//!   needs to recreate what an `up.sql` drops.
//! - [`sqlite_objects`]: a SQLite database's stored `CREATE` statements, the SQLite
//!   generator's input.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Integer, Nullable, Text};
use diesel::PgConnection;

use super::error::{Error, Result};
use super::model::{Column, EnumType, Joinable, Schema, SqlType, Table};
use super::types::{canonical_name, is_diesel_type, rust_name_of};

/// The schema print-schema reads when `diesel.toml` names none.
const SCHEMA: &str = "public";

/// The model of the `public` schema of the database behind `conn`, as print-schema sees it.
pub fn inspect(conn: &mut PgConnection) -> Result<Schema> {
    let names = table_names(conn)?;
    let mut columns = columns(conn)?;
    let keys = primary_keys(conn)?;
    let mut tables = Vec::new();
    for name in &names {
        let primary_key = keys.get(name).cloned().unwrap_or_default();
        if primary_key.is_empty() {
            return Err(Error::NoPrimaryKey {
                table: name.clone(),
            });
        }
        tables.push(Table {
            name: name.clone(),
            columns: columns.remove(name).unwrap_or_default(),
            primary_key,
        });
    }
    let joinables = joinables(&foreign_keys(conn)?, &names, &keys);
    let enums = enum_types(conn)?;
    Ok(Schema {
        tables,
        joinables,
        enums,
    }
    .sorted())
}

fn catalog(what: &str) -> impl FnOnce(diesel::result::Error) -> Error + '_ {
    move |source| Error::Catalog {
        what: what.to_owned(),
        source,
    }
}

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = Text)]
    name: String,
}

fn table_names(conn: &mut PgConnection) -> Result<Vec<String>> {
    // print-schema: information_schema.tables, BASE TABLE only, `NOT LIKE '\_\_%'`.
    let rows: Vec<NameRow> = diesel::sql_query(
        "SELECT table_name::text AS name FROM information_schema.tables
         WHERE table_schema = $1 AND table_name::text NOT LIKE '\\_\\_%'
           AND table_type::text LIKE 'BASE TABLE'",
    )
    .bind::<Text, _>(SCHEMA)
    .load(conn)
    .map_err(catalog("the table names"))?;
    let mut names: Vec<String> = rows.into_iter().map(|r| r.name).collect();
    // Sorted by bytes, as print-schema sorts them in Rust (not by the server's collation).
    names.sort_unstable();
    Ok(names)
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    udt_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    udt_schema: Option<String>,
    #[diesel(sql_type = Bool)]
    nullable: bool,
    #[diesel(sql_type = Nullable<Integer>)]
    max_length: Option<i32>,
}

fn columns(conn: &mut PgConnection) -> Result<BTreeMap<String, Vec<Column>>> {
    let rows: Vec<ColumnRow> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, udt_name::text, udt_schema::text,
                is_nullable::text = 'YES' AS nullable,
                character_maximum_length::int4 AS max_length
         FROM information_schema.columns WHERE table_schema = $1
         ORDER BY table_name, ordinal_position",
    )
    .bind::<Text, _>(SCHEMA)
    .load(conn)
    .map_err(catalog("the columns"))?;
    let mut tables: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for row in rows {
        let column = Column {
            name: row.column_name,
            sql_type: column_type(&row.udt_name, row.udt_schema.as_deref()),
            nullable: row.nullable,
            max_length: row.max_length.and_then(|n| u64::try_from(n).ok()),
        };
        tables.entry(row.table_name).or_default().push(column);
    }
    Ok(tables)
}

/// print-schema's type for a `udt_name`: `_x` is an array of `x`; a name diesel does not
/// provide is a custom type, with its schema when that is not `public`.
fn column_type(udt_name: &str, udt_schema: Option<&str>) -> SqlType {
    if let Some(element) = udt_name.strip_prefix('_') {
        let element = Box::new(column_type(element, udt_schema));
        return SqlType::Array { element };
    }
    let rust_name = rust_name_of(udt_name);
    if is_diesel_type(&rust_name) {
        return SqlType::builtin(canonical_name(&rust_name));
    }
    SqlType::Custom {
        rust_name,
        pg_name: udt_name.to_owned(),
        schema: udt_schema.filter(|s| *s != SCHEMA).map(str::to_owned),
    }
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

fn primary_keys(conn: &mut PgConnection) -> Result<BTreeMap<String, Vec<String>>> {
    // print-schema's query, quirk included: the key columns of constraints whose *name* is
    // that of some primary key.
    let rows: Vec<KeyRow> = diesel::sql_query(
        "SELECT table_name::text, column_name::text FROM information_schema.key_column_usage
         WHERE table_schema = $1 AND constraint_name IN (
             SELECT constraint_name FROM information_schema.table_constraints
             WHERE constraint_type = 'PRIMARY KEY')
         ORDER BY table_name, ordinal_position",
    )
    .bind::<Text, _>(SCHEMA)
    .load(conn)
    .map_err(catalog("the primary keys"))?;
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows {
        keys.entry(row.table_name)
            .or_default()
            .push(row.column_name);
    }
    Ok(keys)
}

/// One foreign key constraint of the schema, as print-schema loads them.
#[derive(QueryableByName)]
struct ForeignKey {
    #[diesel(sql_type = Text)]
    self_table: String,
    #[diesel(sql_type = Array<Text>)]
    self_columns: Vec<String>,
    #[diesel(sql_type = Text)]
    foreign_table: String,
    #[diesel(sql_type = Array<Text>)]
    foreign_columns: Vec<String>,
}

fn foreign_keys(conn: &mut PgConnection) -> Result<Vec<ForeignKey>> {
    // diesel_cli's load_foreign_keys.sql, with the names cast to text. It groups by table
    // pair, not by constraint: two keys from one table to another come out as one row of
    // two columns, which the single-column rule then leaves out (transactions -> users).
    diesel::sql_query(
        r#"SELECT tbl.relname::text AS self_table,
               ARRAY_AGG(col.attname::text ORDER BY u.attposition) AS self_columns,
               f_tbl.relname::text AS foreign_table,
               ARRAY_AGG(f_col.attname::text ORDER BY f_u.attposition) AS foreign_columns
           FROM pg_constraint c
           LEFT JOIN LATERAL UNNEST(c.conkey) WITH ORDINALITY AS u(attnum, attposition) ON TRUE
           LEFT JOIN LATERAL UNNEST(c.confkey) WITH ORDINALITY AS f_u(attnum, attposition)
                ON f_u.attposition = u.attposition
           JOIN pg_class tbl ON tbl.oid = c.conrelid
           JOIN pg_namespace sch ON sch.oid = tbl.relnamespace
           LEFT JOIN pg_attribute col ON (col.attrelid = tbl.oid AND col.attnum = u.attnum)
           LEFT JOIN pg_class f_tbl ON f_tbl.oid = c.confrelid
           LEFT JOIN pg_namespace f_sch ON f_sch.oid = f_tbl.relnamespace
           LEFT JOIN pg_attribute f_col ON (f_col.attrelid = f_tbl.oid AND f_col.attnum = f_u.attnum)
           WHERE sch.nspname = $1 AND f_sch.nspname = $1 AND c.contype = 'f'
           GROUP BY sch.nspname, tbl.relname, f_sch.nspname, f_tbl.relname"#,
    )
    .bind::<Text, _>(SCHEMA)
    .load(conn)
    .map_err(catalog("the foreign keys"))
}

/// The joinables print-schema writes for `keys` (`remove_unsafe_foreign_keys_for_codegen`).
fn joinables(
    keys: &[ForeignKey],
    tables: &[String],
    primary_keys: &BTreeMap<String, Vec<String>>,
) -> Vec<Joinable> {
    let pair = |fk: &ForeignKey| {
        let (a, b) = (&fk.self_table, &fk.foreign_table);
        if a <= b {
            (a.clone(), b.clone())
        } else {
            (b.clone(), a.clone())
        }
    };
    // Two keys between the same two tables (either way) leave both out: diesel could not
    // tell which one a join means.
    let duplicated = |fk: &ForeignKey| keys.iter().filter(|k| pair(k) == pair(fk)).count() > 1;
    let to_primary_key = |fk: &ForeignKey| match primary_keys.get(&fk.foreign_table) {
        Some(key) => key.len() == 1 && fk.foreign_columns.first() == key.first(),
        None => false,
    };
    let mut joinables: Vec<Joinable> = keys
        .iter()
        .filter(|fk| fk.self_table != fk.foreign_table)
        .filter(|fk| tables.contains(&fk.self_table) && tables.contains(&fk.foreign_table))
        .filter(|fk| fk.self_columns.len() == 1)
        .filter(|fk| to_primary_key(fk))
        .filter(|fk| !duplicated(fk))
        .map(|fk| Joinable {
            child: fk.self_table.clone(),
            parent: fk.foreign_table.clone(),
            column: fk.self_columns[0].clone(),
        })
        .collect();
    joinables.sort();
    joinables
}

#[derive(QueryableByName)]
struct EnumRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Array<Text>)]
    labels: Vec<String>,
}

fn enum_types(conn: &mut PgConnection) -> Result<Vec<EnumType>> {
    let rows: Vec<EnumRow> = diesel::sql_query(
        "SELECT t.typname::text AS name,
                array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
         FROM pg_type t
         JOIN pg_namespace n ON n.oid = t.typnamespace
         JOIN pg_enum e ON e.enumtypid = t.oid
         WHERE n.nspname = $1
         GROUP BY t.typname",
    )
    .bind::<Text, _>(SCHEMA)
    .load(conn)
    .map_err(catalog("the enum types"))?;
    Ok(rows
        .into_iter()
        .map(|row| EnumType {
            rust_name: rust_name_of(&row.name),
            pg_name: row.name,
            labels: row.labels,
        })
        .collect())
}

pub use super::generate::pg::{PgColumn, PgConstraint, PgDetails, PgIndex, PgTable};

/// The full definitions of every table of the `public` schema, for exact `down.sql`s.
pub fn pg_details(conn: &mut PgConnection) -> Result<PgDetails> {
    super::generate::pg::read_details(conn)
}

#[cfg(feature = "sqlite")]
pub use super::generate::sqlite::read_objects as sqlite_objects;

#[cfg(test)]
mod tests {
    use super::*;

    fn fk(child: &str, columns: &[&str], parent: &str, parent_columns: &[&str]) -> ForeignKey {
        let owned = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect();
        ForeignKey {
            self_table: child.into(),
            self_columns: owned(columns),
            foreign_table: parent.into(),
            foreign_columns: owned(parent_columns),
        }
    }

    #[test]
    fn joinables_are_filtered_as_print_schema_filters_them() {
        let tables: Vec<String> = ["a", "b", "c", "d", "users"].map(String::from).into();
        let mut keys = BTreeMap::new();
        for t in &tables {
            keys.insert(t.clone(), vec!["id".to_owned()]);
        }
        keys.insert("d".into(), vec!["x".to_owned(), "y".to_owned()]);
        let fks = [
            fk("a", &["user_id"], "users", &["id"]),
            fk("b", &["from_id", "to_id"], "users", &["id", "id"]),
            fk("a", &["parent_id"], "a", &["id"]),
            fk("c", &["x", "y"], "d", &["x", "y"]),
            fk("c", &["d_x"], "d", &["x"]),
            fk("c", &["code"], "users", &["code"]),
            fk("c", &["hidden_id"], "__hidden", &["id"]),
        ];
        let found: Vec<String> = joinables(&fks, &tables, &keys)
            .iter()
            .map(|j| j.to_string())
            .collect();
        assert_eq!(found, ["a -> users (user_id)"]);
    }

    #[test]
    fn two_keys_between_two_tables_either_way_drop_both() {
        let tables: Vec<String> = ["a", "b"].map(String::from).into();
        let keys = tables
            .iter()
            .map(|t| (t.clone(), vec!["id".to_owned()]))
            .collect();
        let fks = [
            fk("a", &["b_id"], "b", &["id"]),
            fk("b", &["a_id"], "a", &["id"]),
        ];
        assert!(joinables(&fks, &tables, &keys).is_empty());
        assert_eq!(joinables(&fks[..1], &tables, &keys).len(), 1);
    }

    #[test]
    fn column_types_follow_print_schema() {
        assert_eq!(
            column_type("int8", Some("pg_catalog")),
            SqlType::builtin("Int8")
        );
        assert_eq!(
            column_type("_text", Some("pg_catalog")),
            SqlType::Array {
                element: Box::new(SqlType::builtin("Text"))
            }
        );
        assert_eq!(
            column_type("user_status", Some("public")),
            SqlType::Custom {
                rust_name: "UserStatus".into(),
                pg_name: "user_status".into(),
                schema: None
            }
        );
        assert_eq!(
            column_type("xml", Some("pg_catalog")),
            SqlType::Custom {
                rust_name: "Xml".into(),
                pg_name: "xml".into(),
                schema: Some("pg_catalog".into())
            }
        );
    }
}
