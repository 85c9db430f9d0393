"""Per-client token bucket and in-flight counters (pure, with a fake clock)."""

from __future__ import annotations

from streamsuite_common.auth import LimitSettings
from streamsuite_common.limits import ClientLimits


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_burst_then_the_rate():
    clock = Clock()
    limits = ClientLimits(LimitSettings(rate_per_s=2, burst=3), clock)
    assert [limits.take("a") for _ in range(3)] == [0, 0, 0]
    assert limits.take("a") == 0.5  # one token comes back in half a second
    assert limits.take("b") == 0  # clients have buckets of their own
    clock.now += 0.5
    assert limits.take("a") == 0
    clock.now += 100
    assert [limits.take("a") for _ in range(3)] == [0, 0, 0]  # refills up to the burst only
    assert limits.take("a") > 0


def test_scans_have_a_smaller_in_flight_limit():
    limits = ClientLimits(LimitSettings(concurrency=3, scan_concurrency=1))
    assert limits.enter("a", "all")
    assert limits.enter("a", "scan")
    assert not limits.enter("a", "scan")
    assert limits.enter("b", "scan")
    limits.leave("a", "scan")
    assert limits.enter("a", "scan")
    assert limits.enter("a", "all")
    assert limits.enter("a", "all")
    assert not limits.enter("a", "all")
