"""The publishers' inbox backlog as the Status page shows it: the newest report per publisher,
tombstones, silent publishers hidden, a shared inbox counted once, bad reports skipped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from streamsuite_web.backlog import (
    BadStatus,
    format_age,
    newest_per_instance,
    parse_status,
    report_of,
    rows,
    total,
    visible,
)

NOW = datetime(2026, 12, 2, 5, 0, 0, tzinfo=UTC)


def event(instance: str, files: int, oldest: float = 0.0, *, ago_s: float = 5, spool: str = ""):
    at = (NOW - timedelta(seconds=ago_s)).isoformat().replace("+00:00", "Z")
    value = {"instance": instance, "host": "h", "inbox": f"/in/{spool or instance}",
             "spool": spool or instance, "inbox_files": files, "oldest_waiting_s": oldest,
             "at": at}  # fmt: skip
    return instance.encode(), json.dumps(value).encode()


def test_a_report_is_read_with_its_time_zone():
    status = parse_status(*event("p-0", 3, 12.5))
    assert (status.instance, status.inbox_files, status.oldest_waiting_s) == ("p-0", 3, 12.5)
    assert status.at == NOW - timedelta(seconds=5)
    assert status.age_s(NOW) == 5


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[1]", b'{"inbox_files": -1, "oldest_waiting_s": 0, "at": "2026-12-02T05:00Z"}',
     b'{"inbox_files": 1.5, "oldest_waiting_s": 0, "at": "2026-12-02T05:00:00Z"}',
     b'{"inbox_files": true, "oldest_waiting_s": 0, "at": "2026-12-02T05:00:00Z"}',
     b'{"inbox_files": 1, "oldest_waiting_s": 0, "at": "yesterday"}',
     b'{"inbox_files": 1, "oldest_waiting_s": 0, "at": "2026-12-02T05:00:00"}',
     b'{"inbox_files": 1, "oldest_waiting_s": 0, "at": "2026-12-02T05:00:00Z", "host": 7}',
     b"\xff\xfe"],
)  # fmt: skip
def test_a_report_that_is_not_a_publishers_status_is_refused(value):
    with pytest.raises(BadStatus):
        parse_status(b"k", value)


AT = '"at": "2026-12-02T05:00:00Z"'


@pytest.mark.parametrize(
    "value",
    [f'{{"inbox_files": 1e400, "oldest_waiting_s": 0, {AT}}}'.encode(),  # inf
     f'{{"inbox_files": NaN, "oldest_waiting_s": 0, {AT}}}'.encode(),
     f'{{"inbox_files": 1, "oldest_waiting_s": Infinity, {AT}}}'.encode(),
     f'{{"inbox_files": 1, "oldest_waiting_s": NaN, {AT}}}'.encode(),
     f'{{"inbox_files": {10**400}, "oldest_waiting_s": 0, {AT}}}'.encode(),
     f'{{"inbox_files": {"9" * 5000}, "oldest_waiting_s": 0, {AT}}}'.encode(),  # > int digits
     b"[" * 100_000 + b"]" * 100_000,  # deeper than the parser's recursion
     f'{{"inbox_files": 1, "oldest_waiting_s": 0, "at": "{"9" * 100_000}"}}'.encode()],
)  # fmt: skip
def test_hostile_numbers_and_nesting_are_refused_as_bad_status(value):
    """Each raised something other than BadStatus before (OverflowError, ValueError,
    RecursionError), which emptied the whole Status table instead of skipping one event."""
    with pytest.raises(BadStatus):
        parse_status(b"k", value)
    newest, unreadable = newest_per_instance([event("a", 2), (b"k", value)])
    assert (set(newest), unreadable) == ({"a"}, 1)


def test_huge_texts_are_cut_for_the_page():
    """A 10 MB report is one event like any other; what the page shows of it stays small."""
    huge = "x" * 10_000_000
    value = json.dumps({"instance": huge, "host": huge, "inbox": huge, "spool": huge,
                        "inbox_files": 10**12, "oldest_waiting_s": 1e300,
                        "at": "2026-12-02T05:00:00Z"}).encode()  # fmt: skip
    status = parse_status(b"k", value)
    assert max(len(status.instance), len(status.host), len(status.inbox)) <= 256
    assert len(status.spool) == 10_000_000  # only compared, never shown: kept whole
    assert status.inbox_files == 10**12
    (row,) = rows(report_of({"k": status}, NOW, "t"), NOW)
    assert row["oldest"].endswith("d") or " d" in row["oldest"]


def test_the_newest_report_per_publisher_wins_and_bad_ones_are_counted():
    newest, unreadable = newest_per_instance(
        [event("a", 5, ago_s=30), event("b", 1), (b"a", b"garbage"), event("a", 2, ago_s=3)]
    )
    assert {k: s.inbox_files for k, s in newest.items()} == {"a": 2, "b": 1}
    assert unreadable == 1


def test_a_tombstone_removes_a_publisher_that_stopped():
    newest, _ = newest_per_instance([event("a", 5), event("b", 1), (b"a", None)])
    assert set(newest) == {"b"}
    newest, _ = newest_per_instance([(b"a", None), event("a", 4)])  # restarted after it
    assert set(newest) == {"a"}


def test_publishers_silent_for_over_two_minutes_are_hidden():
    newest, _ = newest_per_instance([event("old", 9, ago_s=121), event("new", 1, ago_s=119)])
    assert [s.instance for s in visible(newest.values(), NOW)] == ["new"]


def test_a_shared_inbox_is_counted_once_in_the_total():
    newest, _ = newest_per_instance([
        event("p-0", 7, 40, spool="shared", ago_s=8), event("p-1", 6, 41, spool="shared", ago_s=2),
        event("q-0", 3, 300, spool="other"),
    ])  # fmt: skip
    summed = total(newest.values())
    # the shared inbox by its newest report (6 files), plus the other one
    assert (summed.files, summed.oldest_waiting_s, summed.inboxes) == (9, 300, 2)
    assert total([]) == type(summed)(0, 0.0, 0)


def test_the_report_shows_visible_publishers_in_order_with_their_ages():
    newest, _ = newest_per_instance([event("zeta", 2, 75, ago_s=4), event("alpha", 0),
                                     event("gone", 5, ago_s=500)])  # fmt: skip
    report = report_of(newest, NOW, "records.status")
    assert [s.instance for s in report.publishers] == ["alpha", "zeta"]
    assert report.total.files == 2
    shown = rows(report, NOW)
    assert shown[0]["oldest"] == "—"  # nothing waits
    assert (shown[1]["files"], shown[1]["oldest"], shown[1]["reported"]) == (2, "1 min 15 s",
                                                                             "4 s ago")  # fmt: skip


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59.9, "59 s"), (60, "1 min"), (61, "1 min 1 s"), (3600, "1 h"),
     (7260, "2 h 1 min"), (90000, "1 d 1 h"), (-3, "0 s")],
)  # fmt: skip
def test_ages_read_in_two_units_at_most(seconds, text):
    assert format_age(seconds) == text
