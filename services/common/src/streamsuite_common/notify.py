"""The listener behind the services' Server-Sent Events of new records.

One ``Notifier`` per process keeps a dedicated connection (outside the pool) in ``LISTEN
streamsuite_records`` (the ingestor NOTIFYs once per stored batch, naming its schema) and wakes
every waiting stream. A notification is only a hint: the streams re-read on every heartbeat
too, so a missed one (listener reconnecting) delays a record by a heartbeat, never loses it.

Wake-ups are debounced (``Debounce``): each stored batch NOTIFYs, and every wake costs each
open stream a query, so a burst wakes the streams at once, then at most once per
``debounce_s``; a NOTIFY inside that interval is never dropped, it wakes them at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import select
import threading
import time

import psycopg2
import psycopg2.extensions

from streamsuite_common.logs import get_logger

log = get_logger(__name__)

CHANNEL = "streamsuite_records"
DEBOUNCE_S = 0.05  # a burst costs each stream at most 20 queries a second
POLL_S = 0.5  # how often the listener looks at its stop flag


class Debounce:
    """Leading and trailing edge: the first hit fires at once, hits within ``interval_s`` of
    the last fire are held and fire together when it ends. Pure: the caller passes the time."""

    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self._fired_at = -math.inf
        self._held = False

    def hit(self, now: float) -> bool:
        """A NOTIFY arrived: True if the waiters are to be woken now."""
        if now - self._fired_at >= self.interval_s:
            self._fired_at, self._held = now, False
            return True
        self._held = True
        return False

    def due_in(self, now: float) -> float | None:
        """Seconds until a held hit must fire (0: now); None when nothing is held."""
        if not self._held:
            return None
        return max(0.0, self._fired_at + self.interval_s - now)

    def take_due(self, now: float) -> bool:
        """True (once) when a held hit's time has come: wake the waiters now."""
        if self.due_in(now) != 0.0:
            return False
        self._fired_at, self._held = now, False
        return True


class Notifier:
    """LISTEN in a thread; ``subscribe`` gives an asyncio.Event set on every relevant NOTIFY."""

    def __init__(
        self,
        connect_kwargs: dict,
        schema: str,
        *,
        reconnect_s: float = 1.0,
        debounce_s: float = DEBOUNCE_S,
        thread_name: str = "listen",
    ):
        self._kwargs = connect_kwargs
        self._schema = schema
        self._reconnect_s = reconnect_s
        self._debounce_s = debounce_s
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
        debounce = Debounce(self._debounce_s)
        while not self._stop.is_set():
            held = debounce.due_in(time.monotonic())
            timeout = POLL_S if held is None else min(POLL_S, held)
            if select.select([conn], [], [], timeout) != ([], [], []):
                conn.poll()
                relevant = any(self._relevant(note.payload) for note in conn.notifies)
                conn.notifies.clear()
                if relevant and debounce.hit(time.monotonic()):
                    self.wake_all()
            if debounce.take_due(time.monotonic()):
                self.wake_all()
