//! The command line, as clap derive types. The `///` comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use haven_schema::migrate::{Backup, Mode, Request, SchemaSources, UpgradeOptions};
use haven_schema::plan::StampRules;
use haven_schema::url::DatabaseUrl;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  operational failure: connection, SQL error, lock timeout, failed backup
  2  bad input: usage, unknown or ambiguous revision, malformed migration directory,
     a target that does not apply
  3  check: migrations are pending (and nothing worse)
  4  integrity problem: an edited or missing applied migration, an out-of-order pending
     migration, an interrupted (dirty) non-transactional migration, a verify failure,
     schema.rs differing from the migrations (check --schema), a generated migration
     that failed its proof (revision --autogenerate)

Revisions (REV): a full version (20260101000002), a unique version prefix (leading digits
that match one version only), or a migration name (aurora_integration_tables). Relative
targets: +N, -N; and head, base.

Examples:
  haven-migrate upgrade head                      apply everything pending
  haven-migrate current --verbose                 where is the database?
  haven-migrate history -r base:head              every migration, applied or not
  haven-migrate downgrade -1                      revert the newest migration
  haven-migrate upgrade base:head --sql > all.sql dry-run SQL, no database needed
  haven-migrate stamp head                        record without running SQL (repair)
  haven-migrate check && echo up to date          for deploy scripts
  haven-migrate check --schema                    is schema.rs what the migrations produce?
  haven-migrate revision -m \"add badges\" --autogenerate
                                                  write the migration from an edited schema.rs";

/// The longest `--lock-timeout`: PostgreSQL's longest `lock_timeout` (2^31 - 1 ms, about
/// 24 days). Longer waits overflowed the clock and panicked.
pub const MAX_LOCK_TIMEOUT: u64 = i32::MAX as u64 / 1000;

/// Alembic-style migrations for the HAVEN Token database, on Diesel.
///
/// haven-migrate reads and writes diesel's own `__diesel_schema_migrations` table, so it
/// and the diesel CLI always agree. It adds what the diesel CLI lacks: current, history,
/// targeted upgrade and downgrade, stamp, dry-run SQL, checksums, integrity checks and a
/// lock that makes concurrent deploys wait for each other.
#[derive(Debug, Parser)]
#[command(name = "haven-migrate", version, after_long_help = EXIT_CODES, after_help = "Exit codes: 0 ok, 1 failure, 2 bad input, 3 pending (check), 4 integrity. See --help.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options that every command takes, before or after its name.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Database URL: postgres://USER:PASSWORD@HOST:PORT/DB (libpq parameters such as
    /// ?sslmode=require pass through), or a SQLite path (sqlite://PATH, sqlite:PATH,
    /// file:PATH, or a plain path). Also read from DATABASE_URL and from .env. With none
    /// set, the embedded SQLite default ./haven.db is used.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,

    /// Directory of migrations (one <timestamp>_<name>/ per migration). Default: the
    /// [migrations_directory] of diesel.toml (the sibling for the URL's backend), else the
    /// migrations embedded in this binary.
    #[arg(
        long,
        global = true,
        env = "MIGRATION_DIRECTORY",
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub migration_dir: Option<PathBuf>,

    /// Output format: text for people, json for scripts (one object on stdout, also on
    /// failure).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Seconds to wait for the migration lock held by another deploy before failing.
    #[arg(
        long,
        global = true,
        default_value_t = 60,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(..=MAX_LOCK_TIMEOUT)
    )]
    pub lock_timeout: u64,

    /// What stands between haven-migrate and a PostgreSQL server. auto: find out (with a
    /// second, short connection); none: a direct connection; session or transaction: a
    /// pooler such as PgBouncer in that pool_mode. Through a transaction pooler the
    /// migration lock is taken in each migration's transaction, and non-transactional
    /// migrations are refused.
    #[arg(long, global = true, value_enum, default_value_t = PoolerArg::Auto, value_name = "MODE")]
    pub pooler: PoolerArg,

    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail: where migrations come from, timings, paths, debug logs (stderr).
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// `--pooler` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PoolerArg {
    /// Probe the connection.
    Auto,
    /// A direct connection.
    None,
    /// A session-pooling proxy.
    Session,
    /// A transaction-pooling proxy.
    Transaction,
}

impl From<PoolerArg> for haven_schema::pool::Pooler {
    fn from(arg: PoolerArg) -> Self {
        use haven_schema::pool::Pooler;
        match arg {
            PoolerArg::Auto => Pooler::Auto,
            PoolerArg::None => Pooler::None,
            PoolerArg::Session => Pooler::Session,
            PoolerArg::Transaction => Pooler::Transaction,
        }
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// One JSON object per invocation.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the newest applied migration and whether the database is at head.
    Current,
    /// List every migration, from disk and from the database: version, name, applied or
    /// pending, run_on, and the head/current markers.
    History(HistoryArgs),
    /// Apply pending migrations, each in its own transaction with its bookkeeping row.
    Upgrade(UpgradeArgs),
    /// Revert applied migrations, newest first.
    Downgrade(DowngradeArgs),
    /// Record migrations as applied or not, without running their SQL (the repair tool).
    Stamp(StampArgs),
    /// Create a new migration in every backend directory (postgres and sqlite): empty, or
    /// with --autogenerate written from the changes made to schema.rs.
    Revision(RevisionArgs),
    /// Exit 0 when the database is at head and consistent, 3 when migrations are pending,
    /// 4 on an integrity problem. With --schema: whether schema.rs is what the migrations
    /// produce.
    Check(CheckArgs),
    /// In a scratch database, run up, down, up for every migration and compare the catalog,
    /// to prove each down.sql restores the state before its up.sql.
    Verify,
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// `history` options.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only versions in START:END (inclusive; revisions, base or head; either side may be
    /// empty).
    #[arg(
        short = 'r',
        long = "rev-range",
        value_name = "START:END",
        allow_hyphen_values = true
    )]
    pub range: Option<String>,
}

/// `upgrade` options.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// head (default), +N, or a revision; with --sql also FROM:TO (offline, e.g. base:head).
    #[arg(default_value = "head", value_name = "TARGET")]
    pub target: String,
    /// Print the SQL script instead of running it (psql -v ON_ERROR_STOP=1 -f, or sqlite3).
    #[arg(long, conflicts_with = "dry_run")]
    pub sql: bool,
    /// Print the plan (ordered steps and transaction modes) without SQL, writing nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also apply pending migrations older than the newest applied one.
    #[arg(long)]
    pub allow_out_of_order: bool,
    /// Commit all pending migrations together, or none (PostgreSQL).
    #[arg(long)]
    pub single_transaction: bool,
    /// Run pg_dump to FILE first and abort, with nothing applied, if it fails (PostgreSQL).
    #[arg(long, value_name = "FILE")]
    pub backup: Option<PathBuf>,
    /// The pg_dump for --backup. Default: the first of the server's major version on PATH,
    /// then in /usr/lib/postgresql/<major>/bin, else the closest newer one.
    #[arg(long, value_name = "PATH", requires = "backup")]
    pub pg_dump: Option<PathBuf>,
}

/// `downgrade` options.
#[derive(Debug, Args)]
pub struct DowngradeArgs {
    /// -N, base, or a revision that stays applied; with --sql also FROM:TO (e.g. head:base).
    #[arg(value_name = "TARGET", allow_hyphen_values = true)]
    pub target: String,
    /// Print the SQL script instead of running it.
    #[arg(long)]
    pub sql: bool,
}

/// `stamp` options.
#[derive(Debug, Args)]
pub struct StampArgs {
    /// head, base, a revision, +N or -N: the recorded set becomes everything up to it.
    #[arg(value_name = "TARGET", allow_hyphen_values = true)]
    pub target: String,
    /// Also delete records of versions that no migration has.
    #[arg(long)]
    pub purge: bool,
    /// Re-record the checksums of applied migrations whose up.sql was edited on purpose.
    #[arg(long)]
    pub rehash: bool,
    /// Print the SQL script instead of running it.
    #[arg(long)]
    pub sql: bool,
}

/// `check` options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Instead of the database's state: compare schema.rs (the [print_schema] file of
    /// diesel.toml) with the schema the PostgreSQL migrations produce, replayed into a
    /// scratch database; exit 4 listing each difference (table, column, expected, actual).
    #[arg(long)]
    pub schema: bool,
    /// The PostgreSQL server of the scratch database (default: the database URL's). The
    /// role needs CREATEDB; the scratch database is always dropped.
    #[arg(long, value_name = "URL", requires = "schema")]
    pub scratch_url: Option<String>,
}

/// `revision` options.
#[derive(Debug, Args)]
pub struct RevisionArgs {
    /// What the migration does; becomes the directory name (e.g. "add staking index").
    #[arg(short, long, value_name = "MESSAGE")]
    pub message: String,
    /// Write the SQL too: the migration that makes the migrations produce schema.rs, for
    /// PostgreSQL and SQLite, proved in scratch databases (up, compare, down, compare, up)
    /// before anything is written. Edit schema.rs first; "no changes" when they agree.
    #[arg(long)]
    pub autogenerate: bool,
    /// The PostgreSQL server of the scratch database (default: the database URL's). The
    /// role needs CREATEDB; the scratch database is always dropped.
    #[arg(long, value_name = "URL", requires = "autogenerate")]
    pub scratch_url: Option<String>,
}

/// `completions` options.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl Command {
    /// The library's name of the command (`None` for `completions`, which is the binary's).
    pub fn kind(&self) -> Option<haven_schema::migrate::Command> {
        use haven_schema::migrate::Command as C;
        Some(match self {
            Command::Current => C::Current,
            Command::History(_) => C::History,
            Command::Upgrade(_) => C::Upgrade,
            Command::Downgrade(_) => C::Downgrade,
            Command::Stamp(_) => C::Stamp,
            Command::Revision(_) => C::Revision,
            Command::Check(_) => C::Check,
            Command::Verify => C::Verify,
            Command::Completions(_) => return None,
        })
    }

    /// Whether the command compares schema.rs with the migrations, in a scratch PostgreSQL
    /// database (`check --schema`, `revision --autogenerate`).
    pub fn compares_schema(&self) -> bool {
        match self {
            Command::Check(a) => a.schema,
            Command::Revision(a) => a.autogenerate,
            _ => false,
        }
    }

    /// `--scratch-url`, parsed.
    fn scratch_url(&self) -> haven_schema::Result<Option<DatabaseUrl>> {
        let raw = match self {
            Command::Check(a) => &a.scratch_url,
            Command::Revision(a) => &a.scratch_url,
            _ => &None,
        };
        raw.as_deref().map(DatabaseUrl::parse).transpose()
    }

    /// The request of this command line; a `--sql` script goes to `sql`; `schema_file` is
    /// the schema.rs of the commands that compare it; `every_row`: the output shows a row
    /// per migration (JSON, or `current --verbose`'s run-on time).
    pub fn request<'o>(
        &self,
        sql: &'o mut dyn std::io::Write,
        schema_file: Option<PathBuf>,
        every_row: bool,
    ) -> haven_schema::Result<Option<Request<'o>>> {
        if let Some(schema_file) = schema_file.filter(|_| self.compares_schema()) {
            let sources = SchemaSources {
                schema_file,
                scratch: self.scratch_url()?,
            };
            return Ok(Some(match self {
                Command::Revision(a) => Request::Autogenerate {
                    message: a.message.clone(),
                    sources,
                },
                _ => Request::CheckSchema(sources),
            }));
        }
        let (print_sql, dry_run) = match self {
            Command::Upgrade(a) => (a.sql, a.dry_run),
            Command::Downgrade(DowngradeArgs { sql, .. })
            | Command::Stamp(StampArgs { sql, .. }) => (*sql, false),
            _ => (false, false),
        };
        let mode = match (print_sql, dry_run) {
            (true, _) => Mode::Sql(sql),
            (false, true) => Mode::DryRun,
            (false, false) => Mode::Run,
        };
        let request = match self {
            Command::Current => Request::Current { rows: every_row },
            Command::History(a) => Request::History {
                range: a.range.clone(),
            },
            Command::Check(_) => Request::Check,
            Command::Verify => Request::Verify,
            Command::Revision(a) => Request::Revision {
                message: a.message.clone(),
            },
            Command::Upgrade(a) => Request::Upgrade {
                target: a.target.clone(),
                options: UpgradeOptions {
                    allow_out_of_order: a.allow_out_of_order,
                    single_transaction: a.single_transaction,
                },
                backup: a.backup.clone().map(|file| Backup {
                    file,
                    pg_dump: a.pg_dump.clone(),
                }),
                mode,
            },
            Command::Downgrade(a) => Request::Downgrade {
                target: a.target.clone(),
                mode,
            },
            Command::Stamp(a) => Request::Stamp {
                target: a.target.clone(),
                rules: StampRules {
                    purge: a.purge,
                    rehash: a.rehash,
                },
                mode,
            },
            Command::Completions(_) => return Ok(None),
        };
        Ok(Some(request))
    }

    /// Whether a signal must let it stop cleanly (cancel, roll back, unlock): it runs
    /// migrations on a server (a write command, `verify`).
    pub fn runs_migrations(&self) -> bool {
        match self {
            Command::Upgrade(a) => !a.sql && !a.dry_run,
            Command::Downgrade(a) => !a.sql,
            Command::Stamp(a) => !a.sql,
            Command::Verify => true,
            _ => self.compares_schema(),
        }
    }
}
