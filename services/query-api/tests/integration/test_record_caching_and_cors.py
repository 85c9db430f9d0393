"""A record's answer is cacheable for good by the client (strong ETag, 304 on If-None-Match),
and browser pages of the listed origins, and only those, may call the API across origins."""

from __future__ import annotations

from .conftest import api_config, serving

ALLOWED = "https://dash.example.com"


def test_a_record_has_a_strong_etag_and_if_none_match_answers_304(api, filler):
    [record_id] = filler.add({"name": "Ada"})
    first = api.get(f"/api/v1/records/{record_id}")
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"')  # strong: no W/
    assert first.headers["cache-control"] == "private, max-age=31536000, immutable"
    again = api.get(f"/api/v1/records/{record_id}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    listed = api.get(f"/api/v1/records/{record_id}", headers={"If-None-Match": f'"x", W/{etag}'})
    assert listed.status_code == 304
    other = api.get(f"/api/v1/records/{record_id}", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200
    assert other.json() == first.json()
    missing = api.get("/api/v1/records/999999999")
    assert missing.status_code == 404
    assert "etag" not in missing.headers
    assert missing.headers["cache-control"] == "no-store"


def test_other_records_have_other_etags(api, filler):
    one, two = filler.add({"n": 1}, {"n": 2})
    tags = {api.get(f"/api/v1/records/{i}").headers["etag"] for i in (one, two)}
    assert len(tags) == 2


def test_no_cors_headers_without_an_allow_list(api):
    response = api.get("/api/v1/stats", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_listed_origins_get_cors_headers_and_others_none(reader_settings, schema, filler):
    [record_id] = filler.add({"n": 1})
    with serving(api_config(reader_settings, schema, cors_origins=(ALLOWED,))) as client:
        allowed = client.get(f"/api/v1/records/{record_id}", headers={"Origin": ALLOWED})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ALLOWED
        assert "origin" in allowed.headers["vary"].lower()
        assert "etag" in allowed.headers["access-control-expose-headers"].lower()
        other = client.get("/api/v1/stats", headers={"Origin": "https://evil.example.com"})
        assert other.status_code == 200
        # No Access-Control-Allow-Origin: the browser keeps the answer from that page
        # (Starlette still names the exposed headers, which grant nothing on their own).
        assert "access-control-allow-origin" not in other.headers
        # A preflight carries no token: answered before authentication.
        preflight = {"Origin": ALLOWED, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, content-type"}  # fmt: skip
        ok = client.options("/api/v1/query_unstructured_data", headers=preflight)
        assert ok.status_code == 200, ok.text
        assert ok.headers["access-control-allow-origin"] == ALLOWED
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        assert "POST" in ok.headers["access-control-allow-methods"]
        evil = {**preflight, "Origin": "https://evil.example.com"}
        refused = client.options("/api/v1/records", headers=evil)
        assert "access-control-allow-origin" not in refused.headers
        # A refusal is readable by the listed page too.
        del client.headers["Authorization"]
        unauthorized = client.get("/api/v1/stats", headers={"Origin": ALLOWED})
        assert unauthorized.status_code == 401
        assert unauthorized.headers["access-control-allow-origin"] == ALLOWED
