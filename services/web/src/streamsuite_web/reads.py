"""The web UI's own reads, beyond the shared query layer: a dead letter's raw bytes for a
redrive, the redrives recorded for dead letters (migration 0004), and the Status page's
per-minute series. Fixed SQL with bound parameters; run on the read-only pool."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamsuite_web.redrive import Letter

MAX_BULK = 500  # dead letters one bulk redrive sends at most
LATENCY_SAMPLE = 500  # records a minute the Status page's latency percentiles are taken from

# Sixty one-minute buckets ending with the current minute, empty ones included.
PER_MINUTE_SQL = {
    "dead_letters": (
        "SELECT m.minute, count(d.id) FROM generate_series(date_trunc('minute', now()) "
        "- interval '59 minutes', date_trunc('minute', now()), interval '1 minute') AS m(minute) "
        "LEFT JOIN dead_letters d ON d.created_at >= m.minute "
        "AND d.created_at < m.minute + interval '1 minute' GROUP BY m.minute ORDER BY m.minute"
    ),
    # End to end: produced (the publisher's or Submit's header) until stored, per minute stored,
    # from at most LATENCY_SAMPLE records a minute: ids spread evenly between the minute's first
    # record and the next minute's (an index probe each), so a busy hour (3.6 M records at
    # 1,000/s) costs ~60 x LATENCY_SAMPLE row reads, not every record of it. A minute with
    # fewer records is read whole (exact); ids that fall outside the minute are left out.
    "latency": (
        "SELECT b.minute, percentile_cont(0.5) WITHIN GROUP (ORDER BY s.seconds), "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY s.seconds), count(s.seconds) "
        "FROM (SELECT m.minute, "
        "(SELECT r.id FROM records r WHERE r.ingested_at >= m.minute "
        "ORDER BY r.ingested_at, r.id LIMIT 1) AS first_id, "
        "coalesce((SELECT r.id FROM records r WHERE r.ingested_at >= m.minute "
        "+ interval '1 minute' ORDER BY r.ingested_at, r.id LIMIT 1), "
        "(SELECT max(id) + 1 FROM records)) AS next_id "
        "FROM generate_series(date_trunc('minute', now()) - interval '59 minutes', "
        "date_trunc('minute', now()), interval '1 minute') AS m(minute)) b "
        "LEFT JOIN LATERAL ("
        "SELECT extract(epoch FROM r.ingested_at - r.produced_at)::float8 AS seconds "
        "FROM records r WHERE r.id = ANY(ARRAY(SELECT generate_series(b.first_id, "
        "b.next_id - 1, greatest(1, (b.next_id - b.first_id + %(sample)s - 1) / %(sample)s)))) "
        "AND r.ingested_at >= b.minute AND r.ingested_at < b.minute + interval '1 minute' "
        "AND r.produced_at IS NOT NULL"
        ") s ON true GROUP BY b.minute ORDER BY b.minute"
    ),
}
LETTER_SQL = (
    "SELECT id, reason, source, sha256, doc_index, raw, raw_truncated FROM dead_letters "
    "WHERE id = %s"
)
NOT_REDRIVEN_SQL = (
    "SELECT id, reason, source, sha256, doc_index, raw, raw_truncated FROM dead_letters d "
    "WHERE reason = %s AND NOT EXISTS "
    "(SELECT 1 FROM dead_letter_redrives x WHERE x.dead_letter_id = d.id) ORDER BY id LIMIT %s"
)


def _letter(row: Sequence[Any]) -> Letter:
    return Letter(
        id=row[0], reason=row[1], source=row[2], sha256=row[3], doc_index=row[4],
        raw=bytes(row[5]), raw_truncated=bool(row[6]),
    )  # fmt: skip


def dead_letter(conn: Any, letter_id: int) -> Letter | None:
    with conn.cursor() as cur:
        cur.execute(LETTER_SQL, (letter_id,))
        row = cur.fetchone()
    return _letter(row) if row else None


def _has_redrives(cur: Any) -> bool:
    # A database migrated by an older ingestor has no such table yet: no redrives to show.
    cur.execute("SELECT to_regclass('dead_letter_redrives') IS NOT NULL")
    return bool(cur.fetchone()[0])


def not_redriven(conn: Any, reason: str, limit: int = MAX_BULK) -> list[Letter]:
    """The oldest dead letters of ``reason`` that were never redriven (a bulk redrive)."""
    with conn.cursor() as cur:
        if not _has_redrives(cur):
            return []
        cur.execute(NOT_REDRIVEN_SQL, (reason, limit))
        return [_letter(row) for row in cur.fetchall()]


def redrives(conn: Any, letter_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The redrives of these dead letters, oldest first."""
    found: dict[int, list[dict[str, Any]]] = {}
    if not letter_ids:
        return found
    with conn.cursor() as cur:
        if not _has_redrives(cur):
            return found
        cur.execute(
            "SELECT dead_letter_id, redriven_by, coalesce(redriven_at, created_at), documents, "
            "edited, source FROM dead_letter_redrives WHERE dead_letter_id = ANY(%s) ORDER BY id",
            (list(letter_ids),),
        )
        for letter_id, by, at, documents, edited, source in cur.fetchall():
            found.setdefault(letter_id, []).append(
                {"by": by, "at": at, "documents": documents, "edited": edited, "source": source}
            )
    return found


def per_minute(conn: Any) -> dict[str, list[dict[str, Any]]]:
    """Dead letters and end-to-end seconds (p50, p95) per minute over the last hour."""
    with conn.cursor() as cur:
        cur.execute(PER_MINUTE_SQL["dead_letters"])
        dead = [{"minute": minute, "count": count} for minute, count in cur.fetchall()]
        cur.execute(PER_MINUTE_SQL["latency"], {"sample": LATENCY_SAMPLE})
        latency = [
            {"minute": minute, "p50": p50, "p95": p95, "count": count}
            for minute, p50, p95, count in cur.fetchall()
        ]
    return {"dead_letters": dead, "latency": latency}
