"""The live feed of the Records page: Server-Sent Events of newly stored records.

One ``Notifier`` per process keeps a dedicated connection in ``LISTEN streamsuite_records``
(the ingestor NOTIFYs once per stored batch, naming its schema) and wakes every client; each
then reads the records after the last one it sent, with its filter, through the pool. A
notification is only a hint: every heartbeat re-reads too, so a missed one delays a row by a
heartbeat at most, never loses it. The notifier is shared with the query API's stream
(``streamsuite_common.notify``); the event format is the page's own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from streamsuite_common.notify import Notifier
from streamsuite_common.pool import DatabaseUnavailable, ReadOnlyPool
from streamsuite_common.query import RecordFilter
from streamsuite_common.query import read as query_read

BATCH = 200
RETRY_MS = 3000


def sse_event(record_id: int, data: str, event: str = "record") -> bytes:
    """One event; ``data`` must be one line (compact JSON is)."""
    return f"id: {record_id}\nevent: {event}\ndata: {data}\n\n".encode()


async def record_events(
    db: ReadOnlyPool,
    notifier: Notifier,
    record_filter: RecordFilter,
    after_id: int,
    *,
    heartbeat_s: float,
    run: Callable[..., Awaitable],
    render_row: Callable[[str], str],
) -> AsyncIterator[bytes]:
    """The SSE body: ``{"id", "html"}`` per record stored after ``after_id``, oldest first.

    ``render_row`` turns a record's JSON into the escaped ``<tr>`` the page shows, so a live
    row is rendered by the same template as the rows of the page itself.
    """
    wake = notifier.subscribe()
    try:
        yield f"retry: {RETRY_MS}\n: live records after id {after_id}\n\n".encode()
        while not notifier.stopping:
            wake.clear()  # before reading: a NOTIFY arriving during the read wakes us again
            while True:
                start = after_id
                try:
                    rows = await run(
                        db.run,
                        lambda c, s=start: query_read.records_after(c, record_filter, s, BATCH),
                    )
                except DatabaseUnavailable as exc:
                    yield f": {str(exc).splitlines()[0]}; retrying\n\n".encode()
                    break
                for record_id, data in rows:
                    html = render_row(data)
                    payload = json.dumps({"id": record_id, "html": html}, ensure_ascii=True)
                    yield sse_event(record_id, payload)
                    after_id = record_id
                if len(rows) < BATCH or notifier.stopping:
                    break
            try:
                await asyncio.wait_for(wake.wait(), heartbeat_s)
            except TimeoutError:
                yield b": heartbeat\n\n"
    finally:
        notifier.unsubscribe(wake)
