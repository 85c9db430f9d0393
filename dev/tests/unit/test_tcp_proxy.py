"""devstack.tcp_proxy on loopback: it forwards both ways, a cut ends the open connections and
refuses new ones while the server behind stays up, a restore forwards again on the same port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from devstack.tcp_proxy import TcpProxy
from devstack.testing import wait_for


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """A server that echoes every byte back, one thread per connection."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _echoes(sock: socket.socket, payload: bytes) -> bool:
    sock.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = sock.recv(4096)
        if not chunk:
            return False
        received += chunk
    return received == payload


def _ended(sock: socket.socket) -> bool:
    """The proxy closed or reset the connection (a read returns nothing or fails)."""
    try:
        sock.sendall(b"x")
        return sock.recv(4096) == b""
    except OSError:
        return True


def _turned_away(port: int) -> bool:
    """A new connection is reset (during the handshake or at the first exchange)."""
    try:
        sock = _connect(port)
    except ConnectionResetError:
        return True
    with sock:
        return _ended(sock)


def test_forwards_both_ways(echo_server):
    with TcpProxy(*echo_server) as proxy, _connect(proxy.port) as sock:
        big = bytes(range(256)) * 1024  # more than one recv's worth each way
        assert _echoes(sock, big)
        assert proxy.connections == 1


def test_a_cut_ends_open_connections_and_refuses_new_ones_until_restored(echo_server):
    with TcpProxy(*echo_server) as proxy:
        port = proxy.port
        before = _connect(port)
        assert _echoes(before, b"ping")
        proxy.cut()
        assert _ended(before)
        before.close()
        wait_for(lambda: proxy.connections == 0, what="the cut connection forgotten")
        assert _turned_away(port)  # accepted, then reset: the server "went away"
        # The server behind the proxy never went down: others still reach it directly.
        with _connect(echo_server[1]) as direct:
            assert _echoes(direct, b"still up")
        proxy.restore()
        assert proxy.port == port
        with _connect(port) as after:
            assert _echoes(after, b"pong")


def test_a_target_that_is_down_resets_the_client():
    spare = socket.create_server(("127.0.0.1", 0))
    down_port = spare.getsockname()[1]
    spare.close()  # nothing listens there now
    with TcpProxy("127.0.0.1", down_port) as proxy:
        assert _turned_away(proxy.port)


def test_close_stops_listening(echo_server):
    proxy = TcpProxy(*echo_server).start()
    port = proxy.port
    with _connect(port) as sock:
        assert _echoes(sock, b"ping")
        proxy.close()
        assert _ended(sock)
    with pytest.raises(ConnectionRefusedError):
        _connect(port)
