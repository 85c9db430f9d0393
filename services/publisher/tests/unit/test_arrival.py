"""How a file arrived decides when it is complete: renamed in at once, written in place after its
close plus the stability window, anything else after the stability window."""

from __future__ import annotations

import struct

from streamsuite_publisher import inotify
from streamsuite_publisher.arrival import (
    APPEARED,
    CLOSED,
    GONE,
    MOVED_IN,
    RESET,
    WRITING,
    StabilityTracker,
)
from streamsuite_publisher.watcher import file_event

T0 = 1000.0


def test_a_renamed_in_file_is_ready_on_the_first_scan_that_sees_it():
    tracker = StabilityTracker(stable_s=60)
    tracker.note("a.json", MOVED_IN, T0)
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 0.001) == ["a.json"]


def test_a_renamed_in_file_seen_by_a_scan_before_its_event_is_ready_after_it():
    tracker = StabilityTracker(stable_s=60)
    assert tracker.update({"a.json": (10, 1)}, now=T0) == []
    tracker.note("a.json", MOVED_IN, T0 + 0.01)
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 0.02) == ["a.json"]


def test_a_renamed_in_file_waits_for_its_scan():
    tracker = StabilityTracker(stable_s=60)
    tracker.note("a.json", MOVED_IN, T0)
    assert tracker.next_due(T0 + 0.01) == 0.0


def test_a_file_written_in_place_is_not_ready_while_open_however_still():
    tracker = StabilityTracker(stable_s=0.5)
    tracker.note("a.json", WRITING, T0)
    for step in range(1, 100):
        assert tracker.update({"a.json": (10, 1)}, now=T0 + step) == []


def test_a_closed_file_is_ready_after_the_stability_window_from_its_close():
    tracker = StabilityTracker(stable_s=0.5)
    tracker.note("a.json", WRITING, T0)
    assert tracker.update({"a.json": (5, 1)}, now=T0 + 0.1) == []
    tracker.note("a.json", CLOSED, T0 + 10)
    assert tracker.update({"a.json": (10, 2)}, now=T0 + 10.1) == []
    assert tracker.update({"a.json": (10, 2)}, now=T0 + 10.49) == []
    assert tracker.update({"a.json": (10, 2)}, now=T0 + 10.5) == ["a.json"]


def test_a_file_opened_again_after_its_close_waits_for_the_next_close():
    tracker = StabilityTracker(stable_s=0.5)
    tracker.note("a.json", CLOSED, T0)
    tracker.note("a.json", WRITING, T0 + 0.1)
    assert tracker.update({"a.json": (10, 2)}, now=T0 + 5) == []


def test_a_renamed_in_file_written_to_again_is_not_complete_any_more():
    tracker = StabilityTracker(stable_s=0.5)
    tracker.note("a.json", MOVED_IN, T0)
    tracker.note("a.json", WRITING, T0 + 0.01)
    assert tracker.update({"a.json": (10, 2)}, now=T0 + 5) == []


def test_a_renamed_in_file_that_changes_without_an_event_waits_for_the_window():
    tracker = StabilityTracker(stable_s=0.5)
    tracker.note("a.json", MOVED_IN, T0)
    assert tracker.update({"a.json": (10, 1)}, now=T0) == ["a.json"]
    assert tracker.update({"a.json": (11, 2)}, now=T0 + 0.1) == []
    assert tracker.update({"a.json": (11, 2)}, now=T0 + 0.59) == []
    assert tracker.update({"a.json": (11, 2)}, now=T0 + 0.6) == ["a.json"]


def test_a_writer_idle_far_beyond_any_pause_is_taken_anyway():
    tracker = StabilityTracker(stable_s=0.5, writing_idle_s=300)
    tracker.note("a.json", WRITING, T0)
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 299) == []
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 300) == ["a.json"]


def test_a_link_or_fifo_that_appeared_waits_for_the_window():
    tracker = StabilityTracker(stable_s=0.5)
    tracker.note("a.json", APPEARED, T0)
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 0.4) == []
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 0.5) == ["a.json"]


def test_lost_events_fall_back_to_the_window_for_every_file():
    tracker = StabilityTracker(stable_s=0.5)
    tracker.note("moved.json", MOVED_IN, T0)
    tracker.note("open.json", WRITING, T0)
    tracker.note("", RESET, T0 + 1)
    observed = {"moved.json": (1, 1), "open.json": (1, 1)}
    assert tracker.update(observed, now=T0 + 1.1) == []
    assert tracker.update(observed, now=T0 + 1.5) == ["moved.json", "open.json"]


def test_a_file_put_back_after_changing_waits_for_the_window_not_its_rename():
    tracker = StabilityTracker(stable_s=0.5)
    tracker.released("a.json", T0)
    tracker.note("a.json", MOVED_IN, T0 + 0.01)  # our own hand-back
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 0.1) == []
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 0.6) == ["a.json"]
    # Only that one rename is ours: the next file renamed in under that name is complete.
    tracker.forget("a.json")
    tracker.note("a.json", MOVED_IN, T0 + 1)
    assert tracker.update({"a.json": (10, 1)}, now=T0 + 1.01) == ["a.json"]


def test_a_gone_file_is_forgotten():
    tracker = StabilityTracker(stable_s=0.5)
    tracker.note("a.json", MOVED_IN, T0)
    tracker.note("a.json", GONE, T0 + 0.01)
    assert tracker.next_due(T0 + 0.02) is None


def test_next_due_leaves_out_files_held_open_until_their_idle_limit():
    tracker = StabilityTracker(stable_s=0.5, writing_idle_s=300)
    tracker.note("a.json", WRITING, T0)
    assert tracker.next_due(T0) == 300


def test_inotify_masks_map_to_arrivals():
    assert file_event(inotify.IN_MOVED_TO) == MOVED_IN
    assert file_event(inotify.IN_CLOSE_WRITE) == CLOSED
    assert file_event(inotify.IN_CREATE) == WRITING
    assert file_event(inotify.IN_MODIFY) == WRITING
    assert file_event(inotify.IN_MOVED_FROM) == GONE
    assert file_event(inotify.IN_DELETE) == GONE
    assert file_event(inotify.IN_ISDIR | inotify.IN_IGNORED) is None


def test_packed_inotify_events_are_parsed_with_their_padded_names():
    def packed(wd: int, mask: int, name: bytes) -> bytes:
        padded = name + b"\0" * (16 - len(name) % 16) if name else b""
        return struct.pack("iIII", wd, mask, 0, len(padded)) + padded

    buffer = packed(1, inotify.IN_MOVED_TO, b"a.json") + packed(2, inotify.IN_IGNORED, b"")
    buffer += packed(1, inotify.IN_CREATE, b"caf\xe9.json")
    events = inotify.parse_events(buffer)
    assert [(e.wd, e.mask, e.name) for e in events] == [
        (1, inotify.IN_MOVED_TO, "a.json"),
        (2, inotify.IN_IGNORED, ""),
        (1, inotify.IN_CREATE, "caf\udce9.json"),
    ]
