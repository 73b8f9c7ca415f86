//! Checksums of migration SQL.
//!
//! The SHA-256 of `up.sql`, after removing a leading BOM and turning CRLF into LF, so a
//! checkout on Windows or an editor that adds a BOM does not look like a tampered file.

use sha2::{Digest, Sha256};

/// The hex SHA-256 of `sql`, normalised for CRLF and a leading BOM.
pub fn of_sql(sql: &str) -> String {
    let text = sql.strip_prefix('\u{feff}').unwrap_or(sql);
    let mut hasher = Sha256::new();
    // Hash the pieces between CRs that precede LFs, instead of building a normalised copy.
    let mut rest = text;
    while let Some(pos) = rest.find("\r\n") {
        hasher.update(&rest.as_bytes()[..pos]);
        hasher.update(b"\n");
        rest = &rest[pos + 2..];
    }
    hasher.update(rest.as_bytes());
    format!("{:x}", hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::of_sql;

    #[test]
    fn matches_sha256sum() {
        // printf 'SELECT 1;\n' | sha256sum
        assert_eq!(
            of_sql("SELECT 1;\n"),
            "b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd"
        );
    }

    #[test]
    fn crlf_and_bom_do_not_change_the_checksum() {
        let lf = of_sql("CREATE TABLE a (x int);\nSELECT 1;\n");
        assert_eq!(of_sql("CREATE TABLE a (x int);\r\nSELECT 1;\r\n"), lf);
        assert_eq!(of_sql("\u{feff}CREATE TABLE a (x int);\r\nSELECT 1;\n"), lf);
        assert_ne!(of_sql("CREATE TABLE a (x int);\nSELECT 2;\n"), lf);
        // A lone CR is content, not a line ending.
        assert_ne!(of_sql("CREATE TABLE a (x int);\rSELECT 1;\n"), lf);
    }
}
