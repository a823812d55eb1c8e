"""RuleRepository against PostgreSQL: versions, revisions, lookups, delete, rollback, marker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

from storage.errors import Conflict, InvalidSpec, NotFound
from storage.repositories import RuleRepository

pytestmark = pytest.mark.integration


def rule_spec(name: str = "web-cpu-hot", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "description": "CPU over 90",
        "owner": "ops",
        "match": {"topic": "metrics", "type": "cpu"},
        "where": {"all": [{"field": "value", "op": "gt", "value": 90}]},
        "group_by": ["host"],
        "action": {"type": "webhook", "endpoint": "https://hooks.example.com/cpu"},
    }
    spec.update(extra)
    return spec


@pytest.fixture
def rules(session: Session) -> RuleRepository:
    return RuleRepository(session)


def test_apply_creates_then_is_a_no_op_then_updates(rules: RuleRepository) -> None:
    rule, changed = rules.apply(rule_spec(), "alice")
    assert changed and rule.version == 1 and rule.active
    assert rule.spec["id"] == str(rule.id) and rule.spec["active"] is True
    assert (rule.owner, rule.description) == ("ops", "CPU over 90")
    assert rule.created_at.tzinfo is not None and rule.updated_at.tzinfo is not None

    same, changed = rules.apply(rule_spec(), "alice")
    assert not changed and same.version == 1

    updated, changed = rules.apply(rule_spec(cooldown="10m", owner="sre"), "bob")
    assert changed and updated.id == rule.id and updated.version == 2 and updated.owner == "sre"

    history = rules.history("web-cpu-hot")
    assert [(r.version, r.action, r.changed_by) for r in history] == [
        (1, "create", "alice"),
        (2, "update", "bob"),
    ]
    assert history[1].changes == [
        {"field": "cooldown", "old": None, "new": "10m"},
        {"field": "owner", "old": "ops", "new": "sre"},
    ]
    assert history[1].spec["cooldown"] == "10m"


def test_apply_honours_a_given_id_and_finds_the_rule_by_it(rules: RuleRepository) -> None:
    given = uuid.uuid4()
    rule, _ = rules.apply(rule_spec(id=str(given)), "alice")
    assert rule.id == given

    renamed, changed = rules.apply(rule_spec("web-cpu-very-hot", id=str(given)), "alice")
    assert changed and renamed.id == given and renamed.name == "web-cpu-very-hot"
    assert rules.get("web-cpu-hot") is None


def test_apply_refuses_a_name_owned_by_another_id(rules: RuleRepository) -> None:
    rules.apply(rule_spec(), "alice")
    with pytest.raises(Conflict, match="already belongs to rule"):
        rules.apply(rule_spec(id=str(uuid.uuid4())), "alice")


def test_apply_refuses_documents_storage_cannot_keep(rules: RuleRepository) -> None:
    with pytest.raises(InvalidSpec, match="name"):
        rules.apply({"description": "no name"}, "alice")
    with pytest.raises(InvalidSpec, match="not a UUID"):
        rules.apply(rule_spec(id="not-a-uuid"), "alice")
    with pytest.raises(InvalidSpec, match="active"):
        rules.apply(rule_spec(active="yes"), "alice")


def test_get_by_id_name_and_list(rules: RuleRepository) -> None:
    first, _ = rules.apply(rule_spec("b-rule"), "alice")
    rules.apply(rule_spec("a-rule", active=False), "alice")
    assert rules.get(str(first.id)) is first
    assert rules.get(first.id) is first
    assert rules.get("b-rule") is first
    assert rules.get("missing") is None
    assert rules.get(str(uuid.uuid4())) is None
    assert [r.name for r in rules.list()] == ["a-rule", "b-rule"]
    assert [r.name for r in rules.list(active_only=True)] == ["b-rule"]


def test_enable_and_disable_bump_the_version(rules: RuleRepository) -> None:
    rule, _ = rules.apply(rule_spec(), "alice")
    disabled = rules.set_active("web-cpu-hot", False, "bob")
    assert not disabled.active and disabled.spec["active"] is False and disabled.version == 2
    assert rules.set_active(str(rule.id), False, "bob").version == 2  # already disabled
    enabled = rules.set_active(rule.id, True, "carol")
    assert enabled.active and enabled.version == 3
    assert [(r.action, r.changes) for r in rules.history(rule.id)][1:] == [
        ("disable", [{"field": "active", "old": True, "new": False}]),
        ("enable", [{"field": "active", "old": False, "new": True}]),
    ]
    with pytest.raises(NotFound, match="rule 'missing' not found"):
        rules.set_active("missing", True, "bob")


def test_reapplying_a_file_re_enables_a_disabled_rule(rules: RuleRepository) -> None:
    rules.apply(rule_spec(), "alice")
    rules.set_active("web-cpu-hot", False, "bob")
    rule, changed = rules.apply(rule_spec(), "alice")
    assert changed and rule.active and rule.version == 3


def test_delete_keeps_history_by_id_and_by_name(rules: RuleRepository) -> None:
    rule, _ = rules.apply(rule_spec(), "alice")
    rules.apply(rule_spec(cooldown="1m"), "alice")
    rules.delete("web-cpu-hot", "bob")
    assert rules.get(rule.id) is None
    for ref in (rule.id, str(rule.id), "web-cpu-hot"):
        history = rules.history(ref)
        assert [(r.version, r.action) for r in history] == [
            (1, "create"),
            (2, "update"),
            (3, "delete"),
        ]
    assert history[-1].spec["cooldown"] == "1m" and history[-1].changed_by == "bob"
    with pytest.raises(NotFound):
        rules.delete("web-cpu-hot", "bob")
    with pytest.raises(NotFound):
        rules.history("never-existed")


def test_recreating_with_the_same_id_continues_its_history(rules: RuleRepository) -> None:
    rule, _ = rules.apply(rule_spec(), "alice")
    rules.delete(rule.id, "bob")
    again, changed = rules.apply(rule_spec(id=str(rule.id)), "alice")
    assert changed and again.version == 3
    assert [r.action for r in rules.history(rule.id)] == ["create", "delete", "create"]


def test_rollback_restores_an_old_spec_as_a_new_version(rules: RuleRepository) -> None:
    rule, _ = rules.apply(rule_spec(), "alice")
    rules.apply(rule_spec(cooldown="10m"), "alice")
    rules.set_active(rule.id, False, "alice")

    restored = rules.rollback("web-cpu-hot", 1, "bob")
    assert restored.version == 4 and "cooldown" not in restored.spec and restored.active
    last = rules.history(rule.id)[-1]
    assert (last.version, last.action, last.changed_by) == (4, "rollback", "bob")
    assert rules.rollback("web-cpu-hot", 1, "bob").version == 4  # already equal: no new version

    with pytest.raises(NotFound, match="v9"):
        rules.rollback("web-cpu-hot", 9, "bob")


def test_rollback_brings_back_a_deleted_rule_with_its_id(rules: RuleRepository) -> None:
    rule, _ = rules.apply(rule_spec(), "alice")
    rules.delete(rule.id, "bob")
    restored = rules.rollback("web-cpu-hot", 1, "bob")
    assert restored.id == rule.id and restored.version == 3
    assert rules.get("web-cpu-hot") is restored


def test_change_marker_moves_on_every_kind_of_change(rules: RuleRepository) -> None:
    markers = [rules.change_marker()]

    def changed() -> bool:
        markers.append(rules.change_marker())
        return markers[-1] != markers[-2]

    rule, _ = rules.apply(rule_spec(), "alice")
    assert changed()
    rules.apply(rule_spec(), "alice")
    assert not changed()
    rules.apply(rule_spec(cooldown="5m"), "alice")
    assert changed()
    rules.set_active(rule.id, False, "alice")
    assert changed()
    rules.set_active(rule.id, True, "alice")
    assert changed()
    rules.rollback(rule.id, 1, "alice")
    assert changed()
    rules.delete(rule.id, "alice")
    assert changed()
    assert len(set(markers)) == len(markers) - 1
