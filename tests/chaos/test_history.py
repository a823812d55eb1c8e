"""The history checker on recorded histories: each count is attacked with the history that makes it."""

from __future__ import annotations

from chaos.history import Delivery, LoggedRow, check, group_text, recovery_s

A = ("big-order", "shop=s1", 1000)
B = ("hot-host", "host=h1", 2000)
C = ("service-silent", "service=svc2", 3000)


def row(key, executed_by="stream", status="success"):
    return LoggedRow(key, status, executed_by)


def hook(key, webhook_id, at=0.0, event=None, ok=True):
    return Delivery(webhook_id, key, event, at, ok)


def test_a_clean_history_is_ok():
    verdict = check([A, B], [A], [row(A), row(B)], [hook(A, "id-a")])
    assert verdict.ok
    assert (verdict.executions_expected, verdict.executions_logged, verdict.webhooks_received) == (2, 2, 1)


def test_a_missing_row_is_lost():
    verdict = check([A, B], [], [row(A)], [])
    assert (verdict.executions_lost, verdict.executions_duplicated, verdict.executions_unexpected) == (1, 0, 0)
    assert not verdict.ok


def test_a_second_row_of_one_execution_is_duplicated():
    verdict = check([A], [], [row(A), row(A, status="fail")], [])
    assert (verdict.executions_lost, verdict.executions_duplicated, verdict.executions_unexpected) == (0, 1, 0)
    assert not verdict.ok


def test_identities_are_counted_as_multisets():
    """Two expected executions with one identity: one row loses one, three rows duplicate one."""
    assert check([A, A], [], [row(A)], []).executions_lost == 1
    assert check([A, A], [], [row(A)] * 3, []).executions_duplicated == 1


def test_a_row_never_expected_is_unexpected():
    verdict = check([A], [], [row(A), row(C)], [])
    assert (verdict.executions_lost, verdict.executions_duplicated, verdict.executions_unexpected) == (0, 0, 1)
    assert not verdict.ok


def test_redrive_rows_are_not_executions():
    verdict = check([A], [A], [row(A), row(A, executed_by="redrive")], [hook(A, "id-a")])
    assert verdict.ok and verdict.redrive_rows == 1 and verdict.executions_logged == 1


def test_a_redelivery_with_the_same_id_is_counted_and_allowed():
    verdict = check([A], [A], [row(A)], [hook(A, "id-a"), hook(A, "id-a"), hook(A, "id-a")])
    assert verdict.redelivered_same_id == 2 and verdict.webhooks_duplicated == 0
    assert verdict.ok


def test_a_redelivery_with_a_new_id_is_a_duplicate_webhook():
    verdict = check([A], [A], [row(A)], [hook(A, "id-a"), hook(A, "id-other")])
    assert verdict.webhooks_duplicated == 1 and verdict.redelivered_same_id == 0
    assert not verdict.ok


def test_missing_and_unexpected_webhooks():
    verdict = check([A, B], [A, B], [row(A), row(B)], [hook(A, "id-a"), hook(C, "id-c"), hook(None, "id-x")])
    assert (verdict.webhooks_lost, verdict.webhooks_unexpected) == (1, 2)
    assert not verdict.ok


def test_a_bad_signature_fails_the_history():
    verdict = check([A], [A], [row(A)], [hook(A, "id-a", ok=False)])
    assert verdict.bad_signatures == 1 and not verdict.ok


def test_recovery_is_the_first_webhook_for_an_event_sent_after_the_fault():
    sent = {"e1": 10.0, "e2": 20.0, "e3": 21.0}
    deliveries = [hook(A, "1", at=19.0, event="e1"), hook(A, "2", at=25.5, event="e1"),
                  hook(B, "3", at=27.0, event="e3"), hook(B, "4", at=26.0, event="e2")]
    assert recovery_s(20.0, deliveries, sent) == 6.0
    assert recovery_s(30.0, deliveries, sent) is None


def test_group_text_sorts_fields():
    assert group_text({"b": 2, "a": "x"}) == "a=x|b=2"
    assert group_text({}) == ""
