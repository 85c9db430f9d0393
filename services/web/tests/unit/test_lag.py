"""The Status page's consumer-lag rows: pure."""

from __future__ import annotations

from streamsuite_web.lag import PartitionLag, lag_rows


def test_lag_is_the_end_minus_the_committed_offset_per_group_and_partition():
    rows = lag_rows({"ingestor": {0: 10, 1: 7}, "audit": {0: 12}}, {0: 12, 1: 7, 2: 3})
    assert [(r.group, r.partition, r.lag) for r in rows] == [
        ("audit", 0, 0), ("audit", 1, 7), ("audit", 2, 3),
        ("ingestor", 0, 2), ("ingestor", 1, 0), ("ingestor", 2, 3),
    ]  # fmt: skip


def test_lag_is_never_negative():
    # A committed offset read just after the end offsets may be ahead of them.
    assert PartitionLag("g", 0, committed=15, end=12).lag == 0
