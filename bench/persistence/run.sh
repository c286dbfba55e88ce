#!/usr/bin/env bash
# Runs bench_persistence against a throwaway PostgreSQL cluster (started and stopped here) and prints
# its figures. pgbench runs inside bench_persistence on the same server, with the same client counts.
#   bench/persistence/run.sh [bench_persistence options, e.g. --cases 100000 --seconds 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build}
if [[ ! -x "$build_dir/bench/persistence/bench_persistence" ]]; then
  cmake -S . -B "$build_dir" -G Ninja >/dev/null
  cmake --build "$build_dir" -j "$(nproc)" --target bench_persistence
fi
# shellcheck source=scripts/pg-throwaway.sh
source ./scripts/pg-throwaway.sh
pg_throwaway_start
trap pg_throwaway_stop EXIT
sqlite_dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-sqlite.XXXXXX")
trap 'pg_throwaway_stop; rm -rf "$sqlite_dir"' EXIT
echo "PostgreSQL $(pg_throwaway_as "$(pg_throwaway_bin)/postgres" --version | awk '{print $3}'), synchronous_commit=on, fsync=on"
"$build_dir/bench/persistence/bench_persistence" --pg "$PG_THROWAWAY_URL" --sqlite-dir "$sqlite_dir" "$@"
