"""`cepflow actions ...`: the action dead-letter topic."""

from __future__ import annotations

import time

import click

from cepflow.userio import fail, parse_since, print_json


@click.group()
def actions() -> None:
    """Actions that failed after their last retry."""


@actions.command("redrive")
@click.option("--rule", default=None, help="Only this rule's dead letters (name or id).")
@click.option("--since", default=None, help="Only dead letters since: ISO-8601 time or a duration (1h).")
def redrive(rule: str | None, since: str | None) -> None:
    """Re-send dead-lettered actions with their original webhook-id; each attempt is logged.

    What is sent comes from the stored rule revision; entries not sealed by this deployment
    (CEPFLOW_INTERNAL_KEY) are refused and reported, never sent.
    """
    from cepflow.resources import get_resources
    from cepflow.settings import ConfigError

    since_ms = int(parse_since(since).timestamp() * 1000) if since else None
    started = time.monotonic()
    resources = get_resources()
    try:
        redriver = resources.redriver
    except ConfigError as exc:
        fail(str(exc))
    summaries = redriver.redrive(resources.dead_letters(), rule, since_ms)
    for summary in summaries:
        print_json(summary)
    refused = sum(summary["status"] == "refused" for summary in summaries)
    click.echo(f"{len(summaries)} dead letter(s) considered in {time.monotonic() - started:.1f}s"
               + (f", {refused} refused (not sealed by this deployment or malformed)" if refused else ""), err=True)
