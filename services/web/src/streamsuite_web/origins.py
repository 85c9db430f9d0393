"""Which browser origins may post to Submit: the configured public origins of the UI, never
one derived from the request's own Host header (a DNS-rebinding page controls both Host and
Origin, and would always look same-origin). Pure, no I/O.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def normalize(text: str) -> str | None:
    """``scheme://host:port`` with the default port spelled out; None if not an origin."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"


def as_origin_list(value: Any) -> tuple[str, ...]:
    """``scheme://host[:port][,...]`` (or a YAML list) into normalized origins; may be empty."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    origins = []
    for item in (str(item).strip() for item in items):
        if not item:
            continue
        origin = normalize(item)
        if origin is None:
            raise ValueError(f"{item!r} is not an origin such as https://streamsuite.example.com")
        origins.append(origin)
    return tuple(origins)


def local_origins(port: int) -> tuple[str, ...]:
    """The default: the UI opened on this machine (or through a port-forward) on its port."""
    return tuple(f"http://{host}:{port}" for host in LOCAL_HOSTS)


def allowed(origin_header: str | None, origins: tuple[str, ...]) -> bool:
    """A post without Origin comes from no browser (curl, scripts): allowed. A browser's
    carries its page's origin, which must be one of ``origins``; "null" never is."""
    if origin_header is None:
        return True
    origin = normalize(origin_header)
    return origin is not None and origin in origins
