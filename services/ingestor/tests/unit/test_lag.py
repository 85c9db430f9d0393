from streamsuite_ingestor.lag import partition_lag


def test_lag_is_what_lies_between_the_position_and_the_last_stable_offset():
    assert partition_lag(10, 7) == 3
    assert partition_lag(10, 10) == 0


def test_lag_is_never_negative_and_unknown_without_both_offsets():
    assert partition_lag(5, 6) == 0  # the LSO listed before the last fetch moved on
    assert partition_lag(None, 3) is None
    assert partition_lag(3, None) is None
