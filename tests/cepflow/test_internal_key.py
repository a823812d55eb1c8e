"""CEPFLOW_INTERNAL_KEY: without it (or with a short one) nothing that writes or reads the internal
topics starts — the engine and `cepflow actions redrive` stop and say how to set it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cepflow.flow import build_flow
from cepflow.settings import ConfigError, Settings


def env_without_key() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "CEPFLOW_INTERNAL_KEY"}


@pytest.mark.parametrize(("key", "state"), [(None, "is not set"), ("", "is not set"), ("x" * 31, "is too short")])
def test_a_missing_or_short_key_is_a_config_error_naming_the_variable(key: str | None, state: str) -> None:
    with pytest.raises(ConfigError, match=f"CEPFLOW_INTERNAL_KEY {state}.*secrets.token_urlsafe"):
        Settings(internal_key=key).internal_key_bytes()


def test_a_long_enough_key_is_used_as_is() -> None:
    assert Settings(internal_key="k" * 32).internal_key_bytes() == b"k" * 32


def test_the_flow_is_not_built_without_a_key() -> None:
    with pytest.raises(ConfigError, match="CEPFLOW_INTERNAL_KEY is not set"):
        build_flow(Settings(internal_key=None, kafka_brokers="127.0.0.1:9"))


def test_the_engine_refuses_to_start_without_a_key() -> None:
    result = subprocess.run([sys.executable, "-m", "bytewax.run", "cepflow.flow:flow"], env=env_without_key(),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0 and "CEPFLOW_INTERNAL_KEY is not set" in result.stderr


@pytest.mark.parametrize("command", [["actions", "redrive"], ["run", "--recovery-dir", "/nonexistent/cepflow"],
                                     ["trigger", "some-rule"]])
def test_the_cli_commands_that_seal_or_open_refuse_to_start_without_a_key(command: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "cepflow", *command], env=env_without_key(),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and "error: CEPFLOW_INTERNAL_KEY is not set" in result.stderr


def test_the_previous_key_is_optional_and_checked_like_the_key() -> None:
    assert Settings(internal_key="k" * 32).previous_internal_keys() == ()
    assert Settings(internal_key="k" * 32, internal_key_previous="p" * 32).previous_internal_keys() == (b"p" * 32,)
    with pytest.raises(ConfigError, match="CEPFLOW_INTERNAL_KEY_PREVIOUS is too short"):
        Settings(internal_key="k" * 32, internal_key_previous="short").previous_internal_keys()
