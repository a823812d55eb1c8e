"""`cepflow actions ...`: the action dead-letter topic."""

from __future__ import annotations

import time

import click

from cepflow.userio import parse_since, print_json


@click.group()
def actions() -> None:
    """Actions that failed after their last retry."""


@actions.command("redrive")
@click.option("--rule", default=None, help="Only this rule's dead letters (name or id).")
@click.option("--since", default=None, help="Only dead letters since: ISO-8601 time or a duration (1h).")
def redrive(rule: str | None, since: str | None) -> None:
    """Re-send dead-lettered actions with their original webhook-id; each attempt is logged."""
    from actions.redrive import redrive as run_redrive
    from cepflow.resources import get_resources

    since_ms = int(parse_since(since).timestamp() * 1000) if since else None
    started = time.monotonic()
    summaries = run_redrive(get_resources(), rule, since_ms)
    for summary in summaries:
        print_json(summary)
    click.echo(f"{len(summaries)} dead letter(s) considered in {time.monotonic() - started:.1f}s", err=True)
