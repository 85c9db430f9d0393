"""How far a page of a document filter walks before the index serves the rest."""

from __future__ import annotations

import pytest

from streamsuite_common.query import sql
from streamsuite_common.query.read import next_window


@pytest.mark.parametrize(
    ("found", "want", "walk"),
    [
        (0, 51, 0),  # nothing near the top: rare or old matches, the index serves them
        (51, 51, 0),  # the first window filled the page
        (60, 51, 0),
        (25, 51, 416),  # dense: about 208 more ids hold the rest; walk twice that
        (10, 51, 1_640),
        (2, 51, 9_800),  # one in 100: 4,900 predicted, twice that just within the bound
        (1, 51, 0),  # one in 200 or rarer: 20,000 ids to walk for a page, the index reads 50
    ],
)
def test_the_walk_goes_on_only_when_the_density_seen_fills_the_page_nearby(found, want, walk):
    assert next_window(found, want) == walk


def test_the_walks_stay_within_the_bound():
    for found in range(1, 200):
        assert sql.FIRST_WINDOW + next_window(found, 51) <= sql.PAYLOAD_WINDOW
