"""The Records page's time-range picker and its "copy as curl" command: pure."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from streamsuite_common.query import InvalidQuery
from streamsuite_web.timerange import resolve
from streamsuite_web.views import curl_command

NOW = datetime(2026, 12, 2, 1, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(("chosen", "since"), [("15m", "2026-12-02T01:15:15Z"),
                                                ("1h", "2026-12-02T00:30:15Z"),
                                                ("24h", "2026-12-01T01:30:15Z")])  # fmt: skip
def test_a_relative_range_ends_now(chosen, since):
    picked = resolve([("name", "Ada"), ("range", chosen), ("since", "2020-01-01T00:00:00Z")], NOW)
    assert picked.params == [("name", "Ada"), ("since", since)]


def test_a_custom_range_is_read_in_utc_or_at_the_browsers_offset():
    custom = [("range", "custom"), ("from", "2026-12-01T10:00"), ("to", "2026-12-01T11:30")]
    assert resolve(custom, NOW).params == [
        ("since", "2026-12-01T10:00:00Z"), ("until", "2026-12-01T11:30:00Z"),
    ]  # fmt: skip
    local = [*custom, ("tz", "local"), ("tz_offset", "120")]  # UTC+2
    assert resolve(local, NOW).params == [
        ("since", "2026-12-01T08:00:00Z"), ("until", "2026-12-01T09:30:00Z"),
    ]  # fmt: skip
    west = resolve([*custom[:2], ("tz", "local"), ("tz_offset", "-300")], NOW)  # UTC-5
    assert west.params == [("since", "2026-12-01T15:00:00Z")]


def test_local_time_without_the_browsers_offset_is_read_as_utc_and_said_so():
    picked = resolve([("range", "custom"), ("from", "2026-12-01T10:00"), ("tz", "local")], NOW)
    assert picked.params == [("since", "2026-12-01T10:00:00Z")]
    assert "read as UTC" in (picked.note or "")


def test_no_range_leaves_the_filter_as_it_is():
    assert resolve([("since", "2026-01-01T00:00:00Z"), ("tz", "utc")], NOW).params == [
        ("since", "2026-01-01T00:00:00Z")
    ]


BAD_RANGES = [
    ([("range", "2w")], "range"),
    ([("range", "custom"), ("from", "yesterday")], "from"),
    ([("range", "custom"), ("from", "2026-12-01T10:00"), ("tz", "local"), ("tz_offset", "9999")],
     "tz_offset"),
]  # fmt: skip


@pytest.mark.parametrize(("params", "name"), BAD_RANGES)
def test_a_bad_range_names_its_field(params, name):
    with pytest.raises(InvalidQuery) as raised:
        resolve(params, NOW)
    assert raised.value.param == name


def test_copy_as_curl_is_the_api_call_with_the_same_filter():
    command = curl_command([("key", "note"), ("value", "it's $(rm -rf /) `x`"), ("limit", "50"),
                            ("cursor", "abc")])  # fmt: skip
    words = shlex.split(command.replace('"${STREAMSUITE_API:-http://127.0.0.1:8000}"', "API"))
    assert words[:4] == ["curl", "-sS", "-H", "Authorization: Bearer ${STREAMSUITE_TOKEN}"]
    url = urlsplit(words[4].removeprefix("API"))
    assert url.path == "/api/v1/records"
    assert parse_qsl(url.query) == [("key", "note"), ("value", "it's $(rm -rf /) `x`"),
                                    ("limit", "50")]  # fmt: skip
    assert "$(" not in command  # percent-encoded: nothing for the shell to expand
