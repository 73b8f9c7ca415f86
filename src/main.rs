//! `haven-migrate`: Alembic-style migration commands for the HAVEN Token database, on Diesel.
//! See `haven-migrate --help`, and the README's "Commands" section.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
