"""Which offsets a stored batch commits, and where a put-back batch is read again: pure."""

from __future__ import annotations

import dataclasses

from kafka import TopicPartition

from streamsuite_ingestor.batching import first_offsets, offsets_to_commit

P0, P1 = TopicPartition("records", 0), TopicPartition("records", 1)


@dataclasses.dataclass
class Rec:
    topic: str
    partition: int
    offset: int


BATCH = [Rec("records", 0, 7), Rec("records", 1, 3), Rec("records", 0, 8), Rec("records", 1, 4)]


def test_a_stored_batch_commits_the_next_offset_of_each_partition():
    assert offsets_to_commit(BATCH, {P0, P1}, same_epoch=True) == {P0: 9, P1: 5}


def test_a_partition_revoked_while_its_batch_was_in_flight_is_not_committed():
    assert offsets_to_commit(BATCH, {P0}, same_epoch=True) == {P0: 9}


def test_nothing_is_committed_after_a_rebalance_since_the_poll():
    # P1 may have left and come back: its other owner may have committed further meanwhile.
    assert offsets_to_commit(BATCH, {P0, P1}, same_epoch=False) == {}


def test_a_put_back_batch_is_read_again_from_its_first_offsets():
    assert first_offsets(BATCH) == {P0: 7, P1: 3}
    assert first_offsets([Rec("records", 0, 9), Rec("records", 0, 2)]) == {P0: 2}
