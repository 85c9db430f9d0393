"""The reads, each written once as sans-IO steps (``steps``): ``read(conn, ...)`` runs one on
an open psycopg2 connection (autocommit, read-only role, ``search_path`` at the schema: the
web UI, in a worker thread) and ``read.steps(...)`` hands the generator to another runner
(``async_pool``: the query API, on the event loop).

A filter PostgreSQL itself refuses (an invalid JSON path, a number beyond its range) raises
``InvalidQuery``; any other database error propagates for the caller to map to 503.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import psycopg2.extensions

from streamsuite_common.query import render, sql
from streamsuite_common.query.cursor import CursorCodec
from streamsuite_common.query.filters import (
    DEAD_LETTERS_SCOPE,
    RECORDS_ASC_SCOPE,
    RECORDS_SCOPE,
    DeadLetterFilter,
    Page,
    RecordFilter,
)
from streamsuite_common.query.steps import Steps, ask, reads

Connection = psycopg2.extensions.connection


@dataclasses.dataclass(frozen=True)
class JsonPage:
    """Items as JSON texts, newest first, and the cursor of the next page (None: the end)."""

    items: list[str]
    next_cursor: str | None
    last_id: int | None = None

    def to_json(self) -> str:
        return render.page_json(self.items, self.next_cursor)


# A page stops before this many bytes of items (always with at least one item) and hands out
# a cursor for the rest, so a page of big documents stays bounded whatever its limit.
PAGE_BUDGET_BYTES = 1 << 20


def _page(
    rows: list,
    page: Page,
    codec: CursorCodec,
    scope: str,
    to_json: Callable[[Any], str],
    budget: int = PAGE_BUDGET_BYTES,
) -> JsonPage:
    items: list[str] = []
    used = 0
    last_id = None
    more = len(rows) > page.limit
    for row in rows[: page.limit]:
        text = to_json(row)
        if items and used + len(text) > budget:
            more = True
            break
        items.append(text)
        used += len(text)
        last_id = row[0]
    cursor = codec.encode(scope, last_id) if more and last_id is not None else None
    return JsonPage(items, cursor, last_id)


def _rendered(row: Sequence[Any]) -> str:
    return row[1]


@reads
def list_records(
    f: RecordFilter, page: Page, codec: CursorCodec, budget: int = PAGE_BUDGET_BYTES
) -> Steps[JsonPage]:
    """A page of records (list JSON: big documents as previews), newest first, or oldest
    first in commit order (``page.ascending``, see ``ascending_page``)."""
    if page.ascending:
        return (yield from ascending_page.steps(f, page, codec, budget))
    if sql.uses_payload_index(f):
        rows = yield from _payload_rows(f, page)
    else:
        rows = yield ask(sql.records_page_sql(f, page), f)
    return _page(rows, page, codec, RECORDS_SCOPE, _rendered, budget)


def _payload_rows(f: RecordFilter, page: Page) -> Steps[list]:
    """One row more than the page, newest first, in bounded steps (see ``sql``)."""
    want = page.limit + 1
    top = page.before_id
    if top is None:
        top = (yield from latest_record_id.steps()) + 1
    rows = yield ask(sql.records_window_sql(f, top, want, sql.FIRST_WINDOW), f)
    below = top - sql.FIRST_WINDOW
    walk = next_window(len(rows), want)
    if walk and below > 1:
        rows += yield ask(sql.records_window_sql(f, below, want - len(rows), walk), f)
        below -= walk
    if len(rows) < want and below > 1:
        rows += yield ask(sql.records_below_sql(f, below, want - len(rows)), f)
    return rows


def next_window(found: int, want: int) -> int:
    """How many more ids to walk after the first window found ``found`` of ``want`` matches:
    twice what their density predicts, if that stays within PAYLOAD_WINDOW; else 0, and the
    index serves the rest (a walk costs a row read per id, the index a read per match)."""
    if found == 0 or found >= want:
        return 0
    predicted = (want - found) * sql.FIRST_WINDOW // found
    walk = 2 * predicted
    return walk if walk <= sql.PAYLOAD_WINDOW - sql.FIRST_WINDOW else 0


# --- exports: every record of a filter, a page at a time (bounded memory) ---

EXPORT_PAGE = 1000
# Only a list preview has this text (see ``sql.record_json_sql``); a document holding it too
# merely costs a read of its whole record, which is what an export wants anyway.
_PREVIEW_MARK = ',"payload_truncated":true,"payload_preview":'


@reads
def export_page(
    f: RecordFilter, page: Page, codec: CursorCodec
) -> Steps[tuple[list[str], Page | None]]:
    """One page of an export in the page's order, and the page after it (None: the end;
    oldest first ends when caught up). Big documents come as list previews: ``whole``
    replaces each, one at a time, so the export never holds more than a page."""
    found = yield from list_records.steps(f, page, codec)
    if page.ascending:
        if not found.items:
            return [], None
        position = codec.decode_position(RECORDS_ASC_SCOPE, found.next_cursor or "")
        return found.items, dataclasses.replace(page, position=position, after_id=None)
    if found.next_cursor is None:
        return found.items, None
    return found.items, dataclasses.replace(page, before_id=found.last_id)


def is_preview(text: str) -> bool:
    return _PREVIEW_MARK in text


@reads
def whole(text: str) -> Steps[str]:
    """The whole record for a list item (itself unless it is a preview)."""
    if not is_preview(text):
        return text
    record_id = int(text[len('{"id":') : text.index(",")])
    return (yield from get_record.steps(record_id)) or text


@reads
def get_record(record_id: int) -> Steps[str | None]:
    """The whole record JSON."""
    rows = yield ask(sql.record_by_id_sql(record_id))
    return rows[0][1] if rows else None


@reads
def check_filter(f: RecordFilter) -> Steps[None]:
    """InvalidQuery now if PostgreSQL refuses a value of the filter (see ``sql``)."""
    yield ask(sql.filter_check_sql(f), f)


# --- the stream: commit order (see ``sql``) ---

StreamPosition = tuple[str, int]  # (xid as text, record id)


@reads
def stream_start(after_id: int | None) -> Steps[StreamPosition]:
    """Where a stream starts: after record ``after_id`` in commit order, or (None) after
    everything already final, so a writer still running when the client came is sent."""
    if after_id is None:
        return (yield ask(sql.stream_horizon_sql()))[0][0], 0
    rows = yield ask(sql.stream_position_sql(after_id))
    return (rows[0][0], after_id) if rows else ("0", after_id)


@dataclasses.dataclass(frozen=True)
class StreamBatch:
    """Records to send, (id, record JSON) in commit order, and the position after them."""

    records: list[tuple[int, str]]
    position: StreamPosition
    full: bool  # ``limit`` records: more may be waiting


@reads
def records_after(
    f: RecordFilter,
    position: StreamPosition,
    limit: int,
    *,
    preview: bool = False,
    budget: int | None = None,
) -> Steps[StreamBatch]:
    """The matching records after ``position`` that are final now, oldest commit first
    (``preview``: list JSON; ``budget``: stop before that many bytes, keeping one record).

    When fewer than ``limit`` came, every row below the horizon was looked at, so the
    position moves to the horizon even if none matched the filter: the next read starts
    there instead of scanning the same non-matching rows again."""
    horizon = (yield ask(sql.stream_horizon_sql()))[0][0]
    rows = yield ask(sql.records_after_sql(f, position, horizon, limit, preview=preview), f)
    kept = _within_budget(rows, budget)
    records = [(row[0], row[2]) for row in kept]
    if len(rows) == limit or len(kept) < len(rows):
        return StreamBatch(records, (kept[-1][1], kept[-1][0]), True)
    # (horizon, 0) sorts before every row of the horizon's transaction and after all below it.
    return StreamBatch(records, max(position, (horizon, 0), key=_position_key), False)


def _within_budget(rows: list, budget: int | None) -> list:
    """The leading rows whose record JSON (``row[2]``) fits ``budget`` bytes, at least one."""
    if budget is None:
        return rows
    used = 0
    for count, row in enumerate(rows):
        used += len(row[2])
        if count and used > budget:
            return rows[:count]
    return rows


@reads
def ascending_page(
    f: RecordFilter, page: Page, codec: CursorCodec, budget: int = PAGE_BUDGET_BYTES
) -> Steps[JsonPage]:
    """Oldest first, for clients that read incrementally: the stream's read (commit order,
    only rows every running transaction is past), so polling with ``next_cursor`` never
    skips a transaction that took its ids first and committed last. The cursor is always
    given (the position to poll from); an empty page means caught up for now."""
    position = page.position
    if position is None:
        position = yield from stream_start.steps(page.after_id if page.after_id is not None else 0)
    batch = yield from records_after.steps(f, position, page.limit, preview=True, budget=budget)
    last_id = batch.records[-1][0] if batch.records else None
    cursor = codec.encode_position(RECORDS_ASC_SCOPE, batch.position)
    return JsonPage([text for _, text in batch.records], cursor, last_id)


def _position_key(position: StreamPosition) -> tuple[int, int]:
    return int(position[0]), position[1]


@reads
def latest_record_id() -> Steps[int]:
    return (yield ask(sql.latest_record_id_sql()))[0][0]


@reads
def list_dead_letters(
    f: DeadLetterFilter, page: Page, codec: CursorCodec, *, raw: bool = True
) -> Steps[JsonPage]:
    """A page of dead letters; ``raw=False`` leaves their raw bytes out (the detail has them)."""
    rows = yield ask(sql.dead_letters_page_sql(f, page, raw=raw))
    return _page(rows, page, codec, DEAD_LETTERS_SCOPE, render.dead_letter_json)


@reads
def get_dead_letter(letter_id: int) -> Steps[str | None]:
    rows = yield ask(sql.dead_letter_by_id_sql(letter_id))
    return render.dead_letter_json(rows[0]) if rows else None


def _counts(rows: Sequence[tuple[str, int]]) -> dict[str, int]:
    return {key: count for key, count in rows}


# Below this many records (by PostgreSQL's estimate) the counts are exact; above, estimates,
# so /stats and the Status page answer in constant time at 100 M rows.
EXACT_COUNT_BELOW = 100_000


def _kind_counts() -> Steps[tuple[dict[str, int], bool]]:
    """Records per kind, and whether the numbers are estimates."""
    estimate = (yield ask((sql.STATS_SQL["estimated_rows"], {})))[0][0]
    if estimate < EXACT_COUNT_BELOW:
        return _counts((yield ask((sql.STATS_SQL["kinds"], {})))), False
    shares = yield ask((sql.STATS_SQL["kind_shares"], {}))
    if not shares or shares[0][0] is None:
        return _counts((yield ask((sql.STATS_SQL["kinds"], {})))), False
    values, freqs = shares[0]
    return {kind: round(estimate * share) for kind, share in zip(values, freqs, strict=True)}, True


@reads
def stats() -> Steps[dict[str, Any]]:
    kinds, estimated = yield from _kind_counts()
    reasons = _counts((yield ask((sql.STATS_SQL["reasons"], {}))))
    minutes = yield ask((sql.STATS_SQL["per_minute"], {}))
    last_at, last_id = (yield ask((sql.STATS_SQL["last"], {})))[0]
    return {
        "records": {
            "total": sum(kinds.values()),
            "by_kind": {kind: kinds.get(kind, 0) for kind in ("relational", "unstructured")},
            "estimated": estimated,
        },
        "dead_letters": {"total": sum(reasons.values()), "by_reason": reasons},
        "records_per_minute": [
            {"minute": render.timestamp(minute), "count": count} for minute, count in minutes
        ],
        "last_ingested_at": render.timestamp(last_at),
        "last_record_id": last_id,
    }
