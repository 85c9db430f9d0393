"""Small helpers the test suites share: free ports, waiting on a condition, HTTP probes.

Tests wait on conditions with a deadline, never for a fixed time, so they pass on a slow
machine and stay quick on a fast one.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    """A TCP port nothing listens on right now (and, once the socket closes, a closed port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    condition: Callable[[], Any],
    *,
    what: str = "condition",
    timeout_s: float = 60,
    interval_s: float = 0.1,
) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(interval_s)


def http_get(url: str, timeout_s: float = 10) -> tuple[int, str, str]:
    """(status, content type, body) of a GET; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - tests
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()
    except OSError:
        return 0, "", ""


def http_status(url: str, timeout_s: float = 10) -> int:
    return http_get(url, timeout_s)[0]
