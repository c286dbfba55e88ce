#!/usr/bin/env bash
# End-to-end benchmark of the event API: builds, starts a throwaway PostgreSQL, runs `returnflow serve`
# on it (one transaction per event, then group commit), drives it with api_loadgen over keep-alive
# connections, runs pgbench with the equivalent one-event transaction at the same client count against
# the same server, and prints events/s, latency percentiles, server peak RSS and the ratios. Then a
# paced run at half of the group-commit peak for its p99, and SQLite figures alongside.
#
#   bench/api/run.sh                 # CLIENTS=32 SECONDS_PER_RUN=20 CASES=512 POOL=16 IO_THREADS=2 IN_FLIGHT=0
#
# POOL is the engine's connection pool (and worker threads); pgbench gets one connection per client.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CLIENTS=${CLIENTS:-32}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
CASES=${CASES:-512}
POOL=${POOL:-16}
IO_THREADS=${IO_THREADS:-2}
IN_FLIGHT=${IN_FLIGHT:-0}   # group transactions at once when a backlog exceeds a group; 0 = the pool size
BUILD_DIR=${BUILD_DIR:-build}

./scripts/install-deps.sh
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$(nproc)" --target returnflow api_loadgen >/dev/null
RETURNFLOW=$ROOT/$BUILD_DIR/cli/returnflow
LOADGEN=$ROOT/$BUILD_DIR/bench/api/api_loadgen

# shellcheck source=scripts/pg-throwaway.sh
source ./scripts/pg-throwaway.sh
server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || true
  fi
  server_pid=""
}
trap 'stop_server; pg_throwaway_stop' EXIT
pg_throwaway_start
pg_throwaway_warm_wal
PG_URL=$PG_THROWAWAY_URL
RESULTS=$(mktemp)

# start_server DATABASE_URL GROUP_COMMIT: starts the engine, sets port, server_pid and admin.
start_server() {
  local database=$1 group_commit=$2
  workdir=$(mktemp -d /tmp/returnflow-bench.XXXXXX)
  port=$(pg_throwaway_free_port)
  admin=$(cd "$workdir" && "$RETURNFLOW" token create --database "$database" --name "bench-admin-$RANDOM$RANDOM" --role admin 2>/dev/null)
  (cd "$workdir" && RETURNFLOW_DATABASE=$database RETURNFLOW_GROUP_COMMIT=$group_commit RETURNFLOW_ACCESS_LOG=false \
     RETURNFLOW_LOG_LEVEL=warn RETURNFLOW_DB_POOL_SIZE=$POOL RETURNFLOW_IO_THREADS=$IO_THREADS \
     RETURNFLOW_GROUP_COMMIT_IN_FLIGHT=$IN_FLIGHT \
     exec "$RETURNFLOW" serve --listen "127.0.0.1:$port" >"$workdir/server.log" 2>&1) &
  server_pid=$!
  for _ in $(seq 1 200); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$workdir/server.log" >&2; return 1; }
    sleep 0.05  # polling a starting process's readiness; bounded (10 s)
  done
  echo "server did not become ready" >&2
  return 1
}

peak_rss_mb() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$server_pid/status"; }

# run_api LABEL DATABASE GROUP_COMMIT [RATE]: one measured loadgen run; appends "RESULT ... rss_mb=N".
run_api() {
  local label=$1 database=$2 group_commit=$3 rate=${4:-0}
  start_server "$database" "$group_commit"
  local line
  line=$("$LOADGEN" --port "$port" --admin-token "$admin" --clients "$CLIENTS" --cases "$CASES" \
           --seconds "$SECONDS_PER_RUN" --rate "$rate" --label "$label" | grep '^RESULT')
  # From the server's /metrics: which group-commit path wrote the groups (groups and events per path),
  # and the server's own p99 for posted events as the histogram bucket holding it (the loadgen's figures
  # add the client's side: its threads' wake-ups on this shared machine).
  local metrics paths server_p99
  metrics=$(curl -s -H "Authorization: Bearer $admin" "http://127.0.0.1:$port/metrics")
  paths=$(echo "$metrics" | awk -F'[{}"= ]+' '/^returnflow_group_commit_events_(count|sum)\{/ {
                               kind = ($1 ~ /count$/) ? "groups" : "events"; v[$3 "_" kind] = $4 }
                             END { for (k in v) printf "%s%s=%d", (n++ ? "," : ""), k, v[k] }')
  server_p99=$(echo "$metrics" | awk '/^returnflow_http_request_duration_seconds_bucket\{.*route="post_case_event"/ {
                   match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); n++; bound[n] = le; count[n] = $NF }
                 /^returnflow_http_request_duration_seconds_count\{.*route="post_case_event"/ { total = $NF }
                 END { for (i = 1; i <= n; i++) if (count[i] >= 0.99 * total) { print (bound[i] == "+Inf" ? "inf" : bound[i] * 1000); exit } }')
  echo "$line rss_mb=$(peak_rss_mb) server_p99_le_ms=${server_p99:-?}${paths:+ paths=$paths}" | tee -a "$RESULTS"
  stop_server
}

field() { grep "label=$1 " "$RESULTS" | tr ' ' '\n' | awk -F= -v key="$2" '$1 == key {print $2}'; }

echo "== PostgreSQL, $CLIENTS clients, ${SECONDS_PER_RUN}s per run, $CASES cases, pool $POOL, io threads $IO_THREADS, groups in flight $IN_FLIGHT"
run_api pg_one_tx_per_event "$PG_URL" false
run_api pg_group_commit "$PG_URL" true

# pgbench with the engine's one-event transaction, same server, same client count.
psql_cmd=(psql -h 127.0.0.1 -p "$PG_THROWAWAY_PORT" -U returnflow -d returnflow_test -qtA)
"${psql_cmd[@]}" -c "DROP TABLE IF EXISTS bench_case_ids" \
  -c "CREATE TABLE bench_case_ids AS SELECT row_number() OVER (ORDER BY case_id) AS n, case_id FROM cases WHERE stage = 'counselling'" \
  -c "CREATE UNIQUE INDEX ON bench_case_ids (n)" -c "ANALYZE"
ncases=$("${psql_cmd[@]}" -c "SELECT count(*) FROM bench_case_ids")
pgbench_out=$(pgbench -h 127.0.0.1 -p "$PG_THROWAWAY_PORT" -U returnflow -n -M prepared -c "$CLIENTS" -j 2 \
                -T "$SECONDS_PER_RUN" -D ncases="$ncases" -f bench/api/one_event.sql returnflow_test 2>&1)
pgbench_tps=$(echo "$pgbench_out" | awk '/^tps = / {print int($3); exit}')
pgbench_latency=$(echo "$pgbench_out" | awk '/latency average/ {print $4; exit}')
echo "RESULT label=pgbench clients=$CLIENTS events_per_s=$pgbench_tps latency_avg_ms=$pgbench_latency" | tee -a "$RESULTS"

# Half of the group-commit peak, paced, for the latency target.
peak=$(field pg_group_commit events_per_s)
run_api pg_group_commit_half_load "$PG_URL" true "$((peak / 2))"

echo "== SQLite (embedded default), same load"
run_api sqlite_one_tx_per_event "sqlite:$(mktemp -d)/bench.db" false
run_api sqlite_group_commit "sqlite:$(mktemp -d)/bench.db" true

one_tx=$(field pg_one_tx_per_event events_per_s)
echo
echo "== Summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores; engine, PostgreSQL, pgbench and load generator share the machine)"
awk '{ line = ""; for (i = 2; i <= NF; i++) line = line " " $i; print " " line }' "$RESULTS"
awk -v a="$one_tx" -v b="$peak" -v p="$pgbench_tps" 'BEGIN {
  printf "ratio one-tx-per-event / pgbench = %.2f (target >= 0.7)\n", a / p;
  printf "ratio group-commit / pgbench      = %.2f (target >= 1.5)\n", b / p }'
echo "p99 at half of peak load: $(field pg_group_commit_half_load p99_ms) ms (target <= 20; the server's own: <= $(field pg_group_commit_half_load server_p99_le_ms) ms)"
