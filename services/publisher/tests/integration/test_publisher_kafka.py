"""The publisher against the real broker: samples, refusals, restarts, crashes, two publishers."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from devstack.settings import repo_root
from devstack.testing import free_port, wait_for
from streamsuite_common.config import KafkaSettings, load_config
from streamsuite_common.contract import DeadLetter, parse_document_headers
from streamsuite_common.kafka import client_options
from streamsuite_common.publishing.formats import parse_file
from streamsuite_common.publishing.producer import TransactionalPublisher
from streamsuite_common.shutdown import Shutdown
from streamsuite_publisher.config import DEFAULTS, PublisherConfig
from streamsuite_publisher.service import PublisherService
from streamsuite_publisher.spool import HEARTBEAT, Spool

from .conftest import started

# The project's shared notes sit beside the checkout.
SAMPLES = repo_root().parent / "shared" / "samples"

EXPECTED_DOCUMENTS = {
    "array.json": 1,
    "nested-unicode.json": 1,
    "order.yaml": 1,
    "person.json": 1,
    "person.yml": 1,
    "sensors.jsonl": 3,
    "team.yaml": 3,
}
REFUSED_BY_PUBLISHER = {
    "truncated.json": "invalid-json",
    "broken.yaml": "invalid-yaml",
    "empty.json": "empty",
    "latin1.json": "not-utf8",
    "python-tag.yaml": "unsafe-yaml-tag",
    "nan.json": "nan-infinity",
    "alias-bomb.yaml": "too-many-nodes",
}
LEFT_TO_THE_INGESTOR = {"bad-age.json", "nul-char.json"}


@dataclass
class Message:
    key: str
    value: bytes
    headers: dict[str, str]
    offset: int = -1

    @property
    def json(self):
        return json.loads(self.value)


def config_tree(kafka: KafkaSettings, topic: str, dlq: str, **publisher: object) -> dict:
    return {
        "KAFKA": {
            "BOOTSTRAP_SERVERS": ",".join(kafka.bootstrap_servers),
            "TOPIC": topic,
            "DLQ_TOPIC": dlq,
        },
        "LOG": {"FORMAT": "json", "LEVEL": "warning"},
        "HTTP": {"HOST": "127.0.0.1", "PORT": 0},
        "PUBLISHER": {"STABLE_S": 0.2, "RESCAN_S": 0.5, **publisher},
    }


def run_once(tree: dict, inbox: Path) -> None:
    """Run the publisher in this process until the inbox is empty."""
    tree = {**tree, "PUBLISHER": {**tree["PUBLISHER"], "INBOX": str(inbox)}}
    cfg = load_config(PublisherConfig, tree, {}, DEFAULTS)
    shutdown = Shutdown()
    spool = Spool(inbox, delete_published=cfg.publisher.delete_published)
    publisher = TransactionalPublisher(
        cfg.kafka, cfg.publisher.transactional_id or f"test-{spool.owner}", shutdown.event
    )
    try:
        PublisherService(cfg, spool, publisher, shutdown).run(once=True)
    finally:
        publisher.close()
        spool.close()


def start_process(tree: dict, inbox: Path, workdir: Path, *args: str) -> subprocess.Popen:
    """The publisher as its own process (for kill tests and several publishers at once)."""
    path = workdir / f"publisher-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump(tree))
    process = subprocess.Popen(
        [sys.executable, "-m", "streamsuite_publisher", "--cfg", str(path), "--dir", str(inbox),
         *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")},
    )  # fmt: skip
    started.append(process)
    return process


def read_topic(kafka: KafkaSettings, topic: str) -> list[Message]:
    """Every committed message of ``topic``, read up to its end: no waiting for stragglers."""
    consumer = KafkaConsumer(
        **client_options(kafka, client_id="test-reader"),
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        messages: list[Message] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    messages.append(
                        Message(record.key.decode(), record.value, headers, record.offset)
                    )
        return messages
    finally:
        consumer.close()


def files_under(directory: Path, suffix: str = "") -> list[Path]:
    if not directory.exists():
        return []
    return sorted(
        p for p in directory.rglob("*") if p.is_file() and p.name.endswith(suffix)
        and not p.name.startswith(".")
    )  # fmt: skip


def identities(messages: list[Message]) -> list[tuple]:
    result = []
    for m in messages:
        meta = parse_document_headers([(k, v.encode()) for k, v in m.headers.items()])
        result.append((meta.source, meta.sha256, meta.doc_index))
    return result


@pytest.fixture
def topics(make_topic):
    return make_topic("records", partitions=3), make_topic("dlq", partitions=1)


@pytest.fixture
def inbox(tmp_path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


def test_good_samples_become_the_right_messages(kafka_settings, topics, inbox):
    topic, dlq = topics
    for sample in (SAMPLES / "good").iterdir():
        shutil.copy(sample, inbox / sample.name)

    run_once(config_tree(kafka_settings, topic, dlq), inbox)

    messages = read_topic(kafka_settings, topic)
    by_source: dict[str, list] = {}
    for message in messages:
        by_source.setdefault(message.key, []).append(message)
    assert {k: len(v) for k, v in by_source.items()} == EXPECTED_DOCUMENTS
    for name, received in by_source.items():
        data = (SAMPLES / "good" / name).read_bytes()
        expected = [json.loads(d.value) for d in parse_file(name, data).documents]
        received.sort(key=lambda m: int(m.headers["doc-index"]))
        assert [m.json for m in received] == expected
        for index, message in enumerate(received):
            assert message.headers["source"] == name
            assert message.headers["sha256"] == hashlib.sha256(data).hexdigest()
            assert message.headers["doc-index"] == str(index)
            assert message.headers["content-type"] == "application/json"
            assert datetime.fromisoformat(message.headers["produced-at"]).tzinfo is not None
    assert read_topic(kafka_settings, dlq) == []
    assert sorted(p.name for p in files_under(inbox / "processed")) == sorted(EXPECTED_DOCUMENTS)
    assert files_under(inbox / "error") == []


def test_bad_samples_are_refused_with_their_reason_and_good_ones_still_go(
    kafka_settings, topics, inbox
):
    topic, dlq = topics
    for sample in (SAMPLES / "bad").iterdir():
        shutil.copy(sample, inbox / sample.name)
    shutil.copy(SAMPLES / "good" / "person.json", inbox / "person.json")

    run_once(config_tree(kafka_settings, topic, dlq), inbox)

    events = {}
    for message in read_topic(kafka_settings, dlq):
        letter = DeadLetter.from_message(message.value)
        events[letter.source] = letter
    assert {source: e.reason for source, e in events.items()} == REFUSED_BY_PUBLISHER
    for name, letter in events.items():
        assert letter.origin == "publisher"
        assert letter.detail
        assert letter.raw == (SAMPLES / "bad" / name).read_bytes()[: len(letter.raw)]
        report = json.loads((inbox / "error" / f"{name}.error.json").read_text())
        assert report["reason"] == REFUSED_BY_PUBLISHER[name]
        assert (inbox / "error" / name).is_file()
    published = {m.key for m in read_topic(kafka_settings, topic)}
    assert published == LEFT_TO_THE_INGESTOR | {"person.json"}


def test_a_bad_line_is_quarantined_and_the_rest_of_the_file_published(
    kafka_settings, topics, inbox
):
    topic, dlq = topics
    (inbox / "mixed.jsonl").write_text('{"n": 1}\n{"n": 2,\n\n{"n": 3}\n')

    run_once(config_tree(kafka_settings, topic, dlq), inbox)

    assert [m.json for m in read_topic(kafka_settings, topic)] == [{"n": 1}, {"n": 3}]
    [event] = [DeadLetter.from_message(m.value) for m in read_topic(kafka_settings, dlq)]
    assert (event.reason, event.line, event.doc_index, event.raw) == (
        "invalid-json", 2, 1, b'{"n": 2,'
    )  # fmt: skip
    assert (inbox / "processed" / "mixed.jsonl").is_file()
    report = json.loads((inbox / "error" / "mixed.jsonl.error.json").read_text())
    assert report["documents_published"] == 2
    assert [r["line"] for r in report["refused"]] == [2]


def test_file_written_slowly_in_chunks_is_published_once_complete(kafka_settings, topics, inbox):
    topic, dlq = topics
    tree = config_tree(kafka_settings, topic, dlq, STABLE_S=2.0, RESCAN_S=0.2)
    tree["PUBLISHER"]["INBOX"] = str(inbox)
    cfg = load_config(PublisherConfig, tree, {}, DEFAULTS)
    shutdown = Shutdown()
    spool = Spool(inbox)
    publisher = TransactionalPublisher(cfg.kafka, f"test-{spool.owner}", shutdown.event)
    service = PublisherService(cfg, spool, publisher, shutdown)
    runner = threading.Thread(target=service.run)
    runner.start()
    try:
        document = {"items": [{"n": n, "text": "x" * 50} for n in range(200)]}
        text = json.dumps(document).encode()
        path = inbox / "slow.json"
        with path.open("wb") as handle:
            for start in range(0, len(text), 500):
                handle.write(text[start : start + 500])
                handle.flush()
                # The writer is slow but never pauses for the stability interval (2 s).
                assert not shutdown.wait(0.05)
                assert files_under(inbox / "processed") == [], "published half-way"
        wait_for((inbox / "processed" / "slow.json").is_file, what="the slow file")
    finally:
        shutdown.request()
        runner.join(30)
        publisher.close()
    assert [m.json for m in read_topic(kafka_settings, topic)] == [document]
    assert read_topic(kafka_settings, dlq) == []


def test_a_fenced_producer_is_rebuilt_and_its_files_are_not_refused(kafka_settings, topics, inbox):
    topic, dlq = topics
    tree = config_tree(kafka_settings, topic, dlq)
    tree["PUBLISHER"]["INBOX"] = str(inbox)
    cfg = load_config(PublisherConfig, tree, {}, DEFAULTS)
    transactional_id = f"{topic}-shared-id"
    shutdown = Shutdown()
    spool = Spool(inbox)
    publisher = TransactionalPublisher(cfg.kafka, transactional_id, shutdown.event)
    publisher.connect()
    # Another producer with the same transactional id fences ours (a misconfiguration, or a
    # zombie's successor): that is no fault of the data.
    rogue = KafkaProducer(
        **client_options(kafka_settings, client_id="rogue"), transactional_id=transactional_id
    )
    rogue.init_transactions()
    rogue.close()
    (inbox / "innocent.json").write_text('{"fault": "none"}')
    try:
        PublisherService(cfg, spool, publisher, shutdown).run(once=True)
    finally:
        publisher.close()
    assert (inbox / "processed" / "innocent.json").is_file()
    assert [m.key for m in read_topic(kafka_settings, topic)] == ["innocent.json"]
    assert read_topic(kafka_settings, dlq) == []


def test_restarting_publishes_nothing_twice(kafka_settings, topics, inbox):
    topic, dlq = topics
    tree = config_tree(kafka_settings, topic, dlq)
    for n in range(5):
        (inbox / f"doc-{n}.json").write_text(json.dumps({"n": n}))
    run_once(tree, inbox)
    run_once(tree, inbox)  # a restart with nothing new
    assert len(read_topic(kafka_settings, topic)) == 5

    (inbox / "later.json").write_text('{"n": 99}')
    run_once(tree, inbox)
    messages = read_topic(kafka_settings, topic)
    assert sorted(m.key for m in messages) == sorted([*(f"doc-{n}.json" for n in range(5)),
                                                      "later.json"])  # fmt: skip


def test_sigkill_mid_batch_and_restart_loses_no_file(kafka_settings, topics, inbox, tmp_path):
    topic, dlq = topics
    count = 1500
    for n in range(count):
        (inbox / f"f-{n:04d}.json").write_text(json.dumps({"n": n}))
    tree = config_tree(kafka_settings, topic, dlq, BATCH_FILES=10, TRANSACTIONAL_ID=f"{topic}-tx")

    process = start_process(tree, inbox, tmp_path)
    wait_for(
        lambda: len(files_under(inbox / "processed")) >= 50, what="some files", interval_s=0.01
    )
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    assert len(files_under(inbox / "processed")) < count, "the kill came too late to test"

    restarted = start_process(tree, inbox, tmp_path, "--once")
    assert restarted.wait(180) == 0, restarted.stderr.read().decode()

    assert len(files_under(inbox / "processed")) == count
    assert files_under(inbox / "processing", ".json") == []
    sources = {identity[0] for identity in identities(read_topic(kafka_settings, topic))}
    assert sources == {f"f-{n:04d}.json" for n in range(count)}


def test_two_publishers_on_one_inbox_publish_each_file_exactly_once(
    kafka_settings, topics, inbox, tmp_path
):
    topic, dlq = topics
    count = 2000
    for n in range(count):
        (inbox / f"f-{n:04d}.json").write_text(json.dumps({"n": n}))
    processes = []
    for i in range(2):
        tree = config_tree(
            kafka_settings, topic, dlq, BATCH_FILES=50, TRANSACTIONAL_ID=f"{topic}-{i}"
        )
        processes.append(start_process(tree, inbox, tmp_path))
    try:
        wait_for(
            lambda: len(files_under(inbox / "processed")) == count, what="2,000 files",
            timeout_s=300,
        )  # fmt: skip
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(60) for process in processes]
    assert codes == [0, 0]
    messages = read_topic(kafka_settings, topic)
    assert len(messages) == count
    assert len(set(identities(messages))) == count


def test_alias_bomb_is_refused_with_memory_under_200_mb(kafka_settings, topics, inbox):
    topic, dlq = topics
    shutil.copy(SAMPLES / "bad" / "alias-bomb.yaml", inbox / "alias-bomb.yaml")
    tree = config_tree(kafka_settings, topic, dlq)
    tree["PUBLISHER"]["INBOX"] = str(inbox)
    config = inbox.parent / "cfg.yaml"
    config.write_text(yaml.safe_dump(tree))
    # The publisher runs in a child that reports its own peak resident memory when done:
    # VmHWM belongs to the process image, unlike ru_maxrss, which a child inherits from its
    # parent (this test run) across fork and exec.
    script = (
        "import re, sys\n"
        "from pathlib import Path\n"
        "from streamsuite_publisher.cli import main\n"
        f"code = main(['--cfg', {str(config)!r}, '--once'])\n"
        "status = Path('/proc/self/status').read_text()\n"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    peak_mb = int(result.stdout.strip().splitlines()[-1]) / 1024
    assert peak_mb < 200, f"peak RSS {peak_mb:.0f} MB"
    assert (inbox / "error" / "alias-bomb.yaml").is_file()
    [event] = [DeadLetter.from_message(m.value) for m in read_topic(kafka_settings, dlq)]
    assert event.reason == "too-many-nodes"


def test_sigterm_stops_at_once_not_at_the_next_rescan(kafka_settings, topics, inbox, tmp_path):
    topic, dlq = topics
    # A rescan interval far longer than the deadline below: only an immediate wake-up passes.
    process = start_process(config_tree(kafka_settings, topic, dlq, RESCAN_S=300), inbox, tmp_path)
    wait_for(lambda: (inbox / "processing").is_dir(), what="publisher running")
    (inbox / "one.json").write_text('{"n": 1}')
    wait_for((inbox / "processed" / "one.json").is_file, what="one file published")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_missing_inbox_is_a_one_line_config_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "streamsuite_publisher", "--dir", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=60, check=False,
        env={"STREAMSUITE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9092", "PATH": "/usr/bin"},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"streamsuite-publisher: config error: PUBLISHER.INBOX: '{tmp_path / 'nope'}' "
        "is not a directory"
    ]


def test_an_inbox_it_cannot_write_is_a_one_line_config_error(tmp_path):
    """A read-only volume (found on Kubernetes: a traceback and CrashLoopBackOff before); for
    root, who ignores permissions, an immutable directory stands in for it."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(inbox)], check=True)
    else:
        inbox.chmod(0o555)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "streamsuite_publisher", "--dir", str(inbox)],
            capture_output=True, text=True, timeout=60, check=False,
            env={"STREAMSUITE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9092", "PATH": "/usr/bin"},
        )  # fmt: skip
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(inbox)], check=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"streamsuite-publisher: config error: PUBLISHER.INBOX: '{inbox}' is not writable (the "
        "publisher moves each file into processing/, then processed/ or error/ beside it)"
    ]


# --- no input and no fault stops the publisher ---


def running(tree: dict, inbox: Path, transactional_id: str | None = None):
    """A publisher service in a thread of this process: (service, thread, shutdown, errors)."""
    tree = {**tree, "PUBLISHER": {**tree["PUBLISHER"], "INBOX": str(inbox)}}
    cfg = load_config(PublisherConfig, tree, {}, DEFAULTS)
    shutdown = Shutdown()
    spool = Spool(inbox)
    publisher = TransactionalPublisher(
        cfg.kafka, transactional_id or f"test-{spool.owner}", shutdown.event
    )
    service = PublisherService(cfg, spool, publisher, shutdown)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            service.run()
        except BaseException as exc:  # the test asserts there is none
            errors.append(exc)
        finally:
            publisher.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return service, thread, shutdown, errors


def stop(thread: threading.Thread, shutdown: Shutdown) -> None:
    shutdown.request()
    thread.join(60)
    assert not thread.is_alive()


def dead_letters(kafka: KafkaSettings, dlq: str) -> list[DeadLetter]:
    return [DeadLetter.from_message(m.value) for m in read_topic(kafka, dlq)]


def test_a_file_name_that_is_not_utf8_is_refused_under_its_escaped_name(
    kafka_settings, topics, inbox
):
    topic, dlq = topics
    name = os.fsdecode(b"caf\xe9-\xff.json")  # Latin-1 é and a byte no encoding has
    (inbox / name).write_text('{"n": 1}')
    (inbox / "ok.json").write_text('{"n": 2}')

    run_once(config_tree(kafka_settings, topic, dlq), inbox)

    assert [m.key for m in read_topic(kafka_settings, topic)] == ["ok.json"]
    [message] = read_topic(kafka_settings, dlq)
    event = DeadLetter.from_message(message.value)
    assert (event.reason, event.source, message.key) == (
        "name-not-utf8", "caf\\xe9-\\xff.json", "caf\\xe9-\\xff.json"
    )  # fmt: skip
    assert "caf\\xe9-\\xff.json" in event.detail
    assert (inbox / "error" / name).is_file()  # under its own bytes
    report = json.loads((inbox / "error" / f"{name}.error.json").read_text())
    assert (report["reason"], report["source"]) == ("name-not-utf8", "caf\\xe9-\\xff.json")


def _too_long_for_a_claim(inbox: Path) -> Path:
    """A file whose path fits in the inbox but not once moved into processing/<owner>/."""
    parts: list[str] = []
    while 4080 - (len(str(inbox)) + 201 * len(parts) + 1) > 250:
        parts.append("d" * 200)
    directory = inbox
    for part in parts:
        directory = directory / part
        directory.mkdir()
    path = directory / ("x" * (4080 - len(str(directory)) - 6) + ".json")
    path.write_text('{"deep": true}')
    return path


def test_a_file_that_cannot_be_claimed_is_left_with_a_reason_and_not_retried_hot(
    kafka_settings, topics, inbox
):
    from prometheus_client import REGISTRY

    topic, dlq = topics
    deep = _too_long_for_a_claim(inbox)
    (inbox / "first.json").write_text('{"n": 1}')

    def attempts() -> float:
        labels = {"reason": "unclaimable-enametoolong"}
        return REGISTRY.get_sample_value("streamsuite_publisher_refusals_total", labels) or 0

    before = attempts()
    run_once(config_tree(kafka_settings, topic, dlq), inbox)  # returns: nothing else to do
    assert attempts() == before + 1
    assert (inbox / "processed" / "first.json").is_file()
    assert deep.is_file()

    _, thread, shutdown, errors = running(
        config_tree(kafka_settings, topic, dlq, STABLE_S=0.05, RESCAN_S=0.1), inbox
    )
    try:
        for n in range(5):  # five passes, each proven by a file published after it
            (inbox / f"later-{n}.json").write_text(json.dumps({"n": n}))
            wait_for((inbox / "processed" / f"later-{n}.json").is_file, what=f"later-{n}")
        assert attempts() == before + 2, "the unclaimable file was tried again at once"
    finally:
        stop(thread, shutdown)
    assert errors == []
    assert deep.is_file()
    assert read_topic(kafka_settings, dlq) == []


def test_a_fifo_in_the_inbox_is_refused_with_its_reason(kafka_settings, topics, inbox):
    topic, dlq = topics
    os.mkfifo(inbox / "pipe.json")
    (inbox / "ok.json").write_text('{"n": 1}')

    run_once(config_tree(kafka_settings, topic, dlq), inbox)

    [event] = dead_letters(kafka_settings, dlq)
    assert (event.reason, event.source) == ("not-a-file", "pipe.json")
    assert "FIFO" in event.detail
    assert stat.S_ISFIFO((inbox / "error" / "pipe.json").lstat().st_mode)
    report = json.loads((inbox / "error" / "pipe.json.error.json").read_text())
    assert report["reason"] == "not-a-file"
    assert [m.key for m in read_topic(kafka_settings, topic)] == ["ok.json"]


def _transactions(messages: list[Message]) -> list[list[Message]]:
    """Split one partition's committed records at the commit markers (an offset gap)."""
    groups: list[list[Message]] = []
    for message in sorted(messages, key=lambda m: m.offset):
        if not groups or message.offset != groups[-1][-1].offset + 1:
            groups.append([])
        groups[-1].append(message)
    return groups


def test_a_transaction_is_capped_by_documents_and_bytes_and_a_file_is_never_split(
    kafka_settings, make_topic, inbox
):
    topic, dlq = make_topic("records", partitions=1), make_topic("dlq", partitions=1)
    for n in range(4):  # 3 documents each: two files would be 6 > 5
        (inbox / f"three-{n}.jsonl").write_text(
            "".join(f'{{"f": {n}, "i": {i}}}\n' for i in range(3))
        )
    (inbox / "eleven.jsonl").write_text("".join(f'{{"i": {i}}}\n' for i in range(11)))
    (inbox / "big.json").write_text(json.dumps({"x": "y" * 3000}))
    tree = config_tree(kafka_settings, topic, dlq, BATCH_DOCUMENTS=5, BATCH_BYTES=2048)

    run_once(tree, inbox)

    transactions = _transactions(read_topic(kafka_settings, topic))
    assert sorted(len(t) for t in transactions) == [3, 3, 3, 3]
    for transaction in transactions:  # each file whole, in one transaction
        assert len({m.key for m in transaction}) == 1
    reasons = {e.source: e.reason for e in dead_letters(kafka_settings, dlq)}
    assert reasons == {"eleven.jsonl": "too-many-documents", "big.json": "file-too-large"}
    assert (inbox / "error" / "eleven.jsonl").is_file()


def test_a_json_lines_file_too_many_for_one_transaction_is_refused_in_bounded_memory(
    kafka_settings, topics, inbox
):
    """300,000 lines (25 MB): more documents than one transaction takes by default. They are
    counted while parsing, so the file is refused before its messages fill the memory (a
    publisher that built them all peaked over 500 MB, the pod's limit being 512 MiB)."""
    topic, dlq = topics
    line = '{"i": %d, "price": 19.99, "pad": "' + "x" * 40 + '"}\n'
    (inbox / "huge.jsonl").write_text("".join(line % i for i in range(300_000)))
    tree = config_tree(kafka_settings, topic, dlq)
    tree["PUBLISHER"]["INBOX"] = str(inbox)
    config = inbox.parent / "cfg.yaml"
    config.write_text(yaml.safe_dump(tree))
    script = (  # as in the alias-bomb test: the child reports its own peak
        "import re, sys\n"
        "from pathlib import Path\n"
        "from streamsuite_publisher.cli import main\n"
        f"code = main(['--cfg', {str(config)!r}, '--once'])\n"
        "status = Path('/proc/self/status').read_text()\n"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode == 0, result.stderr
    peak_mb = int(result.stdout.strip().splitlines()[-1]) / 1024
    assert peak_mb < 256, f"peak RSS {peak_mb:.0f} MB"
    [event] = dead_letters(kafka_settings, dlq)
    assert event.reason == "too-many-documents"
    assert "50,000" in event.detail
    assert read_topic(kafka_settings, topic) == []


def test_a_yaml_file_whose_messages_outgrow_a_transaction_is_refused(kafka_settings, topics, inbox):
    topic, dlq = topics
    # 600 bytes of YAML that become ~1,800 bytes of JSON messages through an alias.
    text = "a: &x [" + ", ".join(["1"] * 150) + "]\nb: *x\nc: *x\nd: *x\n"
    (inbox / "grows.yaml").write_text(text)
    run_once(config_tree(kafka_settings, topic, dlq, BATCH_BYTES=1024), inbox)
    [event] = dead_letters(kafka_settings, dlq)
    assert event.reason == "too-large-for-transaction"
    assert read_topic(kafka_settings, topic) == []


def _marked(inbox: Path) -> list[Path]:
    """Committed files kept in a claim because they could not be moved on."""
    return files_under(inbox / "processing", ".published")


def test_a_file_that_cannot_be_moved_after_the_commit_is_not_published_again(
    kafka_settings, topics, inbox, tmp_path
):
    """A full disk after the commit (here: processed/sub cannot be made): no crash, the move is
    retried, and a restart meanwhile moves the file on instead of publishing it again."""
    topic, dlq = topics
    tree = config_tree(kafka_settings, topic, dlq, STABLE_S=0.05, RESCAN_S=0.1)
    (inbox / "processed").mkdir()
    (inbox / "processed" / "sub").write_text("in the way")  # a file where a directory must go
    (inbox / "sub").mkdir()
    (inbox / "sub" / "a.json").write_text('{"n": 1}')
    _, thread, shutdown, errors = running(tree, inbox)
    try:
        wait_for(lambda: errors or _marked(inbox), what="the failed move")
        assert errors == []
        assert thread.is_alive()
        assert [p.name for p in files_under(inbox / "processing")] == ["a.json.published"]
        assert len(read_topic(kafka_settings, topic)) == 1
    finally:
        stop(thread, shutdown)
    # A restart (with room again): the marked file is moved on, not published again.
    (inbox / "processed" / "sub").unlink()
    run_once(tree, inbox)
    assert (inbox / "processed" / "sub" / "a.json").read_text() == '{"n": 1}'
    assert len(read_topic(kafka_settings, topic)) == 1
    assert errors == []


def test_a_failed_move_is_retried_while_running(kafka_settings, topics, inbox):
    topic, dlq = topics
    tree = config_tree(kafka_settings, topic, dlq, STABLE_S=0.05, RESCAN_S=0.1)
    (inbox / "processed").mkdir()
    (inbox / "processed" / "sub").write_text("in the way")
    (inbox / "sub").mkdir()
    (inbox / "sub" / "a.json").write_text('{"n": 1}')
    _, thread, shutdown, errors = running(tree, inbox)
    try:
        wait_for(lambda: errors or _marked(inbox), what="the failed move")
        (inbox / "processed" / "sub").unlink()  # space again
        moved = (inbox / "processed" / "sub" / "a.json").is_file
        wait_for(lambda: errors or moved(), what="the retried move")
    finally:
        stop(thread, shutdown)
    assert errors == []
    assert len(read_topic(kafka_settings, topic)) == 1


def _unreachable(kafka: KafkaSettings, topic: str, dlq: str, **publisher: object) -> dict:
    tree = config_tree(kafka, topic, dlq, STABLE_S=0.05, RESCAN_S=0.1, **publisher)
    tree["KAFKA"]["BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"  # nothing listens there
    return tree


def test_claims_keep_their_heartbeat_during_one_long_publish_attempt(inbox, kafka_settings):
    # One connection attempt lasts 60 s (no broker answers); the claim times out after 5 s.
    tree = _unreachable(kafka_settings, "t", "d", CLAIM_TIMEOUT_S=5)
    tree["KAFKA"]["CONNECT_TIMEOUT_S"] = 60
    (inbox / "a.json").write_text("{}")
    _, thread, shutdown, errors = running(tree, inbox)
    try:
        claimed = wait_for(lambda: files_under(inbox / "processing", ".json"), what="the claim")
        beat = claimed[0].parent / ".heartbeat"
        old = time.time() - 3600
        os.utime(beat, (old, old))
        wait_for(lambda: time.time() - beat.stat().st_mtime < 5, what="a heartbeat", timeout_s=15)
    finally:
        stop(thread, shutdown)
    assert errors == []


def test_a_long_kafka_outage_is_not_a_liveness_failure(inbox, kafka_settings):
    tree = _unreachable(kafka_settings, "t", "d")
    tree["KAFKA"]["CONNECT_TIMEOUT_S"] = 1
    (inbox / "a.json").write_text("{}")
    service, thread, shutdown, errors = running(tree, inbox)
    try:
        wait_for(lambda: files_under(inbox / "processing", ".json"), what="the claim")
        service.last_tick -= 3600  # as if the outage had lasted an hour already
        wait_for(service.alive, what="liveness ticked by the retry loop", timeout_s=30)
    finally:
        stop(thread, shutdown)
    assert errors == []
    assert (inbox / "a.json").is_file()  # handed back on stop


def test_exact_numbers_leave_the_publisher_as_written(kafka_settings, topics, inbox):
    topic, dlq = topics
    document = b'{"price": 19.990000000000000000001, "big": 12345678901234567890.5}'
    (inbox / "exact.json").write_bytes(b"\n" + document + b"\n")
    (inbox / "exact.jsonl").write_bytes(document + b"\r\n" + b'{"n": 1.10}\n')
    run_once(config_tree(kafka_settings, topic, dlq), inbox)
    values = {(m.key, m.headers["doc-index"]): m.value for m in read_topic(kafka_settings, topic)}
    assert values == {
        ("exact.json", "0"): document,
        ("exact.jsonl", "0"): document,
        ("exact.jsonl", "1"): b'{"n": 1.10}',
    }


def test_a_restarted_publisher_aborts_its_predecessors_open_transaction_at_once(
    kafka_settings, make_topic, inbox, tmp_path
):
    """A publisher killed mid-transaction: its successor takes the same default id, which
    fences the old producer and aborts its transaction, so read_committed readers see new
    data at once, not after the transaction timeout (10 minutes here). One partition: the
    open transaction holds back exactly where the new record goes."""
    topic, dlq = make_topic("records", partitions=1), make_topic("dlq")
    script = (
        "import sys, pathlib\n"
        "from kafka import KafkaProducer\n"
        "from streamsuite_publisher.spool import Spool\n"
        "txid = Spool(pathlib.Path(sys.argv[1])).default_transactional_id()\n"
        "producer = KafkaProducer(bootstrap_servers=sys.argv[2], transactional_id=txid,\n"
        "                         transaction_timeout_ms=600_000)\n"
        "producer.init_transactions()\n"
        "producer.begin_transaction()\n"
        "producer.send(sys.argv[3], key=b'old', value=b'{}').get(30)\n"
        "producer.flush()\n"
        "print('open', flush=True)\n"
        "sys.stdin.read()\n"
    )
    crashed = subprocess.Popen(
        [sys.executable, "-c", script, str(inbox), kafka_settings.bootstrap_servers[0], topic],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert crashed.stdout.readline().strip() == "open"
    finally:
        crashed.kill()
        crashed.wait(30)
    (inbox / "new.json").write_text('{"n": 1}')
    started = time.monotonic()
    restarted = start_process(config_tree(kafka_settings, topic, dlq), inbox, tmp_path, "--once")
    assert restarted.wait(120) == 0, restarted.stderr.read().decode()
    wait_for(
        lambda: [m.key for m in read_topic(kafka_settings, topic)] == ["new.json"],
        what="the new record, readable", timeout_s=30,
    )  # fmt: skip
    assert time.monotonic() - started < 30  # far below the 600 s transaction timeout


def test_a_publisher_whose_claim_directory_was_removed_carries_on(kafka_settings, topics, inbox):
    """Its claim directory removed while it idles (by a person cleaning processing/, or by a
    publisher that took it for dead while it stalled and removed the empty directory): the next
    heartbeat raised FileNotFoundError out of the loop, stopping the service."""
    topic, dlq = topics
    tree = config_tree(kafka_settings, topic, dlq, STABLE_S=0.05, RESCAN_S=0.1, CLAIM_TIMEOUT_S=5)
    service, thread, shutdown, errors = running(tree, inbox)
    beat = service.spool.claims / HEARTBEAT
    try:
        wait_for(beat.is_file, what="the publisher running")
        shutil.rmtree(service.spool.claims)
        # Housekeeping beats every CLAIM_TIMEOUT_S / 3 from the loop.
        wait_for(lambda: errors or beat.is_file(), what="the next heartbeat", timeout_s=30)
        assert errors == []
        (inbox / "after.json").write_text('{"n": 1}')
        published = (inbox / "processed" / "after.json").is_file
        wait_for(lambda: errors or published(), what="a file published after it")
    finally:
        stop(thread, shutdown)
    assert errors == []
    assert [m.key for m in read_topic(kafka_settings, topic)] == ["after.json"]


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def locked_dead_claim(inbox):
    """A dead publisher's claim directory this one may not change: another user's (read-only)
    for a normal user; for root, who ignores permissions, immutable (`chattr +i`)."""
    claims = inbox / "processing" / f"{socket.gethostname()}.{_dead_pid()}.10cked00"
    claims.mkdir(parents=True)
    (claims / "stuck.json").write_text('{"stuck": true}')
    (claims / HEARTBEAT).touch()
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(claims)], check=True)
        yield claims
        subprocess.run(["chattr", "-i", str(claims)], check=True)
    else:
        claims.chmod(0o555)
        yield claims
        claims.chmod(0o755)


def test_a_dead_claim_it_may_not_change_does_not_stop_the_publisher(
    kafka_settings, topics, inbox, locked_dead_claim
):
    """Recovering it raised out of the start-up housekeeping: a crash at every start."""
    topic, dlq = topics
    (inbox / "ok.json").write_text('{"n": 1}')
    run_once(config_tree(kafka_settings, topic, dlq), inbox)
    assert [m.key for m in read_topic(kafka_settings, topic)] == ["ok.json"]
    assert (locked_dead_claim / "stuck.json").is_file()  # left for a person, with a warning
