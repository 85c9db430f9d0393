"""Kafka connection helpers (kafka-python): options from settings, connecting with retries,
creating topics, and a readiness probe.

The option builders are pure so they are unit-tested; the ``connect_*`` functions are the I/O
edge: each attempt bootstraps for a few seconds (kafka-python raises KafkaTimeoutError when no
broker answers) and attempts repeat with backoff until the configured start-up timeout.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from streamsuite_common.config import KafkaSettings
from streamsuite_common.retry import GaveUp, retry_call

# One bootstrap attempt; the start-up timeout bounds the retries around it.
_ATTEMPT_TIMEOUT_MS = 5_000


class KafkaUnavailable(Exception):
    """No broker answered within the start-up timeout."""


def default_transactional_id(service: str) -> str:
    """``streamsuite-<service>-<host>-<pid>``: in a container (pid 1) stable across restarts,
    so a restarted producer fences its predecessor's unfinished transaction at once; on a shared
    host never shared by two processes, which would make them fence each other in turn."""
    return f"streamsuite-{service}-{socket.gethostname()}-{os.getpid()}"


def client_options(settings: KafkaSettings, *, client_id: str) -> dict[str, Any]:
    """Options every kafka-python client takes: brokers, timeouts, security."""
    options: dict[str, Any] = {
        "bootstrap_servers": list(settings.bootstrap_servers),
        "client_id": client_id,
        "request_timeout_ms": int(settings.request_timeout_s * 1000),
        "reconnect_backoff_ms": 100,
        # A restarted broker is found again within a second (the Java client's default), not
        # up to 10 s later: each client retries once a second at most while it is away.
        "reconnect_backoff_max_ms": 1_000,
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_check_hostname"] = True
        if settings.ssl_cafile:
            options["ssl_cafile"] = settings.ssl_cafile
    return options


def producer_options(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """Durable producer: every in-sync replica acknowledges, idempotent, compressed."""
    options = client_options(settings, client_id=settings.producer_client_id)
    options.update(
        acks="all",
        enable_idempotence=True,
        compression_type=None if settings.compression == "none" else settings.compression,
        linger_ms=5,
        max_in_flight_requests_per_connection=5,
    )
    options.update(overrides)
    return options


def consumer_options(settings: KafkaSettings, *, group_id: str, **overrides: Any) -> dict[str, Any]:
    """Group consumer that sees committed transactions only and commits offsets itself."""
    # A request may not time out before the broker's longest poll wait, or kafka-python refuses.
    request_timeout_ms = max(int(settings.request_timeout_s * 1000), 30_500)
    options = client_options(settings, client_id=settings.consumer_client_id)
    options.update(
        group_id=group_id,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=request_timeout_ms,
    )
    options.update(overrides)
    return options


def _attempt_ms(timeout_s: float) -> int:
    """One bootstrap attempt: 5 s, or less when the whole budget is smaller (1 s at least)."""
    return int(min(_ATTEMPT_TIMEOUT_MS, max(1_000, timeout_s * 1000)))


def _connect(factory: Any, what: str, timeout_s: float, stop: threading.Event | None) -> Any:
    try:
        return retry_call(
            factory, what=what, timeout_s=timeout_s, retry_on=(KafkaTimeoutError,), stop=stop
        )
    except GaveUp as exc:
        raise KafkaUnavailable(f"{what}: no broker reachable within {timeout_s:g}s") from exc


def connect_producer(
    settings: KafkaSettings, *, stop: threading.Event | None = None, **overrides: Any
) -> KafkaProducer:
    options = producer_options(settings, **overrides)
    options.setdefault("bootstrap_timeout_ms", _attempt_ms(settings.connect_timeout_s))
    return _connect(
        lambda: KafkaProducer(**options),
        f"kafka {','.join(settings.bootstrap_servers)}",
        settings.connect_timeout_s,
        stop,
    )


def connect_consumer(
    settings: KafkaSettings,
    *topics: str,
    group_id: str,
    stop: threading.Event | None = None,
    **overrides: Any,
) -> KafkaConsumer:
    options = consumer_options(settings, group_id=group_id, **overrides)
    options.setdefault("bootstrap_timeout_ms", _attempt_ms(settings.connect_timeout_s))
    return _connect(
        lambda: KafkaConsumer(*topics, **options),
        f"kafka {','.join(settings.bootstrap_servers)}",
        settings.connect_timeout_s,
        stop,
    )


def connect_admin(
    settings: KafkaSettings,
    *,
    client_id: str = "streamsuite-admin",
    stop: threading.Event | None = None,
    timeout_s: float | None = None,
    **overrides: Any,
) -> KafkaAdminClient:
    budget = settings.connect_timeout_s if timeout_s is None else timeout_s
    options = {
        **client_options(settings, client_id=client_id),
        "bootstrap_timeout_ms": _attempt_ms(budget),
        **overrides,
    }
    return _connect(
        lambda: KafkaAdminClient(**options),
        f"kafka {','.join(settings.bootstrap_servers)}",
        budget,
        stop,
    )


def ensure_topics(
    admin: KafkaAdminClient, names: list[str], *, partitions: int, replication_factor: int = 1
) -> list[str]:
    """Create the topics that do not exist yet; return the names it created."""
    existing = set(admin.list_topics())
    missing = [name for name in names if name not in existing]
    created = []
    for name in missing:
        try:
            admin.create_topics([NewTopic(name, partitions, replication_factor)])
            created.append(name)
        except TopicAlreadyExistsError:
            pass  # another process won the race; the topic is there, which is all we need
    return created


class KafkaProbe:
    """Readiness check: can we reach the cluster right now?

    Keeps one admin client with short timeouts and rebuilds it after a failure, so an outage
    shows within seconds and recovery needs no restart. The timeout stays under readiness's
    own bound (``health.DEFAULT_TIMEOUT_S``), so an outage is reported with its reason.
    """

    name = "kafka"

    def __init__(self, settings: KafkaSettings, timeout_s: float = 1.5):
        self._settings = settings
        self._timeout_ms = int(timeout_s * 1000)
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        """Return when the cluster answers; raise with the reason when it does not."""
        with self._lock:
            try:
                if self._admin is None:
                    options = client_options(self._settings, client_id="streamsuite-probe")
                    options.update(
                        request_timeout_ms=self._timeout_ms, bootstrap_timeout_ms=self._timeout_ms
                    )
                    self._admin = KafkaAdminClient(**options)
                self._admin.describe_cluster()
            except (KafkaError, OSError) as exc:
                self.close()
                raise ConnectionError(f"kafka unreachable: {exc.__class__.__name__}") from exc

    def close(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(Exception):  # best effort: it is already broken
                self._admin.close()
            self._admin = None
