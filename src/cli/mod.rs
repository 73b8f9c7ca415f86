//! The `haven-migrate` binary: parse the command line, call the library
//! ([`haven_schema::migrate::run`]), render the outcome, exit with its code.

mod args;
mod output;
mod progress;
mod render;
mod report;
mod signals;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use haven_schema::migrate::{self, Context, Outcome, Work};
use haven_schema::pool::PoolOptions;
use haven_schema::source::locate::{self, LocateOptions};
use haven_schema::source::Origin;
use haven_schema::url::{Backend, DatabaseUrl};
use haven_schema::Error;

use args::{Cli, Command, Format, GlobalArgs};
use output::{Output, ScriptOut};
use progress::StepPrinter;
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
    signals::settle();
    let Some(why) = output::stdout_failure() else {
        return ExitCode::from(code);
    };
    output::to_stderr(&format!(
        "error: cannot write the output to stdout: {why}; the command's work (if any) was \
         done, but its report was lost"
    ));
    ExitCode::from(if code == 0 { 1 } else { code })
}

/// Parse, call, render: the whole of an invocation but its usage errors.
fn run_and_report(cli: &Cli) -> u8 {
    let out = Output {
        format: cli.global.format,
        quiet: cli.global.quiet,
        verbose: cli.global.verbose,
    };
    if let Command::Completions(args) = &cli.command {
        return completions(args.shell);
    }
    let started = Instant::now();
    let report = match call(cli, out) {
        Ok((outcome, sql)) => {
            let mut report = Report::of_outcome(outcome, millis(started.elapsed()));
            match sql {
                Some(text) => report.sql = Some(text),
                None => report.printed |= report.kind.is_some() && is_script(cli),
            }
            report
        }
        Err(err) => {
            let message = output::safe(&err.to_string());
            let report = Report::of_error(cli.command.kind(), &err, message.clone());
            out.error(&report, &message);
            return report.exit;
        }
    };
    out.report(&report);
    report.exit
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Whether the command prints a `--sql` script (to stdout, as it is rendered, in text).
fn is_script(cli: &Cli) -> bool {
    match &cli.command {
        Command::Upgrade(a) => a.sql,
        Command::Downgrade(a) => a.sql,
        Command::Stamp(a) => a.sql,
        _ => false,
    }
}

/// Builds the context and the request, and runs it. With `--sql` in JSON, the script is
/// returned to go into the object; in text it went to stdout as it was rendered.
fn call(cli: &Cli, out: Output) -> haven_schema::Result<(Outcome, Option<String>)> {
    let ctx = context(cli, out)?;
    let json = out.format == Format::Json;
    let mut buffer = Vec::new();
    let mut stdout = ScriptOut::new();
    let sink: &mut dyn Write = if json { &mut buffer } else { &mut stdout };
    let schema_file = match cli.command.compares_schema() {
        true => Some(locate::schema_file(&locate_options(
            &cli.global,
            ctx.url.backend(),
        )?)?),
        false => None,
    };
    let every_row = json || cli.global.verbose;
    let Some(request) = cli.command.request(sink, schema_file, every_row)? else {
        return Err(Error::BadInput("this command takes no database".into()));
    };
    let outcome = migrate::run(&ctx, request, &mut StepPrinter::new(out))?;
    if let (
        Work::Written {
            backup: Some(dump), ..
        },
        Command::Upgrade(a),
    ) = (&outcome.work, &cli.command)
    {
        let file = a
            .backup
            .as_deref()
            .unwrap_or(std::path::Path::new("?"))
            .display();
        out.debug(&format!("backup {file} written by {}", dump.describe()));
    }
    let sql = (json && is_script(cli)).then(|| String::from_utf8_lossy(&buffer).into_owned());
    Ok((outcome, sql))
}

/// The context of a command: the URL (announcing the SQLite default), where the migrations
/// are, the limits, and the signal handler's interrupt.
fn context(cli: &Cli, out: Output) -> haven_schema::Result<Context> {
    let global = &cli.global;
    let announce = !matches!(cli.command, Command::Revision(_));
    let url = url_from(global, out, announce)?;
    let origin = origin_for(global, url.backend())?;
    out.debug(&format!("database: {url} ({})", url.backend()));
    out.debug(&format!("migrations: {origin}"));
    // A scratch PostgreSQL database must be dropped however the command ends.
    let on_postgres = url.backend() == Backend::Postgres || cli.command.compares_schema();
    let graceful = cli.command.runs_migrations() && on_postgres;
    let mode = if graceful {
        signals::Mode::Graceful
    } else {
        signals::Mode::Immediate
    };
    let name = cli.command.kind().map_or("usage", |k| k.name());
    let interrupt = signals::install(mode, out, name);
    Ok(Context {
        url,
        origin,
        lock_timeout: Duration::from_secs(global.lock_timeout),
        pool: PoolOptions {
            pooler: global.pooler.into(),
            ..PoolOptions::default()
        },
        interrupt,
    })
}

/// `completions SHELL`: rendered into a buffer, then out under the write rule
/// (clap_complete panics when its writer fails: a closed pipe, a full disk).
fn completions(shell: clap_complete::Shell) -> u8 {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "haven-migrate", &mut script);
    output::to_stdout(&script);
    0
}

fn url_from(global: &GlobalArgs, out: Output, announce: bool) -> haven_schema::Result<DatabaseUrl> {
    match &global.database_url {
        Some(raw) => DatabaseUrl::parse(raw),
        None => {
            if announce {
                out.note(&format!(
                    "note: no DATABASE_URL (flag, environment or .env); using the embedded \
                     SQLite default {DEFAULT_SQLITE}"
                ));
            }
            DatabaseUrl::parse(DEFAULT_SQLITE)
        }
    }
}

fn origin_for(global: &GlobalArgs, backend: Backend) -> haven_schema::Result<Origin> {
    locate::locate(&locate_options(global, backend)?)
}

/// Where to look for migrations and diesel.toml, as the diesel CLI looks.
fn locate_options(global: &GlobalArgs, backend: Backend) -> haven_schema::Result<LocateOptions> {
    let working_dir = std::env::current_dir().map_err(|e| Error::Io {
        action: "cannot read the working directory",
        path: ".".into(),
        source: e,
    })?;
    Ok(LocateOptions {
        explicit_dir: global.migration_dir.clone(),
        config_file: std::env::var_os("DIESEL_CONFIG_FILE").map(Into::into),
        working_dir,
        backend,
    })
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
