"""Cross-origin reads from browser applications on other origins (a dashboard calling the API
with its own token): an allow-list of origins, empty by default (no CORS headers at all).
Starlette's CORSMiddleware does the protocol; this module parses the setting and wires it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.middleware.cors import CORSMiddleware

_DEFAULT_PORTS = {"http": 80, "https": 443}
# What a browser may send and read across origins: the bearer token, a JSON body, the
# stream's resume header, the record's validator; and the answers' own headers.
ALLOW_METHODS = ("GET", "POST")
ALLOW_HEADERS = ("Authorization", "Content-Type", "Last-Event-ID", "If-None-Match")
EXPOSE_HEADERS = ("ETag", "Retry-After", "WWW-Authenticate", "X-Result-Truncated")
PREFLIGHT_MAX_AGE_S = 600


def as_origin(text: str) -> str:
    """``scheme://host[:port]`` as a browser sends it in ``Origin`` (lower case, no default
    port), since CORSMiddleware compares the header with the list as text."""
    item = text.strip()
    try:
        parts = urlsplit(item)
        port = parts.port
    except ValueError:
        port, parts = None, None
    if (
        parts is None
        or parts.scheme.lower() not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(f"{item!r} is not an origin such as https://dashboard.example.com")
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def as_origin_list(value: Any) -> tuple[str, ...]:
    """Comma-separated text (or a YAML list) into origins; may be empty. ``*`` is refused:
    this is an allow-list."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    origins: list[str] = []
    for item in (str(item).strip() for item in items):
        if not item:
            continue
        if item == "*":
            raise ValueError("'*' is not allowed: list the origins (scheme://host[:port])")
        origin = as_origin(item)
        if origin not in origins:
            origins.append(origin)
    return tuple(origins)


def middleware_options(origins: tuple[str, ...]) -> dict[str, Any]:
    """CORSMiddleware's arguments. No credentials: the token travels in ``Authorization``,
    never in a cookie, so a browser sends nothing the calling page did not add itself."""
    return {
        "allow_origins": list(origins),
        "allow_methods": list(ALLOW_METHODS),
        "allow_headers": list(ALLOW_HEADERS),
        "expose_headers": list(EXPOSE_HEADERS),
        "allow_credentials": False,
        "max_age": PREFLIGHT_MAX_AGE_S,
    }


__all__ = ["CORSMiddleware", "as_origin_list", "middleware_options"]
