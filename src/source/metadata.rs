//! `metadata.toml` of a migration: diesel reads `run_in_transaction` from it.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// How a migration runs, from its `metadata.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TransactionMode {
    pub run_in_transaction: bool,
    /// The file exists but does not say: diesel then runs the migration outside a
    /// transaction, which is rarely what its author meant (a warning).
    pub flag_missing: bool,
}

#[derive(serde::Deserialize)]
struct MetadataToml {
    run_in_transaction: Option<bool>,
}

/// The transaction mode `metadata.toml` (`text`, if the file exists) sets; `path` names the
/// file in an error, and is built only then (thousands of migrations have none).
pub(super) fn parse(text: Option<&str>, path: impl FnOnce() -> PathBuf) -> Result<TransactionMode> {
    let Some(text) = text else {
        return Ok(TransactionMode {
            run_in_transaction: true,
            flag_missing: false,
        });
    };
    let parsed: MetadataToml = toml::from_str(text).map_err(|e| Error::MalformedMigrations {
        path: path(),
        problem: format!("metadata.toml does not parse: {}", e.message()),
    })?;
    // diesel's TomlMetadata defaults the field to false when the file exists: match it.
    Ok(TransactionMode {
        run_in_transaction: parsed.run_in_transaction.unwrap_or(false),
        flag_missing: parsed.run_in_transaction.is_none(),
    })
}
