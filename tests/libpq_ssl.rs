//! libpq against a server with SSL on, over TCP (issue 11, "also noticed"): with
//! `sslmode=prefer`, libpq's default, a login that fails over SSL is tried again without
//! it, and libpq reports both attempts. haven-migrate shows the failure once.
//!
//! A file of its own, with a cluster of its own: the harness's shared cluster listens on a
//! unix socket only, where SSL is never used; and `.ci/run` runs the files that use the
//! shared cluster a second time on PostgreSQL 18 from PyPI, a build without SSL support.
//! This test needs the Debian server (built with OpenSSL) and its snakeoil certificate
//! (package `ssl-cert`, which `postgresql-common` depends on).

mod support;

use std::path::Path;

use support::pg_cluster::{Auth, Cluster, Config};
use support::{hm, workdir};

#[test]
fn a_failure_libpq_reports_twice_is_shown_once() {
    let cert = Path::new("/etc/ssl/certs/ssl-cert-snakeoil.pem");
    let key = Path::new("/etc/ssl/private/ssl-cert-snakeoil.key");
    assert!(
        cert.is_file() && key.is_file(),
        "this test needs Debian's snakeoil certificate (package ssl-cert, a dependency of \
         postgresql-common)"
    );
    let cert = format!("'{}'", cert.display());
    let key = format!("'{}'", key.display());
    let cluster = Cluster::start(&Config {
        purpose: "SSL test",
        dir_prefix: "haven-pg-ssl-",
        superuser: "haven_ssl",
        auth: Auth::Password("Right-Passw0rd-9".into()),
        settings: &[
            ("listen_addresses", "'127.0.0.1'"),
            ("ssl", "on"),
            ("ssl_cert_file", cert.as_str()),
            ("ssl_key_file", key.as_str()),
        ],
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let cwd = workdir();
    let url = format!(
        "postgres://haven_ssl:Wr0ng-Passw0rd-9@127.0.0.1:{}/postgres",
        cluster.port
    );
    for mode in [&[][..], &["-v"], &["--format", "json"]] {
        let mut args = vec!["--database-url", url.as_str()];
        args.extend_from_slice(mode);
        args.push("current");
        let run = hm(cwd.path(), &args);
        run.code(1);
        assert_eq!(
            run.stderr.matches("password authentication failed").count(),
            1,
            "{}",
            run.stderr
        );
        assert!(!run.all().contains("Wr0ng-Passw0rd-9"), "{}", run.all());
    }
    cluster.stop().expect("stop the SSL cluster");
}
