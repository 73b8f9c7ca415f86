//! The `--sql` output: a plan rendered as a script that `psql -v ON_ERROR_STOP=1 -f` or
//! `sqlite3 db <` runs, leaving the same schema and bookkeeping rows as executing the plan.
//!
//! It prints the same bookkeeping statements that execution runs (`bookkeeping`), in the same
//! order, with diesel's own row spelled out.

use std::fmt::Write as _;
use std::io;

use super::Command;
use crate::bookkeeping::{self, Elapsed, StepSql};
use crate::error::{Error, Result};
use crate::plan::{Plan, Step};
use crate::source::Migration;
use crate::sql::split::push_with_terminator;
use crate::state::SideLayout;
use crate::url::Backend;

/// How a script is rendered.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The dialect.
    pub backend: Backend,
    /// What the script is for: upgrade, downgrade or stamp.
    pub command: Command,
    /// Every migration in one transaction (`upgrade --single-transaction`), as it will run.
    pub single_transaction: bool,
    /// The side table the script will find (online scripts read it; offline ones assume
    /// this version's): an older SQLite one needs its new column added.
    pub side_layout: SideLayout,
}

/// Writes the script of `plan` for `backend` to `out` as it is rendered, a few dozen
/// kilobytes at a time, so that a script of thousands of migrations is never held whole.
/// Every file it needs is read before the first byte is written: a missing or unreadable
/// one leaves `out` untouched. `out` is flushed at the end.
pub fn write(plan: &Plan<'_>, options: &Options, out: &mut dyn io::Write) -> Result<()> {
    emit(plan, options, &mut |chunk| out.write_all(chunk.as_bytes()))?;
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
    plan: &Plan<'_>,
    options: &Options,
    sink: &mut dyn FnMut(&str) -> io::Result<()>,
) -> Result<()> {
    // The same refusals as a real run: a script must never do what the command would not.
    plan.check_sql()?;
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
        render_stamp(&mut chunk, plan);
        return flush(&mut chunk);
    }
    if options.single_transaction {
        chunk.push_str("-- Every migration in one transaction (--single-transaction)\nBEGIN;\n\n");
    }
    for step in &plan.steps {
        let (Step::Apply(m) | Step::Revert(m)) = *step else {
            continue;
        };
        render_migration(&mut chunk, m, matches!(step, Step::Apply(_)), options)?;
        if chunk.len() >= CHUNK {
            flush(&mut chunk)?;
        }
    }
    if options.single_transaction {
        chunk.push_str("COMMIT;\n");
    }
    flush(&mut chunk)
}

fn header(options: &Options, plan: &Plan) -> String {
    let (dialect, run) = match options.backend {
        Backend::Postgres => ("PostgreSQL", "psql -v ON_ERROR_STOP=1 -f FILE"),
        Backend::Sqlite => ("SQLite", "sqlite3 DATABASE < FILE"),
    };
    let what = options.command.name();
    format!(
        "-- {tool}: {what} script for {dialect}, {n} step(s)\n-- Run it with: {run}\n\n",
        tool = bookkeeping::TOOL_VERSION,
        n = plan.steps.len()
    )
}

fn render_migration(out: &mut String, m: &Migration, apply: bool, options: &Options) -> Result<()> {
    let (verb, body) = if apply {
        ("Apply", m.up_sql())
    } else {
        ("Revert", m.down_sql()?)
    };
    let mode = match (m.run_in_transaction(), options.single_transaction) {
        (true, true) => "in the one transaction",
        (true, false) => "transactional",
        (false, _) => "not transactional",
    };
    let _ = writeln!(out, "-- {verb} {} {} ({mode})", m.version(), m.name());
    let sql = StepSql::new(m, apply);
    if let Some(marker) = sql.marker() {
        lines(out, &[marker]);
    }
    // Its own BEGIN/COMMIT, unless one transaction encloses them all. A non-transactional
    // migration's body runs outside; its record and cleared marker go in one of their own,
    // as in execution.
    let own_transaction = m.run_in_transaction() && !options.single_transaction;
    if own_transaction {
        out.push_str("BEGIN;\n");
    }
    push_with_terminator(out, body, m.lacks_terminator(apply));
    if !m.run_in_transaction() {
        out.push_str("BEGIN;\n");
    }
    // As in execution: the migration's SETs must not reach the bookkeeping or the next one.
    let reset = bookkeeping::reset_session(options.backend);
    if !reset.is_empty() {
        lines(out, &[reset.to_owned()]);
    }
    lines(out, &[sql.end(Elapsed::Unknown)]);
    if own_transaction || !m.run_in_transaction() {
        out.push_str("COMMIT;\n");
    }
    out.push('\n');
    Ok(())
}

fn render_stamp(out: &mut String, plan: &Plan<'_>) {
    out.push_str("BEGIN;\n");
    for step in &plan.steps {
        let _ = writeln!(
            out,
            "-- {:?} {} {}",
            step.action(),
            step.version(),
            step.name()
        );
        lines(out, &[bookkeeping::stamp_sql(step)]);
    }
    out.push_str("COMMIT;\n");
}

fn lines(out: &mut String, statements: &[String]) {
    for s in statements {
        out.push_str(s);
        out.push('\n');
    }
}
