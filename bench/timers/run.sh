#!/usr/bin/env bash
# Runs bench_timers against a throwaway PostgreSQL cluster (started and stopped here) and a SQLite file,
# and prints its figures: the clock's drain rate and lateness next to the group-commit rate of events.
#   bench/timers/run.sh [bench_timers options, e.g. --cases 20000 --clients 32]
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build}
if [[ ! -x "$build_dir/bench/timers/bench_timers" ]]; then
  cmake -S . -B "$build_dir" -G Ninja >/dev/null
  cmake --build "$build_dir" -j "$(nproc)" --target bench_timers
fi
# shellcheck source=scripts/pg-throwaway.sh
source ./scripts/pg-throwaway.sh
pg_throwaway_start
trap pg_throwaway_stop EXIT
sqlite_dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-sqlite.XXXXXX")
trap 'pg_throwaway_stop; rm -rf "$sqlite_dir"' EXIT
echo "PostgreSQL $(pg_throwaway_as "$(pg_throwaway_bin)/postgres" --version | awk '{print $3}'), synchronous_commit=on, fsync=on"
"$build_dir/bench/timers/bench_timers" --pg "$PG_THROWAWAY_URL" --sqlite-dir "$sqlite_dir" "$@"
