//! Where migrations come from: `--migration-dir`, then `diesel.toml`, then the embedded set.
//!
//! `diesel.toml` is found the way the diesel CLI finds it: `DIESEL_CONFIG_FILE`, else the
//! nearest `diesel.toml` in the working directory or a parent, else the directory of the
//! nearest `Cargo.toml`. Its `[migrations_directory] dir` is relative to the file. When that
//! directory is named for another backend (`migrations/postgres` with a SQLite URL) and a
//! sibling for the URL's backend exists, the sibling is used.

use std::path::{Path, PathBuf};

use super::Origin;
use crate::error::{Error, Result};
use crate::url::Backend;

/// The inputs that decide where migrations come from.
#[derive(Debug, Clone)]
pub struct LocateOptions {
    /// `--migration-dir` or `MIGRATION_DIRECTORY`.
    pub explicit_dir: Option<PathBuf>,
    /// `DIESEL_CONFIG_FILE`, if set.
    pub config_file: Option<PathBuf>,
    /// Where to start looking for `diesel.toml`.
    pub working_dir: PathBuf,
    /// The backend of the database URL.
    pub backend: Backend,
}

#[derive(serde::Deserialize)]
struct DieselToml {
    migrations_directory: Option<MigrationsDirectory>,
    print_schema: Option<PrintSchema>,
}

#[derive(serde::Deserialize)]
struct PrintSchema {
    file: Option<PathBuf>,
}

#[derive(serde::Deserialize)]
struct MigrationsDirectory {
    dir: PathBuf,
}

/// Decides the origin of the migration set.
pub fn locate(options: &LocateOptions) -> Result<Origin> {
    if let Some(dir) = &options.explicit_dir {
        return Ok(Origin::Flag(dir.clone()));
    }
    let config = options
        .config_file
        .clone()
        .or_else(|| find_config(&options.working_dir));
    match config {
        Some(config) if config.is_file() => from_config(config, options.backend),
        _ => Ok(Origin::Embedded(options.backend)),
    }
}

fn read_config(config: &Path) -> Result<DieselToml> {
    let text = std::fs::read_to_string(config).map_err(|e| Error::io("cannot read", config, e))?;
    toml::from_str(&text).map_err(|e| Error::MalformedMigrations {
        path: config.to_path_buf(),
        problem: format!("diesel.toml does not parse: {}", e.message()),
    })
}

/// The `[print_schema] file` of `diesel.toml` (found as for [`locate`]), relative to it:
/// the `schema.rs` that `check --schema` and `revision --autogenerate` hold against the
/// migrations.
pub fn schema_file(options: &LocateOptions) -> Result<PathBuf> {
    let config = options
        .config_file
        .clone()
        .or_else(|| find_config(&options.working_dir))
        .filter(|config| config.is_file())
        .ok_or_else(|| {
            Error::BadInput(format!(
                "no diesel.toml found from {} up (nor DIESEL_CONFIG_FILE): it names the \
                 schema.rs to compare, under [print_schema] file = \"src/schema.rs\"",
                options.working_dir.display()
            ))
        })?;
    let file = read_config(&config)?
        .print_schema
        .and_then(|p| p.file)
        .ok_or_else(|| {
            Error::BadInput(format!(
                "{} names no schema file: add [print_schema] file = \"src/schema.rs\"",
                config.display()
            ))
        })?;
    Ok(config.parent().unwrap_or(Path::new(".")).join(file))
}

fn from_config(config: PathBuf, backend: Backend) -> Result<Origin> {
    let parsed = read_config(&config)?;
    let Some(section) = parsed.migrations_directory else {
        return Ok(Origin::Embedded(backend));
    };
    let base = config.parent().unwrap_or(Path::new("."));
    let dir = sibling_for_backend(&base.join(section.dir), backend);
    Ok(Origin::DieselToml { config, dir })
}

/// The nearest `diesel.toml`, else `diesel.toml` beside the nearest `Cargo.toml`.
fn find_config(start: &Path) -> Option<PathBuf> {
    let nearest = |file: &str| {
        start
            .ancestors()
            .map(|dir| dir.join(file))
            .find(|candidate| candidate.is_file())
    };
    nearest("diesel.toml").or_else(|| {
        nearest("Cargo.toml").and_then(|cargo| cargo.parent().map(|d| d.join("diesel.toml")))
    })
}

/// `dir`, or its sibling named for `backend` when `dir` is named for another backend.
pub fn sibling_for_backend(dir: &Path, backend: Backend) -> PathBuf {
    let named_for = dir
        .file_name()
        .and_then(|n| Backend::from_dir_name(&n.to_string_lossy()));
    match (named_for, dir.parent()) {
        (Some(other), Some(parent)) if other != backend => {
            let sibling = parent.join(backend.dir_name());
            if sibling.is_dir() {
                sibling
            } else {
                dir.to_path_buf()
            }
        }
        _ => dir.to_path_buf(),
    }
}

/// The backend directories beside `dir` (itself included), for `revision`.
pub fn backend_siblings(dir: &Path) -> Vec<PathBuf> {
    let named = dir
        .file_name()
        .and_then(|n| Backend::from_dir_name(&n.to_string_lossy()))
        .is_some();
    let Some(parent) = dir.parent().filter(|_| named) else {
        return vec![dir.to_path_buf()];
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(parent)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| Backend::from_dir_name(&n.to_string_lossy()).is_some())
                })
                .collect()
        })
        .unwrap_or_default();
    if !dirs.iter().any(|d| d == dir) {
        dirs.push(dir.to_path_buf());
    }
    dirs.sort();
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path, backend: Backend) -> LocateOptions {
        LocateOptions {
            explicit_dir: None,
            config_file: None,
            working_dir: dir.to_path_buf(),
            backend,
        }
    }

    #[test]
    fn this_repo_reads_the_sibling_for_sqlite() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let Origin::DieselToml { dir, .. } = locate(&options(root, Backend::Sqlite)).expect("ok")
        else {
            panic!("expected diesel.toml origin")
        };
        assert!(dir.ends_with("migrations/sqlite"), "{}", dir.display());
        let Origin::DieselToml { dir, .. } =
            locate(&options(&root.join("src"), Backend::Postgres)).expect("ok")
        else {
            panic!("expected diesel.toml origin")
        };
        assert!(dir.ends_with("migrations/postgres"), "{}", dir.display());
    }

    #[test]
    fn explicit_dir_wins_and_no_config_means_embedded() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut opts = options(tmp.path(), Backend::Sqlite);
        assert_eq!(
            locate(&opts).expect("ok"),
            Origin::Embedded(Backend::Sqlite)
        );
        opts.explicit_dir = Some(PathBuf::from("x"));
        assert_eq!(locate(&opts).expect("ok"), Origin::Flag(PathBuf::from("x")));
    }

    #[test]
    fn broken_diesel_toml_is_reported() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("diesel.toml"), "[migrations_directory\n").expect("write");
        let err = locate(&options(tmp.path(), Backend::Sqlite)).expect_err("malformed");
        assert!(
            err.to_string().contains("diesel.toml does not parse"),
            "{err}"
        );
    }
}
