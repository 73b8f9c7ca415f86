//! Where SQL is executed: runs a [`Plan`] on the working session (`backend::session`) of a write command.
//!
//! A transactional step is one transaction: the lock (behind a transaction pooler), a check
//! that the step still has work to do (idem), the migration's SQL, the session reset, and
//! both bookkeeping rows (diesel's `__diesel_schema_migrations`, written exactly as the
//! diesel CLI writes it, and the side table's). A non-transactional step writes its dirty
//! marker first, sends its statements one by one, then records itself and clears the marker
//! in one transaction. The `--sql` script (`script`) prints the same statements in the same
//! order.

use std::time::{Duration, Instant};

use crate::backend::session::{transaction, Session};
use crate::backend::Driver;
use crate::bookkeeping::{self, Elapsed, StepSql};
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::plan::{Action, Plan, Step};
use crate::source::Migration;
use crate::sql::split;
use crate::stop::{Fate, Running, Stop};

/// What happened in one step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepReport {
    /// The action taken.
    pub action: Action,
    /// The version.
    pub version: String,
    /// The migration's name (empty for an unknown version).
    pub name: String,
    /// Wall time of the whole step, the lock wait included.
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
    /// Time spent running the migration's own SQL.
    #[serde(serialize_with = "millis")]
    pub sql_time: Duration,
    /// Time spent waiting for the migration lock in the step's transaction (behind a
    /// transaction pooler).
    #[serde(serialize_with = "millis")]
    pub lock_wait: Duration,
    /// Nothing was done: another deploy did this step first (behind a transaction pooler,
    /// where the lock is taken per transaction).
    pub skipped: bool,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// Receives progress events; the library itself never prints.
pub trait Observer {
    /// The migration lock is held by someone else (`holder`); waiting for it.
    fn waiting_for_lock(&mut self, _holder: &str) {}
    /// A step is about to run (`index` of `total`, from 0).
    fn step_started(&mut self, _step: &Step<'_>, _index: usize, _total: usize) {}
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
    /// Run the whole plan in one transaction (every step must be transactional).
    pub single_transaction: bool,
}

/// Executes `plan`; stops at the first failure, leaving earlier steps applied.
pub fn execute<D: Driver>(
    session: &mut Session<D>,
    plan: &Plan<'_>,
    options: ExecOptions,
    observer: &mut dyn Observer,
) -> Result<Vec<StepReport>> {
    plan.check_sql()?;
    session.setup_bookkeeping(&mut |holder| observer.waiting_for_lock(holder))?;
    let recheck = session.lock_per_transaction();
    let interrupt = session.interrupt().clone();
    let (conn, lock, waited) = session.parts();
    let mut run = Run {
        plan,
        lock,
        waited,
        recheck,
        enclosed: options.single_transaction,
        interrupt,
        observer,
    };
    if !options.single_transaction {
        return run.steps(conn);
    }
    let fail = |e| Error::query("cannot begin or commit the transaction of every step", e);
    let reports = transaction(conn, fail, |conn| {
        run.begin(conn)?;
        run.steps(conn)
    })?;
    // Only now are they applied: a failure before the commit would have undone them all.
    for report in &reports {
        run.observer.step_finished(report);
    }
    Ok(reports)
}

/// The execution of one plan on one connection.
struct Run<'a, D: Driver> {
    plan: &'a Plan<'a>,
    lock: &'a D::Lock,
    /// The session's total lock wait.
    waited: &'a mut Duration,
    /// The lock is taken per transaction: each step checks, under it, that it still has
    /// work to do, since another deploy may have done it since the state was read.
    recheck: bool,
    /// One transaction encloses every step (`--single-transaction`, `stamp`), and took the
    /// lock already.
    enclosed: bool,
    interrupt: Interrupt,
    observer: &'a mut dyn Observer,
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default)]
struct Done {
    sql_time: Duration,
    lock_wait: Duration,
    skipped: bool,
}

impl<D: Driver> Run<'_, D> {
    /// The start of a transaction: the lock, where it is taken per transaction.
    fn begin(&mut self, conn: &mut D) -> Result<Duration> {
        let observer = &mut *self.observer;
        let waited = conn.begin_transaction(self.lock, &mut |h| observer.waiting_for_lock(h))?;
        *self.waited += waited;
        Ok(waited)
    }

    fn steps(&mut self, conn: &mut D) -> Result<Vec<StepReport>> {
        let plan = self.plan;
        let total = plan.steps.len();
        let mut reports = Vec::with_capacity(total);
        for (index, step) in plan.steps.iter().enumerate() {
            self.interrupt.check(|| self.stop(index, &reports, None))?;
            self.observer.step_started(step, index, total);
            let started = Instant::now();
            let done = self
                .step(conn, step)
                .map_err(|e| self.stopped(e, index, &reports))?;
            let report = StepReport {
                action: step.action(),
                version: step.version().to_owned(),
                name: step.name().to_owned(),
                duration: started.elapsed(),
                sql_time: done.sql_time,
                lock_wait: done.lock_wait,
                skipped: done.skipped,
            };
            // In one enclosing transaction, nothing is applied before its commit.
            if !self.enclosed {
                self.observer.step_finished(&report);
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// Where the run stands when step `index` stops it (`running`: the step, when it had
    /// started). What the running step left is read back later, by the caller.
    fn stop(&self, index: usize, reports: &[StepReport], running: Option<Running>) -> Stop {
        let versions = || {
            reports
                .iter()
                .filter(|r| !r.skipped)
                .map(|r| r.version.clone())
                .collect()
        };
        let (done, rolled_back) = if self.enclosed {
            (Vec::new(), versions())
        } else {
            (versions(), Vec::new())
        };
        let next = index + usize::from(running.is_some());
        Stop {
            done,
            running,
            rolled_back,
            not_run: self.plan.steps[next.min(self.plan.steps.len())..]
                .iter()
                .map(|s| s.version().to_owned())
                .collect(),
        }
    }

    /// The error of a step that failed: a migration's failure gets the stop; a failure
    /// caused by an interrupt (a cancelled statement) becomes the interrupt.
    fn stopped(&self, error: Error, index: usize, reports: &[StepReport]) -> Error {
        let Error::MigrationFailed { source, stop } = error else {
            return error;
        };
        let running = stop.running;
        let stop = Box::new(self.stop(index, reports, running));
        match self.interrupt.requested() {
            Some(signal) => Error::Interrupted { signal, stop },
            None => Error::MigrationFailed { source, stop },
        }
    }

    fn step(&mut self, conn: &mut D, step: &Step<'_>) -> Result<Done> {
        match *step {
            Step::Apply(m) => self.migrate(conn, m, Direction::Up),
            Step::Revert(m) => self.migrate(conn, m, Direction::Down),
            Step::Record(_) | Step::Rehash(_) | Step::Unrecord(_) => {
                let sql = bookkeeping::stamp_sql(step);
                self.bookkeeping(conn, &sql, step.version())
            }
        }
    }

    /// Stamp's bookkeeping: always inside stamp's one transaction.
    fn bookkeeping(&mut self, conn: &mut D, sql: &str, version: &str) -> Result<Done> {
        conn.batch_execute(sql)
            .map_err(|e| Error::query(format!("cannot update the bookkeeping of {version}"), e))?;
        Ok(Done::default())
    }

    fn migrate(&mut self, conn: &mut D, m: &Migration, direction: Direction) -> Result<Done> {
        let step = StepWork::new::<D>(m, direction)?;
        if m.run_in_transaction() {
            self.transactional(conn, &step)
        } else {
            non_transactional(conn, &step)
        }
    }

    fn transactional(&mut self, conn: &mut D, step: &StepWork<'_>) -> Result<Done> {
        // A COMMIT that fails (a deferred constraint, a full disk) is the migration's failure.
        transaction(
            conn,
            |e| step.failed(e),
            |conn| {
                let lock_wait = if self.enclosed {
                    Duration::ZERO
                } else {
                    self.begin(conn)?
                };
                if self.recheck && !step.still_to_do(conn)? {
                    return Ok(Done {
                        lock_wait,
                        skipped: true,
                        ..Done::default()
                    });
                }
                let sql_time = step.run_in_transaction(conn)?;
                Ok(Done {
                    sql_time,
                    lock_wait,
                    skipped: false,
                })
            },
        )
    }
}

/// A non-transactional step: the dirty marker, the statements one by one, then the record
/// and the cleared marker together, so that a crash anywhere in between leaves the marker.
fn non_transactional<D: Driver>(conn: &mut D, step: &StepWork<'_>) -> Result<Done> {
    if let Some(marker) = step.sql.marker() {
        step.run_batch(conn, &marker)?;
    }
    let started = Instant::now();
    if D::SPLIT_NON_TRANSACTIONAL {
        for statement in split::split_statements(step.body) {
            step.run_batch(conn, statement)?;
        }
    } else if !split::is_effectively_empty(step.body) {
        step.run_batch(conn, step.body)?;
    }
    let sql_time = started.elapsed();
    let end = step.tail(Elapsed::Millis(sql_time.as_millis()));
    transaction(conn, |e| step.failed(e), |conn| step.run_batch(conn, &end))?;
    Ok(Done {
        sql_time,
        ..Done::default()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// One migration to apply or revert, with its SQL and its bookkeeping.
struct StepWork<'a> {
    migration: &'a Migration,
    direction: Direction,
    /// The SQL to run: `up.sql` or `down.sql`.
    body: &'a str,
    sql: StepSql<'a>,
    reset: &'static str,
    /// The database's expression for the milliseconds the current batch has taken, when
    /// the body and its bookkeeping go in one batch.
    merged: Option<&'static str>,
}

impl<'a> StepWork<'a> {
    fn new<D: Driver>(migration: &'a Migration, direction: Direction) -> Result<Self> {
        let body = match direction {
            Direction::Up => migration.up_sql(),
            Direction::Down => migration.down_sql()?,
        };
        Ok(StepWork {
            migration,
            direction,
            body,
            sql: StepSql::new(migration, direction == Direction::Up),
            reset: D::RESET_SESSION,
            merged: D::ELAPSED_MS_SQL,
        })
    }

    fn action(&self) -> &'static str {
        match self.direction {
            Direction::Up => "applying",
            Direction::Down => "reverting",
        }
    }

    /// Whether the step still has work: its version is still pending (apply) or still
    /// applied (revert). Read inside the step's transaction, under the lock.
    fn still_to_do<D: Driver>(&self, conn: &mut D) -> Result<bool> {
        let recorded = conn
            .is_recorded(self.migration.version())
            .map_err(|e| self.failed(e))?;
        Ok(recorded == (self.direction == Direction::Down))
    }

    /// The body, the session reset and both bookkeeping rows, in the open transaction;
    /// returns the time the body took.
    fn run_in_transaction<D: Driver>(&self, conn: &mut D) -> Result<Duration> {
        let body = self.body;
        let started = Instant::now();
        if let Some(elapsed) = self.merged {
            // One round trip: the database measures the body's duration itself, since the
            // tool cannot know it before sending the batch.
            let mut batch = String::with_capacity(body.len() + 512);
            let up = self.direction == Direction::Up;
            split::push_with_terminator(&mut batch, body, self.migration.lacks_terminator(up));
            batch.push_str(&self.tail(Elapsed::Sql(elapsed)));
            self.run_batch(conn, &batch)?;
            return Ok(started.elapsed());
        }
        if !split::is_effectively_empty(body) {
            self.run_batch(conn, body)?;
        }
        let sql_time = started.elapsed();
        self.run_batch(conn, &self.tail(Elapsed::Millis(sql_time.as_millis())))?;
        Ok(sql_time)
    }

    /// The session reset first (the rows must go where the bookkeeping tables are, not
    /// into a schema that the migration's `SET search_path` chose), then the rows.
    fn tail(&self, elapsed: Elapsed<'_>) -> String {
        format!("{}\n{}", self.reset, self.sql.end(elapsed))
    }

    fn run_batch<D: Driver>(&self, conn: &mut D, sql: &str) -> Result<()> {
        if sql.trim().is_empty() {
            return Ok(());
        }
        conn.batch_execute(sql).map_err(|e| self.failed(e))
    }

    /// A failure of this step; where the run stands, and what the step left, are filled
    /// in on the way up.
    fn failed(&self, source: diesel::result::Error) -> Error {
        let m = self.migration;
        Error::MigrationFailed {
            source,
            stop: Box::new(Stop {
                running: Some(Running {
                    version: m.version().to_owned(),
                    name: m.name().to_owned(),
                    action: self.action(),
                    transactional: m.run_in_transaction(),
                    fate: Fate::Unknown,
                }),
                ..Stop::default()
            }),
        }
    }
}
