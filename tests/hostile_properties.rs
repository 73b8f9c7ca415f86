//! Property tests for hostile input (issue 11), so that the next class of bug is found by a
//! test rather than by a user:
//! - **secrets**: generated passwords (every printable ASCII character, some non-ASCII, and
//!   a marker), placed raw and percent-encoded into URLs, against an unreachable server and
//!   the harness's real one: no output shows the password or its marker;
//! - **no panics**: generated argument lists: the exit code is 0 to 4, never a panic;
//! - **SQLite URL round trip**: generated file names: the file opened, the lock file and the
//!   path reported agree.
//!
//! Case counts are capped so that each property runs in seconds (CI has 2 cores); a failure
//! prints the smallest failing input. Nothing is written to the checkout.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use support::{haven, run, run_std, workdir, Run};

/// Every generated password holds it, so that a leak of any part of it that holds the
/// marker, in any encoding (it is alphanumeric), is found.
const MARKER: &str = "Qx7Mk";

/// `cases` cases, or `PROPTEST_CASES` (proptest's own variable) for a deeper search.
fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        // A failure prints the minimal input; no regression files in the checkout.
        failure_persistence: None,
        ..Config::default()
    }
}

/// What every run must satisfy: an exit code of 0 to 4, no panic, and no password.
fn assert_safe(run: &Run, args: &[&str], secrets: &[&str]) -> Result<(), TestCaseError> {
    let all = run.all();
    prop_assert!(
        (0..=4).contains(&run.code),
        "exit {} for {args:?}\n{all}",
        run.code
    );
    prop_assert!(!all.contains("panicked"), "{args:?}\n{all}");
    for secret in secrets {
        prop_assert!(
            !all.contains(secret),
            "`{secret}` printed for {args:?}\n{all}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- secrets

/// Printable ASCII, every character of it, and some non-ASCII ones.
fn password_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => (0x20u8..=0x7e).prop_map(char::from),
        1 => prop::sample::select(vec!['é', 'ß', '€', '日', '😀', 'Ω', '\u{a0}']),
    ]
}

/// At least 9 bytes: some characters, the marker, maybe more characters.
fn password() -> impl Strategy<Value = String> {
    let part = |range| prop::collection::vec(password_char(), range);
    (part(4..12), part(0..6)).prop_map(|(a, b)| {
        format!(
            "{}{MARKER}{}",
            a.into_iter().collect::<String>(),
            b.into_iter().collect::<String>()
        )
    })
}

/// Where the password goes in the URL.
#[derive(Debug, Clone, Copy)]
enum Placement {
    /// `user:PASSWORD@`, as written.
    Raw,
    /// `user:%XX...@`.
    Encoded,
    /// `?password=%XX...`.
    Query,
}

fn placement() -> impl Strategy<Value = Placement> {
    prop_oneof![
        Just(Placement::Raw),
        Just(Placement::Encoded),
        Just(Placement::Query)
    ]
}

/// Every byte but ASCII letters and digits as `%XX` (written here, not taken from the code
/// under test).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `postgres://user:PASSWORD@rest`, with the password placed as `placement` says; `rest`
/// is `host:port/db` or `/db?host=...`.
fn url_with(user: &str, password: &str, placement: Placement, rest: &str) -> String {
    match placement {
        Placement::Raw => format!("postgres://{user}:{password}@{rest}"),
        Placement::Encoded => format!("postgres://{user}:{}@{rest}", encode(password)),
        Placement::Query => {
            let sep = if rest.contains('?') { '&' } else { '?' };
            format!("postgres://{user}@{rest}{sep}password={}", encode(password))
        }
    }
}

/// The exit codes a URL whose connection gets `connected` may get. Written raw in the user
/// information, a password with `@` or `/` (which end it early) or a space is refused
/// (2); one with `%` is refused when that is no `%XX` escape, and otherwise decoded, so
/// libpq logs in with another password (1).
fn expected_codes(password: &str, placement: Placement, connected: i32) -> Vec<i32> {
    let refused = password
        .chars()
        .any(|c| matches!(c, '@' | '/') || c.is_whitespace() || c.is_control());
    match placement {
        Placement::Raw if refused => vec![2],
        Placement::Raw if password.contains('%') => vec![1, 2],
        _ => vec![connected],
    }
}

/// Runs `haven-migrate --database-url URL ARGS` in `cwd`, and checks it.
fn run_checked(
    cwd: &Path,
    url: &str,
    args: &[&str],
    codes: &[i32],
    secrets: &[&str],
) -> Result<Run, TestCaseError> {
    let run = run(haven(cwd).arg("--database-url").arg(url).args(args));
    assert_safe(&run, args, secrets)?;
    prop_assert!(
        codes.contains(&run.code),
        "exit {} (expected {:?}) for {:?} with {}\n{}",
        run.code,
        codes,
        args,
        placement_note(url),
        run.all()
    );
    if args.contains(&"json") {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&run.stdout);
        prop_assert!(parsed.is_ok(), "one JSON object: {}", run.stdout);
    }
    Ok(run)
}

fn placement_note(url: &str) -> &'static str {
    if url.contains("password=") {
        "the password in the query"
    } else {
        "the password in the user information"
    }
}

/// The commands and output modes each password is tried with.
const MODES: [&[&str]; 3] = [
    &["-v", "current"],
    &["--format", "json", "check"],
    &["upgrade"],
];

fn unreachable_case(password: &str, placement: Placement) -> Result<(), TestCaseError> {
    let cwd = workdir();
    // Port 1 on localhost: nothing listens, the connection is refused at once.
    let url = url_with("deployer", password, placement, "127.0.0.1:1/haven");
    for args in MODES {
        let codes = expected_codes(password, placement, 1);
        run_checked(cwd.path(), &url, args, &codes, &[password, MARKER])?;
    }
    Ok(())
}

/// The harness's database, on which the roles of the reachable cases log in; they may not
/// create anything in it, so that `upgrade` fails with the right password too.
fn reachable_db() -> support::PgTestDb {
    let db = support::pg_database();
    db.psql("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
    db
}

fn reachable_case(
    db: &support::PgTestDb,
    password: &str,
    placement: Placement,
) -> Result<(), TestCaseError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let role = format!(
        "haven_pw_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    db.psql(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{}'",
        password.replace('\'', "''")
    ));
    let result = reachable_runs(db, &role, password, placement);
    db.psql(&format!("DROP ROLE {role}"));
    result
}

fn reachable_runs(
    db: &support::PgTestDb,
    role: &str,
    password: &str,
    placement: Placement,
) -> Result<(), TestCaseError> {
    let cwd = workdir();
    let (_, rest) = db.url.split_once('@').expect("the harness URL has a user");
    let secrets = [password, MARKER, db.password.as_str()];
    let right = url_with(role, password, placement, rest);
    let connected = expected_codes(password, placement, 0);
    run_checked(cwd.path(), &right, &["-v", "current"], &connected, &secrets)?;
    let json = ["--format", "json", "history"];
    run_checked(cwd.path(), &right, &json, &connected, &secrets)?;
    // Logged in, but the role may not create the bookkeeping tables: a database error.
    let failed = expected_codes(password, placement, 1);
    run_checked(cwd.path(), &right, &["-v", "upgrade"], &failed, &secrets)?;
    let wrong_password = format!("{password}-Wr0ng");
    let wrong = url_with(role, &wrong_password, placement, rest);
    let wrong_codes = expected_codes(&wrong_password, placement, 1);
    let run = run_checked(cwd.path(), &wrong, &["check"], &wrong_codes, &secrets)?;
    if run.code == 1 && db.checks_passwords() {
        prop_assert!(
            run.stderr.contains("password authentication failed"),
            "{}",
            run.stderr
        );
    }
    Ok(())
}

/// A password with every printable ASCII character, for each placement, unreachable and
/// reachable: the cases that a capped random sample could miss.
#[test]
fn a_password_with_every_printable_character_is_never_printed() {
    let printable: String = (0x20u8..=0x7e).map(char::from).collect();
    let password = format!("{printable}{MARKER}é€日");
    let db = reachable_db();
    for placement in [Placement::Raw, Placement::Encoded, Placement::Query] {
        unreachable_case(&password, placement).unwrap_or_else(|e| panic!("{e}"));
        reachable_case(&db, &password, placement).unwrap_or_else(|e| panic!("{e}"));
    }
    // Without the characters that end a raw password, it logs in as written.
    let raw: String = printable.chars().filter(|c| !"@/% ".contains(*c)).collect();
    let password = format!("{raw}{MARKER}");
    reachable_case(&db, &password, Placement::Raw).unwrap_or_else(|e| panic!("{e}"));
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn no_password_is_printed_for_an_unreachable_server(
        password in password(),
        placement in placement(),
    ) {
        unreachable_case(&password, placement)?;
    }
}

#[test]
fn no_password_is_printed_for_a_real_server() {
    let db = reachable_db();
    let mut runner = TestRunner::new(config(32));
    let result = runner.run(&(password(), placement()), |(password, placement)| {
        reachable_case(&db, &password, placement)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

// ---------------------------------------------------------------- no panics

const SUBCOMMANDS: [&str; 9] = [
    "current",
    "history",
    "upgrade",
    "downgrade",
    "stamp",
    "revision",
    "check",
    "verify",
    "completions",
];

const FLAGS: [&str; 24] = [
    "--sql",
    "--dry-run",
    "--purge",
    "--rehash",
    "--allow-out-of-order",
    "--single-transaction",
    "--backup",
    "-r",
    "--rev-range",
    "-m",
    "--format",
    "json",
    "text",
    "-q",
    "-v",
    "--lock-timeout",
    "--database-url",
    "--migration-dir",
    "--help",
    "--version",
    "bash",
    "zsh",
    "head",
    "base",
];

/// Odd values: empty, huge numbers, sign runs, ranges, unicode, and URLs of every scheme
/// (none reachable, none outside the working directory).
const ODD_VALUES: [&str; 42] = [
    "",
    " ",
    "0",
    "+0",
    "-0",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "-9223372036854775808",
    "+++",
    "---",
    "+-+1",
    "-+-1",
    ":",
    "::",
    "head:base",
    "base:head",
    ":head",
    "20260101000002",
    "2026",
    "aurora_integration_tables",
    "é",
    "日本語",
    "🦀",
    "\u{202e}",
    "a\tb",
    "postgres://u:Pw-Odd@127.0.0.1:1/x",
    "postgres://u:Pw-Odd",
    "postgres://u:Pw-Odd/x",
    "postgresql://",
    "postgres://[::1",
    "postgres://u:a b@127.0.0.1:1/x",
    "postgres:u:pw@h/x",
    "host=127.0.0.1 port=1 password=x",
    "mysql://root:pw@127.0.0.1:1/x",
    "foo://",
    "sqlite://a b.db",
    "sqlite::memory:",
    "file:x.db?mode=ro",
    "file:x#y.db",
    "file:x.db?mode=rw",
    "x.db?cache=shared",
];

fn token() -> impl Strategy<Value = String> {
    let pick = |list: &'static [&'static str]| prop::sample::select(list).prop_map(str::to_owned);
    prop_oneof![
        3 => pick(&SUBCOMMANDS),
        4 => pick(&FLAGS),
        4 => pick(&ODD_VALUES),
        1 => "[+-]{1,5}[0-9]{0,3}",
        1 => "[0-9]{1,30}",
        // Anything but `/` and NUL, and not `..`: no path may leave the working directory.
        2 => "[^/\u{0}]{0,10}".prop_filter("stays in the working directory", |s| s != ".."),
    ]
}

fn argument_list() -> impl Strategy<Value = Vec<String>> {
    (
        prop::option::weighted(0.8, prop::sample::select(&SUBCOMMANDS[..])),
        prop::collection::vec(token(), 0..6),
    )
        .prop_map(|(command, mut rest)| {
            if let Some(command) = command {
                rest.insert(0, command.to_owned());
            }
            rest
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn no_argument_list_makes_it_panic(args in argument_list()) {
        let cwd = workdir();
        let out = run(haven(cwd.path()).args(&args));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_safe(&out, &args, &["Pw-Odd"])?;
    }
}

// ---------------------------------------------------------------- SQLite URL round trip

/// How the database file is named in the URL.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// `file:/abs/p%20ath`.
    FileUri,
    /// `file:///abs/p%20ath`.
    FileUriEmptyHost,
    /// `/abs/path` as it is.
    Plain,
    /// `sqlite:///abs/path`.
    Sqlite,
}

fn form() -> impl Strategy<Value = Form> {
    prop_oneof![
        Just(Form::FileUri),
        Just(Form::FileUriEmptyHost),
        Just(Form::Plain),
        Just(Form::Sqlite)
    ]
}

/// A file name with spaces, `%`, `?`, `#` and non-ASCII letters.
fn file_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 %?#._€é日-]{1,12}".prop_map(|name| format!("{name}.db"))
}

/// The URL that names `path` in `form`. A `?` can only be written escaped, in a `file:`
/// URI: elsewhere it starts the query.
fn sqlite_url(path: &Path, form: Form) -> String {
    let text = path.to_str().expect("a UTF-8 path");
    let escaped = || {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"/._-".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    match form {
        Form::Plain if !text.contains('?') => text.to_owned(),
        Form::Sqlite if !text.contains('?') => format!("sqlite://{text}"),
        Form::FileUriEmptyHost => format!("file://{}", escaped()),
        _ => format!("file:{}", escaped()),
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn one_path_is_opened_locked_and_reported(name in file_name(), form in form()) {
        let cwd = workdir();
        let dir = cwd.path().join("d");
        std::fs::create_dir(&dir).expect("mkdir");
        let path = dir.join(&name);
        let url = sqlite_url(&path, form);
        let upgrade = run(haven(cwd.path()).args(["--database-url", &url, "-v", "upgrade"]));
        assert_safe(&upgrade, &[&url], &[])?;
        prop_assert_eq!(upgrade.code, 0, "{}\n{}", url, upgrade.all());
        let reported = format!("database: {} (SQLite)", path.display());
        prop_assert!(upgrade.stderr.contains(&reported), "{}\n{}", url, upgrade.stderr);
        // The file opened is the file named, and the lock file is beside it: nothing else.
        prop_assert_eq!(
            support::names_in(&dir),
            vec![name.clone(), format!("{name}.lock")],
            "{}",
            url
        );
        let versions = run_std(
            std::process::Command::new("sqlite3")
                .arg(&path)
                .arg("SELECT count(*) FROM __diesel_schema_migrations"),
        );
        prop_assert_eq!(versions.stdout.trim(), "4", "{}", versions.stderr);
        let current = run(haven(cwd.path()).args(["--database-url", &url, "current"]));
        prop_assert_eq!(
            current.stdout.trim(),
            "20260101000004 (audit_log_table) (head)",
            "{}\n{}",
            url,
            current.all()
        );
    }
}
