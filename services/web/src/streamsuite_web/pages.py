"""The pages. Each one parses its parameters with the shared query layer (a bad filter is shown
on the page, naming the parameter), runs its reads on a pooled read-only connection in a worker
thread, and renders a template (autoescaped)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from streamsuite_common.logs import get_logger
from streamsuite_common.pool import DatabaseUnavailable
from streamsuite_common.query import (
    InvalidQuery,
    parse_dead_letter_params,
    parse_record_params,
    parse_stream_params,
)
from streamsuite_common.query import read as query_read
from streamsuite_common.query.filters import STREAM_PARAMS
from streamsuite_common.query.params import MAX_LIMIT
from streamsuite_common.slot_response import event_stream
from streamsuite_web import (
    access,
    backlog,
    chart,
    origins,
    reads,
    redrive,
    submit,
    timerange,
    views,
)
from streamsuite_web.app import Context
from streamsuite_web.live import record_events

log = get_logger(__name__)
router = APIRouter()
_MAX_ID = 2**63 - 1
FORM_SLACK_BYTES = 64 * 1024  # multipart framing and the small fields around the content
NDJSON_MAX_RECORDS = 100_000  # one download; narrow the filter for more
STATUS_REFRESH_S = 15  # the Status page reloads its numbers this often (app.js, or <noscript>)


def ctx(request: Request) -> Context:
    return request.app.state.ctx


def _paged(params: list[tuple[str, str]], page_size: int) -> list[tuple[str, str]]:
    names = {name for name, _ in params}
    return params if "limit" in names else [*params, ("limit", str(page_size))]


def _record_id(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > _MAX_ID:
        raise InvalidQuery("after", f"expected a record id, got {text[:40]!r}")
    return int(text)


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    return RedirectResponse("/records", status_code=303)


def _records_error(c: Context, request: Request, form: dict, error: str, filtered: bool):
    return c.render(
        request, "records.html", 400, form=form, error=error, rows=[], live_url=None,
        next_url=None, newest_url=None, filtered=filtered, curl=None, ndjson_url=None,
        note=None,
    )  # fmt: skip


@router.get("/records")
async def records_page(request: Request) -> Response:
    c = ctx(request)
    shown = views.clean_params(request.query_params.multi_items())
    form = {name: value for name, value in shown}
    try:
        picked = timerange.resolve(shown, datetime.now(UTC))
        params = picked.params
        record_filter, page = parse_record_params(_paged(params, c.cfg.web.page_size), c.codec)
    except InvalidQuery as exc:
        return _records_error(c, request, form, str(exc), bool(shown))

    def read(conn: Any) -> tuple[int, Any]:
        # The newest id first: the live feed starts there, so a record stored while the page
        # is read is shown once (the page's script skips ids it already has), never missed.
        latest = query_read.latest_record_id(conn)
        return latest, query_read.list_records(conn, record_filter, page, c.codec)

    try:
        latest, found = await run_in_threadpool(c.db.run, read)
    except InvalidQuery as exc:
        return _records_error(c, request, form, str(exc), True)
    rows = [views.record_row(*views.split_record(text)) for text in found.items]
    live = page.before_id is None and record_filter.since is None and record_filter.until is None
    stream_params = [(name, value) for name, value in params if name in STREAM_PARAMS]
    plain = [(name, value) for name, value in params if name != "cursor"]
    # Paging keeps the resolved since/until: "last 15 minutes" does not move under the pager.
    pager = [(name, value) for name, value in params if name != "cursor"]
    return c.render(
        request,
        "records.html",
        form=form,
        error=None,
        note=picked.note,
        rows=rows,
        filtered=bool(plain),
        live_url=views.page_url("/events", stream_params, after=str(latest)) if live else None,
        next_url=views.page_url("/records", pager, cursor=found.next_cursor)
        if found.next_cursor
        else None,
        newest_url=views.page_url("/records", pager) if page.before_id is not None else None,
        curl=views.curl_command(_paged(params, c.cfg.web.page_size)),
        ndjson_url=views.page_url("/records.ndjson", [p for p in plain if p[0] != "limit"]),
    )


@router.get("/records.ndjson")
async def records_ndjson(request: Request) -> Response:
    """Every record of the filter (newest first, at most ``NDJSON_MAX_RECORDS``), one JSON
    object a line, exactly as the query API serves each record; read page by page."""
    c = ctx(request)
    params = [(n, v) for n, v in views.clean_params(request.query_params.multi_items())
              if n not in ("limit", "cursor")]  # fmt: skip
    try:
        params = timerange.resolve(params, datetime.now(UTC)).params
        record_filter, page = parse_record_params([*params, ("limit", str(MAX_LIMIT))], c.codec)
    except InvalidQuery as exc:
        return Response(f"{exc}\n", status_code=400, media_type="text/plain")

    async def lines() -> AsyncIterator[bytes]:
        current, sent = page, 0
        while sent < NDJSON_MAX_RECORDS:
            found = await run_in_threadpool(
                c.db.run,
                lambda conn, p=current: query_read.list_records(conn, record_filter, p, c.codec),
            )
            if found.items:
                yield ("\n".join(found.items) + "\n").encode()
            sent += len(found.items)
            if not found.next_cursor:
                return
            _, current = parse_record_params(
                [*params, ("limit", str(MAX_LIMIT)), ("cursor", found.next_cursor)], c.codec
            )

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="records-{stamp}.ndjson"'},
    )


@router.get("/events")
async def events(request: Request) -> Response:
    """Server-Sent Events for the live Records page: ``{"id", "html"}`` per new record."""
    c = ctx(request)
    params = views.clean_params(request.query_params.multi_items())
    after_text = next((value for name, value in params if name == "after"), None)
    try:
        record_filter = parse_stream_params([p for p in params if p[0] != "after"])
        after_id = _record_id(request.headers.get("last-event-id")) or _record_id(after_text)
    except InvalidQuery as exc:
        return Response(f"{exc}\n", status_code=400, media_type="text/plain")
    # Taken before the first await, so clients connecting at once cannot all pass the check.
    slot = c.streams.take()
    if slot is None:
        return Response("too many live clients\n", 503, {"Retry-After": "5"}, "text/plain")
    try:
        # after_id None: the stream starts at the commit horizon (streamsuite_common.record_stream)
        body = record_events(
            c.db, c.notifier, record_filter, after_id,
            heartbeat_s=c.cfg.web.stream_heartbeat_s, run=run_in_threadpool,
            render_row=c.row_html,
        )  # fmt: skip
    except BaseException:
        slot.release()
        raise
    return event_stream(slot, body)


async def _record_json(c: Context, record_id: int) -> str:
    text = await run_in_threadpool(c.db.run, lambda conn: query_read.get_record(conn, record_id))
    if text is None:
        raise HTTPException(404, f"record {record_id}: not found")
    return text


@router.get("/records/{record_id:int}.json")
async def record_raw(request: Request, record_id: int) -> Response:
    """The whole record as JSON, exactly as the query API serves it."""
    text = await _record_json(ctx(request), record_id)
    return Response(text, media_type="application/json")


@router.get("/records/{record_id:int}")
async def record_page(request: Request, record_id: int) -> Response:
    c = ctx(request)
    record, payload_text = views.split_record(await _record_json(c, record_id))
    document = views.document_view(
        record["payload"],
        max_nodes=c.cfg.web.document_max_nodes,
        max_chars=c.cfg.web.string_max_chars,
    )
    return c.render(
        request,
        "record.html",
        record=record,
        document=document,
        size=len(payload_text.encode()),
        produced_at=views.format_time(record.get("produced_at")),
        ingested_at=views.format_time(record.get("ingested_at")),
    )


def _chart(
    name: str, title: str, points: list[dict[str, Any]], *, key: str = "count",
    unit: str = "records",
) -> dict[str, Any]:  # fmt: skip
    """One Status chart: its SVG geometry and, as its text alternative, the minutes that have
    a value (a table under the chart)."""
    drawn = chart.bar_chart(points, key=key, unit=unit)
    rows = [(bar.minute, chart.format_value(bar.count, unit)) for bar in drawn.bars if bar.count]
    if unit == "s":
        summary = (f"highest {chart.format_value(drawn.peak, unit)}" if rows
                   else "no record with a produced time")  # fmt: skip
    else:
        summary = f"{chart.format_value(drawn.total, unit)} in all"
    return {"name": name, "title": title, "chart": drawn, "rows": rows, "summary": summary}


@router.get("/status")
async def status_page(request: Request) -> Response:
    c = ctx(request)
    now = datetime.now(UTC)
    error = None
    series: dict[str, Any] = {}
    try:
        stats = await run_in_threadpool(c.db.run, query_read.stats)
        series = await run_in_threadpool(c.db.run, reads.per_minute)
    except DatabaseUnavailable as exc:
        stats, error = None, str(exc)
    _, results = await run_in_threadpool(c.readiness.evaluate)
    lag = await run_in_threadpool(c.lag.report) if c.lag is not None else None
    inbox = await run_in_threadpool(c.backlog.report) if c.backlog is not None else None
    dependencies = [
        {"name": "PostgreSQL", "ok": results["postgres"] == "ok" and results["tables"] == "ok",
         "detail": results["postgres"] if results["postgres"] != "ok" else results["tables"]},
    ]  # fmt: skip
    if "kafka" in results:
        dependencies.append(
            {"name": "Kafka", "ok": results["kafka"] == "ok", "detail": results["kafka"]}
        )
    else:
        dependencies.append({"name": "Kafka", "ok": None, "detail": "not configured (Submit off)"})
    charts = (
        [
            _chart("records", "Records stored per minute", stats["records_per_minute"]),
            _chart("dead-letters", "Dead letters per minute", series["dead_letters"],
                   unit="dead letters"),
            _chart("latency", "End-to-end latency per minute, 95th percentile (produced to "
                   "stored)", series["latency"], key="p95", unit="s"),
        ]
        if stats
        else []
    )  # fmt: skip
    last = stats["last_ingested_at"] if stats else None
    recent = last is not None and (now - views.parse_time(last)).total_seconds() < 300
    return c.render(
        request,
        "status.html",
        stats=stats,
        error=error,
        charts=charts,
        lag=lag,
        backlog=inbox,
        backlog_rows=backlog.rows(inbox, now) if inbox is not None else [],
        oldest_waiting=backlog.format_age(inbox.total.oldest_waiting_s) if inbox else "",
        silent_after_min=int(backlog.SILENT_AFTER_S // 60),
        refresh_s=STATUS_REFRESH_S,
        dependencies=dependencies,
        last_ingested=views.format_time(last),
        last_ago=views.ago(last, now),
        flowing=recent,
        now=views.format_time(now.isoformat()),
    )


@router.get("/dead-letters")
async def dead_letters_page(request: Request) -> Response:
    c = ctx(request)
    params = views.clean_params(request.query_params.multi_items())
    form = {name: value for name, value in params}
    plain = [(name, value) for name, value in params if name != "cursor"]
    try:
        letter_filter, page = parse_dead_letter_params(_paged(params, c.cfg.web.page_size), c.codec)
    except InvalidQuery as exc:
        return c.render(
            request, "dead_letters.html", 400, form=form, error=str(exc), letters=[],
            next_url=None, newest_url=None, filtered=bool(plain), operator=None,
        )  # fmt: skip
    # Without their raw bytes (up to 256 KiB each): a dead letter's own page shows them.
    found = await run_in_threadpool(
        c.db.run,
        lambda conn: query_read.list_dead_letters(conn, letter_filter, page, c.codec, raw=False),
    )
    letters = await _letters_shown(c, [json.loads(text) for text in found.items])
    return c.render(
        request,
        "dead_letters.html",
        form=form,
        error=None,
        letters=letters,
        operator=_operator(request),
        filtered=bool(plain),
        next_url=views.page_url("/dead-letters", plain, cursor=found.next_cursor)
        if found.next_cursor
        else None,
        newest_url=views.page_url("/dead-letters", plain) if page.before_id is not None else None,
    )


async def _letters_shown(c: Context, shown: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dead letters as the templates show them: times, redrives, the raw content when read."""
    redrives = await run_in_threadpool(
        c.db.run, lambda conn: reads.redrives(conn, [letter["id"] for letter in shown])
    )
    for letter in shown:
        letter["redrives"] = [
            {**r, "at": views.format_time(r["at"].isoformat())}
            for r in redrives.get(letter["id"], [])
        ]
        raw = letter.pop("raw_base64", None)
        letter["raw"] = None if raw is None else views.raw_content(raw)
        letter["refused"] = views.format_time(letter.get("refused_at"))
        letter["created"] = views.format_time(letter.get("created_at"))
    return shown


@router.get("/dead-letters/{letter_id:int}")
async def dead_letter_page(request: Request, letter_id: int) -> Response:
    """One dead letter with its raw content (the list leaves the bytes out)."""
    c = ctx(request)
    text = await run_in_threadpool(
        c.db.run, lambda conn: query_read.get_dead_letter(conn, letter_id)
    )
    if text is None:
        raise HTTPException(404, f"dead letter {letter_id}: not found")
    [letter] = await _letters_shown(c, [json.loads(text)])
    return c.render(request, "dead_letter.html", d=letter)


def _submitter(c: Context) -> submit.Submitter:
    if c.submitter is None:
        raise HTTPException(404, "the Submit page is switched off (WEB.SUBMIT_ENABLED)")
    return c.submitter


@router.get("/submit")
async def submit_form(request: Request) -> Response:
    c = ctx(request)
    _submitter(c)
    _, results = await run_in_threadpool(c.readiness.evaluate)
    kafka = results.get("kafka", "ok")
    return c.render(request, "submit.html", form={"format": "auto"}, result=None,
                    unavailable=None if kafka == "ok" else kafka)  # fmt: skip


@router.post("/submit")
async def submit_post(request: Request) -> Response:
    c = ctx(request)
    submitter = _submitter(c)
    settings = c.cfg.web
    # Against the configured origins, not the Host header (which a rebinding page sets).
    if not origins.allowed(request.headers.get("origin"), c.cfg.public_origins):
        raise HTTPException(403, "cross-site submission refused")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_submit_bytes + FORM_SLACK_BYTES:
        raise HTTPException(
            413, f"the submission is over {settings.max_submit_bytes} bytes; nothing was sent"
        )
    form_data = await request.form(
        max_files=1, max_fields=8, max_part_size=settings.max_submit_bytes + 1
    )
    text = str(form_data.get("content") or "")
    fmt = str(form_data.get("format") or "auto")
    upload = form_data.get("file")
    upload_name, upload_bytes = "", b""
    if isinstance(upload, UploadFile) and upload.filename:
        upload_name = upload.filename
        upload_bytes = await upload.read(settings.max_submit_bytes + 1)
    form = {"content": text, "format": fmt}

    def answer(status: int, result: dict[str, Any]) -> Response:
        c.metrics.submissions.labels(result["outcome"]).inc()
        return c.render(request, "submit.html", status, form=form, result=result)

    try:
        name, data = submit.choose_input(
            text, upload_name, upload_bytes, fmt, settings.max_submit_bytes
        )
    except submit.InputError as exc:
        return answer(400, {"outcome": "invalid", "message": str(exc)})
    prepared = submit.prepare(
        name,
        data,
        limits=submit.limits_of(
            settings.max_document_bytes, settings.max_depth, settings.max_yaml_nodes
        ),
        topic=submitter.settings.topic,
        dlq_topic=submitter.settings.dlq_topic,
        at=datetime.now(UTC),
    )
    outcome = (
        "published" if not prepared.refusals else ("partial" if prepared.documents else "refused")
    )
    result: dict[str, Any] = {
        "outcome": outcome,
        "source": prepared.source,
        "sha256": prepared.sha256,
        "documents": prepared.documents,
        "refusals": prepared.refusals,
        "records_url": views.page_url("/records", [("source", prepared.source)]),
        "published": False,
    }
    logged = {"source": prepared.source, "sha256": prepared.sha256}
    try:
        await run_in_threadpool(submitter.publish, prepared.messages)
    except Exception as exc:
        log.warning("submission not published", error=str(exc) or repr(exc), **logged)
        result["outcome"] = "failed"
        result["message"] = (
            f"Kafka did not take it ({exc.__class__.__name__}: {str(exc)[:200]}); "
            "nothing was published, try again"
        )
        return answer(503, result)
    result["published"] = True
    c.metrics.submitted_documents.inc(prepared.documents)
    log.info(
        "submission published", outcome=outcome, documents=prepared.documents,
        refusals=len(prepared.refusals), **logged,
    )  # fmt: skip
    return answer(422 if outcome == "refused" else 200, result)


# --- redrive: a dead letter's content sent again through Submit's path (redrive.py) ---


def _operator(request: Request) -> str | None:
    """Who is signed in (token, cookie or proxy): recorded as the redrive's author. None when
    nobody is (AUTH.MODE=none with WEB.SUBMIT_WITHOUT_AUTH): the form then asks for a name."""
    found = access.principal(request)
    return found.subject if found is not None and found.via != "anonymous" else None


def _redriver(c: Context, request: Request) -> submit.Submitter:
    if c.submitter is None:
        raise HTTPException(
            404, "redrive publishes like Submit: switch Submit on (WEB.SUBMIT_ENABLED, KAFKA)"
        )
    if not origins.allowed(request.headers.get("origin"), c.cfg.public_origins):
        raise HTTPException(403, "cross-site redrive refused")
    return c.submitter


async def _letter(c: Context, letter_id: int) -> redrive.Letter:
    letter = await run_in_threadpool(c.db.run, lambda conn: reads.dead_letter(conn, letter_id))
    if letter is None:
        raise HTTPException(404, f"dead letter {letter_id}: not found")
    return letter


async def _send(
    c: Context, submitter: submit.Submitter, letter: redrive.Letter, edited: bytes | None,
    by: str,
) -> dict[str, Any]:  # fmt: skip
    """One dead letter redriven: the outcome shown on the result page."""
    settings = c.cfg.web
    try:
        made = redrive.plan(
            letter, edited, by=by,
            limits=submit.limits_of(settings.max_document_bytes, settings.max_depth,
                                    settings.max_yaml_nodes),
            topic=submitter.settings.topic, dlq_topic=submitter.settings.dlq_topic,
            at=datetime.now(UTC),
        )  # fmt: skip
    except redrive.RedriveError as exc:
        return {"id": letter.id, "outcome": "invalid", "message": str(exc)}
    try:
        await run_in_threadpool(submitter.publish, made.messages)
    except Exception as exc:
        log.warning("redrive not published", dead_letter=letter.id, error=str(exc) or repr(exc))
        message = f"Kafka did not take it ({exc.__class__.__name__}); nothing was sent"
        return {"id": letter.id, "outcome": "failed", "message": message}
    log.info("dead letter redriven", dead_letter=letter.id, by=by, documents=made.documents,
             source=made.source, sha256=made.sha256)  # fmt: skip
    c.metrics.submitted_documents.inc(made.documents)
    return {
        "id": letter.id,
        "outcome": "published" if made.documents and not made.refusals else "refused",
        "documents": made.documents,
        "refusals": made.refusals,
        "source": made.source,
        "records_url": views.page_url("/records", [("source", made.source)]),
    }


def _redrive_result(c: Context, request: Request, results: list[dict[str, Any]], **values: Any):
    failed = any(r["outcome"] in ("invalid", "failed") for r in results)
    status = 503 if any(r["outcome"] == "failed" for r in results) else (400 if failed else 200)
    return c.render(request, "redrive_result.html", status, results=results, **values)


@router.get("/dead-letters/{letter_id:int}/redrive")
async def redrive_form(request: Request, letter_id: int) -> Response:
    """Edit a dead letter's content before sending it again."""
    c = ctx(request)
    if c.submitter is None:
        _redriver(c, request)
    letter = await _letter(c, letter_id)
    return c.render(request, "redrive.html", letter=letter,
                    raw=views.raw_content(base64.b64encode(letter.raw).decode(), limit=10**9),
                    form={"by": ""}, error=None, operator=_operator(request))  # fmt: skip


@router.post("/dead-letters/{letter_id:int}/redrive")
async def redrive_edited(request: Request, letter_id: int) -> Response:
    c = ctx(request)
    submitter = _redriver(c, request)
    form = await request.form(max_files=0, max_fields=4,
                              max_part_size=c.cfg.web.max_submit_bytes + 1)  # fmt: skip
    letter = await _letter(c, letter_id)
    content = str(form.get("content") or "")
    # A textarea posts its lines with CRLF; the document had the newlines it had.
    edited = content.replace("\r\n", "\n").encode("utf-8", errors="surrogatepass")
    if len(edited) > c.cfg.web.max_submit_bytes:
        raise HTTPException(413, f"the edited content is over {c.cfg.web.max_submit_bytes} bytes")
    by = _operator(request) or str(form.get("by") or "")
    result = await _send(c, submitter, letter, edited, by)
    return _redrive_result(c, request, [result], reason=None)


@router.post("/dead-letters/redrive")
async def redrive_posted(request: Request) -> Response:
    """The Dead letters page's buttons: one dead letter as stored (``id``), or every dead
    letter of a ``reason`` that was never redriven (bulk)."""
    c = ctx(request)
    submitter = _redriver(c, request)
    form = await request.form(max_files=0, max_fields=8, max_part_size=4096)
    by = _operator(request) or str(form.get("by") or "")
    letter_id, reason = str(form.get("id") or ""), str(form.get("reason") or "")
    if letter_id:
        if not (letter_id.isascii() and letter_id.isdigit() and len(letter_id) <= 18):
            raise HTTPException(400, f"id: expected a dead letter id, got {letter_id[:40]!r}")
        letters = [await _letter(c, int(letter_id))]
    elif reason:
        letters = await run_in_threadpool(c.db.run, lambda conn: reads.not_redriven(conn, reason))
    else:
        raise HTTPException(400, "say which dead letter (id) or which reason to redrive")
    if not letters:
        return _redrive_result(c, request, [], reason=reason)
    try:
        redrive.who(by)
    except redrive.RedriveError as exc:
        results = [{"id": None, "outcome": "invalid", "message": str(exc)}]
        return _redrive_result(c, request, results, reason=reason or None)
    results = [await _send(c, submitter, letter, None, by) for letter in letters]
    return _redrive_result(c, request, results, reason=reason or None)
