//! Where output is formatted: results on stdout (text or one JSON object), logs, progress
//! and errors on stderr. Passwords never reach here unredacted: every error text passes
//! through the URL's scrubber first, and every message through [`safe`].
//!
//! Writes follow one rule, for every command: a reader that closes the pipe early
//! (`| head`) is not an error, and the rest of the output is dropped silently; any other
//! failed write to stdout (a full disk) is remembered, and the command then exits 1.
//! Nothing here panics on a failed write, as `print!` would.

use std::io::{ErrorKind, IsTerminal, Write};
use std::sync::{Mutex, OnceLock, PoisonError};

use haven_schema::url::{redact_urls, Secrets};

use haven_schema::check::{Problem, ProblemKind};
use haven_schema::execute::{Observer, StepReport};
use haven_schema::plan::{Action, Step};
use haven_schema::source::Migration;
use haven_schema::{Error, Result};

use super::args::Format;
use super::report::{ErrorInfo, MigrationRow, Report};

/// Whether the final output (a report, or the one of an immediate exit on a signal) was
/// printed: there is only ever one, so that JSON stays one object.
static FINISHED: Mutex<bool> = Mutex::new(false);

/// Runs `print` unless a final output was printed already.
fn finish_once(print: impl FnOnce()) {
    let mut finished = FINISHED.lock().unwrap_or_else(PoisonError::into_inner);
    if !*finished {
        print();
        *finished = true;
    }
}

/// The secrets of the command line and the environment, scrubbed from every message.
static SECRETS: OnceLock<Secrets> = OnceLock::new();

/// The first failed write to stdout, other than to a closed pipe.
static STDOUT_FAILURE: OnceLock<String> = OnceLock::new();

/// Sets the secrets that [`safe`] scrubs (once, before anything is printed).
pub fn keep_secret(secrets: Secrets) {
    let _ = SECRETS.set(secrets);
}

/// `text` without any known secret, and without the password of any URL in it.
pub fn safe(text: &str) -> String {
    match SECRETS.get() {
        Some(secrets) => secrets.scrub(text),
        None => redact_urls(text),
    }
}

/// Writes `bytes` to stdout under the write rule (see the module docs).
pub fn to_stdout(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
    note_write(written);
}

/// Records a failed write to stdout, unless the reader went away.
pub fn note_write(result: std::io::Result<()>) {
    if let Err(e) = result {
        if e.kind() != ErrorKind::BrokenPipe {
            let _ = STDOUT_FAILURE.set(e.to_string());
        }
    }
}

/// Why a write to stdout failed, if one did.
pub fn stdout_failure() -> Option<&'static str> {
    STDOUT_FAILURE.get().map(String::as_str)
}

/// One line on stderr, scrubbed. A stderr that cannot be written to is ignored: there is
/// nowhere left to say so.
pub fn to_stderr(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", safe(line));
}

/// How to print, decided once from the global flags.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
    pub quiet: bool,
    pub verbose: bool,
}

impl Output {
    /// A note on stderr (suppressed by -q).
    pub fn note(&self, message: &str) {
        if !self.quiet {
            to_stderr(message);
        }
    }

    /// A debug log on stderr (only with -v).
    pub fn debug(&self, message: &str) {
        if self.verbose {
            to_stderr(&format!("debug: {message}"));
        }
    }

    /// The observer of a write command: lock waits, then one line per step.
    pub fn progress(&self) -> StepPrinter {
        StepPrinter {
            out: *self,
            bar: None,
            waiting: false,
        }
    }

    /// Prints the result of a command.
    pub fn report(&self, report: &Report) {
        if report.printed {
            return;
        }
        finish_once(|| self.print_report(report));
    }

    fn print_report(&self, report: &Report) {
        match self.format {
            // Not println!: it panics when stdout is a closed pipe (`| head`).
            Format::Json => {
                let json = serde_json::to_string_pretty(report).unwrap_or_default();
                to_stdout(format!("{json}\n").as_bytes());
            }
            Format::Text if !self.quiet => to_stdout(render_text(report, self.verbose).as_bytes()),
            Format::Text => {}
        }
    }

    /// Writes a `--sql` script to stdout as `write` renders it. A reader that goes away
    /// early (`| head`) is not an error, as for every other output; a full disk is.
    pub fn script(&self, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
        match write(&mut std::io::stdout().lock()) {
            Err(Error::Io { source, .. }) if source.kind() == ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }

    /// Prints an error: the message on stderr, and in JSON mode the object on stdout.
    pub fn error(&self, report: &Report, message: &str) {
        finish_once(|| {
            to_stderr(&format!("error: {message}"));
            if self.format == Format::Json {
                self.print_report(report);
            }
        });
    }

    /// The final output of a command interrupted at once by a signal.
    pub fn interrupted(&self, command: &'static str, message: &str) {
        let report = Report {
            ok: false,
            error: Some(ErrorInfo {
                kind: "interrupted".into(),
                message: message.to_owned(),
            }),
            ..Report::new(command)
        };
        self.error(&report, message);
    }
}

/// Prints one line per migration as it finishes, with a progress bar on a terminal.
pub struct StepPrinter {
    out: Output,
    bar: Option<indicatif::ProgressBar>,
    /// A wait was announced already: behind a transaction pooler, every step may wait.
    waiting: bool,
}

impl StepPrinter {
    fn line(&self, text: &str) {
        match (&self.bar, self.out.format) {
            // The bar is on stderr; the lines stay on stdout, printed while it is hidden.
            (Some(bar), _) => bar.suspend(|| to_stdout(format!("{text}\n").as_bytes())),
            (None, Format::Json) => to_stderr(text),
            (None, Format::Text) => to_stdout(format!("{text}\n").as_bytes()),
        }
    }
}

impl Observer for StepPrinter {
    fn waiting_for_lock(&mut self, holder: &str) {
        if !self.out.quiet && !std::mem::replace(&mut self.waiting, true) {
            to_stderr(&format!(
                "waiting for the migration lock held by {holder}..."
            ));
        }
    }

    fn step_started(&mut self, step: &Step, m: Option<&Migration>, index: usize, total: usize) {
        // Only for a person watching: both streams on a terminal, and more than a handful.
        let show_bar = index == 0
            && total > 5
            && !self.out.quiet
            && self.out.format == Format::Text
            && std::io::stdout().is_terminal()
            && std::io::stderr().is_terminal();
        if show_bar {
            let bar = indicatif::ProgressBar::new(total as u64);
            // no-color.org: NO_COLOR disables colour when set to anything but "".
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            let template = if no_color {
                "{pos}/{len} [{bar:30}] {elapsed} {msg}"
            } else {
                "{pos}/{len} [{bar:30.cyan/blue}] {elapsed} {msg}"
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            let name = m.map_or("", |m| m.name());
            bar.set_message(format!("{} {name}", step.version));
        }
    }

    fn step_finished(&mut self, report: &StepReport) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        if !report.skipped {
            super::signals::record_done(format!("{} {}", verb(report.action), report.version));
        }
        if !self.out.quiet {
            self.line(&step_line(report));
        }
    }
}

impl Drop for StepPrinter {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn verb(action: Action) -> &'static str {
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

fn step_line(r: &StepReport) -> String {
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

fn render_text(r: &Report, verbose: bool) -> String {
    let mut out = String::new();
    match r.command {
        "current" => current_text(&mut out, r, verbose),
        "history" => history_text(&mut out, r, verbose),
        "check" => check_text(&mut out, r),
        "verify" => verify_text(&mut out, r),
        "revision" => {
            for path in r.created.iter().flatten() {
                out.push_str(&format!("created {path}\n"));
            }
        }
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
        3 => format!("pending: {}\n", position_text(r)),
        _ => format!("integrity problems found; {}\n", position_text(r)),
    };
    out.push_str(&line);
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
