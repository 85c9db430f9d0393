"""Splitting a batch the broker could not take as one transaction: pure."""

from __future__ import annotations

import pytest

from streamsuite_publisher.split import split_in_two


def _weight(item: int) -> int:
    return item


@pytest.mark.parametrize(
    ("items", "halves"),
    [
        ([1, 1, 1, 1], ([1, 1], [1, 1])),
        ([1, 1, 10], ([1, 1], [10])),  # the heavy file alone, the light ones together
        ([10, 1, 1], ([10], [1, 1])),
        ([5, 5, 5], ([5], [5, 5])),
        ([0, 0], ([0], [0])),
        ([3, 1, 1, 1, 2], ([3, 1], [1, 1, 2])),
    ],
)
def test_a_batch_is_cut_where_the_weight_before_comes_closest_to_half(items, halves):
    assert split_in_two(items, _weight) == halves


def test_every_cut_keeps_order_and_leaves_no_half_empty():
    for n in range(2, 12):
        for heavy in range(n):
            items = [1] * n
            items[heavy] = 1000
            first, second = split_in_two(items, _weight)
            assert first
            assert second
            assert first + second == items


def test_a_single_file_cannot_be_split():
    with pytest.raises(ValueError, match="one"):
        split_in_two([7], _weight)
