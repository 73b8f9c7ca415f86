//! The `haven-migrate` binary: parse the command line, build the context (URL, migrations,
//! limits), run the command, print the report, and map errors to exit codes.

mod args;
mod commands;
mod output;
mod report;
mod signals;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use haven_schema::migrate::{self, Context};
use haven_schema::pool::PoolOptions;
use haven_schema::source::locate::{self, LocateOptions};
use haven_schema::source::{MigrationSet, Origin, Preload};
use haven_schema::state::DbState;
use haven_schema::url::{Backend, DatabaseUrl};
use haven_schema::{Error, ErrorClass};

use args::{Cli, Command, Format, GlobalArgs};
use output::Output;
use report::{ErrorInfo, Report};

/// The SQLite database used when no URL is given anywhere.
const DEFAULT_SQLITE: &str = "./haven.db";

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // .env fills DATABASE_URL and MIGRATION_DIRECTORY before clap reads the environment.
    let _ = dotenvy::dotenv();
    output::keep_secret(invocation_secrets());
    let code = match Cli::try_parse() {
        Ok(cli) => run_and_report(&cli),
        Err(err) => usage_error(err),
    };
    exit_after_output(code)
}

/// Every secret the command line and `DATABASE_URL` hold, wherever they are: a URL given by
/// mistake as another argument is echoed back by a usage error, and must not show either.
fn invocation_secrets() -> haven_schema::url::Secrets {
    let mut secrets = haven_schema::url::Secrets::new();
    let env_url = std::env::var_os("DATABASE_URL");
    for arg in std::env::args_os().skip(1).chain(env_url) {
        let arg = arg.to_string_lossy();
        secrets.add_argument(&arg);
        // `--database-url=URL`
        if let Some((_, value)) = arg.strip_prefix("--").and_then(|a| a.split_once('=')) {
            secrets.add_argument(value);
        }
    }
    secrets
}

/// The exit code, unless stdout could not be written: then 1 (or the code of the error
/// already reported), and stderr says why.
fn exit_after_output(code: u8) -> ExitCode {
    let Some(why) = output::stdout_failure() else {
        return ExitCode::from(code);
    };
    output::to_stderr(&format!(
        "error: cannot write the output to stdout: {why}; the command's work (if any) was \
         done, but its report was lost"
    ));
    ExitCode::from(if code == 0 { 1 } else { code })
}

fn run_and_report(cli: &Cli) -> u8 {
    let out = Output {
        format: cli.global.format,
        quiet: cli.global.quiet,
        verbose: cli.global.verbose,
    };
    let name = command_name(&cli.command);
    match run(cli, out) {
        Ok(report) => {
            out.report(&report);
            report.exit
        }
        Err((err, scrub)) => {
            let message = output::safe(&scrub(&err.to_string()));
            let report = Report {
                ok: false,
                error: Some(ErrorInfo {
                    kind: err.kind().to_owned(),
                    message: message.clone(),
                }),
                exit: exit_code(&err),
                problems: match &err {
                    Error::Integrity { problems } => problems.clone(),
                    _ => Vec::new(),
                },
                stop: match &err {
                    Error::MigrationFailed { stop, .. } | Error::Interrupted { stop, .. } => {
                        Some((**stop).clone())
                    }
                    _ => None,
                },
                ..Report::new(name)
            };
            out.error(&report, &message);
            report.exit
        }
    }
}

type Scrubber = Box<dyn Fn(&str) -> String>;

fn run(cli: &Cli, out: Output) -> Result<Report, (Error, Scrubber)> {
    let no_scrub = |e: Error| -> (Error, Scrubber) { (e, Box::new(|s: &str| s.to_owned())) };
    match &cli.command {
        Command::Completions(args) => {
            // Into a buffer, then out under the write rule: clap_complete panics when its
            // writer fails (a closed pipe, a full disk).
            let mut script = Vec::new();
            clap_complete::generate(
                args.shell,
                &mut Cli::command(),
                "haven-migrate",
                &mut script,
            );
            output::to_stdout(&script);
            return Ok(Report {
                printed: true,
                ..Report::new("completions")
            });
        }
        Command::Revision(args) => {
            let backend = url_from(&cli.global, out, false)
                .map_err(no_scrub)?
                .backend();
            let origin = origin_for(&cli.global, backend).map_err(no_scrub)?;
            return commands::revision(&args.message, &origin).map_err(no_scrub);
        }
        _ => {}
    }
    let url = url_from(&cli.global, out, true).map_err(no_scrub)?;
    let scrub_url = url.clone();
    let scrub =
        move |e: Error| -> (Error, Scrubber) { (e, Box::new(move |s: &str| scrub_url.scrub(s))) };
    let mode = signal_mode(&cli.command, url.backend());
    let interrupt = signals::install(mode, out, command_name(&cli.command));
    let (mut ctx, recorded) =
        context(&cli.global, url, &cli.command, out).map_err(scrub.clone())?;
    ctx.interrupt = interrupt;
    let mut out = out;
    commands::run(&cli.command, &ctx, recorded, &mut out).map_err(scrub)
}

fn url_from(global: &GlobalArgs, out: Output, announce: bool) -> haven_schema::Result<DatabaseUrl> {
    match &global.database_url {
        Some(raw) => DatabaseUrl::parse(raw),
        None => {
            if announce {
                out.note(&format!(
                    "note: no DATABASE_URL (flag, environment or .env); using the embedded SQLite default {DEFAULT_SQLITE}"
                ));
            }
            DatabaseUrl::parse(DEFAULT_SQLITE)
        }
    }
}

fn origin_for(global: &GlobalArgs, backend: Backend) -> haven_schema::Result<Origin> {
    let working_dir = std::env::current_dir().map_err(|e| Error::Io {
        action: "cannot read the working directory",
        path: ".".into(),
        source: e,
    })?;
    locate::locate(&LocateOptions {
        explicit_dir: global.migration_dir.clone(),
        config_file: std::env::var_os("DIESEL_CONFIG_FILE").map(Into::into),
        working_dir,
        backend,
    })
}

/// `current` needs only versions and names: one listing of the migration directory. Every
/// other command reads every `up.sql` (to run it, render it, or compare checksums), best
/// done in the pass that lists them.
fn preload_for(command: &Command) -> Preload {
    match command {
        Command::Current => Preload::Names,
        _ => Preload::UpSql,
    }
}

/// The context of a command, and for the status commands the database's recorded state,
/// read at the same time as the migration directory: they then wait for the slower of the
/// two rather than for both.
fn context(
    global: &GlobalArgs,
    url: DatabaseUrl,
    command: &Command,
    out: Output,
) -> haven_schema::Result<(Context, Option<DbState>)> {
    let origin = origin_for(global, url.backend())?;
    out.debug(&format!("database: {url} ({})", url.backend()));
    out.debug(&format!("migrations: {origin}"));
    let preload = preload_for(command);
    let pool = PoolOptions {
        pooler: global.pooler.into(),
        ..PoolOptions::default()
    };
    let (set, recorded) = match read_only_checksums(command) {
        None => (MigrationSet::read_with(origin, preload)?, None),
        Some(checksums) => std::thread::scope(|scope| {
            let set = scope.spawn(|| MigrationSet::read_with(origin, preload));
            let recorded = migrate::read_recorded(&url, &pool, checksums);
            let set = set
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            // A broken migration directory is reported before a database error, as when
            // the two are read one after the other.
            Ok::<_, Error>((set?, Some(recorded?)))
        })?,
    };
    let ctx = Context {
        url,
        set,
        lock_timeout: Duration::from_secs(global.lock_timeout),
        pool,
        interrupt: haven_schema::interrupt::Interrupt::new(),
    };
    Ok((ctx, recorded))
}

/// How a signal stops the command: cleanly where there is server work to cancel and roll
/// back (a PostgreSQL write command, `verify`), at once everywhere else.
fn signal_mode(command: &Command, backend: Backend) -> signals::Mode {
    let writes = match command {
        Command::Upgrade(a) => !a.sql && !a.dry_run,
        Command::Downgrade(a) => !a.sql,
        Command::Stamp(a) => !a.sql,
        Command::Verify => true,
        _ => false,
    };
    if writes && backend == Backend::Postgres {
        signals::Mode::Graceful
    } else {
        signals::Mode::Immediate
    }
}

/// For the read-only status commands, whether they compare checksums; `None` for the others.
fn read_only_checksums(command: &Command) -> Option<bool> {
    match command {
        Command::Current => Some(false),
        Command::History(_) | Command::Check => Some(true),
        _ => None,
    }
}

fn exit_code(err: &Error) -> u8 {
    match err.class() {
        ErrorClass::Operational => 1,
        ErrorClass::BadInput => 2,
        ErrorClass::Integrity => 4,
        ErrorClass::Interrupted(signal) => signal.exit_code(),
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Current => "current",
        Command::History(_) => "history",
        Command::Upgrade(_) => "upgrade",
        Command::Downgrade(_) => "downgrade",
        Command::Stamp(_) => "stamp",
        Command::Revision(_) => "revision",
        Command::Check => "check",
        Command::Verify => "verify",
        Command::Completions(_) => "completions",
    }
}

/// Usage errors exit 2 (help and version exit 0); with `--format json`, as a JSON object.
/// The message is scrubbed: it may echo an argument that holds a password.
fn usage_error(err: clap::Error) -> u8 {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        // clap prints help in colour on a terminal; only its own values are in it.
        let printed = err.print().and_then(|()| std::io::stdout().flush());
        if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            // On stderr, as a usage error: nowhere left to report a failed write.
            return 2;
        }
        output::note_write(printed);
        return 0;
    }
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let json = args
        .windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json");
    if json {
        let report = Report {
            ok: false,
            error: Some(ErrorInfo {
                kind: "usage".into(),
                message: output::safe(&usage_message(&err)),
            }),
            exit: 2,
            ..Report::new("usage")
        };
        Output {
            format: Format::Json,
            quiet: false,
            verbose: false,
        }
        .report(&report);
    }
    let text = output::safe(&err.render().to_string());
    output::to_stderr(text.trim_end());
    2
}

/// clap's message without its usage and help hint, on one line: what was wrong, and with what
/// (`unexpected argument '--bogus' found`), not only the kind of error.
fn usage_message(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let body = text.split("\n\nUsage:").next().unwrap_or(text);
    body.split("\n\n")
        .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|paragraph| !paragraph.is_empty() && !paragraph.starts_with("For more information"))
        .collect::<Vec<_>>()
        .join("; ")
}
