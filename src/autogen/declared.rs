//! Reads a `print_schema` file (`src/schema.rs`) into the [`Schema`] model, with real
//! parsers: `syn` for the file, diesel's own `diesel_table_macro_syntax` for the bodies of
//! `diesel::table!`, and `syn` again for `diesel::joinable!` and the `sql_types` module.
//!
//! Understood: `pub mod sql_types { #[diesel(postgres_type(name = "..."))] pub struct X; }`,
//! `table!` (with `use` lines, `#[sql_name]`, `#[max_length]`, a primary key or diesel's
//! default `id`), `joinable!(child -> parent (column))`. Doc comments and
//! `allow_tables_to_appear_in_same_query!` carry nothing to compare and are skipped; so is
//! any other item. Anything else inside those macros is an error naming the file, line and
//! column.

use std::collections::BTreeMap;
use std::path::Path;

use diesel_table_macro_syntax::{ColumnDef, TableDecl};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;

use super::error::{Error, Result};
use super::model::{Column, EnumType, Joinable, Schema, SqlType, Table};
use super::types::{canonical_name, is_diesel_type};

/// Reads and parses the `print_schema` file at `path`.
pub fn declared(path: &Path) -> Result<Schema> {
    let source = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_declared(path, &source)
}

/// Parses `source`, the text of the `print_schema` file `path` (named in errors).
pub fn parse_declared(path: &Path, source: &str) -> Result<Schema> {
    let at = |e: syn::Error| located(path, &e);
    let file = syn::parse_file(source).map_err(at)?;
    let mut enums = Vec::new();
    for items in file.items.iter().filter_map(sql_types_module) {
        for custom in items.iter().filter_map(custom_type) {
            enums.push(custom.map_err(at)?);
        }
    }
    let mut reader = Reader {
        enums,
        tables: Vec::new(),
        rust_tables: BTreeMap::new(),
        joinables: Vec::new(),
    };
    for item in &file.items {
        reader.item(item).map_err(at)?;
    }
    Ok(reader.finish())
}

fn located(path: &Path, error: &syn::Error) -> Error {
    let start = error.span().start();
    Error::Declared {
        path: path.to_owned(),
        line: start.line,
        column: start.column + 1,
        message: error.to_string(),
    }
}

/// What has been read so far.
struct Reader {
    enums: Vec<EnumType>,
    tables: Vec<Table>,
    /// Rust name of each table (as `joinable!` names it) → its SQL name and its columns'
    /// Rust names → SQL names.
    rust_tables: BTreeMap<String, (String, BTreeMap<String, String>)>,
    /// As written, by Rust names, with the span for errors.
    joinables: Vec<(JoinableDecl, proc_macro2::Span)>,
}

impl Reader {
    fn item(&mut self, item: &syn::Item) -> syn::Result<()> {
        let syn::Item::Macro(item) = item else {
            return Ok(());
        };
        let mac = &item.mac;
        match mac.path.segments.last().map(|s| s.ident.to_string()) {
            Some(name) if name == "table" => self.table(mac.parse_body::<TableDecl>()?),
            Some(name) if name == "joinable" => {
                let span = mac.path.span();
                self.joinables.push((mac.parse_body()?, span));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn table(&mut self, decl: TableDecl) -> syn::Result<()> {
        if let Some(schema) = &decl.schema {
            return Err(syn::Error::new(
                schema.span(),
                "a table outside the default schema (`schema.table`) is not supported: \
                 print-schema writes the public schema without a prefix",
            ));
        }
        let columns = decl
            .column_defs
            .iter()
            .map(|c| self.column(c))
            .collect::<syn::Result<Vec<_>>>()?;
        let rust_columns = decl
            .column_defs
            .iter()
            .map(|c| (c.column_name.unraw().to_string(), c.sql_name.clone()))
            .collect::<BTreeMap<_, _>>();
        let primary_key = primary_key(&decl, &rust_columns)?;
        self.rust_tables.insert(
            decl.table_name.unraw().to_string(),
            (decl.sql_name.clone(), rust_columns),
        );
        self.tables.push(Table {
            name: decl.sql_name,
            columns,
            primary_key,
        });
        Ok(())
    }

    fn column(&self, def: &ColumnDef) -> syn::Result<Column> {
        let (sql_type, nullable) = self.column_type(&def.tpe)?;
        let max_length = def
            .max_length
            .as_ref()
            .map(syn::LitInt::base10_parse::<u64>)
            .transpose()?;
        Ok(Column {
            name: def.sql_name.clone(),
            sql_type,
            nullable,
            max_length,
        })
    }

    /// The type of `Nullable<T>` / `Array<T>` / `T`, and whether it is nullable.
    fn column_type(&self, path: &syn::TypePath) -> syn::Result<(SqlType, bool)> {
        let unsupported = |what: &str| syn::Error::new(path.span(), what.to_owned());
        let Some(last) = path.path.segments.last() else {
            return Err(unsupported("an empty type"));
        };
        let name = last.ident.to_string();
        match (name.as_str(), &last.arguments) {
            ("Nullable", args) => {
                let (inner, _) = self.column_type(&single_argument(args, path)?)?;
                Ok((inner, true))
            }
            ("Array", args) => {
                let (element, _) = self.column_type(&single_argument(args, path)?)?;
                let element = Box::new(element);
                Ok((SqlType::Array { element }, false))
            }
            (_, syn::PathArguments::None) => Ok((self.named_type(&name, path)?, false)),
            _ => Err(unsupported(
                "a type with parameters other than Nullable<T> or Array<T> is not supported",
            )),
        }
    }

    fn named_type(&self, name: &str, path: &syn::TypePath) -> syn::Result<SqlType> {
        if let Some(custom) = self.enums.iter().find(|e| e.rust_name == name) {
            return Ok(SqlType::Custom {
                rust_name: custom.rust_name.clone(),
                pg_name: custom.pg_name.clone(),
                schema: None,
            });
        }
        if is_diesel_type(name) {
            return Ok(SqlType::builtin(canonical_name(name)));
        }
        Err(syn::Error::new(
            path.span(),
            format!(
                "unknown SQL type {name}: neither one of diesel::sql_types nor a struct of \
                 the sql_types module"
            ),
        ))
    }

    fn finish(self) -> Schema {
        let mut joinables = Vec::new();
        for (decl, _) in &self.joinables {
            joinables.push(self.resolve_joinable(decl));
        }
        Schema {
            tables: self.tables,
            joinables,
            enums: self.enums,
        }
        .sorted()
    }

    /// A joinable by SQL names. One naming a table or column that `schema.rs` lacks keeps
    /// its Rust names: `schema.rs` would not compile, and the comparison reports it.
    fn resolve_joinable(&self, decl: &JoinableDecl) -> Joinable {
        let table = |name: &str| self.rust_tables.get(name);
        let sql_table = |name: &str| table(name).map_or(name.to_owned(), |t| t.0.clone());
        let column = table(&decl.child)
            .and_then(|(_, columns)| columns.get(&decl.column))
            .cloned()
            .unwrap_or_else(|| decl.column.clone());
        Joinable {
            child: sql_table(&decl.child),
            parent: sql_table(&decl.parent),
            column,
        }
    }
}

fn single_argument(args: &syn::PathArguments, path: &syn::TypePath) -> syn::Result<syn::TypePath> {
    let error = || syn::Error::new(path.span(), "expected exactly one type argument");
    let syn::PathArguments::AngleBracketed(args) = args else {
        return Err(error());
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [syn::GenericArgument::Type(syn::Type::Path(inner))] => Ok(inner.clone()),
        _ => Err(error()),
    }
}

/// The SQL names of the primary key's columns; diesel's default key is `id`.
fn primary_key(
    decl: &TableDecl,
    rust_columns: &BTreeMap<String, String>,
) -> syn::Result<Vec<String>> {
    let keys: Vec<&syn::Ident> = match &decl.primary_keys {
        Some(pk) => pk.keys.iter().collect(),
        None => return Ok(vec!["id".to_owned()]),
    };
    keys.into_iter()
        .map(|key| {
            rust_columns
                .get(&key.unraw().to_string())
                .cloned()
                .ok_or_else(|| {
                    syn::Error::new(key.span(), format!("primary key {key} is not a column"))
                })
        })
        .collect()
}

/// The items of `mod sql_types { ... }`.
fn sql_types_module(item: &syn::Item) -> Option<&Vec<syn::Item>> {
    match item {
        syn::Item::Mod(module) if module.ident == "sql_types" => {
            module.content.as_ref().map(|(_, items)| items)
        }
        _ => None,
    }
}

/// A struct of `sql_types` with its `#[diesel(postgres_type(name = "..."))]`.
fn custom_type(item: &syn::Item) -> Option<syn::Result<EnumType>> {
    let syn::Item::Struct(item) = item else {
        return None;
    };
    Some(postgres_type_name(item).map(|pg_name| EnumType {
        rust_name: item.ident.to_string(),
        pg_name,
        labels: Vec::new(),
    }))
}

fn postgres_type_name(item: &syn::ItemStruct) -> syn::Result<String> {
    let mut name = None;
    for attr in item.attrs.iter().filter(|a| a.path().is_ident("diesel")) {
        attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("postgres_type") {
                return skip_value(&meta);
            }
            meta.parse_nested_meta(|inner| {
                if inner.path.is_ident("name") {
                    name = Some(inner.value()?.parse::<syn::LitStr>()?.value());
                    Ok(())
                } else if inner.path.is_ident("schema") {
                    Err(inner.error(
                        "a type outside the default schema is not supported: print-schema \
                         writes the public schema's types without `schema`",
                    ))
                } else {
                    Err(inner.error("expected `name = \"...\"` (an oid is not supported)"))
                }
            })
        })?;
    }
    name.ok_or_else(|| {
        syn::Error::new(
            item.ident.span(),
            format!(
                "struct {} of sql_types has no #[diesel(postgres_type(name = \"...\"))]",
                item.ident
            ),
        )
    })
}

/// Skips the value of a `#[diesel(...)]` entry other than `postgres_type`.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| skip_value(&inner))?;
    }
    Ok(())
}

/// `child -> parent (column)`, by Rust names.
struct JoinableDecl {
    child: String,
    parent: String,
    column: String,
}

impl Parse for JoinableDecl {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let child = input.call(syn::Ident::parse_any)?;
        input.parse::<syn::Token![->]>()?;
        let parent = input.call(syn::Ident::parse_any)?;
        let content;
        syn::parenthesized!(content in input);
        let column = content.call(syn::Ident::parse_any)?;
        Ok(JoinableDecl {
            child: child.unraw().to_string(),
            parent: parent.unraw().to_string(),
            column: column.unraw().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Result<Schema> {
        parse_declared(Path::new("src/schema.rs"), source)
    }

    const SMALL: &str = r#"
        pub mod sql_types {
            /// docs
            #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType)]
            #[diesel(postgres_type(name = "user_status"))]
            pub struct UserStatus;
        }

        diesel::table! {
            use diesel::sql_types::*;
            use super::sql_types::UserStatus;

            /// A user.
            users (id) {
                /// The id.
                id -> Int8,
                #[sql_name = "type"]
                type_ -> Text,
                #[max_length = 3]
                code -> Nullable<Varchar>,
                status -> UserStatus,
                tags -> Nullable<Array<Nullable<Text>>>,
                count -> BigInt,
            }
        }

        diesel::table! {
            posts (user_id, slug) {
                user_id -> Int8,
                slug -> Text,
            }
        }

        diesel::table! {
            r#loop {
                id -> Int4,
                r#ref -> Nullable<Int8>,
            }
        }

        diesel::joinable!(posts -> users (user_id));
        diesel::joinable!(r#loop -> users (r#ref));
        diesel::allow_tables_to_appear_in_same_query!(users, posts, r#loop,);
    "#;

    #[test]
    fn reads_tables_columns_types_and_keys() {
        let schema = parse(SMALL).expect("parses");
        let names: Vec<_> = schema.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["loop", "posts", "users"]);
        let users = schema.table("users").expect("users");
        assert_eq!(users.primary_key, ["id"]);
        let types: Vec<_> = users.columns.iter().map(Column::type_text).collect();
        assert_eq!(
            types,
            [
                "Int8",
                "Text",
                "Nullable<Varchar> (max_length 3)",
                "UserStatus (postgres_type \"user_status\")",
                "Nullable<Array<Nullable<Text>>>",
                "Int8",
            ]
        );
        assert_eq!(
            users.columns[1].name, "type",
            "#[sql_name] names the column"
        );
        let posts = schema.table("posts").expect("posts");
        assert_eq!(posts.primary_key, ["user_id", "slug"]);
        let r#loop = schema.table("loop").expect("loop");
        assert_eq!(r#loop.primary_key, ["id"], "diesel's default key");
        assert_eq!(r#loop.columns[1].name, "ref", "raw identifiers lose r#");
    }

    #[test]
    fn reads_joinables_and_custom_types() {
        let schema = parse(SMALL).expect("parses");
        let joinables: Vec<_> = schema.joinables.iter().map(|j| j.to_string()).collect();
        assert_eq!(
            joinables,
            ["loop -> users (ref)", "posts -> users (user_id)"]
        );
        assert_eq!(
            schema.enums,
            [EnumType {
                rust_name: "UserStatus".into(),
                pg_name: "user_status".into(),
                labels: vec![],
            }]
        );
    }

    #[test]
    fn doc_comments_do_not_matter() {
        let without_docs: String = SMALL
            .lines()
            .filter(|line| !line.trim_start().starts_with("///"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_ne!(without_docs, SMALL);
        assert_eq!(
            parse(&without_docs).expect("parses"),
            parse(SMALL).expect("parses")
        );
    }

    fn declared_error(source: &str) -> (usize, usize, String) {
        match parse(source) {
            Err(Error::Declared {
                path,
                line,
                column,
                message,
            }) => {
                assert_eq!(path, Path::new("src/schema.rs"));
                (line, column, message)
            }
            other => panic!("expected a Declared error, got {other:?}"),
        }
    }

    #[test]
    fn rust_syntax_errors_name_the_place() {
        let (line, column, message) = declared_error("diesel::table! {\n  users (id) {\n");
        assert!(line >= 1 && column >= 1, "{line}:{column}");
        assert!(!message.is_empty());
    }

    #[test]
    fn a_malformed_table_body_names_its_line() {
        let source = "diesel::table! {\n    users (id) {\n        id => Int8,\n    }\n}\n";
        let (line, _, message) = declared_error(source);
        assert_eq!(line, 3, "{message}");
    }

    #[test]
    fn an_unknown_type_is_an_error_naming_it() {
        let source = "diesel::table! {\n    users (id) {\n        id -> Int8,\n        mood -> Mood,\n    }\n}\n";
        let (line, column, message) = declared_error(source);
        assert_eq!((line, column), (4, 17));
        assert!(message.contains("unknown SQL type Mood"), "{message}");
    }

    #[test]
    fn a_custom_type_without_postgres_type_is_an_error() {
        let source = "pub mod sql_types {\n    pub struct Mood;\n}\n";
        let (line, _, message) = declared_error(source);
        assert_eq!(line, 2);
        assert!(message.contains("postgres_type"), "{message}");
    }

    #[test]
    fn a_malformed_joinable_is_an_error() {
        let (line, _, _) = declared_error("\n\ndiesel::joinable!(posts => users (user_id));\n");
        assert_eq!(line, 3);
    }

    #[test]
    fn a_missing_file_is_a_read_error() {
        let missing = Path::new("/nonexistent/haven/schema.rs");
        match declared(missing) {
            Err(Error::Read { path, .. }) => assert_eq!(path, missing),
            other => panic!("expected a Read error, got {other:?}"),
        }
    }
}
