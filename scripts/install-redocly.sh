#!/usr/bin/env bash
# The OpenAPI lint test runs Redocly CLI, pinned, from npm into the git-ignored .tools/ (once: skipped when
# that version is there). Without npm the suite cannot run that test, so say so and stop. Used by
# scripts/test.sh and scripts/sanitize.sh, which both run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

redocly_version=2.77.0
redocly_package=.tools/node_modules/@redocly/cli/package.json
if ! grep -q "\"version\": \"$redocly_version\"" "$redocly_package" 2>/dev/null; then
  if ! command -v npm >/dev/null; then
    echo "install-redocly: npm is needed to install the OpenAPI linter (@redocly/cli $redocly_version); install Node.js 20 and npm" >&2
    exit 1
  fi
  echo "install-redocly: installing @redocly/cli $redocly_version into .tools/"
  npm install --prefix .tools --no-save --no-audit --no-fund --loglevel=error "@redocly/cli@$redocly_version"
fi
