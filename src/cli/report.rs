//! What an invocation reports, as data: the JSON object (README, "JSON output"), built from
//! the library's [`Outcome`] or [`Error`], and the input of the text rendering.

use haven_schema::autogen::diff::Difference;
use haven_schema::check::{Problem, ProblemKind};
use haven_schema::execute::StepReport;
use haven_schema::migrate::verify::VerifyReport;
use haven_schema::migrate::{
    Command, Generated, MigrationRow, Outcome, PlannedStep, ProofFailure, SchemaCheck, Status, Work,
};
use haven_schema::{Error, ErrorClass, Stop};

/// The error part of the JSON object.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErrorInfo {
    pub kind: String,
    pub message: String,
}

/// Everything one invocation reports.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub command: &'static str,
    pub ok: bool,
    pub error: Option<ErrorInfo>,
    pub current: Option<String>,
    pub head: Option<String>,
    pub at_head: Option<bool>,
    /// The name of `current`, when a migration has that version.
    pub current_name: Option<String>,
    /// The name of `head`.
    pub head_name: Option<String>,
    pub pending: Option<usize>,
    pub migrations: Vec<MigrationRow>,
    pub problems: Vec<Problem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepReport>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Vec<PlannedStep>>,
    /// The plan runs in one transaction (`--dry-run --single-transaction`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub single_transaction: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyReport>,
    /// `check --schema`: the schema.rs compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_file: Option<String>,
    /// `check --schema`: every difference between schema.rs and the migrations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_diff: Option<Vec<Difference>>,
    /// `check --schema`: the tables schema.rs declares.
    #[serde(skip)]
    pub schema_tables: usize,
    /// `revision --autogenerate`: what the migration changes, one line each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<String>>,
    /// `revision --autogenerate`: the proof step that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof_failure: Option<ProofFailure>,
    /// Where a failed or interrupted write command stopped, read back from the database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<f64>,
    /// Time waited for the migration lock (write commands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_wait_ms: Option<f64>,
    /// How the migration lock was held: `session`, `transaction` (taken in each
    /// transaction, behind a transaction pooler), or `file` (SQLite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<&'static str>,
    /// The command, typed, for the text rendering (`None`: usage errors, completions).
    #[serde(skip)]
    pub kind: Option<Command>,
    /// The process exit code.
    #[serde(skip)]
    pub exit: u8,
    /// The command wrote its own output (completions, a `--sql` script): print no report.
    #[serde(skip)]
    pub printed: bool,
}

impl Report {
    /// An empty, successful report of `command`.
    pub fn new(command: &'static str) -> Self {
        Report {
            command,
            ok: true,
            ..Report::default()
        }
    }

    /// The report of a command that ran (`total_ms`: its wall time).
    pub fn of_outcome(outcome: Outcome, total_ms: f64) -> Self {
        let exit = outcome.exit();
        let mut report = Report {
            kind: Some(outcome.command),
            ok: exit.code() == 0,
            exit: exit.code(),
            ..Report::new(outcome.command.name())
        };
        if let Some(status) = outcome.status {
            report.add_status(status);
        }
        report.add_work(outcome.work, total_ms);
        report
    }

    /// The report of a command that failed; `message` is the error's, scrubbed.
    pub fn of_error(command: Option<Command>, err: &Error, message: String) -> Self {
        Report {
            ok: false,
            error: Some(ErrorInfo {
                kind: err.kind().to_owned(),
                message,
            }),
            exit: exit_code(err.class()),
            problems: match err {
                Error::Integrity { problems } => problems.clone(),
                _ => Vec::new(),
            },
            stop: match err {
                Error::MigrationFailed { stop, .. } | Error::Interrupted { stop, .. } => {
                    Some((**stop).clone())
                }
                _ => None,
            },
            kind: command,
            ..Report::new(command.map_or("usage", Command::name))
        }
    }

    fn add_status(&mut self, status: Status) {
        self.current = status.current;
        self.current_name = status.current_name;
        self.head = status.head;
        self.head_name = status.head_name;
        self.at_head = Some(status.at_head);
        self.pending = Some(status.pending);
        self.migrations = status.migrations;
        self.problems = status.problems;
        self.source = Some(status.source);
    }

    fn add_work(&mut self, work: Work, total_ms: f64) {
        match work {
            Work::Nothing => {}
            Work::Written {
                steps,
                lock_wait,
                lock,
                backup: _,
            } => {
                self.steps = Some(steps);
                self.total_ms = Some(total_ms);
                self.lock_wait_ms = Some(lock_wait.as_secs_f64() * 1000.0);
                self.lock = Some(lock);
            }
            Work::Planned {
                steps,
                single_transaction,
            } => {
                self.plan = Some(steps);
                self.single_transaction = single_transaction;
            }
            Work::Script => {}
            Work::Verified(report) => self.add_verify(report),
            Work::Created(paths) => self.add_created(&paths),
            Work::SchemaChecked(check) => self.add_schema_check(check),
            Work::Generated(generated) => self.add_generated(generated),
        }
    }

    fn add_created(&mut self, paths: &[std::path::PathBuf]) {
        self.created = Some(paths.iter().map(|p| p.display().to_string()).collect());
    }

    /// Differences are an error of kind `schema_diff`.
    fn add_schema_check(&mut self, check: SchemaCheck) {
        let file = check.schema_file.display().to_string();
        if !check.differences.is_empty() {
            self.error = Some(ErrorInfo {
                kind: "schema_diff".into(),
                message: format!(
                    "{file} and the schema the migrations produce differ in {} place(s)",
                    check.differences.len()
                ),
            });
        }
        self.schema_tables = check.tables;
        self.schema_file = Some(file);
        self.schema_diff = Some(check.differences);
    }

    /// A failed proof is an error of kind `proof_failed`.
    fn add_generated(&mut self, generated: Generated) {
        if let Some(failure) = &generated.failure {
            self.error = Some(ErrorInfo {
                kind: "proof_failed".into(),
                message: failure.to_string(),
            });
        }
        self.add_created(&generated.created);
        self.changes = Some(generated.changes);
        self.proof_failure = generated.failure;
    }

    /// A `verify` failure is an error of kind `verify_failed`, and a problem of that kind.
    fn add_verify(&mut self, report: VerifyReport) {
        if let Some(failure) = &report.failure {
            let message = failure.to_string();
            self.error = Some(ErrorInfo {
                kind: "verify_failed".into(),
                message: message.clone(),
            });
            self.problems = vec![Problem {
                kind: ProblemKind::VerifyFailed,
                version: failure.version.clone(),
                message,
            }];
        }
        self.verify = Some(report);
    }

    /// The name of a version, for messages.
    pub fn name_of(&self, version: &str) -> String {
        let known = [
            (&self.current, &self.current_name),
            (&self.head, &self.head_name),
        ];
        known
            .into_iter()
            .find(|(v, _)| v.as_deref() == Some(version))
            .and_then(|(_, name)| name.clone())
            .or_else(|| {
                let row = self.migrations.iter().find(|r| r.version == version);
                row.map(|r| r.name.clone())
            })
            .unwrap_or_default()
    }
}

/// The exit code of an error class: the one place that maps errors to codes.
pub fn exit_code(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Operational => 1,
        ErrorClass::BadInput => 2,
        ErrorClass::Integrity => 4,
        ErrorClass::Interrupted(signal) => signal.exit_code(),
    }
}
