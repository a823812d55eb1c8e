"""The engine's interpreter settings: long-lived objects frozen, larger young generation, a\nshorter GIL switch interval."""

from __future__ import annotations

import gc
import sys

from dataflow.process_tuning import SWITCH_INTERVAL_S, THRESHOLDS, freeze_long_lived, tune_for_latency


def test_tuning_sets_thresholds_and_freezes_what_exists() -> None:
    before, switch = gc.get_threshold(), sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)  # CPython's default (importing the engine's flow in a test tunes it)
        gc.unfreeze()
        tune_for_latency()
        assert gc.get_threshold() == THRESHOLDS
        assert sys.getswitchinterval() == SWITCH_INTERVAL_S
        frozen = gc.get_freeze_count()
        assert frozen > 0
        kept = [[i] for i in range(1000)]  # new long-lived objects, e.g. a reloaded rule set
        freeze_long_lived()
        assert gc.get_freeze_count() >= frozen + len(kept)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        sys.setswitchinterval(switch)
