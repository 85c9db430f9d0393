"""Rows into JSON text for what PostgreSQL does not render itself (dead letters, stats): a
record's JSON is built by PostgreSQL (``sql.record_json_sql``) and only forwarded."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


def timestamp(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dead_letter_json(row: Sequence[Any]) -> str:
    """One row of ``sql.DEAD_LETTER_COLUMNS``; the raw bytes as base64 (left out when the row
    has none: a list without them)."""
    (letter_id, origin, stage, reason, detail, source, sha256, doc_index, line, raw,
     raw_bytes, raw_truncated, topic, partition, offset, dlq_topic, dlq_partition, dlq_offset,
     refused_at, created_at) = row  # fmt: skip
    letter = {
        "id": letter_id,
        "origin": origin,
        "stage": stage,
        "reason": reason,
        "detail": detail,
        "source": source,
        "sha256": sha256,
        "doc_index": doc_index,
        "line": line,
        "raw_base64": None if raw is None else base64.b64encode(bytes(raw)).decode("ascii"),
        "raw_bytes": raw_bytes,
        "raw_truncated": raw_truncated,
        "kafka": (
            {"topic": topic, "partition": partition, "offset": offset}
            if topic is not None
            else None
        ),
        "dlq": {"topic": dlq_topic, "partition": dlq_partition, "offset": dlq_offset},
        "refused_at": timestamp(refused_at),
        "created_at": timestamp(created_at),
    }
    if raw is None:
        del letter["raw_base64"]
    return _dump(letter)


def page_json(items: Sequence[str], next_cursor: str | None) -> str:
    return f'{{"items":[{",".join(items)}],"next_cursor":{_dump(next_cursor)}}}'


# --- CSV export: one row per record, the document as JSON text in the last column ---

CSV_COLUMNS = (
    "id", "kind", "source", "sha256", "doc_index", "name", "age", "kafka_topic",
    "kafka_partition", "kafka_offset", "produced_at", "ingested_at", "payload",
)  # fmt: skip
# The record JSON PostgreSQL builds (``sql.record_json_sql``) has the payload between these:
# the first ``,"payload":`` (the fields before it hold no such text) and the last
# ``,"kafka":{"topic":`` (the document may have a "kafka" key of its own).
_PAYLOAD_KEY = ',"payload":'
_TAIL_KEY = ',"kafka":{"topic":'


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def record_csv_row(text: str) -> list[str]:
    """A whole record's JSON text as CSV cells; the payload exactly as PostgreSQL printed it
    (numbers keep every digit), the other numbers read exactly too."""
    record = json.loads(text, parse_float=Decimal)
    start = text.index(_PAYLOAD_KEY) + len(_PAYLOAD_KEY)
    payload = text[start : text.rindex(_TAIL_KEY)]
    kafka = record["kafka"]
    head = [record[name] for name in CSV_COLUMNS[:7]]
    tail = [kafka["topic"], kafka["partition"], kafka["offset"], record["produced_at"],
            record["ingested_at"]]  # fmt: skip
    return [*map(_cell, head), *map(_cell, tail), payload]


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """RFC 4180 lines (CRLF, quoted where needed)."""
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


# --- select=: some fields of a record, cut out of the JSON text without parsing it ---
#
# Inside a JSON string a quote is always escaped, so ``,"<field>":`` occurs in the text
# PostgreSQL builds only where that field starts; the document itself is printed by jsonb
# with ", " between members, so the tail's markers are found from the end.
_HEAD = ("kind", "source", "sha256", "doc_index", "name", "age", "payload")
_TAIL = ("kafka", "produced_at", "ingested_at")


def record_fields(text: str) -> dict[str, str]:
    """Each field's JSON text (a list preview's payload keeps its preview keys with it)."""
    fields: dict[str, str] = {}
    rest, current = text[len('{"id":') : -1], "id"
    for name in _HEAD:
        marker = f',"{name}":'
        cut = rest.index(marker)
        fields[current], rest, current = rest[:cut], rest[cut + len(marker) :], name
    ends: dict[str, str] = {}
    for name in reversed(_TAIL):
        marker = f',"{name}":'
        cut = rest.rindex(marker)
        ends[name], rest = rest[cut + len(marker) :], rest[:cut]
    fields["payload"] = rest
    for name in _TAIL:
        fields[name] = ends[name]
    return fields


def project(text: str, names: Sequence[str] | None) -> str:
    """The record JSON with only the fields ``names`` (None: all, unchanged)."""
    if names is None:
        return text
    fields = record_fields(text)
    return "{" + ",".join(f'"{name}":{fields[name]}' for name in names) + "}"
