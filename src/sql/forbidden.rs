//! Statements that haven-migrate refuses to run, found before anything runs.
//!
//! - `DISCARD ALL` and `pg_advisory_unlock_all()` release the session's advisory locks, the
//!   migration lock among them: a concurrent deploy would start in the middle of this one.
//! - Transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`, `END`, `ABORT`, `START
//!   TRANSACTION`) in a migration that runs in a transaction: it would end the transaction
//!   that also holds the bookkeeping, so what is kept and what is recorded part ways. Such
//!   a migration belongs in `run_in_transaction = false`. `BEGIN ATOMIC`, trigger bodies and
//!   `DO $$ BEGIN ... END $$` are not statements of their own, and are not refused.
//! - psql meta-commands (a backslash outside a string, comment or dollar quote) and `COPY
//!   ... FROM stdin`: psql would run them from a `--sql` script, while a real run fails on
//!   them, so `--sql` could do what the real command would not.

use super::split::{self, Token};

/// Why a statement is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// It releases the migration lock.
    ReleasesLock,
    /// It ends or starts a transaction inside a transactional migration.
    TransactionControl,
    /// A psql meta-command.
    PsqlMetaCommand,
    /// `COPY ... FROM stdin`, whose data only psql can send.
    CopyFromStdin,
}

/// The first refused statement of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The line (from 1) where it starts.
    pub line: usize,
    /// What was found, as written (e.g. `COMMIT`).
    pub found: String,
    /// Why it is refused.
    pub reason: Reason,
}

impl Finding {
    /// What is wrong and what to do, for an error message.
    pub fn advice(&self) -> String {
        let found = &self.found;
        match self.reason {
            Reason::ReleasesLock => format!(
                "`{found}` releases the session's advisory locks, the migration lock among them, \
                 so a concurrent deploy could start in the middle of this one; remove it \
                 (haven-migrate resets the session between migrations itself)"
            ),
            Reason::TransactionControl => format!(
                "`{found}` controls the transaction that haven-migrate runs this migration in, \
                 with its bookkeeping; remove it, or add `run_in_transaction = false` to the \
                 migration's metadata.toml so that it runs outside a transaction"
            ),
            Reason::PsqlMetaCommand => format!(
                "`{found}` is a psql meta-command, not SQL: a real run fails on it, while psql \
                 would run it from a --sql script; remove it"
            ),
            Reason::CopyFromStdin => format!(
                "`{found}` reads its data from psql, which only a --sql script has; load the \
                 data with INSERT statements, or COPY from a server-side file"
            ),
        }
    }
}

/// What one pass over a migration file finds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scan {
    /// The first refused statement, if any.
    pub refusal: Option<Finding>,
    /// The last statement has no `;` after it: what follows the file (the bookkeeping, in
    /// a batch or a script) must not be glued to it (see `split::push_terminated`).
    pub unterminated: bool,
}

/// One pass over `sql`: its first refused statement (`transactional`: the migration runs in
/// a transaction, so transaction control is refused too), and whether its last statement
/// lacks a terminator. A file is read once and its statements split once, on the
/// loading threads, however many commands then look at it.
pub fn scan(sql: &str, transactional: bool) -> Scan {
    let mut last_end = None;
    for (offset, statement) in split::statements_with_offsets(sql) {
        if let Some((at, found, reason)) = in_statement(statement, transactional) {
            let line = line_of(sql, offset + at);
            let refusal = Some(Finding {
                line,
                found,
                reason,
            });
            return Scan {
                refusal,
                unterminated: false,
            };
        }
        last_end = Some(offset + statement.len());
    }
    Scan {
        refusal: None,
        unterminated: last_end.is_some_and(|end| split::lacks_terminator_after(sql, end)),
    }
}

/// The refused part of one statement: its offset in the statement, the text, the reason.
fn in_statement(statement: &str, transactional: bool) -> Option<(usize, String, Reason)> {
    let mut words = split::tokens(statement);
    let (_, first) = words.next()?;
    let head = match first {
        Token::Backslash => return Some((0, meta_command(statement), Reason::PsqlMetaCommand)),
        Token::Word(word) => word,
    };
    let second = words.find_map(|(_, t)| match t {
        Token::Word(w) => Some(w),
        Token::Backslash => None,
    });
    let is = |kw: &str| head.eq_ignore_ascii_case(kw);
    let next_is = |kw: &str| second.is_some_and(|w| w.eq_ignore_ascii_case(kw));
    if is("discard") && next_is("all") {
        return Some((0, "DISCARD ALL".into(), Reason::ReleasesLock));
    }
    if transactional && is_transaction_control(&is, &next_is) {
        return Some((0, leading_words(head, second), Reason::TransactionControl));
    }
    if is("copy") && copies_from_stdin(statement) {
        return Some((0, "COPY ... FROM stdin".into(), Reason::CopyFromStdin));
    }
    split::tokens(statement).find_map(|(at, token)| match token {
        Token::Word(w) if w.eq_ignore_ascii_case("pg_advisory_unlock_all") => {
            Some((at, "pg_advisory_unlock_all()".into(), Reason::ReleasesLock))
        }
        Token::Backslash => Some((at, meta_command(&statement[at..]), Reason::PsqlMetaCommand)),
        Token::Word(_) => None,
    })
}

/// `BEGIN` (not `BEGIN ATOMIC`, which only opens a function body), `COMMIT`, `END`,
/// `ABORT`, `ROLLBACK` (not `ROLLBACK TO SAVEPOINT`) and `START TRANSACTION` as statements.
fn is_transaction_control(is: &dyn Fn(&str) -> bool, next_is: &dyn Fn(&str) -> bool) -> bool {
    (is("begin") && !next_is("atomic"))
        || is("commit")
        || is("end")
        || is("abort")
        || (is("rollback") && !next_is("to"))
        || (is("start") && next_is("transaction"))
}

fn copies_from_stdin(statement: &str) -> bool {
    let words: Vec<&str> = split::tokens(statement)
        .filter_map(|(_, t)| match t {
            Token::Word(w) => Some(w),
            Token::Backslash => None,
        })
        .collect();
    words
        .windows(2)
        .any(|pair| pair[0].eq_ignore_ascii_case("from") && pair[1].eq_ignore_ascii_case("stdin"))
}

/// The statement's first word, and its second when it is part of the command.
fn leading_words(head: &str, second: Option<&str>) -> String {
    let part_of_command = |w: &&str| {
        ["transaction", "work", "prepared"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
    };
    match second.filter(part_of_command) {
        Some(w) => format!("{} {}", head.to_uppercase(), w.to_uppercase()),
        None => head.to_uppercase(),
    }
}

/// The meta-command at the start of `text` (`\i`, `\! touch /tmp/x`), up to the line's end.
fn meta_command(text: &str) -> String {
    let line = text.lines().next().unwrap_or(text).trim_end();
    let mut shown: String = line.chars().take(40).collect();
    if shown.len() < line.len() {
        shown.push_str("...");
    }
    shown
}

/// The line number (from 1) of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(sql: &str, transactional: bool) -> Option<Finding> {
        scan(sql, transactional).refusal
    }

    fn reason(sql: &str, transactional: bool) -> Option<Reason> {
        find(sql, transactional).map(|f| f.reason)
    }

    #[test]
    fn transaction_control_is_found_with_its_line() {
        let sql = "CREATE TABLE a (x int);\n\nCOMMIT;\nCREATE TABLE b (y int);\n";
        let finding = find(sql, true).expect("found");
        assert_eq!(finding.line, 3);
        assert_eq!(finding.found, "COMMIT");
        assert_eq!(finding.reason, Reason::TransactionControl);
        for statement in [
            "BEGIN",
            "begin transaction",
            "BEGIN WORK",
            "END",
            "ROLLBACK",
            "ABORT",
            "START TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "COMMIT AND CHAIN",
            "/* c */ -- d\n commit",
        ] {
            assert_eq!(
                reason(statement, true),
                Some(Reason::TransactionControl),
                "{statement}"
            );
            assert_eq!(
                reason(statement, false),
                None,
                "{statement} outside a transaction"
            );
        }
    }

    #[test]
    fn blocks_named_begin_are_not_transactions() {
        for sql in [
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
            "DO $$ BEGIN PERFORM 1; END $$;",
            "CREATE FUNCTION g() RETURNS trigger LANGUAGE plpgsql AS $body$\nBEGIN\n  RETURN NEW;\nEND\n$body$;",
            "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO b VALUES (1); END;",
            "SAVEPOINT s; ROLLBACK TO SAVEPOINT s; RELEASE SAVEPOINT s;",
            "SELECT 'COMMIT'; SELECT \"end\" FROM t; -- ROLLBACK\n/* BEGIN; */",
            "UPDATE t SET x = 1 WHERE t.end = 2",
        ] {
            assert_eq!(find(sql, true), None, "{sql}");
        }
    }

    #[test]
    fn lock_releases_are_refused_everywhere() {
        assert_eq!(reason("DISCARD ALL", false), Some(Reason::ReleasesLock));
        assert_eq!(reason("discard  all;", true), Some(Reason::ReleasesLock));
        assert_eq!(reason("DISCARD TEMP", true), None);
        let sql = "SELECT 1;\nSELECT pg_advisory_unlock_all();";
        let f = find(sql, false).expect("found");
        assert_eq!((f.line, f.reason), (2, Reason::ReleasesLock));
        assert_eq!(find("SELECT 'pg_advisory_unlock_all()'", true), None);
    }

    #[test]
    fn psql_meta_commands_and_copy_from_stdin() {
        let f = find("CREATE TABLE a (x int);\n\\! touch /tmp/x\n", true).expect("found");
        assert_eq!((f.line, f.reason), (2, Reason::PsqlMetaCommand));
        assert_eq!(f.found, "\\! touch /tmp/x");
        assert_eq!(
            reason("SELECT 1 \\gset", false),
            Some(Reason::PsqlMetaCommand)
        );
        assert_eq!(
            reason("SELECT E'a\\\\b', 'c\\d', $$\\x$$ -- \\q", true),
            None
        );
        assert_eq!(
            reason("COPY t (x) FROM stdin;\n1\n\\.\n", false),
            Some(Reason::CopyFromStdin)
        );
        assert_eq!(reason("COPY t TO STDOUT", true), None);
        assert_eq!(reason("COPY t FROM '/srv/data.csv'", true), None);
    }
}
