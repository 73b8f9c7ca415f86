//! SIGINT and SIGTERM: what the binary does when a person or a deploy system stops it.
//!
//! - A PostgreSQL write command or `verify` stops cleanly on the first signal: the
//!   library's [`Interrupt`] cancels the running statement on the server, its transaction
//!   rolls back, the lock is released on the way out, and the report (exit 130 or 143)
//!   says what the database holds, read back after the stop.
//! - Everything else exits at once: on SQLite the open transaction rolls back when the
//!   process ends (the journal), and the system releases the lock file; a read-only
//!   command has nothing to undo.
//! - A second signal always exits at once.

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use haven_schema::interrupt::Interrupt;
use haven_schema::stop::Signal;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::output::Output;

/// How the first signal is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Cancel on the server, roll back, unlock, report: the command returns by itself.
    Graceful,
    /// Exit now, saying why that is safe.
    Immediate,
}

/// Held while the handler cancels a statement on the server: the process must not exit in
/// the middle of that (it uses libpq, which exiting tears down under it).
static CANCELLING: Mutex<()> = Mutex::new(());

/// Waits until a cancel under way is done: call it before the process exits.
pub fn settle() {
    drop(CANCELLING.lock().unwrap_or_else(PoisonError::into_inner));
}

/// The steps finished so far ("applied V"), for a report made at once.
static DONE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Notes a finished step, for the report of an immediate exit.
pub fn record_done(step: String) {
    DONE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(step);
}

/// Installs the handler; the returned [`Interrupt`] goes into the command's context.
/// Without a handler (it could not be installed), signals keep their default action.
pub fn install(mode: Mode, out: Output, command: &'static str) -> Interrupt {
    let interrupt = Interrupt::new();
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
        return interrupt;
    };
    let handle = interrupt.clone();
    std::thread::spawn(move || {
        let mut first = true;
        for number in signals.forever() {
            let signal = if number == SIGINT {
                Signal::Interrupt
            } else {
                Signal::Terminate
            };
            if first && mode == Mode::Graceful {
                first = false;
                out.note(&format!(
                    "{}: cancelling the running statement, rolling back and releasing the lock \
                     (send it again to exit at once)",
                    signal.name()
                ));
                let _cancelling = CANCELLING.lock().unwrap_or_else(PoisonError::into_inner);
                handle.trigger(signal);
                continue;
            }
            exit_now(signal, out, command, mode);
        }
    });
    interrupt
}

fn exit_now(signal: Signal, out: Output, command: &'static str, mode: Mode) {
    let done = DONE.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut message = format!("interrupted by {}: exiting at once", signal.name());
    if mode == Mode::Graceful {
        message.push_str(
            " (second signal); the server rolls back the open transaction when it notices, \
             and then releases the lock",
        );
    } else {
        message.push_str(
            "; on SQLite the open transaction rolls back when the process ends, and the system \
             releases the lock file; a non-transactional migration that was running keeps its \
             dirty marker",
        );
    }
    if !done.is_empty() {
        message.push_str(&format!("; done before the signal: {}", done.join(", ")));
    }
    message.push_str("; see `haven-migrate history`");
    out.interrupted(command, &message);
    let _ = std::io::stdout().flush();
    // The tool's own scratch databases go even now: nobody else would ever drop them.
    haven_schema::migrate::remove_scratch_databases();
    exit_without_cleanup(signal.exit_code());
}

/// Ends the process at once, from this thread, while the main thread may be inside libpq
/// or SQLite: `std::process::exit` would run the C exit handlers (OpenSSL's cleanup among
/// them) under it, which can crash the process instead of exiting with `code`. The output
/// is flushed already, and the operating system closes the connections and the lock file.
fn exit_without_cleanup(code: u8) -> ! {
    // signal-hook's bare `_exit`.
    signal_hook::low_level::exit(i32::from(code))
}
