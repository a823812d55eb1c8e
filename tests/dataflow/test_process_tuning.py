"""The engine's collector policy: long-lived objects frozen, larger young generation."""

from __future__ import annotations

import gc

from dataflow.gc_policy import THRESHOLDS, freeze_long_lived, tune_for_latency


def test_tuning_sets_thresholds_and_freezes_what_exists() -> None:
    before = gc.get_threshold()
    try:
        gc.unfreeze()
        tune_for_latency()
        assert gc.get_threshold() == THRESHOLDS
        frozen = gc.get_freeze_count()
        assert frozen > 0
        kept = [[i] for i in range(1000)]  # new long-lived objects, e.g. a reloaded rule set
        freeze_long_lived()
        assert gc.get_freeze_count() >= frozen + len(kept)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
