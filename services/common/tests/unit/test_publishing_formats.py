"""formats.parse_file: every sample, every refusal reason, and the edges of each format."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from streamsuite_common.publishing.formats import (
    Limits,
    ParseResult,
    Refusal,
    file_format,
    parse_file,
)

SAMPLES = Path("/work/shared/samples")
GOOD = SAMPLES / "good"
BAD = SAMPLES / "bad"


def _sample(kind: Path, name: str) -> bytes:
    path = kind / name
    if not path.exists():
        pytest.skip(f"sample {path} is not present")
    return path.read_bytes()


def _values(result: ParseResult) -> list:
    return [json.loads(document.value) for document in result.documents]


def _refused(result: ParseResult) -> Refusal:
    assert result.documents == ()
    assert result.refusals == ()
    assert result.file_refusal is not None
    return result.file_refusal


# --- the good samples ---

GOOD_EXPECTED = {
    "person.json": [{"name": "Ada Lovelace", "age": 36}],
    "person.yml": [{"name": "Grace Hopper", "age": 85}],
    "array.json": [[{"id": 1}, {"id": 2}]],
    "sensors.jsonl": [
        {"sensor": "t-1", "celsius": 21.4, "at": "2026-11-20T10:00:00Z"},
        {"sensor": "t-2", "celsius": 19.8, "at": "2026-11-20T10:00:00Z"},
        {"sensor": "t-1", "celsius": 21.6, "at": "2026-11-20T10:01:00Z"},
    ],
    "team.yaml": [
        {"name": "Alan Turing", "age": 41},
        {"name": "Katherine Johnson", "age": 101},
        {"team": "compilers", "members": ["grace", "fran"]},
    ],
    "order.yaml": [
        {
            "order_id": "A-1001",
            "customer": {"id": 42, "email": "buyer@example.com"},
            "items": [
                {"sku": "KB-01", "qty": 1, "price": 49.90},
                {"sku": "MS-07", "qty": 2, "price": 19.50},
            ],
            "status": "shipped",
        }
    ],
    "nested-unicode.json": [
        {
            "ville": "Zürich",
            "emoji": "🚀",
            "tags": ["\u03b1", "\u03b2"],  # Greek alpha, beta
            "geo": {"lat": 47.37, "lon": 8.54, "meta": {"source": "gps"}},
        }
    ],
}


@pytest.mark.parametrize("name", sorted(GOOD_EXPECTED))
def test_good_sample_gives_the_expected_documents(name):
    result = parse_file(name, _sample(GOOD, name))
    assert result.file_refusal is None
    assert result.refusals == ()
    assert _values(result) == GOOD_EXPECTED[name]
    assert [d.index for d in result.documents] == list(range(len(GOOD_EXPECTED[name])))


def test_every_good_sample_has_an_expectation():
    # A new sample must not slip through untested.
    present = {path.name for path in GOOD.iterdir()} if GOOD.is_dir() else set()
    assert present <= set(GOOD_EXPECTED), present - set(GOOD_EXPECTED)


def test_json_lines_sample_has_one_document_a_line():
    result = parse_file("sensors.jsonl", _sample(GOOD, "sensors.jsonl"))
    assert [(d.index, d.line) for d in result.documents] == [(0, 1), (1, 2), (2, 3)]


def test_multi_document_yaml_sample_gives_the_start_line_of_each_document():
    result = parse_file("team.yaml", _sample(GOOD, "team.yaml"))
    assert [(d.index, d.line) for d in result.documents] == [(0, 1), (1, 3), (2, 6)]


def test_array_file_is_one_document_whose_value_is_the_list():
    result = parse_file("array.json", _sample(GOOD, "array.json"))
    assert len(result.documents) == 1
    assert isinstance(json.loads(result.documents[0].value), list)


def test_json_document_value_is_its_own_bytes_keeping_unicode():
    data = _sample(GOOD, "nested-unicode.json")
    value = parse_file("nested-unicode.json", data).documents[0].value
    assert value == data.strip()  # as written: not re-encoded, only the outer blanks dropped
    assert "Zürich".encode() in value


@pytest.mark.parametrize(
    "number",
    [b"19.990000000000000000001", b"12345678901234567890.5", b"1E+2", b"-0.0", b"1" * 5000],
)
def test_json_numbers_leave_exactly_as_written(number):
    data = b'{"price": ' + number + b', "n": [' + number + b"]}"
    assert parse_file("exact.json", data).documents[0].value == data
    line = b'  {"price":' + number + b"}\t\r\n"
    assert parse_file("exact.jsonl", b'{"a": 1}\n' + line).documents[1].value == (
        b'{"price":' + number + b"}"
    )


def test_json_layout_and_duplicate_keys_leave_as_written():
    data = '\ufeff\n{\n  "b": 1,\n  "a": "\\u00e9",\n  "a": 2\n}\n'.encode()
    assert parse_file("pretty.json", data).documents[0].value == data[3:].strip()


def test_yaml_document_value_is_compact_utf8_json_keeping_unicode():
    value = (
        parse_file("u.yaml", "ville: Zürich\nemoji: 🚀\nn: [1, 2]\n".encode()).documents[0].value
    )
    assert value == '{"ville":"Zürich","emoji":"🚀","n":[1,2]}'.encode()


# --- the bad samples ---


def test_truncated_json_is_invalid_json_with_line_and_column():
    refusal = _refused(parse_file("truncated.json", _sample(BAD, "truncated.json")))
    assert refusal.reason == "invalid-json"
    assert "line 1 column 22" in refusal.detail


def test_broken_yaml_is_invalid_yaml_with_its_line():
    refusal = _refused(parse_file("broken.yaml", _sample(BAD, "broken.yaml")))
    assert refusal.reason == "invalid-yaml"
    assert "line 2" in refusal.detail


def test_empty_file_is_refused_as_empty():
    refusal = _refused(parse_file("empty.json", _sample(BAD, "empty.json")))
    assert refusal.reason == "empty"


def test_latin1_file_is_not_utf8_with_the_byte_offset():
    data = _sample(BAD, "latin1.json")
    refusal = _refused(parse_file("latin1.json", data))
    assert refusal.reason == "not-utf8"
    assert "offset 13" in refusal.detail
    assert "0xe9" in refusal.detail
    assert refusal.raw == data


def test_python_tag_yaml_is_refused_as_unsafe_tag():
    refusal = _refused(parse_file("python-tag.yaml", _sample(BAD, "python-tag.yaml")))
    assert refusal.reason == "unsafe-yaml-tag"
    assert "python/object/apply" in refusal.detail


def test_nan_json_is_refused_as_nan_infinity():
    refusal = _refused(parse_file("nan.json", _sample(BAD, "nan.json")))
    assert refusal.reason == "nan-infinity"


def test_alias_bomb_is_refused_as_too_many_nodes_with_bounded_memory():
    data = _sample(BAD, "alias-bomb.yaml")
    tracemalloc.start()
    try:
        result = parse_file("alias-bomb.yaml", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _refused(result).reason == "too-many-nodes"
    assert peak < 10 * 1024 * 1024, f"peak {peak:,} bytes"


@pytest.mark.parametrize("name", ["nul-char.json", "bad-age.json"])
def test_documents_only_the_database_can_judge_are_published(name):
    result = parse_file(name, _sample(BAD, name))
    assert result.file_refusal is None
    assert len(result.documents) == 1


def test_nul_character_survives_as_a_json_escape():
    result = parse_file("nul-char.json", _sample(BAD, "nul-char.json"))
    assert json.loads(result.documents[0].value) == {"note": "before\x00after"}


# --- file names ---


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.json", "json"),
        ("A.JSON", "json"),
        ("a.jsonl", "jsonl"),
        ("a.NDJSON", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.yaml", "yaml"),
        ("a.YAML", "yaml"),
        ("a.Yml", "yaml"),
        ("dir/sub/a.yml", "yaml"),
    ],
)
def test_file_format_knows_extensions_case_insensitively(name, expected):
    assert file_format(name) == expected


@pytest.mark.parametrize(
    "name", ["a.txt", "a.csv", "a.json.bak", "a.xml", "json", "a.jsn", "a.yaml~", "README"]
)
def test_file_format_is_none_for_unsupported_names(name):
    assert file_format(name) is None


def test_unsupported_name_is_refused_as_a_whole():
    refusal = _refused(parse_file("data.txt", b'{"a": 1}'))
    assert refusal.reason == "unsupported-format"


@pytest.mark.parametrize("name", ["UPPER.JSON", "Mixed.Yml", "SHOUT.YAML", "lines.NDJSON"])
def test_upper_case_extensions_are_parsed(name):
    data = b'{"a": 1}\n' if name.endswith(".NDJSON") else b'{"a": 1}'
    assert _values(parse_file(name, data)) == [{"a": 1}]


# --- JSON ---


def test_utf8_bom_is_accepted():
    result = parse_file("bom.json", b'\xef\xbb\xbf{"a": "\xc3\xa9"}')
    assert _values(result) == [{"a": "é"}]


def test_utf8_bom_is_accepted_in_json_lines_and_yaml():
    assert _values(parse_file("b.jsonl", b'\xef\xbb\xbf{"a": 1}\n{"b": 2}\n')) == [
        {"a": 1},
        {"b": 2},
    ]
    assert _values(parse_file("b.yaml", b"\xef\xbb\xbfa: 1\n")) == [{"a": 1}]


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"42", 42), (b'"text"', "text"), (b"true", True), (b"null", None), (b"[1, 2]", [1, 2])],
)
def test_json_scalar_or_array_is_one_document(data, expected):
    result = parse_file("value.json", data)
    assert _values(result) == [expected]
    assert result.documents[0].index == 0
    assert result.documents[0].line == 1


def test_whitespace_only_json_is_empty():
    assert _refused(parse_file("blank.json", b"  \n\t\r\n")).reason == "empty"


def test_two_json_values_in_a_json_file_are_invalid_json():
    refusal = _refused(parse_file("two.json", b'{"a": 1}{"b": 2}'))
    assert refusal.reason == "invalid-json"
    assert "column 9" in refusal.detail


@pytest.mark.parametrize("data", [b"NaN", b"Infinity", b"-Infinity", b'{"x": [1, NaN]}'])
def test_nan_and_infinity_literals_are_refused(data):
    assert _refused(parse_file("n.json", data)).reason == "nan-infinity"


def test_number_overflowing_to_infinity_is_refused_as_nan_infinity():
    assert _refused(parse_file("big.json", b'{"x": 1e400}')).reason == "nan-infinity"
    assert _refused(parse_file("big.json", b"-1e400")).reason == "nan-infinity"


def test_json_nested_100_levels_is_too_deep():
    data = b"[" * 100 + b"]" * 100
    refusal = _refused(parse_file("deep.json", data))
    assert refusal.reason == "too-deep"
    assert "64" in refusal.detail


def test_json_nested_exactly_at_the_limit_is_accepted():
    limits = Limits(max_depth=10)
    ok = parse_file("ok.json", b"[" * 10 + b"]" * 10, limits)
    assert ok.file_refusal is None
    too_deep = parse_file("deep.json", b"[" * 12 + b"]" * 12, limits)
    assert _refused(too_deep).reason == "too-deep"


@pytest.mark.parametrize(
    "data", [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000]
)
def test_huge_json_nesting_is_too_deep_not_a_crash(data):
    assert _refused(parse_file("deep.json", data)).reason == "too-deep"


def test_json_document_over_the_size_limit_is_too_large():
    limits = Limits(max_document_bytes=1000)
    refusal = _refused(parse_file("big.json", b'{"a": "' + b"x" * 2000 + b'"}', limits))
    assert refusal.reason == "too-large"
    assert "1,000" in refusal.detail


def test_document_size_limit_counts_bytes_not_characters():
    # 400 two-byte characters: 400 characters but 800+ bytes of JSON.
    limits = Limits(max_document_bytes=500)
    data = json.dumps({"a": "é" * 400}, ensure_ascii=False).encode()
    assert _refused(parse_file("wide.json", data, limits)).reason == "too-large"


def test_document_just_under_the_size_limit_is_published():
    data = b'{"a":"' + b"x" * 90 + b'"}'  # 98 bytes compact
    assert parse_file("ok.json", data, Limits(max_document_bytes=98)).file_refusal is None
    assert _refused(parse_file("ok.json", data, Limits(max_document_bytes=97))).reason == (
        "too-large"
    )


def test_not_utf8_detail_names_the_line():
    refusal = _refused(parse_file("x.json", b'{\n"a":\n"\xff"}'))
    assert refusal.reason == "not-utf8"
    assert "offset 8" in refusal.detail
    assert "line 3" in refusal.detail


def test_lone_surrogate_escape_in_json_is_refused_not_raised():
    result = parse_file("surrogate.json", b'{"a": "\\ud800"}')
    assert result.file_refusal is not None


def test_lone_surrogate_on_one_json_lines_line_refuses_only_that_line():
    result = parse_file("s.jsonl", b'{"a": 1}\n{"a": "\\ud800"}\n{"b": 2}\n')
    assert _values(result) == [{"a": 1}, {"b": 2}]
    assert [(r.index, r.line) for r in result.refusals] == [(1, 2)]


# --- JSON Lines ---


def test_bad_line_in_json_lines_is_refused_alone():
    data = b'{"a": 1}\nnot json\n{"b": 2}\n'
    result = parse_file("mixed.jsonl", data)
    assert result.file_refusal is None
    assert _values(result) == [{"a": 1}, {"b": 2}]
    assert [(d.index, d.line) for d in result.documents] == [(0, 1), (2, 3)]
    assert len(result.refusals) == 1
    refusal = result.refusals[0]
    assert refusal.reason == "invalid-json"
    assert refusal.index == 1
    assert refusal.line == 2
    assert refusal.raw == b"not json"
    assert refusal.detail.startswith("line 2:")


def test_blank_lines_in_json_lines_are_skipped_but_counted_for_line_numbers():
    data = b'\n{"a": 1}\n\n   \n{"b": 2}\n\n'
    result = parse_file("gaps.jsonl", data)
    assert _values(result) == [{"a": 1}, {"b": 2}]
    assert [(d.index, d.line) for d in result.documents] == [(0, 2), (1, 5)]


def test_json_lines_with_crlf_endings_parse():
    result = parse_file("crlf.ndjson", b'{"a": 1}\r\n{"b": 2}\r\n')
    assert _values(result) == [{"a": 1}, {"b": 2}]


def test_json_lines_without_final_newline_keeps_last_line():
    assert _values(parse_file("x.jsonl", b'{"a": 1}\n{"b": 2}')) == [{"a": 1}, {"b": 2}]


def test_line_separator_inside_a_json_lines_string_does_not_split_the_line():
    data = '{"a": "x\u2028y\u2029z"}\n{"b": 1}\n'.encode()
    result = parse_file("ls.jsonl", data)
    assert _values(result) == [{"a": "x\u2028y\u2029z"}, {"b": 1}]
    assert [d.line for d in result.documents] == [1, 2]


def test_json_lines_with_every_line_bad_is_refused_as_a_file():
    result = parse_file("bad.jsonl", b"nope\n[1,\n")
    refusal = _refused(result)
    assert refusal.reason == "invalid-json"
    assert "and 1 more" in refusal.detail
    assert refusal.raw == b"nope\n[1,\n"


def test_json_lines_with_one_bad_line_only_is_refused_as_a_file():
    refusal = _refused(parse_file("one.jsonl", b"\n{oops\n\n"))
    assert refusal.reason == "invalid-json"


def test_blank_json_lines_file_is_empty():
    assert _refused(parse_file("blank.jsonl", b"\n\n \n")).reason == "empty"


def test_json_lines_line_refusal_reasons_are_specific():
    data = b'{"ok": 1}\n{"n": NaN}\n' + b"[" * 100 + b"]" * 100 + b'\n{"big": 1e400}\n'
    result = parse_file("reasons.jsonl", data)
    assert _values(result) == [{"ok": 1}]
    assert [(r.reason, r.index, r.line) for r in result.refusals] == [
        ("nan-infinity", 1, 2),
        ("too-deep", 2, 3),
        ("nan-infinity", 3, 4),
    ]


def test_json_lines_line_over_the_size_limit_is_too_large_alone():
    limits = Limits(max_document_bytes=50)
    data = b'{"a": 1}\n{"b": "' + b"y" * 100 + b'"}\n'
    result = parse_file("big.jsonl", data, limits)
    assert _values(result) == [{"a": 1}]
    assert [(r.reason, r.index, r.line) for r in result.refusals] == [("too-large", 1, 2)]


# --- YAML ---


def test_multi_document_yaml_with_a_broken_middle_document_refuses_only_it():
    data = b"a: 1\n---\nb: [unclosed\n---\nc: 3\n"
    result = parse_file("multi.yaml", data)
    assert result.file_refusal is None
    assert _values(result) == [{"a": 1}, {"c": 3}]
    assert [(d.index, d.line) for d in result.documents] == [(0, 1), (2, 4)]
    assert len(result.refusals) == 1
    refusal = result.refusals[0]
    assert refusal.reason == "invalid-yaml"
    assert refusal.index == 1
    assert refusal.line == 2
    assert refusal.detail.startswith("document 2 (line 2):")
    assert refusal.raw == b"---\nb: [unclosed\n"


def test_multi_document_yaml_with_every_document_bad_is_a_file_refusal():
    data = b"a: [\n---\nb: {\n"
    refusal = _refused(parse_file("allbad.yaml", data))
    assert refusal.reason == "invalid-yaml"
    assert "and 1 more" in refusal.detail
    assert refusal.raw == data


def test_multi_document_yaml_refusal_reasons_are_per_document():
    data = (
        b"ok: 1\n---\nn: .nan\n---\n"
        b"!!python/object/apply:os.system ['true']\n---\nb: !!binary aGk=\n"
    )
    result = parse_file("reasons.yaml", data)
    assert _values(result) == [{"ok": 1}]
    assert [(r.reason, r.index) for r in result.refusals] == [
        ("nan-infinity", 1),
        ("unsafe-yaml-tag", 2),
        ("unsupported-value", 3),
    ]


def test_yaml_separator_inside_an_indented_block_scalar_does_not_split():
    data = b"text: |\n  first\n  ---\n  second\nafter: 1\n"
    result = parse_file("block.yaml", data)
    assert _values(result) == [{"text": "first\n---\nsecond\n", "after": 1}]


def test_yaml_separator_with_content_on_the_same_line_starts_a_document():
    result = parse_file("inline.yaml", b"--- a\n--- [1, 2]\n")
    assert _values(result) == ["a", [1, 2]]


def test_yaml_directive_before_the_first_separator_stays_with_its_document():
    result = parse_file("directive.yaml", b"%YAML 1.1\n---\na: 1\n")
    assert result.file_refusal is None
    assert _values(result) == [{"a": 1}]
    assert result.documents[0].line == 1


def test_yaml_directive_between_documents_stays_with_the_following_one():
    # Not strictly YAML (a directive needs a `...` before it), but accepted leniently.
    result = parse_file("directive.yaml", b"a: 1\n---\n%YAML 1.1\n---\nc: 3\n")
    assert _values(result) == [{"a": 1}, {"c": 3}]
    assert result.refusals == ()


def test_yaml_directive_after_document_end_marker_stays_with_its_document():
    data = b"a: 1\n---\nb: 2\n...\n%YAML 1.1\n---\nc: 3\n"
    result = parse_file("directive.yaml", data)
    assert result.refusals == ()
    assert _values(result) == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_yaml_sections_with_only_comments_are_not_documents():
    data = b"# header\n---\na: 1\n---\n# nothing here\n---\nb: 2\n"
    result = parse_file("comments.yaml", data)
    assert _values(result) == [{"a": 1}, {"b": 2}]
    assert [d.index for d in result.documents] == [0, 1]


def test_yaml_with_only_comments_is_empty():
    assert _refused(parse_file("c.yaml", b"# nothing\n---\n# still\n")).reason == "empty"


def test_yaml_null_document_is_published_as_null():
    assert _values(parse_file("null.yaml", b"a: 1\n---\n~\n")) == [{"a": 1}, None]


@pytest.mark.parametrize("data", [b"a: .nan\n", b"a: .inf\n", b"a: -.Inf\n", b"[1, .NaN]\n"])
def test_yaml_nan_and_infinity_are_refused(data):
    assert _refused(parse_file("n.yaml", data)).reason == "nan-infinity"


def test_yaml_timestamps_become_iso_strings():
    data = b"at: 2001-12-14t21:59:43.10-05:00\nday: 2002-12-14\nnaive: 2001-12-14 21:59:43\n"
    assert _values(parse_file("t.yaml", data)) == [
        {
            "at": "2001-12-14T21:59:43.100000-05:00",
            "day": "2002-12-14",
            "naive": "2001-12-14T21:59:43",
        }
    ]


def test_yaml_timestamp_keys_become_iso_strings():
    assert _values(parse_file("t.yaml", b"2002-12-14: holiday\n")) == [{"2002-12-14": "holiday"}]


def test_yaml_binary_is_unsupported_value():
    refusal = _refused(parse_file("b.yaml", b"a: !!binary aGVsbG8=\n"))
    assert refusal.reason == "unsupported-value"
    assert "binary" in refusal.detail


def test_yaml_set_is_unsupported_value():
    refusal = _refused(parse_file("s.yaml", b"a: !!set {x, y}\n"))
    assert refusal.reason == "unsupported-value"
    assert "set" in refusal.detail


def test_yaml_sequence_key_is_unsupported_value():
    # SafeLoader rejects unhashable keys itself; still a specific refusal, not a crash.
    refusal = _refused(parse_file("k.yaml", b"? [1, 2]\n: v\n"))
    assert refusal.reason in {"invalid-yaml", "unsupported-value"}


def test_yaml_integer_keys_become_strings_like_json():
    result = parse_file("k.yaml", b"1: a\n2: b\n")
    assert json.loads(result.documents[0].value) == {"1": "a", "2": "b"}
    assert json.loads(result.documents[0].value) == json.loads(json.dumps({1: "a", 2: "b"}))


def test_yaml_boolean_and_null_keys_become_strings_like_json():
    result = parse_file("k.yaml", b"true: a\nfalse: b\nnull: c\n")
    assert json.loads(result.documents[0].value) == {"true": "a", "false": "b", "null": "c"}


def test_yaml_float_keys_become_strings():
    assert _values(parse_file("k.yaml", b"1.5: a\n")) == [{"1.5": "a"}]


def test_yaml_integer_and_boolean_keys_are_not_merged():
    result = parse_file("k.yaml", b"1: a\ntrue: b\n")
    assert _values(result) == [{"1": "a", "true": "b"}]


def test_yaml_tags_that_name_python_objects_are_unsafe_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    data = f"!!python/object/apply:os.system ['touch {marker}']\n".encode()
    refusal = _refused(parse_file("evil.yaml", data))
    assert refusal.reason == "unsafe-yaml-tag"
    assert not marker.exists()


def test_yaml_python_name_tag_inside_a_mapping_is_unsafe():
    refusal = _refused(parse_file("evil.yml", b"a: 1\nb: !!python/name:os.system\n"))
    assert refusal.reason == "unsafe-yaml-tag"
    assert "line 2" in refusal.detail


def test_yaml_nested_100_levels_is_too_deep():
    flow = b"[" * 100 + b"]" * 100
    assert _refused(parse_file("deep.yaml", flow)).reason == "too-deep"
    block = b"".join(b"  " * i + b"k:\n" for i in range(100)) + b"  " * 100 + b"v\n"
    assert _refused(parse_file("deep.yaml", block)).reason == "too-deep"


def test_yaml_aliases_that_nest_deeply_are_too_deep():
    # Each level shares one node, so the graph is tiny, but the expansion is 80 levels deep.
    lines = [b"l0: &l0 [x]"] + [b"l%d: &l%d [*l%d]" % (i, i, i - 1) for i in range(1, 80)]
    refusal = _refused(parse_file("deep-alias.yaml", b"\n".join(lines) + b"\n"))
    assert refusal.reason == "too-deep"


def test_huge_yaml_nesting_is_too_deep_not_a_crash():
    assert _refused(parse_file("deep.yaml", b"[" * 100_000)).reason == "too-deep"


def test_yaml_alias_expansion_over_the_node_limit_is_refused():
    data = b"a: &a [1, 2, 3, 4, 5]\nb: [*a, *a, *a, *a]\n"
    assert parse_file("ok.yaml", data, Limits(max_yaml_nodes=100)).file_refusal is None
    refusal = _refused(parse_file("many.yaml", data, Limits(max_yaml_nodes=20)))
    assert refusal.reason == "too-many-nodes"


def test_yaml_shared_alias_is_expanded_in_the_document():
    assert _values(parse_file("alias.yaml", b"a: &x [1]\nb: *x\n")) == [{"a": [1], "b": [1]}]


_RECURSIVE_ALIAS_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from streamsuite_common.publishing.formats import parse_file
result = parse_file("loop.yaml", b"&a [*a]\\n")
print(result.file_refusal.reason if result.file_refusal else "published")
"""


def test_recursive_yaml_alias_is_refused_quickly():
    # In a child with a 1 GiB address-space cap and a timeout, so a hang cannot hurt the run.
    try:
        done = subprocess.run(
            [sys.executable, "-c", _RECURSIVE_ALIAS_CHILD],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("parse_file did not return within 15 s")
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "recursive-yaml"


def test_yaml_document_over_the_size_limit_is_too_large():
    limits = Limits(max_document_bytes=100)
    data = b"a: " + b"x" * 200 + b"\n"
    assert _refused(parse_file("big.yaml", data, limits)).reason == "too-large"


def test_yaml_alias_expansion_over_the_size_limit_is_too_large():
    # Small text, large JSON: the limit applies to the encoded document too.
    limits = Limits(max_document_bytes=500)
    data = b"a: &a " + b"x" * 100 + b"\nb: [*a, *a, *a, *a, *a, *a]\n"
    assert len(data) < 500
    assert _refused(parse_file("grow.yaml", data, limits)).reason == "too-large"


def test_one_oversized_yaml_document_is_refused_alone():
    limits = Limits(max_document_bytes=100)
    data = b"a: 1\n---\nb: " + b"x" * 200 + b"\n---\nc: 3\n"
    result = parse_file("multi.yaml", data, limits)
    assert _values(result) == [{"a": 1}, {"c": 3}]
    assert [(r.reason, r.index, r.line) for r in result.refusals] == [("too-large", 1, 2)]


def test_empty_yaml_file_is_empty():
    assert _refused(parse_file("e.yaml", b"")).reason == "empty"
    assert _refused(parse_file("e.yml", b"\n  \n")).reason == "empty"


def test_file_refusal_carries_the_whole_file_as_raw():
    data = b"a: [\n"
    assert _refused(parse_file("x.yaml", data)).raw == data
