"""The records-per-minute chart's geometry."""

from __future__ import annotations

import pytest

from streamsuite_web import chart


def points(counts):
    return [{"minute": f"2026-01-31T12:{i:02d}:00Z", "count": c} for i, c in enumerate(counts)]


@pytest.mark.parametrize(("value", "ceiling"), [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10),
                                                 (11, 20), (150, 200), (501, 1000)])  # fmt: skip
def test_scale_rounds_up_to_a_nice_number(value, ceiling):
    assert chart.nice_ceiling(value) == ceiling


def test_bars_are_proportional_to_counts_and_stand_on_the_axis():
    c = chart.bar_chart(points([0, 5, 10, 2]))
    assert c.scale_max == 10
    assert c.total == 17
    plot_h = c.height - chart.TOP - chart.BOTTOM
    for bar, count in zip(c.bars, [0, 5, 10, 2], strict=True):
        assert bar.count == count
        assert bar.height == pytest.approx(plot_h * count / 10, abs=0.01)
        assert bar.y + bar.height == pytest.approx(c.axis_y, abs=0.01)
    assert c.bars[2].y == pytest.approx(chart.TOP)  # the tallest bar reaches the top


def test_sixty_minutes_fit_the_width_left_to_right_with_labels():
    c = chart.bar_chart(points([1] * 60))
    xs = [bar.x for bar in c.bars]
    assert xs == sorted(xs)
    assert xs[0] >= chart.LEFT
    assert c.bars[-1].x + c.bars[-1].width <= c.width - chart.RIGHT + 0.01
    assert [label.text for label in c.x_labels] == ["12:00", "12:10", "12:20", "12:30", "12:40",
                                                    "12:50", "12:59"]  # fmt: skip
    assert c.bars[5].title == "12:05 UTC: 1 record"
    assert [label.text for label in c.y_labels] == ["0", "1"]


def test_an_empty_hour_draws_flat_bars():
    c = chart.bar_chart(points([0] * 60))
    assert c.total == 0
    assert all(bar.height == 0 for bar in c.bars)
