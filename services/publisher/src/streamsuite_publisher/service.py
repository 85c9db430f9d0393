"""The publisher's loop: scan, wait for stable files, claim a batch, read and parse it, publish
it in one transaction, then move each file to processed/ or error/.

Nothing counts as published before Kafka confirmed the transaction. A Kafka outage holds the
batch (files stay claimed) and retries with backoff until it goes through or the service is
asked to stop, when the claims are handed back to the inbox. A batch the broker cannot take as
one transaction (a record it refuses, a transaction that outlives its timeout) is split in two
until the file at fault is alone; that file is refused, never retried forever.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka.errors import KafkaError

from streamsuite_common.contract import utc_now
from streamsuite_common.kafka import KafkaUnavailable
from streamsuite_common.logs import get_logger
from streamsuite_common.publishing.formats import Limits, ParseResult, Refusal, parse_file
from streamsuite_common.publishing.messages import (
    OutMessage,
    dead_letter,
    file_messages,
    refusal_report,
    sha256_hex,
)
from streamsuite_common.publishing.producer import (
    RECORD_REJECTIONS,
    TransactionalPublisher,
    TransactionTooLong,
)
from streamsuite_common.retry import backoff_delays
from streamsuite_common.shutdown import Shutdown
from streamsuite_publisher import metrics
from streamsuite_publisher.ahead import CUT, ReadAhead
from streamsuite_publisher.arrival import MOVED_IN, StabilityTracker
from streamsuite_publisher.config import PublisherConfig
from streamsuite_publisher.split import split_in_two
from streamsuite_publisher.spool import (
    DONE_MARKS,
    ChangedFile,
    Claim,
    RefusedFile,
    Spool,
    UnclaimableFile,
    name_is_utf8,
    source_text,
)
from streamsuite_publisher.watcher import InboxWatcher

log = get_logger(__name__)

ORIGIN = "publisher"  # the dead letters' origin

# A file alone whose transaction outlived its timeout this many times in a row, the broker
# taking part of it each time, is more than the broker takes in one transaction: refused.
TOO_LONG_ATTEMPTS = 2
# Per message beside its key and value (headers, record overhead): splitting a batch weighs
# documents as well as bytes.
MESSAGE_OVERHEAD_BYTES = 100
# A file that could not be claimed (no permission, name too long, …) is tried again after this
# long, or as soon as it changes: never in a hot loop.
UNCLAIMABLE_RETRY_S = 60.0
Signature = tuple[int, int]  # (size, mtime_ns)


@dataclass
class Prepared:
    """One claimed file, read and parsed, with the messages that carry it."""

    claim: Claim
    sha256: str | None
    parsed: ParseResult
    messages: list[OutMessage]
    size: int
    modified_at: float | None
    refused_at_publish: bool = False  # its messages are its dead letter now

    @property
    def message_bytes(self) -> int:
        return sum(len(m.key) + len(m.value) for m in self.messages)

    @property
    def weight(self) -> int:
        return self.message_bytes + MESSAGE_OVERHEAD_BYTES * len(self.messages)


class BatchCutter:
    """Whether a file opens a new transaction: the current one would exceed the files, bytes
    or documents of one (a file is never split). ``reset``: the current one was cut."""

    def __init__(self, limits: Any):
        self._limits = limits
        self.reset()

    def reset(self) -> None:
        self._files = self._size = self._documents = 0

    def __call__(self, item: Prepared) -> bool:
        limits = self._limits
        item_size, item_documents = item.message_bytes, len(item.messages)
        new = self._files > 0 and (
            self._files >= limits.batch_files
            or self._size + item_size > limits.batch_bytes
            or self._documents + item_documents > limits.batch_documents
        )
        if new:
            self.reset()
        self._files += 1
        self._size += item_size
        self._documents += item_documents
        return new


class Heartbeat:
    """Touches our claim's heartbeat from its own thread, so a long read, parse or publish
    never lets another publisher take our claims as abandoned."""

    def __init__(self, spool: Spool, interval_s: float):
        self._spool = spool
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="claim-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._spool.heartbeat()
            except OSError as exc:  # a full or flaky disk: say so, keep trying
                log.warning("claim heartbeat failed", error=str(exc))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class PublisherService:
    def __init__(
        self,
        config: PublisherConfig,
        spool: Spool,
        publisher: TransactionalPublisher,
        shutdown: Shutdown,
    ):
        self.config = config
        self.settings = config.publisher
        self.spool = spool
        self.publisher = publisher
        self.shutdown = shutdown
        self.limits = Limits(
            max_document_bytes=self.settings.max_document_bytes,
            max_depth=self.settings.max_depth,
            max_yaml_nodes=self.settings.max_yaml_nodes,
            max_documents=self.settings.batch_documents,
        )
        self.tracker = StabilityTracker(self.settings.stable_s)
        self.watcher: InboxWatcher | None = None
        # relpath → the (size, mtime_ns) that made it ready, checked again after the read
        self.ready_as: dict[str, Signature] = {}
        self.wake = threading.Event()
        shutdown.on_request(self.wake.set)  # a stop must not wait for the next rescan
        self.last_tick = time.monotonic()
        self._last_housekeeping = 0.0
        # relpath → (signature, retry after): files that could not be claimed
        self.unclaimable: dict[str, tuple[Signature, float]] = {}
        # committed files that could not be moved out of processing/ (disk full, …)
        self.unfinished: list[Prepared] = []

    # --- liveness: the loop keeps ticking unless it is stuck ---

    def alive(self) -> bool:
        limit = max(300.0, 10 * self.settings.rescan_s)
        return time.monotonic() - self.last_tick < limit

    def run(self, *, once: bool = False) -> None:
        """Publish until shutdown; with ``once``, until the inbox has nothing left to publish."""
        self.spool.prepare()
        self._housekeeping(force=True)
        heartbeat = Heartbeat(self.spool, self.settings.claim_timeout_s / 3)
        if not once:  # how files arrive (renamed in, written in place) and early wake-ups
            self.watcher = InboxWatcher(self.spool.root, self.wake, self.shutdown.event).start()
        try:
            self._loop(once)
        finally:
            heartbeat.stop()
            if self.watcher is not None:
                self.watcher.join()

    def _loop(self, once: bool) -> None:
        while not self.shutdown.requested:
            self.last_tick = time.monotonic()
            if self.watcher is not None:  # before the scan: events older than what it sees
                for relpath, event, at in self.watcher.drain():
                    self.tracker.note(relpath, event, at)
            observed = self.spool.scan()
            metrics.observe_inbox(mtime_ns for _size, mtime_ns in observed.values())
            observed = self._without_unclaimable(observed)
            ready = self.tracker.update(observed, time.monotonic())
            self.ready_as = {relpath: observed[relpath] for relpath in ready}
            if once and not observed:
                return
            published = self.process(ready)
            self._retry_unfinished()
            self._housekeeping()
            if ready or published:
                continue  # more may have become ready while we published
            due = self.tracker.next_due(time.monotonic())
            timeout = self.settings.rescan_s if due is None else min(due, self.settings.rescan_s)
            self.wake.wait(timeout)
            self.wake.clear()

    def _without_unclaimable(self, observed: dict[str, Signature]) -> dict[str, Signature]:
        """Leave out the files that could not be claimed, until they change or their retry is
        due."""
        now = time.monotonic()
        for relpath, (signature, retry_at) in list(self.unclaimable.items()):
            if observed.get(relpath) != signature or now >= retry_at:
                del self.unclaimable[relpath]
        return {path: sig for path, sig in observed.items() if path not in self.unclaimable}

    def _retry_unfinished(self) -> None:
        for item in list(self.unfinished):
            self.unfinished.remove(item)
            self.finish(item)

    def _housekeeping(self, force: bool = False) -> None:
        """Heartbeat our claims and take back those of dead publishers, now and then."""
        interval = self.settings.claim_timeout_s / 3
        if not force and time.monotonic() - self._last_housekeeping < interval:
            return
        self._last_housekeeping = time.monotonic()
        try:
            self.spool.heartbeat()
            recovered = self.spool.recover_stale(self.settings.claim_timeout_s)
        except OSError as exc:  # a full or flaky disk: say so, try again next time
            log.error("claim housekeeping failed; will retry", error=str(exc))
            return
        for relpath in recovered:
            log.warning("recovered a file claimed by a publisher that died",
                        source=source_text(relpath))  # fmt: skip

    # --- one batch ---

    def process(self, relpaths: list[str]) -> bool:
        """Claim, read and publish files, in transactions bounded by files, bytes and
        documents. Files are claimed, read and parsed in a thread (ahead.py): the next batch is
        read while the current one is sent and committed. A batch is sent once it is read
        whole, so parsing never stretches an open transaction towards its timeout. Batches are
        published one at a time in the order their files were claimed, at most two alive (and
        claimed) at once. Files renamed in while a batch is published join the next one (see
        ``_arrivals``). A stop hands back what was not published. Whether any batch was."""
        stop = threading.Event()
        cutter = BatchCutter(self.settings)
        ahead: ReadAhead[Prepared] | None = None

        def unfinished() -> int:  # batches made that the publishing thread is not done with
            return 2 if ahead is None else ahead.unfinished()

        items = self._prepared(relpaths, stop, unfinished, cutter)
        ahead = ReadAhead(items, cutter, stopping=stop, on_wait=self.wake.set)
        published = False
        try:
            for batch in ahead:
                if self.shutdown.requested:
                    self._release(batch.rest())
                    break
                self.publish(batch.rest())  # read whole: see above
                published = True
                self.last_tick = time.monotonic()
        finally:
            stop.set()
            self.wake.set()  # the read-ahead may wait for arrivals
            left = ahead.close()
            if left:
                self._release(left)
        return published

    def _prepared(
        self,
        relpaths: list[str],
        stop: threading.Event,
        unfinished: Callable[[], int],
        cutter: BatchCutter,
    ) -> Iterator[Prepared | object]:
        """The files claimed and read, in order, then those renamed in meanwhile (runs in the
        read-ahead thread)."""
        yield from self._claimed(relpaths, stop)
        if self.watcher is not None:
            yield from self._arrivals(stop, unfinished, cutter)

    def _arrivals(
        self, stop: threading.Event, unfinished: Callable[[], int], cutter: BatchCutter
    ) -> Iterator[Prepared | object]:
        """Files renamed in (complete at once) while a batch is published are claimed and read
        into the next batch, which is cut as soon as the publishing thread comes for it (never
        held back to take more) instead of waiting for the next scan. This ends once nothing
        is being published, or after a rescan interval or when a file written in place is
        due, so that the scan and the stability window still get their turn under a steady
        stream of renames; files renamed in and not taken by then are left to the scan."""
        until = time.monotonic() + self.settings.rescan_s
        filling = True  # the batch being filled may hold items
        pending: collections.deque[str] = collections.deque()
        while not (stop.is_set() or self.shutdown.requested):
            for relpath in self._renamed_in():
                self.tracker.forget(relpath)  # ours to take, noted again if we leave it
                pending.append(relpath)
            busy = unfinished()
            if filling and busy <= 1:  # the publishing thread waits for this batch: cut it
                cutter.reset()
                yield CUT
                filling = False
                continue
            now = time.monotonic()
            due = self.tracker.next_due(now)
            left = min(until - now, self.settings.rescan_s if due is None else due)
            if left > 0 and pending:
                relpath = pending.popleft()
                if not self.tracker.watching(relpath):  # else an event since said more: the
                    yield from self._claimed([relpath], stop)  # tracker decides, at a scan
                    filling = True
                continue
            if busy == 0 or left <= 0:
                break
            self.wake.wait(left)  # an arrival, or the publishing thread done with a batch
            self.wake.clear()
        for relpath in pending:  # renamed in: complete, the next scan takes them at once
            if not self.tracker.watching(relpath):
                self.tracker.note(relpath, MOVED_IN, time.monotonic())

    def _renamed_in(self) -> list[str]:
        """The watcher's events since the last look, noted; the files renamed in among them."""
        assert self.watcher is not None
        moved = []
        for relpath, event, at in self.watcher.drain():
            self.tracker.note(relpath, event, at)
            if event == MOVED_IN:
                moved.append(relpath)
        return [
            path for path in dict.fromkeys(moved)
            if self.tracker.arrived(path) and path not in self.unclaimable
        ]  # fmt: skip

    def _claimed(self, relpaths: list[str], stop: threading.Event) -> Iterator[Prepared]:
        """The files claimed and read, in order."""
        for relpath in relpaths:
            if stop.is_set() or self.shutdown.requested:
                return
            self.tracker.forget(relpath)
            claim = self._claim(relpath)
            if claim is None:  # another publisher took it first, or it cannot be taken
                continue
            try:
                item = self.prepare(claim)
            except ChangedFile as exc:
                self._changed(claim, exc)
                continue
            self.last_tick = time.monotonic()
            yield item

    def _claim(self, relpath: str) -> Claim | None:
        try:
            return self.spool.claim(relpath, self.ready_as.get(relpath))
        except UnclaimableFile as exc:
            signature = self.spool.signature(relpath)
            if signature is not None:
                retry_at = time.monotonic() + UNCLAIMABLE_RETRY_S
                self.unclaimable[relpath] = (signature, retry_at)
            metrics.REFUSALS.labels(f"unclaimable-{exc.reason.lower()}").inc()
            log.warning(
                "file cannot be claimed; left in the inbox", source=source_text(relpath),
                reason=exc.reason, detail=exc.detail, retry_in_s=UNCLAIMABLE_RETRY_S,
            )  # fmt: skip
            return None

    def _changed(self, claim: Claim, exc: ChangedFile) -> None:
        """Its writer is still at it: put it back, neither published nor refused, and wait
        for it to hold still again."""
        log.warning("file changed while it was read; put back to wait until it is complete",
                    source=claim.source, detail=str(exc))  # fmt: skip
        try:
            self.spool.release(claim)
        except OSError as release_exc:  # it stays claimed; recovery hands it back later
            log.error("could not hand a file back to the inbox", source=claim.source,
                      error=str(release_exc))  # fmt: skip
        self.tracker.released(claim.relpath, time.monotonic())

    def prepare(self, claim: Claim) -> Prepared:
        now = utc_now()
        try:
            modified_at = claim.path.lstat().st_mtime
        except OSError:
            modified_at = None
        if not name_is_utf8(claim.relpath):
            # Its name cannot be a Kafka key or a `source`: refused, named by its escaped form.
            refusal = Refusal("name-not-utf8", f"the file name is not UTF-8: {claim.source}", b"")
            return self._unread(claim, refusal, now, modified_at)
        limit = min(self.settings.max_file_bytes, self.settings.batch_bytes)
        try:
            data = self.spool.read(claim, limit)
        except RefusedFile as exc:
            return self._unread(claim, Refusal(exc.reason, exc.detail, b""), now, modified_at)
        sha256 = sha256_hex(data)
        try:
            parsed = parse_file(claim.relpath, data, self.limits)
        except Exception as exc:  # a parser bug must cost one file, never the service
            log.exception("parser failed", source=claim.source)
            refusal = Refusal("internal-error", f"the parser failed: {exc!r}", data)
            parsed = ParseResult(file_refusal=refusal)
        messages = file_messages(
            origin=ORIGIN,
            source=claim.source,
            sha256=sha256,
            parsed=parsed,
            topic=self.config.kafka.topic,
            dlq_topic=self.config.kafka.dlq_topic,
            produced_at=now,
        )
        item = Prepared(claim, sha256, parsed, messages, len(data), modified_at)
        if item.message_bytes > self.settings.batch_bytes:
            # YAML made bigger as JSON, or dead letters carrying their raw bytes: too much for
            # one transaction, and a file is never split (its documents commit together).
            refusal = Refusal(
                "too-large-for-transaction",
                f"its messages take {item.message_bytes:,} bytes, over the transaction limit "
                f"of {self.settings.batch_bytes:,} (PUBLISHER.BATCH_BYTES)",
                b"",
            )
            return self._unread(claim, refusal, now, modified_at, sha256=sha256)
        return item

    def _unread(
        self,
        claim: Claim,
        refusal: Refusal,
        now: datetime,
        modified_at: float | None,
        sha256: str | None = None,
    ) -> Prepared:
        """A file refused as a whole before its documents were made: one dead letter."""
        letter = dead_letter(
            refusal, origin=ORIGIN, source=claim.source, sha256=sha256, stage="read", at=now
        )
        key, value, headers = letter.to_message()
        message = OutMessage(self.config.kafka.dlq_topic, key, value, headers)
        parsed = ParseResult(file_refusal=refusal)
        return Prepared(claim, sha256, parsed, [message], 0, modified_at)

    def publish(self, batch: list[Prepared]) -> None:
        """One transaction, retried with backoff while Kafka is away (never refused for that).
        A batch the broker cannot take (it refuses a record, or the transaction outlives its
        timeout while the broker takes part of it) is split in two by weight and each half
        published on its own, down to one file; a file the broker still cannot take is refused
        (error/ and a dead letter) and the publisher moves on."""
        delays = backoff_delays(cap=30)
        too_long = 0
        while True:
            if self.shutdown.requested:  # a half of a split batch: not begun
                self._release(batch)
                return
            started = time.monotonic()
            try:
                self.publisher.publish([message for item in batch for message in item.messages])
                metrics.PUBLISH_SECONDS.observe(time.monotonic() - started)
                metrics.LAST_PUBLISH.set_to_current_time()
                break
            except (KafkaError, KafkaUnavailable, OSError) as exc:
                # Waiting out an outage is not being stuck: liveness must not restart us for it.
                self.last_tick = time.monotonic()
                progressed = isinstance(exc, TransactionTooLong) and exc.acknowledged > 0
                if isinstance(exc, RECORD_REJECTIONS) or progressed:
                    if len(batch) > 1:
                        self._split(batch, exc)
                        return
                    if isinstance(exc, RECORD_REJECTIONS):
                        detail = f"the broker refused the file's messages: {exc!r}"
                        self._refuse_at_publish(batch[0], "kafka-rejected", detail)
                        return
                    too_long += 1
                    if too_long >= TOO_LONG_ATTEMPTS:
                        self._refuse_at_publish(batch[0], "transaction-timeout", (
                            f"its transaction could not be committed within the transaction "
                            f"timeout of {self.settings.transaction_timeout_s:g} s "
                            f"(PUBLISHER.TRANSACTION_TIMEOUT_S), {too_long} times in a row, "
                            f"the broker taking part of it each time: {exc}"
                        ))  # fmt: skip
                        return
                else:
                    too_long = 0
                # Anything else (broker away, a fenced or broken producer, …) is not the data's
                # fault: the producer is rebuilt and the batch retried, never refused.
                metrics.KAFKA_RETRIES.inc()
                wait = next(delays)
                log.warning(
                    "kafka publish failed; will retry", error=repr(exc), files=len(batch),
                    retry_in_s=wait,
                )  # fmt: skip
                if self.shutdown.wait(wait):
                    self._release(batch)
                    return
                self.last_tick = time.monotonic()
        for item in batch:
            self.finish(item)

    def _split(self, batch: list[Prepared], exc: Exception) -> None:
        """Publish a batch the broker could not take as one transaction in two halves."""
        first, second = split_in_two(batch, lambda item: item.weight)
        log.warning(
            "the broker could not take the batch in one transaction; publishing it in two",
            error=repr(exc), files=len(batch), first=len(first), second=len(second),
        )  # fmt: skip
        self.publish(first)
        self.publish(second)

    def _release(self, batch: list[Prepared]) -> None:
        for item in batch:
            try:
                self.spool.release(item.claim)
            except OSError as exc:  # it stays claimed; recovery hands it back later
                log.error("could not hand a file back to the inbox", source=item.claim.source,
                          error=str(exc))  # fmt: skip
        log.info("handed unpublished files back to the inbox", files=len(batch))

    def _refuse_at_publish(self, item: Prepared, reason: str, detail: str) -> None:
        """A file the broker cannot take: refused, its messages replaced by its dead letter,
        which is published like any batch (retried while Kafka is away)."""
        if item.refused_at_publish:  # not even its dead letter could be sent
            log.error("could not send the dead letter of a refused file", source=item.claim.source,
                      reason=item.parsed.file_refusal and item.parsed.file_refusal.reason,
                      error=detail)  # fmt: skip
            self.finish(item)
            return
        refusal = Refusal(reason, detail, b"")
        letter = dead_letter(
            refusal, origin=ORIGIN, source=item.claim.source, sha256=item.sha256,
            stage="publish", at=utc_now(),
        )  # fmt: skip
        key, value, headers = letter.to_message()
        item.parsed = ParseResult(file_refusal=refusal)
        item.messages = [OutMessage(self.config.kafka.dlq_topic, key, value, headers)]
        item.refused_at_publish = True
        self.publish([item])

    def finish(self, item: Prepared) -> None:
        """After the commit: move the file where it belongs, count it, say it."""
        try:
            self._finish(item)
        except FileNotFoundError:
            # Another publisher took the claim back (we looked dead); it publishes the file
            # again, and the record identity makes that harmless.
            log.error("claimed file was taken back before it was finished",
                      source=item.claim.source)  # fmt: skip
        except OSError as exc:
            # Committed, but it cannot be moved on (disk full, …): it stays in our claim, kept
            # alive by the heartbeat, marked as committed so that no restart publishes it
            # again, and the move is retried each pass.
            if item.claim.path.name.endswith(tuple(DONE_MARKS)):
                pass  # marked on an earlier try
            else:
                with contextlib.suppress(OSError):
                    published = item.parsed.file_refusal is None
                    item.claim = self.spool.mark_done(item.claim, published=published)
            self.unfinished.append(item)
            log.error("committed file could not be moved out of processing/; will retry",
                      source=item.claim.source, error=str(exc))  # fmt: skip

    def _finish(self, item: Prepared) -> None:
        source, parsed, now = item.claim.source, item.parsed, utc_now()
        context = {"source": source, "sha256": item.sha256}
        if parsed.file_refusal is not None:
            refusal = parsed.file_refusal
            report = refusal_report(
                source=source, sha256=item.sha256, refusals=[refusal], at=now, published=0
            )
            self.spool.finish_refused(item.claim, report)
            metrics.FILES.labels("refused").inc()
            metrics.REFUSALS.labels(refusal.reason).inc()
            log.warning("file refused", reason=refusal.reason, detail=refusal.detail, **context)
            return
        report = None
        if parsed.refusals:
            report = refusal_report(
                source=source, sha256=item.sha256, refusals=list(parsed.refusals), at=now,
                published=len(parsed.documents),
            )  # fmt: skip
            for refusal in parsed.refusals:
                metrics.REFUSALS.labels(refusal.reason).inc()
                log.warning(
                    "document refused", reason=refusal.reason, detail=refusal.detail,
                    doc_index=refusal.index, **context,
                )  # fmt: skip
        self.spool.finish_published(item.claim, report)
        metrics.FILES.labels("partial" if parsed.refusals else "published").inc()
        metrics.DOCUMENTS.labels("published").inc(len(parsed.documents))
        metrics.DOCUMENTS.labels("refused").inc(len(parsed.refusals))
        metrics.BYTES.inc(item.size)
        if item.modified_at is not None:
            metrics.FILE_LATENCY_SECONDS.observe(max(0.0, time.time() - item.modified_at))
        log.info("file published", documents=len(parsed.documents), **context)


def inbox_check(spool: Spool) -> None:
    """Readiness: the inbox exists and we may write in it (claims are renames)."""
    if not spool.root.is_dir():
        raise ConnectionError(f"inbox {spool.root} does not exist")
    if not os.access(spool.root, os.W_OK | os.X_OK):
        raise ConnectionError(f"inbox {spool.root} is not writable")
