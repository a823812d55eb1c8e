"""`python -m bench.run` end to end at a tiny scale: every figure runs and lands in the JSON.

Numbers at this scale mean nothing (a drain of 1,000 events lasts a fraction of a second); the
test checks that each figure is measured and reported, in its own database `cepflow_bench_smoke`.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from confluent_kafka.admin import AdminClient
from sqlalchemy import text

from storage.db import make_engine
from tests.conftest import BROKERS, stack_unavailable

pytestmark = pytest.mark.integration

REQUIRED = [
    "limit_eps", "throughput_eps", "ratio_to_limit", "rules_10_eps", "rules_1000_eps", "rules_10000_eps",
    "rules_10000_over_10", "scaleout_ratio", "latency_p50_ms", "latency_p99_ms", "latency_max_ms",
    "chain_hop_p50_ms", "chain_hop_p99_ms", "api_script_p50_ms", "api_script_p99_ms", "peak_rss_mb_1m_keys",
    "hot_reload_s", "limit_single_consumer_eps", "baseline_10_eps", "baseline_1000_eps", "ratio_to_baseline_10",
    "ratio_to_baseline_1000", "latency_stateful_p50_ms", "latency_stateful_p99_ms", "warmup_max_ms",
]


@pytest.fixture()
def stack() -> None:
    from bench.stack import ADMIN_URL

    try:
        AdminClient({"bootstrap.servers": BROKERS}).list_topics(timeout=10)
        with make_engine(ADMIN_URL).connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        stack_unavailable(f"Kafka {BROKERS} or PostgreSQL: {exc}")


def test_every_figure_is_measured_and_reported(stack: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.run import main

    out = tmp_path / "latest.json"
    assert main(["--quick", "--scale", "0.002", "--rule-sets", "10,20,40", "--latency-seconds", "8",
                 "--memory-keys", "2000", "--limit-runs", "1", "--repeats", "1", "--fires-settle-s", "0.5", "--database", "cepflow_bench_smoke",
                 "--out", str(out)]) == 0
    results = orjson.loads(out.read_bytes())
    missing = [key for key in REQUIRED if results.get(key) is None]
    assert not missing, f"not measured: {missing}"
    assert results["throughput_eps"] > 0 and results["limit_eps"] > 0
    assert results["memory_active_groups"] == 2000
    assert results["peak_rss_1m_basis"].startswith("EXTRAPOLATED")
    assert {"cpu", "cores", "memory_gib"} <= set(results["machine"])
    assert {"python", "bytewax", "kafka", "postgres"} <= set(results["versions"])
    assert len(results["targets"]) == 10 and results["date"]
    assert isinstance(results["baseline_10_fires_by_kind"], dict) and "engine_1000_fires_by_kind" in results
    figures = {run["figure"] for run in results["runs"]}
    assert {"limit", "limit_single_consumer", "baseline", "throughput", "rules", "scaleout", "steady", "memory"} <= figures
    assert [len(r["reloads"]) for r in results["runs"] if r["figure"] == "steady"] == [3]
    assert {"engines", "broker", "machine"} <= set(results["cores_2proc"])
    assert results["cores_throughput"]["engines"] >= 0  # measured; at this scale a drain can last under a clock tick
    table = capsys.readouterr().out
    assert "| 1 limit" in table and "hot reload" in table and "EXTRAPOLATED" in table
