"""On the real PostgreSQL: a burst of stored batches (one NOTIFY each, sent by the ingestor's
own Store) wakes a subscriber far fewer times than there are NOTIFYs, and a read after its
last wake-up sees the burst's last record (no heartbeat here: only wake-ups read)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import threading
import time

from devstack.testing import filling, migrated_schema, wait_for
from streamsuite_common.db import connect, connect_kwargs
from streamsuite_common.notify import Notifier

BATCHES = 60
DEBOUNCE_S = 0.5  # long beside a batch: without the debounce each batch wakes the subscriber


def test_a_burst_of_notifies_wakes_a_subscriber_far_fewer_times_and_its_last_row_is_read(
    admin_conn, writer_settings, reader_settings
):
    with migrated_schema(admin_conn, writer_settings, reader_settings,
                         prefix="notify_burst") as schema:  # fmt: skip
        reader = dataclasses.replace(reader_settings, schema=schema)
        conn = connect(reader, application_name="notify-burst-read")
        conn.autocommit = True
        listen_kwargs = connect_kwargs(reader, application_name="notify-burst-listen")
        notifier = Notifier(listen_kwargs, schema, debounce_s=DEBOUNCE_S).start()
        seen: list[int] = []  # what each wake-up read: the newest record id
        subscribed = threading.Event()

        def newest() -> int:
            with conn.cursor() as cur:
                cur.execute("SELECT coalesce(max(id), 0) FROM records")
                return cur.fetchone()[0]

        async def subscriber() -> None:
            # What a stream does: wait for a wake-up, clear it, read.
            wake = notifier.subscribe()
            subscribed.set()
            while not notifier.stopping:
                await wake.wait()
                wake.clear()
                seen.append(await asyncio.to_thread(newest))

        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_until_complete, args=(subscriber(),),
                                  daemon=True)  # fmt: skip
        try:
            assert notifier.listening.wait(10), "the listener did not connect"
            thread.start()
            assert subscribed.wait(10)
            with filling(writer_settings, schema, application_name="notify-burst") as filler:
                began = time.monotonic()
                ids = [filler.add({"batch": n})[0] for n in range(BATCHES)]
                burst_s = time.monotonic() - began
            wait_for(lambda: seen and seen[-1] == ids[-1], what="a read of the last record",
                     timeout_s=30)  # fmt: skip
            # At most one wake at the burst's start, one per interval, one after its end.
            assert len(seen) <= 2 + math.ceil(burst_s / DEBOUNCE_S), (len(seen), burst_s)
        finally:
            notifier.stop()
            thread.join(timeout=10)
            loop.close()
            conn.close()
