"""Messages kafka-python cannot read: which poll() failures they are, and where they sit.

A message another producer wrote can be unreadable by the client itself (a header key that is
not UTF-8, a corrupt batch, a broken compression frame): ``poll()`` raises instead of returning
it, and kafka-python 3.0's fetcher then keeps the failed partition's records in hand, so every
later poll spins on them. Such a message becomes a dead letter by its Kafka coordinates, and the
consumer seeks past it, which also makes the fetcher drop what it kept.
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import CorruptRecordError, FencedInstanceIdError, KafkaError

from streamsuite_common.contract import DeadLetter, KafkaCoordinates
from streamsuite_ingestor.decode import ORIGIN

STAGE_FETCH = "fetch"
REASON = "unreadable-message"


def is_unreadable_message(exc: BaseException) -> bool:
    """A failure of one message's bytes (vs. the broker's or the network's: those are retried).

    kafka-python wraps parse errors of a record in CorruptRecordError; anything that is not a
    KafkaError came from unpacking records too (decompression, a deserializer)."""
    if isinstance(exc, CorruptRecordError):
        return True
    return not isinstance(exc, KafkaError) and isinstance(exc, Exception)


def is_fenced(exc: BaseException) -> bool:
    """Another running consumer uses our group instance id: a configuration mistake."""
    return isinstance(exc, FencedInstanceIdError)


def failed_position(consumer: KafkaConsumer) -> tuple[TopicPartition, int] | None:
    """Partition and offset of the message the last poll() failed on, or None if unknown.

    kafka-python (pinned at 3.0.x) has no public way to say this: its fetcher keeps the
    partition's records it was taking, whose next offset is the first one it could not read.
    """
    part: Any = getattr(getattr(consumer, "_fetcher", None), "_next_partition_records", None)
    tp = getattr(part, "topic_partition", None)
    offset = getattr(part, "next_fetch_offset", None)
    if not part or tp is None or not isinstance(offset, int):
        return None
    if tp not in consumer.assignment():
        return None
    return tp, offset


def unreadable_dead_letter(tp: TopicPartition, offset: int, exc: BaseException) -> DeadLetter:
    """The refusal of a message known only by its coordinates: its bytes could not be read."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return DeadLetter(
        origin=ORIGIN,
        stage=STAGE_FETCH,
        reason=REASON,
        detail=f"the Kafka client could not read the message: {exc.__class__.__name__}"
        + (f": {detail[:500]}" if detail else ""),
        raw=b"",
        kafka=KafkaCoordinates(tp.topic, tp.partition, offset),
    )
