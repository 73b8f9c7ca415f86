//! Integrity problems as data: what kind, which version, and a message that says what to do
//! next. Found by `integrity`, carried by errors and reports.

/// What kind of problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// An applied migration's `up.sql` changed since it was applied.
    Edited,
    /// The database records a version that no migration has.
    Missing,
    /// A pending migration is older than the newest applied one.
    OutOfOrder,
    /// A non-transactional migration was interrupted.
    Dirty,
    /// `verify` found a `down.sql` that does not restore the state before `up.sql`.
    VerifyFailed,
    /// The SQL that would run next (a pending `up.sql`, an applied migration's `down.sql`)
    /// holds a statement that haven-migrate refuses (see `migrations::forbidden`).
    ForbiddenSql,
    /// A `metadata.toml` without `run_in_transaction` (warning).
    NoTransactionFlag,
    /// Applied by another tool, so no checksum is recorded yet (warning).
    Unverified,
}

impl ProblemKind {
    /// Whether this kind blocks commands (exit 4) rather than only warning.
    pub fn is_error(self) -> bool {
        !matches!(
            self,
            ProblemKind::NoTransactionFlag | ProblemKind::Unverified
        )
    }
}

/// One problem, naming the version and the next step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The version concerned.
    pub version: String,
    /// A message that says what to do next.
    pub message: String,
}
