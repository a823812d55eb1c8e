"""Deployment settings, read from `CEPFLOW_*` environment variables (or a `.env` file).

Every knob the engine, the CLI and the demo share lives here, so that one place documents it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

import orjson
from pydantic import BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rules.duration import parse_duration


def _list_of_text(value: Any) -> Any:
    """A list from the environment: JSON (`["a","b"]`) or comma-separated (`a,b`)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            msg = f"expected a JSON list or comma-separated names ({exc})"
            raise ValueError(msg) from None
    return [part.strip() for part in text.split(",") if part.strip()]


TextList = Annotated[list[str], NoDecode, BeforeValidator(_list_of_text)]
DurationMs = Annotated[int, NoDecode, BeforeValidator(parse_duration)]
"""A duration as in rules (`10m`, `500ms`, or a number of milliseconds), held in ms."""


class Settings(BaseSettings):
    """cepflow configuration; each field is `CEPFLOW_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="CEPFLOW_", env_file=".env", extra="ignore")

    kafka_brokers: str = Field("127.0.0.1:19092", description="Comma-separated bootstrap servers.")
    events_topics: TextList = Field(["cepflow.events"], description="Topics of input events.")
    events_partitions: int = Field(4, ge=1, description="Partitions when cepflow creates a topic.")
    chain_topic: str = Field("cepflow.chain", description="Internal topic of trigger_rule events.")
    dead_letter_topic: str = Field("cepflow.deadletter", description="Unparsable input messages.")
    late_topic: str = Field("cepflow.late", description="Events older than the watermark.")
    action_dead_letter_topic: str = Field(
        "cepflow.actions.deadletter", description="Actions that failed after their last retry."
    )
    database_url: str = Field(
        "postgresql+psycopg://cepflow:cepflow@127.0.0.1:15432/cepflow",
        description="SQLAlchemy URL of the rules, script APIs and execution log.",
    )
    event_type_field: str = Field("type", description="Event field holding the event type.")
    max_message_bytes: int = Field(1_000_000, ge=1, description="Larger messages are dead-lettered.")
    max_json_depth: int = Field(32, ge=1, description="Deeper JSON is dead-lettered.")
    max_event_future: DurationMs = Field(
        600_000, gt=0, description="An event time further ahead of the wall clock is dead-lettered (e.g. 10m)."
    )
    consumer_batch_size: int = Field(1000, ge=1, description="Max messages per Kafka poll.")
    rule_refresh_s: float = Field(1.0, gt=0, description="How often workers poll for rule changes.")
    max_chain_depth: int = Field(5, ge=0, description="Deepest allowed trigger_rule chain.")
    action_concurrency: int = Field(16, ge=1, description="Executions of different (rule, group)s run in parallel, per process.")
    action_deadline_s: float = Field(
        30.0,
        gt=0,
        description="Longest the executions of one (rule, group) in a sink batch may spend on their "
        "actions (dead letters after it); no webhook attempt runs past it.",
    )
    webhook_allow_hosts: TextList = Field(
        [], description="Hosts (or host:port) allowed although they resolve to private addresses."
    )
    webhook_allow_cidrs: TextList = Field([], description="Address ranges allowed likewise.")
    webhook_signing_secret: str | None = Field(
        None, description="Standard Webhooks secret (whsec_...) to sign requests with."
    )
    internal_key: SecretStr | None = Field(
        None,
        description="Key (32+ characters) sealing chain events and action dead letters; the engine,"
        " manual triggers and redrive refuse to start without it (docs/SECURITY.md).",
    )
    internal_key_previous: SecretStr | None = Field(
        None, description="The key before a rotation: still accepted on the way in, never used to seal."
    )
    log_level: str = Field("INFO", description="Engine log level (DEBUG, INFO, WARNING, ...).")
    script_warm_runners: int = Field(1, ge=0, description="Pre-started script runner processes.")
    api_max_body_bytes: int = Field(
        5_000_000, ge=1, description="`cepflow serve`: larger request bodies are refused (413)."
    )

    @property
    def brokers(self) -> list[str]:
        return [b.strip() for b in self.kafka_brokers.split(",") if b.strip()]

    @property
    def input_topics(self) -> list[str]:
        return [*self.events_topics, self.chain_topic]

    def topic_plan(self) -> dict[str, int]:
        """Every topic cepflow reads or writes, with the partition count to create it with."""
        plan = {topic: self.events_partitions for topic in self.events_topics}
        for topic in (self.chain_topic, self.dead_letter_topic, self.late_topic, self.action_dead_letter_topic):
            plan.setdefault(topic, 1)
        return plan

    def internal_key_bytes(self) -> bytes:
        """The sealing key of the internal topics; `ConfigError` saying how to set it when unset.

        No default and no derivation: a key every deployment shares would let anyone who can
        write to Kafka forge chain events and dead letters, so a process that needs it stops.
        """
        key = self.internal_key.get_secret_value().encode() if self.internal_key is not None else b""
        if len(key) < MIN_INTERNAL_KEY_CHARS:
            state = "is not set" if not key else f"is too short ({len(key)} < {MIN_INTERNAL_KEY_CHARS} characters)"
            msg = (
                f"CEPFLOW_INTERNAL_KEY {state}: it seals chain events and action dead letters. Generate one"
                ' with `python -c "import secrets; print(secrets.token_urlsafe(48))"` and give the same'
                " value to every engine process and to the cepflow CLI (docs/SECURITY.md)."
            )
            raise ConfigError(
                msg
            )
        return key

    def previous_internal_keys(self) -> tuple[bytes, ...]:
        """`CEPFLOW_INTERNAL_KEY_PREVIOUS` when set (a rotation in progress), else nothing."""
        if self.internal_key_previous is None or not self.internal_key_previous.get_secret_value():
            return ()
        key = self.internal_key_previous.get_secret_value().encode()
        if len(key) < MIN_INTERNAL_KEY_CHARS:
            msg = f"CEPFLOW_INTERNAL_KEY_PREVIOUS is too short ({len(key)} < {MIN_INTERNAL_KEY_CHARS} characters)"
            raise ConfigError(msg)
        return (key,)


MIN_INTERNAL_KEY_CHARS = 32


class ConfigError(ValueError):
    """The environment holds an invalid `CEPFLOW_*` value; the message names each variable."""


def describe_errors(exc: ValidationError) -> str:
    """One line per bad variable: `CEPFLOW_EVENTS_PARTITIONS: Input should be ... (got 'abc')`."""
    lines = []
    for error in exc.errors():
        name = "CEPFLOW_" + str(error["loc"][0]).upper() if error["loc"] else "CEPFLOW_*"
        lines.append(f"{name}: {error['msg']} (got {error.get('input')!r})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once; `ConfigError` names every bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc)) from None
