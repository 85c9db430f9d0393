"""Submit validation: the publisher's own parser and messages, the web's source names and
refusal messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from streamsuite_common.contract import DeadLetter
from streamsuite_common.publishing.formats import Limits
from streamsuite_web import submit

AT = datetime(2026, 1, 31, 12, 0, 5, 123000, tzinfo=UTC)


def prepare(name: str, text: str, **limits):
    return submit.prepare(name, text.encode(), limits=Limits(**limits), topic="records",
                          dlq_topic="records.dlq", at=AT)  # fmt: skip


def test_source_is_web_timestamp_and_a_safe_name():
    assert submit.source_for("people.yaml", AT) == "web/20260131T120005.123Z-people.yaml"
    assert submit.safe_name("../../etc/pass wd.json") == "pass_wd.json"
    assert submit.safe_name("C:\\x\\<b>.yaml") == "b_.yaml"
    assert submit.safe_name("...") == "upload"
    assert len(submit.safe_name("a" * 300 + ".json")) == submit.MAX_NAME_CHARS


def test_auto_format_reads_braces_as_json_and_the_rest_as_yaml():
    assert submit.pasted_name("auto", '  {"a": 1}') == "pasted.json"
    assert submit.pasted_name("auto", "[1, 2]") == "pasted.json"
    assert submit.pasted_name("auto", "a: 1") == "pasted.yaml"
    assert submit.pasted_name("jsonl", "{}") == "pasted.jsonl"
    with pytest.raises(submit.InputError, match="format: must be one of"):
        submit.pasted_name("xml", "<a/>")


@pytest.mark.parametrize(
    ("text", "name", "data", "message"),
    [
        ("", "", b"", "nothing to submit"),
        ("   \n", "", b"", "nothing to submit"),
        ("a: 1", "x.yaml", b"b: 2", "either pasted text or a file"),
        ("", "x.txt", b"b: 2", "unsupported type"),
        ("x" * 2000, "", b"", "too large: 2000 bytes, at most 1024"),
    ],
)
def test_unusable_forms_say_why_and_send_nothing(text, name, data, message):
    with pytest.raises(submit.InputError, match=message):
        submit.choose_input(text, name, data, "auto", 1024)


def test_an_upload_is_parsed_by_its_own_name():
    assert submit.choose_input("", "d.ndjson", b"{}\n", "yaml", 1024) == ("d.ndjson", b"{}\n")


def test_yaml_documents_become_the_publishers_messages_with_contract_headers():
    prepared = prepare("pasted.yaml", "name: Ada\nage: 36\n---\n- 1\n- 2\n")
    assert prepared.documents == 2
    assert not prepared.refusals
    assert [m.topic for m in prepared.messages] == ["records", "records"]
    first = prepared.messages[0]
    headers = dict(first.headers)
    assert first.key == prepared.source.encode()
    assert headers["source"] == prepared.source.encode()
    assert headers["sha256"] == prepared.sha256.encode()
    assert headers["doc-index"] == b"0"
    assert headers["content-type"] == b"application/json"
    assert headers["produced-at"] == b"2026-01-31T12:00:05.123Z"
    assert json.loads(first.value) == {"name": "Ada", "age": 36}
    assert dict(prepared.messages[1].headers)["doc-index"] == b"1"


@pytest.mark.parametrize(
    ("name", "text", "reason", "detail"),
    [
        ("pasted.json", '{"a": 1,}', "invalid-json", "line 1 column 9"),
        ("pasted.yaml", "a: [1,\n", "invalid-yaml", "line 2"),
        ("pasted.json", '{"a": NaN}', "nan-infinity", "NaN"),
        ("pasted.yaml", "a: !!python/object:os.system x", "unsafe-yaml-tag", ""),
        ("pasted.json", "[[[[[[1]]]]]]", "too-deep", "3"),
    ],
)
def test_refused_input_names_the_reason_and_detail_and_becomes_a_web_dead_letter(
    name, text, reason, detail
):
    prepared = prepare(name, text, max_depth=3)
    assert prepared.documents == 0
    [refusal] = prepared.refusals
    assert refusal.reason == reason
    assert detail in refusal.detail
    [message] = prepared.messages
    assert message.topic == "records.dlq"
    letter = DeadLetter.from_message(message.value)
    assert (letter.origin, letter.stage, letter.reason) == ("web", "parse", reason)
    assert letter.source == prepared.source
    assert letter.raw == text.encode()


def test_one_bad_yaml_document_is_refused_alone():
    prepared = prepare("pasted.yaml", "a: 1\n---\nb: [\n---\nc: 3\n")
    assert prepared.documents == 2
    [refusal] = prepared.refusals
    assert refusal.reason == "invalid-yaml"
    assert refusal.detail.startswith("document 2")
    assert [m.topic for m in prepared.messages] == ["records", "records", "records.dlq"]
