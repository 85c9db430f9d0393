"""Exports of ``GET /api/v1/records``: every record of the filter as NDJSON or CSV, streamed
a page at a time (``query.read.export_page``), so memory stays at one page however many
records match. Chosen by ``format=`` or, without it, by ``Accept``."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

from streamsuite_common.query import CursorCodec, InvalidQuery, Page, RecordFilter, render
from streamsuite_common.query import read as query_read
from streamsuite_common.query.params import Param

NDJSON = "application/x-ndjson"
CSV = "text/csv"
MEDIA_TYPES = {"ndjson": NDJSON, "csv": f"{CSV}; charset=utf-8"}
FORMATS = ("json", *MEDIA_TYPES)
FORMAT = Param(
    "format", "choice",
    "`json` (the default: a page). `ndjson` or `csv`: an export of every matching record from "
    "`cursor` on, in the order asked, streamed (whole records, one per line; CSV: a header "
    "row, the document as JSON in the last column); not with `limit`. Without it, "
    "`Accept: application/x-ndjson` or `text/csv` asks for the same.",
    choices=FORMATS,
)  # fmt: skip
_BY_ACCEPT = {NDJSON: "ndjson", "application/jsonl": "ndjson", CSV: "csv"}


def choose_format(param: str | None, accept: str | None) -> str:
    """``format`` when given (else the first export type ``Accept`` names): json, ndjson, csv."""
    if param is not None:
        if param not in FORMATS:
            raise InvalidQuery("format", f"must be one of {', '.join(FORMATS)}; got {param[:40]!r}")
        return param
    for item in (accept or "").split(","):
        media = item.split(";", 1)[0].strip().lower()
        if media in _BY_ACCEPT:
            return _BY_ACCEPT[media]
    return "json"


def export_params(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The listing's parameters of an export: ``format`` is not a filter, and ``limit`` would
    not mean what it says (an export reads every record: narrow it with the filters)."""
    for name, _ in pairs:
        if name == "limit":
            raise InvalidQuery("limit", "not with an export (NDJSON, CSV): it has every record")
    return [(name, value) for name, value in pairs if name != "format"]


def _encode(kind: str, texts: list[str], shape: Callable[[str], str] | None) -> bytes:
    if kind == "csv":
        return render.csv_text(render.record_csv_row(text) for text in texts).encode()
    if shape is not None:
        texts = [shape(text) for text in texts]
    return "".join(text + "\n" for text in texts).encode()


def first_page(page: Page) -> Page:
    """The listing's page as an export reads it: the most a page holds."""
    return dataclasses.replace(page, limit=query_read.EXPORT_PAGE)


async def lines(
    kind: str,
    f: RecordFilter,
    first: tuple[list[str], Page | None],
    codec: CursorCodec,
    read: Callable[..., Awaitable],
    *,
    shape: Callable[[str], str] | None = None,
) -> AsyncIterator[bytes]:
    """The body, from the ``first`` page (read before the response starts, so a filter
    PostgreSQL refuses is still a 400) on; ``read(steps, *args)`` runs a read of
    ``query.read`` (its ``.steps``) on the pool. A page's small records go out together; a
    big document is read whole on its own and sent at once, so at most a page of previews
    and one whole document are held. A database failure midway ends the response without its
    last chunk: the client sees a broken transfer, not a short export that looks whole.
    ``shape`` rewrites each NDJSON line (``select``)."""
    if kind == "csv":
        yield render.csv_text([render.CSV_COLUMNS]).encode()
    items, following = first
    while True:
        small: list[str] = []
        for text in items:
            if not query_read.is_preview(text):
                small.append(text)
                continue
            if small:
                yield _encode(kind, small, shape)
                small = []
            yield _encode(kind, [await read(query_read.whole.steps, text)], shape)
        if small:
            yield _encode(kind, small, shape)
        if following is None:
            return
        items, following = await read(query_read.export_page.steps, f, following, codec)
