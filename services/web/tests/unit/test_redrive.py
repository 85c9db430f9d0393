"""Redrive's pure part: which messages a dead letter becomes, and with which identity."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from streamsuite_common.contract import DeadLetter, parse_document_headers
from streamsuite_common.publishing.formats import Limits
from streamsuite_common.publishing.messages import sha256_hex
from streamsuite_web.redrive import Letter, RedriveError, plan

AT = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
RAW = b'{"sensor": "s1", "celsius": 75}'
LETTER = Letter(id=7, reason="route-violation", source="in/readings.jsonl", sha256="f" * 64,
                doc_index=3, raw=RAW, raw_truncated=False)  # fmt: skip


def make(letter: Letter = LETTER, edited: bytes | None = None, by: str = "Ada"):
    return plan(letter, edited, by=by, limits=Limits(), topic="t", dlq_topic="t.dlq", at=AT)


def identities(made) -> list[tuple]:
    out = []
    for m in made.messages:
        if m.topic == "t":
            meta = parse_document_headers(m.headers)
            out.append((meta.source, meta.sha256, meta.doc_index, m.value))
    return out


def test_an_unchanged_redrive_keeps_the_dead_letters_identity():
    # The original identity: a document redriven twice, or stored after all, is stored once.
    assert identities(make()) == [("in/readings.jsonl", "f" * 64, 3, RAW)]
    assert identities(make()) == identities(make(by="someone else"))


def test_an_edited_redrive_is_identified_by_the_edited_bytes():
    edited = b'{"sensor": "s1", "celsius": 57}'
    assert identities(make(edited=edited)) == [("in/readings.jsonl", sha256_hex(edited), 0, edited)]
    assert identities(make(edited=RAW)) == identities(make())  # edited to what it was


def test_a_dead_letter_without_identity_gets_a_stable_one():
    bare = Letter(id=9, reason="route-violation", source=None, sha256=None, doc_index=None,
                  raw=RAW, raw_truncated=False)  # fmt: skip
    assert identities(make(bare)) == [("redrive/dead-letter-9", sha256_hex(RAW), 0, RAW)]


def test_the_redrive_event_says_who_and_what_for_the_trigger():
    last = make(by="  Ada \n Lovelace ").messages[-1]
    assert last.topic == "t.dlq"
    event = DeadLetter.from_message(last.value)
    assert (event.origin, event.stage, event.reason) == ("web", "redrive", "redriven")
    assert json.loads(event.detail) == {
        "dead_letter_id": 7, "by": "Ada Lovelace", "documents": 1, "edited": False,
    }  # fmt: skip


def test_refused_again_is_a_dead_letter_of_origin_web():
    made = make(edited=b'{"sensor": "s1", celsius: 1}')
    assert made.documents == 0
    events = [DeadLetter.from_message(m.value) for m in made.messages if m.topic == "t.dlq"]
    assert [(e.origin, e.stage, e.reason) for e in events] == [
        ("web", "parse", "invalid-json"), ("web", "redrive", "redriven"),
    ]  # fmt: skip


def test_a_cut_dead_letter_or_no_name_is_refused_before_anything_is_sent():
    cut = Letter(**{**LETTER.__dict__, "raw_truncated": True})
    with pytest.raises(RedriveError, match="cut when it was refused"):
        make(cut)
    assert make(cut, edited=RAW).documents == 1
    with pytest.raises(RedriveError, match="say who you are"):
        make(by="   ")
