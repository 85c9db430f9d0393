"""Pure parts of the loop: the fetch watchdog, byte-bounded batches, bisecting a rejected batch
and the bounds of the database session."""

from __future__ import annotations

import dataclasses

import pytest

from streamsuite_ingestor.batching import bisect, record_bytes, split_by_bytes
from streamsuite_ingestor.store import session_kwargs
from streamsuite_ingestor.watchdog import FetchWatchdog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_watchdog_stalls_without_progress_and_rebuilds_once_per_period():
    clock = Clock()
    dog = FetchWatchdog(10, clock=clock, wall=lambda: 5.0)
    clock.now += 9
    assert not dog.stalled()
    clock.now += 1
    assert dog.stalled()
    assert dog.rebuild_due()
    dog.rebuilt()
    clock.now += 5
    assert dog.stalled()
    assert not dog.rebuild_due()  # a rebuild gets its time to join before the next one
    clock.now += 5
    assert dog.rebuild_due()
    dog.progress()
    assert not dog.stalled()
    assert dog.progress_wall_time == 5.0


@dataclasses.dataclass
class Msg:
    value: bytes | None
    key: bytes | None = None
    headers: list = dataclasses.field(default_factory=list)


def test_record_bytes_count_key_value_and_headers():
    assert record_bytes(Msg(b"abc", b"k", [("h", b"vv"), ("n", None)])) == 3 + 1 + 1 + 2 + 1


def test_batch_is_cut_at_the_byte_limit_but_always_takes_one():
    records = [Msg(b"x" * 400) for _ in range(5)]
    taken, rest = split_by_bytes(records, 1000)
    assert (len(taken), len(rest)) == (2, 3)
    assert split_by_bytes([Msg(b"x" * 5000)], 1000) == ([records[0].__class__(b"x" * 5000)], [])


def test_bisect_pins_each_bad_item_with_few_attempts():
    items = list(range(64))
    bad = {17}
    attempts = []

    def attempt(part):
        attempts.append(len(part))
        if bad & set(part):
            raise ValueError("rejected")
        return list(part)

    stored, rejected = bisect(items, attempt, lambda exc: isinstance(exc, ValueError))
    assert stored == [i for i in items if i not in bad]  # order kept
    assert [(item, str(exc)) for item, exc in rejected] == [(17, "rejected")]
    assert len(attempts) <= 2 * 6 + 1  # one row at a time would be 64


def test_bisect_passes_other_errors_through():
    def attempt(part):
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        bisect([1, 2], attempt, lambda exc: isinstance(exc, ValueError))


def test_session_kwargs_bound_statements_locks_and_tcp():
    kwargs = session_kwargs(
        {"options": "-c search_path=s", "host": "db"},
        statement_timeout_s=60,
        lock_timeout_s=10,
        tcp_user_timeout_s=30,
    )
    assert kwargs["options"] == (
        "-c search_path=s -c statement_timeout=60000 -c lock_timeout=10000"
    )
    assert kwargs["tcp_user_timeout"] == 30_000
    assert kwargs["host"] == "db"


def test_readiness_says_why_while_stalled_or_without_partitions():
    import threading

    from prometheus_client import CollectorRegistry

    from streamsuite_ingestor.config import load_tree
    from streamsuite_ingestor.metrics import Metrics
    from streamsuite_ingestor.routes import all_routes
    from streamsuite_ingestor.service import Ingestor

    tree = {
        "KAFKA": {"BOOTSTRAP_SERVERS": "127.0.0.1:9"},
        "DATABASE": {"HOST": "db", "DBNAME": "d", "DBUSER": "u"},
    }
    ingestor = Ingestor(
        load_tree(tree, {}), all_routes(), Metrics(CollectorRegistry()), stop=threading.Event()
    )
    clock = Clock()
    ingestor.watchdog = FetchWatchdog(30, clock=clock)
    with pytest.raises(RuntimeError, match="no partitions"):
        ingestor.check_partitions()
    ingestor.assigned([])  # a member with nothing to do is ready
    ingestor.check_partitions()
    ingestor.check_fetching()
    clock.now += 31
    with pytest.raises(RuntimeError, match="fetched nothing for 31s"):
        ingestor.check_fetching()
