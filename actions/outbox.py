"""Durable side effects: Kafka messages are committed with the row that caused them, then relayed.

The stream, manual-trigger and redrive paths write an execution's chain events and dead letters
to the `outbox` table in the transaction of its `exec_logs` row (`record`), and `relay` sends
unsent rows to Kafka and marks them sent. A crash anywhere leaves either nothing (the execution
is replayed) or a committed row with its unsent messages (the next relay sends them); a crash
between "Kafka acknowledged" and "marked sent" sends a message twice, which consumers dedupe:
a chain event's id is its action id, so the target execution has one idempotency key, and a dead
letter's redrive is keyed by its action id. The numbered steps: docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session, sessionmaker

from actions.faults import fault_point
from dataflow.kafka_out import OutMessage, ReliableProducer
from dataflow.outage import watch
from storage.errors import is_outage
from storage.records import ExecLogRecord
from storage.repositories.exec_logs import ExecLogRepository
from storage.repositories.outbox import OutboxRepository
from storage.uow import unit_of_work

log = logging.getLogger(__name__)

BATCH = 500
KEEP_SENT_S = 3600.0
"""Sent rows are deleted after an hour: long enough to look at, short enough to keep the table small."""


def record(session: Session, rows: Iterable[ExecLogRecord], messages: Iterable[OutMessage]) -> None:
    """Step 3: the log rows and their Kafka messages, in the caller's one transaction."""
    ExecLogRepository(session).insert(rows)
    OutboxRepository(session).add((m.topic, m.key, m.value, m.headers) for m in messages)


def relay(sessions: sessionmaker[Session], producer: ReliableProducer, wait: Callable[[str], None]) -> int:
    """Steps 4-6: send every unsent outbox message to Kafka, mark it sent; returns how many.

    Rows are taken `FOR UPDATE SKIP LOCKED` (concurrent relays share the work, never one row), and
    marked in the transaction that locked them, after Kafka acknowledged all of them. `wait` is
    called while Kafka does not acknowledge (it backs off; raising gives up, rows stay unsent).
    """
    total = 0
    while True:
        with unit_of_work(sessions) as session:
            outbox = OutboxRepository(session)
            pending = outbox.take_unsent(BATCH)
            if not pending:
                return total
            fault_point("relay-taken")
            producer.deliver([OutMessage(p.topic, p.value, p.key, p.headers) for p in pending], wait)
            fault_point("relay-sent")
            outbox.mark_sent([p.id for p in pending])
        fault_point("relay-marked")
        total += len(pending)


def give_up_after(seconds: float, sleep: Callable[[float], None] = time.sleep) -> Callable[[str], None]:
    """A `wait` for one-off callers (CLI): back off briefly, then raise — the engine's relay will
    send what is left.
    """
    deadline = time.monotonic() + seconds

    def wait(reason: str) -> None:
        if time.monotonic() > deadline:
            msg = (
                f"Kafka did not acknowledge within {seconds}s ({reason}); "
                               "the messages stay in the outbox for the engine's relay"
            )
            raise TimeoutError(msg)
        sleep(0.5)

    return wait


def relay_now(sessions: sessionmaker[Session], producer: ReliableProducer, seconds: float = 10.0) -> None:
    """Relay from a one-off command (manual trigger, redrive): a failure is logged, not raised —
    the rows are committed and the engine's relay will send them.
    """
    try:
        relay(sessions, producer, give_up_after(seconds))
    except Exception as exc:
        log.warning("outbox relay deferred to the engine: %s", exc)


class OutboxRelay:
    """The engine's relay: a daemon thread that relays when woken (after each action batch) and
    every `period_s` (what a crash or an outage left behind). Outages are waited out.
    """

    def __init__(self, sessions: sessionmaker[Session], producer: Callable[[], ReliableProducer],
                 period_s: float = 1.0) -> None:
        self._sessions = sessions
        self._producer = producer
        self._period_s = period_s
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._started = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="cepflow-outbox-relay", daemon=True)

    def start(self) -> OutboxRelay:
        """Start the thread (once; later calls do nothing)."""
        if self._started.acquire(blocking=False):
            self.thread.start()
        return self

    def wake(self) -> None:
        """New rows were committed: relay them now rather than at the next period."""
        self._wake.set()

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop relaying (after the batch in flight): an API server or a test that is done must not
        go on taking rows that another process's relay is responsible for.
        """
        self._closed.set()
        self._wake.set()
        if self.thread.is_alive():
            self.thread.join(timeout_s)

    def _run(self) -> None:
        database, kafka = watch("postgresql"), watch("kafka")
        purged = 0.0
        while not self._closed.is_set():
            self._wake.clear()
            try:
                database.call(lambda: relay(self._sessions, self._producer(), kafka.failed), is_outage)
                kafka.ok()
                if time.monotonic() - purged > 60:
                    with unit_of_work(self._sessions) as session:
                        OutboxRepository(session).purge_sent(KEEP_SENT_S)
                    purged = time.monotonic()
            except Exception:
                log.exception("outbox relay failed; trying again")
            self._wake.wait(self._period_s)

