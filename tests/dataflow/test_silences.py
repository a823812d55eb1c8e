"""Which silence mutes an execution: by rule, by every group value (as JSON values), in [start, end)."""

from __future__ import annotations

from dataflow.silences import ActiveSilence, SilenceSet


def test_matching_is_by_rule_group_values_and_time():
    rule_only = ActiveSilence("s1", "r1", {}, 1000, 2000)
    group_only = ActiveSilence("s2", None, {"host": "web-1"}, 1000, 2000)
    assert rule_only.mutes("r1", {"host": "x"}, 1000) and not rule_only.mutes("r1", {}, 2000)
    assert not rule_only.mutes("r2", {}, 1500) and not rule_only.mutes("r1", {}, 999)
    assert group_only.mutes("any", {"host": "web-1", "dc": "a"}, 1500)
    assert not group_only.mutes("any", {"host": "web-2"}, 1500) and not group_only.mutes("any", {}, 1500)
    assert not ActiveSilence("s3", None, {"port": 80}, 0, 10).mutes("r", {"port": "80"}, 5)
    assert SilenceSet((rule_only, group_only)).match("r9", {"host": "web-1"}, 1500) == "s2"
    assert SilenceSet().match("r1", {}, 1500) is None
