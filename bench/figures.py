"""The figures of BENCH.md, one function each, against the real local Kafka and PostgreSQL.

Timing never includes engine start-up: a drain is timed from the first `bench_begin` sentinel's
webhook (the head of a partition) to the last `bench_end` one (the tails), both recorded by the
bench's receiver on loopback. Rule sets are installed by the caller (installing costs ~4 ms a
rule), so one set serves every figure that uses it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from bench import cpu
from bench.stack import BROKERS, PARTITIONS, BenchDatabase, Engine, ReceiverProcess, sentinel
from bench.workload import EVENT_RATE, events
from cepflow.receiver import ReceivedRequest
from storage.models import ExecLog

SENTINELS = ("begin", "end")


def sentinel_rules(receiver: ReceiverProcess) -> list[dict[str, Any]]:
    """One webhook per sentinel event; a year of allowed lateness, so a sentinel is never late."""
    return [{"name": f"bench-{kind}", "match": {"type": f"bench_{kind}"}, "time": {"allowed_lateness": "365d"},
             "action": {"endpoint": receiver.url(f"/{kind}"), "body": {"p": "{{ event.p }}"}}}
            for kind in SENTINELS]


def serialise(count: int, start_ms: int, seed: int = 7) -> list[bytes]:
    return [orjson.dumps(event) for event in events(count, start_ms, seed)]


def span_of(count: int, start_ms: int) -> tuple[int, int]:
    """(first, last) event time of `events(count, start_ms)`: where the sentinels go."""
    return start_ms - 1000, start_ms + (count * 1000) // EVENT_RATE


def _limit_consumer(topic: str, partitions: Sequence[int]) -> Consumer:
    consumer = Consumer({"bootstrap.servers": BROKERS, "group.id": f"bench-limit-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    return consumer


def consume_limit(topic: str, count: int, per_partition: bool = True, batch: int = 1000) -> float:
    """Figure 1: one process consuming `topic` with confluent-kafka and parsing each value with
    orjson (the engine's parser) — events/s, from the first message to the last.

    `per_partition`: one consumer per partition, polled in turn without blocking, as the engine
    reads (`dataflow/kafka_in.py`) — the engine's ceiling; otherwise one consumer for all of them
    (the reference line: librdkafka then serves the partitions from one queue, ~3.5x slower here).
    """
    groups = [[p] for p in range(PARTITIONS)] if per_partition else [list(range(PARTITIONS))]
    consumers = [_limit_consumer(topic, partitions) for partitions in groups]
    timeout = 0 if per_partition else 1.0
    seen, started = 0, 0.0
    deadline = time.monotonic() + 300
    try:
        while seen < count and time.monotonic() < deadline:
            for consumer in consumers:
                messages = consumer.consume(num_messages=batch, timeout=timeout)
                if messages and not started:
                    started = time.perf_counter()
                for msg in messages:
                    if msg.error() is None:
                        orjson.loads(msg.value() or b"")
                        seen += 1
        return seen / (time.perf_counter() - started)
    finally:
        for consumer in consumers:
            consumer.close()


@dataclass
class Drain:
    """One engine run over a preloaded topic."""

    events: int
    processes: int
    seconds: float
    eps: float
    actions: int
    action_events: int
    late_events: float
    peak_rss_mb: float
    actions_by_kind: dict[str, int]
    startup_s: float
    cores: dict[str, float]
    fires_in_input: dict[str, int] = field(default_factory=dict)
    """Fires by kind at or before the input's last event time (drains compared with the baseline)."""
    """Average cores busy during the drain: `engines`, `broker`, `machine` (bench/cpu.py)."""

    @property
    def action_fraction(self) -> float:
        return self.action_events / self.events


def _since(receiver: ReceiverProcess, mark: int, path: str) -> list[ReceivedRequest]:
    return [r for r in receiver.requests[mark:] if r.path == path]


def _await(check: Callable[[], bool], engine: Engine, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        engine.check_alive()
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout:.0f} s waiting for {what}; logs in {engine.workdir}"
            raise RuntimeError(msg)
        time.sleep(0.05)


def _sentinels(receiver: ReceiverProcess, mark: int, engine: Engine, timeout: float, topic: str) -> tuple[float, float]:
    """(first begin, last end) webhook receipt times, once every partition's two have come.

    Actions of one sink batch run concurrently, so in a tiny run (begin and end sentinels in one
    Kafka batch) a begin may come after an end: the span is then floored at 1 ms, and means nothing.
    """
    _await(lambda: min(len(_since(receiver, mark, f"/{kind}")) for kind in SENTINELS) >= PARTITIONS, engine,
           timeout, f"the sentinels of {topic}")
    begin = min(r.received_at for r in _since(receiver, mark, "/begin"))
    end = max(r.received_at for r in _since(receiver, mark, "/end"))
    return begin, max(end, begin + 0.001)


def drain(db: BenchDatabase, receiver: ReceiverProcess, topic: str, count: int, processes: int = 1,
          timeout: float = 600, profile: Path | None = None, settle_s: float = 0.5,
          last_ts: int | None = None) -> Drain:
    """Figures 2-4: the engine (`processes` processes) drains `topic` (`count` events between
    sentinels) with the rules installed now; events/s between the first begin and last end.
    `profile`: sample the (first) engine process with py-spy into this file (collapsed stacks).
    `settle_s`: how long fires may still come after the end (stateful rules fire once the
    watermark passes the completing event: up to `allowed_lateness` plus `time.idle_after` after
    the input stops); a drain whose fires are compared with the baseline's waits for all of them,
    and counts those at or before `last_ts` (the input's last event time: the baseline's end) in
    `fires_in_input`.
    """
    db.clear_log()
    mark = len(receiver.requests)
    launched = time.monotonic()
    with Engine(db.url, topic, processes) as engine:
        _await(lambda: bool(_since(receiver, mark, "/begin")), engine, timeout, "the first begin sentinel")
        before = cpu.reading(engine.pids())
        spy = _spy(engine, profile) if profile else None  # once it runs the dataflow
        begin, end = _sentinels(receiver, mark, engine, timeout, topic)
        after = cpu.reading(engine.pids())
        time.sleep(settle_s)  # actions of the last batches, and fires the watermark still holds
        fired = [r for r in _since(receiver, mark, "/fire") if r.received_at <= end + settle_s]
        late = engine.metric("cepflow_late_events_total")
        rss = engine.status_kb("VmHWM") / 1024
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
    kinds = Counter(str(r.json.get("kind")) for r in fired if r.json)
    in_input = Counter(str(r.json.get("kind")) for r in fired
                       if r.json and last_ts is not None and int(r.json.get("at") or 0) <= last_ts)
    return Drain(events=count, processes=processes, seconds=end - begin, eps=count / (end - begin),
                 actions=len(fired), action_events=len({r.json["id"] for r in fired if r.json}),
                 late_events=late, peak_rss_mb=rss, actions_by_kind=dict(sorted(kinds.items())),
                 startup_s=begin - launched, cores=cpu.cores_used(before, after, end - begin),
                 fires_in_input=dict(sorted(in_input.items())))


def _spy(engine: Engine, out: Path) -> subprocess.Popen[bytes]:
    """py-spy (installed by hand: it is not a dependency) sampling the first engine process."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(spy), "record", "--pid", str(engine.procs[0].pid), "--rate", "200",
                             "--format", "raw", "--output", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pct(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (nearest rank); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def latency_rules(receiver: ReceiverProcess, marker: str) -> list[dict[str, Any]]:
    """bench-lat (webhook carrying the produce time and a version marker), its stateful twin (a
    threshold that each probe completes, fired when the watermark passes it), a chain A -> B, and
    a rule running a trivial script API.
    """
    return [
        {"name": "bench-lat", "match": {"type": "bench_lat"},
         "action": {"endpoint": receiver.url("/lat"), "body": {"sent": "{{ event.sent }}", "m": marker}}},
        {"name": "bench-lat-stateful", "match": {"type": "bench_lat"}, "group_by": ["id"],
         "detect": {"kind": "threshold", "window": {"type": "sliding", "size": "1m"},
                    "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 1}},
         "action": {"endpoint": receiver.url("/lats"), "body": {"sent": "{{ event.sent }}"}}},
        {"name": "bench-chain-a", "match": {"type": "bench_chain"},
         "actions": [{"endpoint": receiver.url("/a"), "body": {"ref": "{{ event.id }}"}},
                     {"type": "trigger_rule", "rule_id": "bench-chain-b", "payload": {"ref": "{{ event.id }}"}}]},
        {"name": "bench-chain-b", "match": {"chain_only": True},
         "action": {"endpoint": receiver.url("/b"), "body": {"ref": "{{ event.ref }}"}}},
        {"name": "bench-script", "match": {"type": "bench_script"},
         "action": {"type": "api_script", "api_id": "bench-trivial", "input": {"ref": "{{ event.id }}"}}},
    ]


WARMUP_S = 5.0
"""The load runs this long before samples count: the first second after a start pays one-time
costs (statement compilation, template compilation, first connections; 100-260 ms event ->
webhook against a 15 ms median). Its worst latency is reported apart (`warmup_max_ms`)."""
RELOAD_WINDOW_S = 3.0
"""Samples produced from 1 s before to this long after a rule change are "near a reload"."""
CATCH_UP_S = 30.0
"""After the load, how long the bench waits for probes an engine that lags still owes."""

TRIVIAL_SCRIPT = {"name": "bench-trivial", "source": "def main(params, input, context):\n    return {'ok': 1}\n"}


def _ready(engine: Engine, receiver: ReceiverProcess, producer: Producer, topic: str, timeout: float = 120) -> None:
    """Until a `bench_begin` marker (time: now) comes back as a webhook: the engine reads."""
    mark = len(receiver.requests)
    deadline = time.monotonic() + timeout
    while not _since(receiver, mark, "/begin"):
        engine.check_alive()
        if time.monotonic() > deadline:
            msg = f"engine not ready after {timeout:.0f} s; logs in {engine.workdir}"
            raise RuntimeError(msg)
        producer.produce(topic, sentinel("begin", 0, int(time.time() * 1000)))
        producer.poll(0)
        time.sleep(0.5)


@dataclass
class Steady:
    """Figures 5 and 7: a paced load with latency probes, chain hops, scripts and rule changes."""

    offered_eps: float
    achieved_eps: float
    latencies_ms: list[float]
    """`each` rules: the probes and the workload's `each`/nested fires."""
    latencies_outside_reloads_ms: list[float]
    latencies_stateful_ms: list[float]
    """The stateful probes and the workload's threshold and sequence fires (absence fires are
    timer-driven: left out)."""
    hops_ms: list[float]
    script_ms: list[float]
    script_runner_ms: list[float]
    reloads: list[dict[str, Any]]
    fire_actions: int
    probes_sent: int
    probes_received: int
    catch_up_s: float
    warmup_s: float
    warmup_max_ms: float | None
    """The worst `each` latency of the warm-up, whose samples count nowhere else."""


def steady(db: BenchDatabase, receiver: ReceiverProcess, topic: str, seconds: float, rate: int = EVENT_RATE,
           probe_every: int = 1250, side_every: int = 2500, reloads: int = 3, profile: Path | None = None,
           warmup_s: float = WARMUP_S) -> Steady:
    """Offer `rate` events/s for `warmup_s` + `seconds`, every event carrying its produce time
    (`sent`); samples count from the end of the warm-up.

    Latency samples are the workload's own webhooks (≈0.1% of events: 5/s; absence fires are
    timer-driven, not caused by an event, and left out) and the probes of `bench-lat` and
    `bench-lat-stateful` (one event in `probe_every`: 4/s each), whose marker `reloads` rule
    changes move (v1 -> v2 -> ...), each timed from its commit. One event in `side_every` starts a
    chain or calls a script, alternately (1/s each). Probes are few on purpose: actions run inside
    the dataflow.
    """
    db.script_api(TRIVIAL_SCRIPT)
    for document in latency_rules(receiver, "v1"):
        db.apply(document)
    db.clear_log()
    mark = len(receiver.requests)
    producer = Producer({"bootstrap.servers": BROKERS, "linger.ms": 1, "acks": 1})
    changes: list[tuple[str, float]] = []
    with Engine(db.url, topic) as engine:
        _ready(engine, receiver, producer, topic)
        spy = _spy(engine, profile) if profile else None
        total = warmup_s + seconds
        source = events(int(total * rate) + rate, int(time.time() * 1000), seed=3)
        change_at = [warmup_s + seconds * (k + 1) / (reloads + 1) for k in range(reloads)]
        started, measured_from = time.monotonic(), time.time() + warmup_s
        sent = 0
        while (elapsed := time.monotonic() - started) < total:
            due = min(int(elapsed * rate) + 1, int(total * rate))
            while sent < due:
                event = next(source)
                now = time.time()
                event["ts"] = int(now * 1000)
                event["sent"] = now
                if sent % probe_every == 0:
                    event["type"] = "bench_lat"
                elif sent % side_every == 7:  # never a multiple of probe_every
                    event["type"] = "bench_chain" if (sent // side_every) % 2 else "bench_script"
                producer.produce(topic, orjson.dumps(event))
                sent += 1
            producer.poll(0)
            if change_at and elapsed >= change_at[0]:
                change_at.pop(0)
                marker = f"v{len(changes) + 2}"
                changes.append((marker, db.apply(latency_rules(receiver, marker)[0])))
            time.sleep(0.001)
        producer.flush(30)
        achieved = sent / (time.monotonic() - started)
        probes_sent = -(-sent // probe_every)
        catch_up = time.monotonic()
        try:  # a lagging engine still owes probes: their latency counts too, up to a limit
            _await(lambda: len(_since(receiver, mark, "/lat")) >= probes_sent, engine, CATCH_UP_S, "the last probes")
        except RuntimeError:
            pass
        catch_up_s = time.monotonic() - catch_up
        time.sleep(1)  # the last chain hops and scripts
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
    requests = receiver.requests[mark:]
    probes = [r for r in requests if r.path == "/lat"]
    fires = [r for r in requests if r.path == "/fire" and r.json and r.json.get("sent")]
    stateless = [_latency(r) for r in [*probes, *fires] if r.path == "/lat" or r.json["kind"] in STATELESS_KINDS]
    stateful = [_latency(r) for r in [*_since(receiver, mark, "/lats"), *fires]
                if r.path == "/lats" or r.json["kind"] in STATEFUL_EVENT_KINDS]
    firsts = {r.json["ref"]: r.received_wall for r in requests if r.path == "/a" and r.received_wall >= measured_from}
    hops = [(r.received_wall - firsts[r.json["ref"]]) * 1000 for r in requests
            if r.path == "/b" and r.json["ref"] in firsts]
    with db.sessions() as session:
        rows = session.query(ExecLog).filter(ExecLog.rule_name == "bench-script", ExecLog.status == "success",
                                             ExecLog.created_at >= datetime.fromtimestamp(measured_from, UTC)).all()
    runner = [row.references["actions"][0]["references"]["duration_ms"] for row in rows]
    samples = [(sent_at, ms) for sent_at, ms in stateless if sent_at >= measured_from]
    return Steady(offered_eps=rate, achieved_eps=achieved, latencies_ms=[ms for _, ms in samples],
                  latencies_outside_reloads_ms=[ms for sent_at, ms in samples
                                                if not any(-1 <= sent_at - at <= RELOAD_WINDOW_S for _, at in changes)],
                  latencies_stateful_ms=[ms for sent_at, ms in stateful if sent_at >= measured_from],
                  hops_ms=hops, script_ms=[row.duration_ms for row in rows], script_runner_ms=runner,
                  reloads=[_reload(probes, marker, committed) for marker, committed in changes],
                  fire_actions=sum(r.path == "/fire" for r in requests), probes_sent=probes_sent,
                  probes_received=len(probes), catch_up_s=catch_up_s, warmup_s=warmup_s,
                  warmup_max_ms=max((ms for sent_at, ms in stateless if sent_at < measured_from), default=None))


STATELESS_KINDS = ("each", "nested")
STATEFUL_EVENT_KINDS = ("threshold", "sequence")
"""Workload kinds whose fires are caused by an event (absence fires come from a timer)."""


def _latency(request: ReceivedRequest) -> tuple[float, float]:
    """(produce time, produce -> webhook received in ms) of a webhook whose body carries `sent`."""
    sent = float(request.json["sent"])
    return sent, (request.received_wall - sent) * 1000


def _reload(probes: list[ReceivedRequest], marker: str, committed: float) -> dict[str, Any]:
    """Commit -> the webhook of the first probe evaluated by the new version (`reload_s`).

    This bounds the reload from above, by at most one probe interval (0.25 s) plus that webhook's
    delivery. "Minus the probe's own latency" (`produced_after_commit_s`) is kept too but is no
    measure when the engine lags: a probe produced before the commit may be evaluated after it.
    """
    first = min((r for r in probes if r.json.get("m") == marker), key=lambda r: r.received_wall, default=None)
    if first is None:
        return {"marker": marker, "reload_s": float("nan"), "produced_after_commit_s": float("nan")}
    received, produced = first.received_wall, float(first.json["sent"])
    return {"marker": marker, "reload_s": received - committed, "produced_after_commit_s": produced - committed}


def memory_rule(receiver: ReceiverProcess) -> dict[str, Any]:
    """A sliding count by host that never reaches 2 with one event per host: one active window per
    key until the end. The window is 1 h (not 1 min) so that no key expires while the rest load.
    """
    return {"name": "bench-mem", "match": {"type": "bench_mem"}, "group_by": ["host"],
            "detect": {"kind": "threshold", "window": {"type": "sliding", "size": "1h"},
                       "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 2}},
            "action": {"endpoint": receiver.url("/fire"), "body": {"id": "{{ event.id }}"}}}


def memory_events(keys: int, start_ms: int) -> list[bytes]:
    """One workload event per distinct host key, typed for the memory rule."""
    out = []
    for i, event in enumerate(events(keys, start_ms, seed=5)):
        event.update(type="bench_mem", host=f"k{i:07d}")
        out.append(orjson.dumps(event))
    return out


@dataclass
class Memory:
    """Figure 6: peak RSS with many held keys, and what one key costs."""

    keys: int
    active_groups: float
    baseline_rss_mb: float
    peak_rss_mb: float
    seconds: float

    @property
    def bytes_per_key(self) -> float:
        return (self.peak_rss_mb - self.baseline_rss_mb) * 2**20 / max(1, self.keys)


def memory(db: BenchDatabase, receiver: ReceiverProcess, topic: str, keys: int, timeout: float = 600) -> Memory:
    """Figure 6: peak RSS (VmHWM) of one engine process holding `keys` distinct active groups.
    The baseline is its RSS when the first sentinel comes back (rules loaded, no state yet).
    """
    db.clear_log()
    mark = len(receiver.requests)
    with Engine(db.url, topic) as engine:
        _await(lambda: bool(_since(receiver, mark, "/begin")), engine, timeout, "the first begin sentinel")
        baseline = engine.status_kb("VmRSS") / 1024
        begin, end = _sentinels(receiver, mark, engine, timeout, topic)
        time.sleep(3)  # an epoch closes: every touched key is snapshotted
        active = engine.metric("cepflow_active_groups")
        peak = engine.status_kb("VmHWM") / 1024
    return Memory(keys=keys, active_groups=active, baseline_rss_mb=baseline, peak_rss_mb=peak,
                  seconds=end - begin)


def as_dict(item: Any) -> dict[str, Any]:
    out = asdict(item)
    for name in ("action_fraction", "bytes_per_key"):
        if hasattr(item, name):
            out[name] = getattr(item, name)
    return out

