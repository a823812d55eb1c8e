"""Advisory lock keys (no database needed): stable across processes, signed 64-bit."""

from __future__ import annotations

import subprocess
import sys

from storage.locks import advisory_key


def test_advisory_key_is_stable_signed_64_bit() -> None:
    key = advisory_key("rule-group", "r1|web-1")
    assert -(2**63) <= key < 2**63
    assert key != advisory_key("rule-group", "r1|web-2")
    assert advisory_key("a", "b:c") == advisory_key("a:b", "c")  # the documented `namespace:key`


def test_advisory_key_is_the_same_in_another_process() -> None:
    code = "from storage.locks import advisory_key; print(advisory_key('rule-group', 'r1|web-1'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == advisory_key("rule-group", "r1|web-1")
