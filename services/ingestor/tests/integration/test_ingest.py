"""The ingestor against the real broker and database: samples become the right rows, bad
messages become dead letters (table and DLQ topic) beside stored neighbours, resends are
stored once, and the schema is the one the readers expect."""

from __future__ import annotations

import dataclasses
import json
import select

import psycopg2
import pytest
from psycopg2 import errors, sql

from devstack.testing import wait_for
from streamsuite_common.contract import DeadLetter
from streamsuite_common.db import connect
from streamsuite_common.kafka import connect_producer
from streamsuite_ingestor.store import NOTIFY_CHANNEL

from .conftest import produce, raw_doc, read_topic, running, sample_docs

GOOD = ["person.json", "person.yml", "team.yaml", "sensors.jsonl", "array.json",
        "nested-unicode.json", "order.yaml"]  # fmt: skip


def test_good_samples_become_relational_and_unstructured_rows(
    kafka_settings, topics, make_config, db
):
    docs = [doc for name in GOOD for doc in sample_docs(name)]
    produce(kafka_settings, topics[0], docs)
    with running(make_config()):
        wait_for(lambda: db.count() == len(docs), what=f"{len(docs)} records")

    rows = db.query(
        "SELECT source, doc_index, kind, name, age, payload FROM records ORDER BY source, doc_index"
    )
    relational = {(s, i): (n, a) for s, i, kind, n, a, _ in rows if kind == "relational"}
    assert relational == {
        ("person.json", 0): ("Ada Lovelace", 36),
        ("person.yml", 0): ("Grace Hopper", 85),
        ("team.yaml", 0): ("Alan Turing", 41),
        ("team.yaml", 1): ("Katherine Johnson", 101),
    }
    unstructured = {(s, i): payload for s, i, kind, n, a, payload in rows if kind == "unstructured"}
    assert all(name is None and age is None for _, _, kind, name, age, _ in rows
               if kind == "unstructured")  # fmt: skip
    assert unstructured[("team.yaml", 2)] == {"team": "compilers", "members": ["grace", "fran"]}
    assert unstructured[("array.json", 0)] == [{"id": 1}, {"id": 2}]
    assert [unstructured[("sensors.jsonl", i)]["celsius"] for i in range(3)] == [21.4, 19.8, 21.6]
    assert unstructured[("nested-unicode.json", 0)]["emoji"] == "\U0001f680"
    assert unstructured[("order.yaml", 0)]["items"][0]["price"] == 49.9
    # Provenance is kept on every row.
    provenance = db.query(
        "SELECT count(*) FROM records WHERE sha256 IS NOT NULL AND produced_at IS NOT NULL "
        "AND kafka_topic = %s AND kafka_offset >= 0",
        (topics[0],),
    )
    assert provenance == [(len(docs),)]
    assert db.count("dead_letters") == 0


BAD = {
    "nan.json": ("non-finite-number", "decode"),
    "nul-char.json": ("nul-character", "decode"),
    "bad-age.json": ("route-violation", "route"),
    "not-json.json": ("invalid-json", "decode"),
    "latin1.json": ("not-utf8", "decode"),
    "huge-exponent.json": ("rejected-by-postgres", "store"),
}


def _bad_docs():
    bad = "/work/shared/samples/bad/"
    return [
        raw_doc("nan.json", open(bad + "nan.json", "rb").read()),
        raw_doc("nul-char.json", open(bad + "nul-char.json", "rb").read()),
        raw_doc("bad-age.json", open(bad + "bad-age.json", "rb").read()),
        raw_doc("not-json.json", b"this is { not json"),
        raw_doc("latin1.json", open(bad + "latin1.json", "rb").read()),
        # Valid JSON Python accepts, but beyond PostgreSQL's numeric: only the database says no.
        raw_doc("huge-exponent.json", b'{"x": 1e1000000}'),
    ]


def test_each_bad_message_lands_in_dead_letters_and_dlq_while_neighbours_are_stored(
    kafka_settings, topics, make_config, db
):
    good = sample_docs("person.json") + sample_docs("sensors.jsonl")
    # One partition, bad ones between good ones: all in the same batch.
    docs = [good[0], *_bad_docs()[:3], good[1], *_bad_docs()[3:], good[2], good[3]]
    produce(kafka_settings, topics[0], docs, partition=0)
    with running(make_config()):
        wait_for(
            lambda: db.count() == len(good) and db.count("dead_letters") == len(BAD),
            what="good records and dead letters",
        )

    stored = db.query("SELECT source, doc_index FROM records ORDER BY source, doc_index")
    assert stored == [("person.json", 0)] + [("sensors.jsonl", i) for i in range(3)]
    letters = db.query(
        "SELECT source, reason, stage, origin, detail, raw, kafka_topic, kafka_partition, "
        "dlq_topic FROM dead_letters"
    )
    by_source = {row[0]: row for row in letters}
    assert {s: (r[1], r[2]) for s, r in by_source.items()} == BAD
    raw_by_source = {d.source: d.value for d in _bad_docs()}
    for source, (_, _, _, origin, detail, raw, topic, partition, dlq) in by_source.items():
        assert origin == "ingestor"
        assert bytes(raw) == raw_by_source[source]
        assert (topic, partition, dlq) == (topics[0], 0, topics[1])
        assert detail
    assert "'age'" in by_source["bad-age.json"][4]
    assert "integer" in by_source["bad-age.json"][4]
    assert "NaN" in by_source["nan.json"][4]
    assert "22003" in by_source["huge-exponent.json"][4]  # numeric value out of range

    events = [DeadLetter.from_message(r.value) for r in read_topic(kafka_settings, topics[1], 6)]
    assert sorted((e.source, e.reason) for e in events) == sorted(
        (source, reason) for source, (reason, _) in BAD.items()
    )


def test_same_document_sent_twice_is_stored_once(kafka_settings, topics, make_config, db):
    docs = sample_docs("team.yaml")
    produce(kafka_settings, topics[0], docs)
    with running(make_config()) as ingestor:
        wait_for(lambda: db.count() == 3, what="the first copy")
        produce(kafka_settings, topics[0], docs)  # the publisher re-sends after a crash
        marker = sample_docs("person.json")
        produce(kafka_settings, topics[0], marker)
        wait_for(lambda: db.count() == 4, what="the marker sent after the copies")
        # The marker came after the copies on its partition or they were skipped already.
        wait_for(lambda: ingestor.metrics.duplicates._value.get() == 3, what="three duplicates")
    assert db.query("SELECT count(DISTINCT (source, doc_index)) FROM records") == [(4,)]


def test_messages_without_contract_headers_are_stored_by_their_offsets(
    kafka_settings, topics, make_config, db
):
    docs = [raw_doc("x", b'{"name": "Eve", "age": 30}'), raw_doc("y", b'{"k": 1}')]
    produce(kafka_settings, topics[0], docs, with_headers=False, partition=1)
    cfg = make_config()
    with running(cfg):
        wait_for(lambda: db.count() == 2, what="two records")
    rows = db.query(
        "SELECT kind, name, source, kafka_partition, kafka_offset FROM records "
        "ORDER BY kafka_offset"
    )
    assert rows == [("relational", "Eve", None, 1, 0), ("unstructured", None, None, 1, 1)]
    # Read again by a new group: the offsets identify them, nothing is added.
    with running(make_config()) as again:
        wait_for(lambda: again.metrics.duplicates._value.get() == 2, what="re-read as duplicates")
    assert db.count() == 2


def test_dead_letter_events_from_other_services_are_stored_once(
    kafka_settings, topics, make_config, db
):
    event = DeadLetter(
        origin="publisher", stage="parse", reason="invalid-yaml", detail="line 2: bad",
        raw=b"name: [unclosed\n", source="broken.yaml", sha256="ab" * 32, line=2,
    )  # fmt: skip
    key, value, headers = event.to_message()
    producer = connect_producer(kafka_settings)
    for _ in range(2):  # the publisher crashed after sending and sent it again
        producer.send(topics[1], key=key, value=value, headers=headers)
    producer.send(topics[1], key=b"junk", value=b"not an event")
    producer.flush(timeout=30)
    producer.close()
    with running(make_config()):
        wait_for(lambda: db.count("dead_letters") == 2, what="two dead letters")
    rows = db.query("SELECT origin, reason, source, line, raw FROM dead_letters ORDER BY id")
    assert {r[:4] for r in rows} == {
        ("publisher", "invalid-yaml", "broken.yaml", 2),
        ("unknown", "invalid-dead-letter-event", None, None),
    }
    assert {bytes(r[4]) for r in rows} == {b"name: [unclosed\n", b"not an event"}


def test_new_records_are_announced_with_notify(
    kafka_settings, topics, make_config, db, writer_settings
):
    listener = psycopg2.connect(
        host=writer_settings.host, port=writer_settings.port, dbname=writer_settings.dbname,
        user=writer_settings.dbuser, password=writer_settings.user_pwd,
    )  # fmt: skip
    listener.autocommit = True
    with listener.cursor() as cur:
        cur.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
    produce(kafka_settings, topics[0], sample_docs("person.json"))
    notes: list = []

    def notified() -> bool:
        if select.select([listener], [], [], 0.2)[0]:
            listener.poll()
            notes.extend(json.loads(n.payload) for n in listener.notifies)
            listener.notifies.clear()
        return any(n["schema"] == db.schema for n in notes)

    try:
        with running(make_config()):
            wait_for(notified, what="a notification")
    finally:
        listener.close()
    note = next(n for n in notes if n["schema"] == db.schema)
    assert note["table"] == "records"
    assert note["count"] == 1
    assert db.query("SELECT max(id) FROM records") == [(note["max_id"],)]


def test_reader_role_can_select_but_not_write(
    kafka_settings, topics, make_config, db, reader_settings
):
    produce(kafka_settings, topics[0], sample_docs("person.json"))
    with running(make_config()):
        wait_for(lambda: db.count() == 1, what="one record")
    reader = connect(
        dataclasses.replace(reader_settings, schema=db.schema),
        application_name="test-reader",
    )
    try:
        with reader.cursor() as cur:
            cur.execute("SELECT name FROM records")
            assert cur.fetchall() == [("Ada Lovelace",)]
            cur.execute("SELECT count(*) FROM dead_letters")
            assert cur.fetchone() == (0,)
        reader.rollback()
        reader.set_session(readonly=False)
        with pytest.raises(errors.InsufficientPrivilege), reader.cursor() as cur:
            cur.execute("DELETE FROM records")
    finally:
        reader.close()


def test_numbers_come_out_of_jsonb_exactly_as_they_were_sent(
    kafka_settings, topics, make_config, db
):
    # Not through a Python float anywhere: 19.99 and 1.2345678901234567e+19 would be wrong.
    value = (
        b'{"price": 19.990000000000000000001, "big": 12345678901234567890.5,'
        b' "long": 123456789012345678901234567890, "tiny": 1e-400, "name": "Ada", "age": 36}'
    )
    produce(kafka_settings, topics[0], [raw_doc("exact.json", value)])
    with running(make_config()):
        wait_for(lambda: db.count() == 1, what="the record")
    assert db.query(
        "SELECT payload->>'price', payload->>'big', payload->>'long', payload->>'tiny', kind"
        " FROM records"
    ) == [
        ("19.990000000000000000001", "12345678901234567890.5",
         "123456789012345678901234567890", _pg_numeric("1e-400"),
         "relational"),
    ]  # fmt: skip


def _pg_numeric(text: str) -> str:
    """PostgreSQL writes a JSON number in its numeric form, digits kept (1e-400 -> 0.000…1)."""
    from decimal import Decimal

    return format(Decimal(text), "f")
