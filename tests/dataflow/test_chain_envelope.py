"""Attacks on the chain topic: a chain event fires a rule, so only sealed, well-formed events that
name stored rules may; everything else is dead-lettered with its reason and fires nothing."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataflow.chain_envelope import MAX_ID_CHARS, PURPOSE, seal_chain_event
from dataflow.routing import Topics, make_router
from dataflow.rule_cache import StoredRule, build_rule_set
from dataflow.sealing import MAC_FIELD, Sealer
from dataflow.serde import ChainCheck, DeadLetter, Limits, parse_chain_message
from dataflow.types import ChainInfo, Event, InMessage
from dataflow.watermark import WatermarkClock

SEALER = Sealer(b"deployment-key-" + b"0" * 17)
CHECK = ChainCheck(SEALER, max_depth=3)
LIMITS = Limits(max_bytes=100_000, max_depth=16, type_field="type")
TOPICS = Topics("chain", "dead", "late")
RULES = build_rule_set(
    StoredRule(rule_id, rule_id, 1, True, {"name": rule_id, "match": {"type": "never"}, "actions": []})
    for rule_id in ("r1", "r2", "r3")
)


def record(**changes: Any) -> dict[str, Any]:
    base = {"id": "k.0", "ts": 1_700_000_000_000, "target_rule_id": "r3",
            "chain": {"id": "k", "depth": 2, "path": ["r1", "r2"]}, "payload": {"type": "x"}}
    return {**base, **changes}


def chain(**changes: Any) -> dict[str, Any]:
    return {"id": "k", "depth": 2, "path": ["r1", "r2"], **changes}


def route(value: bytes) -> list[Any]:
    router = make_router(lambda: RULES, lambda: WatermarkClock(now=None), LIMITS, TOPICS, CHECK)
    return router([InMessage("chain", 0, 7, value)])


def dead_letter_reason(value: bytes) -> str:
    [(kind, out)] = route(value)
    assert kind == "out" and out.topic == "dead", "a chain event that should be refused was routed"
    return dict(out.headers)["reason"].decode()


def test_a_sealed_event_fires_its_target() -> None:
    value = seal_chain_event(SEALER, event_id="k.0", ts_ms=1_700_000_000_000, target_rule_id="r3",
                             chain=ChainInfo("k", 2, ("r1", "r2")), payload={"type": "x"})
    [(kind, execution)] = route(value)
    assert kind == "exec" and execution.rule_id == "r3" and execution.chain.path == ("r1", "r2", "r3")


@pytest.mark.parametrize(
    "value",
    [
        orjson.dumps(record()),  # what the engine wrote before: no MAC at all
        orjson.dumps({**record(), MAC_FIELD: "v1:" + "0" * 64}),
        Sealer(b"another-deployment-key-000000000").seal(PURPOSE, record()),
        SEALER.seal("action-dead-letter", record()),  # sealed for the other internal topic
    ],
)
def test_an_unsealed_or_foreign_event_is_dead_lettered_as_forged(value: bytes) -> None:
    assert dead_letter_reason(value).startswith("forged chain event")


def test_a_sealed_event_altered_afterwards_is_forged() -> None:
    body = orjson.loads(SEALER.seal(PURPOSE, record()))
    body["chain"]["depth"] = -1
    assert dead_letter_reason(orjson.dumps(body)).startswith("forged chain event: MAC does not match")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"chain": chain(depth=-1)}, "chain.depth"),
        ({"chain": chain(depth=0, path=[])}, "chain.depth"),
        ({"chain": chain(depth=4, path=["r1", "r2", "a", "b"])}, "chain.depth"),
        ({"chain": chain(depth=True)}, "chain.depth"),
        ({"chain": chain(depth=2.0)}, "chain.depth"),
        ({"chain": chain(path=["r1"])}, "chain.path"),
        ({"chain": chain(path="r1,r2")}, "chain.path"),
        ({"chain": chain(path=["r1", 2])}, "chain.path.1"),
        ({"chain": chain(path=["r1", "x" * 65])}, "chain.path.1"),
        ({"chain": chain(path=["r1", "r1"])}, "repeats a rule"),
        ({"chain": chain(id="")}, "chain.id"),
        ({"chain": chain(id="k" * (MAX_ID_CHARS + 1))}, "chain.id"),
        ({"chain": {**chain(), "extra": 1}}, "chain must have exactly"),
        ({"chain": ["k", 2]}, "chain must have exactly"),
        ({"ts": 10**16}, "ts must be"),
        ({"ts": -(10**16)}, "ts must be"),
        ({"ts": "2024-01-01"}, "ts must be"),
        ({"ts": 1.5}, "ts must be"),
        ({"id": {"a": 1}}, "id must be"),
        ({"target_rule_id": "r1"}, "already on chain.path"),
        ({"target_rule_id": ""}, "target_rule_id"),
        ({"payload": [1, 2]}, "payload must be an object"),
        ({"admin": True}, "the event must have exactly"),
    ],
)
def test_every_field_of_a_sealed_event_is_checked(changes: dict[str, Any], field: str) -> None:
    reason = dead_letter_reason(SEALER.seal(PURPOSE, record(**changes)))
    assert reason.startswith("invalid chain event") and field in reason, reason


def test_a_missing_field_is_invalid() -> None:
    body = record()
    del body["payload"]
    assert "the event must have exactly" in dead_letter_reason(SEALER.seal(PURPOSE, body))


@pytest.mark.parametrize(("changes", "unknown"), [({"target_rule_id": "r9"}, "r9"),
                                                   ({"chain": chain(path=["r1", "ghost"])}, "ghost")])
def test_rule_ids_must_name_stored_rules(changes: dict[str, Any], unknown: str) -> None:
    reason = dead_letter_reason(SEALER.seal(PURPOSE, record(**changes)))
    assert reason == f"invalid chain event: unknown rule id {unknown!r}"


def test_the_dead_letter_keeps_the_bytes_and_coordinates() -> None:
    value = orjson.dumps(record())
    letter = parse_chain_message(InMessage("chain", 0, 7, value), LIMITS, CHECK)
    assert isinstance(letter, DeadLetter) and (letter.value, letter.topic, letter.offset) == (value, "chain", 7)


def test_sealing_does_not_depend_on_key_order() -> None:
    body = orjson.loads(SEALER.seal(PURPOSE, record()))
    reordered = orjson.dumps(dict(reversed(list(body.items()))))
    assert isinstance(parse_chain_message(InMessage("chain", 0, 1, reordered), LIMITS, CHECK), Event)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        Sealer(b"short")


JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=12)
FIELDS = st.fixed_dictionaries({}, optional={
    "id": JSON | st.text(max_size=8), "ts": JSON, "target_rule_id": JSON | st.sampled_from(["r1", "r2", "r3"]),
    "payload": JSON,
    "chain": JSON | st.fixed_dictionaries({}, optional={"id": JSON, "depth": JSON | st.integers(-2, 5),
                                                        "path": JSON | st.lists(st.sampled_from(["r1", "r2", "r9"]))}),
})


@settings(max_examples=300, deadline=None)
@given(FIELDS)
def test_any_record_is_either_refused_or_a_chain_event_the_engine_could_have_written(body: dict[str, Any]) -> None:
    for value in (orjson.dumps(body), SEALER.seal(PURPOSE, body)):
        [(kind, out)] = route(value) or [("none", None)]
        if kind == "out":
            assert out.topic == "dead"
            continue
        assert value != orjson.dumps(body), "an unsealed record was routed"
        event = parse_chain_message(InMessage("chain", 0, 1, value), LIMITS, CHECK)
        assert isinstance(event, Event) and event.chain is not None
        assert 1 <= event.chain.depth <= CHECK.max_depth and len(event.chain.path) == event.chain.depth
        assert event.target_rule_id not in event.chain.path and abs(event.ts_ms) < 10**15
        assert {event.target_rule_id, *event.chain.path} <= {"r1", "r2", "r3"}


def test_a_rotation_accepts_the_previous_key_on_the_way_in_and_seals_with_the_new_one() -> None:
    old, new = b"old-key-" + b"0" * 24, b"new-key-" + b"0" * 24
    before = Sealer(old).seal(PURPOSE, record())
    rotated = Sealer(new, previous=(old,))
    assert rotated.open(PURPOSE, orjson.loads(before)) == record()
    assert isinstance(Sealer(new).open(PURPOSE, orjson.loads(before)), str)
    assert isinstance(Sealer(old).open(PURPOSE, orjson.loads(rotated.seal(PURPOSE, record()))), str)
