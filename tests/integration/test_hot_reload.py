"""Hot reload on the real stack: rules changed, disabled, enabled, deleted and added while events flow."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cepflow.receiver import Receiver
from storage.models.exec_log import ExecLog
from storage.repositories.rules import RuleRepository
from tests.integration.cli import cepflow
from tests.integration.harness import StackEnv, wait_until

pytestmark = pytest.mark.integration


class Feed:
    """Sends one `tick` event every 50 ms until stopped."""

    def __init__(self, stack: StackEnv) -> None:
        self.stack = stack
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.stack.produce([{"id": f"tick-{self.sent}", "type": "tick", "ts": int(time.time() * 1000)}])
            self.sent += 1
            time.sleep(0.05)


@pytest.fixture()
def feed(stack: StackEnv) -> Iterator[Feed]:
    feed = Feed(stack)
    feed.thread.start()
    yield feed
    feed.stop.set()
    feed.thread.join(5)


def write(tmp_path: Path, name: str, url: str, marker: str) -> Path:
    path = tmp_path / f"{name}-{marker}.yaml"
    path.write_text(f'name: {name}\nmatch: {{type: tick}}\naction: {{endpoint: "{url}", body: {{v: "{marker}"}}}}\n')
    return path


def markers_since(receiver: Receiver, start: int) -> list[str]:
    return [r.json["v"] for r in receiver.requests[start:]]


def quiet(receiver: Receiver, marker: str, seconds: float = 2.0) -> bool:
    """No webhook with `marker` arrives during `seconds` (after a short settle)."""
    time.sleep(1.0)
    start = len(receiver.requests)
    time.sleep(seconds)
    return marker not in markers_since(receiver, start)


def test_changes_apply_while_running_without_restart(stack, engine, feed, sessions, tmp_path, unique, capsys):
    name = f"tick-{unique}"
    with Receiver() as receiver:
        url = receiver.url("/tick")
        cepflow(stack, "rules", "apply", str(write(tmp_path, name, url, "v1")))
        engine.start()
        wait_until(lambda: "v1" in markers_since(receiver, 0), 60, "first fires of v1")

        start = len(receiver.requests)
        changed_at = time.monotonic()
        cepflow(stack, "rules", "apply", str(write(tmp_path, name, url, "v2")))
        wait_until(lambda: "v2" in markers_since(receiver, start), 10, "fires of the changed rule")
        reload_s = time.monotonic() - changed_at
        with capsys.disabled():
            print(f"\nhot reload: first webhook of the new version {reload_s:.2f}s after `rules apply` returned")

        cepflow(stack, "rules", "disable", name)
        assert quiet(receiver, "v2"), "a disabled rule still fires"
        start = len(receiver.requests)
        cepflow(stack, "rules", "enable", name)
        wait_until(lambda: "v2" in markers_since(receiver, start), 10, "fires after enable")

        added = f"tick-added-{unique}"
        start = len(receiver.requests)
        cepflow(stack, "rules", "apply", str(write(tmp_path, added, url, "new")))
        wait_until(lambda: "new" in markers_since(receiver, start), 10, "fires of an added rule")

        cepflow(stack, "rules", "delete", name)
        assert quiet(receiver, "v2"), "a deleted rule still fires"
        assert engine.alive()

    with sessions() as session:
        history = RuleRepository(session).history(name)
        rule_id = history[0].rule_id
        versions = {r.rule_version for r in session.scalars(select(ExecLog).where(ExecLog.rule_id == rule_id))}
    assert {1, 2} <= versions  # v1 fires, then v2 (the change), then v4 (enabled again)
    assert 4 in versions
