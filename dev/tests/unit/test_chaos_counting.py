"""make chaos's arithmetic: what counts as lost, duplicated and dead-lettered, per fault; and
the files it writes (every format, each document findable by its id)."""

from __future__ import annotations

import json

import yaml

from devstack.chaos.counting import Tally, table, tally
from devstack.chaos.files import BAD_EVERY, FORMATS, chaos_file


def test_every_document_stored_once_and_every_refusal_dead_lettered_once_is_clean():
    t = tally("SIGKILL ingestor", ["1-0", "1-1", "2-0"], ["bad.json"],
              {"1-0": 1, "1-1": 1, "2-0": 1, "other-phase": 3}, {"bad.json": 1}, 2.5)  # fmt: skip
    assert t == Tally("SIGKILL ingestor", 3, 3, 0, 0, 1, 1, 2.5)
    assert t.ok


def test_a_missing_document_is_lost_and_a_second_row_is_a_duplicate():
    t = tally("kill -9 kafka + restart", ["a", "b", "c"], [], {"a": 1, "c": 3}, {}, 20.0)
    assert (t.sent, t.stored, t.lost, t.duplicated) == (3, 2, 1, 2)
    assert not t.ok


def test_a_refused_file_without_its_dead_letter_is_lost_and_two_are_a_duplicate():
    t = tally("SIGKILL publisher", [], ["x.json", "y.json"], {}, {"y.json": 2}, 1.0)
    assert (t.lost, t.duplicated, t.dead_letters, t.refused_files) == (1, 1, 2, 2)


def test_a_fault_never_recovered_from_fails_even_without_loss():
    assert not tally("SIGKILL web", ["a"], [], {"a": 1}, {}, None).ok


def test_the_table_has_a_line_per_fault_and_a_total():
    lines = table([tally("SIGKILL ingestor", ["a", "b"], ["x"], {"a": 1, "b": 1}, {"x": 1}, 3.04),
                   tally("SIGKILL web", ["c"], [], {}, {}, None)]).splitlines()  # fmt: skip
    assert lines[0].split() == ["fault", "docs", "in", "stored", "lost", "dup", "dead", "letters",
                                "recovery"]  # fmt: skip
    assert lines[1].split() == ["SIGKILL", "ingestor", "2", "2", "0", "0", "1/1", "3.0s"]
    assert lines[2].split() == ["SIGKILL", "web", "1", "0", "1", "0", "0/0", "NEVER"]
    assert lines[3].split() == ["total", "3", "2", "1", "0", "1/1"]


def _documents(name: str, data: bytes) -> list[dict]:
    text = data.decode()
    if name.endswith(".json"):
        return [json.loads(text)]
    if name.endswith((".jsonl", ".ndjson")):
        return [json.loads(line) for line in text.splitlines()]
    return list(yaml.safe_load_all(text))


def test_files_cover_every_format_and_carry_their_ids():
    files = [chaos_file("r1", seq) for seq in range(2 * BAD_EVERY)]
    good = [f for f in files if not f.bad]
    assert {f.name.rsplit(".", 1)[1] for f in good} == {s.lstrip(".") for s, _ in FORMATS}
    for f in good:
        docs = _documents(f.name, f.data)
        assert [doc["chaos_id"] for doc in docs] == list(f.ids)
        assert {doc["chaos_run"] for doc in docs} == {"r1"}
    ids = [doc_id for f in good for doc_id in f.ids]
    assert len(ids) == len(set(ids))


def test_one_file_in_twenty_is_refused_as_a_whole():
    bad = [f for f in (chaos_file("r1", seq) for seq in range(100)) if f.bad]
    assert len(bad) == 100 // BAD_EVERY
    for f in bad:
        assert f.ids == ()
        try:
            json.loads(f.data)
        except ValueError:
            continue
        raise AssertionError(f"{f.name} parses")
