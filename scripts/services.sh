#!/usr/bin/env bash
# Provisions the services Tessera's tests need, for scripts/test.sh (which sources this file) or a
# developer's shell (`. scripts/services.sh`): PostgreSQL on 127.0.0.1:5432 with a fresh database
# for this run (dropped on exit), and Redis on 127.0.0.1:6379, each started, or installed from
# Debian's packages, if need be. Exports TESSERA_TEST_DATABASE_URL and TESSERA_TEST_REDIS_URL.
# A caller that has set either variable keeps its own service for it.

# PostgreSQL for the storage tests (crates/tessera-store/tests/it/postgres.rs), which fail
# without it. A caller that sets TESSERA_TEST_DATABASE_URL brings its own server and database.
# Otherwise: the local server on 127.0.0.1:5432 (started, or installed with Debian's postgresql
# package, if need be), and a fresh database for this run, dropped when it ends. Each test then
# creates and drops a database of its own through it.
PG_HOST=127.0.0.1
PG_PORT=5432

postgres_ready() {
  command -v pg_isready >/dev/null && pg_isready -q -h "$PG_HOST" -p "$PG_PORT"
}

# Runs the SQL on stdin as the postgres superuser, over the local socket (peer authentication).
psql_as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "psql -X -q -v ON_ERROR_STOP=1 -p $PG_PORT"
  else
    sudo -n -u postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT"
  fi
}

start_postgres() {
  if ! command -v pg_ctlcluster >/dev/null; then
    echo "scripts/test.sh: installing PostgreSQL" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  if ! postgres_ready; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -1)
    echo "scripts/test.sh: starting PostgreSQL $version" >&2
    # Fails harmlessly if the cluster is already starting; the wait below decides.
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  for _ in $(seq 30); do
    postgres_ready && return 0
    sleep 1
  done
  echo "scripts/test.sh: PostgreSQL is not answering on $PG_HOST:$PG_PORT after 30 s" >&2
  return 1
}

if [ -z "${TESSERA_TEST_DATABASE_URL:-}" ]; then
  postgres_ready || start_postgres
  ci_db="tessera_ci_$(date +%s)_$$"
  if psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
      -c "CREATE DATABASE $ci_db" 2>/dev/null; then
    # The expected setup: the postgres user, trusted on 127.0.0.1.
    pg_url="postgres://postgres@$PG_HOST:$PG_PORT"
  else
    # A fresh Debian install trusts no TCP connection (peer on the socket, passwords on TCP), so
    # make a local test role with a password (throwaway: it can only create databases) through
    # the socket, and let it own this run's database.
    echo "scripts/test.sh: no trust for postgres on $PG_HOST; using role tessera_ci" >&2
    psql_as_postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tessera_ci') THEN
    CREATE ROLE tessera_ci LOGIN CREATEDB PASSWORD 'tessera_ci';
  END IF;
END \$\$;
CREATE DATABASE $ci_db OWNER tessera_ci;
SQL
    pg_url="postgres://tessera_ci:tessera_ci@$PG_HOST:$PG_PORT"
  fi
  export TESSERA_TEST_DATABASE_URL="$pg_url/$ci_db"
  # Best effort: a database left behind only costs disk space.
  trap 'psql -X -q "$pg_url/postgres" -c "DROP DATABASE IF EXISTS $ci_db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
fi

# Redis for the shared-state tests (crates/tessera-store/tests/it/redis.rs and the two-instance
# tests in crates/tessera/tests/it/scaleout.rs), which fail without it. A caller that sets
# TESSERA_TEST_REDIS_URL brings its own; otherwise the local server on 127.0.0.1:6379, started
# (or installed with Debian's redis-server package) if need be. Tests use key prefixes of their
# own; the fault tests (FLUSHALL, stopping Redis) start private redis-server processes.
REDIS_PORT=6379

redis_ready() {
  command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

if [ -z "${TESSERA_TEST_REDIS_URL:-}" ]; then
  if ! redis_ready; then
    if ! command -v redis-server >/dev/null; then
      echo "scripts/test.sh: installing Redis" >&2
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
    echo "scripts/test.sh: starting Redis on 127.0.0.1:$REDIS_PORT" >&2
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
    for _ in $(seq 30); do
      redis_ready && break
      sleep 1
    done
    redis_ready || { echo "scripts/test.sh: Redis is not answering on 127.0.0.1:$REDIS_PORT after 30 s" >&2; exit 1; }
  fi
  export TESSERA_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
fi

