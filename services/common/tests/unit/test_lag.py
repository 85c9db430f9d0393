"""Consumer lag (pure), as the ingestor's metric and the web UI's Status page both compute it."""

from __future__ import annotations

from streamsuite_common.lag import PartitionLag, lag_rows, partition_lag


def test_lag_is_what_lies_between_the_position_and_the_last_stable_offset():
    assert partition_lag(10, 7) == 3
    assert partition_lag(10, 10) == 0


def test_lag_is_never_negative_and_unknown_without_both_offsets():
    assert partition_lag(5, 6) == 0  # the LSO listed before the last fetch moved on
    assert partition_lag(None, 3) is None
    assert partition_lag(3, None) is None


def test_lag_is_the_end_minus_the_committed_offset_per_group_and_partition():
    rows = lag_rows({"ingestor": {0: 10, 1: 7}, "audit": {0: 12}}, {0: 12, 1: 7, 2: 3})
    assert [(r.group, r.partition, r.lag) for r in rows] == [
        ("audit", 0, 0), ("audit", 1, 7), ("audit", 2, 3),
        ("ingestor", 0, 2), ("ingestor", 1, 0), ("ingestor", 2, 3),
    ]  # fmt: skip


def test_a_groups_lag_is_never_negative():
    # A committed offset read just after the end offsets may be ahead of them.
    row = PartitionLag("g", 0, committed=15, end=12)
    assert (row.lag, row.exact) == (0, True)


def test_counted_messages_are_the_lag_and_make_it_exact():
    # A gap of one commit marker: one offset, no message.
    row = PartitionLag("g", 0, committed=11, end=12)
    assert (row.lag, row.exact) == (1, False)
    counted = PartitionLag("g", 0, committed=11, end=12, messages=0)
    assert (counted.lag, counted.exact) == (0, True)
