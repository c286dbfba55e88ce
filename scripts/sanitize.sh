#!/usr/bin/env bash
# The sanitizer run (CI runs it after scripts/test.sh): builds the whole project and its tests with clang
# under AddressSanitizer and UndefinedBehaviorSanitizer in build-asan/ (scripts/asan-build.sh), runs the
# whole ctest suite once against SQLite and a throwaway PostgreSQL, then runs every libFuzzer target of
# tests/fuzz for RETURNFLOW_FUZZ_SECONDS (default 60) each. Any sanitizer report, failed test or fuzzing
# finding fails it. Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
./scripts/install-redocly.sh
# shellcheck source=scripts/asan-build.sh
source ./scripts/asan-build.sh

started=$SECONDS
phase() { echo "sanitize: $1 in $((SECONDS - started)) s"; started=$SECONDS; }

asan_configure
nice -n 10 cmake --build "$ASAN_BUILD_DIR" -j 2
phase "build"

# shellcheck source=scripts/pg-throwaway.sh
source ./scripts/pg-throwaway.sh
pg_throwaway_start
trap pg_throwaway_stop EXIT
export RETURNFLOW_TEST_PG_URL="$PG_THROWAWAY_URL"
ctest --test-dir "$ASAN_BUILD_DIR" --output-on-failure --timeout 900 -j 2 "$@"
pg_throwaway_stop
trap - EXIT
phase "ctest"

# The fuzzers share the machine's two cores, a target on each.
RETURNFLOW_FUZZ_BUILT=1 RETURNFLOW_FUZZ_JOBS=${RETURNFLOW_FUZZ_JOBS:-2} ./scripts/fuzz.sh
phase "fuzzing"
