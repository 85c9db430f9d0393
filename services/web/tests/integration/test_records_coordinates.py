"""The Records page's Kafka partition and offset filters (issue 18): they narrow the table,
show in the form, go into "copy as curl" and the live feed, and a bad one names itself."""

from __future__ import annotations

import html
import re

ROW_IDS = re.compile(r'<tr data-id="(\d+)"')


def test_partition_and_offset_filters_narrow_the_records_page(web, filler):
    made = filler.add(*({"n": n} for n in range(4)))  # partition 0, consecutive offsets
    offsets = {}
    for record_id in made:
        record = web.get(f"/records/{record_id}.json").json()
        offsets[record["kafka"]["offset"]] = record_id
    low = min(offsets)
    page = web.get(f"/records?partition=0&offset_min={low + 1}&offset_max={low + 2}&source=")
    assert page.status_code == 200
    assert [int(i) for i in ROW_IDS.findall(page.text)] == [offsets[low + 2], offsets[low + 1]]
    text = html.unescape(page.text)
    assert f"partition=0&offset_min={low + 1}&offset_max={low + 2}" in text  # copy as curl
    assert 'name="partition" value="0"' in text
    assert re.search(r'data-src="/events\?[^"]*partition=0', text)  # the live feed keeps it
    assert [int(i) for i in ROW_IDS.findall(web.get("/records?partition=1").text)] == []


def test_an_offset_without_a_partition_is_refused_by_name(web):
    page = web.get("/records?offset_min=5")
    assert page.status_code == 400
    assert "offset_min: needs partition" in page.text
