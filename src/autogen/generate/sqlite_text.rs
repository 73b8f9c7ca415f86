//! Edits a SQLite `CREATE TABLE` statement, as stored in `sqlite_master`, in place: SQLite
//! cannot change a column's type or nullability, so its table rebuild recreates the table
//! from an edited copy of that text. Tokens come from `sqlite3-parser`'s port of SQLite's
//! own tokenizer; everything not edited (CHECKs, defaults, comments, spacing) is kept byte
//! for byte, so that rebuilding from the unedited text restores the catalog exactly.

use std::ops::Range;

use sqlite3_parser::lexer::sql::{TokenType, Tokenizer};
use sqlite3_parser::lexer::Scanner;
use TokenType::*;

/// One token: its type and where it is in the text.
#[derive(Debug, Clone, Copy)]
struct Token {
    kind: TokenType,
    start: usize,
    end: usize,
}

/// The tokens of `sql`, comments and spaces left out.
fn tokens(sql: &str) -> Result<Vec<Token>, String> {
    let mut scanner = Scanner::new(Tokenizer::new());
    let mut out = Vec::new();
    loop {
        match scanner.scan(sql.as_bytes()) {
            Ok((start, Some((_, kind)), end)) => out.push(Token { kind, start, end }),
            Ok((_, None, _)) => return Ok(out),
            Err(e) => return Err(format!("cannot tokenize: {e}")),
        }
    }
}

/// An identifier's name: quotes (`"x"`, `` `x` ``, `[x]`) removed.
fn unquoted(text: &str) -> String {
    let quoted = |open: char, close: char| {
        text.strip_prefix(open)
            .and_then(|t| t.strip_suffix(close))
            .map(|t| t.replace(&format!("{close}{close}"), &close.to_string()))
    };
    quoted('"', '"')
        .or_else(|| quoted('`', '`'))
        .or_else(|| quoted('[', ']'))
        .unwrap_or_else(|| text.to_owned())
}

/// Whether `token` of `sql` names `name`: an identifier or key word, never a string.
fn names(sql: &str, token: &Token, name: &str) -> bool {
    let text = &sql[token.start..token.end];
    let word_like = text
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || matches!(c, '_' | '"' | '`' | '['));
    word_like && unquoted(text).eq_ignore_ascii_case(name)
}

/// Whether some token of `sql` names `name` (a table or column), wherever it is. Errs on
/// the side of yes: the caller then rebuilds, or leaves out what might depend on `name`.
pub fn mentions(sql: &str, name: &str) -> bool {
    tokens(sql).is_ok_and(|tokens| tokens.iter().any(|t| names(sql, t, name)))
}

/// One column definition or table constraint of the body.
#[derive(Debug)]
struct Element {
    tokens: Vec<Token>,
    /// The column's name, `None` for a table constraint.
    column: Option<String>,
}

impl Element {
    fn range(&self) -> Range<usize> {
        let start = self.tokens.first().map_or(0, |t| t.start);
        start..self.tokens.last().map_or(start, |t| t.end)
    }
}

/// A parsed `CREATE TABLE name (...)` statement.
#[derive(Debug)]
pub struct CreateTable<'a> {
    text: &'a str,
    name: Range<usize>,
    elements: Vec<Element>,
}

/// The changes to make to a table's text.
#[derive(Debug, Default)]
pub struct Edits {
    /// Columns to remove, with the table constraints that name them.
    pub drop: Vec<String>,
    /// `(column, new type)`.
    pub retype: Vec<(String, String)>,
    /// `(column, nullable)`.
    pub nullability: Vec<(String, bool)>,
    /// Column definitions to add after the last column.
    pub append: Vec<String>,
}

const TABLE_CONSTRAINT: [TokenType; 5] =
    [TK_CONSTRAINT, TK_PRIMARY, TK_UNIQUE, TK_CHECK, TK_FOREIGN];
const COLUMN_CONSTRAINT: [TokenType; 11] = [
    TK_CONSTRAINT,
    TK_PRIMARY,
    TK_NOT,
    TK_NULL,
    TK_UNIQUE,
    TK_CHECK,
    TK_DEFAULT,
    TK_COLLATE,
    TK_REFERENCES,
    TK_GENERATED,
    TK_AS,
];

impl<'a> CreateTable<'a> {
    /// Parses `text`, which must be one `CREATE TABLE ... (...)` statement.
    pub fn parse(text: &'a str) -> Result<CreateTable<'a>, String> {
        let tokens = tokens(text)?;
        let open = tokens
            .iter()
            .position(|t| t.kind == TK_LP)
            .filter(|&i| i > 0 && tokens[..i].iter().any(|t| t.kind == TK_TABLE))
            .ok_or("not a CREATE TABLE statement with a column list")?;
        let name = tokens[open - 1].start..tokens[open - 1].end;
        let elements = split_body(text, &tokens[open + 1..])?;
        Ok(CreateTable {
            text,
            name,
            elements,
        })
    }

    /// The column names, in order.
    pub fn columns(&self) -> Vec<&str> {
        self.elements
            .iter()
            .filter_map(|e| e.column.as_deref())
            .collect()
    }

    /// Whether anything in the table but `column`'s own type, nullability, CHECK, DEFAULT
    /// and COLLATE involves `column`: a table constraint, or a key or reference of its own.
    pub fn constrains(&self, column: &str) -> bool {
        self.elements.iter().any(|e| match &e.column {
            Some(name) if name.eq_ignore_ascii_case(column) => e
                .tokens
                .iter()
                .any(|t| matches!(t.kind, TK_PRIMARY | TK_UNIQUE | TK_REFERENCES)),
            Some(_) => false,
            None => e.tokens.iter().any(|t| names(self.text, t, column)),
        })
    }

    /// The table constraints that name `column`, as text (for the reviewer's notes).
    pub fn constraints_naming(&self, column: &str) -> Vec<String> {
        self.elements
            .iter()
            .filter(|e| e.column.is_none())
            .filter(|e| e.tokens.iter().any(|t| names(self.text, t, column)))
            .map(|e| one_line(&self.text[e.range()]))
            .collect()
    }

    /// The text with `edits` made and the table renamed to `name`.
    pub fn edited(&self, name: &str, edits: &Edits) -> Result<String, String> {
        let mut replacements = vec![(self.name.clone(), name.to_owned())];
        replacements.extend(self.drops(edits)?);
        for (column, new_type) in &edits.retype {
            replacements.push(self.retype(column, new_type)?);
        }
        for (column, nullable) in &edits.nullability {
            replacements.extend(self.set_nullable(column, *nullable)?);
        }
        if !edits.append.is_empty() {
            replacements.push(self.append(&edits.append)?);
        }
        replacements.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
        let mut text = self.text.to_owned();
        for (range, replacement) in replacements {
            text.replace_range(range, &replacement);
        }
        Ok(text)
    }

    fn element(&self, column: &str) -> Result<&Element, String> {
        self.elements
            .iter()
            .find(|e| {
                e.column
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(column))
            })
            .ok_or_else(|| format!("has no column {column}"))
    }

    /// Deletions of the dropped columns and of the table constraints that name them, each
    /// with the separator before it (after it, for elements before the first one kept).
    fn drops(&self, edits: &Edits) -> Result<Vec<(Range<usize>, String)>, String> {
        for column in &edits.drop {
            self.element(column)?;
        }
        let dropped = |e: &Element| match &e.column {
            Some(name) => edits.drop.iter().any(|d| d.eq_ignore_ascii_case(name)),
            None => edits
                .drop
                .iter()
                .any(|d| e.tokens.iter().any(|t| names(self.text, t, d))),
        };
        let gone: Vec<bool> = self.elements.iter().map(dropped).collect();
        let first_kept = gone
            .iter()
            .position(|g| !g)
            .ok_or("would lose every column")?;
        let mut out = Vec::new();
        for (i, element) in self.elements.iter().enumerate().filter(|(i, _)| gone[*i]) {
            let range = if i < first_kept {
                element.range().start..self.elements[i + 1].range().start
            } else {
                self.elements[i - 1].range().end..element.range().end
            };
            out.push((range, String::new()));
        }
        Ok(out)
    }

    /// The tokens of a column's type: after its name, up to its first constraint.
    fn type_end(element: &Element) -> usize {
        let mut depth = 0usize;
        for (i, token) in element.tokens.iter().enumerate().skip(1) {
            match token.kind {
                TK_LP => depth += 1,
                TK_RP => depth = depth.saturating_sub(1),
                kind if depth == 0 && COLUMN_CONSTRAINT.contains(&kind) => return i,
                _ => {}
            }
        }
        element.tokens.len()
    }

    fn retype(&self, column: &str, new_type: &str) -> Result<(Range<usize>, String), String> {
        let element = self.element(column)?;
        let end = Self::type_end(element);
        let name_end = element.tokens[0].end;
        if end == 1 {
            return Ok((name_end..name_end, format!(" {new_type}")));
        }
        let range = element.tokens[1].start..element.tokens[end - 1].end;
        Ok((range, new_type.to_owned()))
    }

    /// `NOT NULL` removed (with its name and conflict clause) or added after the type.
    fn set_nullable(
        &self,
        column: &str,
        nullable: bool,
    ) -> Result<Option<(Range<usize>, String)>, String> {
        let element = self.element(column)?;
        let tokens = &element.tokens;
        let not_null = (0..tokens.len().saturating_sub(1))
            .find(|&i| tokens[i].kind == TK_NOT && tokens[i + 1].kind == TK_NULL);
        match (nullable, not_null) {
            (true, Some(i)) => {
                let first = if i >= 2 && tokens[i - 2].kind == TK_CONSTRAINT {
                    i - 2
                } else {
                    i
                };
                let mut last = i + 1;
                if tokens.get(i + 2).is_some_and(|t| t.kind == TK_ON) {
                    last = (i + 4).min(tokens.len() - 1);
                }
                Ok(Some((
                    tokens[first - 1].end..tokens[last].end,
                    String::new(),
                )))
            }
            (false, None) => {
                let after_type = tokens[Self::type_end(element) - 1].end;
                Ok(Some((after_type..after_type, " NOT NULL".to_owned())))
            }
            _ => Ok(None),
        }
    }

    /// New column definitions after the last column, indented as it is.
    fn append(&self, definitions: &[String]) -> Result<(Range<usize>, String), String> {
        let last = self
            .elements
            .iter()
            .rev()
            .find(|e| e.column.is_some())
            .ok_or("has no column")?;
        let range = last.range();
        let line_start = self.text[..range.start].rfind('\n').map(|i| i + 1);
        let separator = match line_start {
            Some(i) if self.text[i..range.start].trim().is_empty() => {
                format!(",\n{}", &self.text[i..range.start])
            }
            _ => ", ".to_owned(),
        };
        let text: String = definitions
            .iter()
            .map(|d| format!("{separator}{d}"))
            .collect();
        Ok((range.end..range.end, text))
    }
}

/// The elements of a table body: `tokens` starts after `(` and runs to the end.
fn split_body(text: &str, tokens: &[Token]) -> Result<Vec<Element>, String> {
    let mut elements = Vec::new();
    let mut current = Vec::new();
    let mut depth = 0usize;
    for token in tokens {
        match token.kind {
            TK_LP => depth += 1,
            TK_RP if depth == 0 => {
                elements.push(element(text, std::mem::take(&mut current))?);
                return Ok(elements);
            }
            TK_RP => depth -= 1,
            TK_COMMA if depth == 0 => {
                elements.push(element(text, std::mem::take(&mut current))?);
                continue;
            }
            _ => {}
        }
        current.push(*token);
    }
    Err("the column list is not closed".into())
}

fn element(text: &str, tokens: Vec<Token>) -> Result<Element, String> {
    let first = tokens.first().ok_or("has an empty column definition")?;
    let column = if TABLE_CONSTRAINT.contains(&first.kind) {
        None
    } else {
        Some(unquoted(&text[first.start..first.end]))
    };
    Ok(Element { tokens, column })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: &str = "CREATE TABLE users (
    id INTEGER PRIMARY KEY NOT NULL,
    -- the wallet
    wallet TEXT NOT NULL,
    \"Nick\" VARCHAR(20) CONSTRAINT nn NOT NULL ON CONFLICT ABORT DEFAULT 'x',
    amount NUMERIC(36, 18),
    status TEXT NOT NULL DEFAULT 'a',
    CONSTRAINT users_status_check CHECK (status IN ('a', 'b')),
    CONSTRAINT users_amount_check CHECK (amount IS NOT NULL OR wallet GLOB '0x*')
)";

    fn parsed() -> CreateTable<'static> {
        CreateTable::parse(USERS).expect("parses")
    }

    #[test]
    fn finds_the_columns_in_order() {
        assert_eq!(
            parsed().columns(),
            ["id", "wallet", "Nick", "amount", "status"]
        );
    }

    #[test]
    fn renaming_alone_keeps_every_other_byte() {
        let renamed = parsed()
            .edited("new_users", &Edits::default())
            .expect("edits");
        assert_eq!(renamed, USERS.replacen("users (", "new_users (", 1));
    }

    #[test]
    fn changes_a_type_and_nullability_in_place() {
        let edits = Edits {
            retype: vec![("amount".into(), "TEXT".into())],
            nullability: vec![
                ("wallet".into(), true),
                ("nick".into(), true),
                ("amount".into(), false),
            ],
            ..Edits::default()
        };
        let text = parsed().edited("users", &edits).expect("edits");
        assert!(text.contains("\n    wallet TEXT,\n"), "{text}");
        assert!(text.contains("\"Nick\" VARCHAR(20) DEFAULT 'x',"), "{text}");
        assert!(text.contains("amount TEXT NOT NULL,"), "{text}");
        assert!(text.contains("status TEXT NOT NULL DEFAULT 'a'"), "{text}");
    }

    #[test]
    fn dropping_a_column_drops_the_constraints_naming_it() {
        let table = parsed();
        assert!(table.constrains("amount"));
        assert!(table.constrains("id"), "a primary key");
        assert!(!table.constrains("Nick"));
        let edits = Edits {
            drop: vec!["amount".into()],
            ..Edits::default()
        };
        let text = table.edited("users", &edits).expect("edits");
        assert!(!text.contains("amount"), "{text}");
        assert!(text.contains("status TEXT NOT NULL DEFAULT 'a',\n    CONSTRAINT users_status_check CHECK (status IN ('a', 'b'))\n)"), "{text}");
    }

    #[test]
    fn appends_columns_after_the_last_column() {
        let edits = Edits {
            append: vec!["note TEXT".into(), "flag BOOLEAN NOT NULL".into()],
            ..Edits::default()
        };
        let text = parsed().edited("users", &edits).expect("edits");
        assert!(
            text.contains("DEFAULT 'a',\n    note TEXT,\n    flag BOOLEAN NOT NULL,\n    CONSTRAINT users_status_check"),
            "{text}"
        );
    }

    #[test]
    fn dropping_leading_columns_keeps_the_list_valid() {
        let table = CreateTable::parse("CREATE TABLE t (a INT, b INT, c INT)").expect("parses");
        let edits = Edits {
            drop: vec!["a".into(), "b".into()],
            ..Edits::default()
        };
        assert_eq!(
            table.edited("t", &edits).expect("edits"),
            "CREATE TABLE t (c INT)"
        );
    }

    #[test]
    fn mentions_ignore_strings() {
        assert!(mentions("CREATE INDEX i ON t (lower(\"Email\"))", "email"));
        assert!(!mentions(
            "CREATE TRIGGER x BEGIN SELECT 'email'; END",
            "email"
        ));
    }

    #[test]
    fn refuses_what_is_not_a_create_table() {
        assert!(CreateTable::parse("CREATE INDEX i ON t (a)").is_err());
        assert!(CreateTable::parse("CREATE TABLE t (a INT").is_err());
        assert!(CreateTable::parse("CREATE TABLE t (a INT, b INT)")
            .expect("parses")
            .edited(
                "t",
                &Edits {
                    drop: vec!["zz".into()],
                    ..Edits::default()
                }
            )
            .is_err());
    }
}
