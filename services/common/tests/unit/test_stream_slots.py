from streamsuite_common.stream_slots import StreamSlots


def test_slots_are_bounded_and_released_once():
    seen: list[int] = []
    slots = StreamSlots(2, on_change=seen.append)
    first, second = slots.take(), slots.take()
    assert first is not None
    assert second is not None
    assert slots.take() is None
    first.release()
    first.release()  # a second release gives nothing back twice
    assert slots.in_use == 1
    assert slots.take() is not None
    assert slots.take() is None
    assert seen == [1, 2, 1, 2]
