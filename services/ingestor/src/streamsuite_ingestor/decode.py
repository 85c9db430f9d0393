"""From a Kafka message to what gets stored: pure, no I/O.

A message on the records topic becomes a ``Row`` (to upsert into ``records``) or a
``DeadLetter`` (the ingestor's refusal, to be produced to the DLQ topic). A message on the DLQ
topic becomes a ``DeadLetterRow`` (to insert into ``dead_letters``): the ingestor fills that
table from the topic only, so every refusal, whoever made it, is stored exactly once.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from streamsuite_common.contract import (
    DeadLetter,
    DocumentMeta,
    KafkaCoordinates,
    parse_document_headers,
)
from streamsuite_ingestor.routes import Match, Route, Violation, classify

ORIGIN = "ingestor"
STAGE_DECODE = "decode"
STAGE_ROUTE = "route"
STAGE_STORE = "store"

# Python refuses to turn longer digit strings into int (CVE-2020-10735 guard); keep them exact.
_MAX_INT_DIGITS = 4000


class KafkaRecord(Protocol):
    """The parts of kafka-python's ConsumerRecord we read (tests pass a small dataclass)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]


@dataclasses.dataclass(frozen=True)
class Row:
    """One document for ``records``, with its relational projection when a route matched."""

    payload: str  # the JSON text as received: JSONB keeps numbers exact, unlike a re-dump
    meta: DocumentMeta
    kafka: KafkaCoordinates
    produced_at: datetime | None
    match: Match | None = None

    @property
    def kind(self) -> str:
        return "relational" if self.match is not None else "unstructured"

    @property
    def route(self) -> str | None:
        return self.match.route.name if self.match is not None else None

    def column(self, name: str) -> Any:
        """Value of a typed column of ``records`` (the default route's ``name``/``age``)."""
        if self.match is None or self.match.route.table is not None:
            return None
        return dict(zip(self.match.route.columns, self.match.values, strict=True)).get(name)


@dataclasses.dataclass(frozen=True)
class DeadLetterRow:
    """A dead-letter event read from the DLQ topic, with where it was read."""

    event: DeadLetter
    dlq: KafkaCoordinates


class Refused(Exception):
    def __init__(self, reason: str, detail: str, *, stage: str = STAGE_DECODE, line=None):
        super().__init__(detail)
        self.reason, self.detail, self.stage, self.line = reason, detail, stage, line


def coordinates(record: KafkaRecord) -> KafkaCoordinates:
    return KafkaCoordinates(record.topic, record.partition, record.offset)


def _produced_at(meta: DocumentMeta, record: KafkaRecord) -> datetime | None:
    moment = meta.produced_at
    if moment is not None:
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    # Other producers' messages: the broker's CreateTime (type 0) is the best we have.
    if record.timestamp_type == 0 and record.timestamp is not None and record.timestamp >= 0:
        return datetime.fromtimestamp(record.timestamp / 1000, UTC)
    return None


def _reject_constant(name: str) -> Any:
    raise Refused(
        "non-finite-number",
        f"{name} is not a JSON number and cannot be stored in JSONB",
    )


def _parse_int(text: str) -> int | Decimal:
    return int(text) if len(text) <= _MAX_INT_DIGITS else Decimal(text)


# Built once (json.loads with arguments builds a decoder per call). The fast one parses ints in
# C; only a document with an integer longer than Python's digit limit, which it refuses with a
# ValueError, is parsed again by the exact one.
_FAST_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_EXACT_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_parse_int)


def _loads(text: str) -> Any:
    try:
        return _FAST_DECODER.decode(text)
    except json.JSONDecodeError:
        raise
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        return _EXACT_DECODER.decode(text)


def _strings(document: Any):
    """Every key and string value in the document, walked without recursion."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_text(document: Any, text: str) -> None:
    # Cheap scans of the text first: escapes are the only way these characters get in.
    maybe_nul = "\\u0000" in text
    maybe_surrogate = "\\ud" in text or "\\uD" in text
    if not (maybe_nul or maybe_surrogate):
        return
    for string in _strings(document):
        if "\x00" in string:
            raise Refused(
                "nul-character",
                "contains a \\u0000 (NUL) character, which PostgreSQL cannot store in JSONB",
            )
        try:
            string.encode("utf-8")
        except UnicodeEncodeError:
            raise Refused(
                "invalid-unicode",
                "contains a lone UTF-16 surrogate escape (\\ud800-\\udfff), which is not text",
            ) from None


def parse_json(value: bytes | None, max_bytes: int) -> tuple[Any, str]:
    """(document, text) or Refused with a reason code and a detail for people."""
    if not value:
        raise Refused("empty", "the message has no value")
    if len(value) > max_bytes:
        raise Refused("too-large", f"{len(value)} bytes, more than the limit of {max_bytes}")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(
            "not-utf8",
            f"byte 0x{value[exc.start]:02x} at offset {exc.start} is not valid UTF-8",
        ) from None
    try:
        document = _loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(
            "invalid-json",
            f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            line=exc.lineno,
        ) from None
    except RecursionError:
        raise Refused("too-deep", "nested too deeply to be parsed") from None
    _check_text(document, text)
    return document, text


def _check_headers(meta: DocumentMeta) -> None:
    for name, value in (("source", meta.source), ("sha256", meta.sha256)):
        if value is not None and "\x00" in value:
            raise Refused("invalid-header", f"header {name!r} contains a NUL character")


def refusal(
    record: KafkaRecord, meta: DocumentMeta, *, stage: str, reason: str, detail: str, line=None
) -> DeadLetter:
    return DeadLetter(
        origin=ORIGIN,
        stage=stage,
        reason=reason,
        detail=detail,
        raw=record.value or b"",
        source=meta.source if meta.has_identity else None,
        sha256=meta.sha256 if meta.has_identity else None,
        doc_index=meta.doc_index if meta.has_identity else None,
        line=line,
        kafka=coordinates(record),
    )


def decode_document(
    record: KafkaRecord, routes: Sequence[Route], max_bytes: int
) -> Row | DeadLetter:
    """A records-topic message into a Row, or the ingestor's refusal of it."""
    meta = parse_document_headers(record.headers)
    if not meta.has_identity:
        # Half an identity is no identity: such messages are told apart by their offset.
        meta = dataclasses.replace(meta, source=None, sha256=None, doc_index=None)
    try:
        _check_headers(meta)
        document, text = parse_json(record.value, max_bytes)
        outcome = classify(document, routes)
        if isinstance(outcome, Violation):
            raise Refused("route-violation", str(outcome), stage=STAGE_ROUTE)
    except Refused as exc:
        return refusal(
            record, meta, stage=exc.stage, reason=exc.reason, detail=exc.detail, line=exc.line
        )
    return Row(
        payload=text,
        meta=meta,
        kafka=coordinates(record),
        produced_at=_produced_at(meta, record),
        match=outcome,
    )


def decode_dead_letter(record: KafkaRecord) -> DeadLetterRow:
    """A DLQ-topic message into a dead_letters row; a malformed event is kept, not dropped."""
    try:
        event = DeadLetter.from_message(record.value or b"")
    except ValueError as exc:
        meta = parse_document_headers(record.headers)
        event = DeadLetter(
            origin="unknown",
            stage="dead-letter",
            reason="invalid-dead-letter-event",
            detail=str(exc),
            raw=record.value or b"",
            source=meta.source,
            sha256=meta.sha256,
            doc_index=meta.doc_index,
        )
    return DeadLetterRow(event=event, dlq=coordinates(record))


def store_refusal(row: Row, error: str) -> DeadLetter:
    """The refusal of a row PostgreSQL would not take (found when storing it alone)."""
    meta = row.meta
    return DeadLetter(
        origin=ORIGIN,
        stage=STAGE_STORE,
        reason="rejected-by-postgres",
        detail=error,
        raw=row.payload.encode("utf-8"),
        source=meta.source,
        sha256=meta.sha256,
        doc_index=meta.doc_index,
        kafka=row.kafka,
    )
