"""Splitting a batch that the broker cannot take as one transaction in two halves of about
equal weight, so that bisecting finds the file at fault in few transactions and the others go
out in transactions as large as still work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def split_in_two(items: Sequence[T], weight: Callable[[T], int]) -> tuple[list[T], list[T]]:
    """``items`` (two at least) cut where the weight before the cut comes closest to half of
    the whole; both halves keep the order and hold one item at least."""
    if len(items) < 2:
        raise ValueError("a batch of one cannot be split")
    weights = [weight(item) for item in items]
    total, before = sum(weights), 0
    best_cut, best_gap = 1, None
    for cut in range(1, len(items)):
        before += weights[cut - 1]
        gap = abs(2 * before - total)
        if best_gap is None or gap < best_gap:
            best_cut, best_gap = cut, gap
    return list(items[:best_cut]), list(items[best_cut:])
