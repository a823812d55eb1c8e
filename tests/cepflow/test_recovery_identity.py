"""Recovery identity: a recovery folder written by an older layout of the code resumes with this one.

Bytewax keys snapshots by flow id and step ids (BYTEWAX.md §1.1); moving modules must not change
them. `tests/fixtures/recovery_v1/` was written by commit 469f46d (before the package floors of
issue 10) with `write_fixture()` below: two of three events of a threshold rule, then EOF. Resuming
it, the third event completes the window — only if the state in the folder was found again.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main

from cepflow.flow import build_flow
from cepflow.settings import Settings
from dataflow.rule_cache import StoredRule, build_rule_set
from dataflow.types import Execution
from dataflow.watermark import WatermarkClock
from tests.cepflow.test_flow_memory import CountingPipeline

FIXTURE = Path(__file__).parent.parent / "fixtures" / "recovery_v1"
T0 = 1_700_000_000_000
SPEC = {
    # No lateness: the third event is applied as soon as it is read (the input then ends).
    "name": "recovery-identity", "match": {"type": "cpu"}, "group_by": ["host"], "time": {"allowed_lateness": 0},
    "detect": {"kind": "threshold", "window": {"type": "sliding", "size": "1h"},
               "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 3}},
    "action": {"type": "webhook", "endpoint": "https://hooks.example.com/x"},
}


def _run(recovery: Path, offsets: tuple[int, ...] = (0, 1, -1, 2)) -> list[Execution]:
    """Events by offset through the real flow; -1 is an EOF (the run stops, the next resumes after it)."""
    settings = Settings(kafka_brokers="127.0.0.1:9")  # never contacted
    topic = settings.events_topics[0]
    rules = build_rule_set([StoredRule("rule-recovery-identity", SPEC["name"], 1, True, SPEC)])
    recorder = CountingPipeline()  # keeps what the flow sends to the sink
    fake = SimpleNamespace(rules=SimpleNamespace(current=lambda: rules), clock=WatermarkClock(now=None),
                           pipeline=recorder)

    def message(offset: int) -> KafkaSourceMessage:
        body = {"id": f"e{offset}", "type": "cpu", "host": "web-1", "ts": T0 + offset * 1000}
        return KafkaSourceMessage(key=None, value=json.dumps(body).encode(), topic=topic, partition=0,
                                  offset=offset)

    source = TestingSource([TestingSource.EOF() if o < 0 else message(o) for o in offsets])
    flow = build_flow(settings, resources=lambda: fake, source=source)
    run_main(flow, epoch_interval=timedelta(0), recovery_config=RecoveryConfig(str(recovery)))
    return recorder.executions


def write_fixture(folder: Path = FIXTURE) -> None:
    """How the fixture was made (run once, by the older layout): the first two events, then EOF."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    init_db_dir(folder, 1)
    assert _run(folder) == []


def test_a_recovery_folder_of_the_older_layout_resumes(tmp_path: Path) -> None:
    recovery = tmp_path / "recovery"
    shutil.copytree(FIXTURE, recovery)
    executions = _run(recovery)
    assert [(e.rule_name, e.value) for e in executions] == [("recovery-identity", 3)]


def test_without_the_folder_the_third_event_alone_does_not_fire(tmp_path: Path) -> None:
    init_db_dir(tmp_path, 1)
    assert _run(tmp_path, (2,)) == []  # so the test above fires only with the resumed state
