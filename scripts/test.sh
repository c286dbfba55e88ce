#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, starts a throwaway PostgreSQL cluster on
# a free loopback port, runs the whole ctest suite against SQLite and PostgreSQL, and stops the cluster
# whether or not the tests pass.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

# The OpenAPI lint test runs Redocly CLI, pinned, from npm into the git-ignored .tools/ (once: skipped when
# that version is there). Without npm the suite cannot run that test, so say so and stop.
redocly_version=2.77.0
redocly_package=.tools/node_modules/@redocly/cli/package.json
if ! grep -q "\"version\": \"$redocly_version\"" "$redocly_package" 2>/dev/null; then
  if ! command -v npm >/dev/null; then
    echo "test.sh: npm is needed to install the OpenAPI linter (@redocly/cli $redocly_version); install Node.js 20 and npm" >&2
    exit 1
  fi
  echo "test.sh: installing @redocly/cli $redocly_version into .tools/"
  npm install --prefix .tools --no-save --no-audit --no-fund --loglevel=error "@redocly/cli@$redocly_version"
fi

./scripts/build.sh

# shellcheck source=scripts/pg-throwaway.sh
source ./scripts/pg-throwaway.sh
pg_throwaway_start
trap pg_throwaway_stop EXIT

export RETURNFLOW_TEST_PG_URL="$PG_THROWAWAY_URL"
ctest --test-dir build --output-on-failure --timeout 900 -j 2 "$@"
