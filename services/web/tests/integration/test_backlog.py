"""The publishers' inbox backlog, end to end: a real publisher process reports to the real
Kafka status topic, and the web UI's Status page (its own group-less reader) shows it; a
publisher that stops says so and leaves the page."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import time

from streamsuite_web.backlog import BacklogReader

from ..conftest import publisher_process, serving, wait_for, web_config


def backlog_table(page: str) -> list[tuple[str, str, str]]:
    """(instance, files waiting, oldest waiting) per row of the Status page's backlog table."""
    return re.findall(
        r'<tr data-instance="([^"]+)">.*?<td class="num backlog-files[^"]*">(\d+)</td>'
        r'<td class="num backlog-oldest"[^>]*>([^<]*)</td>',
        page,
    )


def test_the_status_page_shows_the_inbox_backlog_a_publisher_reports(
    reader_settings, schema, status_kafka, tmp_path
):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a.json", "b.json"):
        (inbox / name).write_text('{"n": 1}')
    ten_minutes_ago = time.time() - 600
    os.utime(inbox / "a.json", (ten_minutes_ago, ten_minutes_ago))
    cfg = web_config(reader_settings, schema, status_kafka, submit_enabled=False)
    with serving(cfg) as web, publisher_process(status_kafka, inbox, tmp_path) as publisher:
        shown = wait_for(lambda: backlog_table(web.get("/status").text),
                         what="the publisher on the Status page")  # fmt: skip
        ((instance, files, oldest),) = shown
        assert instance.startswith("streamsuite-publisher-")  # its transactional id
        assert files == "2"
        assert re.fullmatch(r"1[01] min( \d+ s)?", oldest), oldest
        page = web.get("/status").text
        assert re.search(r'id="backlog-total-files">2</b> files waiting in 1 inbox', page)

        publisher.send_signal(signal.SIGTERM)
        assert publisher.wait(60) == 0
        # its tombstone: gone at once (after the page's 10 s cache), not after 2 silent minutes
        wait_for(lambda: 'id="backlog-none"' in web.get("/status").text,
                 what="the stopped publisher gone from the Status page", timeout_s=40)  # fmt: skip


def test_the_reader_says_when_the_status_topic_is_missing(kafka_settings, make_topic):
    kafka = dataclasses.replace(kafka_settings, topic=make_topic("web.backlog.none"),
                                connect_timeout_s=10)  # fmt: skip
    reader = BacklogReader(kafka)
    try:
        report = reader.report(wait_s=30)
    finally:
        reader.close()
    assert report.publishers == []
    assert report.error
    assert f"no topic {kafka.effective_status_topic}" in report.error
