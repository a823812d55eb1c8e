"""docker-compose.yml is valid and agrees with the scripted stack (stack/).

Validation, first that works: `docker compose config -q`, `docker-compose config -q` (Debian's
docker-compose package works offline), else the compose-spec JSON Schema vendored in
stack/compose-spec.json with the jsonschema package. Skipped only when none is available.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
POM = ROOT / "stack" / "kafka" / "pom.xml"
SCHEMA = ROOT / "stack" / "compose-spec.json"
MVN_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _pinned_kafka_version() -> str:
    props = ET.parse(POM).getroot().find("m:properties", MVN_NS)
    assert props is not None, "stack/kafka/pom.xml has no <properties>"
    version = props.findtext("m:kafka.version", namespaces=MVN_NS)
    assert version and re.fullmatch(r"\d+\.\d+\.\d+", version.strip()), version
    return version.strip()


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def _compose_cli() -> list[str] | None:
    """The compose command line that works here, or None."""
    if shutil.which("docker"):
        try:
            if _run(["docker", "compose", "version"]).returncode == 0:
                return ["docker", "compose"]
        except (OSError, subprocess.TimeoutExpired):
            pass
    if shutil.which("docker-compose"):
        try:
            if _run(["docker-compose", "version"]).returncode == 0:
                return ["docker-compose"]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


def _schema_errors(doc: dict) -> list[str]:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    # The vendored schema names draft 2019-09 in a form jsonschema does not look up; say it.
    validator = jsonschema.Draft201909Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def test_compose_file_is_valid():
    cli = _compose_cli()
    if cli is not None:
        res = _run([*cli, "-f", str(COMPOSE), "--project-directory", str(ROOT), "config", "-q"])
        assert res.returncode == 0, f"{' '.join(cli)} config -q failed:\n{res.stdout}\n{res.stderr}"
        return
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        pytest.skip("no compose validator: no `docker compose`, no `docker-compose`, no jsonschema")
    errors = _schema_errors(_compose())
    assert not errors, "docker-compose.yml does not match stack/compose-spec.json:\n" + "\n".join(errors)


def test_compose_file_matches_vendored_schema():
    # Always checked (also where a compose CLI exists) so the fallback stays meaningful.
    errors = _schema_errors(_compose())
    assert not errors, "\n".join(errors)


def test_vendored_schema_rejects_a_misspelt_key():
    doc = _compose()
    doc["services"]["kafka"]["healthchek"] = doc["services"]["kafka"].pop("healthcheck")
    assert any("healthchek" in e for e in _schema_errors(doc))


def test_kafka_image_version_equals_pom_pin():
    image = _compose()["services"]["kafka"]["image"]
    name, _, tag = image.partition(":")
    assert name == "apache/kafka", image
    assert tag == _pinned_kafka_version(), (
        f"docker-compose.yml runs {image} but stack/kafka/pom.xml pins {_pinned_kafka_version()}"
    )


ENGINES = ("engine-0", "engine-1")


def test_services_and_wiring():
    doc = _compose()
    services = doc["services"]
    assert {"kafka", "postgres", "migrate", "recovery-init", *ENGINES, "api"} <= set(services)

    for name in ("migrate", *ENGINES, "api"):
        env = services[name]["environment"]
        assert env["CEPFLOW_KAFKA_BROKERS"] == "kafka:9092"
        assert re.fullmatch(r"postgresql\+psycopg://cepflow:\$\{POSTGRES_PASSWORD:\?[^}]+\}@postgres:5432/cepflow",
                            env["CEPFLOW_DATABASE_URL"]), env["CEPFLOW_DATABASE_URL"]
    assert services["migrate"]["command"] == ["cepflow", "db", "upgrade"]

    for name in (*ENGINES, "api"):
        deps = services[name]["depends_on"]
        assert deps["kafka"]["condition"] == "service_healthy"
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in services["kafka"] and "healthcheck" in services["postgres"]

    pg_env = services["postgres"]["environment"]
    assert (pg_env["POSTGRES_USER"], pg_env["POSTGRES_DB"]) == ("cepflow", "cepflow")
    assert pg_env["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    # The same host ports as the scripted stack.
    assert "127.0.0.1:19092:29092" in services["kafka"]["ports"]
    assert "127.0.0.1:15432:5432" in services["postgres"]["ports"]
    assert services["api"]["command"][:2] == ["cepflow", "serve"] and "127.0.0.1:8080:8080" in services["api"]["ports"]


def test_the_engine_is_a_two_process_cluster_on_one_recovery_volume():
    """As the README's "Scale out" asks: every process gets its own -i and the same -a list, all
    share one recovery folder, created once (by `recovery-init`) before they start together."""
    services = _compose()["services"]
    addresses = set()
    for index, name in enumerate(ENGINES):
        command = services[name]["command"]
        assert command[0] == "cepflow-engine"
        assert command[command.index("-i") + 1] == str(index)
        addresses.add(command[command.index("-a") + 1])
        assert services[name]["hostname"] == name
        assert services[name]["volumes"] == ["engine-state:/state"]
        assert services[name]["depends_on"]["recovery-init"]["condition"] == "service_completed_successfully"
        assert services[name]["environment"]["BYTEWAX_DATAFLOW_API_ENABLED"] == "true"
        assert f"127.0.0.1:{3030 + index}:3030" in services[name]["ports"]  # each its metrics port
    assert addresses == {"engine-0:2101;engine-1:2101"}
    init = services["recovery-init"]
    assert init["command"] == ["cepflow-engine", "--init-only"] and init["volumes"] == ["engine-state:/state"]
    assert int(init["environment"]["CEPFLOW_RECOVERY_PARTITIONS"]) >= len(ENGINES)


def test_the_image_holds_every_package_of_the_floors():
    """A package left out of the image fails only when the container imports it: check the copies."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for package in ("rules", "storage", "dataflow", "actions", "cepflow"):
        assert re.search(rf"^COPY {package} \./{package}$", dockerfile, re.MULTILINE), package
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"console/static/*"' in pyproject  # the console's files are package data


def test_engine_entrypoint_runs_the_dataflow_with_recovery():
    text = (ROOT / "stack" / "docker" / "engine-entrypoint.sh").read_text(encoding="utf-8")
    assert "python -m bytewax.recovery" in text
    assert "python -m bytewax.run cepflow.flow:flow -r \"$RECOVERY_DIR\" -s 5 -b 30" in text
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "pip install ." in dockerfile


@pytest.mark.parametrize(
    "script", ["up", "down", "with-stack", "kafka.sh", "postgres.sh", "lib.sh", "docker/engine-entrypoint.sh"]
)
def test_stack_scripts_parse(script):
    path = ROOT / "stack" / script
    shell = "sh" if script.endswith("entrypoint.sh") else "bash"
    res = _run([shell, "-n", str(path)])
    assert res.returncode == 0, res.stderr
    if script != "lib.sh":
        assert path.stat().st_mode & 0o111, f"stack/{script} is not executable"


INTERPOLATION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):\?[^}]+\}")


def _secret_values(node: object, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, value) of every setting whose name says it holds a secret, and of every URL."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _secret_values(value, f"{path}/{key}")
            if isinstance(value, str) and (re.search(r"PASSWORD|SECRET|TOKEN|_URL$", str(key)) or "://" in value):
                yield f"{path}/{key}", value
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _secret_values(value, f"{path}/{i}")


def test_no_password_or_secret_is_written_in_the_compose_file():
    """Issue 11: secrets come from `.env` (created from .env.example, never committed), and a
    missing one stops compose (`${VAR:?why}`) instead of falling back to a default."""
    found = dict(_secret_values(_compose()))
    assert {"/x-cepflow-env/CEPFLOW_DATABASE_URL", "/x-cepflow-env/CEPFLOW_WEBHOOK_SIGNING_SECRET",
            "/services/postgres/environment/POSTGRES_PASSWORD"} <= set(found)
    for path, value in found.items():
        if "://" in value:  # a URL: its password, if it has one
            credentials = re.search(r"://[^:/@]+:(.*)@", value)
            if credentials is None:
                continue
            value = credentials.group(1)
        assert INTERPOLATION.fullmatch(value), f"{path} holds a literal secret: {value!r}"
    names = set(INTERPOLATION.findall(COMPOSE.read_text(encoding="utf-8")))
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert names == set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.MULTILINE))
    assert ".env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_the_engine_container_can_isolate_scripts_and_keeps_no_privilege():
    """Scripts need unprivileged user namespaces (docs/SECURITY.md), which Docker's
    default seccomp and AppArmor profiles forbid; the engine itself keeps no capability."""
    for name in ENGINES:
        engine = _compose()["services"][name]
        assert engine["cap_drop"] == ["ALL"]
        assert {"no-new-privileges:true", "seccomp=unconfined", "apparmor=unconfined"} <= set(engine["security_opt"])
        assert "privileged" not in engine and "cap_add" not in engine
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^USER cepflow$", dockerfile, re.MULTILINE)  # the non-root engine of the tests
