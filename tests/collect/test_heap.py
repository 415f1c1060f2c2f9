import gc

from maplecollect.collect.heap import frozen_heap


def test_the_heap_is_frozen_while_a_phase_collects_and_handed_back_after() -> None:
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 0  # what was alive at the start is out of the collector's way
        # Frozen objects that die leave the permanent generation, so the count may only
        # shrink; new objects show whether the inner phase froze again (it must not).
        fresh = [[i] for i in range(10_000)]
        with frozen_heap():  # a second phase in the same process
            assert 0 < gc.get_freeze_count() <= frozen
        assert 0 < gc.get_freeze_count() <= frozen  # still frozen: the first phase goes on
        del fresh
    assert gc.get_freeze_count() == 0  # nothing stays permanent: later cycles are collected


def test_a_cycle_among_frozen_objects_is_collected_after_the_phase() -> None:
    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    with frozen_heap():
        pass
    del a, b
    assert gc.collect() >= 2
