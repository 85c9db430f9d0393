"""Shutdown: a stop request sets the flag and wakes whoever listens."""

from __future__ import annotations

import threading

from streamsuite_common.shutdown import Shutdown


def test_request_sets_the_flag_and_wakes_listeners():
    shutdown = Shutdown()
    woken = threading.Event()
    shutdown.on_request(woken.set)
    assert not shutdown.requested
    shutdown.request()
    assert shutdown.requested
    assert woken.is_set()


def test_wait_returns_true_once_stopping():
    shutdown = Shutdown()
    shutdown.request()
    assert shutdown.wait(0) is True
