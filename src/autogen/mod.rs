//! The pure core of `haven-migrate check --schema` and `revision --autogenerate`
//! (issue 14): `schema.rs` and a live database read as one model, their differences, and
//! the migration SQL, for PostgreSQL and SQLite, that turns one into the other.
//!
//! - [`model`]: what `diesel print-schema` expresses (tables, columns in order, types,
//!   nullability, primary keys, joinables, custom types).
//! - [`declared`]: the model of a `print_schema` file, read with `syn` and diesel's own
//!   `table!` syntax crate.
//! - [`inspect`]: the model of a live PostgreSQL database, inferred as print-schema infers
//!   it; plus the catalog facts that an exact `down.sql` needs ([`inspect::pg_details`]),
//!   and a SQLite database's stored `CREATE` statements ([`inspect::sqlite_objects`]).
//! - [`diff`]: the differences between the declared and the actual model, for
//!   `check --schema` (text lines and JSON `schema_diff`).
//! - [`generate`]: the `up.sql`/`down.sql` of a migration from the actual model to the
//!   declared one, in both dialects, or a typed refusal.
//!
//! Nothing here runs a migration, writes a file or prints. What the caller provides (the
//! `haven-migrate` commands):
//! - the **actual** side: replay the migrations into a scratch PostgreSQL database, then
//!   [`inspect::inspect`] and [`inspect::pg_details`] it; for SQLite, replay
//!   `migrations/sqlite` into a temporary file and read [`inspect::sqlite_objects`];
//! - the **declared** side: [`declared::declared`] on the `print_schema` file of
//!   `diesel.toml`;
//! - the proof: apply the generated SQL to those scratch databases, compare again, revert.

pub mod declared;
pub mod diff;
pub mod error;
pub mod generate;
pub mod inspect;
pub mod model;
mod types;

pub use error::{Error, Result};
pub use model::{Column, EnumType, Joinable, Schema, SqlType, Table};
