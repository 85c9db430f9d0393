"""Cursors round-trip, and any forged, edited, truncated or foreign cursor is refused."""

from __future__ import annotations

import base64
import json

import pytest

from streamsuite_common.query import CursorCodec, CursorError

CODEC = CursorCodec("secret")


def test_cursor_round_trips_and_is_url_safe():
    token = CODEC.encode("records", 9_000_000_000)
    assert CODEC.decode("records", token) == 9_000_000_000
    assert all(c.isalnum() or c in "-_." for c in token)


def _forge(body: dict, mac: str) -> str:
    raw = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"{raw}.{mac}"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "malformed"),
        ("abc", "malformed"),
        ("a.b.c", "not base64url"),
        ("é.é", "not base64url"),
        ("x" * 300, "longer than"),
        (_forge({"s": "records", "id": 1}, "AAAAAAAAAAAAAAAAAAAAAA"), "signature does not match"),
    ],
)
def test_broken_or_forged_cursors_are_refused(token, reason):
    with pytest.raises(CursorError, match=reason):
        CODEC.decode("records", token)


def test_editing_the_id_breaks_the_signature():
    body, mac = CODEC.encode("records", 100).split(".")
    edited = _forge({"s": "records", "id": 1_000_000}, mac)
    with pytest.raises(CursorError, match="signature"):
        CODEC.decode("records", edited)
    assert body != edited.split(".")[0]


def test_another_secret_or_scope_is_refused():
    token = CursorCodec("other").encode("records", 5)
    with pytest.raises(CursorError, match="signature"):
        CODEC.decode("records", token)
    with pytest.raises(CursorError, match="not a cursor of this listing"):
        CODEC.decode("dead_letters", CODEC.encode("records", 5))
