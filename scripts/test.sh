#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, starts a throwaway PostgreSQL cluster on
# a free loopback port, runs the whole ctest suite against SQLite and PostgreSQL, and stops the cluster
# whether or not the tests pass.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

./scripts/install-redocly.sh
./scripts/build.sh

# shellcheck source=scripts/pg-throwaway.sh
source ./scripts/pg-throwaway.sh
pg_throwaway_start
trap pg_throwaway_stop EXIT

export RETURNFLOW_TEST_PG_URL="$PG_THROWAWAY_URL"
ctest --test-dir build --output-on-failure --timeout 900 -j 2 "$@"
