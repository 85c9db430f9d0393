"""The streaming response of a bounded event stream (the query API's ``/stream``, the web live
feed): it holds its ``stream_slots`` slot for as long as it runs and gives it back however it
ends: sent, failed, or abandoned before its body started (a generator that never started has no
``finally`` to run, so the response itself releases the slot and closes the body).

It subclasses Starlette's ``StreamingResponse`` because FastAPI passes a handler's return value
through unchanged only when it is a Starlette ``Response``; a plain ASGI callable would be
serialized as JSON. Starlette comes with the ``asgi`` extra (``streamsuite-common[asgi]``), so
the publisher and the ingestor, which serve no HTTP app, do not carry it.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import StreamingResponse

from streamsuite_common.stream_slots import Slot

EVENT_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class SlotStreamingResponse(StreamingResponse):
    """Gives its stream slot back however the response ends, even before its body started."""

    def __init__(self, slot: Slot, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.slot = slot

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()
            await self.body_iterator.aclose()  # type: ignore[attr-defined] - our generator


def event_stream(slot: Slot, body: Any) -> SlotStreamingResponse:
    """A Server-Sent Events response holding ``slot``, not buffered by proxies."""
    return SlotStreamingResponse(
        slot, body, media_type="text/event-stream", headers=EVENT_STREAM_HEADERS
    )
