"""The live feed of the Records page: the shared record stream
(``streamsuite_common.record_stream``) with each event carrying the row as the page renders it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

from streamsuite_common.notify import Notifier
from streamsuite_common.pool import ReadOnlyPool
from streamsuite_common.query import RecordFilter
from streamsuite_common.record_stream import record_events as _record_events

BATCH = 200


def record_events(
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

    def row_event(record_id: int, data: str) -> str:
        return json.dumps({"id": record_id, "html": render_row(data)}, ensure_ascii=True)

    return _record_events(
        db, notifier, record_filter, after_id,
        heartbeat_s=heartbeat_s, run=run, batch=BATCH, label="live records",
        format_data=row_event,
    )  # fmt: skip
