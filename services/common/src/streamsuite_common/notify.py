"""The listener behind the services' Server-Sent Events of new records.

One ``Notifier`` per process keeps a dedicated connection (outside the pool) in ``LISTEN
streamsuite_records`` (the ingestor NOTIFYs once per stored batch, naming its schema) and wakes
every waiting stream. A notification is only a hint: the streams re-read on every heartbeat
too, so a missed one (listener reconnecting) delays a record by a heartbeat, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import threading

import psycopg2
import psycopg2.extensions

from streamsuite_common.logs import get_logger

log = get_logger(__name__)

CHANNEL = "streamsuite_records"


class Notifier:
    """LISTEN in a thread; ``subscribe`` gives an asyncio.Event set on every relevant NOTIFY."""

    def __init__(
        self,
        connect_kwargs: dict,
        schema: str,
        *,
        reconnect_s: float = 1.0,
        thread_name: str = "listen",
    ):
        self._kwargs = connect_kwargs
        self._schema = schema
        self._reconnect_s = reconnect_s
        self._stop = threading.Event()
        self._closing = threading.Event()  # streams end; the listener may still run
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
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
                self._listen(conn)
            except psycopg2.Error as exc:
                log.warning(
                    "record listener lost its connection",
                    listener=self._thread.name,
                    error=str(exc).strip()[:200],
                )
            finally:
                self.listening.clear()
                if conn is not None:
                    with contextlib.suppress(psycopg2.Error):
                        conn.close()
            self._stop.wait(self._reconnect_s)

    def _listen(self, conn: psycopg2.extensions.connection) -> None:
        while not self._stop.is_set():
            if select.select([conn], [], [], 0.5) == ([], [], []):
                continue
            conn.poll()
            relevant = any(self._relevant(note.payload) for note in conn.notifies)
            conn.notifies.clear()
            if relevant:
                self.wake_all()
