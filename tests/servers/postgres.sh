#!/bin/sh
# A PostgreSQL server for the tests: `make test` runs this first (its `postgres` step).
#
# Nothing to do when $SYNDICATE_TEST_POSTGRES names a server, or when one answers on
# 127.0.0.1:5432 (the development and CI machines run one, trust auth).  Otherwise, as root:
# install Debian's postgresql if it is missing, then make (or reuse) a cluster that listens on
# 127.0.0.1:5432 only, with trust auth for local connections, and start it.  The tests then
# create and drop a database of their own each (tests/databases.py).
#
# SYNDICATE_TEST_PG_CLUSTER and SYNDICATE_TEST_PG_PORT (default main, 5432) exist to try this
# script on a machine that already runs a server: another cluster, another port.
set -eu
CLUSTER=${SYNDICATE_TEST_PG_CLUSTER:-main}
PORT=${SYNDICATE_TEST_PG_PORT:-5432}

answers() {
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 2).close()" 2>/dev/null
}

[ -n "${SYNDICATE_TEST_POSTGRES:-}" ] && exit 0
answers && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "no PostgreSQL on 127.0.0.1:$PORT: install one (sudo apt-get install postgresql, trust auth" \
         "for 127.0.0.1) or set SYNDICATE_TEST_POSTGRES=postgresql://user@host:port/db" >&2
    exit 1
fi
if ! command -v pg_createcluster >/dev/null 2>&1; then
    echo "installing Debian's postgresql for the tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
VERSION=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1 " " $2}' | grep -qx "$VERSION $CLUSTER"; then
    pg_createcluster "$VERSION" "$CLUSTER" --port "$PORT" >/dev/null
fi
cat > "/etc/postgresql/$VERSION/$CLUSTER/pg_hba.conf" <<HBA
# syndicate's tests (tests/servers/postgres.sh): trust, on this machine only
local all all trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128 trust
HBA
pg_conftool "$VERSION" "$CLUSTER" set port "$PORT"
mkdir -p "/etc/postgresql/$VERSION/$CLUSTER/conf.d"  # included last by Debian's postgresql.conf
echo "listen_addresses = '127.0.0.1'" > "/etc/postgresql/$VERSION/$CLUSTER/conf.d/syndicate-tests.conf"
pg_ctlcluster "$VERSION" "$CLUSTER" stop >/dev/null 2>&1 || true
pg_ctlcluster "$VERSION" "$CLUSTER" start
tries=0
until answers; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        echo "PostgreSQL $VERSION/$CLUSTER did not answer on 127.0.0.1:$PORT" >&2
        exit 1
    fi
    sleep 1
done
echo "PostgreSQL $VERSION/$CLUSTER on 127.0.0.1:$PORT for the tests" >&2
