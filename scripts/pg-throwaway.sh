# shellcheck shell=bash
# A throwaway PostgreSQL cluster for tests and benchmarks, owned by an unprivileged user, listening on a
# free loopback port only, deleted when stopped. Source this file, then call pg_throwaway_start; it sets
# PG_THROWAWAY_URL (a SOCI/libpq connection URL) and PG_THROWAWAY_PORT. pg_throwaway_stop removes it.

pg_throwaway_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$bin" ]] || { echo "pg-throwaway: PostgreSQL server binaries not found" >&2; return 1; }
  echo "$bin"
}

pg_throwaway_free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

pg_throwaway_start() {
  local bin user
  bin=$(pg_throwaway_bin) || return 1
  PG_THROWAWAY_DIR=$(mktemp -d /tmp/returnflow-pg.XXXXXX)
  user=$(id -un)
  if ((EUID == 0)); then
    # initdb refuses to run as root: run the cluster as the unprivileged 'postgres' user from the package.
    user=postgres
    chown "$user" "$PG_THROWAWAY_DIR"
  fi
  PG_THROWAWAY_USER=$user
  PG_THROWAWAY_PORT=$(pg_throwaway_free_port)
  pg_throwaway_as "$bin/initdb" -D "$PG_THROWAWAY_DIR/data" -U returnflow --auth=trust -E UTF8 \
    --no-sync >"$PG_THROWAWAY_DIR/initdb.log" 2>&1 || { cat "$PG_THROWAWAY_DIR/initdb.log" >&2; return 1; }
  pg_throwaway_as "$bin/pg_ctl" -D "$PG_THROWAWAY_DIR/data" -l "$PG_THROWAWAY_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_THROWAWAY_PORT -c unix_socket_directories=$PG_THROWAWAY_DIR -c max_connections=200 -c synchronous_commit=on -c fsync=on" \
    start >/dev/null || { cat "$PG_THROWAWAY_DIR/server.log" >&2; return 1; }
  pg_throwaway_as "$bin/createdb" -h 127.0.0.1 -p "$PG_THROWAWAY_PORT" -U returnflow returnflow_test
  PG_THROWAWAY_URL="postgresql://returnflow@127.0.0.1:$PG_THROWAWAY_PORT/returnflow_test"
  export PG_THROWAWAY_URL PG_THROWAWAY_PORT PG_THROWAWAY_DIR PG_THROWAWAY_USER
  echo "pg-throwaway: PostgreSQL on 127.0.0.1:$PG_THROWAWAY_PORT ($PG_THROWAWAY_DIR)"
}

# Makes the fresh cluster write WAL the way a long-running one does, for benchmarks: a new cluster creates
# every 16 MB WAL segment as it goes, zero-filling and flushing it in full, which stalls the commits
# waiting behind it for tens of milliseconds (seen: 40-70 ms, every 2-3 s at 10 MB/s of WAL); a cluster
# that has checkpointed before reuses its old segments instead. This fills SEGMENTS segments (default 48)
# and checkpoints, so that later WAL goes into recycled files. Settings stay the defaults.
pg_throwaway_warm_wal() {
  local segments=${1:-48} script
  script="CREATE TABLE throwaway_wal_warmup (x integer);"
  for _ in $(seq 1 "$segments"); do
    script+=" INSERT INTO throwaway_wal_warmup VALUES (1); SELECT pg_switch_wal();"
  done
  script+=" CHECKPOINT; DROP TABLE throwaway_wal_warmup;"
  psql -h 127.0.0.1 -p "$PG_THROWAWAY_PORT" -U returnflow -d returnflow_test -qtA -c "$script" >/dev/null
}

pg_throwaway_as() {
  if [[ "$PG_THROWAWAY_USER" == "$(id -un)" ]]; then
    "$@"
  else
    runuser -u "$PG_THROWAWAY_USER" -- "$@"
  fi
}

pg_throwaway_stop() {
  [[ -n "${PG_THROWAWAY_DIR:-}" && -d "$PG_THROWAWAY_DIR" ]] || return 0
  local bin
  bin=$(pg_throwaway_bin) || return 0
  pg_throwaway_as "$bin/pg_ctl" -D "$PG_THROWAWAY_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_THROWAWAY_DIR"
  echo "pg-throwaway: stopped"
}
