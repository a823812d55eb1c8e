"""`make bench`: the figures of BENCH.md against the real local Kafka and PostgreSQL.

Each figure gets fresh topics and a fresh recovery folder; rules live in a dedicated database
`cepflow_bench`. Throughput is timed between sentinel webhooks: one "begin" event at the head of
every partition and one "end" event at its tail, so engine start-up is not counted. Results go to
`bench/results/latest.json` (raw numbers, machine, versions) and a table on stdout.
`--quick` runs everything at a small scale (for development and the smoke test).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy import delete, text

from bench.workload import events, rules
from cepflow.receiver import Receiver
from cepflow.settings import Settings
from dataflow.kafka_admin import ensure_topics, topic_plan
from dataflow.rules.model import RuleSpec
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Rule
from storage.repositories.exec_logs import ExecLogRepository
from storage.repositories.rules import RuleRepository
from storage.uow import unit_of_work

ROOT = Path(__file__).resolve().parents[1]
BROKERS = os.environ.get("CEPFLOW_KAFKA_BROKERS", "127.0.0.1:19092")
ADMIN_URL = os.environ.get("CEPFLOW_DATABASE_URL", "postgresql+psycopg://cepflow:cepflow@127.0.0.1:15432/cepflow")
BENCH_URL = ADMIN_URL.rsplit("/", 1)[0] + "/cepflow_bench"
PARTITIONS = 4


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def prepare_database() -> Any:
    with make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT").connect() as conn:
        if not conn.execute(text("select 1 from pg_database where datname = 'cepflow_bench'")).scalar():
            conn.execute(text("create database cepflow_bench"))
    upgrade(BENCH_URL)
    return make_session_factory(make_engine(BENCH_URL))


def install_rules(sessions: Any, documents: list[dict[str, Any]]) -> None:
    """Replace every rule of the bench database with `documents`, in one bulk insert (10,000 rules
    through `rules apply` one by one would take minutes of the time budget; no revisions needed)."""
    rows = []
    for document in documents:
        rule_id = uuid.uuid4()
        spec = {**RuleSpec.model_validate(document).to_document(), "id": str(rule_id), "active": True}
        rows.append(Rule(id=rule_id, name=spec["name"], version=1, active=True, spec=spec, description=""))
    with unit_of_work(sessions) as session:
        session.execute(delete(Rule))
        session.add_all(rows)


@dataclass
class Run:
    """One engine environment: topics, recovery folder, processes."""

    prefix: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:8]}")
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cepflow-bench-")))
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def topic(self) -> str:
        return f"{self.prefix}.events"

    def env(self) -> dict[str, str]:
        return {**os.environ, "CEPFLOW_KAFKA_BROKERS": BROKERS, "CEPFLOW_DATABASE_URL": BENCH_URL,
                "CEPFLOW_EVENTS_TOPICS": self.topic, "CEPFLOW_CHAIN_TOPIC": f"{self.prefix}.chain",
                "CEPFLOW_DEAD_LETTER_TOPIC": f"{self.prefix}.dl", "CEPFLOW_LATE_TOPIC": f"{self.prefix}.late",
                "CEPFLOW_ACTION_DEAD_LETTER_TOPIC": f"{self.prefix}.adl", "CEPFLOW_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
                "CEPFLOW_RULE_REFRESH_S": "0.5", "CEPFLOW_LOG_LEVEL": "WARNING"}

    def topics(self) -> None:
        settings = Settings(kafka_brokers=BROKERS, events_topics=[self.topic], chain_topic=f"{self.prefix}.chain",
                            dead_letter_topic=f"{self.prefix}.dl", late_topic=f"{self.prefix}.late",
                            action_dead_letter_topic=f"{self.prefix}.adl", events_partitions=PARTITIONS)
        ensure_topics(settings.brokers, topic_plan(settings))

    def start(self, processes: int = 1) -> None:
        recovery = self.workdir / "recovery"
        recovery.mkdir()
        subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), str(processes)], check=True)
        ports = [free_port() for _ in range(processes)]
        addresses = ";".join(f"127.0.0.1:{p}" for p in ports)
        for index in range(processes):
            args = [sys.executable, "-m", "bytewax.run", "dataflow.flow:flow", "-r", str(recovery), "-s", "5",
                    "-b", "30"]
            if processes > 1:
                args += ["-i", str(index), "-a", addresses]
            out = (self.workdir / f"engine-{index}.log").open("wb")
            self.procs.append(subprocess.Popen(args, cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def peak_rss_mb(self) -> float:
        peak = 0
        for proc in self.procs:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
            except OSError:
                continue
            peak = max(peak, next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")))
        return peak / 1024


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sentinel_rules(url: str) -> list[dict[str, Any]]:
    return [{"name": f"bench-{kind}", "match": {"type": f"bench_{kind}"},
             "action": {"endpoint": f"{url}/{kind}", "body": {"p": "{{ event.p }}"}}} for kind in ("begin", "end")]


def preload(topic: str, count: int, start_ms: int) -> int:
    """Begin sentinel, `count` events, end sentinel, in every partition; returns events written."""
    producer = Producer({"bootstrap.servers": BROKERS, "linger.ms": "50", "batch.num.messages": "10000",
                         "compression.type": "lz4", "queue.buffering.max.messages": "1000000"})

    def send(value: bytes, partition: int) -> None:
        while True:
            try:
                producer.produce(topic, value, partition=partition)
                return
            except BufferError:
                producer.poll(0.05)

    for p in range(PARTITIONS):
        send(orjson.dumps({"id": f"begin-{p}", "type": "bench_begin", "p": p, "ts": start_ms}), p)
    for i, event in enumerate(events(count, start_ms)):
        send(orjson.dumps(event), i % PARTITIONS)
    end_ms = start_ms + count + 1000
    for p in range(PARTITIONS):
        send(orjson.dumps({"id": f"end-{p}", "type": "bench_end", "p": p, "ts": end_ms}), p)
    producer.flush(120)
    return count


def consume_limit(topic: str, count: int) -> float:
    """Figure 1: one process, confluent-kafka consume + orjson.loads: events/s."""
    consumer = Consumer({"bootstrap.servers": BROKERS, "group.id": f"limit-{uuid.uuid4().hex}",
                         "enable.auto.commit": "false", "fetch.max.bytes": "52428800"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    total = count + 2 * PARTITIONS
    seen, started = 0, None
    while seen < total:
        batch = consumer.consume(1000, 1.0)
        if batch and started is None:
            started = time.perf_counter()
        for msg in batch:
            if msg.error() is None:
                orjson.loads(msg.value())
                seen += 1
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return total / elapsed


def drain(sessions: Any, rule_documents: list[dict[str, Any]], count: int, processes: int = 1) -> tuple[float, float]:
    """Figures 2-4: the engine drains a preloaded topic; (events/s, fraction of events with an action)."""
    run = Run()
    with Receiver() as receiver:
        install_rules(sessions, [*rule_documents, *sentinel_rules(receiver.url("").rstrip("/"))])
        run.topics()
        preload(run.topic, count, int(time.time() * 1000) - count - 60_000)
        run.start(processes)
        try:
            deadline = time.monotonic() + 600
            while sum(r.path == "/end" for r in receiver.requests) < PARTITIONS:
                if time.monotonic() > deadline or any(p.poll() is not None for p in run.procs):
                    raise RuntimeError(f"engine did not drain; logs in {run.workdir}")
                time.sleep(0.05)
            begin = min(r.received_at for r in receiver.requests if r.path == "/begin")
            end = max(r.received_at for r in receiver.requests if r.path == "/end")
            fired = sum(r.path not in ("/begin", "/end") for r in receiver.requests)
        finally:
            run.stop()
    return count / (end - begin), fired / count


def latency(sessions: Any, seconds: float, rate: int) -> dict[str, Any]:
    """Figure 5 and 7: paced load; event->webhook, chain hop, api_script, hot reload."""
    run = Run()
    out: dict[str, Any] = {}
    with Receiver() as receiver:
        url = receiver.url("").rstrip("/")
        with unit_of_work(sessions) as session:
            from storage.repositories.script_apis import ScriptApiRepository

            ScriptApiRepository(session).apply({"name": "bench-trivial", "source": "def main(p, i, c):\n    return 1\n"},
                                               "bench")
        documents = rules(10, f"{url}/noise") + [
            {"name": "bench-lat", "match": {"type": "lat"},
             "action": {"endpoint": f"{url}/lat", "body": {"sent": "{{ event.sent }}", "m": "v1"}}},
            {"name": "bench-chain-a", "match": {"type": "chain"},
             "actions": [{"endpoint": f"{url}/a", "body": {"id": "{{ event.id }}"}},
                         {"type": "trigger_rule", "rule_id": "bench-chain-b", "payload": {"id": "{{ event.id }}"}}]},
            {"name": "bench-chain-b", "match": {"chain_only": True},
             "action": {"endpoint": f"{url}/b", "body": {"id": "{{ event.id }}"}}},
            {"name": "bench-script", "match": {"type": "script"},
             "action": {"type": "api_script", "api_id": "bench-trivial"}},
        ]
        install_rules(sessions, documents)
        run.topics()
        run.start()
        producer = Producer({"bootstrap.servers": BROKERS, "linger.ms": "1"})
        time.sleep(8)  # engine start-up
        source = events(int(seconds * rate) + 10, int(time.time() * 1000), seed=3)
        started = time.monotonic()
        reload_at: float | None = None
        for i, event in enumerate(source):
            now = time.time()
            event["ts"] = int(now * 1000)
            if i % 1000 == 0:
                event.update(type="lat", sent=now)
            elif i % 1000 == 500:
                event["type"] = "chain" if (i // 1000) % 2 else "script"
            producer.produce(run.topic, orjson.dumps(event))
            producer.poll(0)
            if reload_at is None and time.monotonic() - started > seconds * 0.6:
                lat = next(d for d in documents if d["name"] == "bench-lat")
                lat["action"]["body"]["m"] = "v2"
                with unit_of_work(sessions) as session:
                    RuleRepository(session).apply(RuleSpec.model_validate(lat).to_document(), "bench")
                reload_at = time.time()
            pause = started + (i + 1) / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        producer.flush(30)
        time.sleep(3)
        out["offered_eps"] = rate
        out["peak_rss_mb"] = run.peak_rss_mb()
        run.stop()
    lat = [(r.received_wall - float(r.json["sent"])) * 1000 for r in receiver.requests if r.path == "/lat"]
    out.update(latency_p50_ms=pct(lat, 50), latency_p99_ms=pct(lat, 99), latency_max_ms=max(lat) if lat else None,
               latency_samples=len(lat))
    a = {r.json["id"]: r.received_at for r in receiver.requests if r.path == "/a"}
    hops = [(r.received_at - a[r.json["id"]]) * 1000 for r in receiver.requests if r.path == "/b" and r.json["id"] in a]
    out.update(chain_hop_p50_ms=pct(hops, 50), chain_hop_p99_ms=pct(hops, 99), chain_samples=len(hops))
    new = [r.received_wall for r in receiver.requests if r.path == "/lat" and r.json.get("m") == "v2"]
    out["hot_reload_s"] = (min(new) - reload_at) if new and reload_at else None
    with sessions() as session:
        rule = RuleRepository(session).get("bench-script")
        rows = ExecLogRepository(session).query(rule_id=rule.id, limit=10_000)
    scripts = [row.references["actions"][0]["references"]["duration_ms"] for row in rows if row.status == "success"]
    out.update(api_script_p50_ms=pct(scripts, 50), api_script_p99_ms=pct(scripts, 99), api_script_samples=len(scripts))
    return out


def pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def versions() -> dict[str, str]:
    import bytewax  # noqa: F401
    from importlib.metadata import version

    pom = (ROOT / "stack" / "kafka" / "pom.xml").read_text()
    kafka = pom.split("<kafka.version>")[1].split("<")[0] if "<kafka.version>" in pom else "see stack/kafka/pom.xml"
    with make_engine(BENCH_URL).connect() as conn:
        postgres = conn.execute(text("show server_version")).scalar()
    return {"python": platform.python_version(), "bytewax": version("bytewax"),
            "confluent_kafka": version("confluent-kafka"), "kafka": kafka, "postgres": str(postgres)}


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                         if line.startswith("MemTotal")))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(memory_kb / 2**20, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scale, for development and smoke tests")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    args = parser.parse_args()
    scale = 0.02 if args.quick else 1.0
    big, per_r = int(1_000_000 * scale), int(300_000 * scale)
    sessions = prepare_database()
    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(), "machine": machine(), "versions": versions(),
                               "quick": args.quick, "events_throughput": big, "events_per_rule_set": per_r}
    log("figure 2: engine throughput at 1,000 rules")
    url = "http://127.0.0.1:9/unused"  # actions of the mix are counted by the receiver only when they match
    with Receiver() as sink:
        url = sink.url("").rstrip("/") + "/fire"
        results["throughput_eps"], results["action_fraction"] = drain(sessions, rules(1000, url), big)
        log("figure 1: consume-and-parse limit")
        run = Run()
        run.topics()
        preload(run.topic, big, 1_700_000_000_000)
        results["limit_eps"] = consume_limit(run.topic, big)
        results["ratio_to_limit"] = results["throughput_eps"] / results["limit_eps"]
        for r in (10, 1000, 10_000):
            log(f"figure 3: rule scaling, R={r}")
            results[f"rules_{r}_eps"], _ = drain(sessions, rules(r, url), per_r)
        results["rules_10000_over_10"] = results["rules_10000_eps"] / results["rules_10_eps"]
        log("figure 4: scale-out, two processes")
        two, _ = drain(sessions, rules(1000, url), per_r, processes=2)
        one = results["rules_1000_eps"]
        results["scaleout_2proc_eps"], results["scaleout_ratio"] = two, two / one
    log("figures 5 and 7: latency at a steady load, chain hop, api_script, hot reload")
    lat = latency(sessions, seconds=60 * scale if args.quick else 60, rate=5000)
    results.update(lat)
    results["peak_rss_mb_1m_keys"] = None  # not measured by this harness yet: see README "Benchmark"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print_table(results)
    return 0


def print_table(results: dict[str, Any]) -> None:
    rows = [
        ("limit (consume+parse, 1 process)", "limit_eps", "ev/s"), ("throughput, 1,000 rules", "throughput_eps", "ev/s"),
        ("ratio to limit", "ratio_to_limit", ""), ("R=10", "rules_10_eps", "ev/s"), ("R=1,000", "rules_1000_eps", "ev/s"),
        ("R=10,000", "rules_10000_eps", "ev/s"), ("R=10,000 / R=10", "rules_10000_over_10", ""),
        ("scale-out 2 processes / 1", "scaleout_ratio", ""), ("event->webhook p50", "latency_p50_ms", "ms"),
        ("event->webhook p99", "latency_p99_ms", "ms"), ("event->webhook max", "latency_max_ms", "ms"),
        ("chain hop p50", "chain_hop_p50_ms", "ms"), ("chain hop p99", "chain_hop_p99_ms", "ms"),
        ("api_script p50", "api_script_p50_ms", "ms"), ("api_script p99", "api_script_p99_ms", "ms"),
        ("hot reload", "hot_reload_s", "s"), ("peak RSS, 1M keys", "peak_rss_mb_1m_keys", "MB"),
    ]
    print("\n| figure | value |\n|---|---|")
    for label, key, unit in rows:
        value = results.get(key)
        shown = "not measured" if value is None else (f"{value:,.0f} {unit}" if value >= 100 else f"{value:.2f} {unit}")
        print(f"| {label} | {shown.strip()} |")
    print(f"\nraw numbers: bench/results/latest.json ({'quick' if results['quick'] else 'full'} run)")


if __name__ == "__main__":
    sys.exit(main())
