"""Server-Sent Events of newly stored records: the query API's stream and the web UI's live
feed are the same loop with a different ``data`` line.

The ``Notifier`` (``streamsuite_common.notify``) wakes every client when the ingestor announces
a batch; each client then reads what became final after its position, with its filter,
through the pool. A notification is only a hint: every heartbeat re-reads too, so a missed one
delays a record by a heartbeat at most, never loses it.

Records go out in commit order, not id order (``query.read.records_after``): with several
writers, a batch that commits late may carry lower ids than one already sent, and is still
sent. The event id stays the record id; resuming after it continues from that record's place
in commit order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from streamsuite_common.async_pool import AsyncReadPool
from streamsuite_common.notify import Notifier
from streamsuite_common.pool import DatabaseUnavailable, ReadOnlyPool
from streamsuite_common.query import RecordFilter
from streamsuite_common.query import read as query_read
from streamsuite_common.query.steps import Steps, reads

RETRY_MS = 3000


def sse_event(record_id: int, data: str, event: str = "record") -> bytes:
    """One event; ``data`` must be one line (compact JSON is)."""
    return f"id: {record_id}\nevent: {event}\ndata: {data}\n\n".encode()


def _record_json(_record_id: int, data: str) -> str:
    return data


async def record_events(
    db: ReadOnlyPool | AsyncReadPool,
    notifier: Notifier,
    record_filter: RecordFilter,
    after_id: int | None,
    *,
    heartbeat_s: float,
    run: Callable[..., Awaitable],
    batch: int,
    label: str,
    format_data: Callable[[int, str], str] = _record_json,
    start: query_read.StreamPosition | None = None,
) -> AsyncIterator[bytes]:
    """The SSE body: records after record ``after_id`` (None: from now on) as they become
    final, heartbeats in between. ``start``, when the caller looked it up already (see
    ``stream_start``), is the position to begin at.

    ``run(db.read, steps, *args)`` runs a read: in a worker thread for a blocking pool
    (Starlette's ``run_in_threadpool``), or awaits it for an ``AsyncReadPool``;
    ``format_data`` turns (id, record JSON) into the event's data line (default: the JSON).
    """
    wake = notifier.subscribe()
    try:
        yield f"retry: {RETRY_MS}\n: {label} after id {after_id or 'now'}\n\n".encode()
        position = start
        while not notifier.stopping:
            # Cleared before reading, so a NOTIFY arriving during the read wakes us again.
            wake.clear()
            while True:
                try:
                    if position is None:
                        position = await run(db.read, query_read.stream_start.steps, after_id)
                    got = await run(
                        db.read, query_read.records_after.steps, record_filter, position, batch
                    )
                except DatabaseUnavailable as exc:
                    # Headers are sent already: say so in a comment, try again next beat.
                    yield f": {str(exc).splitlines()[0]}; retrying\n\n".encode()
                    break
                for record_id, data in got.records:
                    yield sse_event(record_id, format_data(record_id, data))
                position = got.position
                if not got.full or notifier.stopping:
                    break
            try:
                await asyncio.wait_for(wake.wait(), heartbeat_s)
            except TimeoutError:
                yield b": heartbeat\n\n"
    finally:
        notifier.unsubscribe(wake)


@reads
def stream_start(
    record_filter: RecordFilter, after_id: int | None
) -> Steps[query_read.StreamPosition]:
    """Before the response starts: the filter checked by PostgreSQL (``InvalidQuery`` if it
    refuses a value, so the client gets a 4xx, not a broken stream) and the start position."""
    yield from query_read.check_filter.steps(record_filter)
    return (yield from query_read.stream_start.steps(after_id))
