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


def test_live_advances_with_wall_clock_only_once_the_input_is_idle() -> None:
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.observe(100_000)  # a partition no source reports on: caught up
    assert clock.watermark(5000) == 95_000
    now.t = 4.9
    assert clock.watermark(5000) == 95_000  # quiet for less than idle_after: event time only
    now.t = 6
    assert clock.watermark(5000) == 101_000  # idle: wall time since the last read counts
    now.t = 60
    assert clock.watermark(5000) == 155_000
    assert clock.watermark(5000, idle_after_ms=120_000) == 155_000  # never back, whatever the rule asks
    assert clock.live


def test_live_never_goes_backwards_when_a_new_max_is_behind_the_advanced_time() -> None:
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.observe(100_000)
    now.t = 10  # idle: progress 110_000
    assert clock.watermark(0) == 110_000
    clock.observe(105_000)  # the partition speaks again, behind the progress
    assert clock.max_ts_ms == 105_000
    assert clock.watermark(0) == 110_000
    now.t = 11
    assert clock.watermark(0) == 110_000  # not idle: event time holds it, the floor keeps it
    clock.observe(200_000)
    assert clock.watermark(0) == 200_000
    now.t = 17
    assert clock.watermark(0) == 206_000


def test_a_busy_worker_is_not_idle_input() -> None:
    """A webhook answering after 7 s: the events that waited in Kafka meanwhile are not late."""
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.observe(100_000)
    now.t = 6
    assert clock.watermark(0) == 106_000
    with clock.busy():
        now.t = 13
        assert clock.watermark(0) == 106_000  # frozen while busy
    assert clock.watermark(0) == 106_000  # busy time is not quiet time
    now.t = 14
    assert clock.watermark(0) == 107_000  # idle again: advances
    clock.observe(106_500)  # read after the stall: not late for a rule with lateness 1 s
    assert clock.progress_ms() - 1000 <= 106_500


def test_busy_spans_of_two_workers_count_once() -> None:
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.observe(100_000)
    first, second = clock.busy(), clock.busy()
    first.__enter__()
    now.t = 2
    second.__enter__()
    clock.observe(200_000)  # read while busy: quiet counts from here, less busy time
    now.t = 4
    first.__exit__(None, None, None)
    now.t = 5
    second.__exit__(None, None, None)
    now.t = 9.9
    assert clock.watermark(0) == 200_000  # 7.9 s since the read, 3 of them busy: not yet idle
    now.t = 12
    assert clock.watermark(0) == 207_000


def test_the_slowest_partition_holds_the_watermark_until_it_is_idle() -> None:
    """A backlog replayed at uneven speeds: the partition behind decides what is late."""
    now = FakeTime()
    clock = WatermarkClock(now=now)
    fast, slow = clock.reading("events", 0), clock.reading("events", 1)
    fast.observe(500_000)
    slow.observe(100_000)
    assert clock.progress_ms() == 100_000 and clock.watermark(0) == 100_000
    assert fast.progress_ms() == 100_000  # the fast partition's events are judged by the slow one
    now.t = 3
    clock.reading("events", 1).observe(103_000)  # in order on its partition: not late
    assert clock.progress_ms() == 103_000
    now.t = 6
    clock.reading("events", 0).observe(500_001)
    assert clock.progress_ms() == 103_000  # slow read 3 s ago: still in
    now.t = 8.5
    clock.reading("events", 0).observe(500_002)
    assert clock.progress_ms() == 500_002  # slow quiet for 5.5 s and caught up: it drops out
    assert clock.progress_ms(idle_after_ms=10_000) == 500_002  # the floor: never back


def test_a_partition_not_confirmed_caught_up_stops_the_wall_clock() -> None:
    """Broker unreachable or messages unread: quiet input is not idle input."""
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.track("events", 1)  # a source reads it; no word from it yet
    clock.observe(100_000, "events", 0)
    now.t = 60
    assert clock.watermark(0) == MIN_WATERMARK  # events/1 may hold unread messages, of any time
    clock.confirm("events", 1, True)  # read to its end (empty), broker reachable
    assert clock.watermark(0) == 100_000
    now.t = 64
    assert clock.watermark(0) == 100_000  # quiet counts from the confirmation
    now.t = 66
    assert clock.watermark(0) == 106_000
    clock.confirm("events", 1, False)  # the broker went away
    now.t = 90
    assert clock.watermark(0) == 106_000  # frozen: buffered events will not be late
    clock.confirm("events", 1, True)  # back
    now.t = 94
    assert clock.watermark(0) == 106_000
    now.t = 96
    assert clock.watermark(0) == 106_000  # quiet since 90: 106_000 already covers it
    now.t = 97
    assert clock.watermark(0) == 107_000


def test_an_outage_does_not_make_buffered_events_late() -> None:
    """Issue 13: broker stopped 15 s during a paced stream; producers' buffered events arrive after."""
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.track("events", 0)
    clock.confirm("events", 0, True)
    for i in range(20):  # 20 events/s, read as they come
        now.t = i / 20
        clock.observe(1_000_000 + i * 50, "events", 0)
    clock.confirm("events", 0, False)  # broker down at t=1 for 15 s
    now.t = 16
    assert clock.progress_ms() == 1_000_950
    clock.confirm("events", 0, True)  # broker back: the buffered events come now
    now.t = 16.5
    clock.observe(1_001_000, "events", 0)  # produced at t=1: within 5 s of lateness
    assert clock.progress_ms() - 5000 < 1_001_000


def test_offline_busy_changes_nothing() -> None:
    clock = WatermarkClock(now=None)
    clock.observe(1000)
    with clock.busy():
        clock.observe(2000)
    assert clock.watermark(0) == 2000


@given(st.lists(st.tuples(st.integers(0, 10**9), st.floats(0, 100),
                          st.sampled_from(["enter", "exit", "read0", "read1", "up1", "down1", "peer"])),
                max_size=40), st.integers(0, 10**6))
def test_progress_is_monotonic(steps: list[tuple[int, float, str]], lateness: int) -> None:
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.track("e", 1)
    last = MIN_WATERMARK
    open_spans = []
    for ts, dt, op in steps:
        now.t += dt
        if op == "enter":
            open_spans.append(clock.busy())
            open_spans[-1].__enter__()
        elif op == "exit":
            if open_spans:
                open_spans.pop().__exit__(None, None, None)
        elif op in ("up1", "down1"):
            clock.confirm("e", 1, op == "up1")
        elif op == "peer":
            clock.follow("peer", ts)
        else:
            clock.observe(ts, "e", int(op[-1]))
        progress = clock.progress_ms()
        assert progress >= last
        if progress != MIN_WATERMARK:
            assert clock.watermark(lateness) <= progress - lateness  # peers only ever hold timers back
        last = progress


def test_timers_wait_for_a_slower_process_but_lateness_never_does() -> None:
    """A cluster replaying a backlog: a group's timer fires on the slowest router's time."""
    now = FakeTime()
    clock = WatermarkClock(now=now, process_id="me")
    clock.observe(500_000)  # this process read its partitions fast
    clock.follow("peer", 100_000)  # the process that routes the group's events is behind
    assert clock.watermark(5000) == 95_000  # no absence fires before the peer's events are read
    assert clock.progress_ms() == 500_000  # lateness is judged by this process's own partitions
    clock.follow("me", 1)  # its own items change nothing
    assert clock.watermark(0) == 100_000
    clock.follow("peer", 400_000)
    assert clock.watermark(0) == 400_000
    now.t = 4
    clock.observe(500_001)
    assert clock.watermark(0) == 400_000
    now.t = 5.5
    assert clock.watermark(0) == 500_001  # the peer routed nothing here for idle_after: it drops out


def test_a_process_reading_no_partition_times_by_its_peers() -> None:
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.follow("peer", 300_000)
    assert clock.progress_ms() == MIN_WATERMARK  # nothing is late for it
    assert clock.watermark(1000) == 299_000


def test_a_restored_clock_counts_the_downtime_once_the_input_is_idle() -> None:
    """Timers after a restart: due while the engine was down, they fire at restart."""
    now, wall = FakeTime(), FakeTime()
    wall.t = 1_000.0 + 30  # restarted 30 s after the snapshot
    clock = WatermarkClock(now=now, wall=wall)
    clock.restore(900_000, wall_ms=1_000_000)
    clock.restore(850_000, wall_ms=1_000_000)  # an older key's snapshot: the latest wins
    assert clock.max_ts_ms == 930_000
    assert clock.watermark(0) == MIN_WATERMARK  # no partition known yet: nothing is due
    clock.track("events", 0)
    now.t = 10
    assert clock.watermark(0) == MIN_WATERMARK  # not read to its end yet: a backlog may be there
    clock.confirm("events", 0, True)
    now.t = 15
    assert clock.watermark(0) == 935_000  # caught up and quiet: snapshot + downtime + quiet time


def test_a_restored_clock_leaves_the_backlog_on_time() -> None:
    now, wall = FakeTime(), FakeTime()
    wall.t = 1_000.0 + 30
    clock = WatermarkClock(now=now, wall=wall)
    clock.restore(900_000, wall_ms=1_000_000)
    clock.track("events", 0)
    clock.observe(905_000, "events", 0)  # produced while the engine was down
    assert clock.progress_ms() == 905_000  # not 930_000: it is not late


def test_a_partition_not_read_yet_holds_the_others_back() -> None:
    """A cluster starting on a backlog: one partition read at once, another not yet touched."""
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.track("events", 0)
    fast = clock.reading("events", 1)
    fast.observe(500_000)
    assert fast.progress_ms() == MIN_WATERMARK  # events/0 may hold older events: nothing is late yet
    assert clock.watermark(0) == MIN_WATERMARK  # and no timer is due
    clock.reading("events", 0).observe(100_000)
    assert clock.progress_ms() == 100_000


def test_a_derived_topic_never_holds_the_input_back() -> None:
    """Chain events are made from input already read: a chain partition that lags, stops
    speaking, or has unread messages must not hold back the watermark of the input partitions."""
    now = FakeTime()
    clock = WatermarkClock(now=now, derived_topics=frozenset({"chain"}))
    clock.track("chain", 0)  # not caught up: an input partition would hold everything here
    clock.reading("events", 0).observe(100_000)
    chain = clock.reading("chain", 0)
    chain.observe(60_000)  # the time of an old fire, read just now
    now.t = 1.0
    clock.reading("events", 0).observe(101_000)
    assert clock.progress_ms() == 101_000
    assert clock.watermark(5000) == 96_000


def test_without_the_derived_topic_a_lagging_partition_holds_the_input_back() -> None:
    now = FakeTime()
    clock = WatermarkClock(now=now)
    clock.reading("events", 0).observe(100_000)
    clock.reading("chain", 0).observe(60_000)
    assert clock.progress_ms() == 60_000  # what the engine did to stateful fires before
