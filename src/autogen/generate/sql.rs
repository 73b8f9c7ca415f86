//! SQL text shared by both dialects: identifiers, string literals, index names.

/// PostgreSQL's reserved key words (and SQLite's that PostgreSQL lacks), which an
/// identifier must be quoted to use.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "autoincrement",
    "escape",
    "exists",
    "glob",
    "index",
    "indexed",
    "regexp",
    "transaction",
    "values",
];

/// `name` as an identifier: bare when it is a plain lower-case word, else double-quoted.
pub fn ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `text` as a string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The name of the index that goes with the foreign key of `table.column`, as the HAVEN
/// migrations name them.
pub fn index_name(table: &str, column: &str) -> String {
    format!("{table}_{column}_idx")
}

/// `CREATE INDEX` for the foreign key of `table.column`.
pub fn create_index(table: &str, column: &str) -> String {
    format!(
        "CREATE INDEX {} ON {} ({});\n",
        ident(&index_name(table, column)),
        ident(table),
        ident(column)
    )
}

/// `CREATE TABLE` of `table` with its column and constraint `lines`, then an index on each
/// column of `indexed` (its foreign keys), and the `DROP TABLE` that undoes it: the same on
/// both dialects, which differ only in the lines.
pub fn create_table<'a>(
    table: &str,
    lines: &[String],
    indexed: impl IntoIterator<Item = &'a str>,
) -> (String, String) {
    let mut up = format!(
        "CREATE TABLE {} (\n    {}\n);\n",
        ident(table),
        lines.join(",\n    ")
    );
    for column in indexed {
        up.push_str(&create_index(table, column));
    }
    (up, format!("DROP TABLE {};\n", ident(table)))
}

/// `column IN ('a', 'b')` for the labels of an enum type.
pub fn in_labels(column: &str, labels: &[String]) -> String {
    let labels: Vec<String> = labels.iter().map(|l| literal(l)).collect();
    format!("{} IN ({})", ident(column), labels.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(ident("users"), "users");
        assert_eq!(ident("tx_hash2"), "tx_hash2");
        assert_eq!(ident("user"), "\"user\"");
        assert_eq!(ident("Mixed"), "\"Mixed\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("2fa"), "\"2fa\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(
            in_labels("status", &["a".into(), "b'c".into()]),
            "status IN ('a', 'b''c')"
        );
    }
}
