"""Reading ahead: files are claimed, read and parsed in a thread while the main thread sends
and commits, so Python parses while the broker works.

``ReadAhead`` runs an iterator of items (prepared files) in a thread and cuts them into batches
(transactions). A batch is handed to the consumer as soon as its first item is ready, and the
consumer reads it while it is still being filled: the messages of one file are sent while the
next file is parsed, and the next batch is read while the current one commits. Items come out
in the order they were made. At most ``depth`` batches are alive at once (the one being sent
or committed, the one being filled), so memory and claims stay bounded. An exception in the
thread is raised to the consumer where the next item would have come. ``close()`` stops the
thread and returns every item made that the consumer never took, to be handed back.

The items iterator may yield ``CUT`` to end the batch being filled (the consumer can then send
it whole) without ending the reading: an iterator that waits for more items (files still
arriving) cuts when the consumer comes for the batch, and ends once ``unfinished()`` says
the consumer has nothing left.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from queue import SimpleQueue
from typing import Generic, TypeVar

T = TypeVar("T")


class _Cut:
    def __repr__(self) -> str:
        return "CUT"


CUT = _Cut()  # yielded by the items iterator: the batch being filled ends here


class _End:
    def __init__(self, error: BaseException | None = None):
        self.error = error


class Batch(Generic[T]):
    """One batch, iterated while the reader still fills it; ``taken`` is what was read."""

    def __init__(self) -> None:
        self._queue: SimpleQueue[object] = SimpleQueue()
        self.taken: list[T] = []
        self._ended: _End | None = None

    def _put(self, item: object) -> None:
        self._queue.put(item)

    def __iter__(self) -> Iterator[T]:
        while self._ended is None:
            item = self._queue.get()
            if isinstance(item, _End):
                self._ended = item
                break
            self.taken.append(item)  # type: ignore[arg-type]
            yield item  # type: ignore[misc]
        if self._ended.error is not None:
            raise self._ended.error

    def rest(self) -> list[T]:
        """Every item of the batch: those already taken and the rest, once the batch ends."""
        for _ in self:
            pass
        return self.taken

    def _untaken(self) -> list[T]:
        left = []
        while not self._queue.empty():
            item = self._queue.get()
            if not isinstance(item, _End):
                left.append(item)
        return left


class ReadAhead(Generic[T]):
    def __init__(
        self,
        items: Iterator[T],
        starts_batch: Callable[[T], bool],
        *,
        depth: int = 2,
        stopping: threading.Event | None = None,
        on_wait: Callable[[], None] | None = None,
        name: str = "read-ahead",
    ):
        """``starts_batch(item)`` says whether ``item`` opens a new batch (it is asked for
        every item in order, the first included); ``stopping`` is set by ``close()``, and an
        ``items`` iterator that looks at it stops early; ``on_wait`` is called each time the
        consumer comes for the next batch (to wake an iterator waiting on ``unfinished()``)."""
        self._items = items
        self._starts_batch = starts_batch
        self._room = threading.Semaphore(depth)
        self._batches: SimpleQueue[Batch[T] | _End] = SimpleQueue()
        self._made: list[Batch[T]] = []
        self._done = 0  # batches the consumer is finished with
        self._lock = threading.Lock()
        self._on_wait = on_wait
        self.stopping = stopping or threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        batch: Batch[T] | None = None
        error: BaseException | None = None
        try:
            for item in self._items:
                if isinstance(item, _Cut):
                    if batch is not None:
                        batch._put(_End())
                    batch = None
                    continue
                if self._starts_batch(item) or batch is None:
                    if batch is not None:
                        batch._put(_End())
                    self._room.acquire()  # wait until the consumer is done with one
                    batch = Batch()
                    with self._lock:
                        self._made.append(batch)
                    self._batches.put(batch)
                batch._put(item)
                if self.stopping.is_set():  # the item is handed back by close()
                    break
        except BaseException as exc:  # raised to the consumer in order
            error = exc
        if batch is not None:
            batch._put(_End(error))
        elif error is not None:
            failed: Batch[T] = Batch()
            failed._put(_End(error))
            self._batches.put(failed)
        self._batches.put(_End())

    def __iter__(self) -> Iterator[Batch[T]]:
        while True:
            if self._on_wait is not None:
                self._on_wait()
            batch = self._batches.get()
            if isinstance(batch, _End):
                self._batches.put(batch)  # iterating again ends at once too
                return
            yield batch
            with self._lock:
                self._done += 1
            self._room.release()  # the consumer came back for the next: it is done with it

    def unfinished(self) -> int:
        """How many of the batches made the consumer is not finished with (0: it has nothing
        left; 1: it is at, or comes for, the one being filled)."""
        with self._lock:
            return len(self._made) - self._done

    def close(self, timeout_s: float | None = None) -> list[T]:
        """Stop reading ahead; every item made and never taken by the consumer."""
        self.stopping.set()
        self._room.release()  # wake the thread if it waits for room
        self._thread.join(timeout_s)
        return [item for batch in self._made for item in batch._untaken()]
