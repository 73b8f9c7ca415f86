//! The names of diesel's built-in PostgreSQL types, as `diesel print-schema` writes them.
//!
//! print-schema names a column type by the UpperCamelCase of its PostgreSQL type name
//! (`int8` → `Int8`, `timestamptz` → `Timestamptz`) and calls it custom, with a struct in
//! `sql_types`, when that name is not one that diesel provides. The list below is
//! print-schema's own (diesel_cli 2.3, `pg_diesel_types` and `common_diesel_types`).

use heck::ToUpperCamelCase;

/// The type names diesel provides on PostgreSQL (print-schema's list).
const DIESEL_PG_TYPES: &[&str] = &[
    // common_diesel_types
    "Bool",
    "Integer",
    "SmallInt",
    "BigInt",
    "Binary",
    "Text",
    "Double",
    "Float",
    "Numeric",
    "Timestamp",
    "Date",
    "Time",
    "Float4",
    "Smallint",
    "Int2",
    "Int4",
    "Int8",
    "Bigint",
    "Float8",
    "Decimal",
    "VarChar",
    "Varchar",
    "Char",
    "Tinytext",
    "Mediumtext",
    "Longtext",
    "Tinyblob",
    "Blob",
    "Mediumblob",
    "Longblob",
    "Varbinary",
    "Bit",
    // pg_diesel_types
    "Cidr",
    "Citext",
    "Inet",
    "Jsonb",
    "MacAddr",
    "MacAddr8",
    "Money",
    "Oid",
    "Range",
    "Timestamptz",
    "Uuid",
    "Json",
    "PgLsn",
    "Record",
    "Interval",
    "Int4range",
    "Int8range",
    "Daterange",
    "Numrange",
    "Tsrange",
    "Tstzrange",
    "Int4multirange",
    "Int8multirange",
    "Datemultirange",
    "Nummultirange",
    "Tsmultirange",
    "Tstzmultirange",
    "SmallSerial",
    "BigSerial",
    "Serial",
    "Bytea",
    "Bpchar",
    "Macaddr",
    "Macaddr8",
];

/// diesel's other names for a type, mapped to the one print-schema writes, so that a
/// column written by hand as `BigInt` compares equal to the database's `Int8`.
const ALIASES: &[(&str, &str)] = &[
    ("Integer", "Int4"),
    ("Serial", "Int4"),
    ("BigInt", "Int8"),
    ("Bigint", "Int8"),
    ("BigSerial", "Int8"),
    ("SmallInt", "Int2"),
    ("Smallint", "Int2"),
    ("SmallSerial", "Int2"),
    ("Float", "Float4"),
    ("Double", "Float8"),
    ("Decimal", "Numeric"),
    ("VarChar", "Varchar"),
    ("Binary", "Bytea"),
    ("MacAddr", "Macaddr"),
    ("MacAddr8", "Macaddr8"),
];

/// Whether print-schema treats `rust_name` as a type diesel provides.
pub fn is_diesel_type(rust_name: &str) -> bool {
    DIESEL_PG_TYPES.contains(&rust_name)
}

/// print-schema's name for a built-in type written under another of diesel's names.
pub fn canonical_name(rust_name: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == rust_name)
        .map_or(rust_name, |(_, name)| name)
}

/// The Rust name print-schema gives the PostgreSQL type `pg_name`.
pub fn rust_name_of(pg_name: &str) -> String {
    pg_name.to_upper_camel_case()
}

/// The PostgreSQL type of a built-in print-schema name: its lower case, which is the
/// type's `udt_name` (`Int8` → `int8`), except `PgLsn`.
pub fn pg_name_of(builtin: &str) -> String {
    match builtin {
        "PgLsn" => "pg_lsn".to_owned(),
        other => other.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_print_schema() {
        assert_eq!(rust_name_of("int8"), "Int8");
        assert_eq!(rust_name_of("timestamptz"), "Timestamptz");
        assert_eq!(rust_name_of("user_status"), "UserStatus");
        assert_eq!(rust_name_of("pg_lsn"), "PgLsn");
        assert!(is_diesel_type("Timestamptz"));
        assert!(!is_diesel_type("UserStatus"));
    }

    #[test]
    fn aliases_become_print_schema_names() {
        assert_eq!(canonical_name("BigInt"), "Int8");
        assert_eq!(canonical_name("Integer"), "Int4");
        assert_eq!(canonical_name("VarChar"), "Varchar");
        assert_eq!(canonical_name("Int8"), "Int8");
        assert_eq!(canonical_name("Text"), "Text");
        assert_eq!(pg_name_of("Timestamptz"), "timestamptz");
        assert_eq!(pg_name_of("PgLsn"), "pg_lsn");
    }
}
