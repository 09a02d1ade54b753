#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests and the figures: a fresh cluster in a temporary
# directory, on a free port of 127.0.0.1 (and a unix socket in that directory), removed at exit.
#
#   scripts/postgres.sh COMMAND [ARGS...]   runs COMMAND with the cluster up, then stops it;
#                                           exits with COMMAND's status
#   scripts/postgres.sh                     starts it, prints the URL, waits for Ctrl-C
#
# COMMAND sees:
#   CONTACTS_AGENT_TEST_POSTGRES       postgres://postgres@127.0.0.1:PORT/postgres (a superuser,
#                                      no password from 127.0.0.1; every other role needs one)
#   CONTACTS_AGENT_TEST_POSTGRES_CTL   a pg_ctl bound to this cluster, run as the right user
#                                      (e.g. "$CONTACTS_AGENT_TEST_POSTGRES_CTL" restart -m fast)
#
# Debian's `postgresql` package is installed when initdb is missing (root only). initdb and
# postgres refuse to run as root, so as root they run as the `postgres` system user.
# POSTGRES_FSYNC=on keeps PostgreSQL's durable defaults (the figures); the tests run with
# fsync off: the cluster is deleted at exit, so surviving an OS crash buys nothing.
set -euo pipefail

find_bin_dir() {
  local d
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  # Debian keeps the server binaries out of PATH, one directory per major version.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  done
  return 1
}

bin=$(find_bin_dir) || {
  if [ "$(id -u)" -ne 0 ]; then
    echo "postgres.sh: PostgreSQL's initdb/pg_ctl not found; install Debian's postgresql package" >&2
    exit 1
  fi
  echo "postgres.sh: installing Debian's postgresql package" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bin=$(find_bin_dir) || { echo "postgres.sh: no initdb after installing postgresql" >&2; exit 1; }
}

if [ "$(id -u)" -eq 0 ]; then
  getent passwd postgres >/dev/null ||
    useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin postgres
  as_pg() { runuser -u postgres -- "$@"; }
  owner=postgres
else
  as_pg() { "$@"; }
  owner=$(id -un)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/contacts-agent-pg.XXXXXX")
chmod 755 "$dir"
chown "$owner" "$dir"
cleanup() {
  as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# postgres runs with the temp directory as its working directory: the caller's may not be
# readable by the postgres user.
(cd "$dir" && as_pg "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 \
  --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1) || {
  cat "$dir/initdb.log" >&2
  exit 1
}
# The superuser connects from loopback without a password; any other role must give one
# (what the wrong-password test relies on). Nothing listens beyond 127.0.0.1.
{
  echo "local all all trust"
  echo "host all postgres 127.0.0.1/32 trust"
  echo "host all all 127.0.0.1/32 scram-sha-256"
} >"$dir/data/pg_hba.conf"

# Settings go in postgresql.conf (not pg_ctl -o) so that a stop and start keeps them.
fsync=${POSTGRES_FSYNC:-off}
{
  echo "listen_addresses = '127.0.0.1'"
  echo "unix_socket_directories = '$dir'"
  echo "fsync = $fsync"
  [ "$fsync" = off ] && printf '%s\n' "synchronous_commit = off" "full_page_writes = off"
} >>"$dir/data/postgresql.conf"
started=
for _ in 1 2 3 4 5; do
  # A free port now may be taken by the time postgres binds it: try another (the last
  # `port` line of the file wins).
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "port = $port" >>"$dir/data/postgresql.conf"
  if (cd "$dir" && as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start) >/dev/null; then
    started=1
    break
  fi
done
[ -n "$started" ] || { echo "postgres.sh: PostgreSQL did not start" >&2; tail -20 "$dir/server.log" >&2; exit 1; }

# A pg_ctl for the tests (restart during a sync), run as the cluster's owner.
cat >"$dir/pg_ctl" <<EOF
#!/bin/sh
cd "$dir" || exit 1
exec $( [ "$owner" = "$(id -un)" ] || echo "runuser -u $owner --") "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" "\$@"
EOF
chmod 755 "$dir/pg_ctl"

export CONTACTS_AGENT_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
export CONTACTS_AGENT_TEST_POSTGRES_CTL="$dir/pg_ctl"
echo "postgres.sh: PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') at $CONTACTS_AGENT_TEST_POSTGRES (data in $dir)" >&2

if [ $# -eq 0 ]; then
  echo "$CONTACTS_AGENT_TEST_POSTGRES"
  echo "postgres.sh: Ctrl-C stops and removes it" >&2
  while :; do sleep 3600 & wait $!; done
fi
set +e
"$@"
status=$?
set -e
exit "$status"
