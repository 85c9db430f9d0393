"""Readiness.evaluate with fake checks, its cache, and the dependency_up gauge."""

import pytest
from prometheus_client import CollectorRegistry

from streamsuite_common.health import Readiness


class Check:
    """A fake dependency check that counts its calls and fails while ``error`` is set."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def up(registry: CollectorRegistry, dependency: str, service: str = "ingestor") -> float | None:
    return registry.get_sample_value(
        f"streamsuite_{service}_dependency_up", {"dependency": dependency}
    )


def test_all_checks_passing_is_ready(registry: CollectorRegistry) -> None:
    readiness = Readiness(
        {"kafka": Check(), "postgres": Check()}, service="ingestor", registry=registry
    )
    assert readiness.evaluate() == (True, {"kafka": "ok", "postgres": "ok"})
    assert up(registry, "kafka") == 1.0
    assert up(registry, "postgres") == 1.0


def test_one_failing_check_is_not_ready_and_names_the_reason(registry: CollectorRegistry) -> None:
    checks = {"kafka": Check(), "postgres": Check(ConnectionError("postgres unreachable: refused"))}
    readiness = Readiness(checks, service="ingestor", registry=registry, cache_s=0)
    ready, results = readiness.evaluate()
    assert ready is False
    assert results == {"kafka": "ok", "postgres": "postgres unreachable: refused"}
    assert up(registry, "kafka") == 1.0
    assert up(registry, "postgres") == 0.0


def test_a_failure_without_a_message_is_named_by_its_class(registry: CollectorRegistry) -> None:
    readiness = Readiness({"kafka": Check(TimeoutError())}, service="ingestor", registry=registry)
    assert readiness.evaluate() == (False, {"kafka": "TimeoutError"})


def test_every_check_runs_even_after_one_fails(registry: CollectorRegistry) -> None:
    first, second = Check(RuntimeError("down")), Check()
    readiness = Readiness({"a": first, "b": second}, service="ingestor", registry=registry)
    readiness.evaluate()
    assert (first.calls, second.calls) == (1, 1)


def test_no_checks_means_ready(registry: CollectorRegistry) -> None:
    assert Readiness({}, service="ingestor", registry=registry).evaluate() == (True, {})


def test_results_are_cached_for_cache_s(registry: CollectorRegistry) -> None:
    check = Check()
    readiness = Readiness({"kafka": check}, service="ingestor", registry=registry, cache_s=60)
    readiness.evaluate()
    check.error = ConnectionError("down")
    assert readiness.evaluate() == (True, {"kafka": "ok"})
    assert check.calls == 1


def test_without_cache_a_recovery_shows_on_the_next_evaluation(
    registry: CollectorRegistry,
) -> None:
    check = Check(ConnectionError("down"))
    readiness = Readiness({"kafka": check}, service="ingestor", registry=registry, cache_s=0)
    assert readiness.evaluate()[0] is False
    assert up(registry, "kafka") == 0.0
    check.error = None
    assert readiness.evaluate() == (True, {"kafka": "ok"})
    assert up(registry, "kafka") == 1.0
    assert check.calls == 2


def test_gauge_name_uses_the_service_name_with_underscores(registry: CollectorRegistry) -> None:
    Readiness({"postgres": Check()}, service="query-api", registry=registry).evaluate()
    assert up(registry, "postgres", service="query_api") == 1.0
