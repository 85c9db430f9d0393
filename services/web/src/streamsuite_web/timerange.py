"""The Records page's time-range picker, turned into the API's ``since``/``until``: pure.

``range`` is ``15m``, ``1h``, ``24h`` (ending now) or ``custom``: then ``from``/``to`` are
``datetime-local`` values (``2026-01-31T12:00``) read in UTC or, with ``tz=local``, at the
browser's offset (``tz_offset``, minutes east of UTC, set by app.js; without JavaScript there
is none and the page says the times were read as UTC). The page's own controls are dropped and
``since``/``until`` put in their place, so the query is exactly what the API would be asked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

from streamsuite_common.query import InvalidQuery

RANGES = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "24h": timedelta(hours=24)}
CONTROLS = ("range", "from", "to", "tz", "tz_offset")
MAX_OFFSET_MIN = 15 * 60 + 59


@dataclasses.dataclass(frozen=True)
class Resolved:
    params: list[tuple[str, str]]  # the API's parameters
    note: str | None = None  # something the page should say (local read as UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _offset(text: str) -> timezone | None:
    text = text.strip()
    if not text:
        return None
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if not digits.isascii() or not digits.isdigit() or int(digits) > MAX_OFFSET_MIN:
        raise InvalidQuery("tz_offset", f"expected minutes east of UTC, got {text[:20]!r}")
    return timezone(timedelta(minutes=sign * int(digits)))


def _local(name: str, text: str, zone: timezone) -> str:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        problem = f"expected a date and time (2026-01-31T12:00), got {text[:40]!r}"
        raise InvalidQuery(name, problem) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return rfc3339(moment)


def resolve(params: Sequence[tuple[str, str]], now: datetime) -> Resolved:
    """``params`` with the picker's controls replaced by ``since``/``until``."""
    values = {name: value for name, value in params if name in CONTROLS}
    kept = [(name, value) for name, value in params if name not in CONTROLS]
    chosen = values.get("range", "")
    if not chosen:
        return Resolved(kept)
    if chosen in RANGES:
        kept = [(n, v) for n, v in kept if n not in ("since", "until")]
        return Resolved([*kept, ("since", rfc3339(now - RANGES[chosen]))])
    if chosen != "custom":
        raise InvalidQuery("range", f"expected one of 15m, 1h, 24h, custom; got {chosen[:20]!r}")
    zone, note = UTC, None
    if values.get("tz") == "local":
        offset = _offset(values.get("tz_offset", ""))
        if offset is None:
            note = "Local time needs JavaScript to know your offset: the times were read as UTC."
        else:
            zone = offset
    kept = [(n, v) for n, v in kept if n not in ("since", "until")]
    for control, api in (("from", "since"), ("to", "until")):
        if values.get(control, "").strip():
            kept.append((api, _local(control, values[control], zone)))
    return Resolved(kept, note)
