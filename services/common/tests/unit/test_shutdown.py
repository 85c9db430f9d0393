"""Shutdown: a stop request sets the flag and wakes whoever listens."""

from __future__ import annotations

import subprocess
import sys
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


# The signal lands while the main thread holds a lock a listener takes (a threading.Event's
# condition inside wait() or clear(), a log handler's lock). Run in a child process: before the
# fix, its signal handler deadlocked on that lock and the child never exited.
SIGNALLED_WHILE_LOCKED = """
import os, signal, sys, threading, time
from streamsuite_common.shutdown import Shutdown

shutdown = Shutdown().install()
lock = threading.Lock()
heard = threading.Event()

def listener():
    with lock:
        heard.set()

shutdown.on_request(listener)
with lock:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)  # the Python-level handler runs in this thread, here
sys.exit(0 if shutdown.wait(10) and heard.wait(10) else 3)
"""


def test_a_signal_while_the_main_thread_holds_a_listeners_lock_does_not_deadlock():
    child = subprocess.run(
        [sys.executable, "-c", SIGNALLED_WHILE_LOCKED], capture_output=True, timeout=20
    )
    assert child.returncode == 0, child.stderr.decode()
