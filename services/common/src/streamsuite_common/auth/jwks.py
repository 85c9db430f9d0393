"""An OIDC issuer's signing keys (JWKS), fetched over HTTP(S) and cached: fetched again after
``cache_s``, or when a token names a ``kid`` the cached set lacks (key rotation) — but never
more often than every ``min_refresh_s``, so made-up ``kid``s cannot turn the service into a
load generator against the issuer. A fetch failure keeps the keys already held."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import jwt

from streamsuite_common.auth.tokens import Unauthorized
from streamsuite_common.logs import get_logger

log = get_logger(__name__)
FETCH_TIMEOUT_S = 5.0
MAX_DOCUMENT_BYTES = 1 << 20


def fetch_json(url: str) -> Any:
    if not url.lower().startswith(("https://", "http://")):
        raise ValueError(f"{url!r} is not an http(s) URL")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310
        return json.loads(response.read(MAX_DOCUMENT_BYTES))


def discover_jwks_url(issuer: str, fetch: Callable[[str], Any] = fetch_json) -> str:
    document = fetch(issuer.rstrip("/") + "/.well-known/openid-configuration")
    url = document.get("jwks_uri") if isinstance(document, dict) else None
    if not isinstance(url, str) or not url:
        raise ValueError(f"{issuer}: its openid-configuration names no jwks_uri")
    return url


class KeySet:
    def __init__(
        self,
        *,
        jwks_url: str = "",
        issuer: str = "",
        cache_s: float = 600,
        min_refresh_s: float = 30,
        fetch: Callable[[str], Any] = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not (jwks_url or issuer):
            raise ValueError("a JWKS URL or an issuer is needed")
        self._url, self._issuer = jwks_url, issuer
        self._cache_s, self._min_refresh_s = cache_s, min_refresh_s
        self._fetch, self._clock = fetch, clock
        self._keys: dict[str, Any] = {}  # kid -> key ("" for a key without kid)
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0

    def _refresh(self) -> None:
        """Fetch the set (under the lock) unless the last fetch is too recent."""
        now = self._clock()
        if self._fetched_at is not None and now - self._fetched_at < self._min_refresh_s:
            return
        self._fetched_at = now
        self.fetches += 1
        try:
            if not self._url:
                self._url = discover_jwks_url(self._issuer, self._fetch)
            keys = {}
            for jwk in jwt.PyJWKSet.from_dict(self._fetch(self._url)).keys:
                if jwk.public_key_use in (None, "sig"):
                    keys[jwk.key_id or ""] = jwk.key
            self._keys = keys
        except Exception as exc:  # the keys already held stay in use
            log.warning("issuer keys not fetched", url=self._url or self._issuer, error=str(exc))

    def key_for(self, token: str) -> Any:
        try:
            kid = jwt.get_unverified_header(token).get("kid") or ""
        except jwt.PyJWTError:
            raise Unauthorized("not a JWT") from None
        with self._lock:
            stale = self._fetched_at is None or self._clock() - self._fetched_at >= self._cache_s
            if stale or kid not in self._keys:
                self._refresh()
            key = self._keys.get(kid)
            if key is None and not kid and len(self._keys) == 1:
                key = next(iter(self._keys.values()))  # a set of one key, a token without kid
        if key is None:
            raise Unauthorized("the token's key (kid) is not one of the issuer's")
        return key
