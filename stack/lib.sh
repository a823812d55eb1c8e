# Shared helpers of the stack/ scripts; sourced, not run.
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file
# shellcheck shell=bash

STACK_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"   # repo/stack
ROOT="$(cd "$STACK_SRC/.." && pwd)"                          # repo root
STATE="${CEPFLOW_STACK_STATE:-$ROOT/.stack}"                  # runtime state (gitignored)

KAFKA_HOST=127.0.0.1
KAFKA_PORT="${CEPFLOW_STACK_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${CEPFLOW_STACK_KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_BROKERS="$KAFKA_HOST:$KAFKA_PORT"
PG_HOST=127.0.0.1
PG_PORT="${CEPFLOW_STACK_PG_PORT:-15432}"
PG_CLUSTER="${CEPFLOW_STACK_PG_CLUSTER:-cepflow}"     # chaos/ runs a private one beside it
PG_ROLE=cepflow
PG_PASSWORD=cepflow
PG_DATABASES=(cepflow cepflow_test)

say()  { printf '[stack] %s\n' "$*"; }
warn() { printf '[stack] WARNING: %s\n' "$*" >&2; }
die()  { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root (or sudo) for: $*"
    fi
}

# apt_install WHAT PACKAGE...: install Debian packages (apt-get update once per run), or die with
# the end of apt's output. Only Python 3.11 and root are prerequisites: the rest comes from here.
apt_install() {
    local what="$1" log="/tmp/cepflow-stack-apt.$$.log"
    shift
    say "$what: installing Debian's $* (apt-get) ..."
    if ! { { [[ -n "${CEPFLOW_STACK_APT_UPDATED:-}" ]] || as_root apt-get update -q; } \
            && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "$@"; } \
            >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "apt-get install $* failed (full output: $log)"
    fi
    export CEPFLOW_STACK_APT_UPDATED=1
    rm -f "$log"
}

# The Python that has confluent_kafka: $PYTHON, else the project venv, else python3.
resolve_python() {
    if [[ -n "${PYTHON:-}" ]]; then
        case "$PYTHON" in
            /*) printf '%s\n' "$PYTHON" ;;
            */*) printf '%s\n' "$ROOT/$PYTHON" ;;     # relative path: relative to the repo
            *) command -v "$PYTHON" ;;                # a bare command name
        esac
    elif [[ -x "$ROOT/.venv/bin/python" ]]; then
        printf '%s\n' "$ROOT/.venv/bin/python"
    else
        command -v python3 || die "no Python found (set PYTHON=/path/to/python with confluent_kafka)"
    fi
}
