//! What a command found or did, as data: the JSON object, and the input of the text output.

use haven_schema::check::{Problem, ProblemKind};
use haven_schema::execute::StepReport;
use haven_schema::plan::Plan;
use haven_schema::source::MigrationSet;
use haven_schema::state::DbState;
use haven_schema::verify::VerifyReport;

/// One migration as `history`, `current` and the JSON output show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationRow {
    pub version: String,
    pub name: String,
    pub applied: bool,
    pub run_on: Option<String>,
    /// true: matches; false: edited; null: not applied, not recorded, or not checked.
    pub checksum_ok: Option<bool>,
    pub dirty: bool,
    /// false for a version the database records but no migration has.
    pub known: bool,
    pub transactional: Option<bool>,
    pub has_down: Option<bool>,
    pub path: Option<String>,
}

/// A planned step, for `--dry-run`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanRow {
    pub action: haven_schema::plan::Action,
    pub version: String,
    pub name: String,
    pub transactional: bool,
}

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
    pub plan: Option<Vec<PlanRow>>,
    /// The plan runs in one transaction (`--dry-run --single-transaction`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub single_transaction: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyReport>,
    /// Where a failed or interrupted write command stopped, read back from the database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<haven_schema::Stop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<f64>,
    /// Time waited for the migration lock (write commands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_wait_ms: Option<f64>,
    /// How the migration lock was held: `session`, or `transaction` (taken in each
    /// transaction, behind a transaction pooler). SQLite: `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<&'static str>,
    #[serde(skip)]
    pub exit: u8,
    /// The command wrote its own output (completions): print no report.
    #[serde(skip)]
    pub printed: bool,
}

impl Report {
    pub fn new(command: &'static str) -> Self {
        Report {
            command,
            ok: true,
            ..Report::default()
        }
    }

    /// Fills `current`, `head`, `at_head`, `migrations` and `problems` from a state. With
    /// `rows: false` the per-migration rows are left out (text `current` shows none).
    pub fn with_status(
        mut self,
        set: &MigrationSet,
        state: &DbState,
        problems: Vec<Problem>,
        rows: bool,
    ) -> Self {
        if rows {
            self.migrations = status_rows(set, state, &problems);
        }
        let pending = set
            .migrations()
            .iter()
            .filter(|m| !state.is_applied(m.version()))
            .count();
        self.current = state.newest_applied().map(|r| r.version.clone());
        self.head = set.head().map(|m| m.version().to_owned());
        let name = |v: &Option<String>| {
            v.as_deref()
                .and_then(|v| set.get(v))
                .map(|m| m.name().to_owned())
        };
        self.current_name = name(&self.current);
        self.head_name = name(&self.head);
        // Not at head when the newest applied version is one that no migration has.
        self.at_head = Some(pending == 0 && self.current == self.head);
        self.pending = Some(pending);
        self.problems = problems;
        self.source = Some(set.origin().to_string());
        self
    }

    /// Describes the plan for `--dry-run`.
    pub fn with_plan(mut self, set: &MigrationSet, plan: &Plan) -> Self {
        self.plan = Some(
            plan.steps
                .iter()
                .map(|s| {
                    let m = s.index.map(|i| &set.migrations()[i]);
                    PlanRow {
                        action: s.action,
                        version: s.version.clone(),
                        name: m.map(|m| m.name().to_owned()).unwrap_or_default(),
                        transactional: m.is_none_or(|m| m.run_in_transaction()),
                    }
                })
                .collect(),
        );
        self
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

/// `2026-11-24 07:53:25`: a timestamp to the second. Display of a value without fraction
/// is much cheaper than a strftime pattern, which shows with thousands of rows.
fn seconds(t: chrono::NaiveDateTime) -> String {
    use chrono::Timelike;
    t.with_nanosecond(0).unwrap_or(t).to_string()
}

/// One row per migration, and one per recorded version that no migration has.
fn status_rows(set: &MigrationSet, state: &DbState, problems: &[Problem]) -> Vec<MigrationRow> {
    let edited = |v: &str| {
        problems
            .iter()
            .any(|p| p.kind == ProblemKind::Edited && p.version == v)
    };
    let mut rows: Vec<MigrationRow> = set
        .migrations()
        .iter()
        .map(|m| {
            let rec = state.get(m.version());
            let applied = rec.is_some_and(|r| r.applied);
            let checksum_ok = match rec {
                Some(r) if applied && r.checksum.is_some() => Some(!edited(m.version())),
                _ => None,
            };
            MigrationRow {
                version: m.version().to_owned(),
                name: m.name().to_owned(),
                applied,
                run_on: rec.and_then(|r| r.run_on).map(seconds),
                checksum_ok,
                dirty: rec.is_some_and(|r| r.dirty),
                known: true,
                transactional: m.files_checked().then(|| m.run_in_transaction()),
                has_down: m.files_checked().then(|| m.has_down()),
                path: m.path().map(|p| p.display().to_string()),
            }
        })
        .collect();
    for rec in state.records().filter(|r| set.get(&r.version).is_none()) {
        rows.push(MigrationRow {
            version: rec.version.clone(),
            name: String::new(),
            applied: rec.applied,
            run_on: rec.run_on.map(seconds),
            checksum_ok: None,
            dirty: rec.dirty,
            known: false,
            transactional: None,
            has_down: None,
            path: None,
        });
    }
    rows.sort_by(|a, b| a.version.cmp(&b.version));
    rows
}
