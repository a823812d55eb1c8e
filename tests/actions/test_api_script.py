"""Which stored script APIs may run (issue 11): no `network: true`, limits within RULES.md §6."""

from __future__ import annotations

import pytest

from actions.api_script import NETWORK_REFUSED, ApiDefinition, refusal


def api(**changes: object) -> ApiDefinition:
    fields = {"id": "1", "name": "x", "version": 1, "type": "script", "source": "def main(p, i, c): pass",
              "timeout_ms": 5000, "memory_mb": 256, "network": False, **changes}
    return ApiDefinition(**fields)  # type: ignore[arg-type]


def test_an_api_within_the_bounds_runs() -> None:
    assert refusal(api()) is None
    assert refusal(api(timeout_ms=60_000, memory_mb=2048)) is None


def test_network_true_is_refused_with_the_reason() -> None:
    assert refusal(api(network=True)) == NETWORK_REFUSED
    assert "public addresses" in NETWORK_REFUSED


@pytest.mark.parametrize(("timeout_ms", "memory_mb"), [(60_001, 256), (86_400_000, 256), (5000, 2049),
                                                       (5000, 65536), (0, 256), (5000, 0)])
def test_a_stored_api_beyond_the_bounds_is_refused_not_run(timeout_ms: int, memory_mb: int) -> None:
    reason = refusal(api(timeout_ms=timeout_ms, memory_mb=memory_mb))
    assert reason is not None and reason.endswith("at most 60s and 2048): apply it again")


def test_a_test_run_refuses_what_the_engine_refuses() -> None:
    """`cepflow apis run` and the HTTP API's test run share `run_once`: a `network: true` API or one
    beyond the bounds is refused there too, before any process starts."""
    from types import SimpleNamespace

    from actions.api_script import NETWORK_REFUSED, run_once

    api = SimpleNamespace(id="a1", name="net", version=1, type="script", source="def main(p, i, c): return 1",
                          timeout_ms=1000, memory_mb=64, spec={"network": True})
    assert run_once(api, {}, {}, "cli")["error"] == NETWORK_REFUSED
    huge = SimpleNamespace(**{**vars(api), "spec": {}, "memory_mb": 1 << 20})
    assert "out of bounds" in run_once(huge, {}, {}, "cli")["error"]
