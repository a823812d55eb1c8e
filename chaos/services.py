"""Private Kafka and PostgreSQL instances that a scenario may stop: never the shared stack.

Both are started by the stack's own scripts (`stack/kafka.sh`, `stack/postgres.sh`) with other
ports and another state: a broker with its own data and log folder under the run's work folder,
and a PostgreSQL cluster named `cepflow_chaos` (Debian's postgresql-common, like the shared
`cepflow` cluster; it stays registered, stopped, between runs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.integration.harness import ROOT, free_port

STACK = ROOT / "stack"
PG_CLUSTER = "cepflow_chaos"


def _script(script: str, command: str, env: dict[str, str], log: Path) -> None:
    """Run a stack script; its output goes to `log`, and to the error when it fails."""
    with log.open("ab") as out:
        result = subprocess.run([str(STACK / script), command], env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT, timeout=300)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        message = f"stack/{script} {command} failed ({result.returncode}):\n{tail}"
        raise RuntimeError(message)


class PrivateKafka:
    """A single-node KRaft broker on free loopback ports, its state in `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.state = workdir / "stack"
        self.port, self.controller_port = free_port(), free_port()
        self.env = {"CEPFLOW_STACK_STATE": str(self.state), "CEPFLOW_STACK_KAFKA_PORT": str(self.port),
                    "CEPFLOW_STACK_KAFKA_CONTROLLER_PORT": str(self.controller_port),
                    "KAFKA_HEAP_OPTS": "-Xms128m -Xmx512m"}
        self.log = workdir / "private-kafka.log"

    @property
    def brokers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (format once); the shared broker's resolved classpath is reused when present."""
        shared = ROOT / ".stack" / "kafka" / "classpath.txt"
        mine = self.state / "kafka" / "classpath.txt"
        if shared.exists() and not mine.exists():
            mine.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shared, mine)
        _script("kafka.sh", "start", self.env, self.log)

    def stop(self) -> None:
        _script("kafka.sh", "stop", self.env, self.log)


class PrivatePostgres:
    """The `cepflow_chaos` cluster on a free loopback port, role and databases as the shared one."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.env = {"CEPFLOW_STACK_STATE": str(workdir / "stack"), "CEPFLOW_STACK_PG_PORT": str(self.port),
                    "CEPFLOW_STACK_PG_CLUSTER": PG_CLUSTER}
        self.log = workdir / "private-postgres.log"

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://cepflow:cepflow@127.0.0.1:{self.port}/cepflow"

    def start(self) -> None:
        _script("postgres.sh", "start", self.env, self.log)

    def stop(self) -> None:
        _script("postgres.sh", "stop", self.env, self.log)

