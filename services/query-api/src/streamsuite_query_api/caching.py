"""HTTP caching of a record (RFC 9110/9111): a stored record never changes, so its answer
carries a strong ETag and may be kept by the client's own cache; ``If-None-Match`` is then
answered 304 without the body. Pure, no I/O."""

from __future__ import annotations

import hashlib

# ``private``: answers need a token, so shared caches (proxies, CDNs) must not keep them.
RECORD_CACHE_CONTROL = "private, max-age=31536000, immutable"


def strong_etag(body: str) -> str:
    """A validator of the answer's exact bytes (a new rendering of the JSON changes it)."""
    return '"' + hashlib.blake2b(body.encode("utf-8"), digest_size=16).hexdigest() + '"'


def none_match(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` lists ``etag`` (or is ``*``): weak comparison, as the RFC
    requires for this header, so ``W/"x"`` matches ``"x"``."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False
