"""Pure view helpers: parameters, record splitting, the document tree and its truncation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal

from streamsuite_web import views

RECORD = (
    '{"id":7,"kind":"unstructured","source":"a.json","sha256":"ab","doc_index":0,'
    '"name":null,"age":null,"payload":{"kafka": 1, "n": 1.50, "big": 123456789012345678901234},'
    '"kafka":{"topic":"records","partition":0,"offset":9},'
    '"produced_at":null,"ingested_at":"2026-01-31T12:00:05.123Z"}'
)


def test_blank_form_fields_mean_any_and_are_dropped():
    pairs = [("key", ""), ("value", " "), ("kind", "relational"), ("live", "1")]
    assert views.clean_params(pairs, drop=("live",)) == [("kind", "relational")]


def test_page_url_replaces_and_removes_parameters():
    params = [("kind", "relational"), ("cursor", "old")]
    assert views.page_url("/records", params, cursor="new") == "/records?kind=relational&cursor=new"
    assert views.page_url("/records", params, cursor=None, kind=None) == "/records"


def test_split_record_keeps_every_digit_and_cuts_the_payload_text_out():
    record, payload = views.split_record(RECORD)
    assert payload == '{"kafka": 1, "n": 1.50, "big": 123456789012345678901234}'
    assert record["payload"]["n"] == Decimal("1.50")
    assert record["payload"]["big"] == 123456789012345678901234
    assert record["kafka"]["offset"] == 9


def test_preview_is_one_line_and_cut():
    assert views.preview('{"a":\n 1}') == '{"a": 1}'
    cut = views.preview("x" * 500, 20)
    assert len(cut) == 20
    assert cut.endswith("…")


def test_document_view_lists_nested_values_with_json_forms():
    doc = json.loads('{"a": {"b": [1, "two", null, true]}, "c": 2.5}', parse_float=Decimal)
    view = views.document_view(doc, max_nodes=100, max_chars=100)
    assert not view.truncated
    assert view.total == view.shown == 8
    leaves = [(n.key, n.text, n.type) for n in view.nodes if n.kind == "leaf"]
    assert leaves == [("0", "1", "number"), ("1", '"two"', "string"), ("2", "null", "null"),
                      ("3", "true", "boolean"), ("c", "2.5", "number")]  # fmt: skip
    opens = [n for n in view.nodes if n.kind == "open"]
    closes = [n for n in view.nodes if n.kind == "close"]
    assert len(opens) == len(closes) == 3
    assert [n.size for n in opens] == [2, 1, 4]


def test_a_large_document_is_cut_at_the_node_budget_and_says_so():
    doc = {"items": list(range(5000))}
    view = views.document_view(doc, max_nodes=100, max_chars=100)
    assert view.truncated
    assert view.shown == 100
    assert view.total == 5002
    assert sum(1 for n in view.nodes if n.kind == "leaf") == 98
    # every opened container is closed, so the page's markup stays balanced
    assert sum(n.kind == "open" for n in view.nodes) == sum(n.kind == "close" for n in view.nodes)


def test_long_strings_are_cut():
    view = views.document_view({"s": "y" * 50}, max_nodes=10, max_chars=10)
    leaf = next(n for n in view.nodes if n.kind == "leaf")
    assert leaf.cut
    assert leaf.text.endswith("…")
    assert len(leaf.text) == 11
    assert view.truncated


def test_times_for_people():
    now = datetime(2026, 1, 31, 12, 10, tzinfo=UTC)
    assert views.format_time("2026-01-31T12:00:05.123Z") == "2026-01-31 12:00:05 UTC"
    assert views.ago("2026-01-31T12:09:50Z", now) == "10 s ago"
    assert views.ago("2026-01-31T11:10:00Z", now) == "1 h ago"
    assert views.ago(None, now) == "never"


def test_raw_content_decodes_text_and_flags_binary_and_cuts():
    text = views.raw_content(base64.b64encode(b"<script>x</script>").decode())
    assert (text.text, text.binary, text.cut) == ("<script>x</script>", False, False)
    binary = views.raw_content(base64.b64encode(b"\xff\xfeab").decode())
    assert binary.binary
    assert binary.size == 4
    cut = views.raw_content(base64.b64encode(b"a" * 100).decode(), limit=10)
    assert cut.cut
    assert cut.text == "a" * 10
