"""Every filter of GET /api/v1/records and the POST endpoint, against documents stored by the
ingestor's own code: each answer is compared with the exact set of ids expected."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from streamsuite_common.query.sql import FIRST_WINDOW

from .conftest import ids

CORPUS = {
    "ada": {"name": "Ada Lovelace", "age": 36, "address": {"city": "London"}},
    "grace": {"name": "Grace Hopper", "age": 85, "tags": ["navy", "cobol"]},
    "num30": {"n": 30, "address": {"city": "Paris", "zip": None}},
    "str30": {"n": "30", "tags": ["cobol"]},
    "float": b'{"n": 30.5, "price": 0.1000000000000000000001}',  # as sent: exact digits
    "array": [{"id": 1, "tags": ["x"]}, {"id": 2}],
    "items": {"items": [{"price": 49.9}, {"price": 10}], "obj": {"a": [1, 2]}},
    "objkey": {"items": {"0": {"price": 49.9}}},
    "nulls": {"n": None, "flag": True},
    "arr2": {"obj": {"a": [1]}},
}


@pytest.fixture
def corpus(filler) -> dict[str, int]:
    stored = filler.add(*CORPUS.values())
    return dict(zip(CORPUS, stored, strict=True))


def found(api, corpus, **params) -> set[str]:
    by_id = {record_id: name for name, record_id in corpus.items()}
    return {by_id[record_id] for record_id in ids(api.get("/api/v1/records", params=params))}


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("n", "30", {"num30"}),  # JSON number
        ("n", '"30"', {"str30"}),  # JSON string
        ("n", "30.5", {"float"}),
        ("n", "null", {"nulls"}),  # a null value, not a missing key
        ("flag", "true", {"nulls"}),
        ("name", "Ada Lovelace", {"ada"}),  # not JSON: taken as the string
        ("address.city", "London", {"ada"}),  # dotted path
        ("items.0.price", "49.9", {"items", "objkey"}),  # array index or object key "0"
        ("items.1.price", "10", {"items"}),
        ("0.id", "1", {"array"}),  # a top-level array
        ("tags", '["cobol"]', {"str30"}),  # arrays match when equal, not when containing
        ("obj", '{"a":[1]}', {"arr2"}),
        ("price", "0.1000000000000000000001", {"float"}),  # exact, not a float
        ("price", "0.1", set()),
        ("missing", "1", set()),
    ],
)
def test_key_value_matches_the_typed_value_at_the_path(api, corpus, key, value, expected):
    assert found(api, corpus, key=key, value=value) == expected


TRICKY = 'q"uo\\te \u2713 \U0001d11e $.** == "x"'


def test_a_string_value_matches_exactly_at_its_path_whatever_its_characters(api, filler):
    """A string is looked up in the index by itself, anywhere in the document (a jsonpath
    bound as a parameter); the answer is still the exact position, and nothing the string
    holds changes the path. The matches lie below the first window: the index serves them."""
    names = ["tricky", "elsewhere", "deep", "number"]
    stored = dict(zip(names, filler.add(
        {"s": TRICKY, "list": [{"s": "deep"}], "n2": "30"},
        {"other": TRICKY, "s": "plain", "n2": 30},
        {"list": [{"t": "deep"}, {"s": "deep"}]},
        {"s": 30, "list": [{"s": ["deep"]}]},
    ), strict=True))  # fmt: skip
    # Newer records than a first window's worth: the matches come from the index.
    filler.add(*({"pad": n} for n in range(FIRST_WINDOW)))

    def found_here(key: str, value: str) -> set[str]:
        got = ids(api.get("/api/v1/records", params={"key": key, "value": value}))
        return {name for name, record_id in stored.items() if record_id in got}

    assert found_here("s", json.dumps(TRICKY)) == {"tricky"}
    assert found_here("s", TRICKY) == {"tricky"}  # not JSON: taken as the string
    assert found_here("list.0.s", "deep") == {"tricky"}
    assert found_here("list.1.s", "deep") == {"deep"}
    assert found_here("n2", '"30"') == {"tricky"}
    assert found_here("n2", "30") == {"elsewhere"}
    assert found_here("other", json.dumps(TRICKY)) == {"elsewhere"}
    assert found_here("s", '"deep"') == set()


def test_post_query_unstructured_data_matches_by_type(api, corpus):
    def post(body):
        response = api.post("/api/v1/query_unstructured_data", json=body)
        assert response.status_code == 200, response.text
        return {name for name, i in corpus.items() if i in {r["id"] for r in response.json()}}

    assert post({"key": "n", "value": 30}) == {"num30"}
    assert post({"key": "n", "value": "30"}) == {"str30"}
    assert post({"key": "address.city", "value": "London"}) == {"ada"}
    assert post({"key": "n", "value": None}) == {"nulls"}
    assert post({"key": "tags", "value": ["navy", "cobol"]}) == {"grace"}
    assert post({"key": "nope", "value": 1}) == set()


def test_post_answers_full_records_newest_first(api, corpus):
    response = api.post("/api/v1/query_unstructured_data", json={"key": "age", "value": 36})
    [record] = response.json()
    assert record["id"] == corpus["ada"]
    assert record["kind"] == "relational"
    assert (record["name"], record["age"]) == ("Ada Lovelace", 36)
    assert record["payload"] == CORPUS["ada"]
    assert record["doc_index"] == 0
    assert len(record["sha256"]) == 64
    assert set(record["kafka"]) == {"topic", "partition", "offset"}
    assert record["produced_at"].endswith("Z")
    assert record["ingested_at"].endswith("Z")


def test_has_key_finds_present_keys_even_with_null_values(api, corpus):
    assert found(api, corpus, has_key="address.zip") == {"num30"}
    assert found(api, corpus, has_key="address") == {"ada", "num30"}
    assert found(api, corpus, has_key="n") == {"num30", "str30", "float", "nulls"}


def test_contains_matches_fragments_also_inside_arrays(api, corpus):
    assert found(api, corpus, contains='{"tags":["cobol"]}') == {"grace", "str30"}
    assert found(api, corpus, contains='{"address":{"city":"London"}}') == {"ada"}
    # A fragment inside a top-level array's element.
    assert found(api, corpus, contains='{"tags":["x"]}') == {"array"}
    assert found(api, corpus, contains='{"obj":{"a":[1]}}') == {"items", "arr2"}


def test_jsonpath_predicate_is_evaluated_by_postgres(api, corpus):
    assert found(api, corpus, jsonpath="$.age > 50") == {"grace"}
    assert found(api, corpus, jsonpath='$.tags[*] == "navy"') == {"grace"}
    assert found(api, corpus, jsonpath="exists($.items[*] ? (@.price < 20))") == {"items"}


def test_a_jsonpath_filter_matches_the_documents_where_it_finds_something(api, corpus):
    # Not a predicate: PostgreSQL's @@ is NULL for it, so it used to match nothing.
    assert found(api, corpus, jsonpath="$.items[*] ? (@.price < 20)") == {"items"}
    assert found(api, corpus, jsonpath="$.age ? (@ > 50)") == {"grace"}
    assert found(api, corpus, jsonpath="$.no_such_key ? (@ > 50)") == set()


def test_typed_column_filters(api, corpus):
    assert found(api, corpus, kind="relational") == {"ada", "grace"}
    assert found(api, corpus, kind="unstructured") == set(CORPUS) - {"ada", "grace"}
    assert found(api, corpus, name="Grace Hopper") == {"grace"}
    assert found(api, corpus, age_min=40) == {"grace"}
    assert found(api, corpus, age_max=40) == {"ada"}
    assert found(api, corpus, age_min=36, age_max=85) == {"ada", "grace"}
    assert found(api, corpus, kind="relational", key="address.city", value="London") == {"ada"}


def test_source_and_time_range(api, corpus, filler):
    [named] = filler.add({"late": 1}, source="inbox/late.json")
    record = api.get(f"/api/v1/records/{named}").json()
    assert record["source"] == "inbox/late.json"
    assert ids(api.get("/api/v1/records", params={"source": "inbox/late.json"})) == [named]
    at = datetime.fromisoformat(record["ingested_at"])
    since = (at - timedelta(microseconds=1)).isoformat()
    assert named in ids(api.get("/api/v1/records", params={"since": since}))
    assert (
        ids(api.get("/api/v1/records", params={"since": (at + timedelta(seconds=1)).isoformat()}))
        == []
    )
    until = ids(api.get("/api/v1/records", params={"until": at.isoformat(), "limit": 1000}))
    assert named not in until  # until is exclusive
    assert set(until) <= set(corpus.values())
    future = datetime.now(UTC) + timedelta(days=1)
    assert len(ids(api.get("/api/v1/records", params={"until": future.isoformat()}))) == 11


def test_record_by_id_and_404(api, corpus):
    response = api.get(f"/api/v1/records/{corpus['items']}")
    assert response.status_code == 200
    assert response.json()["payload"] == {"items": [{"price": 49.9}, {"price": 10}],
                                          "obj": {"a": [1, 2]}}  # fmt: skip
    missing = api.get("/api/v1/records/999999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {
        "type": "about:blank", "title": "Not Found", "status": 404,
        "detail": "record 999999999: not found", "code": "not-found", "parameter": "record_id",
    }  # fmt: skip


def test_pages_follow_the_cursor_newest_first(api, corpus):
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/records", params=params).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(page["items"]) == 3
    assert seen == sorted(corpus.values(), reverse=True)


def test_dead_letters_are_paged_without_raw_bytes_which_their_detail_has(api, filler):
    for number in range(5):
        filler.dead_letter("invalid-json", f"broken {number} \x00\xff".encode("latin-1"),
                           source=f"bad{number}.json", sha256="ab" * 32, doc_index=0)  # fmt: skip
    filler.dead_letter("not-utf8", b"\xff\xfe")
    first = api.get("/api/v1/dead-letters", params={"limit": 4}).json()
    second = api.get("/api/v1/dead-letters", params={"limit": 4, "cursor": first["next_cursor"]})
    letters = first["items"] + second.json()["items"]
    assert second.json()["next_cursor"] is None
    assert len(letters) == 6
    assert letters[0]["reason"] == "not-utf8"
    # The list leaves the raw bytes (up to 256 KiB each) out; the detail has them, base64.
    assert "raw_base64" not in letters[0]
    assert letters[0]["raw_bytes"] == 2
    detail = api.get(f"/api/v1/dead-letters/{letters[0]['id']}").json()
    assert detail["raw_base64"] == "//4="
    assert api.get("/api/v1/dead-letters/999999999").status_code == 404
    assert [x["id"] for x in letters] == sorted((x["id"] for x in letters), reverse=True)
    by_reason = api.get("/api/v1/dead-letters", params={"reason": "invalid-json"}).json()
    assert {x["source"] for x in by_reason["items"]} == {f"bad{n}.json" for n in range(5)}
    # A records cursor is not a dead-letters cursor.
    records_cursor = api.get("/api/v1/records", params={"limit": 1})
    assert records_cursor.status_code == 200


def test_stats_count_kinds_dead_letters_and_recent_minutes(api, corpus, filler):
    filler.dead_letter("invalid-json", b"{")
    filler.dead_letter("invalid-json", b"[")
    filler.dead_letter("empty", b"")
    stats = api.get("/api/v1/stats").json()
    assert stats["records"] == {
        "total": 10, "by_kind": {"relational": 2, "unstructured": 8}, "estimated": False,
    }  # fmt: skip
    assert stats["dead_letters"] == {"total": 3, "by_reason": {"empty": 1, "invalid-json": 2}}
    minutes = stats["records_per_minute"]
    assert len(minutes) == 60
    assert sum(m["count"] for m in minutes) == 10
    assert stats["last_record_id"] == max(corpus.values())
    assert datetime.fromisoformat(stats["last_ingested_at"]) <= datetime.now(UTC)


def _noise(size: int, seed: int) -> str:
    """Text PostgreSQL cannot compress much: a document stored at about its size."""
    import hashlib

    blocks = (hashlib.sha256(f"{seed}-{n}".encode()).hexdigest() for n in range(size // 64 + 1))
    return "".join(blocks)[:size]


def test_a_page_of_big_documents_stops_at_its_byte_budget_and_hands_out_a_cursor(api, filler):
    # 24 documents of 60 KB (under the preview size): 1.4 MB in one page of limit 50 before.
    made = [i for n in range(24) for i in filler.add({"n": n, "blob": _noise(60_000, n)})]
    response = api.get("/api/v1/records", params={"limit": 50})
    assert response.status_code == 200
    assert len(response.content) <= (1 << 20) + 70_000, len(response.content)
    page = response.json()
    assert 1 <= len(page["items"]) < 24
    assert page["next_cursor"] is not None
    seen = [item["id"] for item in page["items"]]
    while page["next_cursor"]:
        params = {"limit": 50, "cursor": page["next_cursor"]}
        page = api.get("/api/v1/records", params=params).json()
        seen += [item["id"] for item in page["items"]]
    assert seen == sorted(made, reverse=True)


def test_a_list_shows_a_huge_document_as_a_preview_and_its_detail_whole(api, filler):
    [big] = filler.add({"blob": _noise(600_000, 7)})
    [small] = filler.add({"small": True})
    listed = {item["id"]: item for item in api.get("/api/v1/records").json()["items"]}
    assert listed[small]["payload"] == {"small": True}
    assert "payload_preview" not in listed[small]
    assert listed[big]["payload"] is None
    assert listed[big]["payload_truncated"] is True
    assert listed[big]["payload_preview"].startswith('{"blob": "')
    assert len(listed[big]["payload_preview"]) == 1000
    whole = api.get(f"/api/v1/records/{big}").json()
    assert len(whole["payload"]["blob"]) == 600_000
