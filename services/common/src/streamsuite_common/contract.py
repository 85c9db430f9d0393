"""The wire contract between the services: document message headers and dead-letter events.

A document message (topic ``records``): the value is the document as UTF-8 JSON, the key the
source file's path relative to the inbox, and the headers below. A record's identity is
(``source``, ``sha256``, ``doc-index``); a message without these headers (another producer's) is
identified by its topic/partition/offset instead.

A dead-letter event (topic ``records.dlq``): a JSON object saying who refused what and why, with
the raw bytes, so that each refusal can be stored once in ``dead_letters`` by the ingestor.
Everything here is pure: building and parsing, no I/O.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

HEADER_SOURCE = "source"
HEADER_SHA256 = "sha256"
HEADER_DOC_INDEX = "doc-index"
HEADER_CONTENT_TYPE = "content-type"
HEADER_PRODUCED_AT = "produced-at"

DOCUMENT_CONTENT_TYPE = "application/json"
DEAD_LETTER_CONTENT_TYPE = "application/vnd.streamsuite.dead-letter+json"
DEAD_LETTER_VERSION = 1

# Raw bytes kept in a dead-letter event; a larger input is cut and flagged, never carried whole.
MAX_DEAD_LETTER_RAW_BYTES = 256 * 1024


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclasses.dataclass(frozen=True)
class DocumentMeta:
    """What the headers of a document message say; every field is optional on the way in."""

    source: str | None = None
    sha256: str | None = None
    doc_index: int | None = None
    content_type: str | None = None
    produced_at: datetime | None = None

    @property
    def has_identity(self) -> bool:
        return self.source is not None and self.sha256 is not None and self.doc_index is not None


def document_headers(
    *, source: str, sha256: str, doc_index: int, produced_at: datetime
) -> list[tuple[str, bytes]]:
    return file_headers(source, sha256, produced_at)(doc_index)


def file_headers(
    source: str, sha256: str, produced_at: datetime
) -> Callable[[int], list[tuple[str, bytes]]]:
    """The headers of a file's documents, encoded once per file: ``doc_index`` → headers."""
    head = [(HEADER_SOURCE, source.encode()), (HEADER_SHA256, sha256.encode())]
    tail = [
        (HEADER_CONTENT_TYPE, DOCUMENT_CONTENT_TYPE.encode()),
        (HEADER_PRODUCED_AT, rfc3339(produced_at).encode()),
    ]
    return lambda doc_index: [*head, (HEADER_DOC_INDEX, str(doc_index).encode()), *tail]


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def parse_document_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> DocumentMeta:
    """Read the headers leniently: a missing or malformed one becomes None, never an error,
    since messages from other producers are ingested too."""
    values = {key: _text(value) for key, value in headers or ()}
    doc_index = values.get(HEADER_DOC_INDEX)
    produced_at = values.get(HEADER_PRODUCED_AT)
    try:
        index = int(doc_index) if doc_index is not None else None
    except ValueError:
        index = None
    try:
        moment = datetime.fromisoformat(produced_at) if produced_at else None
    except ValueError:
        moment = None
    return DocumentMeta(
        source=values.get(HEADER_SOURCE),
        sha256=values.get(HEADER_SHA256),
        doc_index=index if index is not None and index >= 0 else None,
        content_type=values.get(HEADER_CONTENT_TYPE),
        produced_at=moment,
    )


@dataclasses.dataclass(frozen=True)
class KafkaCoordinates:
    topic: str
    partition: int
    offset: int


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """One refusal: which service (``origin``) refused what at which ``stage``, and why.

    ``reason`` is a short stable code for metrics and filters (``invalid-json``,
    ``not-utf8``, ``too-large``, …); ``detail`` says it for people (line and column, limit).
    """

    origin: str
    stage: str
    reason: str
    detail: str
    raw: bytes = b""
    source: str | None = None
    sha256: str | None = None
    doc_index: int | None = None
    line: int | None = None
    kafka: KafkaCoordinates | None = None
    raw_truncated: bool = False
    at: datetime = dataclasses.field(default_factory=utc_now)

    def __post_init__(self) -> None:
        # Every event is made storable here, whoever built it (a parsed event or a refusal
        # built from another producer's headers): text without NUL or lone surrogates
        # (PostgreSQL text cannot hold them), raw bytes cut to the cap and flagged, and a time
        # with a zone.
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if value is not None and not _storable(value):
                object.__setattr__(self, name, _storable_text(value))
        if self.kafka is not None and not _storable(self.kafka.topic):
            topic = _storable_text(self.kafka.topic)
            object.__setattr__(self, "kafka", dataclasses.replace(self.kafka, topic=topic))
        if len(self.raw) > MAX_DEAD_LETTER_RAW_BYTES:
            object.__setattr__(self, "raw", bytes(self.raw[:MAX_DEAD_LETTER_RAW_BYTES]))
            object.__setattr__(self, "raw_truncated", True)
        if self.at.tzinfo is None:
            object.__setattr__(self, "at", self.at.replace(tzinfo=UTC))

    def to_json(self) -> dict[str, Any]:
        raw, truncated = self.raw, self.raw_truncated
        return {
            "version": DEAD_LETTER_VERSION,
            "origin": self.origin,
            "stage": self.stage,
            "reason": self.reason,
            "detail": self.detail,
            "source": self.source,
            "sha256": self.sha256,
            "doc_index": self.doc_index,
            "line": self.line,
            "kafka": dataclasses.asdict(self.kafka) if self.kafka else None,
            "raw_base64": base64.b64encode(raw).decode("ascii"),
            "raw_truncated": truncated,
            "at": rfc3339(self.at),
        }

    def to_message(self) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
        """(key, value, headers) for the DLQ topic."""
        key = self.source or (
            f"{self.kafka.topic}/{self.kafka.partition}/{self.kafka.offset}" if self.kafka else ""
        )
        headers = [(HEADER_CONTENT_TYPE, DEAD_LETTER_CONTENT_TYPE.encode())]
        if self.source is not None:
            headers.append((HEADER_SOURCE, self.source.encode()))
        if self.sha256 is not None:
            headers.append((HEADER_SHA256, self.sha256.encode()))
        if self.doc_index is not None:
            headers.append((HEADER_DOC_INDEX, str(self.doc_index).encode()))
        value = json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))
        return key.encode(), value.encode(), headers

    @classmethod
    def from_json(cls, data: Any) -> DeadLetter:
        """Parse an event; raises ValueError naming the field that is missing or wrong.

        Validated completely here, so whatever another producer wrote, a caller gets either a
        well-typed event or ValueError, never another exception."""
        if not isinstance(data, dict):
            raise ValueError("dead-letter event: expected a JSON object")
        for name in ("origin", "stage", "reason", "detail"):
            if not isinstance(data.get(name), str):
                raise ValueError(f"dead-letter event: {name!r} missing or not a string")
        for name in ("source", "sha256", "at"):
            _optional(data, name, str, "a string")
        for name in ("doc_index", "line"):
            _optional(data, name, int, "an integer", bounds=_BIGINT)
        _optional(data, "raw_base64", str, "a string")
        _optional(data, "raw_truncated", bool, "true or false")
        try:
            raw = base64.b64decode(data.get("raw_base64") or "", validate=True)
        except ValueError:
            raise ValueError("dead-letter event: 'raw_base64' is not base64") from None
        try:
            at = datetime.fromisoformat(data["at"]) if data.get("at") else utc_now()
        except ValueError:
            raise ValueError("dead-letter event: 'at' is not an RFC 3339 time") from None
        return cls(
            origin=data["origin"],
            stage=data["stage"],
            reason=data["reason"],
            detail=data["detail"],
            raw=raw,
            source=data.get("source"),
            sha256=data.get("sha256"),
            doc_index=data.get("doc_index"),
            line=data.get("line"),
            kafka=_coordinates(data.get("kafka")),
            raw_truncated=bool(data.get("raw_truncated")),
            at=at,
        )

    @classmethod
    def from_message(cls, value: bytes) -> DeadLetter:
        try:
            data = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"dead-letter event: not JSON ({exc})") from None
        except RecursionError:
            raise ValueError("dead-letter event: nested too deeply to be parsed") from None
        return cls.from_json(data)


_TEXT_FIELDS = ("origin", "stage", "reason", "detail", "source", "sha256")


# NUL and lone surrogates (JSON may escape either): PostgreSQL text cannot hold them.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def _storable_text(text: str) -> str:
    return _UNSTORABLE.sub("\ufffd", text)


# Ranges of the columns an event's numbers are stored in (bigint, integer).
_BIGINT = (-(2**63), 2**63 - 1)
_INT = (-(2**31), 2**31 - 1)


def _optional(
    data: dict[str, Any],
    name: str,
    kind: type,
    what: str,
    *,
    bounds: tuple[int, int] | None = None,
) -> None:
    value = data.get(name)
    if value is None:
        return
    # bool is an int in Python, but not in JSON.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"dead-letter event: {name!r} is not {what}")
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"dead-letter event: {name!r} is out of range")


def _coordinates(kafka: Any) -> KafkaCoordinates | None:
    if kafka is None:
        return None
    if not isinstance(kafka, dict) or set(kafka) != {"topic", "partition", "offset"}:
        raise ValueError("dead-letter event: 'kafka' must have topic, partition and offset")
    _optional(kafka, "topic", str, "a string")
    _optional(kafka, "partition", int, "an integer", bounds=(0, _INT[1]))
    _optional(kafka, "offset", int, "an integer", bounds=(0, _BIGINT[1]))
    if any(kafka[name] is None for name in ("topic", "partition", "offset")):
        raise ValueError("dead-letter event: 'kafka' must have topic, partition and offset")
    return KafkaCoordinates(kafka["topic"], kafka["partition"], kafka["offset"])
