"""From a parsed file to the Kafka messages that carry it: pure, so it is tested without Kafka.

Documents go to the records topic with the contract's key and headers; every refusal (the
whole file's, or one line's or section's) becomes a dead-letter event for the DLQ topic, so it
shows up downstream in ``dead_letters``. The publisher (origin ``publisher``) and the web UI's
Submit (origin ``web``) build their messages here, so both travel exactly alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime
from typing import Any

from streamsuite_common.contract import DeadLetter, file_headers, rfc3339
from streamsuite_common.publishing.formats import ParseResult, Refusal


@dataclasses.dataclass(frozen=True)
class OutMessage:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dead_letter(
    refusal: Refusal, *, origin: str, source: str, sha256: str | None, stage: str, at: datetime
) -> DeadLetter:
    return DeadLetter(
        origin=origin,
        stage=stage,
        reason=refusal.reason,
        detail=refusal.detail,
        raw=refusal.raw,
        source=source,
        sha256=sha256,
        doc_index=refusal.index,
        line=refusal.line,
        at=at,
    )


def _dlq_message(letter: DeadLetter, dlq_topic: str) -> OutMessage:
    key, value, headers = letter.to_message()
    return OutMessage(dlq_topic, key, value, headers)


def file_messages(
    *,
    origin: str,
    source: str,
    sha256: str,
    parsed: ParseResult,
    topic: str,
    dlq_topic: str,
    produced_at: datetime,
) -> list[OutMessage]:
    """The messages of one file that was read: its documents, and a dead letter per refusal
    (``origin`` names the service that refuses)."""
    refusals = parsed.refusals if parsed.file_refusal is None else (parsed.file_refusal,)
    messages: list[OutMessage] = []
    if parsed.file_refusal is None and parsed.documents:
        # Key and headers are the file's: encoded once, only doc-index differs per document.
        key, headers = source.encode(), file_headers(source, sha256, produced_at)
        messages = [
            OutMessage(topic, key, document.value, headers(document.index))
            for document in parsed.documents
        ]
    for refusal in refusals:
        letter = dead_letter(
            refusal, origin=origin, source=source, sha256=sha256, stage="parse", at=produced_at
        )
        messages.append(_dlq_message(letter, dlq_topic))
    return messages


def refusal_report(
    *, source: str, sha256: str | None, refusals: list[Refusal], at: datetime, published: int
) -> dict[str, Any]:
    """The ``<name>.error.json`` written beside a refused file (or for a file's refused parts)."""
    first = refusals[0]
    return {
        "source": source,
        "sha256": sha256,
        "reason": first.reason,
        "detail": first.detail,
        "documents_published": published,
        "refused": [
            {"reason": r.reason, "detail": r.detail, "doc_index": r.index, "line": r.line}
            for r in refusals
        ],
        "at": rfc3339(at),
    }
