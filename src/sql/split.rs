//! Splitting a SQL script into its statements.
//!
//! PostgreSQL runs a multi-statement simple query inside one implicit transaction, which
//! breaks statements such as `CREATE INDEX CONCURRENTLY` (diesel issue 4552). So a
//! non-transactional migration is sent one statement at a time, and this module finds the
//! statement boundaries. It also tells whether a script holds any statement at all, since an
//! empty or comment-only script runs as a no-op instead of failing with "empty query".
//!
//! The splitter is a single pass over the bytes, with no allocation per character. It knows
//! just enough of the PostgreSQL and SQLite lexers to never split on a `;` that is not a
//! statement terminator:
//!
//! - `'...'` strings with `''` inside, and `E'...'` escape strings with `\'` and `\\`;
//! - `"..."` and `` `...` `` quoted identifiers, with the quote doubled inside;
//! - dollar quotes `$$...$$` and `$tag$...$tag$` (but not `$1` parameters);
//! - `--` line comments and `/* ... */` block comments, which nest as in PostgreSQL;
//! - SQLite `CREATE TRIGGER ... BEGIN ...; ...; END` bodies, and PostgreSQL
//!   `BEGIN ATOMIC ... END` function bodies (with `CASE ... END` counted inside them).
//!
//! Known limits, all harmless for real migrations: SQLite `[...]` identifiers are not
//! recognised (so that PostgreSQL array subscripts like `a[1]` stay plain), SQLite's block
//! comments do not really nest, and strings are read as with `standard_conforming_strings =
//! on`. Unterminated quotes and comments run to the end of the input, which becomes the last
//! statement: the server then reports the error with its own message.
//!
//! Every byte the splitter looks for is ASCII, and it only cuts at `;` or at the ends of the
//! input, so every slice falls on a UTF-8 character boundary.

/// Splits a SQL script into its statements, in order. Each returned &str is a slice of the
/// input covering one statement WITHOUT its terminating `;`, trimmed of surrounding
/// whitespace; statements that are empty or consist only of comments/whitespace are omitted.
/// Comments inside or before a statement are kept in the slice (the server ignores them).
pub fn split_statements(sql: &str) -> Vec<&str> {
    Statements { sql, pos: 0 }.map(|(_, text)| text).collect()
}

/// As [`split_statements`], with the byte offset in `sql` where each statement starts.
pub fn statements_with_offsets(sql: &str) -> impl Iterator<Item = (usize, &str)> {
    Statements { sql, pos: 0 }
}

/// Appends `sql` to `out`, ending with a newline, and with `;` after its last statement
/// when it has none (`unterminated`, from `forbidden::scan`), so that what follows it (the
/// bookkeeping, in a batch or a script) is never glued to it.
pub fn push_with_terminator(out: &mut String, sql: &str, unterminated: bool) {
    out.push_str(sql.trim_end());
    if unterminated {
        out.push_str("\n;");
    }
    out.push('\n');
}

/// Whether no `;` follows the statement that ends at `end` (a statement's slice stops
/// before its `;`).
pub(crate) fn lacks_terminator_after(sql: &str, end: usize) -> bool {
    !sql[end..].trim_start().starts_with(';')
}

/// What [`tokens`] reports of a statement: its words and any backslash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// An identifier or keyword, as written (not in quotes).
    Word(&'a str),
    /// A `\` outside any string, identifier, dollar quote or comment: SQL has none there,
    /// so it is a psql meta-command.
    Backslash,
}

/// The words and backslashes of `sql`, with their byte offsets, skipping strings, quoted
/// identifiers, dollar quotes and comments, as the splitter does.
pub fn tokens(sql: &str) -> impl Iterator<Item = (usize, Token<'_>)> {
    let b = sql.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while let Some(&c) = b.get(i) {
            let start = i;
            i = match c {
                b'-' if b.get(i + 1) == Some(&b'-') => skip_line_comment(b, i + 2),
                b'/' if b.get(i + 1) == Some(&b'*') => skip_block_comment(b, i + 2),
                b'\'' | b'"' | b'`' => skip_quoted(b, i + 1, c),
                b'$' => skip_dollar(b, i),
                b'e' | b'E' if b.get(i + 1) == Some(&b'\'') => skip_escape_string(b, i + 2),
                _ if is_word_start(c) => {
                    i = word_end(b, i);
                    // Words are ASCII-delimited, so both ends are char boundaries.
                    return Some((start, Token::Word(&sql[start..i])));
                }
                b'\\' => {
                    i += 1;
                    return Some((start, Token::Backslash));
                }
                _ => i + 1,
            };
        }
        None
    })
}

/// True when the script holds no statement at all: empty, whitespace, comments and bare `;`
/// only.
pub fn is_effectively_empty(sql: &str) -> bool {
    // Stops at the first statement, so a large script is not scanned to its end.
    Statements { sql, pos: 0 }.next().is_none()
}

/// The statements of a script, one at a time; the engine of both public functions.
struct Statements<'a> {
    sql: &'a str,
    /// Where the next statement's scan starts: just after the previous terminator.
    pos: usize,
}

impl<'a> Iterator for Statements<'a> {
    /// Where the statement starts in the script, and its text.
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let bytes = self.sql.as_bytes();
        while self.pos < bytes.len() {
            let start = self.pos;
            let (end, has_content) = scan_statement(bytes, start);
            // Past the `;`, or past the end when the last statement has none.
            self.pos = end + 1;
            if has_content {
                // `start` follows a `;` and `end` is a `;` or the end: both char boundaries.
                let raw = &self.sql[start..end];
                let lead = raw.len() - trim_space_start(raw).len();
                return Some((start + lead, trim_space(raw)));
            }
        }
        None
    }
}

/// Scans one statement from `start`: returns the index of its terminating `;` (or the input
/// length) and whether it holds anything besides whitespace and comments.
fn scan_statement(b: &[u8], start: usize) -> (usize, bool) {
    let mut state = StatementState::default();
    let mut i = start;
    while let Some(&c) = b.get(i) {
        if c == b';' && state.depth == 0 {
            return (i, state.content);
        }
        i = match c {
            _ if is_space(c) => i + 1,
            b'-' if b.get(i + 1) == Some(&b'-') => skip_line_comment(b, i + 2),
            b'/' if b.get(i + 1) == Some(&b'*') => skip_block_comment(b, i + 2),
            _ => state.token(b, i),
        };
    }
    (b.len(), state.content)
}

/// How far the leading keywords of a statement have matched `CREATE [TEMP] TRIGGER`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
enum Head {
    /// No token seen yet (comments do not count).
    #[default]
    Start,
    /// `CREATE`, possibly followed by modifiers such as `TEMP` or `OR REPLACE`.
    Create,
    /// A trigger: a `BEGIN` in it opens a body that only `END` closes.
    Trigger,
    /// Anything else.
    Other,
}

impl Head {
    /// The state after one more word.
    fn after_word(self, word: &[u8]) -> Head {
        let is = |kw: &str| word.eq_ignore_ascii_case(kw.as_bytes());
        match self {
            Head::Start if is("create") => Head::Create,
            // OR REPLACE and CONSTRAINT are PostgreSQL's; its triggers have no BEGIN, so
            // accepting them costs nothing and keeps the rule simple.
            Head::Create
                if ["temp", "temporary", "or", "replace", "constraint"]
                    .iter()
                    .any(|kw| is(kw)) =>
            {
                Head::Create
            }
            Head::Create if is("trigger") => Head::Trigger,
            _ => self.after_other(),
        }
    }

    /// The state after a token that is not a keyword: a quote, a symbol, a qualified name.
    fn after_other(self) -> Head {
        match self {
            Head::Trigger => Head::Trigger,
            _ => Head::Other,
        }
    }
}

/// What the scan of one statement has learnt so far.
#[derive(Default)]
struct StatementState {
    head: Head,
    /// Nesting of trigger bodies, `BEGIN ATOMIC` and the `CASE` inside them; a `;` only ends
    /// the statement at depth 0.
    depth: u32,
    /// Whether anything other than whitespace and comments was seen.
    content: bool,
}

impl StatementState {
    /// Consumes the token (not whitespace, not a comment) at `i`; returns the index after it.
    fn token(&mut self, b: &[u8], i: usize) -> usize {
        self.content = true;
        let c = b[i];
        if is_word_start(c) {
            return self.word(b, i);
        }
        self.head = self.head.after_other();
        match c {
            b'\'' | b'"' | b'`' => skip_quoted(b, i + 1, c),
            b'$' => skip_dollar(b, i),
            _ => i + 1,
        }
    }

    /// Consumes a word (identifier or keyword) at `i`, or an `E'...'` string.
    fn word(&mut self, b: &[u8], i: usize) -> usize {
        let end = word_end(b, i);
        let word = &b[i..end];
        if word.eq_ignore_ascii_case(b"e") && b.get(end) == Some(&b'\'') {
            self.head = self.head.after_other();
            return skip_escape_string(b, end + 1);
        }
        // In `new.end` or `t.begin` the word is a column name, never a keyword.
        let qualified = i > 0 && b[i - 1] == b'.';
        if qualified {
            self.head = self.head.after_other();
        } else {
            self.keyword(word, b, end);
        }
        end
    }

    /// Tracks the keywords that open and close blocks; `end` is the index after `word`.
    fn keyword(&mut self, word: &[u8], b: &[u8], end: usize) {
        self.head = self.head.after_word(word);
        let is = |kw: &str| word.eq_ignore_ascii_case(kw.as_bytes());
        if is("begin") {
            // A bare `BEGIN;` is a transaction (SQLite migrations may carry their own), so
            // only BEGIN ATOMIC, or the BEGIN of a trigger body, opens a block.
            if next_word_is(b, end, "atomic") {
                self.depth += 1;
            } else if self.head == Head::Trigger && self.depth == 0 {
                self.depth = 1;
            }
        } else if self.depth > 0 {
            // Inside a body, `CASE ... END` must not be taken for the body's END.
            if is("case") {
                self.depth += 1;
            } else if is("end") {
                self.depth -= 1;
            }
        }
    }
}

/// The whitespace of the PostgreSQL and SQLite lexers (ASCII only: any other character is a
/// token, and the server will say what it thinks of it).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Trims exactly the whitespace `is_space` skips, so a statement with content never trims to
/// an empty string.
fn trim_space(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_space(c as u8))
}

fn trim_space_start(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8))
}

/// Whether `c` can start an identifier. Bytes of non-ASCII characters count as letters, as in
/// PostgreSQL.
fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

/// Whether `c` can continue an identifier; PostgreSQL allows `$` there, so `a$b$` is one
/// identifier and not the start of a dollar quote.
fn is_word_char(c: u8) -> bool {
    is_word_start(c) || c.is_ascii_digit() || c == b'$'
}

/// The index just after the word starting at `i`.
fn word_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| !is_word_char(c))
        .map_or(b.len(), |n| i + n)
}

/// Whether the next word after `i`, skipping whitespace and comments, is `kw`.
fn next_word_is(b: &[u8], mut i: usize, kw: &str) -> bool {
    loop {
        match b.get(i) {
            Some(&c) if is_space(c) => i += 1,
            Some(b'-') if b.get(i + 1) == Some(&b'-') => i = skip_line_comment(b, i + 2),
            Some(b'/') if b.get(i + 1) == Some(&b'*') => i = skip_block_comment(b, i + 2),
            Some(&c) if is_word_start(c) => {
                return b[i..word_end(b, i)].eq_ignore_ascii_case(kw.as_bytes());
            }
            _ => return false,
        }
    }
}

/// Skips a `--` comment whose body starts at `i`; the newline ends it.
fn skip_line_comment(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |n| i + n + 1)
}

/// Skips a `/*` comment whose body starts at `i`, honouring nested `/* */` pairs.
fn skip_block_comment(b: &[u8], mut i: usize) -> usize {
    let mut depth = 1u32;
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// Skips a quoted string or identifier whose body starts at `i`; a doubled `quote` stands for
/// itself.
fn skip_quoted(b: &[u8], mut i: usize, quote: u8) -> usize {
    while let Some(n) = b[i..].iter().position(|&c| c == quote) {
        i += n + 1;
        if b.get(i) != Some(&quote) {
            return i;
        }
        i += 1;
    }
    b.len()
}

/// Skips an `E'...'` body starting at `i`, where a backslash escapes the next byte.
fn skip_escape_string(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        match c {
            // The escaped byte may be the first of a multi-byte character; its continuation
            // bytes are never ASCII, so nothing below can misread them.
            b'\\' => i += 2,
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Skips what starts with the `$` at `i`: a whole dollar-quoted string, or just the `$` (of a
/// `$1` parameter, or a stray one).
fn skip_dollar(b: &[u8], i: usize) -> usize {
    // The tag follows identifier rules, without `$`, and cannot start with a digit.
    let tag_len = b[i + 1..]
        .iter()
        .position(|&c| !(is_word_start(c) || c.is_ascii_digit()))
        .unwrap_or(b.len() - i - 1);
    let close = i + 1 + tag_len;
    let starts_with_digit = b.get(i + 1).is_some_and(u8::is_ascii_digit);
    if starts_with_digit || b.get(close) != Some(&b'$') {
        return i + 1;
    }
    let delimiter = &b[i..=close];
    let body = close + 1;
    b[body..]
        .windows(delimiter.len())
        .position(|w| w == delimiter)
        .map_or(b.len(), |n| body + n + delimiter.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sql` as a batch or a script holds it: scanned, then terminated when needed.
    fn terminated(sql: &str) -> String {
        let mut out = String::new();
        let unterminated = crate::sql::forbidden::scan(sql, false).unterminated;
        push_with_terminator(&mut out, sql, unterminated);
        out
    }

    #[test]
    fn terminator_is_added_only_when_missing() {
        assert_eq!(terminated("SELECT 1;\n\n"), "SELECT 1;\n");
        assert_eq!(terminated("SELECT 1"), "SELECT 1\n;\n");
        assert_eq!(
            terminated("SELECT 1 -- trailing comment"),
            "SELECT 1 -- trailing comment\n;\n"
        );
        assert_eq!(terminated("SELECT 1; -- done"), "SELECT 1; -- done\n");
        assert_eq!(terminated("-- only a comment"), "-- only a comment\n");
    }

    /// Asserts that `sql` splits into exactly `expected`.
    fn check(sql: &str, expected: &[&str]) {
        assert_eq!(split_statements(sql), expected, "splitting {sql:?}");
        assert_eq!(
            is_effectively_empty(sql),
            expected.is_empty(),
            "emptiness of {sql:?}"
        );
    }

    #[test]
    fn empty_and_whitespace() {
        check("", &[]);
        check("   \n\t\r\n ", &[]);
        check(";", &[]);
        check(";;", &[]);
        check(" ; ;\n; ", &[]);
    }

    #[test]
    fn simple_statements() {
        check("SELECT 1", &["SELECT 1"]);
        check("SELECT 1;", &["SELECT 1"]);
        check("  SELECT 1 ;  ", &["SELECT 1"]);
        check(
            "SELECT 1; SELECT 2; SELECT 3;",
            &["SELECT 1", "SELECT 2", "SELECT 3"],
        );
        check("SELECT 1;SELECT 2", &["SELECT 1", "SELECT 2"]);
        check("SELECT 1;;SELECT 2;;", &["SELECT 1", "SELECT 2"]);
        check("a;\n\nb;\n  c", &["a", "b", "c"]);
        check(
            "CREATE TABLE t (\n  id INT,\n  name TEXT\n);\nDROP TABLE t;\n",
            &[
                "CREATE TABLE t (\n  id INT,\n  name TEXT\n)",
                "DROP TABLE t",
            ],
        );
    }

    #[test]
    fn comment_only_scripts() {
        check("-- nothing here", &[]);
        check("-- nothing; here\n-- at all;\n", &[]);
        check("/* nothing; here */", &[]);
        check("/* a */ ; -- b\n ; /* c /* d; */ e; */ ;", &[]);
        check(
            "-- a migration that only documents things\n\n/* ; */\n",
            &[],
        );
    }

    #[test]
    fn line_comments() {
        check("SELECT 1 -- one; two\n, 2;", &["SELECT 1 -- one; two\n, 2"]);
        check("-- lead\nSELECT 1;", &["-- lead\nSELECT 1"]);
        check("SELECT 1; -- trailing comment", &["SELECT 1"]);
        check(
            "SELECT 1; -- about two\nSELECT 2",
            &["SELECT 1", "-- about two\nSELECT 2"],
        );
        check(
            "SELECT 1 -- comment at end\n;",
            &["SELECT 1 -- comment at end"],
        );
        check("SELECT 1 - -1; SELECT 2", &["SELECT 1 - -1", "SELECT 2"]);
        check("SELECT 2-1;x", &["SELECT 2-1", "x"]);
    }

    #[test]
    fn block_comments() {
        check(
            "SELECT /* ; */ 1; SELECT 2",
            &["SELECT /* ; */ 1", "SELECT 2"],
        );
        check("/* lead; */ SELECT 1", &["/* lead; */ SELECT 1"]);
        check(
            "SELECT 1 /* multi\nline; */;",
            &["SELECT 1 /* multi\nline; */"],
        );
        check("SELECT 6/2; SELECT 2*3", &["SELECT 6/2", "SELECT 2*3"]);
        check(
            "SELECT 1 /*/ still; comment */; x",
            &["SELECT 1 /*/ still; comment */", "x"],
        );
        check("SELECT 1 /* -- ; */; x", &["SELECT 1 /* -- ; */", "x"]);
        check("SELECT 1 -- /* ;\n; x", &["SELECT 1 -- /* ;", "x"]);
    }

    #[test]
    fn nested_block_comments() {
        check(
            "/* a /* b */ still; comment */ SELECT 1; x",
            &["/* a /* b */ still; comment */ SELECT 1", "x"],
        );
        check("/* /* /* ; */ ; */ ; */ ;", &[]);
        check("x /* /* ; */ */ ; y", &["x /* /* ; */ */", "y"]);
    }

    #[test]
    fn string_literals() {
        check("SELECT 'a;b'; SELECT 2", &["SELECT 'a;b'", "SELECT 2"]);
        check("SELECT 'it''s; fine'; x", &["SELECT 'it''s; fine'", "x"]);
        check("SELECT ''; x", &["SELECT ''", "x"]);
        check("SELECT ''''; x", &["SELECT ''''", "x"]);
        check(
            "SELECT '-- no; comment'; x",
            &["SELECT '-- no; comment'", "x"],
        );
        check(
            "SELECT '/* no; comment'; x",
            &["SELECT '/* no; comment'", "x"],
        );
        check("SELECT '$$;'; x", &["SELECT '$$;'", "x"]);
        // Standard strings: a backslash is an ordinary character.
        check(r"SELECT 'a\'; x", &[r"SELECT 'a\'", "x"]);
        check("SELECT 'a'';'; x", &["SELECT 'a'';'", "x"]);
    }

    #[test]
    fn escape_strings() {
        check(r"SELECT E'it\'s; ok'; x", &[r"SELECT E'it\'s; ok'", "x"]);
        check(r"SELECT e'back\\'; x", &[r"SELECT e'back\\'", "x"]);
        check(
            r"SELECT E'\\\'; still'; x",
            &[r"SELECT E'\\\'; still'", "x"],
        );
        check(r"SELECT E'a''; b'; x", &[r"SELECT E'a''; b'", "x"]);
        check(r"SELECT E'\n;\t'; x", &[r"SELECT E'\n;\t'", "x"]);
        // Only a standalone E makes an escape string: here the backslash is ordinary.
        check(r"SELECT namE'a\'; x", &[r"SELECT namE'a\'", "x"]);
        check(r"SELECT E 'a\'; x", &[r"SELECT E 'a\'", "x"]);
    }

    #[test]
    fn prefixed_strings() {
        check(
            "SELECT X'3b', B'101', N'a;b'; x",
            &["SELECT X'3b', B'101', N'a;b'", "x"],
        );
        check(
            r#"SELECT U&'d\0061t;a', U&"a;b"; x"#,
            &[r#"SELECT U&'d\0061t;a', U&"a;b""#, "x"],
        );
    }

    #[test]
    fn quoted_identifiers() {
        check(
            r#"SELECT "a;b" FROM t; x"#,
            &[r#"SELECT "a;b" FROM t"#, "x"],
        );
        check(r#"SELECT "a"";b"; x"#, &[r#"SELECT "a"";b""#, "x"]);
        check(r#"SELECT "it's;"; x"#, &[r#"SELECT "it's;""#, "x"]);
        check("SELECT `a;b`; x", &["SELECT `a;b`", "x"]);
        check("SELECT `a``;b`; x", &["SELECT `a``;b`", "x"]);
        check(
            r#"SELECT "end"; BEGIN; x"#,
            &[r#"SELECT "end""#, "BEGIN", "x"],
        );
    }

    #[test]
    fn brackets_are_not_quotes() {
        check("SELECT a[1], b[2:3]; x", &["SELECT a[1], b[2:3]", "x"]);
        check(
            "SELECT ARRAY[1,2][1]; SELECT '[;'",
            &["SELECT ARRAY[1,2][1]", "SELECT '[;'"],
        );
        check("SELECT a[; x", &["SELECT a[", "x"]);
    }

    #[test]
    fn dollar_quotes() {
        check("SELECT $$a;b$$; x", &["SELECT $$a;b$$", "x"]);
        check("SELECT $tag$a;b$tag$; x", &["SELECT $tag$a;b$tag$", "x"]);
        check("SELECT $_t1$;$_t1$; x", &["SELECT $_t1$;$_t1$", "x"]);
        check("SELECT $a$ $b$ ; $a$; x", &["SELECT $a$ $b$ ; $a$", "x"]);
        check(
            "SELECT $$ ' \" -- /* ; $$; x",
            &["SELECT $$ ' \" -- /* ; $$", "x"],
        );
        check("SELECT $$$$; x", &["SELECT $$$$", "x"]);
        check("SELECT $a$$a$; x", &["SELECT $a$$a$", "x"]);
        check("SELECT $A$;$a$;$A$; x", &["SELECT $A$;$a$;$A$", "x"]);
        check("SELECT $é$;$é$; x", &["SELECT $é$;$é$", "x"]);
    }

    #[test]
    fn nested_dollar_tags() {
        let sql = "CREATE FUNCTION f() RETURNS void AS $body$\n\
                   BEGIN\n  EXECUTE $a$ SELECT 1; $a$;\n  PERFORM $$;$$;\nEND;\n$body$ \
                   LANGUAGE plpgsql;\nSELECT f();";
        let body = "CREATE FUNCTION f() RETURNS void AS $body$\n\
                    BEGIN\n  EXECUTE $a$ SELECT 1; $a$;\n  PERFORM $$;$$;\nEND;\n$body$ \
                    LANGUAGE plpgsql";
        check(sql, &[body, "SELECT f()"]);
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        check("SELECT $1; SELECT $2", &["SELECT $1", "SELECT $2"]);
        check("SELECT $1, $2$; x", &["SELECT $1, $2$", "x"]);
        check(
            "PREPARE p AS SELECT $1::int + $12; x",
            &["PREPARE p AS SELECT $1::int + $12", "x"],
        );
        check("SELECT $; x", &["SELECT $", "x"]);
        check("SELECT $a; x", &["SELECT $a", "x"]);
    }

    #[test]
    fn dollar_inside_identifiers() {
        // `a$b$` is one identifier in PostgreSQL, not the start of a dollar quote.
        check("SELECT a$b$; x", &["SELECT a$b$", "x"]);
        check("SELECT x$$; y", &["SELECT x$$", "y"]);
    }

    #[test]
    fn sqlite_triggers() {
        let trigger = "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log\n\
                       BEGIN\n  SELECT RAISE(ABORT, 'audit_log is append-only; no UPDATE');\n\
                       INSERT INTO t VALUES (1);\nEND";
        let sql = format!("{trigger};\nCREATE TABLE x (a INT);\n");
        check(&sql, &[trigger, "CREATE TABLE x (a INT)"]);
    }

    #[test]
    fn sqlite_trigger_variants() {
        let temp = "create temp trigger t after insert on a begin delete from b; end";
        check(&format!("{temp}; x"), &[temp, "x"]);
        let temporary = "Create Temporary Trigger If Not Exists t after insert on a \
                         for each row when new.x > 0 Begin update b set y = 1; End";
        check(&format!("{temporary};x"), &[temporary, "x"]);
        let commented = "-- first a comment; then\n/* more; */ CREATE TRIGGER t AFTER \
                         DELETE ON a BEGIN SELECT 1; SELECT 2; SELECT 3; END";
        check(&format!("{commented};x"), &[commented, "x"]);
    }

    #[test]
    fn trigger_bodies_with_case_and_qualified_names() {
        let trigger = "CREATE TRIGGER t AFTER INSERT ON a WHEN CASE new.x WHEN 1 THEN 1 END\n\
                       BEGIN\n  UPDATE b SET y = CASE WHEN new.end > 0 THEN 1 ELSE 2 END;\n\
                       UPDATE b SET z = new.begin;\nEND";
        check(&format!("{trigger};\nSELECT 1;"), &[trigger, "SELECT 1"]);
    }

    #[test]
    fn trigger_with_tokens_before_begin() {
        let trigger = "CREATE TRIGGER main.t BEFORE DELETE ON a FOR EACH ROW \
                       WHEN old.kind IN ('x;', \"y;\") AND (old.n > 0)\n\
                       BEGIN SELECT RAISE(ABORT, 'no; way'); END";
        check(&format!("{trigger};\nSELECT 1"), &[trigger, "SELECT 1"]);
    }

    #[test]
    fn realistic_postgres_migration() {
        let sql = "-- Audit log: append-only.\n\
                   CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$\n\
                   BEGIN\n  RAISE EXCEPTION 'audit_log is append-only; % refused', TG_OP;\n\
                   END;\n$$;\n\n\
                   CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log\n\
                   FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();\n\
                   CREATE INDEX CONCURRENTLY idx_a ON audit_log (created_at);\n\
                   COMMENT ON TABLE audit_log IS 'Append-only; see trigger';\n";
        let statements = split_statements(sql);
        assert_eq!(statements.len(), 4, "{statements:#?}");
        assert!(statements[0].starts_with("-- Audit log: append-only.\nCREATE FUNCTION"));
        assert!(statements[0].ends_with("END;\n$$"));
        assert!(statements[1].ends_with("EXECUTE FUNCTION audit_log_refuse()"));
        assert_eq!(
            statements[2],
            "CREATE INDEX CONCURRENTLY idx_a ON audit_log (created_at)"
        );
        assert_eq!(
            statements[3],
            "COMMENT ON TABLE audit_log IS 'Append-only; see trigger'"
        );
    }

    #[test]
    fn postgres_triggers_end_at_their_semicolon() {
        let sql = "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log\n\
                   FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();\n\
                   CREATE OR REPLACE TRIGGER t2 AFTER INSERT ON a EXECUTE FUNCTION f();\n\
                   CREATE CONSTRAINT TRIGGER t3 AFTER INSERT ON a EXECUTE PROCEDURE g();\n\
                   SELECT 1;";
        let statements = split_statements(sql);
        assert_eq!(statements.len(), 4, "{statements:#?}");
        assert!(statements[0].ends_with("audit_log_refuse()"));
        assert!(statements[1].starts_with("CREATE OR REPLACE TRIGGER t2"));
        assert!(statements[2].ends_with("g()"));
        assert_eq!(statements[3], "SELECT 1");
    }

    #[test]
    fn transactions_are_not_blocks() {
        check("BEGIN; SELECT 1; COMMIT;", &["BEGIN", "SELECT 1", "COMMIT"]);
        check(
            "BEGIN TRANSACTION; x; END;",
            &["BEGIN TRANSACTION", "x", "END"],
        );
        check("begin; end; begin; end", &["begin", "end", "begin", "end"]);
        // A CASE outside any block must not leave a block open.
        check(
            "SELECT CASE WHEN a THEN 1 END; x",
            &["SELECT CASE WHEN a THEN 1 END", "x"],
        );
    }

    #[test]
    fn begin_atomic_bodies() {
        let function = "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql\n\
                        BEGIN ATOMIC\n  SELECT 1;\n  SELECT CASE WHEN a > 0 THEN a END;\n  \
                        SELECT a + b;\nEND";
        check(
            &format!("{function};\nSELECT add(1, 2);"),
            &[function, "SELECT add(1, 2)"],
        );
        let procedure = "create procedure p() begin /* ; */ -- ;\n atomic insert into t \
                         values (1); delete from t; end";
        check(&format!("{procedure}; x"), &[procedure, "x"]);
    }

    #[test]
    fn unterminated_constructs_run_to_the_end() {
        check(
            "SELECT 1; SELECT 'abc; def",
            &["SELECT 1", "SELECT 'abc; def"],
        );
        check(
            "SELECT 1; SELECT \"abc; def",
            &["SELECT 1", "SELECT \"abc; def"],
        );
        check(
            "SELECT 1; SELECT `abc; def",
            &["SELECT 1", "SELECT `abc; def"],
        );
        check(r"SELECT 1; SELECT E'abc\", &["SELECT 1", r"SELECT E'abc\"]);
        check(
            "SELECT 1; SELECT $x$ abc; def",
            &["SELECT 1", "SELECT $x$ abc; def"],
        );
        check(
            "SELECT 1; SELECT 2 /* abc; def",
            &["SELECT 1", "SELECT 2 /* abc; def"],
        );
        check(
            "SELECT 1; SELECT 2 /* a /* b */ c;",
            &["SELECT 1", "SELECT 2 /* a /* b */ c;"],
        );
        check(
            "SELECT 1; CREATE TRIGGER t BEGIN x; y;",
            &["SELECT 1", "CREATE TRIGGER t BEGIN x; y;"],
        );
        // A lone comment opener has no content: the script is effectively empty.
        check("/* never closed; ", &[]);
        check("--", &[]);
        check("/*", &[]);
        check("'", &["'"]);
        check("$", &["$"]);
        check("$a", &["$a"]);
        check("E'", &["E'"]);
        check("E", &["E"]);
        check("-", &["-"]);
        check("/", &["/"]);
    }

    #[test]
    fn unicode() {
        check(
            "SELECT 'héllo; wörld'; SELECT '日本'",
            &["SELECT 'héllo; wörld'", "SELECT '日本'"],
        );
        check(
            "SELECT \"列;名\" FROM 表; x",
            &["SELECT \"列;名\" FROM 表", "x"],
        );
        check(
            "-- ünïcödé; comment\nSELECT 1; ✓",
            &["-- ünïcödé; comment\nSELECT 1", "✓"],
        );
        check("SELECT E'\\é;'; x", &["SELECT E'\\é;'", "x"]);
        check("SELECT $ü$;$ü$;é", &["SELECT $ü$;$ü$", "é"]);
        // Non-ASCII whitespace is not whitespace to the server: it is content.
        check("\u{a0};\u{3000}", &["\u{a0}", "\u{3000}"]);
        check("SELECT 1;\u{1f600}", &["SELECT 1", "\u{1f600}"]);
    }

    #[test]
    fn slices_borrow_from_the_input() {
        let sql = String::from("  SELECT 1 ;\n SELECT 2");
        let statements = split_statements(&sql);
        let base = sql.as_ptr() as usize;
        let offsets: Vec<usize> = statements
            .iter()
            .map(|s| s.as_ptr() as usize - base)
            .collect();
        assert_eq!(offsets, [2, 14]);
    }

    #[test]
    fn effectively_empty() {
        assert!(is_effectively_empty(""));
        assert!(is_effectively_empty("\n\n"));
        assert!(is_effectively_empty(";;;"));
        assert!(is_effectively_empty("-- Your SQL goes here\n"));
        assert!(is_effectively_empty(
            "-- This file should undo anything in `up.sql`"
        ));
        assert!(is_effectively_empty(
            "/* a; */ ; /* b /* c */ d */ -- e;\n;"
        ));
        assert!(!is_effectively_empty("SELECT 1"));
        assert!(!is_effectively_empty("-- comment\nSELECT 1"));
        assert!(!is_effectively_empty("/* c */ x /* d */"));
        assert!(!is_effectively_empty(";;x;;"));
        assert!(!is_effectively_empty("''"));
        assert!(!is_effectively_empty("$$ -- $$"));
    }

    #[test]
    fn large_script_is_linear() {
        let statement = "INSERT INTO t VALUES (1, 'a;b', $$c;d$$) /* e; */ -- f;\n";
        let sql = format!("{statement};").repeat(20_000);
        let statements = split_statements(&sql);
        assert_eq!(statements.len(), 20_000);
        assert!(statements.iter().all(|s| *s == statement.trim_end()));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Words the splitter gives meaning to; generated identifiers avoid them.
        const KEYWORDS: &[&str] = &[
            "begin",
            "end",
            "case",
            "atomic",
            "create",
            "trigger",
            "temp",
            "temporary",
            "e",
        ];

        /// Characters for the bodies of strings, dollar quotes and line comments: every
        /// delimiter the splitter knows, plus non-ASCII.
        const BODY: &str = r#"[a-z ;'"`$/*\\\-é日]{0,8}"#;

        /// The same without `/` and `*`, for block comment bodies.
        const COMMENT_BODY: &str = r#"[a-z ;'"`$\\\-é日]{0,8}"#;

        fn identifier() -> impl Strategy<Value = String> {
            "[a-zA-Z_][a-zA-Z0-9_]{0,6}"
                .prop_filter("not a keyword", |s| !KEYWORDS.contains(&&*s.to_lowercase()))
        }

        fn plain() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("("),
                Just(")"),
                Just(","),
                Just("="),
                Just("-"),
                Just("/"),
                Just("*"),
                Just("123"),
                Just("a[1]"),
                Just("x.end"),
                Just("t.begin"),
                Just("$1"),
                Just("$"),
                Just("CASE WHEN x THEN 1 END"),
                Just("ünï"),
            ]
            .prop_map(String::from)
        }

        fn quoted() -> impl Strategy<Value = String> {
            prop_oneof![
                BODY.prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
                BODY.prop_map(|s| {
                    format!("E'{}'", s.replace('\\', r"\\").replace('\'', r"\'"))
                }),
                BODY.prop_map(|s| format!("\"{}\"", s.replace('"', "\"\""))),
                BODY.prop_map(|s| format!("`{}`", s.replace('`', "``"))),
            ]
        }

        fn dollar_quoted() -> impl Strategy<Value = String> {
            let tag = "([a-z_][a-z0-9_]{0,3})?";
            let inner = prop_oneof![Just(String::new()), tag.prop_map(|t| format!("${t}$"))];
            (tag, BODY, inner, BODY)
                .prop_map(|(tag, a, inner, b)| (format!("${tag}$"), format!("{a}{inner};{b}")))
                .prop_filter("body must not close the quote", |(delim, body)| {
                    format!("{body}{delim}").find(delim.as_str()) == Some(body.len())
                })
                .prop_map(|(delim, body)| format!("{delim}{body}{delim}"))
        }

        fn comment() -> impl Strategy<Value = String> {
            prop_oneof![
                BODY.prop_map(|s| format!("--{s}\n")),
                COMMENT_BODY.prop_map(|s| format!("/*{s}*/")),
                (COMMENT_BODY, COMMENT_BODY, COMMENT_BODY)
                    .prop_map(|(a, b, c)| format!("/*{a}/*{b}*/{c}*/")),
            ]
        }

        /// An atom that is a token, not a comment.
        fn content() -> BoxedStrategy<String> {
            prop_oneof![identifier(), plain(), quoted(), dollar_quoted()].boxed()
        }

        /// `BEGIN ATOMIC` with statements inside, like a PostgreSQL function body.
        fn atomic_block() -> impl Strategy<Value = String> {
            let inner = prop::collection::vec(prop::collection::vec(content(), 1..3), 1..3);
            inner.prop_map(|statements| {
                let body: Vec<String> = statements.iter().map(|s| s.join(" ")).collect();
                format!("BEGIN ATOMIC {}; END", body.join("; "))
            })
        }

        fn atom() -> impl Strategy<Value = String> {
            prop_oneof![4 => content(), 2 => comment(), 1 => atomic_block()]
        }

        fn space() -> impl Strategy<Value = &'static str> {
            prop_oneof![Just(" "), Just("\n"), Just("\t"), Just(" \r\n  ")]
        }

        /// One statement: any atoms, then a token, so that it has content and does not end
        /// in a line comment (which would swallow a `;` appended to it).
        fn statement() -> impl Strategy<Value = String> {
            let atoms = prop::collection::vec((atom(), space()), 0..5);
            (space(), atoms, content(), space()).prop_map(|(lead, atoms, last, trail)| {
                let mut s = String::from(lead);
                for (atom, space) in atoms {
                    s.push_str(&atom);
                    s.push_str(space);
                }
                s.push_str(&last);
                s.push_str(trail);
                s
            })
        }

        /// Separators between statements; some hold empty or comment-only statements.
        fn separator() -> impl Strategy<Value = &'static str> {
            prop_oneof![
                4 => Just(";"),
                1 => Just(";;"),
                1 => Just("; \n ;"),
                1 => Just(";\n-- only; a comment\n;"),
                1 => Just("; /* c; /* d; */ */ ;"),
            ]
        }

        fn script() -> impl Strategy<Value = (Vec<String>, String)> {
            let parts = prop::collection::vec((statement(), separator()), 0..6);
            let end = prop_oneof![Just(""), Just(";"), Just(";\n"), Just("; -- done;\n")];
            (parts, end).prop_map(|(parts, end)| {
                let mut sql = String::new();
                let n = parts.len();
                for (i, (statement, separator)) in parts.iter().enumerate() {
                    sql.push_str(statement);
                    sql.push_str(if i + 1 == n { end } else { separator });
                }
                (parts.into_iter().map(|(s, _)| s).collect(), sql)
            })
        }

        /// Offset of `part` within `whole`, of which it must be a slice.
        fn offset(whole: &str, part: &str) -> usize {
            part.as_ptr() as usize - whole.as_ptr() as usize
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn never_panics_and_returns_ordered_trimmed_slices(
                sql in prop_oneof![any::<String>(), r#"[a-eE$;'"`/*\\\-\n ()é]{0,40}"#]
            ) {
                let statements = split_statements(&sql);
                prop_assert_eq!(is_effectively_empty(&sql), statements.is_empty());
                let mut previous_end = 0;
                for s in &statements {
                    prop_assert!(!s.is_empty());
                    prop_assert_eq!(*s, trim_space(s));
                    let start = offset(&sql, s);
                    prop_assert!(start >= previous_end && start + s.len() <= sql.len());
                    previous_end = start + s.len();
                    // A statement, split on its own, is itself.
                    prop_assert_eq!(split_statements(s), vec![*s]);
                }
            }

            #[test]
            fn generated_scripts_split_into_their_statements((expected, sql) in script()) {
                let statements = split_statements(&sql);
                let expected: Vec<&str> = expected.iter().map(|s| trim_space(s)).collect();
                prop_assert_eq!(&statements, &expected, "script: {:?}", sql);
                prop_assert_eq!(is_effectively_empty(&sql), expected.is_empty());
            }

            #[test]
            fn joined_statements_resplit_identically((_, sql) in script()) {
                let statements = split_statements(&sql);
                let joined = statements.join(";");
                prop_assert_eq!(split_statements(&joined), statements);
            }

            #[test]
            fn comments_and_semicolons_are_empty(
                parts in prop::collection::vec(
                    prop_oneof![comment(), Just(";".to_string()), space().prop_map(String::from)],
                    0..8,
                )
            ) {
                let sql = parts.concat();
                prop_assert!(is_effectively_empty(&sql), "script: {:?}", sql);
                prop_assert!(split_statements(&sql).is_empty());
            }
        }
    }
}
