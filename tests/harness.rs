//! Tests of the test harness itself (`tests/common`): the databases it hands out are real,
//! separate, empty, password-protected, and cleaned up.

mod support;

use std::process::Command;

use support::conn::ConnParams;
use support::{pg_bin, pg_database, sqlite_database};

#[cfg(feature = "postgres")]
fn select_one(url: &str) -> Result<(), String> {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let mut conn = PgConnection::establish(url).map_err(|e| e.to_string())?;
    diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(feature = "postgres")]
#[test]
fn pg_databases_are_distinct_connectable_and_empty() {
    let a = pg_database();
    let b = pg_database();
    assert_ne!(a.name, b.name);
    assert_ne!(a.url, b.url);
    for db in [&a, &b] {
        select_one(&db.url).expect("the test database accepts its own URL");
        assert_eq!(db.psql("SELECT current_database()").trim(), db.name);
        let relations = "SELECT count(*) FROM pg_class c JOIN pg_namespace n \
                         ON n.oid = c.relnamespace WHERE n.nspname NOT IN \
                         ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'";
        assert_eq!(db.psql(relations).trim(), "0", "{} is not empty", db.name);
    }
    a.psql("CREATE TABLE only_in_a (id int)");
    assert_eq!(
        b.psql("SELECT to_regclass('only_in_a') IS NULL").trim(),
        "t"
    );
}

#[cfg(feature = "postgres")]
#[test]
fn a_wrong_password_is_rejected() {
    let db = pg_database();
    if !db.checks_passwords() {
        return; // a HAVEN_TEST_DATABASE_URL server with trust auth: nothing to prove
    }
    let error = select_one(&db.url_with_password("not-the-password"))
        .expect_err("a wrong password must not connect");
    assert!(
        error.contains("password authentication failed"),
        "unexpected error: {error}"
    );
    select_one(&db.url).expect("the right password still connects");
}

#[test]
fn the_url_has_the_documented_shape() {
    let db = pg_database();
    assert!(db.url.starts_with("postgres://"), "{}", db.url);
    let params = ConnParams::parse(&db.url).expect("the harness URL parses");
    assert_eq!(params.dbname, db.name);
    assert_eq!(params.password, db.password);
    let other = ConnParams::parse(&db.url_with_password("other")).expect("parses");
    assert_eq!(
        other,
        ConnParams {
            password: "other".to_owned(),
            ..params
        }
    );
}

#[test]
fn psql_reports_errors_and_env_reaches_the_database() {
    let db = pg_database();
    let error = db
        .try_psql("SELECT no_such_column")
        .expect_err("bad SQL fails");
    assert!(error.contains("no_such_column"), "{error}");
    let out = Command::new(pg_bin("psql"))
        .args(["-X", "-A", "-t", "-c", "SELECT current_database()"])
        .envs(db.env())
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), db.name);
}

#[test]
#[should_panic(expected = "no_such_table")]
fn psql_panics_with_stderr() {
    pg_database().psql("SELECT * FROM no_such_table");
}

#[test]
fn pg_dump_schema_is_stable_across_databases() {
    let (a, b) = (pg_database(), pg_database());
    for db in [&a, &b] {
        db.psql("CREATE TABLE t (id bigint PRIMARY KEY, note text NOT NULL)");
    }
    let dump = a.pg_dump_schema();
    assert!(dump.contains("CREATE TABLE public.t ("), "{dump}");
    for noise in ["--", "SET ", "\\restrict", "\\unrestrict"] {
        assert!(
            !dump.lines().any(|l| l.starts_with(noise)),
            "{noise} in {dump}"
        );
    }
    assert!(!dump.contains("\n\n\n"), "{dump}");
    assert_eq!(dump, b.pg_dump_schema());
}

#[test]
fn dropping_a_pg_test_db_drops_the_database() {
    let keeper = pg_database();
    let name = pg_database().name.clone();
    let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
    assert_eq!(keeper.psql(&sql).trim(), "0");
}

#[test]
fn sqlite_database_is_a_fresh_path_in_its_own_temp_dir() {
    let (a, b) = (sqlite_database(), sqlite_database());
    assert_ne!(a.dir.path(), b.dir.path());
    assert_eq!(a.path.parent(), Some(a.dir.path()));
    assert!(a.dir.path().is_dir());
    assert!(!a.path.exists(), "the file must not exist yet");
    assert_eq!(a.url, a.path.to_str().expect("UTF-8 path"));
    let dir = a.dir.path().to_owned();
    drop(a);
    assert!(!dir.exists(), "the temp dir goes away with the value");
}

#[cfg(feature = "postgres")]
#[test]
fn a_database_with_a_password_has_its_own_role_which_goes_with_it() {
    let db = support::pg_database_with_password();
    assert_eq!(db.password.len(), 32, "a random password, never empty");
    let params = ConnParams::parse(&db.url).expect("the harness URL parses");
    let owner = db.psql(&format!(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{}'",
        db.name
    ));
    assert_eq!(owner.trim(), params.user, "the role owns the database");
    assert_eq!(db.psql("SELECT current_user").trim(), params.user);
    db.psql("CREATE TABLE mine (id int)"); // it may create what haven-migrate creates
    if db.checks_passwords() {
        let error = select_one(&db.url_with_password("not-the-password"))
            .expect_err("a wrong password must not connect");
        assert!(error.contains("password authentication failed"), "{error}");
    }
    let keeper = pg_database();
    let role_count = format!(
        "SELECT count(*) FROM pg_roles WHERE rolname = '{}'",
        params.user
    );
    assert_eq!(keeper.psql(&role_count).trim(), "1");
    drop(db);
    assert_eq!(keeper.psql(&role_count).trim(), "0", "the role is dropped");
}

#[test]
fn the_server_version_is_that_of_the_programs_found() {
    let version = support::pg_server_version();
    let db = pg_database();
    let num = db.psql("SHOW server_version_num");
    assert_eq!(version.num().to_string(), num.trim());
    assert_eq!(db.server_major(), version.num() / 10000);
    if std::env::var_os(support::server::URL_VAR).is_none() {
        // The private cluster runs the first initdb found: PATH decides the version.
        let initdb =
            haven_schema::pg_tools::program_version(&pg_bin("initdb")).expect("initdb --version");
        assert!(initdb.same_major(version), "{initdb} vs {version}");
    }
}

#[test]
fn pg_bin_finds_the_tools() {
    for tool in ["psql", "pg_dump", "initdb", "pg_ctl", "postgres"] {
        assert!(pg_bin(tool).is_file(), "{tool}");
    }
}

#[test]
fn conn_params_round_trip() {
    let socket = "postgres://u:p%40ss@/db?host=/tmp/x&port=5433";
    let params = ConnParams::parse(socket).expect("socket URL parses");
    assert_eq!(
        (params.host.as_str(), params.port.as_str()),
        ("/tmp/x", "5433")
    );
    assert_eq!(params.password, "p@ss");
    assert_eq!(params.url(), socket);
    assert!(!support::conn::redact(socket).contains("p%40ss"));
    let tcp = "postgresql://u@[::1]:5432/db?sslmode=disable";
    let params = ConnParams::parse(tcp).expect("TCP URL parses");
    assert_eq!(
        (params.host.as_str(), params.dbname.as_str()),
        ("::1", "db")
    );
    assert_eq!(params.url(), "postgres://u@[::1]:5432/db?sslmode=disable");
    assert!(ConnParams::parse("mysql://x").is_err());
}
