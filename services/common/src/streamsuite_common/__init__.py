"""Shared library of the streamsuite services.

One job per module: ``config`` (settings and their validation), ``logs`` (structlog set-up),
``retry`` (backoff), ``kafka`` and ``db`` (connection helpers), ``health`` (the /healthz,
/readyz and /metrics server), ``shutdown`` (SIGTERM/SIGINT), ``check`` (the start-up check
command).
"""

__version__ = "0.1.0"
