"""The wait rules (maplecollect.client.waiting) on a virtual clock: no sleeping, exact bounds."""

from __future__ import annotations

import pytest

from maplecollect.client.errors import Unavailable, WaitFailed
from maplecollect.client.waiting import Patience, Watch
from maplecollect.contract import RunPublic
from support.bodies import run_json

RUN = "20260102-030000-equip-ab12cd34"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(status: str) -> RunPublic:
    return RunPublic.model_validate(run_json(RUN, status=status))


def test_an_outage_is_ridden_out_until_its_bound_then_unavailable() -> None:
    clock, seen, back = Clock(), [], []
    watch = Watch(
        "run x",
        Patience(unreachable=10),
        clock=clock,
        on_outage=lambda exc, down, failed: seen.append((down, failed)),
        on_back=back.append,
    )
    down = Unavailable("get run x", "ConnectError: refused", url="http://127.0.0.1:1")
    watch.failed(down)
    clock.now += 9.9
    watch.failed(down)
    watch.answered(_run("RUNNING"), [])
    assert (seen, back) == ([(0.0, 1), (pytest.approx(9.9), 2)], [2])
    watch.failed(down)  # a new outage starts the bound again
    clock.now += 10
    with pytest.raises(Unavailable, match=r"still unreachable after 10 s \(2 failed polls\)"):
        watch.failed(down)


def test_max_failed_polls_caps_an_outage() -> None:
    watch = Watch("run x", Patience(unreachable=3600, max_failed_polls=2), clock=Clock())
    down = Unavailable("get run x", "ReadTimeout")
    watch.failed(down)
    with pytest.raises(Unavailable, match="2 failed polls"):
        watch.failed(down)


def test_interrupted_is_waited_through_within_its_bound() -> None:
    clock = Clock()
    watch = Watch("run x", Patience(interrupted=600), clock=clock)
    watch.answered(None, [_run("INTERRUPTED")])
    clock.now += 600
    watch.answered(None, [_run("INTERRUPTED")])  # exactly the bound: still fine
    watch.answered(None, [_run("RUNNING")])  # resumed: the bound starts again
    watch.answered(None, [_run("INTERRUPTED")])
    clock.now += 600.5
    with pytest.raises(WaitFailed, match="still INTERRUPTED after 600 s: no service resumed it"):
        watch.answered(None, [_run("INTERRUPTED")])


def test_without_a_bound_interrupted_never_ends_the_wait() -> None:
    clock = Clock()
    watch = Watch("run x", Patience(interrupted=None), clock=clock)
    watch.answered(None, [_run("INTERRUPTED")])
    clock.now += 10**6
    watch.answered(None, [_run("INTERRUPTED")])


def test_the_deadline_shortens_the_last_sleep_then_times_out() -> None:
    clock = Clock()
    watch = Watch("run x", Patience(timeout=1.0, poll=0.4), clock=clock)
    assert watch.delay() == 0.4
    clock.now += 0.8
    assert watch.delay() == pytest.approx(0.2)
    watch.answered(_run("RUNNING"), [])
    clock.now += 0.2
    with pytest.raises(WaitFailed, match="not finished before the deadline") as late:
        watch.delay()
    assert late.value.timed_out and late.value.last.status == "RUNNING"
