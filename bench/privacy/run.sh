#!/usr/bin/env bash
# Runs bench_privacy against a throwaway PostgreSQL cluster (started and stopped here) and prints its
# figures: `returnflow verify` over a bulk-loaded history (target: 1,000,000 rows in at most 60 s) and
# event ingestion with history.hash_chain on and off in the same run.
#   bench/privacy/run.sh                                  # the full sizes
#   bench/privacy/run.sh --rows 20000 --ingest-cases 500  # a smoke run of a few seconds
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build}
if [[ ! -x "$build_dir/bench/privacy/bench_privacy" ]]; then
  cmake -S . -B "$build_dir" -G Ninja >/dev/null
  cmake --build "$build_dir" -j "$(nproc)" --target bench_privacy
fi
# shellcheck source=scripts/pg-throwaway.sh
source ./scripts/pg-throwaway.sh
pg_throwaway_start
trap pg_throwaway_stop EXIT
echo "PostgreSQL $(pg_throwaway_as "$(pg_throwaway_bin)/postgres" --version | awk '{print $3}'), synchronous_commit=on, fsync=on"
"$build_dir/bench/privacy/bench_privacy" --pg "$PG_THROWAWAY_URL" "$@"
