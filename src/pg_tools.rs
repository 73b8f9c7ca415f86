//! Finding PostgreSQL's programs (`pg_dump`, `psql`, `initdb`, ...) and their versions.
//!
//! One rule, used by `upgrade --backup` (which then picks the `pg_dump` of the server's
//! major version, see [`crate::backup`]) and by the private clusters of the tests and the
//! benchmark (`support/pg_cluster.rs`, which take the first candidate). The candidates of a
//! program, in order:
//!
//! 1. the real program in each `PATH` directory, in `PATH` order;
//! 2. `/usr/lib/postgresql/<major>/bin`, where Debian installs each major version side by
//!    side, newest first;
//! 3. Debian's `pg_wrapper` on `PATH` (what `/usr/bin/psql` links to): a Perl script that
//!    picks a version on each call, slower, and not always the version wanted.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian-style packages install each major version's programs.
pub const VERSIONED_BIN_ROOT: &str = "/usr/lib/postgresql";

/// Every candidate for `program`, in the order of the module docs, without duplicates.
pub fn candidates(program: &str) -> Vec<PathBuf> {
    let (wrappers, real): (Vec<PathBuf>, Vec<PathBuf>) =
        on_path(program).into_iter().partition(|p| is_pg_wrapper(p));
    let mut all: Vec<PathBuf> = Vec::new();
    for candidate in real
        .into_iter()
        .chain(in_versioned_dirs(program))
        .chain(wrappers)
    {
        if !all.iter().any(|seen| same_file(seen, &candidate)) {
            all.push(candidate);
        }
    }
    all
}

/// The first candidate for `program` (see the module docs).
pub fn find(program: &str) -> Option<PathBuf> {
    candidates(program).into_iter().next()
}

/// `/usr/lib/postgresql/<major>/bin`, where Debian puts the programs of `version`.
pub fn versioned_bin_dir(version: PgVersion) -> PathBuf {
    Path::new(VERSIONED_BIN_ROOT)
        .join(version.major_name())
        .join("bin")
}

/// `program` in each `PATH` directory that has it, in `PATH` order.
fn on_path(program: &str) -> Vec<PathBuf> {
    let Some(path) = std::env::var_os("PATH") else {
        return Vec::new();
    };
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .filter(|candidate| candidate.is_file())
        .collect()
}

fn is_pg_wrapper(path: &Path) -> bool {
    std::fs::canonicalize(path)
        .is_ok_and(|real| real.file_name().is_some_and(|name| name == "pg_wrapper"))
}

// Two PATH entries may be links to one program (/bin and /usr/bin on merged-/usr systems).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `/usr/lib/postgresql/*/bin/<program>`, newest version first.
fn in_versioned_dirs(program: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(VERSIONED_BIN_ROOT) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version = dir_version_key(&entry.file_name().to_string_lossy())?;
            let candidate = entry.path().join("bin").join(program);
            candidate.is_file().then_some((version, candidate))
        })
        .collect();
    found.sort_by(|(a, _), (b, _)| b.cmp(a));
    found.into_iter().map(|(_, path)| path).collect()
}

// "15" -> [15], "9.6" -> [9, 6]; anything else is not a version directory.
fn dir_version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// A PostgreSQL version, as the server's `server_version_num` counts it: 180006 is 18.6,
/// 90624 is 9.6.24. Two versions of one major version compare equal in
/// [`PgVersion::same_major`]; the order is that of the releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PgVersion(u32);

impl PgVersion {
    /// From `server_version_num` (`SHOW server_version_num`).
    pub fn from_num(num: u32) -> PgVersion {
        PgVersion(num)
    }

    /// From a version as programs print it: `18.6`, `15.18 (Debian 15.18-0+deb12u1)`,
    /// `9.6.24`, `19devel`, `18beta1`; or a whole `--version` line such as
    /// `pg_dump (PostgreSQL) 18.6`: the first word that starts with a digit is read.
    pub fn parse(text: &str) -> Option<PgVersion> {
        let word = text
            .split_whitespace()
            .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
        let numbers: Vec<u32> = word
            .split('.')
            .map_while(|part| {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            })
            .collect();
        match numbers[..] {
            [major, ..] if major >= 10 => Some(PgVersion(
                major * 10000 + numbers.get(1).copied().unwrap_or(0),
            )),
            [major, minor, ..] => Some(PgVersion(
                major * 10000 + minor * 100 + numbers.get(2).copied().unwrap_or(0),
            )),
            _ => None,
        }
    }

    /// `server_version_num`.
    pub fn num(self) -> u32 {
        self.0
    }

    /// The major version as one number that orders: 18 for 18.x, 906 for 9.6.x.
    fn major_key(self) -> u32 {
        if self.0 >= 100_000 {
            self.0 / 10000 * 100
        } else {
            self.0 / 100
        }
    }

    /// Whether both are of one major version (18.1 and 18.6; 9.6.1 and 9.6.24).
    pub fn same_major(self, other: PgVersion) -> bool {
        self.major_key() == other.major_key()
    }

    /// Whether `self`'s major version is newer than `other`'s.
    pub fn newer_major_than(self, other: PgVersion) -> bool {
        self.major_key() > other.major_key()
    }

    /// The major version as PostgreSQL names it: `18`, `9.6`.
    pub fn major_name(self) -> String {
        if self.0 >= 100_000 {
            (self.0 / 10000).to_string()
        } else {
            format!("{}.{}", self.0 / 10000, self.0 / 100 % 100)
        }
    }
}

impl fmt::Display for PgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 100_000 {
            write!(f, "{}.{}", self.0 / 10000, self.0 % 10000)
        } else {
            write!(f, "{}.{}", self.major_name(), self.0 % 100)
        }
    }
}

/// The version a PostgreSQL program reports (`program --version`), or why there is none.
pub fn program_version(program: &Path) -> Result<PgVersion, String> {
    let output = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "`{} --version` failed ({}): {}",
            program.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    PgVersion::parse(&stdout).ok_or_else(|| {
        format!(
            "`{} --version` printed no PostgreSQL version: {:?}",
            program.display(),
            stdout.trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_as_programs_print_them() {
        let cases = [
            ("pg_dump (PostgreSQL) 18.6", 180006, "18", "18.6"),
            (
                "psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)",
                150018,
                "15",
                "15.18",
            ),
            ("pg_dump (PostgreSQL) 9.6.24", 90624, "9.6", "9.6.24"),
            ("postgres (PostgreSQL) 19devel", 190000, "19", "19.0"),
            ("18beta1", 180000, "18", "18.0"),
            ("10.23", 100023, "10", "10.23"),
        ];
        for (text, num, major, shown) in cases {
            let version = PgVersion::parse(text).expect(text);
            assert_eq!(version.num(), num, "{text}");
            assert_eq!(version.major_name(), major, "{text}");
            assert_eq!(version.to_string(), shown, "{text}");
        }
        assert_eq!(PgVersion::parse("pg_dump (PostgreSQL)"), None);
        assert_eq!(PgVersion::parse(""), None);
        assert_eq!(
            PgVersion::parse("9"),
            None,
            "a major version below 10 has two parts"
        );
    }

    #[test]
    fn major_versions_compare() {
        let v = |num| PgVersion::from_num(num);
        assert!(v(180001).same_major(v(180006)));
        assert!(!v(180006).same_major(v(150018)));
        assert!(v(180000).newer_major_than(v(150018)));
        assert!(!v(150018).newer_major_than(v(150001)));
        assert!(v(100000).newer_major_than(v(90624)));
        assert!(v(90624).same_major(v(90601)));
        assert!(!v(90624).same_major(v(90524)));
        assert_eq!(v(90624).major_name(), "9.6");
        assert_eq!(
            versioned_bin_dir(v(180006)),
            Path::new("/usr/lib/postgresql/18/bin")
        );
    }
}
