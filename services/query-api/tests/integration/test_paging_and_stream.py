"""Keyset paging stays exact while the ingestor keeps writing, and the event stream delivers
records stored after the client connected, resuming after Last-Event-ID."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import httpx

from devstack.testing import bearer

from .conftest import api_config, serving, wait_for


def test_paging_10000_records_has_no_gaps_or_repeats_while_inserts_continue(api, filler):
    batch = [{"seq": n, "group": n % 7} for n in range(1000)]
    before = [i for _ in range(10) for i in filler.add(*batch)]
    assert len(before) == 10_000
    stop = threading.Event()
    added: list[int] = []

    def keep_inserting() -> None:
        while not stop.is_set():
            added.extend(filler.add(*({"late": n} for n in range(50))))

    writer = threading.Thread(target=keep_inserting, daemon=True)
    writer.start()
    try:
        wait_for(lambda: len(added) >= 50, what="the concurrent writer to start")
        seen: list[int] = []
        cursor = None
        first_page_top = None
        while True:
            params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = api.get("/api/v1/records", params=params).json()
            page_ids = [item["id"] for item in page["items"]]
            first_page_top = first_page_top or page_ids[0]
            seen += page_ids
            cursor = page["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        writer.join(timeout=30)
    assert len(added) > 50, "inserts went on during the walk"
    assert len(seen) == len(set(seen)), "a record was served twice"
    assert seen == sorted(seen, reverse=True)
    # Exactly every record that existed when the walk began: none missing, none invented.
    expected = {i for i in before + added if i <= first_page_top}
    assert set(seen) == expected
    assert set(before) <= set(seen)


def _read_events(client: httpx.Client, path: str, headers: dict, want: int, out: list, ready):
    with client.stream("GET", path, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event: dict = {}
        for line in response.iter_lines():
            if line.startswith("retry:") or line.startswith(": streaming"):
                ready.set()
            if line.startswith(": heartbeat"):
                out.append({"heartbeat": True})
            elif line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("data: "):
                event["data"] = line[6:]
            elif line == "" and "id" in event:
                out.append(event)
                event = {}
            if sum(1 for e in out if "id" in e) >= want:
                return


def _stream(api, path: str, want: int, headers: dict | None = None):
    events: list = []
    ready = threading.Event()
    thread = threading.Thread(
        target=_read_events, args=(api, path, headers or {}, want, events, ready), daemon=True
    )
    thread.start()
    assert ready.wait(10), "the stream did not open"
    return thread, events


def test_stream_sends_records_stored_after_the_client_connected(api, filler):
    [old] = filler.add({"before": True})
    thread, events = _stream(api, "/api/v1/stream", want=2)
    new = filler.add({"after": 1}) + filler.add({"after": 2})
    thread.join(timeout=20)
    records = [e for e in events if "id" in e]
    assert [e["id"] for e in records] == new  # not the old one, in order
    assert old not in [e["id"] for e in records]
    assert '"payload":{"after": 1}' in records[0]["data"]


def test_stream_filter_and_heartbeats(api, filler):
    thread, events = _stream(api, "/api/v1/stream?kind=relational&key=age&value=41", want=1)
    wait_for(lambda: any("heartbeat" in e for e in events), what="a heartbeat")
    filler.add({"name": "Nobody", "age": 40}, {"other": 1})
    [wanted] = filler.add({"name": "Alan Turing", "age": 41})
    thread.join(timeout=20)
    assert [e["id"] for e in events if "id" in e] == [wanted]


def test_stream_resumes_after_last_event_id(api, filler):
    first, second, third = filler.add({"n": 1}, {"n": 2}, {"n": 3})
    thread, events = _stream(api, "/api/v1/stream", want=3, headers={"Last-Event-ID": str(first)})
    [fourth] = filler.add({"n": 4})
    thread.join(timeout=20)
    assert [e["id"] for e in events if "id" in e] == [second, third, fourth]
    bad = api.get("/api/v1/stream", headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 400
    assert "Last-Event-ID" in bad.json()["detail"]


async def _open_at_once(base_url: str, path: str, clients: int) -> list[int]:
    """Status codes of ``clients`` streams opened concurrently, all held open until every
    one has its answer (so no accepted stream can end and free its slot in between)."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30, headers=bearer()) as client,
        contextlib.AsyncExitStack() as streams,
    ):

        async def open_one() -> int:
            response = await streams.enter_async_context(client.stream("GET", path))
            return response.status_code

        return list(await asyncio.gather(*(open_one() for _ in range(clients))))


def test_stream_client_limit_holds_for_clients_connecting_at_once(reader_settings, schema):
    with serving(api_config(reader_settings, schema, stream_max_clients=3)) as api:
        codes = asyncio.run(_open_at_once(str(api.base_url), "/api/v1/stream", 40))
        assert codes.count(200) == 3, codes
        assert codes.count(503) == 37, codes
        # Every slot is given back once those clients are gone.
        wait_for(
            lambda: asyncio.run(_open_at_once(str(api.base_url), "/api/v1/stream", 3)) == [200] * 3,
            what="the three slots given back",
        )
