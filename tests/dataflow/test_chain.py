from __future__ import annotations

from dataflow.chain import extend_chain, plan_chain
from dataflow.types import ChainInfo


def test_first_hop_keeps_the_chain_id_and_goes_one_deeper() -> None:
    parent = ChainInfo("k", 0, ("A",))
    assert plan_chain(parent, "B") == ChainInfo("k", 1, ("A",))


def test_revisiting_a_rule_on_the_path_is_a_cycle() -> None:
    assert plan_chain(ChainInfo("k", 1, ("A", "B")), "A") == "cycle"
    assert plan_chain(ChainInfo("k", 0, ("A",)), "A") == "cycle"  # a rule triggering itself


def test_depth_beyond_the_maximum_is_refused() -> None:
    assert plan_chain(ChainInfo("k", 4, tuple("ABCDE")), "F") == ChainInfo("k", 5, tuple("ABCDE"))
    assert plan_chain(ChainInfo("k", 5, tuple("ABCDEF")), "G") == "chain_depth"
    assert plan_chain(ChainInfo("k", 1, ("A", "B")), "C", max_depth=1) == "chain_depth"


def test_cycle_is_reported_before_depth() -> None:
    assert plan_chain(ChainInfo("k", 5, tuple("ABCDEF")), "A") == "cycle"


def test_target_execution_extends_the_received_path_and_keeps_its_depth() -> None:
    received = ChainInfo("k", 2, ("A", "B"))
    assert extend_chain(received, "C") == ChainInfo("k", 2, ("A", "B", "C"))
