#!/usr/bin/env bash
# Regenerates src/schema.rs with the real diesel CLI, from a scratch PostgreSQL database
# migrated to head. Touches nothing else in the checkout.
#
#   scripts/regenerate-schema.sh            # starts a throwaway cluster (initdb + pg_ctl)
#   DATABASE_URL=postgres://... scripts/regenerate-schema.sh
#                                           # uses that server: creates a scratch database
#                                           # next to the URL's one, and drops it after
#
# Needs: diesel (cargo install diesel_cli --no-default-features --features postgres,sqlite
# --locked), and for the throwaway cluster PostgreSQL's initdb/pg_ctl (on PATH or under
# /usr/lib/postgresql/*/bin). As root, the cluster runs as the `postgres` user.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
diesel="${DIESEL:-$(command -v diesel || echo "$HOME/.cargo/bin/diesel")}"
[ -x "$diesel" ] || {
    echo "error: no diesel CLI; install it with:" >&2
    echo "  cargo install diesel_cli --no-default-features --features postgres,sqlite --locked" >&2
    exit 1
}

work="$(mktemp -d "${TMPDIR:-/tmp}/haven-schema-regen.XXXXXX")"
chmod 755 "$work"
pgdata=""
scratch_db=""
admin_url=""

cleanup() {
    if [ -n "$scratch_db" ] && [ -n "$admin_url" ]; then
        psql "$admin_url" -qX -c "DROP DATABASE IF EXISTS \"$scratch_db\"" >/dev/null 2>&1 || true
    fi
    if [ -n "$pgdata" ]; then
        as_pg "$(pg_tool pg_ctl)" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

pg_tool() {
    local found
    if found="$(command -v "$1")" && [ "$(readlink -f "$found")" != "/usr/share/postgresql-common/pg_wrapper" ]; then
        echo "$found"
        return
    fi
    found="$(ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$found" ] || { echo "error: no PostgreSQL $1 on PATH or in /usr/lib/postgresql/*/bin" >&2; exit 1; }
    echo "$found"
}

# initdb and postgres refuse to run as root.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ -n "${DATABASE_URL:-}" ]; then
    case "$DATABASE_URL" in
        postgres://* | postgresql://*) ;;
        *) echo "error: DATABASE_URL must be a postgres:// URL (src/schema.rs is the PostgreSQL schema)" >&2; exit 2 ;;
    esac
    admin_url="$DATABASE_URL"
    scratch_db="haven_schema_regen_$$_$RANDOM"
    psql "$admin_url" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$scratch_db\"" >/dev/null
    # Same server and credentials, the scratch database instead of the URL's path.
    base="${DATABASE_URL%%\?*}"
    query=""
    [ "$base" != "$DATABASE_URL" ] && query="?${DATABASE_URL#*\?}"
    prefix="${base#*://}"
    case "$prefix" in
        */*) url="${base%/*}/$scratch_db$query" ;;
        *) url="$base/$scratch_db$query" ;;
    esac
else
    [ "$(id -u)" = 0 ] && chown postgres "$work"
    pgdata="$work/data"
    port=$((20000 + RANDOM % 20000))
    as_pg "$(pg_tool initdb)" -D "$pgdata" --auth=trust -U postgres >"$work/initdb.log" 2>&1 \
        || { cat "$work/initdb.log" >&2; exit 1; }
    as_pg "$(pg_tool pg_ctl)" -D "$pgdata" -w -l "$work/server.log" \
        -o "-c listen_addresses='' -c unix_socket_directories=$work -p $port -c fsync=off" start >/dev/null \
        || { cat "$work/server.log" >&2; exit 1; }
    url="postgres://postgres@localhost/postgres?host=$work&port=$port"
fi

# Migrate with a config that has no [print_schema]: `migration run` would otherwise
# rewrite the print_schema file itself. Run from the scratch dir so no diesel.toml of the
# checkout is found either.
: >"$work/migrate.toml"
(cd "$work" && DIESEL_CONFIG_FILE="$work/migrate.toml" "$diesel" migration run \
    --migration-dir "$repo/migrations/postgres" --database-url "$url" >/dev/null)

# print-schema only prints; it reads the repo's [print_schema] settings.
(cd "$work" && DIESEL_CONFIG_FILE="$repo/diesel.toml" "$diesel" print-schema \
    --database-url "$url" >"$work/schema.rs")

if cmp -s "$work/schema.rs" "$repo/src/schema.rs"; then
    echo "src/schema.rs is up to date" >&2
else
    cp "$work/schema.rs" "$repo/src/schema.rs"
    echo "src/schema.rs regenerated" >&2
fi
