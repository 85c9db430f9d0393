"""ReadAhead: files read in a thread, cut into batches that are read while they fill, in order,
at most two batches alive, errors raised in order, and what was never taken handed back."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from devstack.testing import wait_for
from streamsuite_publisher.ahead import CUT, ReadAhead


def every(n: int):
    """A batch cutter: a new batch every ``n`` items."""
    count = 0

    def starts_batch(_item: int) -> bool:
        nonlocal count
        count += 1
        return count > 1 and (count - 1) % n == 0

    return starts_batch


def test_items_come_out_in_order_cut_into_batches():
    ahead = ReadAhead(iter(range(10)), every(3))
    try:
        assert [list(batch) for batch in ahead] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    finally:
        assert ahead.close() == []


def test_a_batch_is_read_while_it_is_still_being_filled():
    first_taken = threading.Event()

    def items() -> Iterator[int]:
        yield 0
        # The next item is only made once the consumer has the first: a batch handed over
        # only when complete would never get here.
        assert first_taken.wait(30), "the consumer never got the first item of its batch"
        yield 1

    ahead = ReadAhead(items(), every(10))
    try:
        batch = next(iter(ahead))
        taken = []
        for item in batch:
            taken.append(item)
            first_taken.set()
        assert taken == [0, 1]
    finally:
        ahead.close()


def test_at_most_two_batches_are_alive_at_once():
    made: list[int] = []

    def items() -> Iterator[int]:
        for n in range(100):
            made.append(n)
            yield n

    ahead = ReadAhead(items(), every(2))
    try:
        batches = iter(ahead)
        first = next(batches)
        assert list(first) == [0, 1]
        # While the consumer still works on the first batch, the second is filled and the
        # item that opens the third is made, but the third batch is not started.
        wait_for(lambda: len(made) >= 5, what="the second batch read ahead")
        assert len(ahead._made) == 2
        assert list(next(batches)) == [2, 3]  # taking the next one makes room
        wait_for(lambda: len(ahead._made) == 3, what="the third batch started")
    finally:
        left = ahead.close()
    assert left[0] == 4  # made and never taken: handed back


def test_an_error_reaches_the_consumer_after_the_items_made_before_it():
    def items() -> Iterator[int]:
        yield 0
        yield 1
        raise OSError("disk gone")

    ahead = ReadAhead(items(), every(10))
    taken: list[int] = []

    def consume() -> None:
        for batch in ahead:
            taken.extend(batch)

    try:
        with pytest.raises(OSError, match="disk gone"):
            consume()
    finally:
        ahead.close()
    assert taken == [0, 1]


def test_close_stops_reading_and_returns_what_was_never_taken():
    stop = threading.Event()

    def items() -> Iterator[int]:
        n = 0
        while not stop.is_set():
            yield n
            n += 1

    ahead = ReadAhead(items(), every(3), stopping=stop)
    batch = next(iter(ahead))
    assert next(iter(batch)) == 0
    left = ahead.close()
    assert stop.is_set()
    assert left[:2] == [1, 2]
    assert left == list(range(1, len(left) + 1))


def test_a_cut_ends_the_batch_being_filled_while_reading_goes_on():
    go_on = threading.Event()

    def items() -> Iterator[object]:
        yield 0
        yield 1
        yield CUT
        # The consumer has the cut batch whole before anything else is made: a batch ended
        # only by the next item or the end of the items would never get here.
        assert go_on.wait(30), "the consumer never had the cut batch whole"
        yield CUT  # nothing being filled: no empty batch
        yield 2

    ahead = ReadAhead(items(), every(10))
    try:
        batches = iter(ahead)
        assert next(batches).rest() == [0, 1]
        go_on.set()
        assert [list(batch) for batch in batches] == [[2]]
    finally:
        assert ahead.close() == []


def test_unfinished_counts_the_batches_the_consumer_is_not_done_with_and_it_calls_when_it_waits():
    more = threading.Event()
    waits: list[int] = []

    def items() -> Iterator[int]:
        yield 0
        yield CUT
        assert more.wait(30)
        yield 1

    ahead = ReadAhead(items(), every(10), on_wait=lambda: waits.append(1))
    try:
        batches = iter(ahead)
        first = next(batches)
        assert waits == [1]  # it came for the first batch
        assert first.rest() == [0]
        assert ahead.unfinished() == 1  # taken, not finished
        more.set()
        wait_for(lambda: ahead.unfinished() == 2, what="the second batch made")
        second = next(batches)  # done with the first
        assert waits == [1, 1]
        assert ahead.unfinished() == 1
        assert list(second) == [1]
        assert list(batches) == []
        assert ahead.unfinished() == 0
    finally:
        ahead.close()
