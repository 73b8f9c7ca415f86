//! The `--sql` output: a plan rendered as a script that `psql -v ON_ERROR_STOP=1 -f` or
//! `sqlite3 db <` runs, leaving the same schema and bookkeeping rows as executing the plan.
//!
//! It prints the same bookkeeping statements that execution runs (`bookkeeping`), in the same
//! order, with diesel's own row spelled out.

use std::fmt::Write as _;
use std::io;

use crate::bookkeeping::{self, Elapsed, StepSql};
use crate::error::{Error, Result};
use crate::plan::{Action, Plan};
use crate::source::{Migration, MigrationSet};
use crate::sql::split;
use crate::state::SideLayout;
use crate::url::Backend;

/// What the script is for, named in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `upgrade --sql`.
    Upgrade,
    /// `downgrade --sql`.
    Downgrade,
    /// `stamp --sql`.
    Stamp,
}

/// How a script is rendered.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The dialect.
    pub backend: Backend,
    /// What the script is for.
    pub command: Command,
    /// Every migration in one transaction (`upgrade --single-transaction`), as it will run.
    pub single_transaction: bool,
    /// The side table the script will find (online scripts read it; offline ones assume
    /// this version's): an older SQLite one needs its new column added.
    pub side_layout: SideLayout,
}

/// Renders `plan` as one SQL script (the JSON output, library callers).
pub fn render(set: &MigrationSet, plan: &Plan, options: &Options) -> Result<String> {
    let mut script = String::new();
    emit(set, plan, options, &mut |chunk| {
        // Sized once, at the first chunk, when `emit` has read the files the estimate
        // needs: growing a script of megabytes by doubling would copy it again and again.
        if script.is_empty() {
            script.reserve(estimated_len(set, plan));
        }
        script.push_str(chunk);
        Ok(())
    })?;
    Ok(script)
}

/// Writes the script of `plan` for `backend` to `out` as it is rendered, a few dozen
/// kilobytes at a time, so that a script of thousands of migrations is never held whole.
/// Every file it needs is read before the first byte is written: a missing or unreadable
/// one leaves `out` untouched. `out` is flushed at the end.
pub fn write(
    set: &MigrationSet,
    plan: &Plan,
    options: &Options,
    out: &mut dyn io::Write,
) -> Result<()> {
    emit(set, plan, options, &mut |chunk| {
        out.write_all(chunk.as_bytes())
    })?;
    out.flush().map_err(write_error)
}

/// A failed write of the script, naming the output (a caller may forgive a closed pipe).
fn write_error(source: io::Error) -> Error {
    Error::io("cannot write the script to", "the output", source)
}

/// How much is written at a time by [`write`].
const CHUNK: usize = 64 * 1024;

/// Renders the script chunk by chunk into `sink`.
fn emit(
    set: &MigrationSet,
    plan: &Plan,
    options: &Options,
    sink: &mut dyn FnMut(&str) -> io::Result<()>,
) -> Result<()> {
    read_files(set, plan)?;
    let mut flush = |chunk: &mut String| {
        let written = sink(chunk).map_err(write_error);
        chunk.clear();
        written
    };
    let mut chunk = header(options, plan);
    chunk.reserve(CHUNK);
    chunk.push_str(&bookkeeping::setup_sql(
        options.backend,
        options.side_layout,
    ));
    chunk.push_str("\n\n");
    if options.command == Command::Stamp {
        render_stamp(&mut chunk, set, plan)?;
        return flush(&mut chunk);
    }
    if options.single_transaction {
        chunk.push_str("-- Every migration in one transaction (--single-transaction)\nBEGIN;\n\n");
    }
    for step in &plan.steps {
        let Some(m) = step.index.map(|i| &set.migrations()[i]) else {
            continue;
        };
        render_migration(&mut chunk, m, step.action, options)?;
        if chunk.len() >= CHUNK {
            flush(&mut chunk)?;
        }
    }
    if options.single_transaction {
        chunk.push_str("COMMIT;\n");
    }
    flush(&mut chunk)
}

/// Reads, up front, every file the script holds: the `up.sql` of each step (for its
/// checksum), and the `down.sql` of each revert.
fn read_files(set: &MigrationSet, plan: &Plan) -> Result<()> {
    let indexes: Vec<usize> = plan.steps.iter().filter_map(|s| s.index).collect();
    set.preload_checksums(&indexes)?;
    // The same refusals as a real run: a script must never do what the command would not.
    crate::execute::preflight(set, plan)
}

/// About the length of the script: the bodies, and a kilobyte of bookkeeping per step.
fn estimated_len(set: &MigrationSet, plan: &Plan) -> usize {
    let bodies: usize = plan
        .steps
        .iter()
        .filter_map(|s| s.index)
        .map(|i| set.migrations()[i].up_sql().map_or(0, str::len))
        .sum();
    bodies + 1024 * plan.steps.len()
}

fn header(options: &Options, plan: &Plan) -> String {
    let (verb, run) = match options.backend {
        Backend::Postgres => ("PostgreSQL", "psql -v ON_ERROR_STOP=1 -f FILE"),
        Backend::Sqlite => ("SQLite", "sqlite3 DATABASE < FILE"),
    };
    let what = match options.command {
        Command::Upgrade => "upgrade",
        Command::Downgrade => "downgrade",
        Command::Stamp => "stamp",
    };
    format!(
        "-- {tool}: {what} script for {verb}, {n} step(s)\n-- Run it with: {run}\n\n",
        tool = bookkeeping::TOOL_VERSION,
        n = plan.steps.len()
    )
}

fn render_migration(
    out: &mut String,
    m: &Migration,
    action: Action,
    options: &Options,
) -> Result<()> {
    let checksum = m.checksum()?;
    let (verb, body, sql) = match action {
        Action::Revert => (
            "Revert",
            m.down_sql()?,
            bookkeeping::revert_sql(m, &checksum),
        ),
        _ => (
            "Apply",
            m.up_sql()?,
            bookkeeping::apply_sql(m, &checksum, Elapsed::Unknown),
        ),
    };
    let mode = match (m.run_in_transaction(), options.single_transaction) {
        (true, true) => "in the one transaction",
        (true, false) => "transactional",
        (false, _) => "not transactional",
    };
    // Its own BEGIN/COMMIT, unless one transaction encloses them all.
    let own_transaction = m.run_in_transaction() && !options.single_transaction;
    let _ = writeln!(out, "-- {verb} {} {} ({mode})", m.version(), m.name());
    let StepSql {
        before,
        inside,
        diesel_row,
        after,
    } = sql;
    lines(out, &before);
    if own_transaction {
        out.push_str("BEGIN;\n");
    }
    push_terminated(out, body);
    if !m.run_in_transaction() {
        // As in execution: the record and the cleared marker go together, or not at all.
        out.push_str("BEGIN;\n");
    }
    // As in execution: the migration's SETs must not reach the bookkeeping or the next one.
    let reset = bookkeeping::reset_session(options.backend);
    if !reset.is_empty() {
        out.push_str(reset);
        out.push('\n');
    }
    lines(out, &inside);
    lines(out, &[diesel_row]);
    lines(out, &after);
    if own_transaction || !m.run_in_transaction() {
        out.push_str("COMMIT;\n");
    }
    out.push('\n');
    Ok(())
}

fn render_stamp(out: &mut String, set: &MigrationSet, plan: &Plan) -> Result<()> {
    out.push_str("BEGIN;\n");
    for step in &plan.steps {
        let m = step.index.map(|i| &set.migrations()[i]);
        let _ = writeln!(
            out,
            "-- {:?} {} {}",
            step.action,
            step.version,
            m.map_or("", |m| m.name())
        );
        let statements = match (step.action, m) {
            (Action::Record, Some(m)) => bookkeeping::record_sql(m, &m.checksum()?),
            (Action::Rehash, Some(m)) => bookkeeping::record_sql(m, &m.checksum()?).split_off(1),
            _ => bookkeeping::unrecord_sql(&step.version),
        };
        lines(out, &statements);
    }
    out.push_str("COMMIT;\n");
    Ok(())
}

fn lines(out: &mut String, statements: &[String]) {
    for s in statements {
        out.push_str(s);
        out.push('\n');
    }
}

/// `sql` ending with a newline, and with `;` after its last statement, so that what follows
/// in the script is never glued to it.
pub(crate) fn terminated(sql: &str) -> String {
    let mut text = String::with_capacity(sql.len() + 3);
    push_terminated(&mut text, sql);
    text
}

/// Appends [`terminated`]`(sql)` to `out`, without a copy of its own.
fn push_terminated(out: &mut String, sql: &str) {
    out.push_str(sql.trim_end());
    let needs_semicolon = split::split_statements(sql).last().is_some_and(|last| {
        let end = last.as_ptr() as usize - sql.as_ptr() as usize + last.len();
        !sql[end..].trim_start().starts_with(';')
    });
    if needs_semicolon {
        out.push_str("\n;");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::terminated;

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
}
