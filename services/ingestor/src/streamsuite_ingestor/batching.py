"""How much goes into one transaction, which offsets to commit or seek back to, and finding the
bad items of a rejected one: pure.

A batch is bounded by bytes as well as by count, so a run of large messages cannot make one
transaction (and the ingestor's memory) arbitrarily big. When PostgreSQL rejects a batch for
its data, the batch is split in halves until each rejection is pinned to one item: k bad rows
in n cost about 2·k·log2(n) attempts, not n.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from kafka import TopicPartition

T = TypeVar("T")
R = TypeVar("R")


def record_bytes(record: Any) -> int:
    """Bytes a consumed message holds: key, value and headers."""
    size = len(record.value or b"") + len(record.key or b"")
    for key, value in record.headers or ():
        size += len(key) + len(value or b"")
    return size


def split_by_bytes(records: Sequence[T], max_bytes: int) -> tuple[list[T], list[T]]:
    """(what fits in ``max_bytes``, the rest); the first record always goes, whatever its size.

    ``records`` come grouped by partition in offset order, so the rest of each partition
    starts after everything taken from it: seeking there puts the rest back."""
    taken, total = [], 0
    for index, record in enumerate(records):
        size = record_bytes(record)
        if taken and total + size > max_bytes:
            return taken, list(records[index:])
        taken.append(record)
        total += size
    return taken, []


def bisect(
    items: Sequence[T],
    attempt: Callable[[Sequence[T]], list[R]],
    is_rejection: Callable[[Exception], bool],
) -> tuple[list[R], list[tuple[T, Exception]]]:
    """Run ``attempt`` on ``items``, halving every part it rejects.

    Returns what the accepted attempts returned, and each rejected item with its error.
    ``attempt`` must undo its own effect when it raises (a savepoint does).
    """
    results: list[R] = []
    rejected: list[tuple[T, Exception]] = []
    pending = [items] if items else []
    while pending:
        part = pending.pop()
        try:
            results += attempt(part)
        except Exception as exc:
            if not is_rejection(exc):
                raise
            if len(part) == 1:
                rejected.append((part[0], exc))
            else:
                middle = len(part) // 2
                pending += [part[middle:], part[:middle]]  # first half next: keeps order
    return results, rejected


def first_offsets(records: Sequence[Any]) -> dict[TopicPartition, int]:
    """The first offset of each partition among ``records``: where to seek to read them again."""
    first: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        offset = first.get(tp)
        if offset is None or record.offset < offset:
            first[tp] = record.offset
    return first


def offsets_to_commit(
    records: Sequence[Any], owned: Collection[TopicPartition], *, same_epoch: bool
) -> dict[TopicPartition, int]:
    """The offsets to commit once ``records`` are stored: the next offset of each partition.

    Only for partitions still held, and nothing at all after a rebalance since the records
    were polled: a partition that left and came back may have been read (and committed
    further) by another member meanwhile, and committing it would move its offset back."""
    if not same_epoch:
        return {}
    last: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        if record.offset >= last.get(tp, -1):
            last[tp] = record.offset
    return {tp: offset + 1 for tp, offset in last.items() if tp in owned}
