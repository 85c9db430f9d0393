"""Server-Sent Events of new records for `GET /api/v1/stream`: the shared record stream
(``streamsuite_common.record_stream``) with the record JSON as each event's data, plus the
`Last-Event-ID` resume header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from streamsuite_common.async_pool import AsyncReadPool
from streamsuite_common.notify import Notifier
from streamsuite_common.query import InvalidQuery, RecordFilter
from streamsuite_common.query.read import StreamPosition
from streamsuite_common.record_stream import record_events as _record_events

BATCH = 500
_MAX_ID = 2**63 - 1


def parse_last_event_id(header: str | None) -> int | None:
    """The ``Last-Event-ID`` header: the id of the last record the client received."""
    if header is None or header.strip() == "":
        return None
    text = header.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > _MAX_ID:
        raise InvalidQuery("Last-Event-ID", f"expected a record id, got {header[:40]!r}")
    return int(text)


def record_events(
    db: AsyncReadPool,
    notifier: Notifier,
    record_filter: RecordFilter,
    after_id: int | None,
    *,
    heartbeat_s: float,
    run: Callable[..., Awaitable],
    start: StreamPosition | None = None,
) -> AsyncIterator[bytes]:
    """The stream's body: each new record's JSON as an event, heartbeats in between."""
    return _record_events(
        db, notifier, record_filter, after_id,
        heartbeat_s=heartbeat_s, run=run, batch=BATCH, label="streaming records", start=start,
    )  # fmt: skip
