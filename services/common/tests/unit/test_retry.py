"""Backoff delays and retry_call: fake functions, waits recorded instead of slept."""

import itertools
import re
import threading
import time

import pytest

from streamsuite_common.retry import GaveUp, backoff_delays, retry_call


class RecordingStop(threading.Event):
    """A stop event whose waits return at once and are remembered."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout if timeout is not None else -1.0)
        return self.is_set()


class Flaky:
    """Fails ``failures`` times with the given error, then returns ``result``."""

    def __init__(self, failures: int, error: type[BaseException] = ConnectionError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "done"


def test_backoff_delays_double_from_a_quarter_second() -> None:
    assert list(itertools.islice(backoff_delays(), 6)) == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]


def test_backoff_delays_never_exceed_the_cap() -> None:
    delays = list(itertools.islice(backoff_delays(base=1, factor=3, cap=5), 5))
    assert delays == [1, 3, 5, 5, 5]


def test_backoff_delays_are_endless() -> None:
    delays = list(itertools.islice(backoff_delays(), 100))
    assert len(delays) == 100
    assert delays[-1] == 10.0


def test_retry_call_returns_at_once_when_fn_succeeds() -> None:
    stop = RecordingStop()
    fn = Flaky(0)
    assert retry_call(fn, what="thing", timeout_s=1, stop=stop) == "done"
    assert fn.calls == 1
    assert stop.waits == []


def test_retry_call_retries_until_fn_succeeds_with_growing_jittered_waits() -> None:
    stop = RecordingStop()
    fn = Flaky(4)
    assert retry_call(fn, what="thing", timeout_s=60, stop=stop) == "done"
    assert fn.calls == 5
    assert len(stop.waits) == 4
    for wait, delay in zip(stop.waits, [0.25, 0.5, 1.0, 2.0], strict=True):
        assert delay / 2 <= wait <= delay


def test_retry_call_caps_the_wait_at_cap_s() -> None:
    stop = RecordingStop()
    retry_call(Flaky(6), what="thing", timeout_s=60, stop=stop, cap_s=0.5)
    assert len(stop.waits) == 6
    assert max(stop.waits) <= 0.5
    assert all(wait >= 0.125 for wait in stop.waits)


def test_retry_call_gives_up_at_the_deadline_with_the_last_error() -> None:
    fn = Flaky(1000)
    started = time.monotonic()
    with pytest.raises(GaveUp) as info:
        retry_call(fn, what="postgres db", timeout_s=0.4)
    elapsed = time.monotonic() - started
    assert fn.calls >= 1
    assert elapsed < 0.4 + 0.2  # it never sits out a wait that would pass the deadline
    assert isinstance(info.value.last_error, ConnectionError)
    assert str(info.value.last_error) == f"failure {fn.calls}"
    assert info.value.what == "postgres db"
    assert re.fullmatch(rf"postgres db: gave up after \d+s: failure {fn.calls}", str(info.value))


def test_retry_call_with_zero_timeout_tries_once() -> None:
    fn = Flaky(1000)
    with pytest.raises(GaveUp):
        retry_call(fn, what="thing", timeout_s=0)
    assert fn.calls == 1


def test_retry_call_propagates_errors_outside_retry_on_at_once() -> None:
    stop = RecordingStop()
    fn = Flaky(3, error=KeyError)
    with pytest.raises(KeyError, match="failure 1"):
        retry_call(fn, what="thing", timeout_s=60, retry_on=(ConnectionError,), stop=stop)
    assert fn.calls == 1
    assert stop.waits == []


def test_retry_call_propagates_errors_that_retryable_rejects() -> None:
    stop = RecordingStop()
    fn = Flaky(3)
    seen: list[BaseException] = []

    def retryable(exc: BaseException) -> bool:
        seen.append(exc)
        return False

    with pytest.raises(ConnectionError, match="failure 1"):
        retry_call(fn, what="thing", timeout_s=60, retryable=retryable, stop=stop)
    assert fn.calls == 1
    assert len(seen) == 1
    assert stop.waits == []


def test_retry_call_retries_errors_that_retryable_accepts() -> None:
    stop = RecordingStop()
    fn = Flaky(2)
    result = retry_call(fn, what="thing", timeout_s=60, retryable=lambda exc: True, stop=stop)
    assert result == "done"
    assert fn.calls == 3


def test_retry_call_gives_up_without_calling_when_already_stopped() -> None:
    stop = threading.Event()
    stop.set()
    fn = Flaky(0)
    with pytest.raises(GaveUp) as info:
        retry_call(fn, what="kafka", timeout_s=60, stop=stop)
    assert fn.calls == 0
    assert info.value.last_error is None
    assert str(info.value) == "kafka: gave up after 0s"


def test_retry_call_stops_retrying_once_stop_is_set() -> None:
    stop = threading.Event()
    calls = 0

    def fn() -> str:
        nonlocal calls
        calls += 1
        stop.set()  # shutdown begins while the call fails
        raise ConnectionError("refused")

    started = time.monotonic()
    with pytest.raises(GaveUp) as info:
        retry_call(fn, what="kafka", timeout_s=60, stop=stop)
    assert calls == 1
    assert time.monotonic() - started < 1.0
    assert str(info.value.last_error) == "refused"
