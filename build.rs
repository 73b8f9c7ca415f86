//! Embeds the SQL migrations of both backends into the library, keeping their text.
//!
//! diesel's `embed_migrations!` hides the SQL, yet `--sql`, checksums and `verify` need it,
//! so this writes `include_str!` tables instead. `rerun-if-changed` on the migration
//! directories keeps the embedded set from ever going stale.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut code = String::new();
    for (konst, dir) in [
        ("POSTGRES", "migrations/postgres"),
        ("SQLITE", "migrations/sqlite"),
    ] {
        let path = root.join(dir);
        println!("cargo:rerun-if-changed={}", path.display());
        write_table(&mut code, konst, &path);
    }
    println!("cargo:rerun-if-changed=migrations");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("embedded_migrations.rs"), code).expect("write embedded_migrations.rs");
}

fn write_table(code: &mut String, konst: &str, dir: &Path) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.retain(|p| p.is_dir() && !is_hidden(p));
    entries.sort();
    writeln!(
        code,
        "#[allow(dead_code)]\npub(crate) static {konst}: &[EmbeddedEntry] = &["
    )
    .expect("writing to a String cannot fail");
    for entry in entries {
        let name = entry
            .file_name()
            .expect("entry has a name")
            .to_string_lossy();
        writeln!(
            code,
            "    EmbeddedEntry {{ dir_name: {name:?}, up: {}, down: {}, metadata: {} }},",
            include(&entry.join("up.sql")),
            include(&entry.join("down.sql")),
            include(&entry.join("metadata.toml")),
        )
        .expect("writing to a String cannot fail");
    }
    code.push_str("];\n");
}

fn include(file: &Path) -> String {
    if file.is_file() {
        format!("Some(include_str!({:?}))", file.display().to_string())
    } else {
        "None".to_owned()
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}
