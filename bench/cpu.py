"""Where the machine's CPU went during a figure: the engine processes, the Kafka broker, all.

On a 2-core machine the broker shares the cores with the engine, so "two processes against one"
is bounded by what the cores have left; these readings show how much that was (figure 4).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.stack import ROOT

TICK = os.sysconf("SC_CLK_TCK")
BROKER_PIDFILE = ROOT / ".stack" / "kafka" / "kafka.pid"


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` (its threads included); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15 of stat)


def machine_busy_s() -> float:
    """CPU seconds all cores spent not idle since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICK


def broker_pid() -> int | None:
    try:
        return int(BROKER_PIDFILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class CpuReading:
    """CPU seconds used so far by the engines, the broker and the whole machine."""

    engines_s: float
    broker_s: float
    machine_s: float


def reading(engine_pids: Iterable[int]) -> CpuReading:
    broker = broker_pid()
    return CpuReading(sum(process_cpu_s(pid) for pid in engine_pids),
                      process_cpu_s(broker) if broker else 0.0, machine_busy_s())


def cores_used(before: CpuReading, after: CpuReading, seconds: float) -> dict[str, float]:
    """Average cores busy between two readings `seconds` apart: engines, broker, whole machine."""
    span = max(seconds, 1e-9)
    return {"engines": (after.engines_s - before.engines_s) / span,
            "broker": (after.broker_s - before.broker_s) / span,
            "machine": (after.machine_s - before.machine_s) / span}
