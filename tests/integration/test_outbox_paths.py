"""The manual-trigger path shares the outbox (docs/ARCHITECTURE.md): `cepflow trigger` of a rule
whose action is `trigger_rule` commits the chain event with its row, then relays it itself — the
chain topic holds it once, and no outbox row is left unsent, with no engine running."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cepflow.api.app import create_app
from cepflow.resources import Resources
from storage.models import OutboxMessage
from tests.integration.cli import cepflow
from tests.integration.detections import AppliedRules
from tests.integration.harness import StackEnv

pytestmark = pytest.mark.integration


def test_a_manual_trigger_relays_its_chain_event(stack: StackEnv, sessions, unique: str) -> None:
    first, second = f"manual-start-{unique}", f"manual-then-{unique}"
    docs = [{"name": first, "action": {"type": "trigger_rule", "rule_id": second, "payload": {"n": 1}}},
            {"name": second, "match": {"chain_only": True}}]
    with AppliedRules(sessions).apply(*docs) as rules:
        result = orjson.loads(cepflow(stack, "trigger", first, "--payload", '{"host": "h"}').stdout)
        [row] = rules.rows()
    assert result["status"] == "success" == row.status
    [message] = stack.read_topic(stack.settings().chain_topic)
    chain_event = orjson.loads(message.value())
    assert chain_event["id"] == row.idempotency_key and chain_event["target_rule_id"] == rules.ids[second]
    with sessions() as session:
        stored = session.scalars(select(OutboxMessage).where(OutboxMessage.value == message.value())).one()
    assert stored.sent_at is not None and stored.topic == stack.settings().chain_topic


def test_closed_resources_leave_no_relay_taking_rows(stack: StackEnv) -> None:
    """A process done with its resources (a test, a stopped API server) stops its relay thread:
    one left running would take the rows another process's relay is responsible for."""
    resources = Resources(stack.settings())
    relay = resources.relay
    assert relay.thread.is_alive()
    resources.close()
    assert not relay.thread.is_alive()


def test_an_api_server_closes_the_resources_it_built(stack: StackEnv) -> None:
    app = create_app(stack.settings())
    with TestClient(app):
        relay = app.state.resources.relay
        assert relay.thread.is_alive()
    assert not relay.thread.is_alive()
