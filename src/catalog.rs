//! Snapshots of a database's catalog, to compare schemas.
//!
//! Two views of a schema, both plain sorted values that compare with `==`:
//!
//! - [`CatalogSnapshot`]: every object of one backend with its full definition, as the
//!   server itself prints it (`pg_get_constraintdef`, `pg_get_indexdef`, SQLite's stored
//!   `CREATE` text, ...). Taken before an `up.sql` and after its `down.sql`, two snapshots
//!   must be equal: that is how `verify` and the tests prove a migration reverts exactly.
//!   [`CatalogSnapshot::differences`] says what differs, one readable line per object.
//! - [`StructureSummary`]: the backend-neutral shape (tables, columns with nullability and
//!   primary key, foreign keys with their `ON DELETE`), so that the PostgreSQL and the
//!   SQLite migration sets can be compared with each other.
//!
//! The bookkeeping tables ([`BOOKKEEPING_TABLES`]) and everything attached to them are
//! left out: they belong to the migration tools, not to the schema.
//!
//! Everything here only reads the catalog, and reports failures as `diesel::QueryResult`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Tables that record migrations rather than belong to the schema: Diesel's own and the
/// side table of `haven-migrate`. Snapshots and summaries leave them out.
pub const BOOKKEEPING_TABLES: [&str; 2] = ["__diesel_schema_migrations", "__haven_migrations"];

/// Whether `table` is one of the [`BOOKKEEPING_TABLES`].
pub fn is_bookkeeping_table(table: &str) -> bool {
    BOOKKEEPING_TABLES.contains(&table)
}

/// The kind of a catalog object; the first part of a [`CatalogSnapshot`] key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// An installed extension (PostgreSQL).
    Extension,
    /// A user-defined type: enum, domain, composite, range (PostgreSQL).
    Type,
    /// A function or procedure (PostgreSQL).
    Function,
    /// A sequence, identity sequences included (PostgreSQL).
    Sequence,
    /// A table.
    Table,
    /// A view or materialized view.
    View,
    /// A column of a table or view; named `table.column`.
    Column,
    /// A table constraint (PostgreSQL); named `table.constraint`.
    Constraint,
    /// A foreign key as SQLite reports it; named `table.(columns)`.
    ForeignKey,
    /// An index; named `table.index`.
    Index,
    /// A trigger; named `table.trigger`.
    Trigger,
}

impl ObjectKind {
    /// The kind as a lowercase word, as used in [`CatalogSnapshot::differences`].
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Extension => "extension",
            ObjectKind::Type => "type",
            ObjectKind::Function => "function",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
            ObjectKind::Column => "column",
            ObjectKind::Constraint => "constraint",
            ObjectKind::ForeignKey => "foreign key",
            ObjectKind::Index => "index",
            ObjectKind::Trigger => "trigger",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every object of a database schema with its definition, sorted by kind and name.
///
/// Equal snapshots mean equal schemas, as far as the catalog queries see: two databases,
/// or one database before a migration's `up.sql` and after its `down.sql`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogSnapshot {
    entries: BTreeMap<(ObjectKind, String), String>,
}

impl CatalogSnapshot {
    /// An empty snapshot: the state of a database without any schema object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one object; a later insert of the same kind and name replaces it.
    pub fn insert(
        &mut self,
        kind: ObjectKind,
        name: impl Into<String>,
        definition: impl Into<String>,
    ) {
        self.entries.insert((kind, name.into()), definition.into());
    }

    /// The definition of an object, if the snapshot has it.
    pub fn get(&self, kind: ObjectKind, name: &str) -> Option<&str> {
        self.entries
            .get(&(kind, name.to_owned()))
            .map(String::as_str)
    }

    /// Every object as `(kind, name, definition)`, sorted by kind, then name.
    pub fn iter(&self) -> impl Iterator<Item = (ObjectKind, &str, &str)> {
        self.entries
            .iter()
            .map(|((kind, name), def)| (*kind, name.as_str(), def.as_str()))
    }

    /// The number of objects.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the schema has no object at all (bookkeeping tables aside).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The names of the tables, sorted.
    pub fn tables(&self) -> Vec<&str> {
        self.names(ObjectKind::Table)
    }

    /// The names of the objects of one kind, sorted.
    pub fn names(&self, kind: ObjectKind) -> Vec<&str> {
        self.iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, name, _)| name)
            .collect()
    }

    /// What differs from `self` (the expected state, say before a migration) to `other`
    /// (the actual state, say after its up and down), one line per object:
    ///
    /// - `index users.users_email_key: missing (was: CREATE UNIQUE INDEX ...)`
    /// - `table audit_log: unexpected (table)`
    /// - `column users.email: was `#3 text`, now `#3 text NOT NULL``
    ///
    /// Empty exactly when the snapshots are equal.
    pub fn differences(&self, other: &CatalogSnapshot) -> Vec<String> {
        diff_maps(&self.entries, &other.entries)
    }
}

/// The lines of [`CatalogSnapshot::differences`] for any two sorted maps.
fn diff_maps(
    before: &BTreeMap<(ObjectKind, String), String>,
    after: &BTreeMap<(ObjectKind, String), String>,
) -> Vec<String> {
    let keys: BTreeSet<&(ObjectKind, String)> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let (kind, name) = key;
            match (before.get(key), after.get(key)) {
                (Some(was), None) => {
                    Some(format!("{kind} {name}: missing (was: {})", one_line(was)))
                }
                (None, Some(now)) => Some(format!("{kind} {name}: unexpected ({})", one_line(now))),
                (Some(was), Some(now)) if was != now => Some(format!(
                    "{kind} {name}: was `{}`, now `{}`",
                    one_line(was),
                    one_line(now)
                )),
                _ => None,
            }
        })
        .collect()
}

/// Collapses whitespace runs, so that multi-line definitions fit on one report line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a foreign key does when its referenced row is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReferentialAction {
    /// `NO ACTION`: refused at the end of the statement (the default).
    NoAction,
    /// `RESTRICT`: refused at once.
    Restrict,
    /// `CASCADE`: the referencing rows are deleted too.
    Cascade,
    /// `SET NULL`: the referencing columns become NULL.
    SetNull,
    /// `SET DEFAULT`: the referencing columns get their defaults.
    SetDefault,
}

impl ReferentialAction {
    /// The SQL words, such as `SET NULL`.
    pub fn as_sql(self) -> &'static str {
        match self {
            ReferentialAction::NoAction => "NO ACTION",
            ReferentialAction::Restrict => "RESTRICT",
            ReferentialAction::Cascade => "CASCADE",
            ReferentialAction::SetNull => "SET NULL",
            ReferentialAction::SetDefault => "SET DEFAULT",
        }
    }

    /// Parses the SQL words (as SQLite's `foreign_key_list` reports them).
    pub fn from_sql(words: &str) -> Option<Self> {
        let all = [
            ReferentialAction::NoAction,
            ReferentialAction::Restrict,
            ReferentialAction::Cascade,
            ReferentialAction::SetNull,
            ReferentialAction::SetDefault,
        ];
        all.into_iter()
            .find(|a| a.as_sql().eq_ignore_ascii_case(words.trim()))
    }

    /// Parses PostgreSQL's one-letter code (`pg_constraint.confdeltype`).
    pub fn from_pg_code(code: &str) -> Option<Self> {
        match code {
            "a" => Some(ReferentialAction::NoAction),
            "r" => Some(ReferentialAction::Restrict),
            "c" => Some(ReferentialAction::Cascade),
            "n" => Some(ReferentialAction::SetNull),
            "d" => Some(ReferentialAction::SetDefault),
            _ => None,
        }
    }
}

impl fmt::Display for ReferentialAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_sql())
    }
}

/// The backend-neutral shape of a schema: what both migration sets must agree on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StructureSummary {
    /// Every table (bookkeeping aside), by name.
    pub tables: BTreeMap<String, TableStructure>,
}

/// The shape of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableStructure {
    /// The columns, in table order.
    pub columns: Vec<ColumnStructure>,
    /// The foreign keys, sorted.
    pub foreign_keys: BTreeSet<ForeignKeyStructure>,
}

/// The shape of one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnStructure {
    /// The column name.
    pub name: String,
    /// Whether it accepts NULL.
    pub nullable: bool,
    /// Whether it is part of the primary key.
    pub primary_key: bool,
}

/// One foreign key: `columns` reference `referenced_table (referenced_columns)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForeignKeyStructure {
    /// The referencing columns, in key order.
    pub columns: Vec<String>,
    /// The referenced table.
    pub referenced_table: String,
    /// The referenced columns, in key order.
    pub referenced_columns: Vec<String>,
    /// What happens when the referenced row is deleted.
    pub on_delete: ReferentialAction,
}

impl fmt::Display for ForeignKeyStructure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "({}) REFERENCES {} ({}) ON DELETE {}",
            self.columns.join(", "),
            self.referenced_table,
            self.referenced_columns.join(", "),
            self.on_delete
        )
    }
}

impl StructureSummary {
    /// The table names, sorted.
    pub fn table_names(&self) -> Vec<&str> {
        self.tables.keys().map(String::as_str).collect()
    }

    /// What differs from `self` to `other`, one line per table, column or foreign key,
    /// in the format of [`CatalogSnapshot::differences`]. Empty exactly when equal.
    pub fn differences(&self, other: &StructureSummary) -> Vec<String> {
        diff_maps(&self.entries(), &other.entries())
    }

    /// The summary flattened into catalog-style entries, for [`Self::differences`].
    fn entries(&self) -> BTreeMap<(ObjectKind, String), String> {
        let mut entries = BTreeMap::new();
        for (table, structure) in &self.tables {
            entries.insert((ObjectKind::Table, table.clone()), "table".to_owned());
            for (position, column) in structure.columns.iter().enumerate() {
                let definition = format!(
                    "#{}{}{}",
                    position + 1,
                    if column.nullable {
                        " NULL"
                    } else {
                        " NOT NULL"
                    },
                    if column.primary_key {
                        " PRIMARY KEY"
                    } else {
                        ""
                    }
                );
                entries.insert(
                    (ObjectKind::Column, format!("{table}.{}", column.name)),
                    definition,
                );
            }
            for fk in &structure.foreign_keys {
                let name = format!("{table}.({})", fk.columns.join(", "));
                entries.insert((ObjectKind::ForeignKey, name), fk.to_string());
            }
        }
        entries
    }
}

/// A `DeserializationError` for a catalog value this module cannot read.
fn unreadable(what: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(what.into())
}

#[cfg(feature = "postgres")]
pub use self::postgres::{snapshot_pg, structure_pg};

#[cfg(feature = "sqlite")]
pub use self::sqlite::{snapshot_sqlite, structure_sqlite};

#[cfg(feature = "postgres")]
mod postgres {
    //! PostgreSQL: the catalog of `current_schema()`, through `pg_catalog`.

    use std::collections::BTreeMap;

    use diesel::prelude::*;
    use diesel::sql_types::{Array, Bool, Nullable, Text};
    use diesel::PgConnection;

    use super::{
        is_bookkeeping_table, unreadable, CatalogSnapshot, ColumnStructure, ForeignKeyStructure,
        ObjectKind, ReferentialAction, StructureSummary,
    };

    /// One catalog object: `owner` is the table it belongs to (NULL for free-standing
    /// objects), used to leave out the bookkeeping tables' parts.
    #[derive(QueryableByName)]
    struct ObjectRow {
        #[diesel(sql_type = Nullable<Text>)]
        owner: Option<String>,
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        definition: String,
    }

    /// Appended to definitions: the object's COMMENT, which `down.sql` must restore too.
    macro_rules! comment {
        ($expr:expr) => {
            concat!("coalesce(' COMMENT ' || quote_literal(", $expr, "), '')")
        };
    }

    /// Objects that an extension owns are the extension's, not the schema's.
    macro_rules! not_extension_member {
        ($catalog:expr, $oid:expr) => {
            concat!(
                "NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '",
                $catalog,
                "'::regclass AND dep.objid = ",
                $oid,
                " AND dep.deptype = 'e')"
            )
        };
    }

    const EXTENSIONS: &str = "\
        SELECT NULL::text AS owner, e.extname::text AS name,
               'version ' || e.extversion || ' in ' || n.nspname AS definition
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname <> 'plpgsql'";

    const TABLES: &str = concat!(
        "SELECT c.relname::text AS owner, c.relname::text AS name,
               CASE c.relkind WHEN 'p' THEN 'partitioned table' WHEN 'f' THEN 'foreign table'
                              ELSE 'table' END
               || CASE c.relpersistence WHEN 'u' THEN ' UNLOGGED' ELSE '' END
               || CASE WHEN c.relrowsecurity THEN ' ROW LEVEL SECURITY' ELSE '' END
               || ",
        comment!("obj_description(c.oid, 'pg_class')"),
        " AS definition
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'f') AND ",
        not_extension_member!("pg_class", "c.oid")
    );

    const VIEWS: &str = concat!(
        "SELECT c.relname::text AS owner, c.relname::text AS name,
               CASE c.relkind WHEN 'm' THEN 'MATERIALIZED ' ELSE '' END
               || 'VIEW AS ' || pg_get_viewdef(c.oid) || ",
        comment!("obj_description(c.oid, 'pg_class')"),
        " AS definition
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('v', 'm') AND ",
        not_extension_member!("pg_class", "c.oid")
    );

    // Positions count visible columns only: a dropped column leaves a hole in attnum.
    // PostgreSQL 18 adds virtual generated columns (attgenerated 'v', the default for
    // GENERATED ALWAYS AS): their expression is in pg_attrdef too, and is no DEFAULT.
    const COLUMNS: &str = concat!(
        "SELECT c.relname::text AS owner, c.relname || '.' || a.attname AS name,
               '#' || row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum)
               || ' ' || format_type(a.atttypid, a.atttypmod)
               || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
               || CASE a.attgenerated
                       WHEN 's' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ') STORED'
                       WHEN 'v' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ') VIRTUAL'
                       ELSE coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') END
               || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY'
                                     WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END
               || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                       THEN ' COLLATE ' || (SELECT collname FROM pg_collation WHERE oid = a.attcollation)
                       ELSE '' END
               || ",
        comment!("col_description(c.oid, a.attnum)"),
        " AS definition
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
          AND a.attnum > 0 AND NOT a.attisdropped AND ",
        not_extension_member!("pg_class", "c.oid")
    );

    // PostgreSQL 18 records NOT NULL as constraints too (contype 'n'), which add what
    // attnotnull does not show: NOT VALID, NO INHERIT. They are named `(NOT NULL column)`,
    // not by their generated names (`<table at creation>_<column>_not_null`): before 18
    // there is no name to restore, so a down.sql that restores NOT NULL with SET NOT NULL
    // verifies alike on every version.
    const CONSTRAINTS: &str = concat!(
        "SELECT c.relname::text AS owner,
               c.relname || '.' || CASE WHEN con.contype = 'n'
                   THEN '(NOT NULL ' || (SELECT a.attname FROM pg_attribute a
                                         WHERE a.attrelid = con.conrelid
                                           AND a.attnum = con.conkey[1]) || ')'
                   ELSE con.conname::text END AS name,
               pg_get_constraintdef(con.oid)
               || CASE WHEN con.condeferrable THEN ' DEFERRABLE' ELSE '' END
               || CASE WHEN con.condeferred THEN ' INITIALLY DEFERRED' ELSE '' END
               || ",
        comment!("obj_description(con.oid, 'pg_constraint')"),
        " AS definition
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema()"
    );

    const INDEXES: &str = concat!(
        "SELECT t.relname::text AS owner, t.relname || '.' || i.relname AS name,
               pg_get_indexdef(i.oid) || ",
        comment!("obj_description(i.oid, 'pg_class')"),
        " AS definition
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE n.nspname = current_schema() AND ",
        not_extension_member!("pg_class", "t.oid")
    );

    const TYPES: &str = concat!(
        "SELECT NULL::text AS owner, t.typname::text AS name,
               coalesce(CASE t.typtype
                   WHEN 'e' THEN 'ENUM (' || coalesce((
                       SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                       FROM pg_enum e WHERE e.enumtypid = t.oid), '') || ')'
                   WHEN 'd' THEN 'DOMAIN ' || format_type(t.typbasetype, t.typtypmod)
                       || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
                       || coalesce(' DEFAULT ' || t.typdefault, '')
                       || coalesce((
                           SELECT ' ' || string_agg(pg_get_constraintdef(con.oid), ' ' ORDER BY con.conname)
                           FROM pg_constraint con WHERE con.contypid = t.oid), '')
                   WHEN 'c' THEN 'COMPOSITE (' || coalesce((
                       SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', '
                                         ORDER BY a.attnum)
                       FROM pg_attribute a
                       WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '') || ')'
                   WHEN 'r' THEN 'RANGE OF ' || (
                       SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid)
               END, t.typtype::text) || ",
        comment!("obj_description(t.oid, 'pg_type')"),
        " AS definition
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'c', 'r')
          AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
          AND ",
        not_extension_member!("pg_type", "t.oid")
    );

    // pg_get_functiondef refuses aggregates; plain functions and procedures are enough.
    const FUNCTIONS: &str = concat!(
        "SELECT NULL::text AS owner,
               p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS name,
               pg_get_functiondef(p.oid) || ",
        comment!("obj_description(p.oid, 'pg_proc')"),
        " AS definition
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND p.prokind IN ('f', 'p') AND ",
        not_extension_member!("pg_proc", "p.oid")
    );

    const TRIGGERS: &str = concat!(
        "SELECT c.relname::text AS owner, c.relname || '.' || tg.tgname AS name,
               pg_get_triggerdef(tg.oid)
               || CASE tg.tgenabled WHEN 'D' THEN ' (DISABLED)' WHEN 'R' THEN ' (REPLICA)'
                                    WHEN 'A' THEN ' (ALWAYS)' ELSE '' END
               || ",
        comment!("obj_description(tg.oid, 'pg_trigger')"),
        " AS definition
        FROM pg_trigger tg
        JOIN pg_class c ON c.oid = tg.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND NOT tg.tgisinternal"
    );

    // The owner is the table whose column owns the sequence (serial or identity).
    const SEQUENCES: &str = "\
        SELECT owned.relname::text AS owner, c.relname::text AS name,
               format_type(s.seqtypid, NULL)
               || ' START ' || s.seqstart || ' INCREMENT ' || s.seqincrement
               || ' MINVALUE ' || s.seqmin || ' MAXVALUE ' || s.seqmax || ' CACHE ' || s.seqcache
               || CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END
               || coalesce(' OWNED BY ' || owned.relname || '.' || owned.attname
                           || CASE owned.deptype WHEN 'i' THEN ' (identity)' ELSE '' END, '')
               || coalesce(' COMMENT ' || quote_literal(obj_description(c.oid, 'pg_class')), '')
               AS definition
        FROM pg_class c
        JOIN pg_sequence s ON s.seqrelid = c.oid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN LATERAL (
            SELECT t.relname, a.attname, d.deptype
            FROM pg_depend d
            JOIN pg_class t ON t.oid = d.refobjid
            JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
              AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
            LIMIT 1
        ) owned ON true
        WHERE n.nspname = current_schema() AND c.relkind = 'S'";

    /// Snapshots the current schema (`current_schema()`, normally `public`): tables, views,
    /// columns (type, nullability, default, identity), constraints, indexes, user-defined
    /// types (enum labels in order), functions, triggers, sequences, extensions, and their
    /// comments. The bookkeeping tables and their parts are left out.
    pub fn snapshot_pg(conn: &mut PgConnection) -> QueryResult<CatalogSnapshot> {
        let queries = [
            (ObjectKind::Extension, EXTENSIONS),
            (ObjectKind::Type, TYPES),
            (ObjectKind::Function, FUNCTIONS),
            (ObjectKind::Sequence, SEQUENCES),
            (ObjectKind::Table, TABLES),
            (ObjectKind::View, VIEWS),
            (ObjectKind::Column, COLUMNS),
            (ObjectKind::Constraint, CONSTRAINTS),
            (ObjectKind::Index, INDEXES),
            (ObjectKind::Trigger, TRIGGERS),
        ];
        let mut snapshot = CatalogSnapshot::new();
        for (kind, sql) in queries {
            for row in diesel::sql_query(sql).load::<ObjectRow>(conn)? {
                if row.owner.as_deref().is_some_and(is_bookkeeping_table) {
                    continue;
                }
                snapshot.insert(kind, row.name, row.definition);
            }
        }
        Ok(snapshot)
    }

    #[derive(QueryableByName)]
    struct ColumnRow {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Bool)]
        nullable: bool,
        #[diesel(sql_type = Bool)]
        primary_key: bool,
    }

    #[derive(QueryableByName)]
    struct ForeignKeyRow {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Array<Text>)]
        columns: Vec<String>,
        #[diesel(sql_type = Text)]
        referenced_table: String,
        #[diesel(sql_type = Array<Text>)]
        referenced_columns: Vec<String>,
        #[diesel(sql_type = Text)]
        on_delete: String,
    }

    const STRUCTURE_COLUMNS: &str = "\
        SELECT c.relname::text AS table_name, a.attname::text AS column_name,
               NOT a.attnotnull AS nullable,
               EXISTS (SELECT 1 FROM pg_constraint p
                       WHERE p.conrelid = c.oid AND p.contype = 'p' AND a.attnum = ANY (p.conkey))
                   AS primary_key
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
          AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY c.relname, a.attnum";

    const STRUCTURE_FOREIGN_KEYS: &str = "\
        SELECT c.relname::text AS table_name,
               ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
                     ORDER BY k.ord) AS columns,
               r.relname::text AS referenced_table,
               ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
                     ORDER BY k.ord) AS referenced_columns,
               con.confdeltype::text AS on_delete
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_class r ON r.oid = con.confrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND con.contype = 'f'";

    /// The backend-neutral shape of the current schema: tables, columns (nullability,
    /// primary key), foreign keys (`ON DELETE`). Bookkeeping tables are left out.
    pub fn structure_pg(conn: &mut PgConnection) -> QueryResult<StructureSummary> {
        let mut tables = BTreeMap::new();
        for row in diesel::sql_query(STRUCTURE_COLUMNS).load::<ColumnRow>(conn)? {
            if is_bookkeeping_table(&row.table_name) {
                continue;
            }
            let table: &mut super::TableStructure = tables.entry(row.table_name).or_default();
            table.columns.push(ColumnStructure {
                name: row.column_name,
                nullable: row.nullable,
                primary_key: row.primary_key,
            });
        }
        for row in diesel::sql_query(STRUCTURE_FOREIGN_KEYS).load::<ForeignKeyRow>(conn)? {
            if is_bookkeeping_table(&row.table_name) {
                continue;
            }
            let on_delete = ReferentialAction::from_pg_code(&row.on_delete).ok_or_else(|| {
                unreadable(format!(
                    "unknown ON DELETE code {:?} on table {}",
                    row.on_delete, row.table_name
                ))
            })?;
            let table: &mut super::TableStructure = tables.entry(row.table_name).or_default();
            table.foreign_keys.insert(ForeignKeyStructure {
                columns: row.columns,
                referenced_table: row.referenced_table,
                referenced_columns: row.referenced_columns,
                on_delete,
            });
        }
        Ok(StructureSummary { tables })
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    //! SQLite: `sqlite_schema` and the `pragma_table_info` / `pragma_foreign_key_list`
    //! table-valued functions.

    use std::collections::BTreeMap;

    use diesel::prelude::*;
    use diesel::sql_types::{Integer, Nullable, Text};
    use diesel::SqliteConnection;

    use super::{
        is_bookkeeping_table, one_line, unreadable, CatalogSnapshot, ColumnStructure,
        ForeignKeyStructure, ObjectKind, ReferentialAction, StructureSummary, TableStructure,
    };

    #[derive(QueryableByName)]
    struct MasterRow {
        #[diesel(sql_type = Text)]
        kind: String,
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Nullable<Text>)]
        sql: Option<String>,
    }

    // sqlite_% objects are SQLite's own (autoindexes, sqlite_sequence, sqlite_stat1).
    const MASTER: &str = "\
        SELECT type AS kind, name, tbl_name AS table_name, sql FROM sqlite_master
        WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
        ORDER BY type, name";

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
    pub fn snapshot_sqlite(conn: &mut SqliteConnection) -> QueryResult<CatalogSnapshot> {
        let mut snapshot = CatalogSnapshot::new();
        for row in diesel::sql_query(MASTER).load::<MasterRow>(conn)? {
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
    fn foreign_keys(
        conn: &mut SqliteConnection,
        table: &str,
    ) -> QueryResult<Vec<ForeignKeyStructure>> {
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
    pub fn structure_sqlite(conn: &mut SqliteConnection) -> QueryResult<StructureSummary> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_missing_unexpected_and_changed_objects() {
        let mut before = CatalogSnapshot::new();
        before.insert(ObjectKind::Table, "users", "table");
        before.insert(ObjectKind::Column, "users.email", "#2 text");
        before.insert(
            ObjectKind::Index,
            "users.users_email_key",
            "CREATE UNIQUE INDEX\n  x",
        );
        let mut after = before.clone();
        assert!(before.differences(&after).is_empty());

        after.insert(ObjectKind::Column, "users.email", "#2 text NOT NULL");
        after.insert(ObjectKind::Trigger, "users.t", "CREATE TRIGGER t");
        after
            .entries
            .remove(&(ObjectKind::Index, "users.users_email_key".to_owned()));
        assert_eq!(
            before.differences(&after),
            vec![
                "column users.email: was `#2 text`, now `#2 text NOT NULL`",
                "index users.users_email_key: missing (was: CREATE UNIQUE INDEX x)",
                "trigger users.t: unexpected (CREATE TRIGGER t)",
            ]
        );
        assert_eq!(after.tables(), vec!["users"]);
    }

    #[test]
    fn referential_actions_parse_both_spellings() {
        for action in [
            ReferentialAction::NoAction,
            ReferentialAction::Restrict,
            ReferentialAction::Cascade,
            ReferentialAction::SetNull,
            ReferentialAction::SetDefault,
        ] {
            assert_eq!(ReferentialAction::from_sql(action.as_sql()), Some(action));
        }
        assert_eq!(
            ReferentialAction::from_sql("set null"),
            Some(ReferentialAction::SetNull)
        );
        assert_eq!(
            ReferentialAction::from_pg_code("r"),
            Some(ReferentialAction::Restrict)
        );
        assert_eq!(ReferentialAction::from_pg_code("x"), None);
    }

    #[test]
    fn structure_differences_show_nullability_and_foreign_keys() {
        let mut left = StructureSummary::default();
        let table = left.tables.entry("t".to_owned()).or_default();
        table.columns.push(ColumnStructure {
            name: "id".to_owned(),
            nullable: false,
            primary_key: true,
        });
        table.foreign_keys.insert(ForeignKeyStructure {
            columns: vec!["id".to_owned()],
            referenced_table: "u".to_owned(),
            referenced_columns: vec!["id".to_owned()],
            on_delete: ReferentialAction::Cascade,
        });
        let mut right = left.clone();
        assert!(left.differences(&right).is_empty());
        if let Some(t) = right.tables.get_mut("t") {
            t.columns[0].nullable = true;
            t.foreign_keys.clear();
        }
        assert_eq!(
            left.differences(&right),
            vec![
                "column t.id: was `#1 NOT NULL PRIMARY KEY`, now `#1 NULL PRIMARY KEY`",
                "foreign key t.(id): missing (was: (id) REFERENCES u (id) ON DELETE CASCADE)",
            ]
        );
    }
}
