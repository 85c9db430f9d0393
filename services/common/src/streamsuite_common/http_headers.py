"""Security headers on every HTTP response (pure ASGI, so streams pass through unbuffered)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# A JSON API: nothing in it is a page to frame, sniff or cache between users.
API_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class SecurityHeaders:
    """Adds ``headers_for(path)`` to each response, keeping any the app set itself."""

    def __init__(self, app: Any, headers_for: Callable[[str], Mapping[str, str]]):
        self.app, self.headers_for = app, headers_for

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers_for(scope["path"])

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in extra.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)
