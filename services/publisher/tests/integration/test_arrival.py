"""A file still being written is never published in part: renamed in, it goes at once; written
in place, not before its writer closed it; changed while it was read, it is put back and
published whole later. Real inotify, real broker."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from devstack.testing import wait_for
from streamsuite_common.config import load_config
from streamsuite_common.publishing.messages import OutMessage
from streamsuite_common.publishing.producer import TransactionalPublisher
from streamsuite_common.shutdown import Shutdown
from streamsuite_publisher.arrival import APPEARED, CLOSED, MOVED_IN, WRITING
from streamsuite_publisher.config import DEFAULTS, PublisherConfig
from streamsuite_publisher.service import PublisherService
from streamsuite_publisher.spool import ChangedFile, Claim, Spool
from streamsuite_publisher.watcher import InboxWatcher

from .test_publisher_kafka import config_tree, files_under, read_topic


@pytest.fixture
def topics(make_topic):
    return make_topic("records", partitions=1), make_topic("dlq", partitions=1)


@pytest.fixture
def inbox(tmp_path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


class Running:
    """A publisher service in a thread of this process, its inbox watched before it returns."""

    def __init__(
        self,
        tree: dict,
        inbox: Path,
        spool: Spool | None = None,
        publisher: Callable[..., TransactionalPublisher] = TransactionalPublisher,
    ):
        tree = {**tree, "PUBLISHER": {**tree["PUBLISHER"], "INBOX": str(inbox)}}
        cfg = load_config(PublisherConfig, tree, {}, DEFAULTS)
        self.shutdown = Shutdown()
        self.spool = spool or Spool(inbox)
        self.publisher = publisher(cfg.kafka, f"test-{self.spool.owner}", self.shutdown.event)
        self.service = PublisherService(cfg, self.spool, self.publisher, self.shutdown)
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        wait_for(self._watching, what="the inbox watched")

    def _watching(self) -> bool:
        watcher = self.service.watcher
        return watcher is not None and watcher.active.is_set()

    def _run(self) -> None:
        try:
            self.service.run()
        except BaseException as exc:  # the test asserts there is none
            self.errors.append(exc)
        finally:
            self.publisher.close()

    def stop(self) -> None:
        self.shutdown.request()
        self.thread.join(60)
        assert not self.thread.is_alive()
        assert self.errors == []


def test_a_file_renamed_in_is_published_without_waiting_for_the_stability_window(
    kafka_settings, topics, inbox, tmp_path
):
    topic, dlq = topics
    # An hour of stability window: only the rename can say the file is complete.
    running = Running(config_tree(kafka_settings, topic, dlq, STABLE_S=3600), inbox)
    try:
        staged = tmp_path / "renamed.json"
        staged.write_text('{"arrived": "by rename"}')
        os.rename(staged, inbox / "renamed.json")
        wait_for((inbox / "processed" / "renamed.json").is_file, what="the renamed-in file",
                 timeout_s=30)  # fmt: skip
    finally:
        running.stop()
    assert [m.json for m in read_topic(kafka_settings, topic)] == [{"arrived": "by rename"}]


class RenamesOneInWhilePublishing(TransactionalPublisher):
    """A real transactional publisher that records each transaction's files. In its first
    transaction it renames ``late.json`` into the inbox and holds the transaction open until
    that file is claimed: only a publisher that takes arrivals while it publishes, rather
    than at its next scan, gets past this."""

    def __init__(self, *args, inbox: Path, staged: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.inbox, self.staged = inbox, staged
        self.transactions: list[list[str]] = []

    def publish(self, messages: Iterable[OutMessage]) -> None:
        messages = list(messages)
        if not self.transactions:
            os.rename(self.staged, self.inbox / "late.json")
            wait_for(lambda: files_under(self.inbox / "processing", "late.json"), timeout_s=30,
                     what="late.json claimed while the first transaction is open")  # fmt: skip
        super().publish(messages)
        self.transactions.append(sorted({m.key.decode() for m in messages}))


def test_a_file_renamed_in_during_a_publish_goes_into_the_next_transaction(
    kafka_settings, topics, inbox, tmp_path
):
    topic, dlq = topics
    staged = tmp_path / "late.json"
    staged.write_text('{"arrived": "while publishing"}')
    publishers: list[RenamesOneInWhilePublishing] = []

    def publisher(*args, **kwargs) -> RenamesOneInWhilePublishing:
        publishers.append(RenamesOneInWhilePublishing(*args, inbox=inbox, staged=staged, **kwargs))
        return publishers[-1]

    # An hour between rescans: the rename event alone can bring the late file in.
    tree = config_tree(kafka_settings, topic, dlq, STABLE_S=3600, RESCAN_S=3600)
    running = Running(tree, inbox, publisher=publisher)
    try:
        (tmp_path / "first.json").write_text('{"arrived": "first"}')
        os.rename(tmp_path / "first.json", inbox / "first.json")
        wait_for((inbox / "processed" / "late.json").is_file, what="the late file published",
                 timeout_s=30)  # fmt: skip
    finally:
        running.stop()
    assert publishers[0].transactions == [["first.json"], ["late.json"]]
    assert [m.json for m in read_topic(kafka_settings, topic)] == [
        {"arrived": "first"}, {"arrived": "while publishing"},
    ]  # fmt: skip


def test_a_file_written_in_place_is_not_taken_before_its_writer_closes_it(
    kafka_settings, topics, inbox
):
    topic, dlq = topics
    running = Running(config_tree(kafka_settings, topic, dlq, STABLE_S=0.3), inbox)
    try:
        with (inbox / "open.jsonl").open("wb") as writer:
            writer.write(b'{"line": 1}\n')
            writer.flush()
            # Written and closed after the open file's last write: by the time it is
            # published, the open file held still for longer than the stability window.
            (inbox / "sentinel.json").write_text('{"sentinel": true}')
            wait_for((inbox / "processed" / "sentinel.json").is_file, what="the sentinel")
            assert not (inbox / "processed" / "open.jsonl").exists(), "taken while open"
            assert (inbox / "open.jsonl").is_file()
            writer.write(b'{"line": 2}\n')
        wait_for((inbox / "processed" / "open.jsonl").is_file, what="the closed file")
    finally:
        running.stop()
    messages = [m for m in read_topic(kafka_settings, topic) if m.key == "open.jsonl"]
    assert [m.json for m in messages] == [{"line": 1}, {"line": 2}]
    assert read_topic(kafka_settings, dlq) == []


class WriterAtWork(Spool):
    """Plays a writer that appends just after the file looked complete: the first read of
    ``growing.jsonl`` finds half a line more than the scan saw, and the writer finishes that
    line once the file is back in the inbox."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.interrupted = False

    def read(self, claim: Claim, max_bytes: int) -> bytes:
        if claim.relpath == "growing.jsonl" and not self.interrupted:
            self.interrupted = True
            with claim.path.open("ab") as writer:
                writer.write(b'{"n": 3, "te')
        return super().read(claim, max_bytes)

    def release(self, claim: Claim) -> None:
        super().release(claim)
        if claim.relpath == "growing.jsonl":
            with (self.root / claim.relpath).open("ab") as writer:
                writer.write(b'xt": "c"}\n')


def test_a_file_that_changes_while_it_is_read_is_put_back_and_published_whole(
    kafka_settings, topics, inbox
):
    topic, dlq = topics
    spool = WriterAtWork(inbox)
    running = Running(config_tree(kafka_settings, topic, dlq, STABLE_S=0.3), inbox, spool)
    try:
        (inbox / "growing.jsonl").write_bytes(b'{"n": 1}\n{"n": 2}\n')
        wait_for((inbox / "processed" / "growing.jsonl").is_file, what="the grown file")
    finally:
        running.stop()
    assert spool.interrupted
    assert [m.json for m in read_topic(kafka_settings, topic)] == [
        {"n": 1}, {"n": 2}, {"n": 3, "text": "c"},
    ]  # fmt: skip
    assert read_topic(kafka_settings, dlq) == []
    assert files_under(inbox / "error") == []


# --- the pieces, without Kafka ---


def test_read_refuses_bytes_whose_descriptor_no_longer_matches_what_looked_complete(tmp_path):
    spool = Spool(tmp_path)
    spool.prepare()
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"n": 1}\n')
    st = path.stat()
    claim = spool.claim("a.jsonl", (st.st_size, st.st_mtime_ns))
    assert claim is not None
    assert spool.read(claim, 1000) == b'{"n": 1}\n'
    with claim.path.open("ab") as writer:
        writer.write(b'{"n": 2')
    with pytest.raises(ChangedFile):
        spool.read(claim, 1000)


def _events(watcher: InboxWatcher, count: int) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []

    def enough() -> bool:
        seen.extend((path, event) for path, event, _ in watcher.drain())
        return len(seen) >= count

    wait_for(enough, what=f"{count} inbox events", timeout_s=10, interval_s=0.02)
    return seen


def _drained(watcher: InboxWatcher, seen: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen.extend((path, event) for path, event, _ in watcher.drain())
    return seen


@pytest.fixture
def watcher(tmp_path):
    stop, wake = threading.Event(), threading.Event()
    (tmp_path / "inbox" / "processing").mkdir(parents=True)
    watcher = InboxWatcher(tmp_path / "inbox", wake, stop).start()
    assert watcher.active.is_set()
    yield watcher
    stop.set()
    watcher.join()


def test_the_watcher_tells_renamed_in_from_written_in_place(watcher, tmp_path):
    inbox = tmp_path / "inbox"
    (tmp_path / "staged.json").write_text("{}")
    os.rename(tmp_path / "staged.json", inbox / "moved.json")
    assert _events(watcher, 1) == [("moved.json", MOVED_IN)]
    with (inbox / "in-place.json").open("w") as writer:
        writer.write("{}")
    events = _events(watcher, 3)
    assert events[0] == ("in-place.json", WRITING)
    assert events[-1] == ("in-place.json", CLOSED)


def test_the_watcher_sees_files_in_new_subdirectories_but_not_in_the_spools_own(watcher, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "processing" / "claimed.json").write_text("{}")
    (inbox / "new" / "deeper").mkdir(parents=True)
    # The subdirectory is watched once its creation event was handled: a rename into it is
    # then seen (one made before that is found by the rescan and the stability window).
    wait_for(lambda: "new/deeper/" in watcher._dirs.values(), what="the new directory watched",
             timeout_s=10, interval_s=0.01)  # fmt: skip
    (tmp_path / "staged.json").write_text("{}")
    os.rename(tmp_path / "staged.json", inbox / "new" / "deeper" / "x.json")
    assert _events(watcher, 1) == [("new/deeper/x.json", MOVED_IN)]


def test_a_hard_link_made_in_the_inbox_waits_for_the_stability_window(watcher, tmp_path):
    (tmp_path / "elsewhere.json").write_text("{}")
    os.link(tmp_path / "elsewhere.json", tmp_path / "inbox" / "linked.json")
    assert _events(watcher, 1) == [("linked.json", APPEARED)]


def test_events_for_other_names_are_not_reported(watcher, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "notes.txt").write_text("x")
    (inbox / ".hidden.json").write_text("{}")
    (inbox / "last.json.tmp").write_text("{}")
    os.rename(inbox / "last.json.tmp", inbox / "last.json")
    assert _events(watcher, 1) == [("last.json", MOVED_IN)]
    assert json.loads((inbox / "last.json").read_text()) == {}


def test_writes_do_not_wake_the_publisher_but_the_close_does(tmp_path):
    stop, wake = threading.Event(), threading.Event()
    (tmp_path / "inbox").mkdir()
    watcher = InboxWatcher(tmp_path / "inbox", wake, stop).start()
    seen: list[tuple[str, str]] = []
    try:
        with (tmp_path / "inbox" / "big.jsonl").open("wb") as writer:
            for n in range(50):
                writer.write(b'{"n": %d}\n' % n)
                writer.flush()
            # Events come in order: once the marker's creation is handled, so are the writes
            # (which the kernel may have merged).
            with (tmp_path / "inbox" / "marker.json").open("wb"):
                wait_for(lambda: ("marker.json", WRITING) in _drained(watcher, seen),
                         what="the marker's creation", timeout_s=10, interval_s=0.02)  # fmt: skip
                assert ("big.jsonl", WRITING) in seen
                assert not wake.is_set(), "woken by writes that cannot make the file ready"
        wait_for(wake.is_set, what="the wake-up of the close", timeout_s=10, interval_s=0.02)
    finally:
        stop.set()
        watcher.join()
