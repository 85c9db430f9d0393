"""Geometry of the Status page's per-minute bar charts (records stored, dead letters, end-to-end
seconds), drawn server-side as inline SVG (so they work without JavaScript): pure numbers in,
rectangles and labels out."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

WIDTH = 720
HEIGHT = 220
LEFT = 44  # room for the y labels
RIGHT = 8
TOP = 12
BOTTOM = 26  # room for the x labels
GAP = 2


@dataclasses.dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: float  # the bar's value: a count, or seconds
    minute: str  # HH:MM (UTC)
    title: str


@dataclasses.dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclasses.dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    y_labels: list[Label]
    x_labels: list[Label]
    grid: list[float]  # y of the horizontal grid lines
    axis_y: float  # y of the baseline
    left: float
    right: float
    scale_max: int
    total: float
    peak: float  # the largest value


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 5 times 10^k not below ``value`` (at least 1)."""
    if value <= 1:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def minute_label(moment: str) -> str:
    """``HH:MM`` of an RFC 3339 minute (``2026-01-31T12:34:00Z`` → ``12:34``)."""
    return moment[11:16] if len(moment) >= 16 else moment


def format_value(value: float, unit: str) -> str:
    """``3 records``, ``1 record``, ``0.25 s``: a bar's value for people."""
    if unit == "s":
        return f"{value:.3g} s"
    number = int(value)
    return f"{number} {unit if number != 1 else unit.removesuffix('s')}"


def bar_chart(
    points: Sequence[Mapping[str, Any]],
    *,
    key: str = "count",
    unit: str = "records",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Chart:
    """Bars for ``[{"minute": RFC 3339, key: value}, ...]`` (oldest first); a missing value
    (no record in that minute, for a latency) is an empty bar."""
    counts = [float(point[key] or 0) if unit == "s" else int(point[key] or 0) for point in points]
    scale_max = nice_ceiling(max(counts, default=0))
    plot_w = width - LEFT - RIGHT
    plot_h = height - TOP - BOTTOM
    axis_y = TOP + plot_h
    slot = plot_w / max(len(points), 1)
    bar_w = max(slot - GAP, 1)
    bars = []
    for index, point in enumerate(points):
        count = counts[index]
        bar_h = plot_h * count / scale_max
        label = minute_label(str(point["minute"]))
        bars.append(
            Bar(
                x=round(LEFT + index * slot + GAP / 2, 2),
                y=round(axis_y - bar_h, 2),
                width=round(bar_w, 2),
                height=round(bar_h, 2),
                count=count,
                minute=label,
                title=f"{label} UTC: {format_value(count, unit)}",
            )
        )
    ticks = [0, scale_max // 2, scale_max] if scale_max >= 2 else [0, scale_max]
    grid = [round(axis_y - plot_h * tick / scale_max, 2) for tick in ticks]
    y_labels = [Label(LEFT - 6, y + 4, str(tick)) for tick, y in zip(ticks, grid, strict=True)]
    x_labels = [
        Label(round(bar.x + bar.width / 2, 2), height - 8, bar.minute)
        for index, bar in enumerate(bars)
        if index % 10 == 0 or index == len(bars) - 1
    ]
    return Chart(
        width=width,
        height=height,
        bars=bars,
        y_labels=y_labels,
        x_labels=x_labels,
        grid=grid,
        axis_y=axis_y,
        left=LEFT,
        right=width - RIGHT,
        scale_max=scale_max,
        total=sum(counts),
        peak=max(counts, default=0),
    )
