"""The engine's actions run in a child process: the dataflow and the action threads share no GIL.

At 5,000 events/s the dataflow thread holds the GIL much of the time (routing, and Bytewax's own
Rust code, which never yields it mid-call). Action threads (webhooks, scripts, the execution log)
waited for it after every I/O call: an execution that takes 5 ms alone took 10-30 ms in the engine
(bench figure 5, issue 14). So the sink hands each batch to one child process, spawned with the
engine, that runs the ordinary `ActionPipeline` and answers when the batch is done.

The sink's contract does not change (`actions/sink.py`): batches of one sink partition still run
one after another (each partition's thread waits for its batch's answer), the snapshot is still
what has not been answered, and a failed batch still fails the epoch. A child that dies (a crash,
SIGKILL) fails every batch in flight and every one after it, and the engine ends itself
(`on_gone`): recovery replays the epoch, as when the engine process itself dies.

Each batch carries the change marker of the rules the engine routed it with; the child reloads
its own rules first when they are older, so an execution of a rule created a moment ago never
finds the rule unknown there.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, Protocol

from dataflow.types import Execution

log = logging.getLogger(__name__)


class ChildActions(Protocol):
    """What the child process builds (by a picklable factory, in the child)."""

    def run_batch(self, executions: list[Execution]) -> object: ...

    def catch_up(self, rules_marker: Any) -> None:
        """Reload the rules when `rules_marker` is not the marker of the rules held."""

    def close(self) -> None: ...


class ActionProcessGone(RuntimeError):
    """The child process exited: its batches were not (all) run, and none can be any more."""


class ActionProcess:
    """Parent side: `run_batch` sends a batch to the child and waits for its answer."""

    def __init__(self, build: Callable[[], ChildActions], rules_marker: Callable[[], Any],
                 on_gone: Callable[[str], None] | None = None, concurrency: int = 8) -> None:
        """`build` is called in the child (pickled by reference: a module-level function or a
        `functools.partial` of one); `concurrency` batches run there at once (one per sink partition).
        `on_gone(reason)` is called when the child exits unasked, batches under way or not (the
        engine ends itself there: a sink with nothing pending would never find out).
        """
        context = multiprocessing.get_context("spawn")  # never fork a process running Bytewax's threads
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=serve, args=(child_end, build, concurrency),
                                         name="cepflow-actions")
        self._process.start()
        child_end.close()
        self._rules_marker = rules_marker
        self._on_gone = on_gone
        self._ids = itertools.count()
        self._waiting: dict[int, Future[None]] = {}
        self._lock = threading.Lock()
        self._gone: str | None = None
        self._closing = False
        self._reader = threading.Thread(target=self._read, name="cepflow-actions-answers", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def run_batch(self, executions: list[Execution]) -> None:
        """Run `executions` in the child; raises what the batch raised there, or `ActionProcessGone`."""
        done: Future[None] = Future()
        marker = self._rules_marker()
        with self._lock:
            if self._gone is not None:
                raise ActionProcessGone(self._gone)
            request = next(self._ids)
            self._waiting[request] = done
            self._conn.send((request, executions, marker))
        done.result()

    def _read(self) -> None:
        while True:
            try:
                request, error = self._conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                done = self._waiting.pop(request)
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)
        self._process.join(5)
        reason = f"the action process exited (code {self._process.exitcode})"
        with self._lock:
            self._gone = reason
            waiting, self._waiting = self._waiting, {}
        for done in waiting.values():
            done.set_exception(ActionProcessGone(reason))
        if not self._closing:
            log.error("%s: the engine stops; the batches not done run again after its restart", reason)
            if self._on_gone is not None:
                self._on_gone(reason)

    def close(self, timeout_s: float = 30.0) -> None:
        """Let the child finish the batches it has, then stop it."""
        with self._lock:
            self._closing = True
            if self._gone is None:
                self._conn.send(None)
        self._process.join(timeout_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._reader.join(5)
        self._conn.close()


def serve(conn: Connection, build: Callable[[], ChildActions], concurrency: int) -> None:
    """The child: run each batch received on a thread of its own, answer `(request, error)`.

    Ends when the engine sends None or goes away (its end of the pipe closes), after the batches
    under way.
    """
    actions = build()
    answer = threading.Lock()

    def run(request: int, executions: list[Execution], marker: Any) -> None:
        error: BaseException | None = None
        try:
            if marker is not None:
                actions.catch_up(marker)
            actions.run_batch(executions)
        except BaseException as exc:  # every failure goes back, to fail the epoch
            error = _sendable(exc)
        with answer:
            conn.send((request, error))

    with ThreadPoolExecutor(concurrency, thread_name_prefix="cepflow-batch") as pool:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message is None:
                break
            pool.submit(run, *message)
    actions.close()


def _sendable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # any pickling failure: send the text instead
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
