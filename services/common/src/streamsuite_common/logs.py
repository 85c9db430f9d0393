"""Structured logging: JSON lines in containers, readable console output on a TTY.

Everything goes through the standard library's root logger with structlog's formatter, so the
libraries' own log lines (kafka-python, uvicorn) come out in the same shape as ours. Each line
carries ``event``, ``level``, ``timestamp`` and ``service``.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

import structlog

from streamsuite_common.config import LogSettings

# Libraries that are chatty at INFO: they log at WARNING and above unless we ask for debug.
_QUIET_LIBRARIES = ("kafka", "urllib3")


def _renderer(fmt: str, stream: IO[str]) -> Any:
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    if fmt == "console":
        return structlog.dev.ConsoleRenderer()
    return structlog.processors.JSONRenderer()


def configure_logging(service: str, settings: LogSettings, stream: IO[str] | None = None) -> None:
    """Route all logging to ``stream`` (stdout by default) in the configured format."""
    stream = stream or sys.stdout
    level = getattr(logging, settings.level.upper())

    def add_service(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("service", service)
        return event

    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    renderer = _renderer(settings.format, stream)
    final = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if isinstance(renderer, structlog.processors.JSONRenderer):
        final.append(structlog.processors.dict_tracebacks)
    final.append(renderer)
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(
            level if level <= logging.DEBUG else max(level, logging.WARNING)
        )


def get_logger(name: str | None = None) -> Any:
    return structlog.stdlib.get_logger(name)
