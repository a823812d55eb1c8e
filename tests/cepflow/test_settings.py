"""Configuration errors name the variable; list settings accept JSON or comma-separated text."""

from __future__ import annotations

import pytest

from cepflow.settings import ConfigError, get_settings


@pytest.fixture(autouse=True)
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_lists_accept_json_and_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEPFLOW_EVENTS_TOPICS", '["metrics", "orders"]')
    monkeypatch.setenv("CEPFLOW_WEBHOOK_ALLOW_HOSTS", "127.0.0.1, hooks.local:8080")
    settings = get_settings()
    assert settings.events_topics == ["metrics", "orders"]
    assert settings.webhook_allow_hosts == ["127.0.0.1", "hooks.local:8080"]
    assert settings.input_topics == ["metrics", "orders", settings.chain_topic]


def test_every_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEPFLOW_EVENTS_PARTITIONS", "abc")
    monkeypatch.setenv("CEPFLOW_EVENTS_TOPICS", "[oops")
    with pytest.raises(ConfigError) as err:
        get_settings()
    message = str(err.value)
    assert "CEPFLOW_EVENTS_PARTITIONS" in message and "'abc'" in message
    assert "CEPFLOW_EVENTS_TOPICS" in message and "'[oops'" in message


@pytest.mark.parametrize(("text", "ms"), [("10m", 600_000), ("30s", 30_000), ("1500ms", 1500)])
def test_max_event_future_is_a_duration(monkeypatch: pytest.MonkeyPatch, text: str, ms: int) -> None:
    monkeypatch.setenv("CEPFLOW_MAX_EVENT_FUTURE", text)
    assert get_settings().max_event_future == ms


def test_max_event_future_defaults_to_ten_minutes_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_settings().max_event_future == 600_000
    get_settings.cache_clear()
    monkeypatch.setenv("CEPFLOW_MAX_EVENT_FUTURE", "soon")
    with pytest.raises(ConfigError, match="CEPFLOW_MAX_EVENT_FUTURE"):
        get_settings()
