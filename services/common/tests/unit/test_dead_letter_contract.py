"""The dead-letter event contract: every rule an event must meet before it is stored, in one
place (``DeadLetter``); whatever another producer wrote, a caller gets a storable event or
ValueError, never another exception."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from streamsuite_common.contract import (
    MAX_DEAD_LETTER_RAW_BYTES,
    DeadLetter,
    KafkaCoordinates,
)

BASE = {"origin": "publisher", "stage": "parse", "reason": "invalid-json", "detail": "bad"}


def event(**fields) -> DeadLetter:
    return DeadLetter.from_json({**BASE, **fields})


def test_an_event_round_trips_through_its_message():
    letter = DeadLetter(**BASE, raw=b"\x00\xff", source="a.json", sha256="ab" * 32,
                        doc_index=2, line=3, kafka=KafkaCoordinates("records", 1, 7),
                        at=datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC))  # fmt: skip
    _key, value, _headers = letter.to_message()
    assert DeadLetter.from_message(value) == letter


def test_an_event_must_be_a_json_object():
    with pytest.raises(ValueError, match="expected a JSON object"):
        DeadLetter.from_json([BASE])


def test_an_event_must_be_json():
    with pytest.raises(ValueError, match="not JSON"):
        DeadLetter.from_message(b"\xff{")


def test_an_event_nested_too_deeply_is_refused_not_a_crash():
    with pytest.raises(ValueError, match="nested too deeply"):
        DeadLetter.from_message(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize("name", ["origin", "stage", "reason", "detail"])
def test_origin_stage_reason_and_detail_are_required_strings(name):
    with pytest.raises(ValueError, match=f"'{name}' missing or not a string"):
        DeadLetter.from_json({**BASE, name: None})
    with pytest.raises(ValueError, match=f"'{name}' missing or not a string"):
        DeadLetter.from_json({**BASE, name: 5})


@pytest.mark.parametrize("name", ["source", "sha256", "at", "raw_base64"])
def test_optional_text_fields_are_strings(name):
    with pytest.raises(ValueError, match=f"'{name}' is not a string"):
        event(**{name: 5})


@pytest.mark.parametrize("name", ["doc_index", "line"])
def test_numbers_are_integers_not_booleans_and_fit_a_bigint(name):
    assert getattr(event(**{name: 2**63 - 1}), name) == 2**63 - 1
    for wrong in (True, 1.5, "1"):
        with pytest.raises(ValueError, match=f"'{name}' is not an integer"):
            event(**{name: wrong})
    with pytest.raises(ValueError, match=f"'{name}' is out of range"):
        event(**{name: 2**63})


def test_raw_truncated_is_a_boolean():
    with pytest.raises(ValueError, match="'raw_truncated' is not true or false"):
        event(raw_truncated="yes")


def test_raw_bytes_must_be_base64():
    assert event(raw_base64=base64.b64encode(b"\x00x").decode()).raw == b"\x00x"
    with pytest.raises(ValueError, match="'raw_base64' is not base64"):
        event(raw_base64="not base64!")


def test_at_must_be_an_rfc3339_time():
    with pytest.raises(ValueError, match="'at' is not an RFC 3339 time"):
        event(at="yesterday")


def test_a_time_without_a_zone_is_utc():
    assert event(at="2026-01-02T03:04:05").at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    built = DeadLetter(**BASE, at=datetime(2026, 1, 2))
    assert built.at.tzinfo is UTC
    plus2 = event(at="2026-01-02T03:04:05+02:00").at
    assert plus2.utcoffset() == timedelta(hours=2)
    assert plus2 == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "kafka",
    [
        {"topic": "r", "partition": 0},
        {"topic": "r", "partition": 0, "offset": 1, "extra": 2},
        {"topic": None, "partition": 0, "offset": 1},
        {"topic": "r", "partition": -1, "offset": 1},
        {"topic": "r", "partition": 2**31, "offset": 1},
        {"topic": "r", "partition": 0, "offset": 2**63},
        {"topic": 5, "partition": 0, "offset": 1},
        "records/0/1",
    ],
)
def test_kafka_coordinates_are_complete_and_in_range(kafka):
    with pytest.raises(ValueError, match=r"'kafka'|out of range|not a string"):
        event(kafka=kafka)


def test_nul_characters_are_made_storable():
    # PostgreSQL text cannot hold NUL; JSON can carry it (\u0000) in any string.
    letter = event(
        origin="x\u0000y", detail="d\u0000", source="s\u0000", sha256="\u0000",
        kafka={"topic": "t\u0000", "partition": 0, "offset": 1},
    )  # fmt: skip
    assert (letter.origin, letter.detail, letter.source, letter.sha256, letter.kafka.topic) == (
        "x\ufffdy", "d\ufffd", "s\ufffd", "\ufffd", "t\ufffd",
    )  # fmt: skip


def test_lone_surrogates_are_made_storable():
    # JSON may escape half a surrogate pair ("\ud800"); it cannot be encoded as UTF-8 at all.
    letter = DeadLetter.from_message(b'{"origin":"o","stage":"s","reason":"\\ud800r",'
                                     b'"detail":"a\\udfffb \\ud83d\\ude00"}')  # fmt: skip
    assert letter.reason == "\ufffdr"
    assert letter.detail == "a\ufffdb \U0001f600"  # a whole pair is one character, kept
    letter.to_message()[1].decode("utf-8")  # and it can be sent again


def test_refusals_built_from_foreign_headers_are_made_storable_too():
    letter = DeadLetter(origin="unknown", stage="dead-letter", reason="r", detail="d",
                        source="a\x00b")  # fmt: skip
    assert letter.source == "a\ufffdb"


def test_oversized_raw_bytes_are_cut_and_flagged():
    letter = DeadLetter(**BASE, raw=b"x" * (MAX_DEAD_LETTER_RAW_BYTES + 1))
    assert len(letter.raw) == MAX_DEAD_LETTER_RAW_BYTES
    assert letter.raw_truncated is True
    parsed = event(raw_base64=base64.b64encode(b"y" * 300_000).decode())
    assert len(parsed.raw) == MAX_DEAD_LETTER_RAW_BYTES
    assert parsed.raw_truncated is True
    assert json.loads(letter.to_message()[1])["raw_truncated"] is True


def test_raw_bytes_under_the_cap_are_kept_whole():
    letter = DeadLetter(**BASE, raw=b"x" * MAX_DEAD_LETTER_RAW_BYTES)
    assert len(letter.raw) == MAX_DEAD_LETTER_RAW_BYTES
    assert letter.raw_truncated is False
