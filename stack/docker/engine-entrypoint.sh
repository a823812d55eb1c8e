#!/bin/sh
# The engine container's command (installed as /usr/local/bin/cepflow-engine by the Dockerfile).
# Bytewax needs its recovery partitions initialised before the first run; do it once, when the
# directory is missing or empty, then run the dataflow with recovery on.
set -eu
RECOVERY_DIR="${CEPFLOW_RECOVERY_DIR:-/state/recovery}"
if [ ! -d "$RECOVERY_DIR" ] || [ -z "$(ls -A "$RECOVERY_DIR" 2>/dev/null)" ]; then
    echo "cepflow-engine: initialising bytewax recovery in $RECOVERY_DIR (1 partition)"
    mkdir -p "$RECOVERY_DIR"
    python -m bytewax.recovery "$RECOVERY_DIR" 1
fi
exec python -m bytewax.run cepflow.flow:flow -r "$RECOVERY_DIR" -s 5 -b 30 "$@"
