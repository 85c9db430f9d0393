"""messages: from a parsed file to the Kafka messages of the wire contract, without Kafka."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from streamsuite_common.contract import (
    DEAD_LETTER_CONTENT_TYPE,
    DeadLetter,
    parse_document_headers,
)
from streamsuite_common.publishing.formats import ParseResult, Refusal, parse_file
from streamsuite_common.publishing.messages import (
    OutMessage,
    dead_letter,
    file_messages,
    refusal_report,
    sha256_hex,
)

TOPIC, DLQ = "records", "records.dlq"
AT = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _messages(source: str, data: bytes, **kw) -> list[OutMessage]:
    return file_messages(
        origin="publisher",
        source=source,
        sha256=sha256_hex(data),
        parsed=parse_file(source, data),
        topic=TOPIC,
        dlq_topic=DLQ,
        produced_at=kw.get("produced_at", AT),
    )


def _headers(message: OutMessage) -> dict[str, bytes]:
    return dict(message.headers)


def test_sha256_hex_is_the_hex_digest():
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert len(sha256_hex(b"")) == 64


def test_documents_go_to_the_topic_with_the_source_path_as_key():
    data = b"a: 1\n---\nb: 2\n"
    messages = _messages("dir/sub/team.yaml", data)
    assert [m.topic for m in messages] == [TOPIC, TOPIC]
    assert [m.key for m in messages] == [b"dir/sub/team.yaml"] * 2
    assert [json.loads(m.value) for m in messages] == [{"a": 1}, {"b": 2}]


def test_document_messages_carry_the_five_contract_headers():
    data = b'{"a": 1}\n{"b": 2}\n'
    messages = _messages("in/s.jsonl", data)
    for index, message in enumerate(messages):
        assert [name for name, _ in message.headers] == [
            "source",
            "sha256",
            "doc-index",
            "content-type",
            "produced-at",
        ]
        headers = _headers(message)
        assert headers["source"] == b"in/s.jsonl"
        assert headers["sha256"] == hashlib.sha256(data).hexdigest().encode()
        assert headers["doc-index"] == str(index).encode()
        assert headers["content-type"] == b"application/json"
        assert headers["produced-at"] == b"2026-11-20T10:00:00.123Z"


def test_produced_at_is_rfc3339_utc_with_z_even_from_another_zone():
    local = datetime(2026, 11, 20, 12, 30, 0, tzinfo=timezone(timedelta(hours=2)))
    message = _messages("p.json", b"{}", produced_at=local)[0]
    produced = _headers(message)["produced-at"].decode()
    assert RFC3339_Z.match(produced), produced
    assert produced == "2026-11-20T10:30:00.000Z"


def test_document_headers_read_back_as_an_identity():
    data = b'{"a": 1}'
    meta = parse_document_headers(_messages("p.json", data)[0].headers)
    assert meta.has_identity
    assert (meta.source, meta.sha256, meta.doc_index) == ("p.json", sha256_hex(data), 0)
    assert meta.content_type == "application/json"
    assert meta.produced_at == AT.replace(microsecond=123000)


def test_non_ascii_source_path_is_utf8_in_key_and_header():
    message = _messages("données/été.json", b"{}")[0]
    assert message.key == "données/été.json".encode()
    assert _headers(message)["source"] == "données/été.json".encode()


def test_doc_index_header_keeps_the_position_of_a_document_after_a_refused_one():
    messages = _messages("m.jsonl", b'{"a": 1}\nbad\n{"c": 3}\n')
    documents = [m for m in messages if m.topic == TOPIC]
    assert [_headers(m)["doc-index"] for m in documents] == [b"0", b"2"]


def test_each_refused_line_becomes_a_dead_letter_on_the_dlq():
    data = b'{"a": 1}\nnot json\n{"c": 3}\n{"n": NaN}\n'
    messages = _messages("in/m.jsonl", data)
    assert [m.topic for m in messages] == [TOPIC, TOPIC, DLQ, DLQ]
    letters = [DeadLetter.from_message(m.value) for m in messages if m.topic == DLQ]
    first, second = letters
    assert (first.reason, first.doc_index, first.line, first.raw) == (
        "invalid-json",
        1,
        2,
        b"not json",
    )
    assert (second.reason, second.doc_index, second.line, second.raw) == (
        "nan-infinity",
        3,
        4,
        b'{"n": NaN}',
    )
    for letter in letters:
        assert letter.origin == "publisher"
        assert letter.stage == "parse"
        assert letter.source == "in/m.jsonl"
        assert letter.sha256 == sha256_hex(data)
        assert letter.detail
        assert letter.at == AT.replace(microsecond=123000)


def test_dead_letter_message_has_source_key_and_dead_letter_headers():
    messages = _messages("in/m.jsonl", b'{"a": 1}\nbad\n')
    dlq = next(m for m in messages if m.topic == DLQ)
    assert dlq.key == b"in/m.jsonl"
    headers = _headers(dlq)
    assert headers["content-type"] == DEAD_LETTER_CONTENT_TYPE.encode()
    assert headers["source"] == b"in/m.jsonl"
    assert headers["sha256"] == sha256_hex(b'{"a": 1}\nbad\n').encode()
    assert headers["doc-index"] == b"1"


def test_a_file_refusal_yields_exactly_one_dead_letter_and_no_document():
    data = b'{"name": "x", "age": '
    messages = _messages("bad/truncated.json", data)
    assert len(messages) == 1
    (message,) = messages
    assert message.topic == DLQ
    letter = DeadLetter.from_message(message.value)
    assert letter.reason == "invalid-json"
    assert "line 1 column 22" in letter.detail
    assert letter.source == "bad/truncated.json"
    assert letter.sha256 == sha256_hex(data)
    assert letter.doc_index is None
    assert letter.line is None
    assert letter.raw == data
    assert letter.origin == "publisher"
    assert letter.stage == "parse"


def test_dead_letter_value_is_json_with_base64_raw():
    data = b"\xff\xfe not utf-8"
    message = _messages("l.json", data)[0]
    payload = json.loads(message.value)
    assert payload["reason"] == "not-utf8"
    assert base64.b64decode(payload["raw_base64"]) == data
    assert payload["version"] == 1
    assert payload["raw_truncated"] is False


def test_a_file_whose_every_document_is_refused_yields_one_dead_letter():
    messages = _messages("all.yaml", b"a: [\n---\nb: {\n")
    assert [m.topic for m in messages] == [DLQ]
    assert DeadLetter.from_message(messages[0].value).reason == "invalid-yaml"


def test_dead_letter_builds_the_contract_event_from_a_refusal():
    refusal = Refusal("too-large", "too big", b"raw", index=4, line=9)
    letter = dead_letter(
        refusal, origin="publisher", source="s.jsonl", sha256="ab" * 32, stage="read", at=AT
    )
    assert letter == DeadLetter(
        origin="publisher",
        stage="read",
        reason="too-large",
        detail="too big",
        raw=b"raw",
        source="s.jsonl",
        sha256="ab" * 32,
        doc_index=4,
        line=9,
        at=AT,
    )


def test_an_empty_parse_result_yields_no_message():
    messages = file_messages(
        origin="publisher",
        source="x.json",
        sha256="0" * 64,
        parsed=ParseResult(),
        topic=TOPIC,
        dlq_topic=DLQ,
        produced_at=AT,
    )
    assert messages == []


# --- the <name>.error.json report ---


def test_refusal_report_names_the_first_refusal_and_lists_them_all():
    refusals = [
        Refusal("invalid-json", "line 2: bad", b"x", index=1, line=2),
        Refusal("nan-infinity", "line 4: NaN", b"y", index=3, line=4),
    ]
    report = refusal_report(
        source="in/m.jsonl", sha256="cd" * 32, refusals=refusals, at=AT, published=2
    )
    assert report == {
        "source": "in/m.jsonl",
        "sha256": "cd" * 32,
        "reason": "invalid-json",
        "detail": "line 2: bad",
        "documents_published": 2,
        "refused": [
            {"reason": "invalid-json", "detail": "line 2: bad", "doc_index": 1, "line": 2},
            {"reason": "nan-infinity", "detail": "line 4: NaN", "doc_index": 3, "line": 4},
        ],
        "at": "2026-11-20T10:00:00.123Z",
    }


def test_refusal_report_is_json_serialisable_and_carries_no_raw_bytes():
    report = refusal_report(
        source="r.json",
        sha256=None,
        refusals=[Refusal("unreadable", "cannot read", b"\x00secret")],
        at=AT,
        published=0,
    )
    text = json.dumps(report)
    assert "secret" not in text
    assert report["sha256"] is None
    assert report["refused"] == [
        {"reason": "unreadable", "detail": "cannot read", "doc_index": None, "line": None}
    ]


def test_refusal_report_needs_at_least_one_refusal():
    with pytest.raises(IndexError):
        refusal_report(source="x", sha256=None, refusals=[], at=AT, published=0)
