"""BatchCutter: a file opens a new transaction when the current one would exceed its files,
bytes or documents; a cut (the read-ahead sent the batch early) starts the count afresh."""

from __future__ import annotations

from types import SimpleNamespace

from streamsuite_publisher.service import BatchCutter

LIMITS = SimpleNamespace(batch_files=3, batch_bytes=1_000, batch_documents=100)


def item(size: int = 10, documents: int = 1) -> SimpleNamespace:
    return SimpleNamespace(message_bytes=size, messages=[None] * documents)


def test_a_file_opens_a_new_transaction_past_the_files_bytes_or_documents_of_one():
    cutter = BatchCutter(LIMITS)
    assert [cutter(item()) for _ in range(4)] == [False, False, False, True]
    cutter = BatchCutter(LIMITS)
    assert [cutter(item(size=600)), cutter(item(size=600))] == [False, True]
    cutter = BatchCutter(LIMITS)
    assert [cutter(item(documents=60)), cutter(item(documents=60))] == [False, True]


def test_after_a_cut_the_next_transaction_has_its_whole_room():
    cutter = BatchCutter(LIMITS)
    cutter(item())
    cutter(item())
    cutter.reset()  # the batch was cut after two files
    assert [cutter(item()) for _ in range(4)] == [False, False, False, True]
