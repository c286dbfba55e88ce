#!/usr/bin/env bash
# The outbox benchmark on SQLite (default) or PostgreSQL (RETURNFLOW_BENCH_PG_URL). Sizes by flags; a smoke
# run: ./bench/outbox/run.sh --seconds 2 --cases 16 --clients 2
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=build/bench/outbox/bench_outbox
[ -x "$binary" ] || { echo "build first: ninja -C build bench_outbox" >&2; exit 1; }
exec "$binary" "$@"
