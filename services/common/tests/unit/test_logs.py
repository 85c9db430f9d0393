"""configure_logging: JSON lines (ours and the standard library's) into a given stream."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from streamsuite_common.config import LogSettings
from streamsuite_common.logs import configure_logging, get_logger


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("kafka", "urllib3")}
    yield
    root.handlers = handlers
    root.setLevel(level)
    for name, old in quiet.items():
        logging.getLogger(name).setLevel(old)
    structlog.reset_defaults()


def configured(level: str = "info", fmt: str = "json") -> io.StringIO:
    stream = io.StringIO()
    configure_logging("publisher", LogSettings(level=level, format=fmt), stream)
    return stream


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_format_writes_one_object_per_line_with_the_standard_fields() -> None:
    stream = configured()
    log = get_logger("streamsuite.test")
    log.info("file published", path="a.json", offset=7)
    log.warning("slow broker")
    records = json_lines(stream)
    assert len(records) == 2
    first = records[0]
    assert first["event"] == "file published"
    assert first["level"] == "info"
    assert first["service"] == "publisher"
    assert first["path"] == "a.json"
    assert first["offset"] == 7
    assert first["timestamp"].endswith("Z")
    assert records[1]["level"] == "warning"


def test_stdlib_log_lines_from_other_loggers_come_out_as_json() -> None:
    stream = configured()
    logging.getLogger("uvicorn.error").warning("port %d busy", 8000)
    [record] = json_lines(stream)
    assert record["event"] == "port 8000 busy"
    assert record["level"] == "warning"
    assert record["service"] == "publisher"
    assert "timestamp" in record


def test_lines_below_the_configured_level_are_dropped() -> None:
    stream = configured(level="warning")
    log = get_logger("streamsuite.test")
    log.info("chatty")
    logging.getLogger("other").info("also chatty")
    log.error("broken")
    assert [record["event"] for record in json_lines(stream)] == ["broken"]


def test_debug_level_lets_debug_lines_through() -> None:
    stream = configured(level="debug")
    get_logger("streamsuite.test").debug("details")
    assert [record["level"] for record in json_lines(stream)] == ["debug"]


def test_chatty_libraries_log_warnings_only_unless_debug() -> None:
    stream = configured(level="info")
    assert logging.getLogger("kafka").getEffectiveLevel() == logging.WARNING
    logging.getLogger("kafka.conn").info("connecting")
    assert stream.getvalue() == ""
    configured(level="debug")
    assert logging.getLogger("kafka").getEffectiveLevel() == logging.DEBUG


def test_an_explicit_service_field_is_not_overwritten() -> None:
    stream = configured()
    get_logger("x").info("forwarded", service="other-service")
    assert json_lines(stream)[0]["service"] == "other-service"


def test_exceptions_are_structured_not_a_multiline_traceback() -> None:
    stream = configured()
    try:
        raise RuntimeError("kaput")
    except RuntimeError:
        get_logger("x").exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "error"
    assert record["exception"][0]["exc_type"] == "RuntimeError"
    assert record["exception"][0]["exc_value"] == "kaput"


def test_auto_format_on_a_non_tty_stream_is_json() -> None:
    stream = configured(fmt="auto")
    get_logger("x").info("hello")
    assert json_lines(stream)[0]["event"] == "hello"


def test_console_format_is_not_json_but_carries_the_event() -> None:
    stream = configured(fmt="console")
    get_logger("x").info("hello people")
    text = stream.getvalue()
    assert "hello people" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_reconfiguring_replaces_the_handler_instead_of_duplicating_lines() -> None:
    configured()
    stream = configured()
    get_logger("x").info("once")
    assert len(stream.getvalue().splitlines()) == 1
    assert len(logging.getLogger().handlers) == 1
