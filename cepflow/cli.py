"""The `cepflow` command: engine, database, topics, events and the execution log.

Rule and script-API management live in `cepflow.cli_rules` and `cepflow.cli_apis`. Every user
error exits with status 2 and a message naming the file, line or field at fault.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import click
import orjson

from cepflow.cli_actions import actions
from cepflow.cli_apis import apis
from cepflow.cli_rules import rules
from cepflow.cli_tokens import tokens
from cepflow.settings import ConfigError, get_settings
from cepflow.userio import fail, open_sessions, parse_since, print_json


@click.group()
def main() -> None:
    """Cepflow — complex-event processing on Kafka: rules in, actions out."""
    try:
        get_settings()
    except ConfigError as exc:
        fail(str(exc))


main.add_command(rules)
main.add_command(apis)
main.add_command(actions)
main.add_command(tokens)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the Alembic migrations to CEPFLOW_DATABASE_URL."""
    from storage.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    click.echo(f"database at {revision}")


@main.group()
def topics() -> None:
    """Kafka topics."""


@topics.command("ensure")
def topics_ensure() -> None:
    """Create every topic cepflow reads or writes, if missing."""
    from dataflow.kafka_admin import ensure_topics

    settings = get_settings()
    created = ensure_topics(settings.brokers, settings.topic_plan())
    click.echo(f"topics created: {', '.join(created) or 'none (all exist)'}")


@main.command()
@click.option("--recovery-dir", type=click.Path(path_type=Path), default=Path(".state/recovery"),
              show_default=True, help="Bytewax recovery folder (state + Kafka offsets).")
@click.option("--snapshot-interval", "-s", type=click.IntRange(min=1), default=2, show_default=True,
              help="Seconds per epoch: snapshot period and replay window after a crash.")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--process-id", "-i", type=int, default=None, help="This process in a cluster.")
@click.option("--addresses", "-a", default=None, help='Cluster addresses "host:port;host:port".')
@click.option("--recovery-partitions", type=click.IntRange(min=1), default=4, show_default=True,
              help="Fixed at first start: the most processes x workers you will ever run.")
@click.option("--restart/--no-restart", default=True, show_default=True,
              help="Start the engine again (with backoff) when its process exits with an error.")
def run(recovery_dir: Path, snapshot_interval: int, workers: int, process_id: int | None,
        addresses: str | None, recovery_partitions: int, restart: bool) -> None:
    """Run the engine: python -m bytewax.run cepflow.flow:flow with recovery, restarted if it crashes."""
    from dataflow.kafka_admin import ensure_topics

    if (process_id is None) != (addresses is None):
        fail("--process-id and --addresses go together")
    settings = get_settings()
    try:
        settings.internal_key_bytes()  # the engine would refuse at import: say it before touching Kafka
    except ConfigError as exc:
        fail(str(exc))
    ensure_topics(settings.brokers, settings.topic_plan())
    from actions.script_runner import isolation_problem

    if (problem := isolation_problem()) is not None:  # say it now, not at the first api_script action
        click.echo(f"cepflow: {problem}; api_script actions will fail with this reason", err=True)
    if not any(recovery_dir.glob("part-*.sqlite3")):
        recovery_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery_dir),
                        str(recovery_partitions)], check=True)
    args = [sys.executable, "-m", "bytewax.run", "cepflow.flow:flow", "-w", str(workers),
            "-r", str(recovery_dir), "-s", str(snapshot_interval), "-b", str(snapshot_interval * 5)]
    if process_id is not None:
        args += ["-i", str(process_id), "-a", str(addresses)]
    if not restart:
        os.execv(sys.executable, args)
    from cepflow.supervisor import supervise

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.exit(supervise(args))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the HTTP API (OpenAPI at /docs); every endpoint but /health needs a token."""
    import uvicorn

    from cepflow.api import create_app
    from cepflow.console import console_app

    uvicorn.run(create_app(get_settings(), console=console_app()), host=host, port=port, log_level="info")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--topic", default=None, help="Default: the first events topic.")
@click.option("--key-field", default=None, help="Use this event field as the Kafka key.")
def produce(file: Path, topic: str | None, key_field: str | None) -> None:
    """Send each line of a JSON Lines file as one message (bad lines too: they dead-letter)."""
    from dataflow.kafka_out import OutMessage, ReliableProducer

    settings = get_settings()
    target = topic or settings.events_topics[0]
    producer = ReliableProducer(settings.brokers)
    count = 0
    for line in file.read_bytes().splitlines():
        if not line.strip():
            continue
        key = None
        if key_field:
            try:
                value = orjson.loads(line).get(key_field)
                key = str(value).encode() if value is not None else None
            except (orjson.JSONDecodeError, AttributeError):
                key = None
        producer.send(OutMessage(target, line, key=key))
        count += 1
    producer.flush()
    click.echo(f"produced {count} message(s) to {target}")


@main.command()
@click.option("--rule", default=None, help="Rule name or id.")
@click.option("--status", type=click.Choice(["success", "fail", "dry_run", "skipped"]), default=None)
@click.option("--chain", "chain_id", default=None, help="Follow one chain from first event to last action.")
@click.option("--since", default=None, help="ISO-8601 time, or a duration back from now (10m, 2h).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per row.")
def logs(rule: str | None, status: str | None, chain_id: str | None, since: str | None, limit: int,
         as_json: bool) -> None:
    """Show the execution log, newest first (oldest first with --chain)."""
    from storage.repositories.exec_logs import ExecLogRepository
    from storage.repositories.rules import RuleRepository

    with open_sessions()() as session:
        rule_id = None
        if rule is not None:
            found = RuleRepository(session).get(rule)
            if found is None:
                fail(f"--rule: no rule named or with id {rule!r}")
            rule_id = found.id
        rows = ExecLogRepository(session).query(rule_id=rule_id, status=status, chain_id=chain_id,
                                                since=parse_since(since) if since else None, limit=limit)
    if chain_id is not None:
        rows = sorted(rows, key=lambda r: (r.created_at, r.id))
    for row in rows:
        record = {
            "created_at": row.created_at.isoformat(),
            "rule": row.rule_name,
            "version": row.rule_version,
            "status": row.status,
            "reason": row.reason,
            "executed_by": row.executed_by,
            "duration_ms": row.duration_ms,
            "group": row.group_key,
            "chain_id": row.chain_id,
            "error": row.error_message,
        }
        if as_json:
            print_json({**record, "references": row.references, "idempotency_key": row.idempotency_key})
        else:
            click.echo(" ".join(f"{k}={v}" for k, v in record.items() if v not in (None, {}, "")))


@main.command()
@click.argument("rule")
@click.option("--payload", default="{}", help="The event, as a JSON object.")
@click.option("--dry-run", is_flag=True, help="Evaluate and log, run no action.")
@click.option("--by", "executed_by", default="cli", show_default=True, help="Recorded as executed_by.")
def trigger(rule: str, payload: str, dry_run: bool, executed_by: str) -> None:
    """Manually trigger RULE with PAYLOAD (RULES.md §8)."""
    from cepflow.triggers import manual_trigger
    from storage.errors import NotFound

    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        fail(f"--payload: invalid JSON: {exc}")
    if not isinstance(event, dict):
        fail("--payload: must be a JSON object")
    try:
        get_settings().internal_key_bytes()  # its actions may write chain events and dead letters
        print_json(manual_trigger(rule, event, executed_by=executed_by, dry_run=dry_run))
    except (NotFound, ConfigError) as exc:
        fail(str(exc))
