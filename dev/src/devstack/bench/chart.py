"""The results as a PNG: both rates per contender, medians with the runs' range as error bars."""

# The table speaks typography: the times sign and the en dash of ranges.
# ruff: noqa: RUF001

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from devstack.bench.results import Summary


def draw(summaries: Sequence[Summary], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    labels = [s.contender.key for s in summaries]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(labels) + 1.8))
    y = range(len(labels))
    for offset, name, attr in ((-0.2, "process start → last row", "total_rate"),
                               (0.2, "first row → last row", "steady_rate")):  # fmt: skip
        spreads = [getattr(s, attr) for s in summaries]
        ax.barh(
            [i + offset for i in y],
            [s.median for s in spreads],
            height=0.38,
            xerr=[[s.median - s.low for s in spreads], [s.high - s.median for s in spreads]],
            label=name,
        )
    ax.set_yticks(list(y), labels)
    ax.invert_yaxis()
    ax.set_xlabel("documents per second (median; bars: min–max of the runs)")
    ax.set_title(title)
    ax.legend(loc="best")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
