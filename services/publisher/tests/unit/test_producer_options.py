"""The transactional producer's settings that the latency from a file to its row depends on."""

from kafka.producer.transaction_manager import TransactionManager

from streamsuite_common.publishing.producer import transactional_options


def test_a_transaction_begun_during_the_last_commit_is_retried_after_a_short_backoff():
    # kafka-python's sender sleeps retry_backoff_ms before re-sending the AddPartitionsToTxn
    # that met CONCURRENT_TRANSACTIONS (the previous commit's markers still being written),
    # not the short backoff it computes for that case: the producer's own must be that short.
    options = transactional_options("t")
    assert options["retry_backoff_ms"] <= TransactionManager.ADD_PARTITIONS_RETRY_BACKOFF_MS
