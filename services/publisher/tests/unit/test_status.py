"""The publisher's status report: the event it sends, and the identity it sends it under."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from streamsuite_common.config import KafkaSettings
from streamsuite_publisher import metrics
from streamsuite_publisher.spool import Spool
from streamsuite_publisher.status import (
    Backlog,
    Identity,
    metrics_backlog,
    publisher_identity,
    status_value,
)


def test_the_status_event_carries_the_backlog_and_who_sends_it():
    identity = Identity("streamsuite-publisher-abc-0", "pod-1", "/var/inbox", "abc")
    at = datetime(2026, 12, 2, 5, 0, 1, 250000, tzinfo=UTC)
    event = json.loads(status_value(identity, Backlog(4, 12.345), at))
    assert event == {
        "instance": "streamsuite-publisher-abc-0",
        "host": "pod-1",
        "inbox": "/var/inbox",
        "spool": "abc",
        "inbox_files": 4,
        "oldest_waiting_s": 12.3,
        "at": "2026-12-02T05:00:01.250Z",
    }


def test_publishers_of_one_inbox_name_the_same_spool(tmp_path):
    one = publisher_identity("p-0", Spool(tmp_path))
    two = publisher_identity("p-1", Spool(tmp_path))
    assert one.spool == two.spool
    assert one.spool.isalnum()
    assert (one.instance, one.inbox) == ("p-0", str(tmp_path))


def test_the_backlog_is_what_the_last_scan_saw():
    metrics.observe_inbox([])
    assert metrics_backlog() == Backlog(0, 0.0)
    metrics.observe_inbox([1_000_000_000, 2_000_000_000])
    backlog = metrics_backlog()
    assert backlog.files == 2
    assert backlog.oldest_waiting_s > 1_700_000_000
    metrics.observe_inbox([])


def test_the_status_topic_follows_the_records_topic_unless_named():
    assert KafkaSettings(bootstrap_servers=("k:9092",)).effective_status_topic == "records.status"
    custom = KafkaSettings(bootstrap_servers=("k:9092",), topic="docs")
    assert custom.effective_status_topic == "docs.status"
    named = KafkaSettings(bootstrap_servers=("k:9092",), status_topic="ops.inboxes")
    assert named.effective_status_topic == "ops.inboxes"
