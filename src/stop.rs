//! Where a write command stopped: the signal that stopped it, the step that was running
//! and what it left (read back from the database after the stop, never assumed), what was
//! done before and what never started. Plain data, for errors and reports.

/// The signals that interrupt a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (`kill`, a deploy system stopping the job).
    Terminate,
}

impl Signal {
    /// The conventional name, `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// The exit code of a process stopped by it: 128 + the signal's number.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// What became of the step that was running when a command stopped, as read back from
/// the database after the stop (never assumed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// The database is as before the step: its transaction rolled back.
    RolledBack,
    /// The step's change is recorded, as if it had finished.
    Recorded,
    /// A non-transactional step left its dirty marker: part of it may have run.
    Dirty,
    /// The database could not be read after the stop.
    Unknown,
}

/// The step that was running when a command stopped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Running {
    /// Its version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// `applying` or `reverting`.
    pub action: &'static str,
    /// Whether it ran in a transaction.
    pub transactional: bool,
    /// What it left, read back.
    pub fate: Fate,
}

/// Where a write command stopped (a failed migration, a signal): what it had done, what
/// it was doing, and what it never started. Read back from the database after the stop.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stop {
    /// Versions committed before the stop.
    pub done: Vec<String>,
    /// The step that was running.
    pub running: Option<Running>,
    /// Earlier steps of the same transaction (`--single-transaction`), rolled back with it.
    pub rolled_back: Vec<String>,
    /// Versions of the plan that never started.
    pub not_run: Vec<String>,
}

impl Running {
    /// Whether the step was applying its migration (rather than reverting it).
    pub fn applying(&self) -> bool {
        self.action == "applying"
    }
}

impl Stop {
    /// What the running step left, in words, with `subject` naming it.
    pub(crate) fn fate_text(&self, subject: &str) -> Option<String> {
        let r = self.running.as_ref()?;
        Some(match r.fate {
            Fate::RolledBack => format!("{subject} was rolled back: nothing of it was kept"),
            Fate::Recorded => format!(
                "{subject} is recorded as if it had finished: check the database against it"
            ),
            Fate::Dirty => format!(
                "{subject} is not transactional: what ran of it before the stop was kept, and it \
                 is marked dirty (interrupted); inspect the database, finish or undo it by hand, \
                 then record the truth with `haven-migrate stamp`"
            ),
            Fate::Unknown => {
                format!("what {subject} left could not be read back: see `haven-migrate history`")
            }
        })
    }

    /// The whole stop in words: done, running (named `subject`), rolled back, not run.
    pub(crate) fn text(&self, subject: &str) -> String {
        let mut parts: Vec<String> = self.fate_text(subject).into_iter().collect();
        if !self.done.is_empty() {
            parts.push(format!("done before the stop: {}", versions(&self.done)));
        }
        if !self.rolled_back.is_empty() {
            parts.push(format!(
                "the whole batch was rolled back with it (--single-transaction): {} not kept \
                 either",
                versions(&self.rolled_back)
            ));
        }
        if !self.not_run.is_empty() {
            parts.push(format!("not run: {}", versions(&self.not_run)));
        }
        parts.join("; ")
    }
}

/// Up to this many versions are listed whole in a message.
const LISTED_WHOLE_UP_TO: usize = 10;

/// A list of versions for a message: whole when short; else how many, the first and the
/// last, so that a failure early in 2000 migrations is one readable line (the JSON report's
/// `stop` keeps every version).
fn versions(list: &[String]) -> String {
    match list {
        [first, .., last] if list.len() > LISTED_WHOLE_UP_TO => {
            format!("{} migrations, {first} to {last}", list.len())
        }
        _ => list.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("2026010100{i:04}")).collect()
    }

    #[test]
    fn long_lists_of_versions_are_summed_up_and_short_ones_listed() {
        let stop = Stop {
            done: numbered(10),
            not_run: numbered(2000),
            ..Stop::default()
        };
        let text = stop.text("migration x");
        assert_eq!(
            text,
            "done before the stop: 20260101000001, 20260101000002, 20260101000003, \
             20260101000004, 20260101000005, 20260101000006, 20260101000007, 20260101000008, \
             20260101000009, 20260101000010; not run: 2000 migrations, 20260101000001 to \
             20260101002000"
        );
    }
}
