"""Rows into JSON text for what PostgreSQL does not render itself (dead letters, stats): a
record's JSON is built by PostgreSQL (``sql.record_json_sql``) and only forwarded."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
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
