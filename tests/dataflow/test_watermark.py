from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dataflow.watermark import MIN_WATERMARK, WatermarkClock


class FakeTime:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_before_any_event_nothing_is_late_and_nothing_due() -> None:
    clock = WatermarkClock(now=None)
    assert clock.max_ts_ms is None
    assert clock.watermark(5000) == MIN_WATERMARK


def test_offline_is_max_event_time_minus_lateness_and_never_goes_back() -> None:
    clock = WatermarkClock(now=None)
    clock.observe(10_000)
    assert clock.watermark(5000) == 5000
    assert clock.watermark(0) == 10_000
    clock.observe(7000)  # older: no effect
    assert clock.max_ts_ms == 10_000
    assert clock.watermark(5000) == 5000
    clock.observe(12_000)
    assert clock.watermark(5000) == 7000
    assert not clock.live


def test_offline_does_not_advance_with_time() -> None:
    clock = WatermarkClock(now=None)
    clock.observe(1000)
    assert clock.watermark(0) == 1000
    assert clock.watermark(0) == 1000


def test_live_advances_with_wall_clock_on_idle_input() -> None:
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.observe(100_000)
    assert clock.watermark(5000) == 95_000
    now.t = 2.5
    assert clock.watermark(5000) == 97_500
    now.t = 60
    assert clock.watermark(5000) == 155_000
    assert clock.live


def test_live_never_goes_backwards_when_a_new_max_is_behind_the_advanced_time() -> None:
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.observe(100_000)
    now.t = 10  # progress 110_000
    clock.observe(105_000)  # a new max, but behind the progress
    assert clock.max_ts_ms == 105_000
    assert clock.watermark(0) == 110_000
    now.t = 11
    assert clock.watermark(0) == 111_000
    clock.observe(200_000)  # ahead: re-anchors
    assert clock.watermark(0) == 200_000
    now.t = 12
    assert clock.watermark(0) == 201_000


def test_a_busy_worker_is_not_idle_input() -> None:
    """A webhook answering after 7 s: the events that waited in Kafka meanwhile are not late."""
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.observe(100_000)
    now.t = 1
    with clock.busy():
        now.t = 8
        assert clock.watermark(0) == 101_000  # frozen while busy
    assert clock.watermark(0) == 101_000
    now.t = 9
    assert clock.watermark(0) == 102_000  # idle again: advances
    clock.observe(102_500)  # read after the stall, 1.5 s after the last one: on time, and a new anchor
    assert clock.watermark(0) == 102_500


def test_busy_spans_of_two_workers_count_once_and_survive_a_new_anchor() -> None:
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.observe(100_000)
    first, second = clock.busy(), clock.busy()
    first.__enter__()
    now.t = 2
    second.__enter__()
    clock.observe(200_000)  # a new anchor while busy: busy time counts from here
    now.t = 4
    first.__exit__(None, None, None)
    now.t = 5
    second.__exit__(None, None, None)
    assert clock.watermark(0) == 200_000
    now.t = 6
    assert clock.watermark(0) == 201_000


def test_offline_busy_changes_nothing() -> None:
    clock = WatermarkClock(now=None)
    clock.observe(1000)
    with clock.busy():
        clock.observe(2000)
    assert clock.watermark(0) == 2000


@given(st.lists(st.tuples(st.integers(0, 10**9), st.floats(0, 100), st.sampled_from(["enter", "exit", "none"])),
                max_size=40), st.integers(0, 10**6))
def test_watermark_is_monotonic(steps: list[tuple[int, float, str]], lateness: int) -> None:
    now = FakeTime()
    clock = WatermarkClock(now=now)
    last = MIN_WATERMARK
    open_spans = []
    for ts, dt, busy in steps:
        now.t += dt
        if busy == "enter":
            open_spans.append(clock.busy())
            open_spans[-1].__enter__()
        elif busy == "exit" and open_spans:
            open_spans.pop().__exit__(None, None, None)
        clock.observe(ts)
        wm = clock.watermark(lateness)
        assert wm >= last
        assert wm >= (clock.max_ts_ms or 0) - lateness
        last = wm


def test_following_another_process_moves_timers_but_never_lateness() -> None:
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.follow(500_000)  # a peer that read its partitions of a backlog faster
    assert clock.watermark(5000) == 495_000  # its timers may fire
    assert clock.progress_ms() == MIN_WATERMARK  # but nothing this process reads is late for it
    clock.observe(100_000)
    assert clock.progress_ms() == 100_000 and clock.max_ts_ms == 500_000
    assert clock.watermark(5000) == 495_000
    clock.follow(400_000)  # older news changes nothing
    clock.observe(600_000)
    assert clock.watermark(0) == 600_000 and clock.max_ts_ms == 600_000
