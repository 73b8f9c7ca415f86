//! Progress of a write command, as it runs: a notice while waiting for the lock, one line
//! per finished step, and a progress bar for a person watching a long run.

use std::io::IsTerminal;

use haven_schema::execute::{Observer, StepReport};
use haven_schema::plan::Step;

use super::args::Format;
use super::output::{to_stderr, to_stdout, Output};
use super::render::{step_line, verb};

/// Prints one line per migration as it finishes, with a progress bar on a terminal.
pub struct StepPrinter {
    out: Output,
    bar: Option<indicatif::ProgressBar>,
    /// A wait was announced already: behind a transaction pooler, every step may wait.
    waiting: bool,
}

impl StepPrinter {
    /// The observer of a write command printing to `out`: lock waits, then one line per step.
    pub fn new(out: Output) -> StepPrinter {
        StepPrinter {
            out,
            bar: None,
            waiting: false,
        }
    }

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

    fn step_started(&mut self, step: &Step<'_>, index: usize, total: usize) {
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
            bar.set_message(format!("{} {}", step.version(), step.name()));
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
