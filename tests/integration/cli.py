"""Calling the real `cepflow` command from tests, with a test's environment."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.harness import ROOT, StackEnv


def cepflow(stack: StackEnv, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "cepflow", *args], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, **stack.env()}, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"cepflow {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result
