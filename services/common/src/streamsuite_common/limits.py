"""Per-client request limits: a token bucket for the rate and counters for what is in flight,
with a smaller in-flight limit for requests with an unindexed filter (they scan). A client is
its authenticated subject, else its address. Refusals are 429 with ``Retry-After``, problems
coded ``too-many-requests`` (the rate) or ``too-many-in-flight`` unless ``respond`` makes them
otherwise (the web UI's pages)."""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from streamsuite_common.auth.settings import LimitSettings
from streamsuite_common.problems import Responder, problem_responder

MAX_CLIENTS = 10_000  # buckets kept; the least recently seen go first


class ClientLimits:
    """Pure bookkeeping (the clock injected); thread-safe."""

    def __init__(self, settings: LimitSettings, clock: Callable[[], float] = time.monotonic):
        self._settings, self._clock = settings, clock
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()
        self._in_flight: collections.Counter[tuple[str, str]] = collections.Counter()
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Spend one request of ``client``'s bucket: 0 when allowed, else seconds to wait."""
        s = self._settings
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(client, (float(s.burst), now))
            tokens = min(float(s.burst), tokens + (now - last) * s.rate_per_s)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / s.rate_per_s
            self._buckets[client] = (tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait

    def enter(self, client: str, kind: str) -> bool:
        """Count one more request of ``kind`` ("all" or "scan") in flight, if within limit."""
        limit = self._settings.scan_concurrency if kind == "scan" else self._settings.concurrency
        with self._lock:
            if self._in_flight[client, kind] >= limit:
                return False
            self._in_flight[client, kind] += 1
            return True

    def leave(self, client: str, kind: str) -> None:
        with self._lock:
            self._in_flight[client, kind] -= 1
            if self._in_flight[client, kind] <= 0:
                del self._in_flight[client, kind]


def client_key(scope: dict) -> str:
    principal = scope.get("state", {}).get("principal")
    if principal is not None and principal.via != "anonymous":
        return f"user:{principal.subject}"
    return f"addr:{(scope.get('client') or ('unknown',))[0]}"


class LimitMiddleware:
    """Applies ``ClientLimits``; put it inside the auth middleware so it sees the principal."""

    def __init__(
        self,
        app: Any,
        *,
        limits: ClientLimits,
        exempt: Callable[[str], bool],
        streaming: Callable[[str], bool],
        scans: Callable[[dict], bool],
        respond: Responder = problem_responder,
    ):
        self.app, self.limits = app, limits
        self.exempt, self.streaming, self.scans, self.respond = exempt, streaming, scans, respond

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        client = client_key(scope)
        wait = self.limits.take(client)
        if wait:
            retry = str(max(1, math.ceil(wait)))
            await self.respond(scope, 429, "too many requests: slow down", {"Retry-After": retry},
                               code="too-many-requests")(scope, receive, send)  # fmt: skip
            return
        if self.streaming(scope["path"]):  # long-lived: counted by their own slots
            await self.app(scope, receive, send)
            return
        kinds = ["all"] + (["scan"] if self.scans(scope) else [])
        entered: list[str] = []
        try:
            for kind in kinds:
                if not self.limits.enter(client, kind):
                    what = "unindexed-filter " if kind == "scan" else ""
                    detail = f"too many {what}requests in flight from this client; retry"
                    await self.respond(scope, 429, detail, {"Retry-After": "1"},
                                       code="too-many-in-flight")(scope, receive, send)  # fmt: skip
                    return
                entered.append(kind)
            await self.app(scope, receive, send)
        finally:
            for kind in entered:
                self.limits.leave(client, kind)
