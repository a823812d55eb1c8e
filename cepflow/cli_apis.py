"""`cepflow apis ...`: the API manager — stored script APIs."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import click
import orjson

from cepflow.userio import fail, open_sessions, print_json


@click.group()
def apis() -> None:
    """Script APIs: apply files, list, show, run, delete."""


@apis.command("apply")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def apply(files: tuple[Path, ...]) -> None:
    """Validate and store script API files; each change creates a new version."""
    from rules.loader import RuleFileError, load_script_api_files
    from storage.repositories.script_apis import ScriptApiRepository
    from storage.uow import unit_of_work

    try:
        loaded = load_script_api_files(list(files))
    except (RuleFileError, OSError) as exc:
        fail(str(exc))
    with unit_of_work(open_sessions()) as session:
        repo = ScriptApiRepository(session)
        for item in loaded:
            api, changed = repo.apply(item.spec.model_dump(mode="json"), getpass.getuser())
            click.echo(f"{api.name}: {'v' if changed else 'unchanged v'}{api.version} id={api.id}")


@apis.command("delete")
@click.argument("ref")
def delete(ref: str) -> None:
    """Remove a script API (its history is kept); rules still naming it fail with 404."""
    from storage.errors import NotFound
    from storage.repositories.script_apis import ScriptApiRepository
    from storage.uow import unit_of_work

    try:
        with unit_of_work(open_sessions()) as session:
            ScriptApiRepository(session).delete(ref, getpass.getuser())
    except NotFound:
        fail("API definition not found")
    click.echo(f"{ref}: deleted")


@apis.command("list")
def list_apis() -> None:
    """Every stored script API."""
    from storage.repositories.script_apis import ScriptApiRepository

    with open_sessions()() as session:
        for api in ScriptApiRepository(session).list():
            click.echo(f"{api.name}\tv{api.version}\t{api.type}\t{api.id}")


@apis.command("show")
@click.argument("ref")
def show(ref: str) -> None:
    """One script API with its source."""
    from storage.repositories.script_apis import ScriptApiRepository

    with open_sessions()() as session:
        api = ScriptApiRepository(session).get(ref)
        if api is None:
            fail("API definition not found")
        print_json({"id": str(api.id), "name": api.name, "type": api.type, "version": api.version,
                    "timeout_ms": api.timeout_ms, "memory_mb": api.memory_mb, "source": api.source})


def _json_option(value: str, name: str) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        fail(f"{name}: invalid JSON: {exc}")


@apis.command("run")
@click.argument("ref")
@click.option("--params", default="{}", help="JSON object passed as `params`.")
@click.option("--input", "input_", default="{}", help="JSON value passed as `input`.")
def run(ref: str, params: str, input_: str) -> None:
    """Run a script API once, outside the engine, and print {output, logs, references}."""
    from actions.api_script import run_once
    from storage.repositories.script_apis import ScriptApiRepository

    with open_sessions()() as session:
        api = ScriptApiRepository(session).get(ref)
        if api is None:
            fail("API definition not found")
        if api.type != "script":
            fail("API is not a script type")
    print_json(run_once(api, _json_option(params, "--params"), _json_option(input_, "--input"), "cli"))
