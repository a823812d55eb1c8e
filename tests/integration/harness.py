"""Running the real engine against the real local Kafka and PostgreSQL, for integration tests.

Each test gets its own topics and recovery folder, so tests never see each other's events.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import requests
from confluent_kafka import Consumer, TopicPartition

from cepflow.settings import Settings
from dataflow.kafka_admin import ensure_topics
from dataflow.kafka_out import OutMessage, ReliableProducer
from dataflow.sealing import Sealer
from tests.conftest import TEST_TOPIC_PREFIXES

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {value!r}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metrics_env(port: int, workdir: Path) -> dict[str, str]:
    """Environment of an engine serving `/metrics` on `port` (it writes `dataflow.json` in `workdir`)."""
    return {"BYTEWAX_DATAFLOW_API_ENABLED": "true", "BYTEWAX_DATAFLOW_API_PORT": str(port),
            "BYTEWAX_DATAFLOW_API_CACHE_PATH": str(workdir)}


def metric(port: int, name: str, **labels: str) -> float | None:
    """A sample of an engine's Prometheus `/metrics` (BYTEWAX_DATAFLOW_API_ENABLED) with these labels."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    for line in text.splitlines():
        sample, _, number = line.rpartition(" ")
        metric_name, _, label_text = sample.partition("{")
        if metric_name == name and all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            return float(number)
    return None


INTERNAL_KEY = os.environ.get("CEPFLOW_INTERNAL_KEY") or f"test-internal-key-{uuid.uuid4().hex}"
"""The sealing key of every engine and CLI a test starts (the test process's, tests/conftest.py)."""
SEALER = Sealer(INTERNAL_KEY.encode())


@dataclass
class StackEnv:
    """Engine environment for one test: unique topics, the test database, loopback allowed."""

    brokers: str
    database_url: str
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        TEST_TOPIC_PREFIXES.setdefault(self.brokers, set()).add(self.prefix)

    def env(self) -> dict[str, str]:
        return {
            "CEPFLOW_KAFKA_BROKERS": self.brokers,
            "CEPFLOW_DATABASE_URL": self.database_url,
            "CEPFLOW_EVENTS_TOPICS": orjson.dumps([f"{self.prefix}.events"]).decode(),
            "CEPFLOW_CHAIN_TOPIC": f"{self.prefix}.chain",
            "CEPFLOW_DEAD_LETTER_TOPIC": f"{self.prefix}.deadletter",
            "CEPFLOW_LATE_TOPIC": f"{self.prefix}.late",
            "CEPFLOW_ACTION_DEAD_LETTER_TOPIC": f"{self.prefix}.actions.deadletter",
            "CEPFLOW_WEBHOOK_ALLOW_HOSTS": '["127.0.0.1"]',
            "CEPFLOW_RULE_REFRESH_S": "0.3",
            "CEPFLOW_INTERNAL_KEY": INTERNAL_KEY,
            **self.extra,
        }

    def settings(self) -> Settings:
        return Settings(**{k.removeprefix("CEPFLOW_").lower(): orjson.loads(v) if v.startswith("[") else v
                           for k, v in self.env().items()})

    @property
    def events_topic(self) -> str:
        return f"{self.prefix}.events"

    def ensure_topics(self) -> None:
        settings = self.settings()
        ensure_topics(settings.brokers, settings.topic_plan())

    def produce(
        self,
        values: list[bytes | dict[str, Any]],
        topic: str | None = None,
        key: bytes | Callable[[Any], bytes] | None = None,
    ) -> None:
        """Send `values` in order. Messages with the same `key` (bytes, or a function of the value)
        land in one partition, so they are read in the order sent."""
        producer = ReliableProducer([self.brokers])
        for value in values:
            raw = value if isinstance(value, bytes) else orjson.dumps(value)
            producer.send(OutMessage(topic or self.events_topic, raw, key=key(value) if callable(key) else key))
        producer.flush()

    def read_topic(self, topic: str, timeout: float = 10.0) -> list[Any]:
        """Every message currently in `topic` (all partitions), with values and headers."""
        consumer = Consumer({"bootstrap.servers": self.brokers, "group.id": f"{self.prefix}-reader",
                             "enable.auto.commit": "false"})
        try:
            meta = consumer.list_topics(topic, timeout=timeout).topics[topic]
            parts = []
            for p in meta.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
                if high > low:
                    parts.append((p, low, high))
            consumer.assign([TopicPartition(topic, p, low) for p, low, _ in parts])
            wanted = sum(high - low for _, low, high in parts)
            out: list[Any] = []
            deadline = time.monotonic() + timeout
            while len(out) < wanted and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is not None and msg.error() is None:
                    out.append(msg)
            return out
        finally:
            consumer.close()


class EngineProcess:
    """`python -m bytewax.run cepflow.flow:flow` with recovery, as deployed.

    One process of a cluster: `cluster=(process id, addresses)`; the processes of a cluster on one
    machine share one recovery folder (`recovery`) of `partitions` partitions, created by the first
    one started. `name` names the log file; `env` adds to the stack's environment.
    """

    def __init__(
        self,
        stack: StackEnv,
        workdir: Path,
        snapshot_s: int = 1,
        *,
        recovery: Path | None = None,
        partitions: int = 1,
        cluster: tuple[int, str] | None = None,
        name: str = "engine",
        env: dict[str, str] | None = None,
    ) -> None:
        self.stack = stack
        self.recovery = recovery or workdir / "recovery"
        self.partitions = partitions
        self.cluster = cluster
        self.env = env or {}
        self.log_path = workdir / f"{name}.log"
        self.snapshot_s = snapshot_s
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, extra_args: list[str] | None = None) -> EngineProcess:
        if not self.recovery.exists():
            self.recovery.mkdir(parents=True)
            subprocess.run([sys.executable, "-m", "bytewax.recovery", str(self.recovery), str(self.partitions)],
                           check=True)
        if self.cluster is not None:
            extra_args = ["-i", str(self.cluster[0]), "-a", self.cluster[1], *(extra_args or [])]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.command(extra_args or []), cwd=ROOT,
                                     env={**os.environ, **self.stack.env(), **self.env},
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def command(self, extra_args: list[str]) -> list[str]:
        """The engine's command line (chaos/ runs `cepflow run` instead, as deployed)."""
        return [sys.executable, "-m", "bytewax.run", "cepflow.flow:flow", "-r", str(self.recovery),
                "-s", str(self.snapshot_s), "-b", str(self.snapshot_s * 5), *extra_args]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, no clean shutdown."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        stop_all([self])

    def committed_state_keys(self, step_id: str) -> set[str]:
        """Keys of `step_id` with state in a snapshot before the resume epoch: what a restart resumes with.

        The resume epoch is the lowest frontier of the workers of the latest execution.
        """
        fronts: list[tuple[int, int, int]] = []
        snaps: list[tuple[str, int]] = []
        for part in self.recovery.glob("part-*.sqlite3"):
            with contextlib.closing(sqlite3.connect(part)) as db:
                fronts += db.execute("SELECT ex_num, worker_index, worker_frontier FROM fronts").fetchall()
                snaps += db.execute("SELECT state_key, snap_epoch FROM snaps"
                                    " WHERE step_id = ? AND ser_change IS NOT NULL", (step_id,)).fetchall()
        if not fronts:
            return set()
        latest = max(ex for ex, _, _ in fronts)
        resume = min(frontier for ex, _, frontier in fronts if ex == latest)
        return {key for key, epoch in snaps if epoch < resume}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def stop_all(processes: list[EngineProcess]) -> None:
    """SIGINT to every process at once (a cluster process waits for its peers), SIGKILL after 10 s."""
    running = [p for p in processes if p.alive()]
    for process in running:
        assert process.proc is not None
        os.killpg(process.proc.pid, signal.SIGINT)
    for process in running:
        assert process.proc is not None
        try:
            process.proc.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


class Feed:
    """Sends `{"type": "tick", "n": n, "ts": now}` every 50 ms, all with one key (one partition)."""

    def __init__(self, stack: StackEnv) -> None:
        self.topic = stack.events_topic
        self.producer = ReliableProducer([stack.brokers])
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.sent = 0

    def _run(self) -> None:
        while not self.stop.is_set():
            tick = {"id": f"tick-{self.sent}", "type": "tick", "n": self.sent, "ts": int(time.time() * 1000)}
            self.producer.send(OutMessage(self.topic, orjson.dumps(tick), key=b"tick"))
            self.producer.flush()
            self.sent += 1
            time.sleep(0.05)
