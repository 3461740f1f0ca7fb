"""The send rate is one schedule of evenly spaced slots shared by every worker: each send
reserves the next free slot in Redis and sleeps until it."""

from __future__ import annotations

import threading
import time
from itertools import pairwise

import pytest

from feedback_bot.jobs import redis_connection
from feedback_bot.messaging import pacing


def next_slot_us(app) -> int:
    with app.app_context():
        return int(redis_connection().get(pacing.SLOT_KEY) or 0)


def test_slots_are_spaced_evenly_a_little_under_the_rate(make_app):
    app = make_app(SEND_RATE_PER_SECOND=50)
    interval_us = pacing.send_interval(50) * 1_000_000
    assert 20_000 < interval_us < 20_000 / 0.95  # under the rate, not far under

    reserved = []
    with app.app_context():
        for _ in range(5):
            assert pacing.wait_for_send_slot()
            reserved.append(int(redis_connection().get(pacing.SLOT_KEY)))
    gaps = [later - earlier for earlier, later in pairwise(reserved)]
    # Back to back, each send waited for the slot after the last one's, not for a window.
    assert all(gap == pytest.approx(interval_us, abs=1) for gap in gaps), gaps


def test_workers_at_once_get_distinct_slots_in_order(make_app):
    """Eight workers asking at the same moment are spread over eight slots, not let
    through together as a per-second count would."""
    app = make_app(SEND_RATE_PER_SECOND=20)
    before = next_slot_us(app)
    done: list[float] = []
    lock = threading.Lock()

    def send() -> None:
        with app.app_context():
            assert pacing.wait_for_send_slot()
        with lock:
            done.append(time.monotonic())

    threads = [threading.Thread(target=send) for _ in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    interval = pacing.send_interval(20)
    assert next_slot_us(app) - max(before, 0) >= 8 * interval * 1_000_000 - 1
    # The first slot is now or later, so the last is at least seven intervals after we
    # began (sleep never ends early). Measured from the start, not from the first to be
    # done: on a busy machine that one can be noted late, which says nothing of the gaps.
    assert max(done) - started >= 7 * interval - 0.005


def test_a_slot_too_far_off_is_not_reserved(make_app):
    app = make_app(SEND_RATE_PER_SECOND=0.5)  # one slot every two seconds and a bit
    with app.app_context():
        assert pacing.wait_for_send_slot(max_wait=0.1)  # the first slot is now
        booked = next_slot_us(app)
        assert not pacing.wait_for_send_slot(max_wait=0.1)  # the next is 2 s away
    assert next_slot_us(app) == booked, "a refused send still took a slot"
