"""The bench's webhook target in a process of its own: every request comes back whole, stamped
where it was received."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.stack import ReceiverProcess


def test_concurrent_requests_come_back_whole_and_stamped_by_the_receiver() -> None:
    """Requests arrive on several threads of the receiver; each must print as one whole line."""
    bodies = [{"n": n, "pad": "x" * 20_000} for n in range(40)]
    with ReceiverProcess() as receiver:
        sent = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda body: requests.post(receiver.url("/hook"), json=body, timeout=10).status_code,
                                  bodies))
        deadline = time.monotonic() + 10
        while len(receiver.requests) < len(bodies) and time.monotonic() < deadline:
            time.sleep(0.05)
        got = list(receiver.requests)
    assert codes == [200] * len(bodies)
    assert sorted(r.json["n"] for r in got) == list(range(len(bodies)))
    assert all(r.path == "/hook" and r.json["pad"] == "x" * 20_000 for r in got)
    assert all(sent <= r.received_at <= time.monotonic() for r in got)
