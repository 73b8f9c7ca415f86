#!/bin/sh
# The migration benchmark (BENCHMARKS.md): builds haven-migrate and the benchmark in release
# mode, installs the diesel CLI when it is missing (it is the baseline of most measures),
# then runs it. Arguments pass through: `scripts/bench.sh --quick` is a smoke run.
set -eu
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v diesel >/dev/null 2>&1; then
    echo "installing the diesel CLI (needs libpq-dev and libsqlite3-dev)..." >&2
    cargo install diesel_cli --no-default-features --features postgres,sqlite --locked
fi
# The benchmark measures the haven-migrate beside it in the target directory: build both.
cargo build --release --bin haven-migrate --example bench
exec cargo run --quiet --release --example bench -- "$@"
