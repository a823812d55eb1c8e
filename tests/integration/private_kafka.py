"""A Kafka broker of one test's own, on free loopback ports, that the test may stop and restart.

Outage tests must never stop the shared broker: this one is launched like `stack/kafka.sh` does
(same jars, from the classpath `stack/kafka.sh fetch` writes), with its data in the test's folder.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import uuid
from pathlib import Path

from confluent_kafka.admin import AdminClient

from tests.integration.harness import ROOT, free_port, wait_until

CLASSPATH = ROOT / ".stack" / "kafka" / "classpath.txt"


def _classpath() -> str:
    if not CLASSPATH.exists():
        subprocess.run([str(ROOT / "stack" / "kafka.sh"), "fetch"], check=True, cwd=ROOT)
    return CLASSPATH.read_text().strip()


class PrivateKafka:
    """A single-node KRaft broker: `start`, `stop` (SIGTERM, data kept), `start` again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port, self.controller = free_port(), free_port()
        self.brokers = f"127.0.0.1:{self.port}"
        self.props = folder / "server.properties"
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        self.props.write_text("\n".join([
            "process.roles=broker,controller", "node.id=1",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller}",
            f"log.dirs={folder / 'data'}", "num.partitions=4", "auto.create.topics.enable=true",
            "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1", "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1", "group.initial.rebalance.delay.ms=0", "",
        ]))
        self._java = ["java", "-Xms128m", "-Xmx384m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
                      f"-Dlog4j2.configurationFile={ROOT / 'stack' / 'kafka' / 'log4j2.xml'}", "-cp", _classpath()]
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        subprocess.run([*self._java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.props),
                        "--standalone"], check=True, capture_output=True)

    def start(self) -> PrivateKafka:
        log = (self.folder / "kafka.log").open("ab")
        self.proc = subprocess.Popen([*self._java, "kafka.Kafka", str(self.props)], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._answers, 90, f"the private broker on {self.brokers}", interval=0.5)
        return self

    def _answers(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, (self.folder / "kafka.log").read_text()[-3000:]
        try:
            AdminClient({"bootstrap.servers": self.brokers}).list_topics(timeout=2)
        except Exception:
            return False
        return True

    def stop(self) -> None:
        """SIGTERM to the broker this object started (only it), SIGKILL after 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
