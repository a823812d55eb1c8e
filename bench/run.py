"""`make bench` / `python -m bench.run [--quick]`: the figures of BENCH.md as one command.

Runs against the local Kafka and PostgreSQL (`stack/with-stack` starts them), in a database of its
own, and prints one table; `bench/results/latest.json` keeps every number, the raw runs, the
machine and the versions. The machine is 2 cores and often shared: compare ratios measured in one
run, not absolute rates across runs. `--quick` runs everything at about 1/20 of the scale (rule
sets of 10, 50 and 500) for development; the smoke test goes smaller still.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import baseline
from bench import figures as fig
from bench.report import machine, table, target_verdicts, versions
from bench.stack import PARTITIONS, ROOT, BenchDatabase, ReceiverProcess, delete_topics, log, make_topic, preload
from bench.workload import ACTION_FRACTION, rules

FULL: dict[str, Any] = {"throughput": 1_000_000, "per_rule_set": 300_000, "sizes": (10, 1000, 10_000), "latency_s": 60.0,
        "memory_keys": 250_000}
"""BENCH.md's sizes, except figure 6: 1,000,000 keys take more than 6 minutes to load here (each
key holds a timer, and Bytewax scans every key's timer at each activation: BYTEWAX.md §1.3), more
than the 10-minute budget leaves, so the full run loads 250,000 and extrapolates linearly
(labelled so); pass `--memory-keys 1000000` to measure it."""
QUICK_SCALE = 0.05
FIRES_SETTLE_S = 12.0
"""The drains compared with the baseline wait this long for the fires of stateful rules that come
after the input's end: the default lateness 5 s + idle_after 5 s, plus the action."""
ONE_MILLION = 1_000_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 1/20 of the scale, rule sets 10/50/500")
    parser.add_argument("--scale", type=float, default=None, help="event counts x this (default 1, quick 0.05)")
    parser.add_argument("--rule-sets", default=None, help="three rule-set sizes, e.g. 10,1000,10000")
    parser.add_argument("--latency-seconds", type=float, default=None, help="length of the steady load")
    parser.add_argument("--memory-keys", type=int, default=None, help="distinct group keys of figure 6")
    parser.add_argument("--limit-runs", type=int, default=3, help="repeats of figure 1 (median)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="repeats of figures 3 and 4 (medians), as far as the time budget allows")
    parser.add_argument("--budget-s", type=float, default=600, help="time budget of the whole run")
    parser.add_argument("--fires-settle-s", type=float, default=FIRES_SETTLE_S,
                        help="how long the drains compared with the baseline wait for late stateful fires")
    parser.add_argument("--database", default="cepflow_bench", help="database for the bench's rules")
    parser.add_argument("--profile", type=Path, default=None,
                        help="folder for py-spy samples of the throughput figure (py-spy installed by hand)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    return parser.parse_args(argv)


def plan(args: argparse.Namespace) -> dict[str, Any]:
    scale = args.scale if args.scale is not None else (QUICK_SCALE if args.quick else 1.0)
    sizes = (tuple(int(x) for x in args.rule_sets.split(",")) if args.rule_sets
             else (10, 50, 500) if args.quick else FULL["sizes"])
    if len(sizes) != 3:
        msg = "--rule-sets takes three sizes"
        raise SystemExit(msg)
    return {
        "scale": scale,
        "throughput": max(1000, int(FULL["throughput"] * scale)),
        "per_rule_set": max(1000, int(FULL["per_rule_set"] * scale)),
        "sizes": sizes,
        "latency_s": args.latency_seconds or (15.0 if args.quick else FULL["latency_s"]),
        "memory_keys": args.memory_keys or (FULL["memory_keys"] if scale >= 1 else max(1000, int(ONE_MILLION * scale))),
    }


def _median_cores(readings: list[dict[str, float]]) -> dict[str, float]:
    return {name: statistics.median(reading[name] for reading in readings) for name in readings[0]}


class Bench:
    """One bench run: the database, the receiver, the topics it made, and what it measured."""

    def __init__(self, args: argparse.Namespace, receiver: ReceiverProcess) -> None:
        self.args = args
        self.p = plan(args)
        self.receiver = receiver
        self.db = BenchDatabase(args.database)
        self.db.reset()
        self.started = time.monotonic()
        self.topics: list[str] = []
        self.todo: list[str] = []  # stages still to come, for the time budget
        self.runs: list[dict[str, Any]] = []
        self.elapsed: dict[str, float] = {}
        self.start_ms = int(time.time() * 1000) - 2 * 3600 * 1000  # a backlog from two hours ago
        self.values = fig.serialise(self.p["throughput"], self.start_ms)
        self.results: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": args.quick,
            "shared_machine_note": "2-core machine, often shared: compare ratios from one run",
            "machine": machine(),
            "versions": versions(self.db.server_version()),
            "rule_set_sizes": list(self.p["sizes"]),
            "events": {"throughput": self.p["throughput"], "per_rule_set": self.p["per_rule_set"]},
            "action_fraction_target": ACTION_FRACTION,
        }

    def topic(self, what: str, count: int | None = None) -> str:
        """A fresh topic, preloaded with the first `count` workload events between sentinels."""
        name = make_topic(f"bench{uuid.uuid4().hex[:8]}.{what}")
        self.topics.append(name)
        if count is not None:
            seconds = preload(name, self.values[:count], fig.span_of(count, self.start_ms))
            log(f"preloaded {count:,} events into {name} in {seconds:.1f} s")
        return name

    def install(self, size: int, extra: list[dict[str, Any]] | None = None) -> None:
        documents = [*rules(size, self.receiver.url("/fire")), *fig.sentinel_rules(self.receiver), *(extra or [])]
        seconds = self.db.install(documents)
        log(f"installed {len(documents):,} rules ({size:,} of the mix) in {seconds:.1f} s")
        self.runs.append({"figure": "install", "rules": len(documents), "seconds": seconds})

    def drain(self, figure: str, topic: str, count: int, rule_count: int, processes: int = 1,
              profile: Path | None = None, settle_s: float = 0.5) -> fig.Drain:
        last_ts = fig.span_of(count, self.start_ms)[1]
        result = fig.drain(self.db, self.receiver, topic, count, processes, profile=profile, settle_s=settle_s,
                           last_ts=last_ts)
        self.runs.append({"figure": figure, "rules": rule_count, **fig.as_dict(result)})
        log(f"{figure}: {result.eps:,.0f} ev/s ({count:,} events, {rule_count:,} rules, {processes} process(es)),"
            f" {result.action_fraction * 100:.3f}% of events led to an action {result.actions_by_kind},"
            f" {result.late_events:.0f} late")
        return result

    def lap(self, name: str, since: float) -> None:
        self.elapsed[name] = round(time.monotonic() - since, 1)
        log(f"{name} took {self.elapsed[name]:.0f} s (total {time.monotonic() - self.started:.0f} s)")

    def reserve_s(self) -> float:
        """What the stages still to come should take (estimates from runs on this machine)."""
        p = self.p
        per_set = 35 * p["per_rule_set"] / FULL["per_rule_set"]
        estimates = {"steady": p["latency_s"] + fig.WARMUP_S + 15, "rules_small": 10 + per_set + self.args.fires_settle_s,
                     "rules_large": 10 + 0.009 * p["sizes"][2] + per_set,
                     "memory": 15 + 50 * p["memory_keys"] / FULL["memory_keys"]}
        return sum(estimates[stage] for stage in self.todo)

    def affords(self, seconds: float) -> bool:
        """Another repeat of `seconds` still leaves the stages to come within the budget."""
        spent = time.monotonic() - self.started
        return spent + seconds + self.reserve_s() <= self.args.budget_s

    def repeated(self, measure: Callable[[], Any]) -> list[Any]:
        """`measure()` up to `--repeats` times, while the time budget allows (at least once)."""
        out = []
        for _ in range(self.args.repeats):
            since = time.monotonic()
            out.append(measure())
            if not self.affords(time.monotonic() - since):
                break
        return out

    def figures_1_to_4(self) -> None:
        p, r = self.p, self.results
        small, middle, large = p["sizes"]
        since = time.monotonic()
        self.install(middle)
        big = self.topic("throughput", p["throughput"])
        log("figure 1: consume-and-parse limit, one consumer per partition (and one for all)")
        limits = [fig.consume_limit(big, p["throughput"] + 8) for _ in range(self.args.limit_runs)]
        single = [fig.consume_limit(big, p["throughput"] + 8, per_partition=False) for _ in range(self.args.limit_runs)]
        self.runs += [{"figure": "limit", "eps": eps} for eps in limits]
        self.runs += [{"figure": "limit_single_consumer", "eps": eps} for eps in single]
        r["limit_eps"], r["limit_runs"] = statistics.median(limits), len(limits)
        r["limit_single_consumer_eps"] = statistics.median(single)
        log(f"limit: {[round(x) for x in limits]} ev/s per partition, {[round(x) for x in single]} one consumer")
        log(f"figure 2: throughput, {middle:,} rules, {p['throughput']:,} events")
        profile = self.args.profile / "throughput.txt" if self.args.profile else None
        whole = self.drain("throughput", big, p["throughput"], middle, profile=profile)
        r["throughput_eps"], r["ratio_to_limit"] = whole.eps, whole.eps / r["limit_eps"]
        r["action_fraction"], r["actions_by_kind"] = whole.action_fraction, whole.actions_by_kind
        r["late_events_throughput"] = whole.late_events
        r["cores_throughput"] = whole.cores
        delete_topics([big])
        self.lap("figures 1-2", since)

        since = time.monotonic()
        per = self.topic(f"rules{middle}", p["per_rule_set"])

        def pair() -> tuple[fig.Drain, fig.Drain]:
            one = self.drain("rules", per, p["per_rule_set"], middle, settle_s=self.args.fires_settle_s)
            log("figure 4: scale-out, two processes, the same topic")
            return one, self.drain("scaleout", per, p["per_rule_set"], middle, processes=2)

        self.todo = ["steady", "rules_small", "rules_large", "memory"]
        pairs = self.repeated(pair)
        r["rules_1000_eps"] = statistics.median(one.eps for one, _ in pairs)
        r["scaleout_2proc_eps"] = statistics.median(two.eps for _, two in pairs)
        r["scaleout_ratio"] = statistics.median(two.eps / one.eps for one, two in pairs)
        r["scaleout_late_events"] = [two.late_events for _, two in pairs]
        r["scaleout_action_fraction"] = [two.action_fraction for _, two in pairs]
        r["cores_1proc"] = _median_cores([one.cores for one, _ in pairs])
        r["cores_2proc"] = _median_cores([two.cores for _, two in pairs])
        self.baseline(middle, per, "rules_1000_eps")
        delete_topics([per])
        self.lap("figures 3 (R=middle) and 4", since)

        since = time.monotonic()
        self.todo.remove("steady")
        self.figure_5_and_7()
        self.lap("figures 5 and 7", since)

        for size, key, stage in ((small, "rules_10_eps", "rules_small"), (large, "rules_10000_eps", "rules_large")):
            since = time.monotonic()
            self.todo.remove(stage)
            self.install(size)
            topic = self.topic(f"rules{size}", p["per_rule_set"])
            settle_s = self.args.fires_settle_s if size == small else 0.5  # R=10 is compared with the baseline
            r[key] = statistics.median(d.eps for d in self.repeated(
                lambda: self.drain("rules", topic, p["per_rule_set"], size,  # noqa: B023 - called at once
                                   settle_s=settle_s)))  # noqa: B023
            if size == small:
                self.baseline(small, topic, key)
            delete_topics([topic])
            self.lap(f"figure 3 (R={size})", since)
        r["rules_10000_over_10"] = r["rules_10000_eps"] / r["rules_10_eps"]
        r["rule_runs"] = {str(size): sum(1 for run in self.runs if run["figure"] == "rules" and run["rules"] == size)
                          for size in p["sizes"]}

    def baseline(self, size: int, topic: str, engine_key: str) -> None:
        """Figure 1b on a topic the engine drained with `size` rules: the hand-written loop's rate,
        the engine's ratio to it, and both sides' fires by kind (they must agree).
        """
        r, count = self.results, self.p["per_rule_set"]
        documents = rules(size, self.receiver.url("/fire"))
        log(f"figure 1b: hand-written baseline, {size:,} rules, {count:,} events")
        eps, fires = baseline.consume_baseline(topic, count + 2 * PARTITIONS, documents)
        kinds = {doc["name"]: doc["action"]["body"]["kind"] for doc in documents}
        label = "10" if size == self.p["sizes"][0] else "1000"
        engine = next(run["fires_in_input"] for run in reversed(self.runs)
                      if run["figure"] == "rules" and run["rules"] == size)
        r[f"baseline_{label}_eps"] = eps
        r[f"ratio_to_baseline_{label}"] = r[engine_key] / eps
        r[f"baseline_{label}_fires_by_kind"] = dict(sorted(Counter(kinds[n] for n in fires.elements()).items()))
        r[f"engine_{label}_fires_by_kind"] = engine
        self.runs.append({"figure": "baseline", "rules": size, "eps": eps})
        log(f"baseline: {eps:,.0f} ev/s; fires {r[f'baseline_{label}_fires_by_kind']} (engine {engine})")

    def figure_5_and_7(self) -> None:
        """Steady load with the middle rule set (installed), plus the latency rules."""
        p, r = self.p, self.results
        log(f"figures 5 and 7: {fig.EVENT_RATE:,} ev/s for {fig.WARMUP_S:.0f} s of warm-up + {p['latency_s']:.0f} s,"
            " chain, api_script, reloads")
        topic = self.topic("steady")
        profile = self.args.profile / "steady.txt" if self.args.profile else None
        s = fig.steady(self.db, self.receiver, topic, p["latency_s"], profile=profile)
        delete_topics([topic])
        reloads = [x["reload_s"] for x in s.reloads if x["reload_s"] == x["reload_s"]]
        r.update(
            offered_eps=s.offered_eps, achieved_eps=round(s.achieved_eps),
            latency_p50_ms=fig.pct(s.latencies_ms, 50), latency_p99_ms=fig.pct(s.latencies_ms, 99),
            latency_p99_ms_outside_reloads=fig.pct(s.latencies_outside_reloads_ms, 99),
            latency_stateful_p50_ms=fig.pct(s.latencies_stateful_ms, 50),
            latency_stateful_p99_ms=fig.pct(s.latencies_stateful_ms, 99),
            latency_stateful_samples=len(s.latencies_stateful_ms),
            latency_max_ms=max(s.latencies_ms, default=None), latency_samples=len(s.latencies_ms),
            chain_hop_p50_ms=fig.pct(s.hops_ms, 50), chain_hop_p99_ms=fig.pct(s.hops_ms, 99),
            chain_hop_samples=len(s.hops_ms),
            api_script_p50_ms=fig.pct(s.script_ms, 50), api_script_p99_ms=fig.pct(s.script_ms, 99),
            api_script_runner_p50_ms=fig.pct(s.script_runner_ms, 50),
            api_script_runner_p99_ms=fig.pct(s.script_runner_ms, 99), api_script_samples=len(s.script_ms),
            hot_reload_s=statistics.median(reloads) if reloads else None, hot_reloads=s.reloads,
            steady_fire_actions=s.fire_actions, probes_sent=s.probes_sent, probes_received=s.probes_received,
            catch_up_s=round(s.catch_up_s, 1), warmup_s=s.warmup_s, warmup_max_ms=s.warmup_max_ms,
        )
        self.runs.append({"figure": "steady", "latency_ms": sorted(s.latencies_ms),
                          "latency_stateful_ms": sorted(s.latencies_stateful_ms), "chain_hop_ms": sorted(s.hops_ms),
                          "api_script_ms": sorted(s.script_ms), "reloads": s.reloads})
        log(f"{s.probes_received} of {s.probes_sent} probes back ({s.catch_up_s:.1f} s after the load);"
            f" latency p50/p99/max {r['latency_p50_ms']}/{r['latency_p99_ms']}/{r['latency_max_ms']} ms,"
            f" chain hop p50 {r['chain_hop_p50_ms']} ms, api_script p50 {r['api_script_p50_ms']} ms,"
            f" reloads {s.reloads}")

    def figure_6(self) -> None:
        p, r = self.p, self.results
        self.todo = []
        since = time.monotonic()
        keys = p["memory_keys"]
        log(f"figure 6: memory with {keys:,} distinct active group keys")
        self.db.install([fig.memory_rule(self.receiver), *fig.sentinel_rules(self.receiver)])
        name = make_topic(f"bench{uuid.uuid4().hex[:8]}.memory")
        self.topics.append(name)
        preload(name, fig.memory_events(keys, self.start_ms), fig.span_of(keys, self.start_ms))
        m = fig.memory(self.db, self.receiver, name, keys)
        delete_topics([name])
        self.runs.append({"figure": "memory", **fig.as_dict(m)})
        r.update(memory_keys=keys, peak_rss_mb_measured=m.peak_rss_mb, baseline_rss_mb=m.baseline_rss_mb,
                 bytes_per_key=m.bytes_per_key, memory_active_groups=m.active_groups,
                 memory_load_eps=keys / m.seconds)
        if keys == ONE_MILLION:
            r["peak_rss_mb_1m_keys"], r["peak_rss_1m_basis"] = m.peak_rss_mb, "measured"
        else:
            r["peak_rss_mb_1m_keys"] = m.baseline_rss_mb + m.bytes_per_key * ONE_MILLION / 2**20
            r["peak_rss_1m_basis"] = f"EXTRAPOLATED from {keys:,} keys"
        log(f"memory: {m.active_groups:,.0f} active groups, peak {m.peak_rss_mb:,.0f} MB,"
            f" {m.bytes_per_key:,.0f} B/key, 1M keys -> {r['peak_rss_mb_1m_keys']:,.0f} MB"
            f" ({r['peak_rss_1m_basis']})")
        self.lap("figure 6", since)

    def run(self) -> dict[str, Any]:
        try:
            self.figures_1_to_4()
            self.figure_6()
        finally:
            delete_topics(self.topics)
        self.results.update(runs=self.runs, elapsed_s=self.elapsed,
                            total_s=round(time.monotonic() - self.started, 1))
        self.results["targets"] = target_verdicts(self.results)
        return self.results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with ReceiverProcess() as receiver:
        results = Bench(args, receiver).run()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    print()
    print(table(results))
    print(f"\n{'quick' if args.quick else 'full'} run in {results['total_s']:.0f} s; raw numbers: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
