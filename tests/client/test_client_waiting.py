"""The wait rules (maplecollect.client.waiting) through the client, on a virtual clock:
scripted answers, no sleeping, exact bounds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from maplecollect.client.endpoint import Endpoint
from maplecollect.client.errors import Unavailable, WaitFailed
from maplecollect.client.sync import ControlClient
from maplecollect.client.waiting import Patience
from maplecollect.contract import RunDetailPublic
from support.bodies import run_json

RUN = "20260102-030000-equip-ab12cd34"


class Scripted:
    """GET /runs/RUN answers one (status, seconds passing) per poll; "down": no answer."""

    def __init__(self, *answers: tuple[str, float]) -> None:
        self.answers = list(answers)
        self.now = 1000.0
        self.sleeps: list[float] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        status, later = self.answers.pop(0)
        self.now += later
        if status == "down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=run_json(RUN, status=status))

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def wait(self, patience: Patience, **hooks: Any) -> RunDetailPublic:
        endpoint = Endpoint("http://127.0.0.1:1", retries=0)
        transport = httpx.MockTransport(self.handle)
        with ControlClient(
            endpoint, transport=transport, sleep=self.sleep, clock=lambda: self.now
        ) as api:
            return api.wait_run(RUN, patience, **hooks)


def test_an_outage_is_ridden_out_until_its_bound_then_unavailable() -> None:
    seen: list[tuple[float, int]] = []
    back: list[int] = []
    service = Scripted(("down", 0), ("down", 9.9), ("RUNNING", 0), ("down", 0), ("down", 10))
    with pytest.raises(Unavailable, match=r"still unreachable after 10 s \(2 failed polls\)"):
        service.wait(
            Patience(unreachable=10, poll=0),
            on_outage=lambda exc, down, failed: seen.append((down, failed)),
            on_back=back.append,
        )
    # the answer between the outages ends the first; the second starts the bound again
    assert seen == [(0, 1), (pytest.approx(9.9), 2), (0, 1), (10, 2)]
    assert back == [2]


def test_max_failed_polls_caps_an_outage() -> None:
    service = Scripted(("down", 0), ("down", 0))
    with pytest.raises(Unavailable, match="2 failed polls"):
        service.wait(Patience(unreachable=3600, max_failed_polls=2, poll=0))


def test_interrupted_is_waited_through_within_its_bound() -> None:
    service = Scripted(
        ("INTERRUPTED", 0),
        ("INTERRUPTED", 600),  # exactly the bound: still fine
        ("RUNNING", 0),  # resumed: the bound starts again
        ("INTERRUPTED", 0),
        ("INTERRUPTED", 600.5),
    )
    with pytest.raises(WaitFailed, match="still INTERRUPTED after 600 s: no service resumed it"):
        service.wait(Patience(interrupted=600, poll=0))


def test_without_a_bound_interrupted_never_ends_the_wait() -> None:
    service = Scripted(("INTERRUPTED", 0), ("INTERRUPTED", 10**6), ("COMPLETED", 0))
    assert service.wait(Patience(interrupted=None, poll=0)).status == "COMPLETED"


def test_the_deadline_shortens_the_last_sleep_then_times_out() -> None:
    service = Scripted(("RUNNING", 0), ("RUNNING", 0.4), ("RUNNING", 0))
    with pytest.raises(WaitFailed, match="not finished before the deadline") as late:
        service.wait(Patience(timeout=1.0, poll=0.4))
    assert service.sleeps == [0.4, pytest.approx(0.2)]
    assert late.value.timed_out and late.value.last.status == "RUNNING"


def test_every_document_is_polled_before_the_end() -> None:
    polled: list[str] = []
    service = Scripted(("RUNNING", 0), ("INTERRUPTED", 0), ("COMPLETED", 0))
    run = service.wait(Patience(poll=0), on_poll=lambda doc: polled.append(doc.status))
    assert (run.status, polled) == ("COMPLETED", ["RUNNING", "INTERRUPTED", "COMPLETED"])
