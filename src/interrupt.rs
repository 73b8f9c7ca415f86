//! Stopping a command from outside, such as the binary's SIGINT/SIGTERM handler.
//!
//! [`Interrupt::trigger`] records the request and runs the canceller that the working
//! session registered: on PostgreSQL it cancels the statement the session is running
//! (`pg_cancel_backend`, from a connection of its own: diesel has no `PQcancel`). The
//! engine checks the request at safe points (in the lock wait, between steps), and a
//! cancelled statement fails its transaction, which rolls back; the command then returns
//! [`Error::Interrupted`], the lock is released on the way
//! out, and the report says what the database holds.

use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::stop::{Signal, Stop};

/// Cancels what the watched session runs on its server; says whether it cancelled one.
pub(crate) type Canceller = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Default)]
struct State {
    signal: Option<Signal>,
    canceller: Option<Canceller>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("signal", &self.signal)
            .field("watching", &self.canceller.is_some())
            .finish()
    }
}

/// A handle to interrupt a command; clones share one state. The default never fires.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    state: Arc<Mutex<State>>,
    // A child's request is its parent's too: see `Interrupt::child`.
    parent: Option<Arc<Mutex<State>>>,
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
        let canceller = {
            let mut state = self.state();
            state.signal.get_or_insert(signal);
            state.canceller.clone()
        };
        canceller.is_some_and(|cancel| cancel())
    }

    /// The signal, once [`Interrupt::trigger`] was called (on this handle or its parent).
    pub fn requested(&self) -> Option<Signal> {
        let parent =
            |p: &Arc<Mutex<State>>| p.lock().unwrap_or_else(PoisonError::into_inner).signal;
        self.state()
            .signal
            .or_else(|| self.parent.as_ref().and_then(parent))
    }

    /// A handle that sees this one's request, with a canceller of its own: for a second
    /// session of the same command (the SQLite scratch replay of autogenerate), which must
    /// stop at its next safe point without replacing, or on closing clearing, the canceller
    /// of the first.
    #[cfg_attr(not(feature = "autogen"), allow(dead_code))]
    pub(crate) fn child(&self) -> Interrupt {
        Interrupt {
            state: Arc::default(),
            parent: Some(self.state.clone()),
        }
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

    /// What [`Interrupt::trigger`] runs, until [`Interrupt::unwatch`]: the working
    /// session's way to cancel its statement.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn watch(&self, canceller: Canceller) {
        self.state().canceller = Some(canceller);
    }

    /// Forgets the session: it is closed.
    pub(crate) fn unwatch(&self) {
        self.state().canceller = None;
    }
}
