"""Samples into the table, the ratios and the ``ingest: N.N× Connect`` line. Pure: no I/O."""

# The table speaks typography: the times sign and the en dash of ranges.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class Contender:
    key: str  # used on the command line (BENCH_CONTENDERS) and in the chart
    label: str  # the table's row
    parallelism: int = 1


@dataclasses.dataclass(frozen=True)
class Sample:
    """One run of one contender over ``docs`` documents."""

    key: str
    docs: int
    total_s: float  # process start -> last row (or last message)
    steady_s: float  # first row -> last row
    cpu_s: float  # CPU seconds of the contender's processes


@dataclasses.dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def text(self, digits: int = 0) -> str:
        fmt = f"{{:,.{digits}f}}"
        if len({round(self.low, digits), round(self.high, digits)}) == 1:
            return fmt.format(self.median)
        return f"{fmt.format(self.median)} ({fmt.format(self.low)}–{fmt.format(self.high)})"


@dataclasses.dataclass(frozen=True)
class Summary:
    contender: Contender
    runs: int
    total_rate: Spread  # docs/s from process start
    steady_rate: Spread  # docs/s from the first row
    cpu_per_1000: Spread  # CPU seconds per 1,000 documents


def summarize(contenders: Sequence[Contender], samples: Sequence[Sample]) -> list[Summary]:
    """Median and range per contender, in the contenders' order; those without samples left out."""
    out = []
    for contender in contenders:
        mine = [s for s in samples if s.key == contender.key]
        if not mine:
            continue
        out.append(
            Summary(
                contender,
                len(mine),
                Spread.of([s.docs / s.total_s for s in mine]),
                Spread.of([s.docs / s.steady_s for s in mine]),
                Spread.of([s.cpu_s * 1000 / s.docs for s in mine]),
            )
        )
    return out


def table(summaries: Sequence[Summary]) -> str:
    """A Markdown table: medians with (min–max) over the runs."""
    lines = [
        "| contender | runs | docs/s, process start → last row | docs/s, first row → last row "
        "| CPU s / 1,000 docs |",
        "|---|---|---|---|---|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.contender.label} | {s.runs} | {s.total_rate.text()} | {s.steady_rate.text()} "
            f"| {s.cpu_per_1000.text(2)} |"
        )
    return "\n".join(lines)


def ratio(summaries: Sequence[Summary], top: str, bottom: str) -> float | None:
    """Steady-state median of ``top`` over that of ``bottom``; None when either did not run."""
    by_key = {s.contender.key: s for s in summaries}
    if top not in by_key or bottom not in by_key:
        return None
    return by_key[top].steady_rate.median / by_key[bottom].steady_rate.median


RATIOS: tuple[tuple[str, str, str], ...] = (
    ("ingestor ×1 / Connect tasks=1 (streamsuite's table)", "ingestor-1", "connect-1"),
    ("ingestor ×3 / Connect tasks=3 (streamsuite's table)", "ingestor-3", "connect-3"),
    ("ingestor ×1 / COPY into streamsuite's table", "ingestor-1", "copy-records"),
    ("ingestor ×3 / COPY into streamsuite's table", "ingestor-3", "copy-records"),
    ("ingestor ×1 / INSERT … ON CONFLICT into streamsuite's table", "ingestor-1", "insert-records"),
    ("Connect tasks=1 / the same on a bare table", "connect-1", "connect-bare-1"),
    ("ingestor ×1 / kafka-python consume-only", "ingestor-1", "consume"),
)


def ratio_lines(summaries: Sequence[Summary]) -> list[str]:
    out = []
    for text, top, bottom in RATIOS:
        value = ratio(summaries, top, bottom)
        if value is not None:
            out.append(f"- {text}: {value:.2f}")
    return out


def ingest_line(summaries: Sequence[Summary]) -> str | None:
    """``ingest: N.N× Connect``: steady state, equal parallelism; with both 1 and 3 measured,
    the lower of the two, so the headline never picks the better pairing."""
    pairs = [ratio(summaries, f"ingestor-{n}", f"connect-{n}") for n in (1, 3)]
    measured = [(n, r) for n, r in zip((1, 3), pairs, strict=True) if r is not None]
    if not measured:
        return None
    low = min(r for _, r in measured)
    detail = ", ".join(f"×{n} vs tasks={n}: {r:.2f}×" for n, r in measured)
    return f"ingest: {low:.1f}× Connect ({detail}; steady state, the lower pairing)"
