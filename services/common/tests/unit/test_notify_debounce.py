"""The listener's debounce: a burst of NOTIFYs wakes the streams at once, then at most once per
interval, and the last NOTIFY of a burst always wakes them (a stored row reaches every stream)."""

from __future__ import annotations

import itertools

from streamsuite_common.notify import Debounce


def test_the_first_notify_wakes_at_once():
    debounce = Debounce(0.05)
    assert debounce.hit(100.0)
    assert debounce.due_in(100.0) is None


def test_a_notify_within_the_interval_is_held_until_its_end():
    debounce = Debounce(0.05)
    assert debounce.hit(100.0)
    assert not debounce.hit(100.01)
    assert abs(debounce.due_in(100.01) - 0.04) < 1e-9
    assert not debounce.take_due(100.049)
    assert debounce.take_due(100.05)
    assert not debounce.take_due(100.06), "a held NOTIFY wakes once"
    assert debounce.due_in(100.06) is None


def test_a_burst_wakes_at_most_once_per_interval_and_its_last_notify_is_not_lost():
    debounce = Debounce(0.05)
    wakes = []
    now = 0.0
    for _ in range(1000):  # a NOTIFY every millisecond for a second
        if debounce.hit(now):
            wakes.append(now)
        now = round(now + 0.001, 6)
        if debounce.take_due(now):
            wakes.append(now)
    last_notify = now - 0.001
    while debounce.due_in(now) is not None:  # the listener sleeps until the held one is due
        now += debounce.due_in(now)
        assert debounce.take_due(now)
        wakes.append(now)
    assert 2 <= len(wakes) <= 1 + 1.0 / 0.05 + 1
    assert all(b - a >= 0.05 - 1e-9 for a, b in itertools.pairwise(wakes))
    assert wakes[-1] >= last_notify, "the burst's last NOTIFY woke the streams"


def test_a_notify_after_a_quiet_interval_wakes_at_once_again():
    debounce = Debounce(0.05)
    assert debounce.hit(1.0)
    assert debounce.hit(1.2)
    assert not debounce.hit(1.21)
    assert debounce.take_due(1.25)
    assert debounce.hit(2.0)


def test_nothing_held_means_nothing_due():
    debounce = Debounce(0.05)
    assert debounce.due_in(5.0) is None
    assert not debounce.take_due(5.0)
