"""Redrive: a dead letter's content sent again, as it was or edited, through Submit's path (the
publisher's parser and messages, Submit's transactional producer), plus a redrive event on the
DLQ topic in the same Kafka transaction. The ingestor records that event in
``dead_letter_redrives`` (migration 0004): who, when, how many documents, edited or not.

Identity (DESIGN.md, record identity): the documents keep the dead letter's own
(``source``, ``sha256``, ``doc-index``) when the bytes are sent unchanged, so a document that
is redriven twice, or that had been stored after all, is stored once. An edited version is
identified by the sha256 of the edited bytes (same source): the same edit sent twice is stored
once, a different edit is a different document. A dead letter without an identity (another
producer's message) gets ``redrive/dead-letter-<id>``, stable for that dead letter.

Everything here is pure; pages.py reads the dead letter and publishes.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from streamsuite_common.contract import DeadLetter
from streamsuite_common.publishing.formats import Limits, parse_file
from streamsuite_common.publishing.messages import OutMessage, file_messages, sha256_hex
from streamsuite_web import submit

ORIGIN = "web"
STAGE = "redrive"
REASON = "redriven"
MAX_BY_CHARS = 200
STREAM_SUFFIXES = (".jsonl", ".ndjson")


class RedriveError(ValueError):
    """This dead letter cannot be redriven as asked; nothing is sent."""


@dataclasses.dataclass(frozen=True)
class Letter:
    """What a redrive needs of a dead letter (read from ``dead_letters``)."""

    id: int
    reason: str
    source: str | None
    sha256: str | None
    doc_index: int | None
    raw: bytes
    raw_truncated: bool


@dataclasses.dataclass(frozen=True)
class Plan:
    source: str
    sha256: str
    documents: int
    refusals: list[Any]  # the publisher's Refusal objects, shown on the page
    messages: list[OutMessage]  # documents, refusals' dead letters, then the redrive event


def who(text: str) -> str:
    """The operator's name as recorded: one line, trimmed, not empty."""
    name = " ".join(text.split())[:MAX_BY_CHARS]
    if not name:
        raise RedriveError("redriven by: say who you are (recorded with the redrive)")
    return name


def parse_name(letter: Letter, data: bytes) -> str:
    """How the bytes are parsed: JSON Lines when the source was, else by their first
    character like pasted text on Submit (``{``/``[`` → JSON, anything else → YAML)."""
    if letter.source and letter.source.lower().endswith(STREAM_SUFFIXES):
        return "redrive.jsonl"
    text = data.decode("utf-8", errors="replace")
    return submit.pasted_name("auto", text)


def plan(
    letter: Letter,
    edited: bytes | None,
    *,
    by: str,
    limits: Limits,
    topic: str,
    dlq_topic: str,
    at: datetime,
) -> Plan:
    """The messages of one redrive. ``edited`` None: the dead letter's raw bytes as stored."""
    by = who(by)
    if edited is None:
        if letter.raw_truncated:
            raise RedriveError(
                f"dead letter {letter.id}: its raw content was cut when it was refused; "
                "redrive an edited (complete) version instead"
            )
        data = letter.raw
    else:
        data = edited
    if not data.strip():
        raise RedriveError(f"dead letter {letter.id}: nothing to send (the content is empty)")
    unchanged = edited is None or edited == letter.raw
    source = letter.source or f"redrive/dead-letter-{letter.id}"
    sha256 = letter.sha256 if unchanged and letter.sha256 else sha256_hex(data)
    parsed = parse_file(parse_name(letter, data), data, limits)
    refusals = [parsed.file_refusal] if parsed.file_refusal else list(parsed.refusals)
    if unchanged and letter.doc_index is not None and len(parsed.documents) == 1:
        # The document as it was refused: its own doc index, so its identity is the original.
        only = dataclasses.replace(parsed.documents[0], index=letter.doc_index)
        parsed = dataclasses.replace(parsed, documents=(only,))
    out = file_messages(
        origin=ORIGIN, source=source, sha256=sha256, parsed=parsed, topic=topic,
        dlq_topic=dlq_topic, produced_at=at,
    )  # fmt: skip
    event = redrive_event(
        letter.id, by=by, documents=len(parsed.documents), edited=not unchanged,
        source=source, sha256=sha256, at=at,
    )  # fmt: skip
    out.append(_dlq(event, dlq_topic))
    return Plan(source, sha256, len(parsed.documents), refusals, out)


def redrive_event(
    letter_id: int, *, by: str, documents: int, edited: bool, source: str, sha256: str,
    at: datetime,
) -> DeadLetter:  # fmt: skip
    """The DLQ event migration 0004's trigger turns into a ``dead_letter_redrives`` row."""
    detail = json.dumps(
        {"dead_letter_id": letter_id, "by": by, "documents": documents, "edited": edited},
        ensure_ascii=False,
    )
    return DeadLetter(
        origin=ORIGIN, stage=STAGE, reason=REASON, detail=detail, source=source, sha256=sha256,
        at=at,
    )  # fmt: skip


def _dlq(letter: DeadLetter, dlq_topic: str) -> OutMessage:
    key, value, headers = letter.to_message()
    return OutMessage(dlq_topic, key, value, headers)
