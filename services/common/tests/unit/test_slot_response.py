"""slot_response: an event stream gives its slot back however it ends, driven as plain ASGI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from starlette.requests import ClientDisconnect

from streamsuite_common.slot_response import EVENT_STREAM_HEADERS, event_stream
from streamsuite_common.stream_slots import StreamSlots

SCOPE_24 = {"type": "http", "asgi": {"spec_version": "2.4"}}


class Body:
    """An event generator that says whether it ran and was closed."""

    def __init__(self, events: list[bytes], fail: bool = False, endless: bool = False):
        self.events, self.fail, self.endless = events, fail, endless
        self.started = self.closed = False

    async def __call__(self) -> AsyncIterator[bytes]:
        self.started = True
        try:
            for event in self.events:
                yield event
            if self.fail:
                raise RuntimeError("the database went away")
            while self.endless:
                await asyncio.sleep(0)
                yield b": heartbeat\n\n"
        finally:
            self.closed = True


async def never_disconnects() -> dict:
    await asyncio.Event().wait()
    return {}


def run(slots: StreamSlots, body: Body, send, scope=SCOPE_24, receive=never_disconnects):
    slot = slots.take()
    assert slot is not None
    assert slots.in_use == 1
    response = event_stream(slot, body())
    asyncio.run(response(scope, receive, send))


def test_the_slot_is_given_back_after_the_stream_was_sent():
    slots, body, sent = StreamSlots(1), Body([b"data: 1\n\n"]), []

    async def send(message):
        sent.append(message)

    run(slots, body, send)
    assert slots.in_use == 0
    assert body.closed
    start = sent[0]
    assert start["type"] == "http.response.start"
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"].startswith(b"text/event-stream")
    assert headers[b"cache-control"] == EVENT_STREAM_HEADERS["Cache-Control"].encode()
    assert [m.get("body") for m in sent[1:]] == [b"data: 1\n\n", b""]


def test_the_slot_is_given_back_when_the_client_left_before_the_body_started():
    slots, body = StreamSlots(1), Body([b"data: 1\n\n"])

    async def send(message):
        raise OSError("connection reset")

    with pytest.raises(ClientDisconnect):
        run(slots, body, send)
    assert slots.in_use == 0
    assert not body.started  # a generator that never ran has no finally of its own


def test_the_slot_is_given_back_when_the_body_fails():
    slots, body = StreamSlots(1), Body([b"data: 1\n\n"], fail=True)

    async def send(message):
        pass

    with pytest.raises(RuntimeError, match="database went away"):
        run(slots, body, send)
    assert slots.in_use == 0
    assert body.closed


def test_the_slot_is_given_back_when_the_client_disconnects_mid_stream():
    # ASGI before 2.4: the response listens for http.disconnect beside the endless stream.
    slots, body = StreamSlots(1), Body([b"data: 1\n\n"], endless=True)
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        while len(sent) < 5:
            await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    run(slots, body, send, scope={"type": "http"}, receive=receive)
    assert slots.in_use == 0
    assert body.started
    assert body.closed


def test_the_slot_is_given_back_once_however_often_the_response_ends():
    slots = StreamSlots(2)
    first, second = slots.take(), slots.take()
    assert first is not None
    assert second is not None
    response = event_stream(first, Body([])())

    async def send(message):
        pass

    asyncio.run(response(SCOPE_24, never_disconnects, send))
    first.release()
    assert slots.in_use == 1
