//! A neutral model of what `diesel print-schema` expresses, so that `schema.rs` (see
//! [`super::declared`]) and a live database (see [`super::inspect`]) can be compared.
//!
//! Everything is named by its SQL name (a `#[sql_name = "..."]` column is named by that),
//! tables are sorted by name as print-schema sorts them, and columns keep their order.
//! What print-schema does not write (defaults, CHECKs, indexes, enum labels, NUMERIC
//! precision) is not here either, except [`EnumType::labels`], which only a database knows.

use std::fmt;

use serde::Serialize;

/// The tables, joinables and custom SQL types of one schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Schema {
    /// Sorted by name.
    pub tables: Vec<Table>,
    /// One per `diesel::joinable!`, sorted by (child, parent, column).
    pub joinables: Vec<Joinable>,
    /// The custom types: the `sql_types` structs of `schema.rs`, or the enum types of the
    /// database's `public` schema.
    pub enums: Vec<EnumType>,
}

/// One `diesel::table!`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// The SQL name.
    pub name: String,
    /// In their order in the table.
    pub columns: Vec<Column>,
    /// The primary key's columns, in key order (diesel's default is `id`).
    pub primary_key: Vec<String>,
}

/// One column of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    /// The SQL name.
    pub name: String,
    /// The type without `Nullable`.
    pub sql_type: SqlType,
    /// Whether the type is `Nullable<...>`.
    pub nullable: bool,
    /// `#[max_length = N]`: the N of `varchar(N)` or `char(N)`.
    pub max_length: Option<u64>,
}

/// A column type as print-schema writes it, without `Nullable`.
#[derive(Debug, Clone, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SqlType {
    /// A type of `diesel::sql_types`, by print-schema's name for it: `Int8`, `Text`,
    /// `Timestamptz` (aliases such as `BigInt` are read as print-schema's `Int8`).
    Builtin {
        /// `Int8`, `Varchar`, ...
        name: String,
    },
    /// A type of the `sql_types` module: an enum type, compared by its PostgreSQL name.
    Custom {
        /// The struct's name: `UserStatus`.
        rust_name: String,
        /// `postgres_type(name = ...)`: `user_status`.
        pg_name: String,
        /// `postgres_type(schema = ...)`, when not `public`.
        schema: Option<String>,
    },
    /// `Array<Nullable<T>>`, as print-schema writes every array.
    Array {
        /// The element type.
        element: Box<SqlType>,
    },
}

// A custom type is the PostgreSQL type it names: a struct renamed by hand is still the same
// column type, as `check --schema` compares `postgres_type(name = ...)`.
impl PartialEq for SqlType {
    fn eq(&self, other: &SqlType) -> bool {
        match (self, other) {
            (SqlType::Builtin { name: a }, SqlType::Builtin { name: b }) => a == b,
            (
                SqlType::Custom {
                    pg_name: a,
                    schema: sa,
                    ..
                },
                SqlType::Custom {
                    pg_name: b,
                    schema: sb,
                    ..
                },
            ) => a == b && sa == sb,
            (SqlType::Array { element: a }, SqlType::Array { element: b }) => a == b,
            _ => false,
        }
    }
}

impl SqlType {
    /// A built-in type by print-schema's name.
    pub fn builtin(name: &str) -> SqlType {
        SqlType::Builtin {
            name: name.to_owned(),
        }
    }

    /// The custom type this is, or holds as array element.
    pub fn custom_pg_name(&self) -> Option<&str> {
        match self {
            SqlType::Builtin { .. } => None,
            SqlType::Custom { pg_name, .. } => Some(pg_name),
            SqlType::Array { element } => element.custom_pg_name(),
        }
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Builtin { name } => f.write_str(name),
            SqlType::Custom {
                rust_name, pg_name, ..
            } => write!(f, "{rust_name} (postgres_type {pg_name:?})"),
            SqlType::Array { element } => write!(f, "Array<Nullable<{element}>>"),
        }
    }
}

impl Column {
    /// The type as print-schema writes it, with `Nullable<...>` and `#[max_length]`.
    pub fn type_text(&self) -> String {
        let mut text = self.sql_type.to_string();
        if self.nullable {
            text = format!("Nullable<{text}>");
        }
        match self.max_length {
            Some(n) => format!("{text} (max_length {n})"),
            None => text,
        }
    }
}

/// `diesel::joinable!(child -> parent (column))`: `child.column` references the primary key
/// of `parent`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Joinable {
    /// The referencing table.
    pub child: String,
    /// The referenced table.
    pub parent: String,
    /// The referencing column of `child`.
    pub column: String,
}

impl fmt::Display for Joinable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} ({})", self.child, self.parent, self.column)
    }
}

/// A custom SQL type; for a database, an enum type with its labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnumType {
    /// The struct's name in `sql_types`: `UserStatus`.
    pub rust_name: String,
    /// The PostgreSQL type name: `user_status`.
    pub pg_name: String,
    /// The labels in their order; empty when read from `schema.rs`, which has none.
    pub labels: Vec<String>,
}

impl Schema {
    /// The table named `name`.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The custom type whose PostgreSQL name is `pg_name`.
    pub fn enum_type(&self, pg_name: &str) -> Option<&EnumType> {
        self.enums.iter().find(|e| e.pg_name == pg_name)
    }

    /// The joinable of `child.column`, if any.
    pub fn joinable_of(&self, child: &str, column: &str) -> Option<&Joinable> {
        self.joinables
            .iter()
            .find(|j| j.child == child && j.column == column)
    }

    /// Sorts tables by name and joinables, as print-schema orders them.
    pub fn sorted(mut self) -> Schema {
        self.tables.sort_by(|a, b| a.name.cmp(&b.name));
        self.joinables.sort();
        self.enums.sort_by(|a, b| a.pg_name.cmp(&b.pg_name));
        self
    }
}

impl Table {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(rust: &str, pg: &str) -> SqlType {
        SqlType::Custom {
            rust_name: rust.into(),
            pg_name: pg.into(),
            schema: None,
        }
    }

    #[test]
    fn custom_types_compare_by_their_postgres_name() {
        assert_eq!(
            custom("UserStatus", "user_status"),
            custom("Status", "user_status")
        );
        assert_ne!(
            custom("UserStatus", "user_status"),
            custom("UserStatus", "kyc_status")
        );
        assert_ne!(custom("Text", "text"), SqlType::builtin("Text"));
    }

    #[test]
    fn types_print_as_print_schema_writes_them() {
        let column = Column {
            name: "tags".into(),
            sql_type: SqlType::Array {
                element: Box::new(SqlType::builtin("Text")),
            },
            nullable: true,
            max_length: None,
        };
        assert_eq!(column.type_text(), "Nullable<Array<Nullable<Text>>>");
        let varchar = Column {
            name: "code".into(),
            sql_type: SqlType::builtin("Varchar"),
            nullable: false,
            max_length: Some(3),
        };
        assert_eq!(varchar.type_text(), "Varchar (max_length 3)");
        assert_eq!(
            custom("UserStatus", "user_status").to_string(),
            "UserStatus (postgres_type \"user_status\")"
        );
    }

    #[test]
    fn the_custom_type_of_an_array_is_its_element_type() {
        let array = SqlType::Array {
            element: Box::new(custom("UserStatus", "user_status")),
        };
        assert_eq!(array.custom_pg_name(), Some("user_status"));
        assert_eq!(SqlType::builtin("Int8").custom_pg_name(), None);
    }
}
