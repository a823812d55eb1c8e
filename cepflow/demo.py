"""`make demo`: the whole engine on the local stack, end to end, in about a minute.

Migrates the database, applies `examples/demo/rules.yaml`, starts the engine as deployed
(`python -m bytewax.run cepflow.flow:flow` with recovery), produces `examples/demo/events.jsonl`
(bad lines included), shows the webhooks a local receiver got, the execution-log rows and the
dead letters, then stops the engine. Each run uses fresh topics so runs never see each other.
Last it starts the web console (`cepflow serve`) and prints its address and an admin token: in
a terminal it stays up until Ctrl-C; without one (CI) it is checked to answer, then stopped.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import orjson

from cepflow.receiver import Receiver

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo"
EXPECTED_WEBHOOKS = 4
CONSOLE_PORT = int(os.environ.get("CEPFLOW_DEMO_CONSOLE_PORT", "8080"))


def _env(run: str) -> dict[str, str]:
    return {
        **os.environ,
        "CEPFLOW_EVENTS_TOPICS": orjson.dumps([f"cepflow.demo.{run}.events"]).decode(),
        "CEPFLOW_CHAIN_TOPIC": f"cepflow.demo.{run}.chain",
        "CEPFLOW_DEAD_LETTER_TOPIC": f"cepflow.demo.{run}.deadletter",
        "CEPFLOW_LATE_TOPIC": f"cepflow.demo.{run}.late",
        "CEPFLOW_ACTION_DEAD_LETTER_TOPIC": f"cepflow.demo.{run}.actions.deadletter",
        "CEPFLOW_WEBHOOK_ALLOW_HOSTS": '["127.0.0.1"]',
        # The operator's key when set; else one for this run (its topics are this run's alone).
        "CEPFLOW_INTERNAL_KEY": os.environ.get("CEPFLOW_INTERNAL_KEY") or secrets.token_urlsafe(48),
    }


def _cepflow(env: dict[str, str], *args: str) -> str:
    print(f"$ cepflow {' '.join(args)}", flush=True)
    out = subprocess.run([sys.executable, "-m", "cepflow", *args], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    print(out.rstrip(), flush=True)
    return out


def _wait(receiver: Receiver, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(receiver.requests) < count and time.monotonic() < deadline:
        time.sleep(0.2)


def _show_dead_letters(env: dict[str, str]) -> None:
    from dataflow.kafka_admin import read_all

    topic = env["CEPFLOW_DEAD_LETTER_TOPIC"]
    print(f"\n== dead letters in {topic} ==")
    for value in read_all(env.get("CEPFLOW_KAFKA_BROKERS", "127.0.0.1:19092").split(","), topic):
        letter = orjson.loads(value)
        print(f"{letter['topic']}[{letter['partition']}]@{letter['offset']}: {letter['reason']}"
              f" — {letter['value'][:60]!r}")


def _console(env: dict[str, str], run: str) -> None:
    """`cepflow serve` with a fresh admin token; until Ctrl-C in a terminal, else just checked."""
    token = subprocess.run([sys.executable, "-m", "cepflow", "tokens", "create", f"demo-{run}", "--role", "admin"],
                           env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    server = subprocess.Popen([sys.executable, "-m", "cepflow", "serve", "--port", str(CONSOLE_PORT)], env=env,
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{CONSOLE_PORT}"
    try:
        deadline = time.monotonic() + 30
        while not _answers(f"{url}/health"):
            if server.poll() is not None or time.monotonic() > deadline:
                print(f"\nthe console did not start on {url} (port taken? set CEPFLOW_DEMO_CONSOLE_PORT)")
                return
            time.sleep(0.2)
        print(f"\n== web console ==\n{url}/ui/   sign in with the token:\n{token}\n(API docs: {url}/docs)")
        if sys.stdin.isatty():
            print("the console stays up until Ctrl-C", flush=True)
            try:
                server.wait()
            except KeyboardInterrupt:
                pass
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(15)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def main() -> int:
    """The demo: example rules, sample events, the engine, and what it fired."""
    started = time.time()
    run = time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:4]
    env = _env(run)
    workdir = Path(tempfile.mkdtemp(prefix="cepflow-demo-"))
    with Receiver() as receiver:
        rules = workdir / "rules.yaml"
        rules.write_text((DEMO / "rules.yaml").read_text().replace("${RECEIVER}", receiver.url("")))
        _cepflow(env, "db", "upgrade")
        _cepflow(env, "rules", "apply", str(rules))
        _cepflow(env, "topics", "ensure")
        print("$ cepflow run   (the engine, in the background)", flush=True)
        log = (workdir / "engine.log").open("wb")
        engine = subprocess.Popen([sys.executable, "-m", "cepflow", "run", "--recovery-dir",
                                   str(workdir / "recovery")], env=env, cwd=ROOT, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _cepflow(env, "produce", str(DEMO / "events.jsonl"))
            _wait(receiver, EXPECTED_WEBHOOKS, timeout=60)
            time.sleep(1.0)  # let the last rows commit
            print(f"\n== webhooks received by {receiver.url('')} ==")
            for request in receiver.requests:
                print(f"{request.method} {request.path} webhook-id={request.headers.get('webhook-id', '')[:16]}… "
                      f"{request.body.decode()}")
            print("\n== execution log ==", flush=True)
            _cepflow(env, "logs", "--since", f"{int(time.time() - started) + 5}s")
            _show_dead_letters(env)
        finally:
            os.killpg(engine.pid, signal.SIGINT)
            try:
                engine.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(engine.pid, signal.SIGKILL)
    got = len(receiver.requests)
    print(f"\n{got} webhook(s) received, {EXPECTED_WEBHOOKS} expected; engine log: {workdir / 'engine.log'}")
    if got != EXPECTED_WEBHOOKS:
        print((workdir / "engine.log").read_text(errors="replace")[-4000:], file=sys.stderr)
        return 1
    _console(env, run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
