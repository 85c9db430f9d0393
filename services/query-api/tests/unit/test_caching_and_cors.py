"""A record's ETag and If-None-Match (pure), and the CORS allow-list setting."""

from __future__ import annotations

import pytest

from streamsuite_common.config import ConfigError
from streamsuite_query_api.caching import none_match, strong_etag
from streamsuite_query_api.config import load_tree

BASE = {
    "DATABASE": {"HOST": "db", "DBNAME": "streamsuite", "DBUSER": "streamsuite_reader"},
    "AUTH": {"JWT_SECRET": "x" * 32},
}


def test_the_etag_is_strong_and_follows_the_bytes():
    etag = strong_etag('{"id":1}')
    assert etag[0] == etag[-1] == '"'  # strong: no W/ prefix
    assert strong_etag('{"id":1}') == etag
    assert strong_etag('{"id":2}') != etag


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('"other"', False),
        ("{etag}", True),
        ('"other", {etag}', True),
        ("W/{etag}", True),  # If-None-Match compares weakly (RFC 9110 13.1.2)
        ("*", True),
        ("{bare}", False),  # unquoted: not this entity tag
    ],
)
def test_if_none_match_lists_of_tags(header, matches):
    etag = strong_etag("x")
    text = None if header is None else header.format(etag=etag, bare=etag.strip('"'))
    assert none_match(text, etag) is matches


def test_cors_is_off_by_default_and_origins_are_written_as_browsers_send_them():
    assert load_tree(BASE, {}).query_api.cors_origins == ()
    cfg = load_tree(BASE, {"STREAMSUITE_QUERY_API__CORS_ORIGINS":
                           "https://Dash.Example.com:443/, http://127.0.0.1:3000"})  # fmt: skip
    assert cfg.query_api.cors_origins == ("https://dash.example.com", "http://127.0.0.1:3000")
    listed = load_tree({**BASE, "QUERY_API": {"CORS_ORIGINS": ["http://[::1]:80"]}}, {})
    assert listed.query_api.cors_origins == ("http://[::1]",)


@pytest.mark.parametrize("value", ["*", "https://x.example.com/app", "ftp://x", "x.example.com"])
def test_cors_origins_that_are_not_origins_stop_the_service(value):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        load_tree(BASE, {"STREAMSUITE_QUERY_API__CORS_ORIGINS": value})
