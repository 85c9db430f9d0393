"""The live feed of the Records page: Server-Sent Events of newly stored records.

One ``Notifier`` per process keeps a dedicated connection in ``LISTEN streamsuite_records``
(the ingestor NOTIFYs once per stored batch, naming its schema) and wakes every client; each
then reads the records after the last one it sent, with its filter, through the pool. A
notification is only a hint: every heartbeat re-reads too, so a missed one delays a row by a
heartbeat at most, never loses it. (Same design as the query API's stream; the notifier is a
candidate to move into ``streamsuite_common``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import threading
from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg2
import psycopg2.extensions

from streamsuite_common.logs import get_logger
from streamsuite_common.query import RecordFilter
from streamsuite_common.query import read as query_read
from streamsuite_web.db import Database, DatabaseUnavailable

log = get_logger(__name__)

CHANNEL = "streamsuite_records"
BATCH = 200
RETRY_MS = 3000


def sse_event(record_id: int, data: str, event: str = "record") -> bytes:
    """One event; ``data`` must be one line (compact JSON is)."""
    return f"id: {record_id}\nevent: {event}\ndata: {data}\n\n".encode()


class Notifier:
    """LISTEN in a thread; ``subscribe`` gives an asyncio.Event set on every relevant NOTIFY."""

    def __init__(self, connect_kwargs: dict, schema: str, *, reconnect_s: float = 1.0):
        self._kwargs = connect_kwargs
        self._schema = schema
        self._reconnect_s = reconnect_s
        self._stop = threading.Event()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._thread = threading.Thread(target=self._run, name="web-listen", daemon=True)
        self.listening = threading.Event()

    def start(self) -> Notifier:
        self._thread.start()
        return self

    def stop_streams(self) -> None:
        """End every open stream (server shutting down); safe from a signal handler."""
        self._closing.set()
        self.wake_all()

    def stop(self) -> None:
        self._stop.set()
        self.stop_streams()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    @property
    def stopping(self) -> bool:
        return self._closing.is_set()

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._waiters.add((asyncio.get_running_loop(), event))
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters = {(lp, ev) for lp, ev in self._waiters if ev is not event}

    def wake_all(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(event.set)

    def _relevant(self, payload: str) -> bool:
        try:
            return json.loads(payload).get("schema") == self._schema
        except (ValueError, AttributeError):
            return True  # unreadable: waking costs one query, missing costs a heartbeat

    def _run(self) -> None:
        while not self._stop.is_set():
            conn = None
            try:
                conn = psycopg2.connect(**self._kwargs)
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {CHANNEL}")  # a constant: channel names cannot be bound
                self.listening.set()
                self.wake_all()  # anything stored while we were not listening
                while not self._stop.is_set():
                    if select.select([conn], [], [], 0.5) == ([], [], []):
                        continue
                    conn.poll()
                    relevant = any(self._relevant(note.payload) for note in conn.notifies)
                    conn.notifies.clear()
                    if relevant:
                        self.wake_all()
            except psycopg2.Error as exc:
                log.warning("live-feed listener lost its connection", error=str(exc)[:200])
            finally:
                self.listening.clear()
                if conn is not None:
                    with contextlib.suppress(psycopg2.Error):
                        conn.close()
            self._stop.wait(self._reconnect_s)


async def record_events(
    db: Database,
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
