#!/bin/sh
# The engine container's command (installed as /usr/local/bin/cepflow-engine by the Dockerfile).
# Bytewax needs its recovery partitions initialised before the first run; do it once, when the
# directory is missing or empty (CEPFLOW_RECOVERY_PARTITIONS of them, default 1), then run the
# dataflow with recovery on. `cepflow-engine --init-only` initialises and exits: the compose file's
# `recovery-init` does it before the processes of a cluster start together. Other arguments
# (`-i 0 -a "engine-0:2101;engine-1:2101"`) go to bytewax.run.
set -eu
RECOVERY_DIR="${CEPFLOW_RECOVERY_DIR:-/state/recovery}"
PARTITIONS="${CEPFLOW_RECOVERY_PARTITIONS:-1}"
if [ ! -d "$RECOVERY_DIR" ] || [ -z "$(ls -A "$RECOVERY_DIR" 2>/dev/null)" ]; then
    echo "cepflow-engine: initialising bytewax recovery in $RECOVERY_DIR ($PARTITIONS partitions)"
    mkdir -p "$RECOVERY_DIR"
    python -m bytewax.recovery "$RECOVERY_DIR" "$PARTITIONS"
fi
if [ "${1:-}" = "--init-only" ]; then
    exit 0
fi
exec python -m bytewax.run cepflow.flow:flow -r "$RECOVERY_DIR" -s 5 -b 30 "$@"
