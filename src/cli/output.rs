//! Where output goes: results on stdout (text or one JSON object), logs, progress and
//! errors on stderr. Every message passes through [`safe`], which scrubs the secrets of the
//! command line and of `DATABASE_URL` (the library's own messages carry none).
//!
//! Writes follow one rule, for every command: a reader that closes the pipe early
//! (`| head`) is not an error, and the rest of the output is dropped silently; any other
//! failed write to stdout (a full disk) is remembered, and the command then exits 1.
//! Nothing here panics on a failed write, as `print!` would.

use std::io::{ErrorKind, Write};
use std::sync::{Mutex, OnceLock, PoisonError};

use haven_schema::url::{redact_urls, Secrets};

use super::args::Format;
use super::render::render_text;
use super::report::{ErrorInfo, Report};

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

/// Stdout for a `--sql` script, written as it is rendered: a reader that goes away early
/// (`| head`) is not an error, and the rest is dropped; any other failed write (a full
/// disk) is one, which the command reports.
pub struct ScriptOut {
    closed: bool,
}

impl ScriptOut {
    pub fn new() -> Self {
        ScriptOut { closed: false }
    }
}

impl Write for ScriptOut {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(bytes.len());
        }
        match std::io::stdout().lock().write_all(bytes) {
            Err(e) if e.kind() == ErrorKind::BrokenPipe => self.closed = true,
            other => other?,
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match std::io::stdout().lock().flush() {
            Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
            Err(_) if self.closed => Ok(()),
            other => other,
        }
    }
}
