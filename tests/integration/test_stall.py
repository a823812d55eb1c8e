"""A worker stalled by its own work is not idle input (RULES.md §4).

The watermark advances with wall-clock time only while the input is idle. Here a target answers
after 7 s — longer than the default 5 s of allowed lateness — while ticks keep arriving every
50 ms. Every tick produced during the stall must still be evaluated when the worker is free
again: none goes to the late topic, each fires the fast rule once.
"""

from __future__ import annotations

import time

import pytest

from cepflow.receiver import Receiver
from tests.integration.cli import cepflow
from tests.integration.harness import EngineProcess, Feed, StackEnv, wait_until

pytestmark = pytest.mark.integration

STALL_S = 7.0


def test_ticks_read_after_a_slow_webhook_are_not_late(stack: StackEnv, engine: EngineProcess, feed: Feed,
                                                      tmp_path, unique: str) -> None:
    with Receiver() as fast, Receiver(delay_s=STALL_S) as slow:
        rules = tmp_path / "rules.yaml"
        rules.write_text(
            f"name: every-tick-{unique}\nmatch: {{type: tick}}\n"
            f'action: {{endpoint: "{fast.url("/tick")}", body: {{n: "{{{{ event.n }}}}"}}}}\n'
            "---\n"
            f"name: slow-once-{unique}\nmatch: {{type: tick}}\nwhere: {{field: n, op: eq, value: 20}}\n"
            f'action: {{endpoint: "{slow.url("/slow")}", timeout: 10s, retry: {{max_attempts: 1}}}}\n')
        cepflow(stack, "rules", "apply", str(rules))
        engine.start()
        slow.wait_for(1, timeout=60)  # tick 20 fired: the worker is now blocked for 7 s
        time.sleep(STALL_S + 3)
        feed.stop.set()
        feed.thread.join(5)
        ticks = set(range(feed.sent))

        def missing() -> list[int]:
            return sorted(ticks - {int(r.json["n"]) for r in fast.requests})

        wait_until(lambda: not missing(), 60, "every tick to fire")
        assert len(fast.requests) == len(ticks), "a tick fired twice"
        assert stack.read_topic(f"{stack.prefix}.late") == []
        assert engine.alive()
