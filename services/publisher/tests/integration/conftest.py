"""What every publisher integration test shares: no publisher process outlives its test."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

# Every process ``test_publisher_kafka.start_process`` started.
started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_publisher_left_behind() -> Iterator[None]:
    """A test that fails while its publisher runs (a stop that hangs, an assertion before the
    stop) kills it: a leftover process would load the machine for the rest of the run."""
    yield
    while started:
        process = started.pop()
        if process.poll() is None:
            process.kill()
            process.wait()
