"""Server-Sent Events of new records.

The shared ``Notifier`` (``streamsuite_common.notify``) wakes every stream client when the
ingestor announces a batch for our schema. Each client then reads what came after the last
record it sent, with its filter, through the pool. A notification is only a hint: every
heartbeat re-reads too, so a missed one delays a record by a heartbeat at most, never loses it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from streamsuite_common.notify import Notifier
from streamsuite_common.pool import DatabaseUnavailable, ReadOnlyPool
from streamsuite_common.query import InvalidQuery, RecordFilter
from streamsuite_common.query import read as query_read

BATCH = 500
RETRY_MS = 3000
_MAX_ID = 2**63 - 1


def parse_last_event_id(header: str | None) -> int | None:
    """The ``Last-Event-ID`` header: the id of the last record the client received."""
    if header is None or header.strip() == "":
        return None
    text = header.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > _MAX_ID:
        raise InvalidQuery("Last-Event-ID", f"expected a record id, got {header[:40]!r}")
    return int(text)


def sse_event(record_id: int, data: str) -> bytes:
    # The record JSON is compact (no newlines), so it fits one data line.
    return f"id: {record_id}\nevent: record\ndata: {data}\n\n".encode()


async def record_events(
    db: ReadOnlyPool,
    notifier: Notifier,
    record_filter: RecordFilter,
    after_id: int,
    *,
    heartbeat_s: float,
    run: Callable,
) -> AsyncIterator[bytes]:
    """The SSE body: records after ``after_id`` as they arrive, heartbeats in between.

    ``run`` runs a blocking function in a worker thread (Starlette's ``run_in_threadpool``).
    """
    wake = notifier.subscribe()
    try:
        yield f"retry: {RETRY_MS}\n: streaming records after id {after_id}\n\n".encode()
        while not notifier.stopping:
            # Cleared before reading, so a NOTIFY arriving during the read wakes us again.
            wake.clear()
            while True:
                start = after_id
                try:
                    rows = await run(
                        db.run,
                        lambda c, s=start: query_read.records_after(c, record_filter, s, BATCH),
                    )
                except DatabaseUnavailable as exc:
                    # Headers are sent already: say so in a comment, try again next beat.
                    yield f": {str(exc).splitlines()[0]}; retrying\n\n".encode()
                    break
                for record_id, data in rows:
                    yield sse_event(record_id, data)
                    after_id = record_id
                if len(rows) < BATCH or notifier.stopping:
                    break
            try:
                await asyncio.wait_for(wake.wait(), heartbeat_s)
            except TimeoutError:
                yield b": heartbeat\n\n"
    finally:
        notifier.unsubscribe(wake)
