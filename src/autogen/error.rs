//! The one error type of [`crate::autogen`]: what went wrong, to what, and what to do next.
//!
//! The binary maps them to exit codes: a `schema.rs` that cannot be read or parsed and a
//! refused change are bad input (2), a failed catalog query is operational (1).

use std::path::PathBuf;

/// Why the autogen core could not read a schema or write a migration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `print_schema` file could not be read.
    #[error(
        "cannot read {} (the [print_schema] file of diesel.toml): {source}; fix its path in \
         diesel.toml, or write it with diesel print-schema",
        path.display()
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The `print_schema` file holds something this reader does not understand.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Declared {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending item.
        line: usize,
        /// 1-based column of the offending item.
        column: usize,
        /// What could not be understood, and what to do.
        message: String,
    },
    /// A catalog query failed.
    #[error("cannot read {what} from the database: {source}")]
    Catalog {
        /// What was being read: "the columns of users".
        what: String,
        /// diesel's error.
        source: diesel::result::Error,
    },
    /// A table without a primary key, which `diesel print-schema` refuses as well.
    #[error(
        "table {table} has no primary key, so diesel print-schema cannot write it: add one \
         in a migration"
    )]
    NoPrimaryKey {
        /// The table.
        table: String,
    },
    /// A new column that is not the last of its `table!` block.
    #[error(
        "column {table}.{column} is new but declared before {table}.{next}, and ADD COLUMN \
         can only append: move it to the end of the table! block of {table} in schema.rs, \
         or write this migration by hand"
    )]
    ColumnNotLast {
        /// The table.
        table: String,
        /// The new column.
        column: String,
        /// The existing column declared after it.
        next: String,
    },
    /// A column of a custom type that no migration creates.
    #[error(
        "{table}.{column} has type {rust_name} (postgres_type {pg_name:?}), an enum type that \
         the migrations do not create, and schema.rs cannot say its values: create it in a \
         hand-written migration first (CREATE TYPE {pg_name} AS ENUM (...)), then run \
         autogenerate again"
    )]
    NewEnumType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The struct in `sql_types`.
        rust_name: String,
        /// `postgres_type(name = ...)`.
        pg_name: String,
    },
    /// A difference that autogenerate does not write.
    #[error("{table}: {what}")]
    Unsupported {
        /// The table.
        table: String,
        /// What differs, why it is not generated, and what to do instead.
        what: String,
    },
    /// The SQLite schema given to the SQLite generator lacks or garbles a table.
    #[error("SQLite table {table}: {message}")]
    SqliteSchema {
        /// The table.
        table: String,
        /// What is wrong with its `CREATE TABLE` text.
        message: String,
    },
}

impl Error {
    /// A stable machine-readable name, for the JSON `error.kind` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Read { .. } => "schema_unreadable",
            Error::Declared { .. } => "schema_unparsable",
            Error::Catalog { .. } => "query",
            Error::NoPrimaryKey { .. } => "no_primary_key",
            Error::ColumnNotLast { .. } => "column_not_last",
            Error::NewEnumType { .. } => "new_enum_type",
            Error::Unsupported { .. } => "unsupported_change",
            Error::SqliteSchema { .. } => "sqlite_schema",
        }
    }
}

/// The result type of [`crate::autogen`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
