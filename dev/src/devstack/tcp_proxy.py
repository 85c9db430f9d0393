"""A TCP forwarder for tests: a service connects to it instead of PostgreSQL (or any server), so
a test can cut that service's link alone while the shared server stays up for every other test,
then restore it.

While cut, every open connection is closed and every new one is accepted and reset at once: to
the service it looks like a server that went away. The port stays bound the whole time, so a
restore cannot lose it to another process. (Kafka cannot be cut this way: its clients connect to
the address the broker advertises, not to the bootstrap address they were given.)
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType

_CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER 0): the peer sees the connection reset."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _Link:
    """One client connection and its upstream connection, pumped both ways by two threads."""

    def __init__(self, client: socket.socket, upstream: socket.socket):
        self.sockets = (client, upstream)
        self._lock = threading.Lock()
        self._running = 2

    def start(self, on_end: Callable[[_Link], None]) -> None:
        client, upstream = self.sockets
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(
                target=self._pump, args=(src, dst, on_end), name="tcp-proxy-pump", daemon=True
            ).start()

    def sever(self) -> None:
        """Wake both pumps (shutdown, not close: a pump may be inside recv on the socket)."""
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _pump(
        self, src: socket.socket, dst: socket.socket, on_end: Callable[[_Link], None]
    ) -> None:
        try:
            while data := src.recv(_CHUNK):
                dst.sendall(data)
        except OSError:
            pass
        # One direction ended: end the other too (no half-open connections to reason about);
        # the last pump out closes both sockets.
        self.sever()
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            for sock in self.sockets:
                sock.close()
            on_end(self)


class TcpProxy:
    """Forwards ``host:port`` (a free port unless given) to ``target_host:target_port``."""

    def __init__(
        self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0
    ):
        self._target = (target_host, target_port)
        self._listener = socket.create_server((host, port))
        self._lock = threading.Lock()
        self._cut = False
        self._closed = False
        self._links: set[_Link] = set()
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    @property
    def connections(self) -> int:
        """Connections forwarded right now."""
        with self._lock:
            return len(self._links)

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def cut(self) -> None:
        """Close every forwarded connection and reset every new one until ``restore``."""
        with self._lock:
            self._cut = True
            links = list(self._links)
        for link in links:
            link.sever()

    def restore(self) -> None:
        """Forward new connections again."""
        with self._lock:
            self._cut = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (Linux)
        self._listener.close()
        self._thread.join(timeout=10)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if self._closed:
                    _reset(client)
                    return
                cut = self._cut
            if cut:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=10)
            except OSError:
                _reset(client)  # the target itself is down: the client sees that
                continue
            upstream.settimeout(None)
            link = _Link(client, upstream)
            with self._lock:
                # Checked again under the lock: a cut between the two checks must not miss it.
                if self._cut:
                    _reset(client)
                    _reset(upstream)
                    continue
                self._links.add(link)
            link.start(self._forget)

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)
