"""Pure helpers that turn what the query layer returns into what the templates show.

Nothing here does I/O; every value stays data for the templates, which escape it (autoescape
is on for every template), so nothing in this module builds HTML.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

API_BASE = "${STREAMSUITE_API:-http://127.0.0.1:8000}"
# The API's bearer token when it asks for one (make up prints the local dev token's file).
API_AUTH = '-H "Authorization: Bearer ${STREAMSUITE_TOKEN}"'

PREVIEW_CHARS = 160
RAW_PREVIEW_BYTES = 8 * 1024

_PAYLOAD_KEY = ',"payload":'
_TAIL_KEY = ',"kafka":'


def clean_params(
    pairs: Iterable[tuple[str, str]], drop: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """A form's query string without its empty fields (a blank filter means "any") and
    without the names in ``drop`` (the page's own controls)."""
    return [(name, value) for name, value in pairs if value.strip() != "" and name not in drop]


def page_url(path: str, params: Sequence[tuple[str, str]], **changes: str | None) -> str:
    """``path?params`` with some parameters replaced (a value None removes it)."""
    kept = [(name, value) for name, value in params if name not in changes]
    kept += [(name, value) for name, value in changes.items() if value is not None]
    return f"{path}?{urlencode(kept)}" if kept else path


def split_record(text: str) -> tuple[dict[str, Any], str]:
    """A record's JSON text (from the query layer) as (record, the payload's JSON text).

    The record's numbers are read as Decimal/int so no digit is lost; the payload text is
    the document as PostgreSQL printed it, cut out of the record text without re-encoding.
    """
    record = json.loads(text, parse_float=Decimal)
    start = text.index(_PAYLOAD_KEY) + len(_PAYLOAD_KEY)  # first: the head has no such key
    end = text.rindex(_TAIL_KEY)  # last: the payload may hold a "kafka" key of its own
    return record, text[start:end]


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """A one-line preview of a JSON text, cut at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def json_scalar(value: Any) -> str:
    """A scalar as JSON would write it: strings quoted, numbers with all their digits."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


@dataclasses.dataclass(frozen=True)
class Node:
    """One line of the collapsible document view.

    ``open``: an object or array starts (``size`` members); ``close``: it ends; ``leaf``: a
    scalar, ``text`` its JSON form (cut at the string limit, ``cut`` then True).
    """

    kind: str
    key: str | None
    type: str
    depth: int
    text: str = ""
    size: int = 0
    cut: bool = False


@dataclasses.dataclass(frozen=True)
class DocumentView:
    nodes: list[Node]
    shown: int  # values shown
    total: int  # values in the whole document
    truncated: bool  # some values or characters were left out


def count_values(value: Any) -> int:
    stack, total = [value], 0
    while stack:
        item = stack.pop()
        total += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return total


def document_view(value: Any, *, max_nodes: int, max_chars: int) -> DocumentView:
    """The document as a flat list of nodes, at most ``max_nodes`` values."""
    nodes: list[Node] = []
    shown = 0
    cut_any = False

    def walk(key: str | None, item: Any, depth: int) -> bool:
        nonlocal shown, cut_any
        if shown >= max_nodes:
            return False
        shown += 1
        kind = type_name(item)
        if isinstance(item, (dict, list)):
            nodes.append(Node("open", key, kind, depth, size=len(item)))
            members = item.items() if isinstance(item, dict) else enumerate(item)
            complete = True
            for child_key, child in members:
                if not walk(str(child_key), child, depth + 1):
                    complete = False
                    break
            nodes.append(Node("close", key, kind, depth))
            return complete
        text = json_scalar(item)
        cut = len(text) > max_chars
        if cut:
            text, cut_any = text[:max_chars] + "…", True
        nodes.append(Node("leaf", key, kind, depth, text=text, cut=cut))
        return True

    walk(None, value, 0)
    total = count_values(value)
    return DocumentView(nodes, shown, total, truncated=cut_any or shown < total)


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def format_time(text: str | None) -> str:
    """``2026-01-31 12:00:05 UTC`` from an RFC 3339 text ("" for none)."""
    moment = parse_time(text)
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(text: str | None, now: datetime) -> str:
    """How long ago, for people: ``12 s ago``, ``5 min ago``, ``3 h ago``, ``2 d ago``."""
    moment = parse_time(text)
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


@dataclasses.dataclass(frozen=True)
class RawContent:
    text: str  # the bytes as UTF-8 (undecodable bytes replaced), cut at the preview limit
    size: int
    cut: bool
    binary: bool  # not valid UTF-8


def raw_content(raw_base64: str, limit: int = RAW_PREVIEW_BYTES) -> RawContent:
    try:
        raw = base64.b64decode(raw_base64 or "", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    try:
        raw.decode("utf-8")
        binary = False
    except UnicodeDecodeError:
        binary = True
    part = raw[:limit]
    return RawContent(
        text=part.decode("utf-8", errors="replace"),
        size=len(raw),
        cut=len(raw) > limit,
        binary=binary,
    )


def record_row(record: Mapping[str, Any], payload_text: str) -> dict[str, Any]:
    """What one table row shows of a record."""
    return {
        "id": record["id"],
        "kind": record["kind"],
        "name": record.get("name"),
        "age": record.get("age"),
        "source": record.get("source"),
        "doc_index": record.get("doc_index"),
        "ingested_at": format_time(record.get("ingested_at")),
        "preview": preview(payload_text),
    }


def curl_command(params: Sequence[tuple[str, str]]) -> str:
    """The query API call that returns what the Records page shows (same filter, same page
    size), for a shell: the API's address from ``$STREAMSUITE_API`` (default: the local one),
    its token from ``$STREAMSUITE_TOKEN``.
    Single-quoted except the address, so nothing in a filter value is expanded by the shell."""
    query = urlencode([(name, value) for name, value in params if name != "cursor"])
    path = "/api/v1/records" + (f"?{query}" if query else "")
    quoted = "'" + path.replace("'", "'\\''") + "'"
    return f'curl -sS {API_AUTH} "{API_BASE}"{quoted}'
