"""Fault injection for the crash tests: the engine kills itself (SIGKILL) at a named step, once.

`CEPFLOW_FAULT_KILL_AT="<step>:<marker file>"` arms it: the first time this process reaches
`fault_point("<step>")` and the marker file does not exist yet, it creates the file and SIGKILLs
itself — no clean-up, no flush, exactly like a crash. The restarted engine finds the marker and
goes on, so a test sees one crash at exactly that step. Unset (always, in production) it costs a
string comparison. The steps are those of the outbox design in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

ENV = "CEPFLOW_FAULT_KILL_AT"
STEPS = ("claimed", "acted", "committed", "relay-taken", "relay-sent", "relay-marked")

_step, _, _marker = os.environ.get(ENV, "").partition(":")


def fault_point(step: str) -> None:
    """SIGKILL this process here if the test armed this `step` and it has not fired yet."""
    if step != _step or not _marker:
        return
    try:
        Path(_marker).touch(exist_ok=False)
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
