"""Wait until a Kafka broker answers a metadata request (used by stack/kafka.sh).

    python stack/kafka_ready.py --brokers 127.0.0.1:19092 --timeout 90 [--pid PID]

Exit 0 when AdminClient.list_topics() succeeds; 1 on timeout; 2 if --pid is given and that
process has exited (the broker died while starting). --timeout 0 means one quick try.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) still answers kill(0): look at its state.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def main() -> int:
    """Exit 0 once a broker answers a metadata request, 1 at the timeout."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", default="127.0.0.1:19092")
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--pid", type=int, default=None)
    args = ap.parse_args()

    try:
        from confluent_kafka.admin import AdminClient
    except ImportError as e:  # pragma: no cover - environment problem
        print(f"kafka_ready: cannot import confluent_kafka ({e}); set PYTHON to the project venv",
              file=sys.stderr)
        return 3

    quiet = logging.getLogger("kafka_ready.librdkafka")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    admin = AdminClient({"bootstrap.servers": args.brokers, "logger": quiet})  # type: ignore[dict-item]  # a Logger is accepted

    deadline = time.monotonic() + args.timeout
    last_err: object = None
    while True:
        if args.pid is not None and not _alive(args.pid):
            print(f"kafka_ready: broker process {args.pid} exited", file=sys.stderr)
            return 2
        per_try = 1.0 if args.timeout <= 0 else max(0.5, min(3.0, deadline - time.monotonic()))
        try:
            md = admin.list_topics(timeout=per_try)
            if md.brokers:
                return 0
            last_err = "metadata without brokers"
        except Exception as e:  # KafkaException on timeout / transport failure
            last_err = e
        if time.monotonic() >= deadline:
            if args.timeout > 0:
                print(f"kafka_ready: no answer from {args.brokers} within {args.timeout:.0f}s "
                      f"({last_err})", file=sys.stderr)
            return 1
        time.sleep(0.25)


if __name__ == "__main__":
    sys.exit(main())
