//! The synthetic workload of issue 5: N reversible migrations in diesel's layout, and the
//! same SQL as one file for `psql -v ON_ERROR_STOP=1 -f` (the floor).
//!
//! Each migration creates a table with a BIGSERIAL key, a TEXT column, a NUMERIC(36,18)
//! column with a CHECK and a timestamptz default, plus an index; its down.sql drops it.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use super::Result;

/// diesel's own bookkeeping table, as `diesel migration run` creates it.
const DIESEL_TABLE: &str = "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (
       version VARCHAR(50) PRIMARY KEY NOT NULL,
       run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);\n";

/// The files of one workload size.
pub struct Workload {
    /// How many migrations.
    pub n: usize,
    /// The migration directory (diesel layout).
    pub migrations: PathBuf,
    /// The single SQL file for psql.
    pub floor_sql: PathBuf,
    /// A working directory holding a `diesel.toml` without `[print_schema]`.
    pub workdir: PathBuf,
}

/// Writes a workload of `n` migrations under `root`.
pub fn generate(root: &Path, n: usize) -> Result<Workload> {
    let base = root.join(format!("n{n}"));
    let migrations = base.join("migrations");
    let workdir = base.join("work");
    fs::create_dir_all(&migrations)?;
    fs::create_dir_all(&workdir)?;
    let mut floor = String::from(DIESEL_TABLE);
    for i in 1..=n {
        let (dir_name, version) = names(i);
        let dir = migrations.join(&dir_name);
        fs::create_dir(&dir)?;
        let up = up_sql(i);
        fs::write(dir.join("up.sql"), &up)?;
        fs::write(dir.join("down.sql"), down_sql(i))?;
        floor_step(&mut floor, &up, &version);
    }
    let floor_sql = base.join("floor.sql");
    fs::write(&floor_sql, floor)?;
    // The diesel CLI rewrites the [print_schema] file after `migration run`: give it a
    // config without one, so it can never touch a checkout's src/schema.rs.
    let toml = format!(
        "[migrations_directory]\ndir = \"{}\"\n",
        migrations.display()
    );
    fs::write(workdir.join("diesel.toml"), toml)?;
    Ok(Workload {
        n,
        migrations,
        floor_sql,
        workdir,
    })
}

/// Directory name and version of migration `i`: one second apart from 2026-01-01 00:00:00.
fn names(i: usize) -> (String, String) {
    let (h, m, s) = (i / 3600, i / 60 % 60, i % 60);
    let stamp = format!("2026-01-01-{h:02}{m:02}{s:02}");
    let version = stamp.replace('-', "");
    (format!("{stamp}_bench_table_{i:05}"), version)
}

fn up_sql(i: usize) -> String {
    format!(
        "-- Synthetic benchmark migration {i}.\n\
         CREATE TABLE bench_{i:05} (\n    \
             id BIGSERIAL PRIMARY KEY,\n    \
             label TEXT NOT NULL,\n    \
             amount NUMERIC(36,18) NOT NULL CHECK (amount >= 0),\n    \
             created_at TIMESTAMPTZ NOT NULL DEFAULT now()\n\
         );\n\
         CREATE INDEX bench_{i:05}_created_at_idx ON bench_{i:05} (created_at);\n"
    )
}

fn down_sql(i: usize) -> String {
    format!("DROP TABLE bench_{i:05};\n")
}

/// One transaction per migration, with diesel's bookkeeping row, as the diesel CLI runs it.
fn floor_step(out: &mut String, up: &str, version: &str) {
    let _ = write!(
        out,
        "BEGIN;\n{up}INSERT INTO __diesel_schema_migrations (version) VALUES ('{version}');\n\
         COMMIT;\n"
    );
}
