"""Consumer lag as the ingestor reports it: pure.

Lag is the number of messages after the last one stored, up to the partition's last stable
offset (LSO, what a ``read_committed`` consumer can read). Not the high watermark: that counts
messages of transactions still open (not readable yet), and the commit/abort markers are no
messages either. The consumer's position between batches is past everything stored and past
the markers and aborted messages it skipped, so ``LSO - position`` counts only messages still to
store; a batch put back (rewound) moves the position back to the committed offset, so messages
polled but not stored stay counted.
"""

from __future__ import annotations


def partition_lag(stable_end: int | None, position: int | None) -> int | None:
    """Messages still to store in one partition, or None when either offset is unknown."""
    if stable_end is None or position is None:
        return None
    return max(0, stable_end - position)
