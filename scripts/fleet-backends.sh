#!/usr/bin/env bash
# The fleet load generator (docs/fleet-load.md) against the release server binary on each
# backend: SQLite (one process), PostgreSQL with one server process, PostgreSQL with two on
# one database (phones alternating between them). Prints each run's report.
#
#   scripts/fleet-backends.sh [sqlite] [pg1] [pg2] [-- FLEET_OPTIONS...]
#   e.g. scripts/fleet-backends.sh -- --devices 200
#
# Server CPU is the server processes' plus, on PostgreSQL, the postmaster's children (the
# backends doing the database's work); storage is the SQLite file and its WAL, or
# pg_database_size. PostgreSQL runs with its durable defaults (POSTGRES_FSYNC=on), as SQLite
# does here.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do runs+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#runs[@]} -gt 0 ] || runs=(sqlite pg1 pg2)

cargo build --release -p contacts-agent-server --bin contacts-agent-server
cargo bench --bench fleet --no-run
server=target/release/contacts-agent-server
fleet=$(cargo bench --bench fleet --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "fleet" and m.get("executable"):
        print(m["executable"])')
export CONTACTS_ADMIN_TOKEN=fleet-backends-admin-token-0123
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Starts the server with "$@"; waits for its address; sets $url and $pid.
serve() {
  local log=$work/server-$RANDOM.log
  "$server" --bind 127.0.0.1:0 --workers 4 "$@" 2>"$log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 600); do
    url=$(sed -n 's/^listening on //p' "$log")
    [ -n "$url" ] && return
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 1
  done
  echo "the server did not start" >&2
  exit 1
}

for run in "${runs[@]}"; do
  case $run in
    sqlite)
      echo "== SQLite, one server process"
      serve --db "$work/fleet.db" --seed-users 10000
      "$fleet" --server-url "$url" --server-pid "$pid" \
        --storage-file "$work/fleet.db" --storage-file "$work/fleet.db-wal" "$@"
      ;;
    pg1 | pg2)
      n=${run#pg}
      echo "== PostgreSQL, $n server process(es) on one database"
      POSTGRES_FSYNC=on scripts/postgres.sh sh -c '
        set -eu
        psql "$CONTACTS_AGENT_TEST_POSTGRES" -qc "CREATE DATABASE fleet"
        echo "${CONTACTS_AGENT_TEST_POSTGRES%/*}/fleet" >"$0/db"
        head -1 "$(dirname "$CONTACTS_AGENT_TEST_POSTGRES_CTL")/data/postmaster.pid" >"$0/postmaster"
        # Until the fleet run below removes this file.
        touch "$0/up"; while [ -e "$0/up" ]; do sleep 1; done
      ' "$work" &
      cluster=$!
      while [ ! -s "$work/postmaster" ]; do sleep 1; done
      db=$(cat "$work/db")
      serve --database "$db" --seed-users 10000
      urls=(--server-url "$url") spids=(--server-pid "$pid")
      if [ "$n" = 2 ]; then
        serve --database "$db"
        urls+=(--server-url "$url") spids+=(--server-pid "$pid")
      fi
      "$fleet" "${urls[@]}" "${spids[@]}" --server-pid "$(cat "$work/postmaster")" \
        --storage-command "psql '$db' -Atc 'SELECT pg_database_size(current_database())'" "$@"
      for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
      pids=()
      rm -f "$work/up" "$work/postmaster"
      wait "$cluster"
      ;;
    *) echo "unknown run $run (sqlite, pg1, pg2)" >&2; exit 1 ;;
  esac
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pids=()
done
