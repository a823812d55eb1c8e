"""The history checker, in the spirit of Jepsen: pure functions over recorded histories.

An execution is identified by `(rule name, group text, fired-at ms)`: the same triple the offline
runner prints, the engine logs (`rule_name`, `group_key`, `references.at`) and the chaos rules
put into every webhook body. Identities are counted as multisets, so two executions that share an
identity are still told apart by their number.

- lost: expected but absent (or fewer times than expected);
- duplicated: an expected identity present more often than expected (for webhooks: delivered
  under more `webhook-id`s than expected — a second action, not a re-delivery);
- unexpected: present but never expected;
- re-delivered: a request whose `webhook-id` was already received (at-least-once delivery doing
  its job; every re-delivery carries its original id, or it would count as duplicated).

Rows written by `cepflow actions redrive` (`executed_by="redrive"`) are the record of re-sent
actions, not executions: they are counted apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

ExecKey = tuple[str, str, int]
"""(rule name, group text, fired-at epoch ms)."""

REDRIVE = "redrive"


def group_text(group: Mapping[str, Any]) -> str:
    """A group as `field=value` pairs sorted by field, joined with `|` (`{}` is the empty text)."""
    return "|".join(f"{name}={group[name]}" for name in sorted(group))


@dataclass(frozen=True)
class LoggedRow:
    """One `exec_logs` row, as far as the checker cares."""

    key: ExecKey
    status: str
    executed_by: str


@dataclass(frozen=True)
class Delivery:
    """One HTTP request the webhook target received (`key` None: the body named no execution)."""

    webhook_id: str
    key: ExecKey | None
    event_id: str | None
    received_wall: float
    signature_ok: bool


@dataclass(frozen=True)
class Verdict:
    """What one history shows; `ok` is the acceptance of issue 12."""

    executions_expected: int
    executions_logged: int
    executions_lost: int
    executions_duplicated: int
    executions_unexpected: int
    webhooks_expected: int
    webhooks_received: int
    webhooks_lost: int
    webhooks_duplicated: int
    webhooks_unexpected: int
    redelivered_same_id: int
    bad_signatures: int
    redrive_rows: int

    @property
    def ok(self) -> bool:
        return not (self.executions_lost or self.executions_duplicated or self.executions_unexpected
                    or self.webhooks_lost or self.webhooks_duplicated or self.webhooks_unexpected
                    or self.bad_signatures)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _excess(have: Counter[ExecKey], want: Counter[ExecKey]) -> tuple[int, int, int]:
    """(lost, duplicated, unexpected) of multiset `have` against multiset `want`."""
    lost = sum(max(0, n - have[key]) for key, n in want.items())
    duplicated = sum(max(0, have[key] - n) for key, n in want.items())
    unexpected = sum(n for key, n in have.items() if key not in want)
    return lost, duplicated, unexpected


def check(
    expected: Iterable[ExecKey],
    expected_webhooks: Iterable[ExecKey],
    rows: Iterable[LoggedRow],
    deliveries: Iterable[Delivery],
) -> Verdict:
    """Compare a recorded history with the expected executions and webhooks."""
    want, want_hooks = Counter(expected), Counter(expected_webhooks)
    rows, deliveries = list(rows), list(deliveries)
    logged = Counter(row.key for row in rows if row.executed_by != REDRIVE)
    lost, duplicated, unexpected = _excess(logged, want)

    ids_by_key: dict[ExecKey | None, set[str]] = {}
    seen: Counter[str] = Counter()
    for delivery in deliveries:
        ids_by_key.setdefault(delivery.key, set()).add(delivery.webhook_id)
        seen[delivery.webhook_id] += 1
    anonymous = len(ids_by_key.pop(None, set()))
    hooks = Counter({key: len(ids) for key, ids in ids_by_key.items() if key is not None})
    hooks_lost, hooks_duplicated, hooks_unexpected = _excess(hooks, want_hooks)
    return Verdict(
        executions_expected=sum(want.values()),
        executions_logged=sum(logged.values()),
        executions_lost=lost,
        executions_duplicated=duplicated,
        executions_unexpected=unexpected,
        webhooks_expected=sum(want_hooks.values()),
        webhooks_received=len(deliveries),
        webhooks_lost=hooks_lost,
        webhooks_duplicated=hooks_duplicated,
        webhooks_unexpected=hooks_unexpected + anonymous,
        redelivered_same_id=sum(n - 1 for n in seen.values()),
        bad_signatures=sum(1 for d in deliveries if not d.signature_ok),
        redrive_rows=sum(1 for row in rows if row.executed_by == REDRIVE),
    )


def recovery_s(healed_wall: float, deliveries: Iterable[Delivery], sent_wall: Mapping[str, float]) -> float | None:
    """Seconds from the end of a fault to the first webhook for an event sent after it: the
    engine back to work on new input. None when no such webhook arrived (not recovered).
    """
    times = [d.received_wall for d in deliveries
             if d.event_id is not None and sent_wall.get(d.event_id, float("-inf")) >= healed_wall]
    return round(min(times) - healed_wall, 2) if times else None
