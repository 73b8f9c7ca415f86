//! Hostile input (issue 11): URLs read as libpq reads them, no password ever printed, no
//! panic, no file clobbered. One test per case the issue found; each failed before the fix.
//! Every error path checks the exit code, the message, and that the database is unchanged.
//! The property tests that look for the next such case are in `tests/hostile_properties.rs`.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use support::{hm, names_in, repo_migrations, run_std, workdir, Run};

/// The output modes every refusal is checked in.
const MODES: [&[&str]; 3] = [&[], &["-v"], &["--format", "json"]];

/// `sqlite3 DB .dump`, or "(no file)": what "the database is unchanged" compares.
fn sqlite_dump(db: &Path) -> String {
    if !db.exists() {
        return "(no file)".to_owned();
    }
    let run = run_std(StdCommand::new("sqlite3").arg(db).arg(".dump"));
    assert_eq!(run.code, 0, "sqlite3 .dump failed: {}", run.stderr);
    run.stdout
}

/// Runs `args` in every output mode against `url`: each exits `code`, says every one of
/// `says`, and shows none of `secrets`.
#[track_caller]
fn in_every_mode(cwd: &Path, url: &str, args: &[&str], code: i32, says: &[&str], secrets: &[&str]) {
    for mode in MODES {
        let mut all = vec!["--database-url", url];
        all.extend_from_slice(mode);
        all.extend_from_slice(args);
        let run = hm(cwd, &all);
        run.code(code).says(says);
        no_secret_in(&run, secrets);
        if mode.contains(&"json") {
            assert_eq!(run.json()["ok"], false, "{}", run.stdout);
        }
    }
}

#[track_caller]
fn no_secret_in(run: &Run, secrets: &[&str]) {
    let all = run.all();
    for secret in secrets {
        assert!(!all.contains(secret), "`{secret}` was printed:\n{all}");
    }
    assert!(!all.contains("panicked"), "{all}");
}

// ---------------------------------------------------------------- passwords

/// A login role with a password of the test's choosing, dropped afterwards.
struct Role {
    name: String,
    admin: support::PgTestDb,
}

impl Role {
    fn create(db: support::PgTestDb, password: &str) -> Role {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("haven_hostile_{}_{n}", std::process::id());
        db.psql(&format!(
            "CREATE ROLE {name} LOGIN PASSWORD '{}'",
            password.replace('\'', "''")
        ));
        Role { name, admin: db }
    }

    /// The test database's URL with this role and `password` written as is.
    fn url(&self, password: &str) -> String {
        let (_, tail) = self
            .admin
            .url
            .split_once('@')
            .expect("the harness URL has a user");
        format!("postgres://{}:{password}@{tail}", self.name)
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self
            .admin
            .try_psql(&format!("DROP ROLE IF EXISTS {}", self.name));
    }
}

#[test]
fn a_password_holding_hash_or_question_mark_logs_in_and_is_never_printed() {
    let cwd = workdir();
    for password in ["5432#S3cret-h4sh", "1234?S3cret-qm4rk"] {
        let role = Role::create(support::pg_database(), password);
        // As libpq reads it: the user information runs to the first `@`, so this logs in.
        let url = role.url(password);
        for mode in MODES {
            let mut args = vec!["--database-url", url.as_str()];
            args.extend_from_slice(mode);
            args.push("current");
            let run = hm(cwd.path(), &args);
            run.code(0).says(&["20260101000004"]);
            no_secret_in(&run, &[password, "S3cret"]);
        }
        // A wrong password of the same shape: the server's reason, never the password.
        let wrong = password.replace("S3cret", "Wr0ng");
        in_every_mode(
            cwd.path(),
            &role.url(&wrong),
            &["check"],
            1,
            &["password authentication failed"],
            &[&wrong, "Wr0ng"],
        );
        // Nowhere to connect to: refused at once, the password still hidden.
        in_every_mode(
            cwd.path(),
            &format!("postgres://u:{password}@127.0.0.1:1/db"),
            &["current"],
            1,
            &["cannot connect to postgres://u:***@127.0.0.1:1/db"],
            &[password, "S3cret"],
        );
        assert_eq!(
            role.admin
                .psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
            "0\n",
            "nothing was created"
        );
    }
}

#[test]
fn postgres_without_slashes_and_key_value_strings_are_exit_2_and_never_echoed() {
    let cwd = workdir();
    for url in [
        "postgres:u:S3cretPW@h/db",
        "postgresql:/u:S3cretPW@h/db",
        "host=localhost password=S3cretPW dbname=haven",
        "dbname=haven password='S3cretPW'",
    ] {
        for args in [&["current"][..], &["upgrade"], &["check"]] {
            in_every_mode(
                cwd.path(),
                url,
                args,
                2,
                &["malformed database URL", "not shown", "postgres://"],
                &["S3cretPW", url],
            );
        }
        // Not taken for a SQLite path: no database file, no lock file.
        assert_eq!(names_in(cwd.path()), Vec::<String>::new(), "{url}");
    }
}

#[test]
fn a_url_given_as_another_argument_is_not_echoed() {
    let cwd = workdir();
    let db = cwd.path().join("h.db");
    let db_url = db.to_str().expect("UTF-8");
    let url = "postgres://deployer:S3cretPW-4rg@db.example/haven";
    for (args, code) in [
        (&["upgrade", url][..], 2),
        (&["upgrade", url, "extra"], 2),
        (&["downgrade", url], 2),
        (&["stamp", url], 2),
        (&["current", url], 2),
        (&["history", "-r", url], 2),
        (&["--lock-timeout", url, "current"], 2),
        (&["--format", url, "current"], 2),
        (&["upgrade", "postgres:deployer:S3cretPW-4rg@db/haven"], 2),
        (&["upgrade", "password=S3cretPW-4rg host=db"], 2),
    ] {
        for mode in MODES {
            let mut all = vec!["--database-url", db_url];
            all.extend_from_slice(mode);
            all.extend_from_slice(args);
            let run = hm(cwd.path(), &all);
            run.code(code);
            no_secret_in(&run, &["S3cretPW-4rg"]);
            assert!(run.stderr.contains("error: "), "{args:?}: {}", run.stderr);
        }
    }
    // A usage error that is about the URL itself keeps it recognisable, password hidden.
    let run = hm(cwd.path(), &["upgrade", url, "extra"]);
    no_secret_in(&run, &["S3cretPW-4rg"]);
    let run = hm(cwd.path(), &["--database-url", db_url, "upgrade", url]);
    run.code(2)
        .stderr_has("postgres://deployer:***@db.example/haven");
    assert!(!db.exists(), "nothing was created");
}

// ---------------------------------------------------------------- SQLite URLs

#[test]
fn a_file_uri_with_escapes_opens_locks_and_reports_one_path() {
    let cwd = workdir();
    let dir = cwd.path().join("d");
    fs::create_dir(&dir).expect("mkdir");
    let url = format!("file:{}/f%20x.db?mode=rwc", dir.display());
    let path = dir.join("f x.db");
    let upgrade = hm(cwd.path(), &["--database-url", &url, "-v", "upgrade"]);
    upgrade
        .ok()
        .stderr_has(&format!("database: {} (SQLite)", path.display()));
    assert_eq!(names_in(&dir), ["f x.db", "f x.db.lock"]);
    let current = hm(cwd.path(), &["--database-url", &url, "current"]);
    current.ok();
    assert_eq!(
        current.stdout.trim(),
        "20260101000004 (audit_log_table) (head)"
    );
    hm(cwd.path(), &["--database-url", &url, "check"]).ok();
    // The same file, named three other ways.
    for other in [
        path.to_str().expect("UTF-8").to_owned(),
        format!("sqlite://{}", path.display()),
        format!("file://{}/f%20x.db", dir.display()),
    ] {
        let run = hm(cwd.path(), &["--database-url", &other, "check"]);
        run.ok();
    }
}

#[test]
fn a_query_string_is_never_part_of_a_file_name() {
    let cwd = workdir();
    let dir = cwd.path().join("d");
    fs::create_dir(&dir).expect("mkdir");
    let ro = format!("sqlite://{}/q.db?mode=ro", dir.display());
    let path = dir.join("q.db");
    // mode=ro: a write command is refused before anything is created.
    in_every_mode(cwd.path(), &ro, &["upgrade"], 2, &["mode=ro", "q.db"], &[]);
    assert_eq!(names_in(&dir), Vec::<String>::new());
    // Migrated through the plain path, it reads through mode=ro, and refuses writes.
    hm(
        cwd.path(),
        &[
            "--database-url",
            path.to_str().expect("UTF-8"),
            "upgrade",
            "+2",
        ],
    )
    .ok();
    let before = sqlite_dump(&path);
    let current = hm(cwd.path(), &["--database-url", &ro, "current"]);
    current
        .ok()
        .says(&["20260101000002 (aurora_integration_tables)"]);
    hm(cwd.path(), &["--database-url", &ro, "check"]).code(3);
    for args in [&["upgrade"][..], &["downgrade", "base"], &["stamp", "head"]] {
        in_every_mode(cwd.path(), &ro, args, 2, &["read-only (mode=ro)"], &[]);
    }
    // Other parameters are refused, whatever the form.
    for url in [
        format!("{}?cache=shared", path.display()),
        format!("sqlite:{}?vfs=unix-none", path.display()),
        format!("file:{}?immutable=1", path.display()),
    ] {
        in_every_mode(
            cwd.path(),
            &url,
            &["upgrade"],
            2,
            &["is not supported"],
            &[],
        );
    }
    // mode=rw does not create a missing file, and says so before creating a lock file.
    let missing = format!("file:{}/new.db?mode=rw", dir.display());
    in_every_mode(
        cwd.path(),
        &missing,
        &["upgrade"],
        2,
        &["mode=rw does not create"],
        &[],
    );
    assert_eq!(sqlite_dump(&path), before, "the database is unchanged");
    assert_eq!(names_in(&dir), ["q.db", "q.db.lock"]);
}

// ---------------------------------------------------------------- files

#[test]
fn a_symbolic_link_at_the_lock_file_is_never_followed() {
    let cwd = workdir();
    let victim = cwd.path().join("victim.conf");
    fs::write(&victim, "precious\n").expect("write the victim");
    let db = cwd.path().join("h.db");
    let lock = cwd.path().join("h.db.lock");
    std::os::unix::fs::symlink(&victim, &lock).expect("symlink");
    let url = db.to_str().expect("UTF-8");
    for args in [&["upgrade"][..], &["stamp", "head"]] {
        in_every_mode(
            cwd.path(),
            url,
            args,
            1,
            &["h.db.lock", "symbolic link"],
            &[],
        );
    }
    assert_eq!(fs::read_to_string(&victim).expect("read"), "precious\n");
    assert!(!db.exists(), "nothing was applied");
    // A hard link would be clobbered the same way.
    fs::remove_file(&lock).expect("rm");
    fs::hard_link(&victim, &lock).expect("hard link");
    in_every_mode(
        cwd.path(),
        url,
        &["upgrade"],
        1,
        &["h.db.lock", "hard links"],
        &[],
    );
    assert_eq!(fs::read_to_string(&victim).expect("read"), "precious\n");
    assert!(!db.exists(), "nothing was applied");
}

/// A copy of the SQLite migrations in `cwd/m`.
fn migrations_copy(cwd: &Path) -> PathBuf {
    let dir = cwd.join("m");
    support::copy_tree(&repo_migrations("sqlite"), &dir);
    dir
}

#[test]
fn a_dangling_or_looping_link_named_like_a_migration_is_exit_2() {
    let cwd = workdir();
    let dir = migrations_copy(cwd.path());
    let db = cwd.path().join("h.db");
    let url = db.to_str().expect("UTF-8");
    let m = dir.to_str().expect("UTF-8");
    hm(
        cwd.path(),
        &["--database-url", url, "--migration-dir", m, "upgrade", "+2"],
    )
    .ok();
    let before = sqlite_dump(&db);
    let dangling = dir.join("2026-01-01-000005_dangling");
    std::os::unix::fs::symlink(cwd.path().join("nowhere"), &dangling).expect("symlink");
    for args in [&["upgrade"][..], &["check"], &["history"]] {
        let mut all = vec!["--migration-dir", m];
        all.extend_from_slice(args);
        in_every_mode(
            cwd.path(),
            url,
            &all,
            2,
            &["2026-01-01-000005_dangling", "does not exist"],
            &[],
        );
    }
    fs::remove_file(&dangling).expect("rm");
    let looping = dir.join("2026-01-01-000005_loop");
    std::os::unix::fs::symlink(&looping, &looping).expect("symlink to itself");
    for args in [&["upgrade"][..], &["check"]] {
        let mut all = vec!["--migration-dir", m];
        all.extend_from_slice(args);
        in_every_mode(
            cwd.path(),
            url,
            &all,
            2,
            &["2026-01-01-000005_loop", "loop"],
            &[],
        );
    }
    assert_eq!(sqlite_dump(&db), before, "the database is unchanged");
    // A broken link with another name is not a migration, and is skipped as diesel does.
    fs::remove_file(&looping).expect("rm");
    std::os::unix::fs::symlink(cwd.path().join("nowhere"), dir.join("README")).expect("ln");
    hm(
        cwd.path(),
        &["--database-url", url, "--migration-dir", m, "check"],
    )
    .code(3);
}

#[test]
fn sql_files_and_directory_names_that_are_not_utf8_are_exit_2_naming_them() {
    use std::os::unix::ffi::OsStrExt;
    let cwd = workdir();
    let dir = migrations_copy(cwd.path());
    let db = cwd.path().join("h.db");
    let url = db.to_str().expect("UTF-8");
    let m = dir.to_str().expect("UTF-8");
    hm(
        cwd.path(),
        &["--database-url", url, "--migration-dir", m, "upgrade", "+3"],
    )
    .ok();
    let before = sqlite_dump(&db);
    let with_dir = |args: &[&'static str]| {
        let mut all = vec!["--migration-dir", m];
        all.extend_from_slice(args);
        all
    };
    // An up.sql: named, for the commands that read it.
    let up = dir.join("2026-01-01-000004_audit_log_table/up.sql");
    let good_up = fs::read(&up).expect("read");
    fs::write(&up, b"CREATE TABLE x (y INTEGER); -- \xff\xfe\n").expect("write");
    for args in [&["upgrade"][..], &["check"], &["upgrade", "--sql"]] {
        in_every_mode(
            cwd.path(),
            url,
            &with_dir(args),
            2,
            &["000004_audit_log_table/up.sql", "not UTF-8"],
            &[],
        );
    }
    fs::write(&up, good_up).expect("restore");
    // A down.sql: named by downgrade, before anything is reverted.
    let down = dir.join("2026-01-01-000003_tribe_integration_tables/down.sql");
    fs::write(&down, b"DROP TABLE tribe_events; -- \xc3\x28\n").expect("write");
    in_every_mode(
        cwd.path(),
        url,
        &with_dir(&["downgrade", "base"]),
        2,
        &["000003_tribe_integration_tables/down.sql", "not UTF-8"],
        &[],
    );
    // A directory name: said to be a name that is not UTF-8, not "has no up.sql".
    let bad = dir.join(std::ffi::OsStr::from_bytes(b"2026-01-01-000005_bad\xff"));
    fs::create_dir(&bad).expect("mkdir");
    fs::write(bad.join("up.sql"), "SELECT 1;").expect("write");
    for args in [&["upgrade"][..], &["check"], &["current"]] {
        in_every_mode(
            cwd.path(),
            url,
            &with_dir(args),
            2,
            &["2026-01-01-000005_bad", "is not valid UTF-8"],
            &["has no up.sql"],
        );
    }
    assert_eq!(sqlite_dump(&db), before, "the database is unchanged");
}

/// Past 64 migrations the files are read on several threads, each taking a contiguous share.
/// Two broken files in different shares (of two threads or four): the error names the
/// first in version order, never the other; nothing runs; and once mended, every migration
/// runs in order under its own name (shares joined in order).
#[test]
fn a_large_directory_names_its_first_broken_file_and_keeps_its_order() {
    let cwd = workdir();
    let dir = cwd.path().join("many");
    for i in 1..=200 {
        support::write_migration(
            &dir,
            &format!("2026-02-01-{i:06}_table_{i:03}"),
            &format!("CREATE TABLE t{i} (x INTEGER);"),
            Some(&format!("DROP TABLE t{i};")),
        );
    }
    let db = cwd.path().join("h.db");
    let url = db.to_str().expect("UTF-8");
    let m = dir.to_str().expect("UTF-8");
    let with_dir = |args: &[&'static str]| {
        let mut all = vec!["--migration-dir", m];
        all.extend_from_slice(args);
        all
    };
    let hm_on = |args: &[&str]| {
        let mut all = vec!["--database-url", url, "--migration-dir", m];
        all.extend_from_slice(args);
        hm(cwd.path(), &all)
    };
    hm_on(&["upgrade", "+5"]).ok();
    let before = sqlite_dump(&db);
    let up = |i: u32| dir.join(format!("2026-02-01-{i:06}_table_{i:03}/up.sql"));
    fs::write(up(30), b"CREATE TABLE t30 (x INTEGER); -- \xff\n").expect("write");
    fs::write(up(170), b"CREATE TABLE t170 (x INTEGER); -- \xfe\n").expect("write");
    for args in [&["upgrade"][..], &["check"], &["upgrade", "--sql"]] {
        in_every_mode(
            cwd.path(),
            url,
            &with_dir(args),
            2,
            &["000030_table_030/up.sql", "not UTF-8"],
            &["000170"],
        );
    }
    assert_eq!(sqlite_dump(&db), before, "the database is unchanged");
    fs::write(up(30), "CREATE TABLE t30 (x INTEGER);").expect("write");
    fs::write(up(170), "CREATE TABLE t170 (x INTEGER);").expect("write");
    // down.sql is read when needed: by check and history (all of them, the first broken one
    // named), never by an upgrade, which runs none of them (as with diesel).
    let down = |i: u32| dir.join(format!("2026-02-01-{i:06}_table_{i:03}/down.sql"));
    fs::write(down(40), b"DROP TABLE t40; -- \xff\n").expect("write");
    fs::write(down(180), b"DROP TABLE t180; -- \xfe\n").expect("write");
    for args in [&["check"][..], &["history"]] {
        in_every_mode(
            cwd.path(),
            url,
            &with_dir(args),
            2,
            &["000040_table_040/down.sql", "not UTF-8"],
            &["000180"],
        );
    }
    assert_eq!(sqlite_dump(&db), before, "the database is unchanged");
    let script = hm_on(&["upgrade", "head", "--sql"]);
    script.ok().says(&["CREATE TABLE t200"]);
    fs::write(down(40), "DROP TABLE t40;").expect("write");
    fs::write(down(180), "DROP TABLE t180;").expect("write");
    hm_on(&["upgrade", "head"]).ok();
    let report = hm_on(&["--format", "json", "history"]).ok().json();
    let rows = report["migrations"].as_array().expect("rows");
    assert_eq!(rows.len(), 200, "{report}");
    for (i, row) in (1..=200).zip(rows) {
        assert_eq!(row["version"], format!("20260201{i:06}"), "{row}");
        assert_eq!(row["name"], format!("table_{i:03}"), "{row}");
        assert_eq!(row["applied"], true, "{row}");
    }
    let tables =
        run_std(StdCommand::new("sqlite3").arg(&db).arg(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name GLOB 't[0-9]*'",
        ));
    assert_eq!(tables.stdout.trim(), "200", "{}", tables.stderr);
}

// ---------------------------------------------------------------- arguments

#[test]
fn runs_of_plus_and_minus_are_not_step_counts() {
    let cwd = workdir();
    let db = cwd.path().join("h.db");
    let url = db.to_str().expect("UTF-8");
    hm(cwd.path(), &["--database-url", url, "upgrade", "+2"]).ok();
    let before = sqlite_dump(&db);
    for args in [
        &["upgrade", "++1"][..],
        &["upgrade", "+-1"],
        &["upgrade", "+ 1"],
        &["downgrade", "-+1"],
        &["downgrade", "--1"],
        &["stamp", "++1"],
        &["stamp", "-+1"],
        &["upgrade", "+"],
        &["downgrade", "-"],
    ] {
        let mut all = vec!["--database-url", url];
        all.extend_from_slice(args);
        let run = hm(cwd.path(), &all);
        run.code(2);
        no_secret_in(&run, &[]);
    }
    let run = hm(cwd.path(), &["--database-url", url, "upgrade", "++1"]);
    run.code(2).stderr_has("`++1` is not a step count");
    assert_eq!(sqlite_dump(&db), before, "the database is unchanged");
}

#[test]
fn a_huge_lock_timeout_is_exit_2_not_a_panic() {
    let cwd = workdir();
    let db = cwd.path().join("h.db");
    let url = db.to_str().expect("UTF-8");
    for value in ["18446744073709551615", "2147484", "99999999999999999999"] {
        for command in ["upgrade", "stamp"] {
            let args = [
                "--database-url",
                url,
                "--lock-timeout",
                value,
                command,
                "head",
            ];
            let run = hm(cwd.path(), &args);
            run.code(2).stderr_has("--lock-timeout");
            no_secret_in(&run, &[]);
        }
    }
    assert!(!db.exists(), "nothing was created");
    // The longest wait that is accepted works.
    hm(
        cwd.path(),
        &[
            "--database-url",
            url,
            "--lock-timeout",
            "2147483",
            "upgrade",
        ],
    )
    .ok();
}

/// Runs `args` with stdout going to a pipe whose reader is already gone (`| head` that
/// finished).
fn with_closed_pipe(cwd: &Path, args: &[&str]) -> Run {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = support::haven(cwd)
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run haven-migrate");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `args` with stdout going to `/dev/full` (a full disk).
fn with_full_disk(cwd: &Path, args: &[&str]) -> Run {
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let output = support::haven(cwd)
        .args(args)
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .expect("run haven-migrate");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn completions_survive_a_closed_pipe_and_fail_on_a_full_disk() {
    let cwd = workdir();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let closed = with_closed_pipe(cwd.path(), &["completions", shell]);
        closed.code(0);
        assert_eq!(closed.stderr, "", "{shell}: silent");
        let full = with_full_disk(cwd.path(), &["completions", shell]);
        full.code(1).stderr_has("cannot write the output to stdout");
        assert!(!full.stderr.contains("panicked"), "{}", full.stderr);
    }
}

#[test]
fn every_command_follows_the_write_rule() {
    let cwd = workdir();
    let db = cwd.path().join("h.db");
    let url = db.to_str().expect("UTF-8");
    hm(cwd.path(), &["--database-url", url, "upgrade", "+3"]).ok();
    let before = sqlite_dump(&db);
    // With the exit code each has when its output can be written.
    for (args, code) in [
        (&["history"][..], 0),
        (&["history", "--format", "json"], 0),
        (&["current", "-v"], 0),
        (&["upgrade", "--dry-run"], 0),
        (&["upgrade", "--sql"], 0),
        (&["downgrade", "head:base", "--sql"], 0),
        (&["--help"], 0),
        (&["--version"], 0),
        // A failure's own exit code stands: check's 3, an error's 2.
        (&["check", "--format", "json"], 3),
        (&["history", "-r", "nosuchrev:", "--format", "json"], 2),
    ] {
        let mut all = vec!["--database-url", url];
        all.extend_from_slice(args);
        let closed = with_closed_pipe(cwd.path(), &all);
        closed.code(code);
        assert!(!closed.stderr.contains("panicked"), "{}", closed.stderr);
        if code == 0 {
            assert!(
                !closed.stderr.contains("error"),
                "{args:?}: {}",
                closed.stderr
            );
        }
        let full = with_full_disk(cwd.path(), &all);
        full.code(if code == 0 { 1 } else { code });
        assert!(
            full.stderr.contains("No space left"),
            "{args:?}: {}",
            full.stderr
        );
        assert!(!full.stderr.contains("panicked"), "{}", full.stderr);
    }
    assert_eq!(
        sqlite_dump(&db),
        before,
        "read-only commands changed nothing"
    );
    // A write command does its work, and then says its report was lost: exit 1.
    let full = with_full_disk(cwd.path(), &["--database-url", url, "upgrade"]);
    full.code(1).stderr_has("its report was lost");
    let current = hm(cwd.path(), &["--database-url", url, "current"]);
    current.ok().says(&["(head)"]);
}

#[test]
fn history_with_a_reversed_range_is_exit_2() {
    let cwd = workdir();
    let db = cwd.path().join("h.db");
    let url = db.to_str().expect("UTF-8");
    for range in [
        "head:base",
        "20260101000003:20260101000001",
        "aurora_integration_tables:base",
    ] {
        in_every_mode(
            cwd.path(),
            url,
            &["history", "-r", range],
            2,
            &["is reversed", range],
            &[],
        );
    }
    let forward = hm(
        cwd.path(),
        &["--database-url", url, "history", "-r", "base:head"],
    );
    forward.ok();
    assert_eq!(forward.stdout.lines().count(), 4, "{}", forward.stdout);
    assert!(!db.exists(), "read-only: no file created");
}

#[test]
fn backup_passes_libpq_parameters_through_unchanged() {
    let db = support::pg_database();
    let cwd = workdir();
    let dump = cwd.path().join("before.sql");
    // libpq decodes %20 and %3D in the value; re-encoded as `+`, the server saw
    // `-c+statement_timeout` and pg_dump failed.
    let url = format!(
        "{}&options=-c%20statement_timeout%3D100000&application_name=haven%2Bbackup",
        db.url
    );
    let run = hm(
        cwd.path(),
        &[
            "--database-url",
            &url,
            "upgrade",
            "+1",
            "--backup",
            dump.to_str().expect("UTF-8"),
        ],
    );
    run.ok();
    no_secret_in(&run, &[&db.password]);
    let text = fs::read_to_string(&dump).expect("the dump");
    assert!(text.contains("PostgreSQL database dump"), "{text}");
    assert_eq!(
        db.psql("SELECT version FROM __diesel_schema_migrations"),
        "20260101000001\n"
    );
}

// ---------------------------------------------------------------- also noticed

#[test]
fn a_sqlite_file_that_cannot_be_opened_gets_no_server_advice() {
    let cwd = workdir();
    // A directory where the database file should be: it exists, and SQLite cannot open it.
    let db = cwd.path().join("h.db");
    fs::create_dir(&db).expect("mkdir");
    in_every_mode(
        cwd.path(),
        db.to_str().expect("UTF-8"),
        &["current"],
        1,
        &["cannot open the SQLite database", "h.db"],
        &["server", "password"],
    );
    assert!(db.is_dir() && names_in(&db).is_empty(), "unchanged");
}
