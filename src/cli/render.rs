//! Where text output is formatted: the report of each command as people read it. The
//! JSON object is the report itself (`report.rs`).

use haven_schema::check::{Problem, ProblemKind};
use haven_schema::execute::StepReport;
use haven_schema::migrate::{Command, MigrationRow};
use haven_schema::plan::Action;

use super::report::Report;

/// The past tense of an action, as step lines and summaries print it.
pub fn verb(action: Action) -> &'static str {
    match action {
        Action::Apply => "applied",
        Action::Revert => "reverted",
        Action::Record => "recorded",
        Action::Unrecord => "unrecorded",
        Action::Rehash => "rehashed",
    }
}

fn imperative(action: Action) -> &'static str {
    match action {
        Action::Apply => "apply",
        Action::Revert => "revert",
        Action::Record => "record",
        Action::Unrecord => "unrecord",
        Action::Rehash => "rehash",
    }
}

/// The line of a finished step.
pub fn step_line(r: &StepReport) -> String {
    if r.skipped {
        return format!(
            "{:<10} {} {} (done meanwhile by another deploy)",
            "skipped", r.version, r.name
        );
    }
    format!(
        "{:<10} {} {} ({})",
        verb(r.action),
        r.version,
        r.name,
        ms(r.duration.as_secs_f64() * 1000.0)
    )
}

fn ms(millis: f64) -> String {
    if millis >= 1000.0 {
        format!("{:.2} s", millis / 1000.0)
    } else {
        format!("{millis:.1} ms")
    }
}

/// The text of a report: what the command found or did, then its problems.
pub fn render_text(r: &Report, verbose: bool) -> String {
    let mut out = String::new();
    match r.kind {
        Some(Command::Current) => current_text(&mut out, r, verbose),
        Some(Command::History) => history_text(&mut out, r, verbose),
        Some(Command::Check) if r.schema_diff.is_some() => schema_diff_text(&mut out, r),
        Some(Command::Check) => check_text(&mut out, r),
        Some(Command::Verify) => verify_text(&mut out, r),
        Some(Command::Revision) => revision_text(&mut out, r),
        _ if r.plan.is_some() => plan_text(&mut out, r),
        _ => summary_text(&mut out, r),
    }
    problems_text(&mut out, r);
    out
}

fn label(r: &Report, version: Option<&str>) -> String {
    match version {
        Some(v) => {
            let name = r.name_of(v);
            if name.is_empty() {
                format!("{v} (unknown to the migrations)")
            } else {
                format!("{v} ({name})")
            }
        }
        None => "base (nothing applied)".to_owned(),
    }
}

fn position_text(r: &Report) -> String {
    let here = label(r, r.current.as_deref());
    match (r.at_head, r.pending) {
        (Some(true), _) if r.head.is_some() => format!("{here} (head)"),
        (Some(true), _) => format!("{here}; there are no migrations"),
        (_, Some(0)) => format!(
            "{here}; no migration is pending, but this is not head {}",
            label(r, r.head.as_deref())
        ),
        (_, Some(n)) => format!(
            "{here}; not up to date: {n} pending, head is {}; run `haven-migrate upgrade head`",
            label(r, r.head.as_deref())
        ),
        _ => here,
    }
}

fn current_text(out: &mut String, r: &Report, verbose: bool) {
    out.push_str(&position_text(r));
    out.push('\n');
    if verbose {
        let run_on = r
            .current
            .as_ref()
            .and_then(|v| r.migrations.iter().find(|m| &m.version == v))
            .and_then(|m| m.run_on.clone());
        out.push_str(&format!(
            "  run on:     {}\n",
            run_on.unwrap_or_else(|| "-".into())
        ));
        out.push_str(&format!("  pending:    {}\n", r.pending.unwrap_or(0)));
        out.push_str(&format!(
            "  migrations: {}\n",
            r.source.clone().unwrap_or_default()
        ));
    }
}

fn state_word(m: &MigrationRow) -> &'static str {
    match (m.known, m.applied, m.dirty) {
        (_, _, true) => "DIRTY",
        (false, true, _) => "MISSING",
        (false, false, _) => "leftover",
        (true, true, _) => "applied",
        (true, false, _) => "pending",
    }
}

fn history_text(out: &mut String, r: &Report, verbose: bool) {
    if verbose {
        out.push_str(&format!(
            "migrations: {}\n",
            r.source.clone().unwrap_or_default()
        ));
    }
    for m in &r.migrations {
        let mut marks = Vec::new();
        if r.head.as_deref() == Some(m.version.as_str()) {
            marks.push("head");
        }
        if r.current.as_deref() == Some(m.version.as_str()) {
            marks.push("current");
        }
        if m.checksum_ok == Some(false) {
            marks.push("EDITED");
        }
        let name = if m.known {
            m.name.as_str()
        } else {
            "(not in the migrations)"
        };
        let run_on = m.run_on.as_deref().unwrap_or("-");
        let marks = if marks.is_empty() {
            String::new()
        } else {
            format!(" ({})", marks.join(", "))
        };
        out.push_str(&format!(
            "{:<18} {:<8} {:<19} {name}{marks}\n",
            m.version,
            state_word(m),
            run_on
        ));
        if verbose && m.known {
            out.push_str(&format!(
                "{:<18} path: {}; {}; down.sql: {}; checksum: {}\n",
                "",
                m.path.as_deref().unwrap_or("(embedded)"),
                if m.transactional == Some(false) {
                    "not transactional"
                } else {
                    "transactional"
                },
                if m.has_down == Some(true) {
                    "yes"
                } else {
                    "NO"
                },
                match m.checksum_ok {
                    Some(true) => "ok",
                    Some(false) => "DIFFERS",
                    None => "-",
                },
            ));
        }
    }
    if r.migrations.is_empty() {
        out.push_str("no migrations to show\n");
    }
}

fn check_text(out: &mut String, r: &Report) {
    let line = match r.exit {
        0 => format!("ok: {}\n", position_text(r)),
        2 => format!("refused statements found; {}\n", position_text(r)),
        3 => format!("pending: {}\n", position_text(r)),
        _ => format!("integrity problems found; {}\n", position_text(r)),
    };
    out.push_str(&line);
}

fn schema_diff_text(out: &mut String, r: &Report) {
    let file = r.schema_file.as_deref().unwrap_or("schema.rs");
    let differences = r.schema_diff.as_deref().unwrap_or_default();
    if differences.is_empty() {
        out.push_str(&format!(
            "ok: schema.rs agrees with the migrations ({file}, {} tables)\n",
            r.schema_tables
        ));
        return;
    }
    for d in differences {
        out.push_str(&format!("{d}\n"));
    }
    out.push_str(&format!(
        "{file} and the migrations differ in {} place(s): to change the database, run \
         `haven-migrate revision -m MESSAGE --autogenerate`; to follow the migrations, \
         regenerate schema.rs with `diesel print-schema` (scripts/regenerate-schema.sh)\n",
        differences.len()
    ));
}

fn revision_text(out: &mut String, r: &Report) {
    let changes = r.changes.as_deref();
    if changes.is_some_and(|c| c.is_empty()) {
        out.push_str("no changes: schema.rs agrees with the migrations; nothing written\n");
        return;
    }
    if let Some(failure) = &r.proof_failure {
        out.push_str(&format!(
            "FAILED: the generated migration, at {} on {}; nothing was written\n",
            failure.step, failure.dialect
        ));
        for d in &failure.details {
            out.push_str(&format!("  {d}\n"));
        }
        out.push_str(
            "write this migration by hand (haven-migrate revision -m MESSAGE), or change \
             schema.rs so that the change can be made as generated\n",
        );
        return;
    }
    for path in r.created.iter().flatten() {
        out.push_str(&format!("created {path}\n"));
    }
    let Some(changes) = changes else { return };
    for change in changes {
        out.push_str(&format!("  {change}\n"));
    }
    out.push_str(
        "proved in scratch databases: up.sql, schema.rs matched, down.sql restored the \
         catalog, up.sql again. Review up.sql: its first lines list what schema.rs cannot \
         say (defaults, CHECK constraints, indexes, enum values)\n",
    );
}

fn verify_text(out: &mut String, r: &Report) {
    let Some(v) = &r.verify else { return };
    match &v.failure {
        None => out.push_str(&format!(
            "ok: {} migration(s) round-trip cleanly (up, down, up) in a scratch database\n",
            v.checked.len()
        )),
        Some(f) => {
            out.push_str(&format!(
                "FAILED: migration {} ({}): {}\n",
                f.version, f.name, f.phase
            ));
            for d in &f.differences {
                out.push_str(&format!("  {d}\n"));
            }
        }
    }
}

fn plan_text(out: &mut String, r: &Report) {
    let plan = r.plan.as_deref().unwrap_or_default();
    if plan.is_empty() {
        out.push_str(&format!("nothing to do: {}\n", position_text(r)));
        return;
    }
    let together = if r.single_transaction {
        ", all in one transaction (--single-transaction)"
    } else {
        ""
    };
    out.push_str(&format!(
        "plan ({} step(s){together}, nothing is written):\n",
        plan.len()
    ));
    for (i, p) in plan.iter().enumerate() {
        let mode = match (p.transactional, r.single_transaction) {
            (true, true) => "in the one transaction",
            (true, false) => "in its own transaction",
            (false, _) => "NOT transactional, statement by statement",
        };
        out.push_str(&format!(
            "  {}. {} {} {} ({mode})\n",
            i + 1,
            imperative(p.action),
            p.version,
            p.name
        ));
    }
}

fn summary_text(out: &mut String, r: &Report) {
    let steps = r.steps.as_deref().unwrap_or_default();
    let done: Vec<&StepReport> = steps.iter().filter(|s| !s.skipped).collect();
    let millis = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let waited = r.lock_wait_ms.unwrap_or(0.0);
    let wait_text = if waited >= 1.0 {
        format!("waited {} for the lock; ", ms(waited))
    } else {
        String::new()
    };
    if done.is_empty() {
        out.push_str(&format!("{wait_text}nothing to do: {}\n", position_text(r)));
        return;
    }
    let total = r.total_ms.unwrap_or(0.0);
    // A step is the database's work: its SQL and the bookkeeping round trips around it,
    // but not a wait for the lock inside it (behind a transaction pooler). Everything else
    // (connections, reading the state, planning) is the tool's.
    let in_database: f64 = steps
        .iter()
        .map(|s| millis(s.duration) - millis(s.lock_wait))
        .sum();
    let sql: f64 = done.iter().map(|s| millis(s.sql_time)).sum();
    out.push_str(&format!(
        "{} {} migration(s) in {}: {wait_text}{} in the database ({} running migration SQL), {} \
         tool overhead; now at {}\n",
        verb(done[0].action),
        done.len(),
        ms(total),
        ms(in_database),
        ms(sql),
        ms((total - in_database - waited).max(0.0)),
        position_text(r)
    ));
}

fn problems_text(out: &mut String, r: &Report) {
    // verify's own failure is printed in full above.
    let shown = |p: &&Problem| !(r.verify.is_some() && p.kind == ProblemKind::VerifyFailed);
    for p in r.problems.iter().filter(shown) {
        let level = if p.kind.is_error() {
            "problem"
        } else {
            "warning"
        };
        out.push_str(&format!("{level}: {}\n", p.message));
    }
}
