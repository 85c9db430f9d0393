"""Rows into JSON text. The payload is spliced in as PostgreSQL printed it (``payload::text``),
never parsed and re-dumped, so numbers stay exact and large documents cost no Python work."""

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


def record_json(row: Sequence[Any]) -> str:
    """One row of ``sql.RECORD_COLUMNS`` as the record JSON object."""
    (record_id, kind, source, sha256, doc_index, name, age, payload,
     topic, partition, offset, produced_at, ingested_at) = row  # fmt: skip
    head = _dump(
        {
            "id": record_id,
            "kind": kind,
            "source": source,
            "sha256": sha256,
            "doc_index": doc_index,
            "name": name,
            "age": age,
        }
    )
    tail = _dump(
        {
            "kafka": {"topic": topic, "partition": partition, "offset": offset},
            "produced_at": timestamp(produced_at),
            "ingested_at": timestamp(ingested_at),
        }
    )
    return f'{head[:-1]},"payload":{payload},{tail[1:]}'


def dead_letter_json(row: Sequence[Any]) -> str:
    """One row of ``sql.DEAD_LETTER_COLUMNS``; the raw bytes as base64."""
    (letter_id, origin, stage, reason, detail, source, sha256, doc_index, line, raw,
     raw_truncated, topic, partition, offset, dlq_topic, dlq_partition, dlq_offset,
     refused_at, created_at) = row  # fmt: skip
    return _dump(
        {
            "id": letter_id,
            "origin": origin,
            "stage": stage,
            "reason": reason,
            "detail": detail,
            "source": source,
            "sha256": sha256,
            "doc_index": doc_index,
            "line": line,
            "raw_base64": base64.b64encode(bytes(raw)).decode("ascii"),
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
    )


def page_json(items: Sequence[str], next_cursor: str | None) -> str:
    return f'{{"items":[{",".join(items)}],"next_cursor":{_dump(next_cursor)}}}'
