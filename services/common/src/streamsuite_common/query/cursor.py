"""Opaque keyset cursors: ``base64url(JSON {"s": scope, "id": last id}) "." base64url(MAC)``.

The MAC (HMAC-SHA256, truncated to 16 bytes) makes a forged, edited or corrupted cursor fail
with a clear message instead of silently paging from somewhere else; the scope stops a
dead-letters cursor from being used on records. Pure, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

MAX_CURSOR_CHARS = 200
_MAC_BYTES = 16
_MAX_ID = 2**63 - 1
_MAX_XID = 2**64 - 1  # xid8


class CursorError(ValueError):
    """The cursor was not made by this service for this listing."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or not text.isascii():
        raise CursorError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise CursorError("not base64url") from None


class CursorCodec:
    """Encodes and checks cursors with one secret (the same on every replica)."""

    def __init__(self, secret: str | bytes):
        key = secret.encode("utf-8") if isinstance(secret, str) else secret
        self._key = hashlib.sha256(b"streamsuite-cursor\x00" + key).digest()

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_MAC_BYTES]

    def _seal(self, data: dict) -> str:
        body = json.dumps(data, separators=(",", ":")).encode()
        return f"{_b64encode(body)}.{_b64encode(self._mac(body))}"

    def _open(self, scope: str, token: str) -> dict:
        if len(token) > MAX_CURSOR_CHARS:
            raise CursorError(f"longer than {MAX_CURSOR_CHARS} characters")
        body_text, dot, mac_text = token.partition(".")
        if not dot:
            raise CursorError("malformed (expected two parts separated by '.')")
        body, mac = _b64decode(body_text), _b64decode(mac_text)
        if not hmac.compare_digest(mac, self._mac(body)):
            raise CursorError("signature does not match (forged, edited or from another server)")
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise CursorError("corrupt content") from None
        if not isinstance(data, dict) or data.get("s") != scope:
            raise CursorError(f"not a cursor of this listing ({scope})")
        return data

    def encode(self, scope: str, last_id: int) -> str:
        return self._seal({"s": scope, "id": last_id})

    def decode(self, scope: str, token: str) -> int:
        """The last id the cursor stands for; CursorError when it is not genuine."""
        last_id = self._open(scope, token).get("id")
        if not _whole(last_id, 1, _MAX_ID):
            raise CursorError("corrupt content")
        return last_id

    def encode_position(self, scope: str, position: tuple[str, int]) -> str:
        """A commit-order position (xid as text, record id): see ``read.records_after``."""
        return self._seal({"s": scope, "x": int(position[0]), "id": position[1]})

    def decode_position(self, scope: str, token: str) -> tuple[str, int]:
        data = self._open(scope, token)
        xid, last_id = data.get("x"), data.get("id")
        if not _whole(xid, 0, _MAX_XID) or not _whole(last_id, 0, _MAX_ID):
            raise CursorError("corrupt content")
        return str(xid), last_id


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
