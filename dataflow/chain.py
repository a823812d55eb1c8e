"""Chain planning: may a firing hand an event to another rule, and with what lineage (RULES.md §5).

Lineage convention (shared by the engine, the `trigger_rule` action and the offline runner):

- an `Execution.chain` holds the rules fired so far *including* the executing rule as the last
  element of `path`, and the execution's depth (0 for a fire caused by an ordinary event);
- a chain event carries the `ChainInfo` returned by `plan_chain`: the same chain id, depth + 1,
  and the path of the rules already fired (the target is *not* on it yet);
- the target's execution extends that path with itself and keeps the depth it received.
"""

from __future__ import annotations

from dataflow.types import ChainInfo, SkipReason

DEFAULT_MAX_CHAIN_DEPTH = 5


def plan_chain(
    parent: ChainInfo, target_rule_id: str, max_depth: int = DEFAULT_MAX_CHAIN_DEPTH
) -> ChainInfo | SkipReason:
    """The lineage of a chain event from the execution `parent` to `target_rule_id`, or why not.

    A target already on the path is a `cycle` (checked first: a cycle is the more useful reason);
    a hop whose depth would exceed `max_depth` is `chain_depth`.
    """
    if target_rule_id in parent.path:
        return SkipReason.CYCLE
    depth = parent.depth + 1
    if depth > max_depth:
        return SkipReason.CHAIN_DEPTH
    return ChainInfo(id=parent.id, depth=depth, path=parent.path)


def extend_chain(received: ChainInfo, rule_id: str) -> ChainInfo:
    """The lineage of the execution of `rule_id` caused by a chain event carrying `received`."""
    return ChainInfo(id=received.id, depth=received.depth, path=(*received.path, rule_id))
