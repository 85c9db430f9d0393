"""A bounded number of open event streams (the query API's `/stream`, the web live feed).

A slot is taken in the same synchronous step as the check, before the handler first awaits:
clients that connect at once each see the count the previous one left, so no more than
``limit`` are ever accepted. The slot is given back exactly once, however the response ends
(sent, failed, or abandoned before its body started). Pure bookkeeping, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable


class StreamSlots:
    def __init__(self, limit: int, on_change: Callable[[int], None] | None = None):
        self.limit = limit
        self.in_use = 0
        self._on_change = on_change

    def take(self) -> Slot | None:
        """A slot, or None when ``limit`` streams are open already."""
        if self.in_use >= self.limit:
            return None
        self._set(self.in_use + 1)
        return Slot(self)

    def _set(self, value: int) -> None:
        self.in_use = value
        if self._on_change is not None:
            self._on_change(value)


class Slot:
    def __init__(self, slots: StreamSlots):
        self._slots: StreamSlots | None = slots

    def release(self) -> None:
        """Give the slot back; later calls do nothing."""
        slots, self._slots = self._slots, None
        if slots is not None:
            slots._set(slots.in_use - 1)
