"""Consumer lag, pure: what a ``read_committed`` reader of a partition still has to read, from
the offset it has read up to against the partition's last stable offset (LSO). The Kafka I/O
stays with the callers: the ingestor's own positions (its metric), the web UI's committed
offsets of every group (its Status page).

Not the high watermark: that counts messages of transactions still open (not readable yet).
Commit and abort markers take offsets but are no messages: the ingestor's position between
batches is past the markers and aborted messages it skipped, so ``LSO - position`` counts only
messages still to store (a batch put back moves the position back, so they stay counted); a
group's committed offset may sit before a marker, so the web UI counts small gaps by reading
them (``PartitionLag.messages``) and shows larger ones as the offset gap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


def partition_lag(stable_end: int | None, read_to: int | None) -> int | None:
    """Offsets from ``read_to`` (a position or committed offset: the next to read) up to the
    last stable offset; None when either is unknown. Never negative: an end listed before the
    reader moved on may be behind it."""
    if stable_end is None or read_to is None:
        return None
    return max(0, stable_end - read_to)


@dataclasses.dataclass(frozen=True)
class PartitionLag:
    """One consumer group's lag on one partition."""

    group: str
    partition: int
    committed: int
    end: int
    messages: int | None = None  # counted by reading them (None: not counted, too many)

    @property
    def lag(self) -> int:
        """Messages still to read: counted when there were few, else the offset gap."""
        if self.messages is not None:
            return self.messages
        return partition_lag(self.end, self.committed) or 0

    @property
    def exact(self) -> bool:
        return self.messages is not None or self.end <= self.committed


def lag_rows(
    committed: Mapping[str, Mapping[int, int]], ends: Mapping[int, int]
) -> list[PartitionLag]:
    """``{group: {partition: committed}}`` and ``{partition: end}`` into rows, by group then
    partition; a partition a group never committed counts from 0 (all of it to read)."""
    rows = []
    for group in sorted(committed):
        offsets = committed[group]
        for partition in sorted(ends):
            rows.append(PartitionLag(group, partition, offsets.get(partition, 0), ends[partition]))
    return rows
