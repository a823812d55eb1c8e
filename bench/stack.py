"""The bench's side of the local stack: its own database, fresh topics, engine processes as deployed.

Rules live in a database of their own (`cepflow_bench`; the smoke test uses another), because the
integration tests empty the rules of the test database and every engine loads all the rules of
its database. Each engine run gets a fresh recovery folder and fresh internal topics (chain, dead
letters, late events); an input topic is fresh per figure, and shared only where BENCH.md says
"the same topic" (the limit and the throughput; one process and two).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from cepflow.receiver import ReceivedRequest
from cepflow.settings import Settings
from dataflow.kafka_admin import ensure_topics
from rules.model import RuleSpec
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.repositories.rules import RuleRepository
from storage.repositories.script_apis import ScriptApiRepository
from storage.uow import unit_of_work

ROOT = Path(__file__).resolve().parents[1]
BROKERS = os.environ.get("CEPFLOW_KAFKA_BROKERS", "127.0.0.1:19092")
ADMIN_URL = os.environ.get("CEPFLOW_DATABASE_URL", "postgresql+psycopg://cepflow:cepflow@127.0.0.1:15432/cepflow")
PARTITIONS = 4
RECOVERY_PARTITIONS = 4  # `cepflow run`'s default
BENCH_TABLES = ("rules", "rule_revisions", "exec_logs", "script_apis", "script_api_revisions")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class BenchDatabase:
    """A database of the bench's own (created once with the cepflow role's CREATEDB), migrated."""

    def __init__(self, name: str, admin_url: str = ADMIN_URL) -> None:
        self.url = admin_url.rsplit("/", 1)[0] + "/" + name
        with make_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
            exists = conn.execute(text("select 1 from pg_database where datname = :n"), {"n": name}).scalar()
            if not exists:
                conn.execute(text(f'create database "{name}"'))
        upgrade(self.url)
        self.sessions: sessionmaker[Session] = make_session_factory(make_engine(self.url))

    def reset(self) -> None:
        """Nothing left from an earlier run: no rules, no history, no execution log."""
        with unit_of_work(self.sessions) as session:
            session.execute(text(f"truncate {', '.join(BENCH_TABLES)}"))

    def clear_log(self) -> None:
        """An empty execution log: a second run over the same events must not be deduplicated."""
        with unit_of_work(self.sessions) as session:
            session.execute(text("truncate exec_logs"))

    def install(self, documents: Sequence[dict[str, Any]]) -> float:
        """Replace every rule with `documents` through `RuleRepository.apply`, in one transaction;
        returns the seconds it took (~4 ms a rule: apply makes ~5 round trips per rule).
        """
        started = time.perf_counter()
        with unit_of_work(self.sessions) as session:
            session.execute(text("truncate rules, rule_revisions, exec_logs"))
            repo = RuleRepository(session)
            for document in documents:
                repo.apply(RuleSpec.model_validate(document).to_document(), "bench")
        return time.perf_counter() - started

    def apply(self, document: dict[str, Any]) -> float:
        """Change one rule; returns the wall-clock time (time.time()) right after the commit."""
        with unit_of_work(self.sessions) as session:
            RuleRepository(session).apply(RuleSpec.model_validate(document).to_document(), "bench")
        return time.time()

    def script_api(self, document: dict[str, Any]) -> None:
        with unit_of_work(self.sessions) as session:
            ScriptApiRepository(session).apply(document, "bench")

    def server_version(self) -> str:
        with self.sessions() as session:
            return str(session.execute(text("show server_version")).scalar())


def make_topic(name: str) -> str:
    """A fresh input topic of `PARTITIONS` partitions."""
    ensure_topics([BROKERS], {name: PARTITIONS})
    return name


def delete_topics(names: Sequence[str]) -> None:
    """Drop the bench's topics (the broker's disk is shared); best effort."""
    if not names:
        return
    admin = AdminClient({"bootstrap.servers": BROKERS})
    for future in admin.delete_topics(list(names), operation_timeout=30).values():
        try:
            future.result(30)
        except Exception:
            pass


def preload(topic: str, values: Sequence[bytes], span_ms: tuple[int, int] | None = None) -> float:
    """Write `values` round-robin over the partitions; returns the seconds it took.

    With `span_ms` (first, last event time) every partition is framed by a `bench_begin` sentinel
    at the first time and a `bench_end` sentinel at the last: neither moves the event-time clock.
    """
    started = time.perf_counter()
    producer = Producer({"bootstrap.servers": BROKERS, "linger.ms": 50, "batch.size": 1_000_000,
                         "batch.num.messages": 100_000, "compression.type": "lz4", "acks": 1,
                         "queue.buffering.max.messages": 2_000_000, "queue.buffering.max.kbytes": 1_048_576})

    def send(value: bytes, partition: int) -> None:
        while True:
            try:
                producer.produce(topic, value, partition=partition)
                return
            except BufferError:
                producer.poll(0.05)

    if span_ms is not None:
        for p in range(PARTITIONS):
            send(sentinel("begin", p, span_ms[0]), p)
    for i, value in enumerate(values):
        send(value, i % PARTITIONS)
    if span_ms is not None:
        for p in range(PARTITIONS):
            send(sentinel("end", p, span_ms[1]), p)
    if producer.flush(120) != 0:
        msg = f"preload of {topic} did not complete"
        raise RuntimeError(msg)
    return time.perf_counter() - started


def sentinel(kind: str, partition: int, ts_ms: int) -> bytes:
    """A marker event that a `bench_begin`/`bench_end` rule turns into a webhook."""
    return orjson.dumps({"id": f"{kind}-{partition}", "type": f"bench_{kind}", "p": partition, "ts": ts_ms})


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Engine:
    """`cepflow run` (one process) or a cluster of them, as deployed, against `events_topic`."""

    def __init__(self, database_url: str, events_topic: str, processes: int = 1,
                 env: dict[str, str] | None = None) -> None:
        self.prefix = f"bench{uuid.uuid4().hex[:8]}"
        self.events_topic = events_topic
        self.processes = processes
        self.workdir = Path(tempfile.mkdtemp(prefix="cepflow-bench-"))
        self.metrics_ports = [free_port() for _ in range(processes)]
        self._env = {
            "CEPFLOW_KAFKA_BROKERS": BROKERS,
            "CEPFLOW_DATABASE_URL": database_url,
            "CEPFLOW_EVENTS_TOPICS": events_topic,
            "CEPFLOW_CHAIN_TOPIC": f"{self.prefix}.chain",
            "CEPFLOW_DEAD_LETTER_TOPIC": f"{self.prefix}.deadletter",
            "CEPFLOW_LATE_TOPIC": f"{self.prefix}.late",
            "CEPFLOW_ACTION_DEAD_LETTER_TOPIC": f"{self.prefix}.actions.deadletter",
            "CEPFLOW_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
            "CEPFLOW_INTERNAL_KEY": secrets.token_urlsafe(48),
            **(env or {}),
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def internal_topics(self) -> list[str]:
        settings = self.settings()
        return [t for t in settings.topic_plan() if t != self.events_topic]

    def settings(self) -> Settings:
        return Settings(kafka_brokers=BROKERS, events_topics=[self.events_topic],
                        chain_topic=self._env["CEPFLOW_CHAIN_TOPIC"],
                        dead_letter_topic=self._env["CEPFLOW_DEAD_LETTER_TOPIC"],
                        late_topic=self._env["CEPFLOW_LATE_TOPIC"],
                        action_dead_letter_topic=self._env["CEPFLOW_ACTION_DEAD_LETTER_TOPIC"],
                        events_partitions=PARTITIONS)

    def start(self) -> Engine:
        """`cepflow run --no-restart` per process (topics ensured, recovery as deployed: -s 2 -b 10).

        Without the supervisor: the process measured (RSS, CPU, py-spy) is the engine itself, and an
        engine that crashes fails the figure instead of being restarted under it.
        """
        ensure_topics([BROKERS], self.settings().topic_plan())
        recovery = self.workdir / "recovery"
        recovery.mkdir()
        subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), str(RECOVERY_PARTITIONS)],
                       check=True, cwd=ROOT)
        addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(self.processes))
        for index in range(self.processes):
            args = [sys.executable, "-m", "cepflow", "run", "--no-restart", "--recovery-dir", str(recovery)]
            if self.processes > 1:
                args += ["-i", str(index), "-a", addresses]
            env = {**os.environ, **self._env, "BYTEWAX_DATAFLOW_API_ENABLED": "true",
                   "BYTEWAX_DATAFLOW_API_PORT": str(self.metrics_ports[index]),
                   "BYTEWAX_DATAFLOW_API_CACHE_PATH": str(self.workdir)}
            out = (self.workdir / f"engine-{index}.log").open("wb")
            self.procs.append(subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                               start_new_session=True))
        return self

    def check_alive(self) -> None:
        for index, proc in enumerate(self.procs):
            if proc.poll() is not None:
                tail = (self.workdir / f"engine-{index}.log").read_text(errors="replace")[-3000:]
                msg = f"engine process {index} exited with {proc.returncode}:\n{tail}"
                raise RuntimeError(msg)

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGINT to every process at once (cluster peers wait for each other), SIGKILL after
        `grace_s`: what a figure measured is already recorded, only the time to stop is at stake.
        """
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + grace_s
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def close(self, keep_logs: bool = False) -> None:
        """Stop, drop the internal topics, and the work folder (recovery can be 100 MB) unless
        its logs are wanted.
        """
        self.stop()
        delete_topics(self.internal_topics)
        if not keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def pids(self) -> list[int]:
        """Every engine process and every process they started (script runners)."""
        return [pid for proc in self.procs for pid in _tree(proc.pid)]

    def status_kb(self, field: str) -> int:
        """`field` (VmHWM, VmRSS) of /proc/PID/status in KiB, summed over an engine process and
        every process it started (script runners); the largest such sum over
        the engine's processes.
        """
        return max((sum(_status_kb(pid, field) for pid in _tree(proc.pid)) for proc in self.procs), default=0)

    def metric(self, name: str) -> float:
        """A Prometheus metric summed over every label set and every process (0 when absent)."""
        import requests

        total = 0.0
        for port in self.metrics_ports:
            body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            for line in body.splitlines():
                sample, _, number = line.rpartition(" ")
                if sample.split("{", 1)[0] == name:
                    total += float(number)
        return total

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(keep_logs=exc_type is not None)


def _status_kb(pid: int, field: str) -> int:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in lines if line.startswith(field + ":")), 0)


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc (threads list their children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in children.read_text().split()]
            except OSError:
                continue
    return found


class ReceiverProcess:
    """The webhook target, in a process of its own (`python -m cepflow.receiver`).

    In the bench's own process, its threads shared the GIL with the load generator producing 5,000
    events/s: a request could be stamped late, and that wait counted as the engine's latency.
    Each request arrives here as the JSON line the program prints, stamped where it was received
    (`time.monotonic` is the same clock in every process of the machine).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[ReceivedRequest] = []
        self._proc = subprocess.Popen([sys.executable, "-m", "cepflow.receiver", "--port", str(self.port)],
                                      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._proc.stderr.readline()  # "listening on ...": it accepts requests from now on
        # Anything it says after that goes on to the bench's stderr: an undrained pipe would block it.
        threading.Thread(target=shutil.copyfileobj, args=(self._proc.stderr, sys.stderr.buffer), daemon=True).start()
        self._reader = threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, lines: Any) -> None:
        for line in lines:
            self.requests.append(ReceivedRequest.from_dict(orjson.loads(line)))

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> ReceiverProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.terminate()
        self._proc.wait(10)
        self._reader.join(10)
