"""What a bench run reports: the machine, the versions, the table, and the targets of issue 14."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.stack import ROOT

TARGETS = [
    # (key, comparison, bound, what)
    ("ratio_to_limit", ">=", 0.3, "throughput at 1,000 rules >= 0.3 x per-partition limit"),
    ("ratio_to_baseline_10", ">=", 0.5, "throughput at 10 rules >= 0.5 x hand-written loop"),
    ("rules_10000_over_10", ">=", 0.8, "10,000 rules >= 0.8 x 10 rules"),
    ("scaleout_ratio", ">=", 1.6, "two processes >= 1.6 x one"),
    ("latency_p99_ms", "<=", 50.0, "event -> webhook p99 <= 50 ms at 5,000 ev/s"),
    ("latency_stateful_p99_ms", "<=", 5100.0, "stateful p99 <= allowed_lateness (5 s) + 100 ms (issue 13)"),
    ("chain_hop_p50_ms", "<=", 20.0, "chain hop p50 <= 20 ms"),
    ("api_script_p50_ms", "<=", 10.0, "trivial api_script p50 <= 10 ms"),
    ("peak_rss_mb_1m_keys", "<=", 1024.0, "peak RSS <= 1 GiB with 1M keys"),
    ("hot_reload_s", "<=", 2.0, "hot reload <= 2 s"),
]


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
               platform.processor())
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal"))
    load = os.getloadavg()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_kb / 2**20, 1),
            "load_average_at_start": [round(x, 2) for x in load], "platform": platform.platform()}


def versions(postgres: str) -> dict[str, str]:
    pom = (ROOT / "stack" / "kafka" / "pom.xml").read_text()
    kafka = pom.split("<kafka.version>", 1)[1].split("<", 1)[0] if "<kafka.version>" in pom else "unknown"
    return {"python": platform.python_version(), "bytewax": version("bytewax"),
            "confluent_kafka": version("confluent-kafka"), "orjson": version("orjson"),
            "kafka": kafka, "postgres": postgres}


def target_verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, comparison, bound, what in TARGETS:
        value = results.get(key)
        met = None if value is None else (value >= bound if comparison == ">=" else value <= bound)
        out.append({"key": key, "target": what, "value": value, "met": met})
    return out


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float) and value != value:
        return "no sample"
    if unit == "x":
        return f"{value:.2f} x"
    if unit == "%":
        return f"{value * 100:.3f} %"
    return f"{value:,.0f} {unit}" if abs(value) >= 100 else f"{value:.2f} {unit}"


def table(results: dict[str, Any]) -> str:
    sizes = results["rule_set_sizes"]
    scale = results["events"]
    results = {**results, "scaleout_late_max": max(results.get("scaleout_late_events") or [0])}

    def cores(key: str) -> str:
        used = results.get(key)
        if not used:
            return ""
        return (f"cores busy: engines {used['engines']:.2f}, broker {used['broker']:.2f},"
                f" machine {used['machine']:.2f} of {os.cpu_count()}")

    def runs(size: int) -> str:
        count = results.get("rule_runs", {}).get(str(size), 0)
        return f"median of {count}" if count > 1 else f"{count} run"
    rows = [
        ("1 limit: consume + orjson.loads, 1 process, a consumer per partition", "limit_eps", "ev/s",
         f"median of {results['limit_runs']}"),
        ("  one consumer for all partitions", "limit_single_consumer_eps", "ev/s", "reference"),
        (f"1b baseline: hand-written loop, R={sizes[0]:,}", "baseline_10_eps", "ev/s", "same fires as the engine"),
        (f"  R={sizes[1]:,}", "baseline_1000_eps", "ev/s", ""),
        (f"2 throughput, {sizes[1]:,} rules, {scale['throughput']:,} events", "throughput_eps", "ev/s",
         f"1 process; {cores('cores_throughput')}"),
        ("  ratio to limit", "ratio_to_limit", "x", "same run"),
        ("  events leading to an action", "action_fraction", "%", "target ~0.1 %"),
        (f"3 rules R={sizes[0]:,} ({scale['per_rule_set']:,} events)", "rules_10_eps", "ev/s", runs(sizes[0])),
        ("  ratio to the baseline at the same R", "ratio_to_baseline_10", "x", "same run"),
        (f"  R={sizes[1]:,}", "rules_1000_eps", "ev/s", f"{runs(sizes[1])}; {cores('cores_1proc')}"),
        ("  ratio to the baseline at the same R", "ratio_to_baseline_1000", "x", "same run"),
        (f"  R={sizes[2]:,}", "rules_10000_eps", "ev/s", runs(sizes[2])),
        (f"  R={sizes[2]:,} / R={sizes[0]:,}", "rules_10000_over_10", "x", "ratio of the medians"),
        (f"4 scale-out: 2 processes, R={sizes[1]:,}", "scaleout_2proc_eps", "ev/s",
         f"same topic as R={sizes[1]:,}; {runs(sizes[1])}; {cores('cores_2proc')}"),
        ("  2 processes / 1", "scaleout_ratio", "x", "median of the pairs' ratios"),
        ("  late events in the 2-process runs", "scaleout_late_max", "", "1 process: 0 expected"),
        (f"5 event -> webhook p50 ({results.get('offered_eps', 0):,} ev/s offered)", "latency_p50_ms", "ms",
         f"{results.get('latency_samples', 0)} webhooks; {results.get('probes_received', 0)} of"
         f" {results.get('probes_sent', 0)} probes back; after {results.get('warmup_s', 0):.0f} s of warm-up"),
        ("  p99", "latency_p99_ms", "ms", "each rules: probes and workload fires"),
        ("  p99 away from the rule reloads", "latency_p99_ms_outside_reloads", "ms", "sent >3 s after a change"),
        ("  max", "latency_max_ms", "ms", ""),
        ("  max during the warm-up", "warmup_max_ms", "ms", "the first seconds after the engine starts reading"),
        ("  stateful rules p50 (threshold probe, threshold, sequence)", "latency_stateful_p50_ms", "ms",
         f"{results.get('latency_stateful_samples', 0)} webhooks"),
        ("  stateful rules p99", "latency_stateful_p99_ms", "ms", ""),
        ("  chain hop p50 (A webhook -> B webhook)", "chain_hop_p50_ms", "ms", ""),
        ("  chain hop p99", "chain_hop_p99_ms", "ms", ""),
        ("  api_script p50 (exec_logs duration_ms)", "api_script_p50_ms", "ms", "whole execution"),
        ("  api_script p99", "api_script_p99_ms", "ms", ""),
        ("  api_script runner p50 (script's own)", "api_script_runner_p50_ms", "ms", ""),
        (f"6 peak RSS, {results.get('memory_keys', 0):,} keys", "peak_rss_mb_measured", "MB", "VmHWM"),
        ("  peak RSS at 1,000,000 keys", "peak_rss_mb_1m_keys", "MB", results.get("peak_rss_1m_basis", "")),
        ("  bytes per key", "bytes_per_key", "B", ""),
        ("7 hot reload (commit -> first event on new version)", "hot_reload_s", "s",
         f"median of {len(results.get('hot_reloads', []))}"),
    ]
    lines = ["| figure | value | note |", "|---|---|---|"]
    lines += [f"| {label} | {_fmt(results.get(key), unit)} | {note} |" for label, key, unit, note in rows]
    lines += ["", "| target (issue 14 unless named) | value | verdict |", "|---|---|---|"]
    for verdict in results["targets"]:
        met = {True: "met", False: "MISSED", None: "not measured"}[verdict["met"]]
        value = verdict["value"]
        shown = "-" if value is None else f"{value:,.2f}"
        lines.append(f"| {verdict['target']} | {shown} | {met} |")
    return "\n".join(lines)
