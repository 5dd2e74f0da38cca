#!/usr/bin/env bash
# Start the Debian PostgreSQL cluster and make the role the tests use (it may create databases:
# each test gets a fresh one). Safe to run again.
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q .; then
  $SUDO pg_createcluster "$version" main >/dev/null
fi
cluster=$(pg_lsclusters -h | head -1)
read -r ver name port status _ <<<"$cluster"
[ "$status" = online ] || $SUDO pg_ctlcluster "$ver" "$name" start
for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 1; done
as_pg() { if [ -z "$SUDO" ]; then su postgres -c "$(printf '%q ' "$@")"; else sudo -u postgres "$@"; fi; }
as_pg psql -qtAp "$port" -c "SELECT 1 FROM pg_roles WHERE rolname='minescope'" | grep -q 1 ||
  as_pg psql -qp "$port" -c "CREATE ROLE minescope LOGIN CREATEDB PASSWORD 'minescope'"
# the tests drop their databases WITH (FORCE): that may end a background worker still attached to one
as_pg env PGOPTIONS=--client-min-messages=warning psql -qp "$port" -c "GRANT pg_signal_backend TO minescope" >/dev/null
as_pg psql -qtAp "$port" -c "SELECT 1 FROM pg_database WHERE datname='minescope'" | grep -q 1 ||
  as_pg createdb -p "$port" -O minescope minescope
echo "PostgreSQL $ver/$name on port $port"
