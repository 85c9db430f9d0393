"""The publisher reads its next files while a transaction is open (issue 15), against the real
broker: order and contents unchanged, every file exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import chain

from devstack.testing import wait_for
from streamsuite_common.config import load_config
from streamsuite_common.publishing.messages import OutMessage
from streamsuite_common.publishing.producer import TransactionalPublisher
from streamsuite_common.shutdown import Shutdown
from streamsuite_publisher.config import DEFAULTS, PublisherConfig
from streamsuite_publisher.service import PublisherService
from streamsuite_publisher.spool import Spool

from .test_publisher_kafka import config_tree, files_under, identities, read_topic

FILES, DOCS = 10, 3


class WaitsForReadAhead(TransactionalPublisher):
    """A real transactional publisher that, once its first transaction has its first
    message, waits until files of the next batch are claimed: only a publisher that reads
    ahead while a transaction is open gets past this."""

    def __init__(self, *args, claimed, **kwargs):
        super().__init__(*args, **kwargs)
        self._claimed = claimed
        self.waited = False

    def publish(self, messages: Iterable[OutMessage]) -> None:
        if not self.waited:
            it = iter(messages)
            first = next(it)
            wait_for(lambda: self._claimed() > 5, timeout_s=30,
                     what="the next batch's files claimed while a transaction is open")  # fmt: skip
            self.waited = True
            messages = chain([first], it)
        super().publish(messages)


def test_next_files_are_read_while_a_transaction_is_open_and_order_is_kept(
    kafka_settings, make_topic, tmp_path
):
    topic, dlq = make_topic("records", partitions=1), make_topic("dlq")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(FILES):
        lines = "\n".join(json.dumps({"file": n, "line": i}) for i in range(DOCS))
        (inbox / f"f-{n:02d}.jsonl").write_text(lines)
    tree = config_tree(kafka_settings, topic, dlq, BATCH_FILES=5, STABLE_S=0)
    cfg = load_config(
        PublisherConfig, {**tree, "PUBLISHER": {**tree["PUBLISHER"], "INBOX": str(inbox)}}, {},
        DEFAULTS,
    )  # fmt: skip
    shutdown = Shutdown()
    spool = Spool(inbox)
    publisher = WaitsForReadAhead(
        cfg.kafka, f"test-{spool.owner}", shutdown.event,
        claimed=lambda: len(files_under(inbox / "processing", ".jsonl"))
        + len(files_under(inbox / "processed", ".jsonl")),
    )  # fmt: skip
    try:
        PublisherService(cfg, spool, publisher, shutdown).run(once=True)
    finally:
        publisher.close()
        spool.close()
    assert publisher.waited
    assert len(files_under(inbox / "processed", ".jsonl")) == FILES
    assert files_under(inbox / "processing", ".jsonl") == []

    # One partition: offsets are the order of publishing. Each file's documents in order and
    # together, the files in the order they were claimed (their names), each exactly once.
    found = [
        (source, index) for source, _sha, index in identities(read_topic(kafka_settings, topic))
    ]
    assert found == [(f"f-{n:02d}.jsonl", i) for n in range(FILES) for i in range(DOCS)]
