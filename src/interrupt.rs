//! Stopping a command from outside, such as the binary's SIGINT/SIGTERM handler.
//!
//! [`Interrupt::trigger`] records the request and cancels the statement the working session
//! is running on a PostgreSQL server (`pg_cancel_backend`, from a connection of its own:
//! diesel has no `PQcancel`). The engine checks the request at safe points (in the lock
//! wait, between steps), and a cancelled statement fails its transaction, which rolls back;
//! the command then returns [`Error::Interrupted`](crate::Error::Interrupted), the lock is
//! released on the way out, and the report says what the database holds.

use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::stop::{Signal, Stop};
use crate::url::DatabaseUrl;

/// The server session to cancel: its backend, and the application name it runs under
/// (behind a transaction pooler each transaction may run on another backend).
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) struct Target {
    pub url: DatabaseUrl,
    pub pid: i32,
    /// The application name, when it is haven-migrate's own (unique to this process).
    pub application_name: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    signal: Option<Signal>,
    target: Option<Target>,
}

/// A handle to interrupt a command; clones share one state. The default never fires.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    state: Arc<Mutex<State>>,
}

impl Interrupt {
    /// A handle nobody has triggered yet.
    pub fn new() -> Self {
        Interrupt::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the command to stop, and cancels the statement its session runs on the server
    /// (PostgreSQL). Blocking (it connects to the server): call it from a thread of its own.
    /// Returns whether a server statement was cancelled.
    pub fn trigger(&self, signal: Signal) -> bool {
        let target = {
            let mut state = self.state();
            state.signal.get_or_insert(signal);
            state.target.clone()
        };
        target.is_some_and(|t| cancel(&t))
    }

    /// The signal, once [`Interrupt::trigger`] was called.
    pub fn requested(&self) -> Option<Signal> {
        self.state().signal
    }

    /// `Err(Interrupted)` once triggered: for the engine's safe points.
    pub(crate) fn check(&self, stop: impl FnOnce() -> Stop) -> Result<()> {
        match self.requested() {
            None => Ok(()),
            Some(signal) => Err(Error::Interrupted {
                signal,
                stop: Box::new(stop()),
            }),
        }
    }

    /// Names the session that [`Interrupt::trigger`] cancels, until [`Interrupt::unwatch`].
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn watch(&self, target: Target) {
        self.state().target = Some(target);
    }

    /// Forgets the session: it is closed.
    pub(crate) fn unwatch(&self) {
        self.state().target = None;
    }
}

#[cfg(feature = "postgres")]
fn cancel(target: &Target) -> bool {
    crate::backend::postgres::cancel(target)
}

#[cfg(not(feature = "postgres"))]
fn cancel(_target: &Target) -> bool {
    false
}
