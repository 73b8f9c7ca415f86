//! `check --schema` and `revision --autogenerate`: `schema.rs` held against the schema the
//! migrations produce.
//!
//! Both replay the PostgreSQL migrations into a scratch database (`schema.rs` holds
//! PostgreSQL types, so the replay is on PostgreSQL whatever the URL) and read it as
//! `diesel print-schema` would ([`crate::autogen`]). `check --schema` lists the
//! differences. `revision --autogenerate` turns them into one migration per dialect and
//! proves it before writing anything: in the scratch databases (PostgreSQL, and a SQLite
//! file replayed from `migrations/sqlite`), `up.sql`, compare, `down.sql`, compare with the
//! catalog before, `up.sql` again.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use super::scratch::Scratch;
use super::Context;
use crate::autogen::declared::declared;
use crate::autogen::diff::{differences, Difference};
use crate::autogen::generate::{self, Change, Migration};
use crate::autogen::inspect::{inspect, pg_details};
use crate::autogen::Schema;
use crate::backend::session::Session;
use crate::backend::Driver;
use crate::catalog::CatalogSnapshot;
use crate::error::{Error, Result};
use crate::source::revision::{self, NewMigration};
use crate::source::{MigrationSet, Origin};
use crate::stop::Stop;
use crate::url::{Backend, DatabaseUrl};

/// What `check --schema` and `revision --autogenerate` compare, and where.
#[derive(Debug, Clone)]
pub struct SchemaSources {
    /// The `[print_schema] file` of `diesel.toml`.
    pub schema_file: PathBuf,
    /// `--scratch-url`: the PostgreSQL server of the scratch database, when the database
    /// URL is not one (or should not be used).
    pub scratch: Option<DatabaseUrl>,
}

/// What `check --schema` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SchemaCheck {
    /// The `schema.rs` compared.
    pub schema_file: PathBuf,
    /// How many tables it declares.
    pub tables: usize,
    /// Every difference; empty when they agree.
    pub differences: Vec<Difference>,
}

/// What `revision --autogenerate` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Generated {
    /// The changes, one line each (`add column users.nickname (Text)`); empty: no changes.
    pub changes: Vec<String>,
    /// The directories written; empty when there was nothing to write or the proof failed.
    pub created: Vec<PathBuf>,
    /// The proof step that failed; then nothing was written.
    pub failure: Option<ProofFailure>,
}

/// The step of the proof of a generated migration that failed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProofFailure {
    /// `PostgreSQL` or `SQLite`.
    pub dialect: &'static str,
    /// `up.sql`, `check --schema after up.sql`, `down.sql`, `catalog after down.sql`, ...
    pub step: String,
    /// The database's error, or the differences, one line each.
    pub details: Vec<String>,
}

impl std::fmt::Display for ProofFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the generated migration failed its proof at {} on {}: {}; nothing was written",
            self.step,
            self.dialect,
            self.details.join("; ")
        )
    }
}

/// `check --schema`: the differences between `schema.rs` and the replayed migrations.
pub(crate) fn check_schema(ctx: &Context, sources: &SchemaSources) -> Result<SchemaCheck> {
    let expected = declared(&sources.schema_file)?;
    let set = read_dialect(&ctx.origin, Backend::Postgres)?
        .ok_or_else(|| no_postgres_migrations(&ctx.origin))?;
    let scratch = Scratch::postgres(scratch_server(ctx, sources)?)?;
    let mut pg = replay::<PgConnection>(&scratch.url, ctx, &set)?;
    let actual = inspect(pg.connection())?;
    Ok(SchemaCheck {
        schema_file: sources.schema_file.clone(),
        tables: expected.tables.len(),
        differences: differences(&expected, &actual),
    })
}

/// `revision -m MESSAGE --autogenerate`: the migration from the replayed migrations to
/// `schema.rs`, in both dialects, proved, then written; nothing when they agree.
pub(crate) fn autogenerate(
    ctx: &Context,
    sources: &SchemaSources,
    message: &str,
) -> Result<Generated> {
    revision::slug(message)?;
    let target = declared(&sources.schema_file)?;
    let pg_set = read_dialect(&ctx.origin, Backend::Postgres)?
        .ok_or_else(|| no_postgres_migrations(&ctx.origin))?;
    let pg_dir = written_dir(&pg_set)?;
    let lite_set = read_dialect(&ctx.origin, Backend::Sqlite)?;
    let scratch = Scratch::postgres(scratch_server(ctx, sources)?)?;
    let mut pg = replay::<PgConnection>(&scratch.url, ctx, &pg_set)?;
    let actual = inspect(pg.connection())?;
    let changes = generate::plan(&actual, &target)?;
    let mut generated = Generated {
        changes: changes.iter().map(Change::to_string).collect(),
        created: Vec::new(),
        failure: None,
    };
    if changes.is_empty() {
        return Ok(generated);
    }
    let pg_migration = generate::pg::render(&changes, &pg_details(pg.connection())?)?;
    let mut lite = match &lite_set {
        Some(set) => Some(LiteSide::replay(ctx, set, &changes, &actual)?),
        None => None,
    };
    let proof = Proof {
        ctx,
        target: &target,
        keeps_positions: !changes
            .iter()
            .any(|c| matches!(c, Change::DropColumn { .. })),
    };
    generated.failure = proof.run(&mut pg, &pg_migration, lite.as_mut())?;
    if generated.failure.is_none() {
        let lite = lite.as_ref().zip(lite_set.as_ref());
        generated.created = write(message, (pg_dir, &pg_migration), lite)?;
    }
    Ok(generated)
}

/// A session on the scratch database `url` with every migration of `set` applied; a
/// failure says it happened there.
fn replay<D: Driver>(url: &DatabaseUrl, ctx: &Context, set: &MigrationSet) -> Result<Session<D>> {
    super::scratch::replay(url, ctx, set).map_err(|e| match e {
        // Where it stopped is the scratch database's, not the one of the URL.
        Error::MigrationFailed { .. } | Error::Interrupted { .. } => Error::Replay {
            dialect: D::BACKEND,
            source: Box::new(e),
        },
        other => other,
    })
}

/// The migrations of `backend` beside `origin`: the directory itself when it is named for
/// `backend` (or, for PostgreSQL, named for no backend), its sibling named for `backend`,
/// or the embedded set; `None` when there is none.
fn read_dialect(origin: &Origin, backend: Backend) -> Result<Option<MigrationSet>> {
    let Some(dir) = origin.dir() else {
        return MigrationSet::embedded(backend).map(Some);
    };
    let named = dir
        .file_name()
        .and_then(|n| Backend::from_dir_name(&n.to_string_lossy()));
    let chosen = match named {
        Some(b) if b == backend => Some(dir.to_path_buf()),
        None if backend == Backend::Postgres => Some(dir.to_path_buf()),
        None => None,
        Some(_) => dir
            .parent()
            .map(|parent| parent.join(backend.dir_name()))
            .filter(|sibling| sibling.is_dir()),
    };
    chosen
        .map(|dir| MigrationSet::read(origin.with_dir(dir)))
        .transpose()
}

fn no_postgres_migrations(origin: &Origin) -> Error {
    Error::BadInput(format!(
        "schema.rs holds PostgreSQL types, so the PostgreSQL migrations are replayed, and \
         there is no postgres directory beside {origin}: pass --migration-dir \
         migrations/postgres"
    ))
}

/// The directory a generated migration goes to: migrations embedded in the binary cannot
/// take one.
fn written_dir(set: &MigrationSet) -> Result<&Path> {
    set.origin().dir().ok_or_else(|| {
        Error::BadInput(
            "revision needs a migration directory: pass --migration-dir DIR (or set \
             MIGRATION_DIRECTORY), or run it in a project whose diesel.toml names one"
                .into(),
        )
    })
}

/// The PostgreSQL server that holds the scratch database: `--scratch-url`, else the
/// database URL's.
fn scratch_server<'a>(ctx: &'a Context, sources: &'a SchemaSources) -> Result<&'a DatabaseUrl> {
    match (&sources.scratch, ctx.url.backend()) {
        (Some(url), _) => Ok(url),
        (None, Backend::Postgres) => Ok(&ctx.url),
        (None, _) => Err(Error::BadInput(format!(
            "schema.rs holds PostgreSQL types, so the migrations are replayed into a scratch \
             PostgreSQL database, and {} is SQLite: pass --scratch-url \
             postgres://USER@HOST/DB (a role with CREATEDB)",
            ctx.url.redacted()
        ))),
    }
}

/// The SQLite side of `revision --autogenerate`: the migrations replayed into a temporary
/// file, and the migration generated from what it holds.
struct LiteSide {
    // Declared before the scratch file, so the connection closes before the file goes.
    session: Session<diesel::SqliteConnection>,
    _scratch: Scratch,
    migration: Migration,
}

impl LiteSide {
    fn replay(
        ctx: &Context,
        set: &MigrationSet,
        changes: &[Change],
        actual: &Schema,
    ) -> Result<Self> {
        let scratch = Scratch::sqlite_file()?;
        // A child of the command's interrupt: a signal stops the replay at its next safe
        // point, and the PostgreSQL session stays the one a signal cancels. A running
        // SQLite statement cannot be cancelled: a second signal exits at once, and still
        // removes the scratch databases.
        let lite_ctx = Context {
            url: scratch.url.clone(),
            interrupt: ctx.interrupt.child(),
            ..ctx.clone()
        };
        let mut session = replay(&scratch.url, &lite_ctx, set)?;
        let objects = crate::autogen::inspect::sqlite_objects(session.connection())?;
        let migration = generate::sqlite::render(changes, actual, &objects)?;
        Ok(LiteSide {
            session,
            _scratch: scratch,
            migration,
        })
    }
}

/// Proves a generated migration in the scratch databases.
struct Proof<'a> {
    ctx: &'a Context,
    /// `schema.rs`.
    target: &'a Schema,
    /// Whether `down.sql` can restore column positions (PostgreSQL appends a column that
    /// `down.sql` adds back).
    keeps_positions: bool,
}

/// A failed proof step, or an error that stops the command.
type Step<T> = std::result::Result<T, Stopped>;

enum Stopped {
    Failed(ProofFailure),
    Error(Error),
}

impl From<Error> for Stopped {
    fn from(e: Error) -> Self {
        Stopped::Error(e)
    }
}

const PG: &str = "PostgreSQL";
const LITE: &str = "SQLite";

impl Proof<'_> {
    /// `None` when the migration passed every step.
    fn run(
        &self,
        pg: &mut Session<PgConnection>,
        pg_migration: &Migration,
        mut lite: Option<&mut LiteSide>,
    ) -> Result<Option<ProofFailure>> {
        let outcome = (|| -> Step<()> {
            let pg_before = self.snapshot(pg, PG)?;
            let lite_before = match lite.as_deref_mut() {
                Some(side) => Some(self.snapshot(&mut side.session, LITE)?),
                None => None,
            };
            for again in [false, true] {
                let up = if again { "up.sql again" } else { "up.sql" };
                self.run_sql(pg.connection(), PG, up, &pg_migration.up_sql, true)?;
                self.check_target(pg, up)?;
                if let Some(side) = lite.as_deref_mut() {
                    let sql = &side.migration.up_sql;
                    let transactional = side.migration.run_in_transaction;
                    self.run_sql(side.session.connection(), LITE, up, sql, transactional)?;
                    self.check_dialects_agree(pg, side, up)?;
                }
                if again {
                    break;
                }
                self.run_sql(
                    pg.connection(),
                    PG,
                    "down.sql",
                    &pg_migration.down_sql,
                    true,
                )?;
                self.check_restored(pg, PG, &pg_before, self.keeps_positions)?;
                if let (Some(side), Some(before)) = (lite.as_deref_mut(), &lite_before) {
                    let sql = &side.migration.down_sql;
                    let transactional = side.migration.run_in_transaction;
                    self.run_sql(
                        side.session.connection(),
                        LITE,
                        "down.sql",
                        sql,
                        transactional,
                    )?;
                    self.check_restored(&mut side.session, LITE, before, true)?;
                }
            }
            Ok(())
        })();
        match outcome {
            Ok(()) => Ok(None),
            Err(Stopped::Failed(failure)) => Ok(Some(failure)),
            Err(Stopped::Error(e)) => Err(e),
        }
    }

    /// Runs one file of the generated migration; a failure is the proof's, unless a signal
    /// cancelled it.
    fn run_sql<C: Connection + SimpleConnection>(
        &self,
        conn: &mut C,
        dialect: &'static str,
        step: &str,
        sql: &str,
        transactional: bool,
    ) -> Step<()> {
        self.ctx.interrupt.check(Stop::default)?;
        let result = if transactional {
            conn.transaction(|c| c.batch_execute(sql))
        } else {
            conn.batch_execute(sql)
        };
        result.map_err(|e| {
            if let Err(interrupted) = self.ctx.interrupt.check(Stop::default) {
                return Stopped::Error(interrupted);
            }
            failed(dialect, step, vec![e.to_string()])
        })
    }

    /// After `up.sql`, the PostgreSQL database is what `schema.rs` declares.
    fn check_target(&self, pg: &mut Session<PgConnection>, step: &str) -> Step<()> {
        let now = inspect(pg.connection()).map_err(Error::from)?;
        let left: Vec<String> = differences(self.target, &now)
            .iter()
            .map(Difference::to_string)
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        Err(failed(PG, &format!("check --schema after {step}"), left))
    }

    /// After `up.sql`, SQLite has the tables, columns, nullability and keys PostgreSQL has.
    fn check_dialects_agree(
        &self,
        pg: &mut Session<PgConnection>,
        lite: &mut LiteSide,
        step: &str,
    ) -> Step<()> {
        let read = |e| Error::query("cannot read the tables of a scratch database", e);
        let pg_tables = crate::catalog::structure_pg(pg.connection()).map_err(read)?;
        let lite_tables =
            crate::catalog::structure_sqlite(lite.session.connection()).map_err(read)?;
        let left = pg_tables.differences(&lite_tables);
        if left.is_empty() {
            return Ok(());
        }
        Err(failed(LITE, &format!("tables after {step}"), left))
    }

    /// After `down.sql`, the catalog is the one before `up.sql`.
    fn check_restored<D: Driver>(
        &self,
        session: &mut Session<D>,
        dialect: &'static str,
        before: &CatalogSnapshot,
        keeps_positions: bool,
    ) -> Step<()> {
        let after = self.snapshot(session, dialect)?;
        let left = if keeps_positions {
            before.differences(&after)
        } else {
            before
                .without_column_positions()
                .differences(&after.without_column_positions())
        };
        if left.is_empty() {
            return Ok(());
        }
        Err(failed(dialect, "catalog after down.sql", left))
    }

    fn snapshot<D: Driver>(
        &self,
        session: &mut Session<D>,
        dialect: &'static str,
    ) -> Step<CatalogSnapshot> {
        session.connection().catalog().map_err(|e| {
            Stopped::Error(Error::query(
                format!("cannot read the catalog of the {dialect} scratch database"),
                e,
            ))
        })
    }
}

fn failed(dialect: &'static str, step: &str, details: Vec<String>) -> Stopped {
    Stopped::Failed(ProofFailure {
        dialect,
        step: step.to_owned(),
        details,
    })
}

/// Writes the proved migrations: one directory name in each dialect's directory.
fn write(
    message: &str,
    pg: (&Path, &Migration),
    lite: Option<(&LiteSide, &MigrationSet)>,
) -> Result<Vec<PathBuf>> {
    let mut dirs = vec![pg.0.to_path_buf()];
    let mut sqlite_dir = None;
    if let Some((side, set)) = lite {
        let dir = written_dir(set)?;
        dirs.push(dir.to_path_buf());
        sqlite_dir = Some((dir.to_path_buf(), &side.migration));
    }
    revision::create_with(&dirs, message, chrono::Utc::now(), |dir| {
        let migration = match &sqlite_dir {
            Some((lite_dir, migration)) if lite_dir == dir => migration,
            _ => pg.1,
        };
        NewMigration {
            up_sql: migration.up_sql.clone(),
            down_sql: migration.down_sql.clone(),
            metadata: (!migration.run_in_transaction)
                .then(|| "# SQLite table rebuild: its own BEGIN/COMMIT around PRAGMA foreign_keys=OFF.\nrun_in_transaction = false\n".to_owned()),
        }
    })
}
