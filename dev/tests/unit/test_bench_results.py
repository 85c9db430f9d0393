"""The bench's pure parts: documents, /proc parsing, the table, the ratios and the headline."""

# ruff: noqa: RUF001 - the table's times sign and en dash

import json

import pytest

from devstack.bench import documents, procstat, run
from devstack.bench.connect import connector_config
from devstack.bench.database import Stack
from devstack.bench.raw import bare_row, record_row
from devstack.bench.results import (
    Contender,
    Sample,
    Spread,
    ingest_line,
    ratio,
    ratio_lines,
    summarize,
    table,
)

CONTENDERS = (
    Contender("ingestor-1", "ingestor, 1", 1),
    Contender("ingestor-3", "ingestor, 3", 3),
    Contender("connect-1", "Connect, tasks=1", 1),
    Contender("connect-3", "Connect, tasks=3", 3),
)


def sample(key, total_s, steady_s, cpu_s=10.0, docs=1000):
    return Sample(key, docs, total_s, steady_s, cpu_s)


def test_half_the_documents_are_people_and_half_nested_of_300_to_600_bytes():
    docs = documents.documents(400)
    people = [json.loads(v) for _, v, _ in docs[0::2]]
    nested = [v for _, v, _ in docs[1::2]]
    assert all(set(p) == {"name", "age", "city"} for p in people)
    assert all(300 <= len(v) <= 600 for v in nested)
    assert all(isinstance(json.loads(v)["device"]["site"], dict) for v in nested)


def test_documents_carry_the_publishers_headers_and_are_the_same_every_run():
    first, again = documents.documents(250), documents.documents(250)
    assert [v for _, v, _ in first] == [v for _, v, _ in again]
    key, _, headers = first[123]
    names = dict(headers)
    assert set(names) == {"source", "sha256", "doc-index", "content-type", "produced-at"}
    assert names["source"] == key == b"bench/file-00001.jsonl"
    assert names["doc-index"] == b"23"


def test_proc_stat_cpu_is_user_plus_system_even_with_spaces_in_the_name():
    line = "42 (java (main) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 30 0 9 0 0"
    assert procstat.cpu_ticks(line) == 300
    assert procstat.parent_pid(line) == 1


def test_cpu_seconds_of_this_process_are_counted():
    import os

    sum(i * i for i in range(300_000))  # some CPU of our own
    assert procstat.cpu_seconds({os.getpid()}) > 0


def test_median_and_range_per_contender_in_the_contenders_order():
    samples = [
        sample("connect-1", 10, 5),
        sample("ingestor-1", 4, 2),
        sample("ingestor-1", 5, 4),
        sample("ingestor-1", 2, 1),
    ]
    summaries = summarize(CONTENDERS, samples)
    assert [s.contender.key for s in summaries] == ["ingestor-1", "connect-1"]
    ingest = summaries[0]
    assert ingest.runs == 3
    assert ingest.total_rate == Spread(250, 200, 500)
    assert ingest.steady_rate == Spread(500, 250, 1000)
    assert ingest.cpu_per_1000.median == 10


def test_table_shows_median_and_range_and_cpu_per_thousand():
    summaries = summarize(CONTENDERS, [sample("ingestor-1", 4, 2), sample("ingestor-1", 5, 4)])
    text = table(summaries)
    assert "| ingestor, 1 | 2 | 225 (200–250) | 375 (250–500) | 10.00 |" in text
    assert text.count("\n") == 2


def test_ratio_is_steady_state_medians_and_none_when_a_side_is_missing():
    summaries = summarize(CONTENDERS, [sample("ingestor-1", 10, 1), sample("connect-1", 10, 4)])
    assert ratio(summaries, "ingestor-1", "connect-1") == pytest.approx(4.0)
    assert ratio(summaries, "ingestor-3", "connect-3") is None
    assert ratio_lines(summaries)[0].endswith(": 4.00")


def test_ingest_line_takes_the_lower_of_the_equal_parallelism_pairings():
    summaries = summarize(
        CONTENDERS,
        [
            sample("ingestor-1", 10, 1),  # 1000/s vs 250/s: 4x
            sample("connect-1", 10, 4),
            sample("ingestor-3", 10, 1),  # 1000/s vs 500/s: 2x
            sample("connect-3", 10, 2),
        ],
    )
    line = ingest_line(summaries)
    assert line.startswith("ingest: 2.0× Connect (")
    assert "×1 vs tasks=1: 4.00×" in line


def test_no_ingest_line_without_both_sides():
    assert ingest_line(summarize(CONTENDERS, [sample("ingestor-1", 1, 1)])) is None


def test_rounds_rotate_the_order_so_no_contender_always_goes_first():
    firsts = {run.rotated(CONTENDERS, r)[0].key for r in range(len(CONTENDERS))}
    assert firsts == {c.key for c in CONTENDERS}


def test_bench_contenders_and_sizes_come_from_the_environment():
    opts = run.Options.from_env({"BENCH_DOCS": "1000", "BENCH_RUNS": "1",
                                 "BENCH_CONTENDERS": "connect-1,ingestor-1"})  # fmt: skip
    assert (opts.docs, opts.runs) == (1000, 1)
    assert [c.key for c in opts.contenders] == ["connect-1", "ingestor-1"]
    with pytest.raises(SystemExit, match="unknown"):
        run.Options.from_env({"BENCH_CONTENDERS": "connect-9"})


def test_raw_rows_match_what_the_ingestor_stores():
    docs = documents.documents(2)
    person = record_row(0, docs[0], "t")
    assert person[:2] == ("relational", "person")
    assert person[6] == json.loads(docs[0][1])["name"]
    nested = record_row(1, docs[1], "t")
    assert nested[:2] == ("unstructured", None)
    assert nested[6:8] == (None, None)
    assert bare_row(4, docs[0], "t")[:3] == ("t", 1, 1)


def test_connect_upserts_on_the_kafka_coordinates_in_streamsuites_columns():
    stack = Stack("127.0.0.1:9092", "127.0.0.1", 5432, "db", "w", "/dev/null", None)
    config = connector_config(stack, name="c", topic="t", schema="s", tasks=3, bare=False)
    assert config["insert.mode"] == "upsert"
    assert config["primary.key.fields"] == "kafka_topic,kafka_partition,kafka_offset"
    assert config["transforms.coordinates.offset.field"] == "kafka_offset"
    assert config["collection.name.format"] == "s.records"
    assert "stringtype=unspecified" in config["connection.url"]
    bare = connector_config(stack, name="c", topic="t", schema="s", tasks=1, bare=True)
    assert "headers" not in bare["transforms"]
    assert bare["collection.name.format"] == "s.bare_records"
