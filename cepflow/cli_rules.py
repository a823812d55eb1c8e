"""`cepflow rules ...`: apply, inspect, version and test rules."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from cepflow.userio import fail, open_sessions, print_json

FILES = click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
"""Rule files; a directory stands for its own .yaml/.yml/.json files (RULES_GUIDE.md section 1)."""


def _load(files: tuple[Path, ...]) -> list:
    from rules.loader import RuleFileError, load_rule_files

    try:
        return load_rule_files(list(files))
    except (RuleFileError, OSError) as exc:
        fail(str(exc))


def _who() -> str:
    return getpass.getuser()


def _summary(rule) -> dict:  # noqa: ANN001 - storage.models.Rule
    return {"id": str(rule.id), "name": rule.name, "version": rule.version, "active": rule.active,
            "owner": rule.owner, "updated_at": rule.updated_at.isoformat()}


@click.group()
def rules() -> None:
    """Rules: apply files, list, show, history, rollback, enable/disable/delete, test, check."""


@rules.command("apply")
@FILES
@click.option("--by", "changed_by", default=None, help="Recorded in the revision (default: user).")
def apply(files: tuple[Path, ...], changed_by: str | None) -> None:
    """Validate and store rule files (YAML or JSON); each change creates a new version."""
    from storage.errors import StorageError
    from storage.repositories.rules import RuleRepository
    from storage.uow import unit_of_work

    loaded = _load(files)
    who = changed_by or _who()
    results: list[str] = []
    try:
        with unit_of_work(open_sessions()) as session:
            repo = RuleRepository(session)
            for item in loaded:
                rule, changed = repo.apply(item.spec.to_document(), who)
                state = f"v{rule.version}" if changed else f"unchanged (v{rule.version})"
                results.append(f"{rule.name}: {state} id={rule.id}")
    except StorageError as exc:  # e.g. a name taken by another id: the whole apply is rolled back
        fail(f"{item.location}: {exc} (nothing was applied)")
    for line in results:  # only once committed
        click.echo(line)


@rules.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_rules(as_json: bool) -> None:
    """Every stored rule."""
    from storage.repositories.rules import RuleRepository

    with open_sessions()() as session:
        for rule in RuleRepository(session).list():
            if as_json:
                print_json(_summary(rule))
            else:
                state = "active" if rule.active else "inactive"
                click.echo(f"{rule.name}\tv{rule.version}\t{state}\t{rule.id}")


def _get(session, ref: str):  # noqa: ANN001, ANN202
    from storage.repositories.rules import RuleRepository

    rule = RuleRepository(session).get(ref)
    if rule is None:
        fail(f"no rule named or with id {ref!r}")
    return rule


@rules.command("show")
@click.argument("ref")
def show(ref: str) -> None:
    """One rule and its stored document."""
    with open_sessions()() as session:
        rule = _get(session, ref)
        print_json({**_summary(rule), "spec": rule.spec})


@rules.command("history")
@click.argument("ref")
def history(ref: str) -> None:
    """Every revision of a rule: who, when, what changed."""
    from storage.errors import NotFound
    from storage.repositories.rules import RuleRepository

    with open_sessions()() as session:
        try:
            revisions = RuleRepository(session).history(ref)
        except NotFound as exc:
            fail(str(exc))
        if not revisions:
            fail(f"no history for {ref!r}")
        for rev in revisions:
            print_json({"version": rev.version, "action": rev.action, "by": rev.changed_by,
                        "at": rev.created_at.isoformat(), "changes": rev.changes})


def _mutate(ref: str, verb: str, **kw) -> None:  # noqa: ANN003
    from storage.errors import NotFound
    from storage.repositories.rules import RuleRepository
    from storage.uow import unit_of_work

    try:
        with unit_of_work(open_sessions()) as session:
            repo = RuleRepository(session)
            if verb == "delete":
                repo.delete(ref, _who())
                click.echo(f"{ref}: deleted")
                return
            rule = repo.rollback(ref, kw["to"], _who()) if verb == "rollback" else repo.set_active(ref, verb == "enable", _who())
            click.echo(f"{rule.name}: v{rule.version} {'active' if rule.active else 'inactive'}")
    except NotFound as exc:
        fail(str(exc))


@rules.command("rollback")
@click.argument("ref")
@click.option("--to", "to", type=int, required=True, help="The version to restore (as a new version).")
def rollback(ref: str, to: int) -> None:
    """Restore an earlier version's document as a new version."""
    _mutate(ref, "rollback", to=to)


@rules.command("enable")
@click.argument("ref")
def enable(ref: str) -> None:
    """Make a rule active."""
    _mutate(ref, "enable")


@rules.command("disable")
@click.argument("ref")
def disable(ref: str) -> None:
    """Keep a rule stored but stop evaluating it."""
    _mutate(ref, "disable")


@rules.command("delete")
@click.argument("ref")
def delete(ref: str) -> None:
    """Remove a rule (its history is kept)."""
    _mutate(ref, "delete")


@rules.command("test")
@FILES
@click.option("--events", "events", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--explain", is_flag=True, help="Add every condition leaf's verdict and values.")
def test(files: tuple[Path, ...], events: Path, explain: bool) -> None:
    """Run rules over a JSON Lines file offline: no Kafka, no database, no side effects."""
    from dataflow.offline import run_files

    sys.exit(run_files(list(files), events, explain))


@rules.command("check")
@FILES
@click.option("--known", multiple=True, help="Name or id of a rule stored elsewhere (trigger targets).")
def check(files: tuple[Path, ...], known: tuple[str, ...]) -> None:
    """Static checks before deploy: errors exit 2, warnings exit 0."""
    from rules.check import check_rule_files
    from rules.loader import expand_paths

    findings = check_rule_files(files, known)
    for finding in findings:
        click.echo(str(finding), err=finding.level == "error")
    if any(f.level == "error" for f in findings):
        sys.exit(2)
    click.echo(f"{len(expand_paths(files))} file(s) checked: {sum(f.level == 'warning' for f in findings)} warning(s)")


@rules.command("schema")
def schema() -> None:
    """Print the JSON Schema of a rule document (for editors)."""
    from rules.schema import rule_json_schema

    print_json(rule_json_schema())
