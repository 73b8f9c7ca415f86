//! Where SQL is executed: runs a [`Plan`] on a connection through diesel's
//! `MigrationHarness`, so diesel's own bookkeeping row is written exactly as the diesel CLI
//! writes it, in the same transaction as the migration when it is transactional.

use std::cell::Cell;
use std::fmt;
use std::time::{Duration, Instant};

use diesel::backend::Backend as DieselBackend;
use diesel::connection::BoxableConnection;
use diesel::migration::{self, MigrationMetadata, MigrationName, MigrationVersion};

use crate::bookkeeping::{self, Elapsed, StepSql};
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::migrations::{split, Migration, MigrationSet};
use crate::plan::{Action, Plan, Step};

/// What happened in one step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepReport {
    /// The action taken.
    pub action: Action,
    /// The version.
    pub version: String,
    /// The migration's name (empty for an unknown version).
    pub name: String,
    /// Wall time of the whole step.
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
    /// Time spent running the migration's own SQL.
    #[serde(serialize_with = "millis")]
    pub sql_time: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// Receives progress events; the library itself never prints.
pub trait Observer {
    /// A step is about to run (`index` of `total`, from 0).
    fn step_started(
        &mut self,
        _step: &Step,
        _migration: Option<&Migration>,
        _index: usize,
        _total: usize,
    ) {
    }
    /// A step finished.
    fn step_finished(&mut self, _report: &StepReport) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;
impl Observer for Silent {}

/// Options of execution.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecOptions {
    /// Run the whole plan in one transaction (PostgreSQL; every step must be transactional).
    pub single_transaction: bool,
}

/// Executes `plan`; stops at the first failure, leaving earlier steps applied.
pub fn execute<D: Driver>(
    conn: &mut D,
    set: &MigrationSet,
    plan: &Plan,
    options: ExecOptions,
    observer: &mut dyn Observer,
) -> Result<Vec<StepReport>> {
    preflight(set, plan)?;
    conn.batch_execute(&bookkeeping::setup_sql())
        .map_err(|e| Error::query("cannot create the bookkeeping tables", e))?;
    if options.single_transaction {
        return conn.transaction(|conn| run_steps(conn, set, plan, observer));
    }
    run_steps(conn, set, plan, observer)
}

/// Reads every file the plan needs before anything runs, so a missing `down.sql` or an
/// unreadable file stops the command with nothing changed, not half-way through.
fn preflight(set: &MigrationSet, plan: &Plan) -> Result<()> {
    for step in &plan.steps {
        let Some(m) = step.index.map(|i| &set.migrations()[i]) else {
            continue;
        };
        match step.action {
            Action::Revert => m.down_sql().map(drop)?,
            _ => m.up_sql().map(drop)?,
        }
    }
    Ok(())
}

fn run_steps<D: Driver>(
    conn: &mut D,
    set: &MigrationSet,
    plan: &Plan,
    observer: &mut dyn Observer,
) -> Result<Vec<StepReport>> {
    let total = plan.steps.len();
    let mut reports = Vec::with_capacity(total);
    for (index, step) in plan.steps.iter().enumerate() {
        let migration = step.index.map(|i| &set.migrations()[i]);
        observer.step_started(step, migration, index, total);
        let started = Instant::now();
        let sql_time = run_step(conn, step, migration)?;
        let report = StepReport {
            action: step.action,
            version: step.version.clone(),
            name: migration.map(|m| m.name().to_owned()).unwrap_or_default(),
            duration: started.elapsed(),
            sql_time,
        };
        observer.step_finished(&report);
        reports.push(report);
    }
    Ok(reports)
}

fn run_step<D: Driver>(
    conn: &mut D,
    step: &Step,
    migration: Option<&Migration>,
) -> Result<Duration> {
    match (step.action, migration) {
        (Action::Apply, Some(m)) => apply(conn, m),
        (Action::Revert, Some(m)) => revert(conn, m),
        (Action::Record, Some(m)) | (Action::Rehash, Some(m)) => {
            let mut sql = bookkeeping::record_sql(m, &m.checksum()?);
            if step.action == Action::Rehash {
                sql.remove(0);
            }
            batch(conn, &sql, &step.version)
        }
        (Action::Unrecord, _) => batch(
            conn,
            &bookkeeping::unrecord_sql(&step.version),
            &step.version,
        ),
        (_, None) => Err(Error::BadInput(format!(
            "version {} is not in the migration set, so it cannot be applied or reverted",
            step.version
        ))),
    }
}

fn batch<D: Driver>(conn: &mut D, statements: &[String], version: &str) -> Result<Duration> {
    conn.batch_execute(&statements.join("\n"))
        .map_err(|e| Error::query(format!("cannot update the bookkeeping of {version}"), e))?;
    Ok(Duration::ZERO)
}

fn apply<D: Driver>(conn: &mut D, m: &Migration) -> Result<Duration> {
    let checksum = m.checksum()?;
    let sql = bookkeeping::apply_sql(m, &checksum, Elapsed::Unknown);
    run_outside(conn, m, &sql.before, "applying")?;
    let step = HarnessStep::new::<D>(m, Direction::Up, checksum.clone())?;
    conn.run_migration(&step)
        .map_err(|e| failed(m, "applying", &*e))?;
    let elapsed = step.sql_time.get();
    let after = bookkeeping::apply_sql(m, &checksum, Elapsed::Millis(elapsed.as_millis())).after;
    run_outside(conn, m, &after, "applying")?;
    Ok(elapsed)
}

fn revert<D: Driver>(conn: &mut D, m: &Migration) -> Result<Duration> {
    let checksum = m.checksum()?;
    let sql = bookkeeping::revert_sql(m, &checksum);
    run_outside(conn, m, &sql.before, "reverting")?;
    let step = HarnessStep::new::<D>(m, Direction::Down, checksum)?;
    conn.revert_migration(&step)
        .map_err(|e| failed(m, "reverting", &*e))?;
    run_outside(conn, m, &sql.after, "reverting")?;
    Ok(step.sql_time.get())
}

fn run_outside<D: Driver>(
    conn: &mut D,
    m: &Migration,
    statements: &[String],
    action: &'static str,
) -> Result<()> {
    if statements.is_empty() {
        return Ok(());
    }
    conn.batch_execute(&statements.join("\n"))
        .map_err(|e| failed(m, action, &e))
}

fn failed(m: &Migration, action: &'static str, err: &dyn fmt::Display) -> Error {
    Error::MigrationFailed {
        version: m.version().to_owned(),
        name: m.name().to_owned(),
        action,
        message: err.to_string(),
        transactional: m.run_in_transaction(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// A migration as diesel's harness sees it, carrying the SQL and the bookkeeping to run
/// inside the harness's transaction.
struct HarnessStep<'a> {
    migration: &'a Migration,
    direction: Direction,
    checksum: String,
    name: StepName,
    split: bool,
    reset: &'static str,
    /// Set when the body and its bookkeeping go in one batch: the database's expression
    /// for the milliseconds since the transaction began.
    merged: Option<&'static str>,
    sql_time: Cell<Duration>,
}

impl<'a> HarnessStep<'a> {
    fn new<D: Driver>(
        migration: &'a Migration,
        direction: Direction,
        checksum: String,
    ) -> Result<Self> {
        // Read the file before the transaction starts, so an I/O error is not a SQL error.
        match direction {
            Direction::Up => migration.up_sql()?,
            Direction::Down => migration.down_sql()?,
        };
        Ok(HarnessStep {
            migration,
            direction,
            checksum,
            name: StepName {
                version: migration.version().to_owned(),
                dir_name: migration.dir_name().to_owned(),
            },
            split: D::SPLIT_NON_TRANSACTIONAL && !migration.run_in_transaction(),
            reset: D::RESET_SESSION,
            merged: D::ELAPSED_MS_SQL.filter(|_| migration.run_in_transaction()),
            sql_time: Cell::new(Duration::ZERO),
        })
    }

    fn body(&self) -> migration::Result<&str> {
        Ok(match self.direction {
            Direction::Up => self.migration.up_sql()?,
            Direction::Down => self.migration.down_sql()?,
        })
    }

    fn run_body(&self, exec: Exec<'_>) -> migration::Result<()> {
        let sql = self.body()?;
        let started = Instant::now();
        if self.split {
            for statement in split::split_statements(sql) {
                exec(statement)?;
            }
        } else if !split::is_effectively_empty(sql) {
            exec(sql)?;
        }
        self.sql_time.set(started.elapsed());
        Ok(())
    }

    /// The body, the session reset and the side-table row in one batch, for transactional
    /// migrations where the driver allows it: one round trip fewer per migration, a few
    /// percent of a small one. The database measures the row's duration itself, since
    /// the tool cannot know it before sending the batch.
    fn run_merged(&self, exec: Exec<'_>) -> migration::Result<()> {
        let batch = format!("{}{}", crate::script::terminated(self.body()?), self.tail());
        let started = Instant::now();
        exec(&batch)?;
        self.sql_time.set(started.elapsed());
        Ok(())
    }

    fn inside_sql(&self) -> StepSql {
        let elapsed = match self.merged {
            Some(expr) => Elapsed::Sql(expr),
            None => Elapsed::Millis(self.sql_time.get().as_millis()),
        };
        match self.direction {
            Direction::Up => bookkeeping::apply_sql(self.migration, &self.checksum, elapsed),
            Direction::Down => bookkeeping::revert_sql(self.migration, &self.checksum),
        }
    }

    /// The session reset, then the side-table row of the transaction.
    fn tail(&self) -> String {
        format!("{}\n{}", self.reset, self.inside_sql().inside.join("\n"))
    }

    fn finish(&self, exec: Exec<'_>) -> migration::Result<()> {
        // Reset first: the side-table row must go where the bookkeeping tables are, not
        // into a schema that the migration's own `SET search_path` chose.
        let tail = self.tail();
        if !tail.trim().is_empty() {
            exec(&tail)?;
        }
        Ok(())
    }
}

/// `batch_execute` of the harness's connection, as a closure.
type Exec<'a> = &'a mut dyn FnMut(&str) -> diesel::QueryResult<()>;

impl<DB: DieselBackend> migration::Migration<DB> for HarnessStep<'_> {
    fn run(&self, conn: &mut dyn BoxableConnection<DB>) -> migration::Result<()> {
        let mut exec = |sql: &str| conn.batch_execute(sql);
        if self.merged.is_some() {
            return self.run_merged(&mut exec);
        }
        self.run_body(&mut exec)?;
        self.finish(&mut exec)
    }

    fn revert(&self, conn: &mut dyn BoxableConnection<DB>) -> migration::Result<()> {
        self.run(conn)
    }

    fn metadata(&self) -> &dyn MigrationMetadata {
        self
    }

    fn name(&self) -> &dyn MigrationName {
        &self.name
    }
}

impl MigrationMetadata for HarnessStep<'_> {
    fn run_in_transaction(&self) -> bool {
        self.migration.run_in_transaction()
    }
}

#[derive(Debug)]
struct StepName {
    version: String,
    dir_name: String,
}

impl MigrationName for StepName {
    fn version(&self) -> MigrationVersion<'_> {
        MigrationVersion::from(self.version.as_str())
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dir_name)
    }
}
