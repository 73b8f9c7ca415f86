//! `revision`: new, empty migration directories with strictly increasing versions.
//!
//! The version is the current UTC time `YYYY-MM-DD-HHMMSS`, bumped past the newest existing
//! version when several revisions are made within one second, so versions stay unique and
//! ordered. The same directory is created in every backend directory, so the PostgreSQL and
//! SQLite sets keep identical names.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

use super::version_of;
use crate::error::{Error, Result};

const STAMP_FORMAT: &str = "%Y-%m-%d-%H%M%S";

/// Turns a free-text message into a directory-name slug: `Add index!` → `add_index`.
pub fn slug(message: &str) -> Result<String> {
    let mut slug = String::new();
    for c in message.trim().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_end_matches('_').to_owned();
    if slug.is_empty() {
        return Err(Error::BadInput(format!(
            "the message {message:?} has no letters or digits to name a migration; \
             give one with -m, e.g. -m \"add staking index\""
        )));
    }
    Ok(slug)
}

/// The newest version among the migration directories of `dirs`.
fn newest_version(dirs: &[PathBuf]) -> Option<String> {
    dirs.iter()
        .filter_map(|d| fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| version_of(&e.file_name().to_string_lossy()).ok())
        .max()
}

/// The timestamp for a new revision: `now`, or one second past the newest version.
pub fn next_stamp(now: DateTime<Utc>, newest: Option<&str>) -> Result<String> {
    let mut at = now.naive_utc();
    if let Some(newest) = newest {
        if let Some(prefix) = newest.get(..14) {
            if let Ok(existing) = NaiveDateTime::parse_from_str(prefix, "%Y%m%d%H%M%S") {
                at = at.max(existing + TimeDelta::seconds(1));
            }
        }
        let version: String = at.format("%Y%m%d%H%M%S").to_string();
        if version.as_str() <= newest {
            return Err(Error::BadInput(format!(
                "cannot make a version newer than the existing {newest}; rename that directory \
                 to a <YYYY-MM-DD-HHMMSS>_<name> timestamp"
            )));
        }
    }
    Ok(at.format(STAMP_FORMAT).to_string())
}

/// The files of one new migration directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMigration {
    /// `up.sql`.
    pub up_sql: String,
    /// `down.sql`.
    pub down_sql: String,
    /// `metadata.toml`, when the migration needs one.
    pub metadata: Option<String>,
}

/// Creates `<stamp>_<slug>/{up.sql,down.sql}` in each of `dirs`, holding comments only;
/// returns the new paths. On failure, the directories it made are removed again.
pub fn create(dirs: &[PathBuf], message: &str, now: DateTime<Utc>) -> Result<Vec<PathBuf>> {
    create_with(dirs, message, now, |dir| template(dir, message))
}

/// As [`create`], with the files `files` gives for each backend directory.
pub fn create_with(
    dirs: &[PathBuf],
    message: &str,
    now: DateTime<Utc>,
    files: impl Fn(&Path) -> NewMigration,
) -> Result<Vec<PathBuf>> {
    let slug = slug(message)?;
    let stamp = next_stamp(now, newest_version(dirs).as_deref())?;
    let name = format!("{stamp}_{slug}");
    let mut made = Vec::new();
    for dir in dirs {
        let target = dir.join(&name);
        if let Err(e) = write_migration(&target, dir, &files(dir)) {
            // Nothing half-written: every directory, or none.
            for path in &made {
                let _ = fs::remove_dir_all(path);
            }
            return Err(e);
        }
        made.push(target);
    }
    Ok(made)
}

fn write_migration(target: &Path, backend_dir: &Path, files: &NewMigration) -> Result<()> {
    fs::create_dir_all(backend_dir).map_err(|e| Error::io("cannot create", backend_dir, e))?;
    fs::create_dir(target).map_err(|e| Error::io("cannot create", target, e))?;
    let written = [
        ("up.sql", Some(&files.up_sql)),
        ("down.sql", Some(&files.down_sql)),
        ("metadata.toml", files.metadata.as_ref()),
    ];
    for (file, text) in written {
        let Some(text) = text else { continue };
        let path = target.join(file);
        if let Err(e) = fs::write(&path, text) {
            let _ = fs::remove_dir_all(target);
            return Err(Error::io("cannot write", &path, e));
        }
    }
    Ok(())
}

/// The comment-only files of a hand-written migration.
fn template(backend_dir: &Path, message: &str) -> NewMigration {
    let dialect = backend_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = |what: &str| {
        format!(
            "-- {message}\n-- SQL to {what} this change ({dialect}). While this file holds only \
             comments it runs as a no-op.\n"
        )
    };
    NewMigration {
        up_sql: text("apply"),
        down_sql: text("revert"),
        metadata: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        Utc.from_utc_datetime(&NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").expect("time"))
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Add staking index!").expect("ok"), "add_staking_index");
        assert_eq!(slug("  --weird__name-- ").expect("ok"), "weird_name");
        assert!(slug("!!!").is_err());
    }

    #[test]
    fn stamps_increase_within_one_second() {
        let now = at("20261124080000");
        assert_eq!(next_stamp(now, None).expect("ok"), "2026-11-24-080000");
        assert_eq!(
            next_stamp(now, Some("20261124080000")).expect("ok"),
            "2026-11-24-080001"
        );
        assert_eq!(
            next_stamp(now, Some("20261124080005")).expect("ok"),
            "2026-11-24-080006"
        );
        assert_eq!(
            next_stamp(now, Some("20260101000004")).expect("ok"),
            "2026-11-24-080000"
        );
        // diesel CLI style 18-digit versions compare as strings.
        assert_eq!(
            next_stamp(now, Some("202611240800000000")).expect("ok"),
            "2026-11-24-080001"
        );
    }

    #[test]
    fn create_makes_both_backends_and_unique_versions() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = vec![tmp.path().join("postgres"), tmp.path().join("sqlite")];
        let now = at("20261124080000");
        let first = create(&dirs, "add thing", now).expect("first");
        let second = create(&dirs, "add thing", now).expect("second");
        assert_eq!(first.len(), 2);
        assert!(first[0].ends_with("2026-11-24-080000_add_thing"));
        assert!(second[1].ends_with("2026-11-24-080001_add_thing"));
        let up = fs::read_to_string(first[0].join("up.sql")).expect("up");
        assert!(crate::sql::split::is_effectively_empty(&up));
    }
}
