"""Input cannot change a query, the service's role cannot write, and bad input is a 4xx that
names the problem, never a 5xx."""

from __future__ import annotations

import dataclasses

import psycopg2
import pytest
from psycopg2 import sql

from streamsuite_common.db import connect_kwargs

from .conftest import ids

TRICKS = [
    "'", "''", "' OR '1'='1", "a' OR 1=1 --", "x'; DROP TABLE records; --", "/* */", "--",
    ";", "; SELECT pg_sleep(5)", "\\", '"', '"}', "}", "{", "$", "$.a", "$.* ? (@ == 1)",
    "a\"]}' || '", "') OR ('x'='x", "%s", "%(key_value)s", "::jsonb", "ä", "名前", "🚀",
    "\u202e", "\ufeffname", "a.b.c", "${}", "payload", "id", "1; DELETE FROM records",
]  # fmt: skip


@pytest.fixture
def bait(filler) -> dict[str, int]:
    """One document per trick, holding the trick as its key and as its value."""
    stored = filler.add(*({trick: trick, "v": trick} for trick in TRICKS))
    [plain] = filler.add({"name": "Ada", "age": 36})
    return {**dict(zip(TRICKS, stored, strict=True)), "plain": plain}


def _count(admin_conn, schema) -> tuple[int, int]:
    with admin_conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT (SELECT count(*) FROM {}.records), "
                            "(SELECT count(*) FROM {}.dead_letters)").format(
            sql.Identifier(schema), sql.Identifier(schema)))  # fmt: skip
        return cur.fetchone()


def test_tricks_in_keys_and_values_only_match_themselves(api, bait, admin_conn, schema):
    before = _count(admin_conn, schema)
    for trick in TRICKS:
        _only_matches_itself(api, bait, trick)
    assert _count(admin_conn, schema) == before, "the tables changed"


def _only_matches_itself(api, bait, trick):
    response = api.get("/api/v1/records", params={"key": "v", "value": trick})
    assert response.status_code == 200, response.text
    assert ids(response) == [bait[trick]], trick
    if "." not in trick:  # a dot is a path separator in key
        by_key = api.get("/api/v1/records", params={"key": trick, "value": trick})
        assert ids(by_key) == [bait[trick]], by_key.text
    post = api.post("/api/v1/query_unstructured_data", json={"key": "v", "value": trick})
    assert [r["id"] for r in post.json()] == [bait[trick]]
    for param in ("name", "source", "has_key", "contains", "jsonpath"):
        response = api.get("/api/v1/records", params={param: trick})
        assert response.status_code < 500, (param, response.text)
        if response.status_code == 200 and param in ("name", "source"):
            assert ids(response) == [], (param, trick)


def test_jsonpath_cannot_escape_its_parameter(api, bait):
    tricks = ['$.v == "x" || true', "$.v == 1) OR (1=1", "exists($.v) ; DROP TABLE records"]
    for path in tricks:
        response = api.get("/api/v1/records", params={"jsonpath": path, "limit": 1000})
        assert response.status_code in (200, 400), response.text
    # A true predicate matches everything with `v` and nothing without: a predicate, no more.
    every = api.get("/api/v1/records", params={"jsonpath": "exists($.v)", "limit": 1000})
    assert set(ids(every)) == {i for trick, i in bait.items() if trick != "plain"}


BAD_INPUT = [
    ({"key": "a\x00b", "value": "1"}, "key: contains a NUL"),
    ({"key": "v", "value": "a\x00"}, "value: contains a NUL"),
    ({"key": "v", "value": '"\\u0000"'}, "value: contains a NUL"),
    ({"key": "v", "value": '"\\ud800"'}, "surrogate"),
    ({"name": "\x00"}, "name: contains a NUL"),
    ({"contains": '{"a":"\\u0000"}'}, "contains: contains a NUL"),
    ({"jsonpath": "$.a \x00"}, "jsonpath: contains a NUL"),
    ({"jsonpath": "$.a =="}, "jsonpath: PostgreSQL refused it: syntax error"),
    ({"jsonpath": '$.a like_regex "("'}, "jsonpath: PostgreSQL refused it"),
    ({"contains": '{"a":1e1000000}'}, "contains: PostgreSQL refused it"),
    ({"contains": "{nope"}, "contains: not JSON"),
    ({"key": "a..b", "value": "1"}, "key: 'a..b' has an empty segment"),
    ({"key": "k" * 257, "value": "1"}, "key"),
    ({"key": "a"}, "value: required together with key"),
    ({"value": "1"}, "key: required together with value"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"age_min": "x"}, "age_min"),
    ({"age_min": "50", "age_max": "10"}, "age_max: must not be below age_min"),
    ({"kind": "other"}, "kind"),
    ({"since": "yesterday"}, "since"),
    ({"since": "2026-01-01T00:00:00"}, "since: needs a UTC offset"),
    ({"cursor": "garbage"}, "cursor: invalid"),
    (
        {"cursor": "eyJzIjoicmVjb3JkcyIsImlkIjoxfQ.AAAAAAAAAAAAAAAAAAAAAA"},
        "cursor: invalid: signature",
    ),
    ({"colour": "red"}, "colour: unknown query parameter"),
    ({"Limit": "5"}, "Limit: unknown query parameter"),
]


def test_bad_input_is_a_400_naming_the_problem(api):
    for params, needle in BAD_INPUT:
        response = api.get("/api/v1/records", params=params)
        assert response.status_code == 400, (params, response.text)
        assert needle in response.json()["detail"], (params, response.text)
        # RFC 9457: the parameter at fault and a stable code beside the words.
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 400
        assert problem["title"] == "Bad Request"
        assert problem["detail"].startswith(problem["parameter"] + ":"), problem
        assert problem["code"] in ("invalid-parameter", "unknown-parameter", "refused-by-database")


HUGE_EXPONENT = "1e" + "9" * 30  # valid JSON; beyond Decimal (was a 500 before the fix)
BEYOND_NUMERIC = "1e9999999"  # a Decimal, but beyond PostgreSQL's numeric


def test_numbers_no_column_can_hold_are_a_400_not_a_500(api):
    # Found by schemathesis-style probing: json.loads(parse_float=Decimal) raised
    # decimal.InvalidOperation, which escaped as a 500.
    cases = [
        ("/api/v1/records", {"key": "n", "value": HUGE_EXPONENT}, "value: number 1e999"),
        ("/api/v1/records", {"contains": f'{{"n": {HUGE_EXPONENT}}}'}, "contains: number"),
        ("/api/v1/records", {"key": "n", "value": BEYOND_NUMERIC}, "value: PostgreSQL refused"),
        ("/api/v1/stream", {"key": "n", "value": HUGE_EXPONENT}, "value: number 1e999"),
    ]
    for path, params, needle in cases:
        response = api.get(path, params=params)
        assert response.status_code == 400, (params, response.text)
        assert needle in response.json()["detail"], (params, response.text)
    response = api.post(
        "/api/v1/query_unstructured_data",
        content=f'{{"key": "n", "value": {HUGE_EXPONENT}}}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("body: number 1e999"), response.text


def test_repeated_and_unknown_parameters_everywhere_are_refused(api, bait):
    assert (
        api.get("/api/v1/records?limit=1&limit=2").json()["detail"] == "limit: given more than once"
    )
    assert api.get("/api/v1/stats?x=1").status_code == 400
    assert api.get(f"/api/v1/records/{bait['plain']}?verbose=1").status_code == 400
    assert api.get("/api/v1/dead-letters?kind=relational").status_code == 400
    assert api.get("/api/v1/stream?limit=5").status_code == 400


def test_cursor_of_another_listing_or_edited_is_refused(api, filler):
    filler.add(*({"n": n} for n in range(3)))
    cursor = api.get("/api/v1/records", params={"limit": 1}).json()["next_cursor"]
    other = api.get("/api/v1/dead-letters", params={"cursor": cursor})
    assert other.status_code == 400
    assert "signature" not in other.json()["detail"]
    assert "not a cursor of this listing" in other.json()["detail"]
    body, mac = cursor.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    edited = api.get("/api/v1/records", params={"cursor": f"{flipped}.{mac}"})
    assert edited.status_code == 400
    assert "signature does not match" in edited.json()["detail"]


def test_post_refuses_wrong_content_type_oversized_and_malformed_bodies(api):
    url = "/api/v1/query_unstructured_data"
    wrong = api.post(url, content=b'{"key":"a","value":1}', headers={"content-type": "text/plain"})
    assert wrong.status_code == 415
    assert "application/json" in wrong.json()["detail"]
    huge = api.post(url, json={"key": "a", "value": "x" * 70_000})
    assert huge.status_code == 413
    cases = {
        b"": "body: empty",
        b"[1]": "body: expected a JSON object",
        b'{"key":"a"}': "value: required",
        b'{"value":1}': "key: required",
        b'{"key":1,"value":1}': "key: expected a string, got a number",
        b'{"key":"a","value":1,"x":2}': "x: unknown field",
        b'{"key":"a","value":NaN}': "body: NaN is not a JSON number",
        b'{"key":"a",': "body: not JSON",
        b"\xff": "body: not UTF-8",
        b'{"key":"' + b"k" * 300 + b'","value":1}': "key: longer than 256",
    }
    for body, needle in cases.items():
        response = api.post(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, (body, response.text)
        assert needle in response.json()["detail"], (body, response.text)


def test_the_service_role_cannot_write(reader_settings, schema, filler):
    [record_id] = filler.add({"keep": True})
    conn = psycopg2.connect(**connect_kwargs(
        dataclasses.replace(reader_settings, schema=schema),
        application_name="query-api-test"))  # fmt: skip
    conn.autocommit = True
    with conn.cursor() as cur:
        # Lift the session's read-only default: what stops the writes must be the grants.
        cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
    statements = [
        ("INSERT INTO records (kind, payload, kafka_topic, kafka_partition, kafka_offset) "
         "VALUES ('unstructured', '{}', 't', 0, 0)", ()),
        ("UPDATE records SET payload = '{}' WHERE id = %s", (record_id,)),
        ("DELETE FROM records WHERE id = %s", (record_id,)),
        ("DELETE FROM dead_letters", ()),
        ("TRUNCATE records", ()),
        ("CREATE TABLE stolen (x int)", ()),
    ]  # fmt: skip
    try:
        for statement, params in statements:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as cur:
                cur.execute(statement, params)
        with conn.cursor() as cur:
            cur.execute("SELECT payload FROM records WHERE id = %s", (record_id,))
            assert cur.fetchone() == ({"keep": True},)
    finally:
        conn.close()
