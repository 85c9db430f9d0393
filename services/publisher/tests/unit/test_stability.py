"""StabilityTracker: a file is ready once its (size, mtime_ns) held still for stable_s."""

from __future__ import annotations

import pytest

from streamsuite_publisher.arrival import StabilityTracker

T0 = 1000.0


def test_a_file_is_not_ready_when_first_seen():
    tracker = StabilityTracker(stable_s=2.0)
    assert tracker.update({"a.json": (10, 1)}, now=T0) == []


def test_a_file_is_not_ready_before_stable_s_has_passed():
    tracker = StabilityTracker(stable_s=2.0)
    tracker.update({"a.json": (10, 1)}, now=T0)
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 1.999) == []


def test_a_file_is_ready_once_unchanged_for_stable_s():
    tracker = StabilityTracker(stable_s=2.0)
    tracker.update({"a.json": (10, 1)}, now=T0)
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 2.0) == ["a.json"]


def test_a_ready_file_stays_ready_until_forgotten():
    tracker = StabilityTracker(stable_s=1.0)
    tracker.update({"a.json": (10, 1)}, now=T0)
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 1) == ["a.json"]
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 2) == ["a.json"]
    tracker.forget("a.json")
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 3) == []


@pytest.mark.parametrize("changed", [(11, 1), (10, 2), (0, 0)])
def test_a_changed_size_or_mtime_restarts_the_clock(changed):
    tracker = StabilityTracker(stable_s=2.0)
    tracker.update({"a.json": (10, 1)}, now=T0)
    assert tracker.update({"a.json": changed}, now=T0 + 1.5) == []
    # Two seconds after the first sighting, but only half a second after the change.
    assert tracker.update({"a.json": changed}, now=T0 + 2.0) == []
    assert tracker.update({"a.json": changed}, now=T0 + 3.5) == ["a.json"]


def test_a_file_still_being_written_is_never_ready():
    tracker = StabilityTracker(stable_s=1.0)
    for step in range(10):
        ready = tracker.update({"slow.json": (step * 100, step)}, now=T0 + step * 0.9)
        assert ready == []


def test_a_file_that_vanishes_is_forgotten():
    tracker = StabilityTracker(stable_s=2.0)
    tracker.update({"a.json": (10, 1)}, now=T0)
    tracker.update({}, now=T0 + 1)
    assert tracker.next_due(T0 + 1) is None
    # Back with the same signature: its clock starts again from this sighting.
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 2.5) == []
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 4.4) == []
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 4.5) == ["a.json"]


def test_only_the_vanished_file_is_forgotten():
    tracker = StabilityTracker(stable_s=2.0)
    tracker.update({"a.json": (1, 1), "b.json": (2, 2)}, now=T0)
    assert tracker.update({"b.json": (2, 2)}, now=T0 + 2) == ["b.json"]


def test_forget_of_an_unknown_path_is_harmless():
    tracker = StabilityTracker(stable_s=1.0)
    tracker.forget("never-seen.json")
    assert tracker.next_due(T0) is None


def test_next_due_is_none_when_nothing_waits():
    assert StabilityTracker(stable_s=1.0).next_due(T0) is None


def test_next_due_is_the_time_until_the_oldest_file_is_ready():
    tracker = StabilityTracker(stable_s=2.0)
    tracker.update({"a.json": (1, 1)}, now=T0)
    tracker.update({"a.json": (1, 1), "b.json": (1, 1)}, now=T0 + 1.5)
    assert tracker.next_due(T0 + 1.5) == pytest.approx(0.5)


def test_next_due_is_zero_not_negative_once_overdue():
    tracker = StabilityTracker(stable_s=2.0)
    tracker.update({"a.json": (1, 1)}, now=T0)
    assert tracker.next_due(T0 + 10) == 0.0


def test_next_due_follows_a_restarted_clock():
    tracker = StabilityTracker(stable_s=2.0)
    tracker.update({"a.json": (1, 1)}, now=T0)
    tracker.update({"a.json": (2, 2)}, now=T0 + 1.0)
    assert tracker.next_due(T0 + 1.0) == pytest.approx(2.0)


def test_ready_files_come_oldest_first():
    tracker = StabilityTracker(stable_s=1.0)
    tracker.update({"c.json": (1, 1)}, now=T0)
    tracker.update({"c.json": (1, 1), "a.json": (1, 1)}, now=T0 + 0.5)
    tracker.update({"c.json": (1, 1), "a.json": (1, 1), "b.json": (1, 1)}, now=T0 + 0.6)
    # The dict order of the scan must not matter, only when each file became stable.
    observed = {"b.json": (1, 1), "a.json": (1, 1), "c.json": (1, 1)}
    assert tracker.update(observed, now=T0 + 5) == ["c.json", "a.json", "b.json"]


def test_files_stable_since_the_same_moment_come_in_path_order():
    tracker = StabilityTracker(stable_s=1.0)
    observed = {"z.json": (1, 1), "m.json": (1, 1), "a.json": (1, 1)}
    tracker.update(observed, now=T0)
    assert tracker.update(observed, now=T0 + 1) == ["a.json", "m.json", "z.json"]


def test_zero_stable_s_makes_a_file_ready_on_the_next_scan():
    tracker = StabilityTracker(stable_s=0.0)
    assert tracker.update({"a.json": (1, 1)}, now=T0) == []
    assert tracker.update({"a.json": (1, 1)}, now=T0) == ["a.json"]
