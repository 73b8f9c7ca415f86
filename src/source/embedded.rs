//! The migrations compiled into the build by `build.rs`, with their SQL text.

/// One migration directory as embedded at build time.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedEntry {
    /// The directory name, e.g. `2026-01-01-000001_initial_schema`.
    pub dir_name: &'static str,
    /// `up.sql`, when the directory had one.
    pub up: Option<&'static str>,
    /// `down.sql`, when the directory had one.
    pub down: Option<&'static str>,
    /// `metadata.toml`, when the directory had one.
    pub metadata: Option<&'static str>,
}

include!(concat!(env!("OUT_DIR"), "/embedded_migrations.rs"));
