#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, and starts the event API on the embedded
# default (a SQLite file returnflow.db in the working directory, http://127.0.0.1:8080). On the first
# start it prints an admin token once. Extra arguments go to `returnflow serve`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
exec "$root/build/cli/returnflow" serve "$@"
