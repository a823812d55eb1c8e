#!/usr/bin/env bash
# PostgreSQL from Debian's packages, as a dedicated cluster "cepflow" on 127.0.0.1:15432.
#
#   stack/postgres.sh install  apt-get install postgresql when the server binaries are missing
#   stack/postgres.sh start    install if needed, create the cluster once, start it, wait until
#                              it accepts connections, ensure role cepflow and databases
#                              cepflow, cepflow_test (idempotent)
#   stack/postgres.sh stop     stop the cepflow cluster
#   stack/postgres.sh status   exit 0 when a server answers on 127.0.0.1:15432 (pg_isready)
#
# PostgreSQL refuses to run as root, so the cluster is managed by Debian's postgresql-common
# tools (pg_createcluster / pg_ctlcluster), which run the server as the postgres user; its data
# lives in /var/lib/postgresql/<major>/cepflow, not in the repo (CI clones are root-only dirs).
set -euo pipefail
# shellcheck source=stack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

READY_TIMEOUT="${CEPFLOW_STACK_PG_TIMEOUT:-60}"
export PGCONNECT_TIMEOUT=3

have_server() {
    command -v pg_ctlcluster >/dev/null && command -v pg_createcluster >/dev/null \
        && command -v pg_isready >/dev/null \
        && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

cmd_install() {
    if have_server; then
        return 0
    fi
    apt_install postgres postgresql postgresql-client
    have_server || die "postgresql installed but pg_ctlcluster/postgres still not found"
    say "postgres: installed $(newest_major | sed 's/^/PostgreSQL /')"
}

newest_major() {
    local d
    for d in /usr/lib/postgresql/*/bin/postgres; do
        [[ -x "$d" ]] && basename "$(dirname "$(dirname "$d")")"
    done | sort -V | tail -n1
}

# Major version of our cluster if it exists (it may predate a newer installed major).
cluster_major() {
    pg_lsclusters -h 2>/dev/null | awk -v c="$PG_CLUSTER" '$2 == c {print $1}' | sort -V | tail -n1
}

cluster_online() {  # cluster_online MAJOR
    pg_lsclusters -h 2>/dev/null | awk -v c="$PG_CLUSTER" -v v="$1" '$1 == v && $2 == c {print $4}' \
        | grep -q '^online'
}

answering() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" >/dev/null 2>&1; }

ensure_cluster() {
    local ver
    ver="$(cluster_major)"
    if [[ -n "$ver" ]]; then
        printf '%s\n' "$ver"
        return 0
    fi
    ver="$(newest_major)"
    [[ -n "$ver" ]] || die "no PostgreSQL server version found under /usr/lib/postgresql"
    say "postgres: creating cluster $ver/$PG_CLUSTER on $PG_HOST:$PG_PORT" >&2
    mkdir -p "$STATE"
    local log="$STATE/pg_createcluster.log"
    if ! as_root pg_createcluster "$ver" "$PG_CLUSTER" -p "$PG_PORT" --start-conf=manual \
            -- --auth-local=peer --auth-host=scram-sha-256 >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "pg_createcluster $ver $PG_CLUSTER failed (full output: $log)"
    fi
    printf '%s\n' "$ver"
}

# Our settings, in the conf.d/ directory that Debian's postgresql.conf includes last; rewritten
# on each start so that changes here take effect.
write_conf() {  # write_conf MAJOR
    local dir="/etc/postgresql/$1/$PG_CLUSTER/conf.d"
    as_root mkdir -p "$dir"
    as_root tee "$dir/cepflow-stack.conf" >/dev/null <<CONF
# Written by stack/postgres.sh on each start; edit the script, not this file.
listen_addresses = '$PG_HOST'
port = $PG_PORT
max_connections = 200
# A local development/test database: durability traded for speed. Never keep real data here.
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
}

psql_admin() {  # run psql as the postgres superuser over the unix socket of our cluster
    (cd / && as_root runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@")
}

ensure_role_and_dbs() {
    psql_admin <<SQL >/dev/null
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SQL
    local db
    for db in "${PG_DATABASES[@]}"; do
        if [[ "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]]; then
            psql_admin -c "CREATE DATABASE $db OWNER $PG_ROLE" >/dev/null
            say "postgres: created database $db"
        fi
    done
}

wait_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT))
    until answering; do
        if (( SECONDS >= deadline )); then
            {
                printf '[stack] ERROR: postgres did not accept connections on %s:%s within %ss\n' \
                    "$PG_HOST" "$PG_PORT" "$READY_TIMEOUT"
                local lf
                for lf in /var/log/postgresql/postgresql-*-"$PG_CLUSTER".log; do
                    [[ -f "$lf" ]] && { printf '[stack] last 40 lines of %s:\n' "$lf"; tail -n 40 "$lf"; }
                done
            } >&2
            exit 1
        fi
        sleep 0.2
    done
}

cmd_start() {
    if answering; then
        local ver
        ver="$(cluster_major)"
        if [[ -n "$ver" ]] && cluster_online "$ver"; then
            ensure_role_and_dbs
            say "postgres: cluster $ver/$PG_CLUSTER already running on $PG_HOST:$PG_PORT; reusing it"
        else
            say "postgres: a server (not cluster $PG_CLUSTER) already answers on $PG_HOST:$PG_PORT; reusing it"
        fi
        return 0
    fi
    cmd_install
    local ver
    ver="$(ensure_cluster)"
    write_conf "$ver"
    say "postgres: starting cluster $ver/$PG_CLUSTER on $PG_HOST:$PG_PORT"
    if ! as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$PG_CLUSTER" start; then
        local lf="/var/log/postgresql/postgresql-$ver-$PG_CLUSTER.log"
        [[ -f "$lf" ]] && { echo "[stack] last 40 lines of $lf:" >&2; tail -n 40 "$lf" >&2; }
        die "pg_ctlcluster $ver $PG_CLUSTER start failed"
    fi
    wait_ready
    ensure_role_and_dbs
    say "postgres: ready on $PG_HOST:$PG_PORT (databases: ${PG_DATABASES[*]})"
}

cmd_stop() {
    if ! command -v pg_lsclusters >/dev/null; then
        say "postgres: not installed"
        return 0
    fi
    local ver
    ver="$(cluster_major)"
    if [[ -z "$ver" ]] || ! cluster_online "$ver"; then
        if answering; then
            say "postgres: the server on $PG_HOST:$PG_PORT is not cluster $PG_CLUSTER; leaving it"
        else
            say "postgres: not running"
        fi
        return 0
    fi
    say "postgres: stopping cluster $ver/$PG_CLUSTER"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$PG_CLUSTER" stop -m fast \
        || die "pg_ctlcluster $ver $PG_CLUSTER stop failed"
    say "postgres: stopped"
}

cmd_status() {
    if answering; then
        local ver
        ver="$(cluster_major 2>/dev/null || true)"
        if [[ -n "$ver" ]] && cluster_online "$ver"; then
            say "postgres: cluster $ver/$PG_CLUSTER running on $PG_HOST:$PG_PORT"
        else
            say "postgres: a server answers on $PG_HOST:$PG_PORT (not cluster $PG_CLUSTER)"
        fi
        return 0
    fi
    say "postgres: not running"
    return 1
}

case "${1:-}" in
    install) cmd_install ;;
    start)   cmd_start ;;
    stop)    cmd_stop ;;
    status)  cmd_status ;;
    *) echo "usage: $0 {install|start|stop|status}" >&2; exit 2 ;;
esac
